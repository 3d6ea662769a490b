"""``python -m newsline.cli``: the same as the ``newsline`` command."""

from newsline.cli import main

main()
