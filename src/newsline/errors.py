"""The one error family of newsline: every failure a user or operator should read.

A :class:`NewslineError` means "this cannot be done, and here is why": a bad config file, an
unknown channel, a feed that cannot be fetched, a lease another process holds. Its ``str()``
is the single line the user sees, so it is written for them: what went wrong and, where
there is one, what to do about it. Each layer raises its own subclass (``ConfigError``,
``FetchError``, ``DigestError``, ...) and adds the wording it knows; nobody re-words an error
on its way up. The front doors catch ``NewslineError`` once, at the top: the command line
prints that line (``error: ...``, exit status 1), and the web app answers with it through one
exception handler. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class NewslineError(Exception):
    """A failure whose ``str()`` is the one line to show the user."""
