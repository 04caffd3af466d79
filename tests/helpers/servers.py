"""Start and stop real cache servers (memcached 1.6.18 or slabcache) for tests.

Every server is a subprocess on 127.0.0.1 (or a unix socket) with a free port,
stopped by its own PID, so the suite is safe under pytest-xdist and leaves
nothing running.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MEMCACHED_BIN = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
# COMPAT_SUBJECT=memcached points every "slabcache" fixture at memcached itself:
# the harness must then compare equal, which is how it is debugged.
SUBJECT = os.environ.get("COMPAT_SUBJECT", "slabcache")


# Every server started and not yet stopped, so an interrupted run still stops them.
_LIVE: dict[int, Server] = {}


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE.values()):
        server.stop()


def free_port() -> int:
    """A port that was free a moment ago; start_server retries if it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(kind: str) -> list[str]:
    if kind == "memcached":
        return [MEMCACHED_BIN]
    if kind == "slabcache":
        return [sys.executable, "-m", "slabcache"]
    raise ValueError(f"unknown server kind {kind!r}")


@dataclass
class Server:
    """A running server: connect to (host, port) or to unix_path."""

    kind: str
    host: str
    port: int
    pid: int
    proc: subprocess.Popen[bytes]
    argv: list[str]
    log_path: Path
    unix_path: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __iter__(self) -> Iterator[object]:
        """`host, port, pid = server`, the fixture's documented shape."""
        return iter((self.host, self.port, self.pid))

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def connect(self, timeout: float = 5.0) -> socket.socket:
        if self.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.unix_path)
        else:
            s = socket.create_connection(self.address, timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        _LIVE.pop(self.pid, None)
        rc = self.proc.returncode
        assert rc is not None, f"{self.kind} pid {self.pid} did not exit"
        return rc


def _try_connect(server: Server) -> bool:
    try:
        server.connect(timeout=0.5).close()
        return True
    except OSError:
        return False


def start_server(
    kind: str,
    args: list[str] | tuple[str, ...] = (),
    *,
    unix: bool = False,
    tmpdir: str | None = None,
) -> Server:
    """Start `kind` with memcached flags `args`; return once it accepts connections."""
    last_log = ""
    for _attempt in range(5):
        workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmpdir))
        log_path = workdir / "server.log"
        port = free_port()
        unix_path = str(workdir / "mc.sock") if unix else None
        listen = ["-s", unix_path] if unix_path else ["-l", "127.0.0.1", "-p", str(port)]
        argv = [*server_command(kind), "-u", "root", *listen, "-U", "0", *args]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,  # a ^C to pytest must not reach it first
            )
        server = Server(kind, "127.0.0.1", port, proc.pid, proc, argv, log_path, unix_path)
        _LIVE[server.pid] = server
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and server.alive():
            if _try_connect(server):
                return server
            time.sleep(0.05)
        last_log = server.log()
        if server.alive():
            server.stop()
            raise RuntimeError(
                f"{' '.join(argv)} did not accept within {START_TIMEOUT}s:\n{last_log}"
            )
        # Exited early: most likely the port was taken between free_port() and bind.
        if "in use" not in last_log.lower():
            break
    raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{last_log}")
