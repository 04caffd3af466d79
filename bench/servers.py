"""Starts benchmark servers on free 127.0.0.1 ports and stops them by their own PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMCACHED = "/usr/bin/memcached"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: tuple[str, ...]  # without -p PORT and per-workload extras

    def command(self, port: int, extra: tuple[str, ...] = ()) -> list[str]:
        return [*self.argv, "-p", str(port), *extra]


def python_exe() -> str:
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


SPECS: dict[str, ServerSpec] = {
    # As a user runs it: defaults for everything but the port, UDP off, local only.
    "slabcache": ServerSpec(
        "slabcache", (python_exe(), "-m", "slabcache", "-u", "root", "-l", "127.0.0.1", "-U", "0")
    ),
    "memcached-t1": ServerSpec(
        "memcached-t1", (MEMCACHED, "-u", "root", "-l", "127.0.0.1", "-U", "0", "-t", "1")
    ),
    "memcached-t2": ServerSpec(
        "memcached-t2", (MEMCACHED, "-u", "root", "-l", "127.0.0.1", "-U", "0", "-t", "2")
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    spec: ServerSpec
    extra: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    _logf: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> Server:
        # A port can be taken between probe and bind by someone else: retry a few times.
        for _attempt in range(5):
            self.port = free_port()
            fd, name = tempfile.mkstemp(prefix=f"bench-{self.spec.name}-", suffix=".log")
            self.log = Path(name)
            self._logf = os.fdopen(fd, "wb")
            env = dict(os.environ)
            env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
            self.proc = subprocess.Popen(
                self.spec.command(self.port, self.extra),
                stdout=self._logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
            if self._wait_ready(timeout):
                return self
            text = self.log_text()
            self.stop()
        raise RuntimeError(f"{self.spec.name} did not start; log:\n{text}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(64).startswith(b"VERSION "):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log_text(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._logf is not None:
            self._logf.close()  # type: ignore[attr-defined]
            self._logf = None
        if self.log is not None:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
