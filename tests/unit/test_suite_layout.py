"""The test suite's own layout: code shared by tests lives in tests/support, and no test
imports another test module or a conftest.py (pytest injects fixtures; importing a test
module also drags its tests and fixtures into the importer)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_names(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module, and every name taken from a module, that `path`
    imports, anywhere in the file; relative imports are resolved against `root`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def offending_imports(path: Path, root: Path) -> list[str]:
    """Imports of `path` that reach into the test suite other than through tests.support."""
    found = []
    for line, name in imported_names(path, root):
        parts = name.split(".")
        if parts[0] != "tests":
            continue
        if parts[:2] != ["tests", "support"] or any(
            p.startswith("test_") or p == "conftest" for p in parts
        ):
            found.append(f"{path.relative_to(root)}:{line}: {name}")
    return found


def test_tests_import_only_tests_support() -> None:
    offending = [o for p in sorted(TESTS.rglob("*.py")) for o in offending_imports(p, TESTS.parent)]
    assert offending == []


def test_the_check_sees_test_modules_and_conftests(tmp_path: Path) -> None:
    folder = tmp_path / "tests" / "integration"
    folder.mkdir(parents=True)
    bad = folder / "test_x.py"
    bad.write_text(
        "from tests.integration.test_mail_digest import Inbox\n"
        "from tests.conftest import PROJECT_ROOT\n"
        "from .test_replay_server import LoopbackResolver\n"
        "from ..browser import conftest\n"
        "import tests.webdata\n"
        "def f():\n"
        "    from tests.integration import test_enrich_stage\n"
        "from tests.support.mail import Inbox as Fine\n"
        "import newsline.testing\n",
        encoding="utf-8",
    )
    lines = [o.split(":")[1] for o in offending_imports(bad, tmp_path)]
    assert sorted(set(lines), key=int) == ["1", "2", "3", "4", "5", "7"]
