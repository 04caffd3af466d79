"""`spawn` fixture: start `python -m slabcache` (or memcached) with arbitrary flags; every
process it started is stopped by its own PID when the test ends."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import REPO_ROOT, server_command
from tests.server.support import Proc, can_connect, wait_for


@pytest.fixture
def spawn() -> Iterator[Callable[..., Proc]]:
    """spawn(args, kind="slabcache", ready=..., env=...) -> Proc; stopped after the test."""
    started: list[Proc] = []

    def _spawn(
        args: list[str],
        *,
        kind: str = "slabcache",
        ready: tuple[str, int] | str | Callable[[], bool] | None = None,
        env: dict[str, str] | None = None,
        port: int = 0,
    ) -> Proc:
        workdir = Path(tempfile.mkdtemp(prefix=f"srv-{kind}-"))
        argv = [*server_command(kind), "-u", "root", "-U", "0", *args]
        with open(workdir / "server.log", "wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        p = Proc(proc, workdir, port)
        started.append(p)
        if ready is not None:
            cond = ready if callable(ready) else (lambda: can_connect(ready))
            try:
                wait_for(cond, proc, f"{argv} to serve")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{p.log()}") from None
        return p

    yield _spawn
    for p in started:
        p.stop()
