"""memcached 1.6.18's send points inside one large write, byte for byte with memcached.

memcached reads at most its 16 KB buffer at a time. Where a fill runs out of whole
commands (it ends inside a command line, inside a small data block, or exactly at a
command's end) it flushes the replies queued so far before reading on. Its -R budget
(20 by default) also flushes: the first event after a read runs 21 commands, a resumed
one 20. A get with an over-long key makes those points visible: it drops only what was
queued since the last flush. Every stream goes to a real memcached and to slabcache in
a single sendall.
"""

from __future__ import annotations

import pytest

from tests.helpers.servers import Server
from tests.helpers.wire import request

FILL = 16384  # memcached's READ_BUFFER_SIZE
BAD_GET = b"get " + b"b" * 251 + b"\r\n"
BAD_REPLY = b"CLIENT_ERROR bad command line format\r\n"
MARK = b"MN\r\n"


def _set(key: bytes, size: int) -> bytes:
    return b"set %s 0 0 %d\r\n%s\r\n" % (key, size, b"v" * size)


def _padded(head_len: int, tail_start: int, key: bytes) -> bytes:
    """A set sized so that, written after `head_len` bytes, the next command starts at
    `tail_start`."""
    line = b"set %s 0 0 " % key
    total = tail_start - head_len
    for digits in range(1, 6):
        size = total - len(line) - digits - 4
        if len(str(size)) == digits:
            return _set(key, size)
    raise ValueError(total)


def _around_fill_end(offset: int, tail: bytes) -> bytes:
    """Three 4000-byte sets, then a set padding up to FILL + offset, then `tail`."""
    head = b"".join(_set(b"k%d" % i, 4000) for i in range(3))
    stream = head + _padded(len(head), FILL + offset, b"pad") + tail
    assert stream.index(tail) == FILL + offset
    return stream


CASES = {
    # the fill ends inside `version\r\n`: the four STOREDs were sent before it ran
    "line-straddles": _around_fill_end(-4, b"version\r\n" + BAD_GET),
    # the fill ends inside a short get line
    "get-line-straddles": _around_fill_end(-3, b"get k0\r\nversion\r\n" + BAD_GET),
    # the fill ends exactly where `version` starts: the buffer emptied, a flush
    "fill-ends-at-command": _around_fill_end(0, b"version\r\n" + BAD_GET),
    # the fill ends one byte into the next line
    "one-byte-into-line": _around_fill_end(-1, b"version\r\n" + BAD_GET),
    # the fill ends inside a small value: its rest is read into the item, then a flush
    "value-straddles": _around_fill_end(-20, _set(b"small", 40) + b"version\r\n" + BAD_GET),
    # the fill ends inside the CRLF of a small value
    "value-crlf-straddles": _around_fill_end(-43, _set(b"small", 40) + b"version\r\n" + BAD_GET),
    # well inside the first fill: no flush, everything queued is dropped
    "inside-fill": _around_fill_end(-600, b"version\r\n" + BAD_GET + b"version\r\n"),
    # -R 20: the first event runs 21 commands, the next ones 20
    "budget-first-event": b"version\r\n" * 30 + BAD_GET,
    "budget-second-event": b"version\r\n" * 45 + BAD_GET,
    "budget-exact": b"version\r\n" * 21 + BAD_GET,
    "budget-mixed": b"set a 0 0 1\r\nx\r\n" * 10 + b"get a\r\n" + b"version\r\n" * 12 + BAD_GET,
    # runs of pipelined single-key gets and `mg <key> v` (a hit and a miss) against the
    # budget and the fill end, and lines that end a run
    "get-run-budget": b"set a 0 0 1\r\nx\r\n" + b"get a\r\nget zz\r\n" * 23 + BAD_GET,
    "get-run-straddles": _around_fill_end(-40, b"get k0\r\nget zz\r\n" * 6 + BAD_GET),
    "get-run-broken": (
        b"set a 0 0 1\r\nx\r\n"
        + b"get a\r\n" * 5
        + b"get a a\r\nget  a\r\nget a\nget a \r\n"
        + b"get a\r\n" * 9
        + BAD_GET
    ),
    "mg-run-budget": b"set a 0 0 1\r\nx\r\n" + b"mg a v\r\nmg zz v\r\n" * 23 + BAD_GET,
    "mg-run-straddles": _around_fill_end(-40, b"mg k0 v\r\nmg zz v\r\n" * 6 + BAD_GET),
    "mg-run-broken": (
        b"mg a v\r\n" * 5 + b"mg a v t\r\nmg a\r\nmg a v\n" + b"mg a v\r\n" * 9 + BAD_GET
    ),
}


def _reply(server: Server, stream: bytes) -> bytes:
    sock = server.connect()
    try:
        return request(sock, stream + b"mn\r\n", MARK)
    finally:
        sock.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_flush_points_match_memcached(
    name: str, memcached_server: Server, slabcache_server: Server
) -> None:
    ref = _reply(memcached_server, CASES[name])
    got = _reply(slabcache_server, CASES[name])
    assert BAD_REPLY in ref
    assert got == ref


def test_fill_flush_keeps_replies_before_it(
    memcached_server: Server, slabcache_server: Server
) -> None:
    """The window end is what keeps the STOREDs: inside the fill they are dropped."""
    kept = _reply(slabcache_server, CASES["line-straddles"])
    dropped = _reply(slabcache_server, CASES["inside-fill"])
    assert kept == _reply(memcached_server, CASES["line-straddles"])
    assert kept.startswith(b"STORED\r\n" * 4)
    assert not dropped.startswith(b"STORED\r\n")


def _yields(server: Server, commands: int, line: bytes = b"version\r\n") -> bytes:
    sock = server.connect()
    try:
        request(sock, line * (commands - 1) + b"mn\r\n", MARK)
        stats = request(sock, b"stats\r\n", b"END\r\n")
    finally:
        sock.close()
    line = next(x for x in stats.split(b"\r\n") if x.startswith(b"STAT conn_yields "))
    return line


@pytest.mark.parametrize("commands", [2, 3, 4, 5, 8, 9])
def test_conn_yields_match_memcached(server_factory, commands: int) -> None:
    """-R 2: the yield is counted as the budget runs out, the first event running 3."""
    ref = _yields(server_factory("memcached", "-R", "2"), commands)
    got = _yields(server_factory("slabcache", "-R", "2"), commands)
    assert got == ref


@pytest.mark.parametrize("commands", [3, 4, 9, 45])
@pytest.mark.parametrize("line", [b"mg a v\r\nmg zz v\r\n", b"get a\r\nget zz\r\n"])
def test_conn_yields_of_runs_match_memcached(server_factory, commands: int, line: bytes) -> None:
    """The same count for pipelined runs of `mg <key> v` and of single-key gets."""
    ref = _yields(server_factory("memcached", "-R", "2"), commands, line)
    got = _yields(server_factory("slabcache", "-R", "2"), commands, line)
    assert b"conn_yields 0" not in ref
    assert got == ref
