"""Server processes for the server tests: started with arbitrary flags, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.servers import free_port

START_TIMEOUT = 20.0


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    workdir: Path
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")

    def connect(self, host: str = "127.0.0.1", port: int | None = None) -> socket.socket:
        s = socket.create_connection((host, port or self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def can_connect(target: tuple[str, int] | str) -> bool:
    family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
    if not isinstance(target, str) and ":" in target[0]:
        family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(target)
            return True
        except OSError:
            return False


def wait_for(cond: Callable[[], bool], proc: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {what}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def tcp_server(spawn: Callable[..., Proc], *args: str, kind: str = "slabcache") -> Proc:
    port = free_port()
    return spawn(
        ["-l", "127.0.0.1", "-p", str(port), *args],
        kind=kind,
        ready=("127.0.0.1", port),
        port=port,
    )


def have_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")
