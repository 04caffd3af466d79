"""A client that leaves in the middle of a value: the item allocated for it is freed, on
slabcache as on memcached 1.6.18 (checked through `stats slabs` over real sockets)."""

from __future__ import annotations

import time

import pytest

from tests.helpers.wire import request, stats
from tests.server.support import tcp_server


def _used_chunks(srv) -> int:
    s = srv.connect()
    try:
        st = stats(s, "slabs")
    finally:
        s.close()
    return sum(int(v) for k, v in st.items() if k.endswith(":used_chunks"))


def _wait_used(srv, want: int) -> int:
    # the server learns of a close asynchronously: poll until it settles (or give up)
    got = _used_chunks(srv)
    for _ in range(200):
        if got == want:
            break
        time.sleep(0.02)
        got = _used_chunks(srv)
    return got


@pytest.mark.parametrize("kind", ["slabcache", "memcached"])
@pytest.mark.parametrize(
    "head",
    [b"set k 0 0 %d\r\n", b"ms k %d T0\r\n"],
    ids=["set", "ms"],
)
@pytest.mark.parametrize("size", [2000, 700000])
def test_close_mid_value_frees_the_item(spawn, kind, head, size):
    srv = tcp_server(spawn, "-m", "64", kind=kind)
    s = srv.connect()
    assert request(s, b"set k 0 0 3\r\nold\r\n", b"\r\n") == b"STORED\r\n"
    base = _used_chunks(srv)
    s.sendall(head % size + b"v" * (size // 2))
    # the item exists as soon as the line is read (memcached allocates it there)
    probe = _used_chunks(srv)
    for _ in range(200):
        if probe > base:
            break
        time.sleep(0.02)
        probe = _used_chunks(srv)
    assert probe > base
    s.close()
    assert _wait_used(srv, base) == base
    c = srv.connect()
    assert request(c, b"get k\r\n", b"END\r\n") == b"VALUE k 0 3\r\nold\r\nEND\r\n"
    c.close()
