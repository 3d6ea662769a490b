"""Progress of long runs: a rich display on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from newsline.text import printable

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives a pass's progress: a stage with its amount of work, then each unit done."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, name: str, message: str | None = None) -> None: ...


class LogReporter:
    """Progress as plain log lines (non-terminal output, the scheduler, workers)."""

    def stage(self, name: str, total: int) -> None:
        log.info("%s: %d to do", name, total)

    def advance(self, name: str, message: str | None = None) -> None:
        if message:
            log.info("%s: %s", name, printable(message))


class RichReporter:
    """One progress bar per stage."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def stage(self, name: str, total: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, message: str | None = None) -> None:
        if message:
            # Messages quote publisher data (titles, URLs, errors): no markup, no escapes.
            self.progress.console.print(f"  {printable(message)}", highlight=False, markup=False)
        self.progress.advance(self.tasks[name])


@contextmanager
def make_reporter(console: Console) -> Iterator[Reporter]:
    """A rich reporter when ``console`` is a terminal, else a logging one."""
    if not console.is_terminal:
        yield LogReporter()
        return
    columns = (
        TextColumn("{task.description:>6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield RichReporter(progress)
