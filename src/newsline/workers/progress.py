"""Progress for long runs: a rich display on a terminal, plain log lines otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from newsline.ingest.refresh import LogReporter, Reporter


class RichReporter:
    """One progress bar per stage."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def stage(self, name: str, total: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, message: str | None = None) -> None:
        if message:
            self.progress.console.print(f"  {message}", highlight=False, markup=False)
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
