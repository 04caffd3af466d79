"""Shared fixtures: real memcached / slabcache servers on free ports, stopped by PID.

`server_factory(kind, *flags, unix=False)` starts as many servers as a test needs;
all are stopped (SIGTERM, then SIGKILL) and checked to have exited at teardown.
The module-scoped `memcached_server` and `slabcache_server` are shared by a test
module. COMPAT_SUBJECT=memcached makes "slabcache" fixtures run memcached instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.helpers.servers import SUBJECT, Server, start_server

ServerFactory = Callable[..., Server]


def _factory(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerFactory, list[Server]]:
    started: list[Server] = []

    def make(kind: str, *args: str, unix: bool = False) -> Server:
        if kind == "slabcache":
            kind = SUBJECT
        base = tmp_path_factory.mktemp("srv")
        server = start_server(kind, list(args), unix=unix, tmpdir=str(base))
        started.append(server)
        return server

    return make, started


def _stop_all(started: list[Server]) -> None:
    errors = []
    for server in started:
        try:
            server.stop()
        except Exception as exc:  # keep stopping the others
            errors.append(f"{server.kind} pid {server.pid}: {exc}")
    assert not errors, errors


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    make, started = _factory(tmp_path_factory)
    yield make
    _stop_all(started)


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    make, started = _factory(tmp_path_factory)
    yield make
    _stop_all(started)


@pytest.fixture(scope="module")
def memcached_server(module_server_factory: ServerFactory) -> Server:
    return module_server_factory("memcached")


@pytest.fixture(scope="module")
def slabcache_server(module_server_factory: ServerFactory) -> Server:
    return module_server_factory("slabcache")


@pytest.fixture(params=["memcached", "slabcache"])
def any_server(request: pytest.FixtureRequest, server_factory: ServerFactory) -> Server:
    """One fresh server of each kind, for scenarios that must behave the same on both."""
    return server_factory(request.param)
