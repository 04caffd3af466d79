"""A get with an over-long key against pipelined replies, byte for byte with memcached.

memcached 1.6.18 sends the replies of every finished text get/gets/gat/gats/bget at once.
A later get whose key is over 250 bytes drops what was queued after that point (its own
partial VALUE lines and the replies of non-get commands since) and answers only
CLIENT_ERROR. Each case goes to a real memcached and to slabcache in a single write.
"""

from __future__ import annotations

import pytest

from tests.helpers.servers import Server
from tests.helpers.wire import request

BAD = b"b" * 251
PRELOAD = b"set k 0 0 1\r\nx\r\nset j 0 0 1\r\ny\r\n"
MARK = b"MN\r\n"  # `mn` answers after everything before it
CASES = {
    "bad-alone": b"version\r\nget BAD\r\n",
    "bad-first": b"version\r\nget BAD k\r\nget k\r\n",
    "bad-middle": b"version\r\nget k BAD j\r\nget k\r\n",
    "bad-last": b"version\r\nget k\r\nget k j BAD\r\n",
    "hit-then-version": b"version\r\nget k\r\nversion\r\nget BAD\r\n",
    "miss-kept": b"version\r\nget miss\r\nget BAD\r\n",
    "set-get-bad": b"set q 0 0 1\r\nz\r\nget q\r\nget BAD\r\n",
    "set-then-bad": b"version\r\nset q 0 0 1\r\nz\r\nget BAD\r\n",
    "two-gets": b"get k\r\nget j\r\nversion\r\nget BAD\r\n",
    "gets": b"get k\r\nversion\r\ngets k BAD\r\n",
    "gets-kept": b"version\r\ngets k\r\nget BAD\r\n",
    "gat": b"get k\r\nversion\r\ngat 0 BAD\r\n",
    "gat-kept": b"version\r\ngat 0 k\r\nget BAD\r\n",
    "gats": b"version\r\ngats 0 k BAD\r\nversion\r\n",
    "bget-kept": b"version\r\nbget k\r\nget BAD\r\n",
    "mg-not-a-flush": b"version\r\nmg k v\r\nget BAD\r\n",
    "incr-dropped": b"get k\r\nincr n 1\r\ndelete zz\r\nget BAD\r\n",
}


def _reply(server: Server, stream: bytes, first: bytes = b"") -> bytes:
    """`first` (one set) and PRELOAD, then `stream` with BAD filled in."""
    sock = server.connect()
    try:
        if first:
            request(sock, first, b"STORED\r\n")
        request(sock, PRELOAD, b"STORED\r\nSTORED\r\n")
        return request(sock, stream.replace(b"BAD", BAD) + b"mn\r\n", MARK)
    finally:
        sock.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_key_drops_since_last_flush(
    name: str, memcached_server: Server, slabcache_server: Server
) -> None:
    ref = _reply(memcached_server, CASES[name])
    got = _reply(slabcache_server, CASES[name])
    assert b"CLIENT_ERROR bad command line format\r\n" in ref
    assert got == ref


def _get_counters(server: Server, stream: bytes) -> dict[bytes, bytes]:
    sock = server.connect()
    try:
        _reply(server, stream)
        stats = request(sock, b"stats\r\n", b"END\r\n")
    finally:
        sock.close()
    fields = dict(line.split(b" ")[1:3] for line in stats.split(b"\r\n") if line[:5] == b"STAT ")
    return {k: fields[k] for k in (b"cmd_get", b"get_hits", b"get_misses")}


@pytest.mark.parametrize("name", ["bad-first", "bad-middle", "bad-last"])
def test_keys_before_an_overlong_one_are_looked_up(
    name: str, memcached_server: Server, slabcache_server: Server
) -> None:
    """Their replies are dropped, but memcached has fetched them: the counters say so."""
    ref = _get_counters(memcached_server, CASES[name])
    got = _get_counters(slabcache_server, CASES[name])
    assert ref[b"get_hits"] != b"0"
    assert got == ref


# A reply over the server's 256 KiB step makes its flow control pause after it. (Held
# replies over that size are written anyway, so a huge `mg` reply that memcached would
# still drop is sent: bounded memory comes first.)
BIG = 300_000
BIG_CASES = {
    "after-big-get": b"get big\r\nversion\r\nslabs reassign 1 99\r\nget BAD\r\n",
    "after-big-gat": b"gat 100 big k\r\nslabs reassign 1 99\r\nflush_all -1\r\nget BAD\r\n",
    "big-then-get": b"get big\r\nversion\r\nget k\r\nversion\r\nget BAD\r\n",
}


def _big_reply(server: Server, stream: bytes) -> bytes:
    value = bytes(range(256)) * (BIG // 256) + b"x" * (BIG % 256)
    return _reply(server, stream, b"set big 0 0 %d\r\n%s\r\n" % (BIG, value))


@pytest.mark.parametrize("name", sorted(BIG_CASES))
def test_bad_key_after_large_reply(
    name: str, memcached_server: Server, slabcache_server: Server
) -> None:
    """The pause after a large reply is slabcache's own: it must not act as a flush."""
    ref = _big_reply(memcached_server, BIG_CASES[name])
    got = _big_reply(slabcache_server, BIG_CASES[name])
    assert b"CLIENT_ERROR bad command line format\r\n" in ref
    assert got == ref
