"""Every script under bench/ still imports: docs/benchmarks.md gives their commands, and a
helper renamed in one (bench/web.py's `stop`, now procs.stop_group) once left three others
failing at their first line, unnoticed until a figure was to be re-measured."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_bench_script_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import each other by name
    module = importlib.import_module(name)
    sys.modules.pop(name, None)
    if '__name__ == "__main__"' in (BENCH / f"{name}.py").read_text(encoding="utf-8"):
        assert callable(getattr(module, "main", None)), f"bench/{name}.py runs no main()"
