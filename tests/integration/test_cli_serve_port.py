"""`newsline serve` and `newsline demo` on a port another program holds: one line saying so
and what to do, exit 1, nothing started (no "serving at", no scheduler traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from newsline.config import Settings


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_error_line(
    command: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLINE_")}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        args = [sys.executable, "-m", "newsline.cli", "-c", str(config), command]
        args += ["--port", str(port)]
        if command == "demo":
            args += ["--data-dir", str(tmp_path / "demo"), "--exit-after", "5"]
        result = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "serving at" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (stop the program using it, or choose another port with --port)"
    )
