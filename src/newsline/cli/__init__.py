"""The front door: ``newsline init | serve | fetch | publications | items | digest | ...``.

:mod:`newsline.cli.app` holds the typer app, the console, logging, settings loading and the
one error handler; each other module registers one command group on it. Importing this
package imports them all, in the order ``newsline --help`` lists them. Nothing else in
newsline imports from here: the command line is the top layer.
"""

from __future__ import annotations

# Each module registers its commands on `app` when imported; this order is the help's.
# isort: off
from newsline.cli import db, pipeline, serve, extract, publications, items  # noqa: F401
from newsline.cli import digest, channels, audit, replay  # noqa: F401

from newsline.cli import workers  # noqa: F401  (distributed mode)

from newsline.cli import users  # noqa: F401  (accounts, roles, bans)

# isort: on
from newsline.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (``newsline``)."""
    app()
