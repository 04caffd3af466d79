"""Refused and late data blocks at every fragment boundary.

memcached answers a too-large storage command once its data block is swallowed, and flushes
what it has queued whenever a data block ends with a socket read (a block that did not
arrive with its command line). Replies queued before such a flush survive a later get with
an over-long key, which drops only the unsent ones.
"""

from __future__ import annotations

import re

import pytest

from slabcache.engine.config import EngineConfig
from slabcache.settings import Settings
from tests.protocol.conftest import make_conn

ITEM_MAX = 1024  # memcached's smallest -I: keeps the refused block short
LONG_KEY = b"x" * 251
TOO_LARGE = b"set big 0 0 2000\r\n" + b"z" * 2000 + b"\r\n"
STREAMS = {
    "refused-then-get": TOO_LARGE + b"set k 0 0 1\r\nv\r\nget k\r\n",
    "refused-noreply": b"set big 0 0 2000 noreply\r\n" + b"z" * 2000 + b"\r\nget big\r\n",
    "stored-then-get": b"set k 0 0 5\r\nhello\r\nget k\r\nset j 0 0 3\r\nabc\r\nget j k\r\n",
    "refused-bad-chunk": TOO_LARGE + b"set k 0 0 1\r\nvv\r\nget k\r\n",
}


def _conn():
    settings = Settings(engine=EngineConfig(item_size_max=ITEM_MAX))
    return make_conn(settings, max_reqs=20)


def _feed(chunks: list[bytes]) -> bytes:
    conn = _conn()
    out = []
    for chunk in chunks:
        conn.receive_data(chunk)
        out.append(conn.data_to_send())
        while conn.pending:
            conn.resume()
            out.append(conn.data_to_send())
    return b"".join(out)


def _mask_cas(b: bytes) -> bytes:
    return re.sub(rb"(VALUE \S+ \d+ \d+) \d+", rb"\1 C", b)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_split_point_matches_unsplit(name: str) -> None:
    stream = STREAMS[name]
    whole = _mask_cas(_feed([stream]))
    assert whole.endswith(b"END\r\n")
    for cut in range(1, len(stream)):
        got = _mask_cas(_feed([stream[:cut], stream[cut:]]))
        assert got == whole, f"{name}: split at {cut}: {got!r} != {whole!r}"


def test_refused_block_reply_survives_a_long_key_get_after_a_read() -> None:
    """The 'set' line arrives first, its block later with a bad get: memcached has sent
    SERVER_ERROR before it parses the get, so only the get's own error follows."""
    head = b"set big 0 0 2000\r\n"
    tail = b"z" * 2000 + b"\r\nget " + LONG_KEY + b"\r\n"
    for cut in range(0, len(tail), 97):
        got = _feed([head + tail[:cut], tail[cut:]])
        assert got == b"SERVER_ERROR object too large for cache\r\n" + (
            b"CLIENT_ERROR bad command line format\r\n"
        ), cut


def test_stored_reply_survives_a_long_key_get_after_a_late_block() -> None:
    got = _feed([b"set k 0 0 3\r\nab", b"c\r\nget " + LONG_KEY + b"\r\n"])
    assert got == b"STORED\r\nCLIENT_ERROR bad command line format\r\n"
