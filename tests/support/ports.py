"""Loopback ports for the real servers the tests start, and stopping those servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 60,
    log: Path | None = None,
) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`; if `proc` exits
    first, say so with the end of its `log` (why it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            said = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"server exited with {proc.returncode}\n{said}".rstrip())
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a server started with ``start_new_session=True`` and its children: SIGTERM to
    its process group, then SIGKILL if it has not ended within `timeout` seconds."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
