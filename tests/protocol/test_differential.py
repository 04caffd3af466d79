"""In-process differential check: the same byte streams to memcached 1.6.18 and TextProtocol.

Each stream goes to a fresh connection on a real memcached (started on a free port by the
shared fixture, stopped by PID) and to a fresh TextProtocol; replies must be identical
except CAS values, which are masked (both count from 1, but memcached's first connection
may differ).
"""

from __future__ import annotations

import re
import shutil
import socket
import time

import pytest

from tests.protocol.conftest import make_conn

pytestmark = pytest.mark.skipif(shutil.which("memcached") is None, reason="needs memcached")

K251 = b"k" * 251
CATALOGUE = [
    b"set a 0 0 3\r\nabc\r\nget a\r\ngets a\r\ndelete a\r\nget a\r\n",
    b"set v 7 0 6\r\na\r\nb\r\n\r\nget v v missing\r\n",
    b"set f 4294967296 0 1\r\nx\r\nset g +5 0 1\r\ny\r\nget f g\r\n",
    b"set f 18446744073709551616 0 1\r\nx\r\nset f -1 0 1\r\nx\r\n",
    b"set e 0 1.5 1\r\nx\r\nset e 0 0x1 1\r\nx\r\nset e 0 0 -1\r\nx\r\n",
    b"set " + K251 + b" 0 0 1\r\nx\r\nget " + K251 + b"\r\n",
    b"set a 0 0 1\r\nx\r\nget a " + K251 + b"\r\n",
    b"set foo 0 0 3\r\nabcde\r\nset foo 0 0 3 noreply\r\nabcde\r\n",
    b"set k 0 0 1 garbage\r\nx\r\nset k 0 0 1 noreply\r\ny\r\nget k noreply\r\n",
    b"set k 0 0 1 a b\r\nx\r\nset k 0 0\r\n\r\nget\r\nGET k\r\nbogus noreply\r\n",
    b"set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 18446744073709551615\r\n"
    b"decr n 100\r\nincr n abc\r\nincr n -1\r\nincr n abc noreply\r\nincr zz 1\r\n",
    b"set s 0 0 1\r\na\r\nincr s 1\r\ndecr s 1 noreply\r\n",
    b"add a 0 0 1\r\n1\r\nadd a 0 0 1\r\n2\r\nreplace z 0 0 1\r\n1\r\nappend a 0 0 1\r\n2\r\n"
    b"prepend a 0 0 1\r\n0\r\nappend z 0 0 1\r\n1\r\nget a\r\n",
    b"set c 0 0 1\r\nx\r\ncas c 0 0 1 999\r\ny\r\ncas q 0 0 1 1\r\ny\r\ncas c 0 0 1\r\ny\r\n",
    b"touch t 1\r\ntouch t x\r\nset t 0 0 1\r\nx\r\ntouch t 100\r\ngat 100 t\r\ngats 100 t\r\n"
    b"gat x t\r\ngat 100\r\n",
    b"delete d 0\r\ndelete d 5\r\ndelete d noreply\r\ndelete d 5 noreply\r\ndelete\r\n",
    b"flush_all x\r\nflush_all 1 2 3\r\nflush_all noreply\r\nflush_all 0\r\n",
    b"verbosity\r\nverbosity x\r\nverbosity 1 noreply\r\nverbosity 1\r\n",
    b"shutdown\r\nmisbehave\r\ncache_memlimit abc\r\ncache_memlimit 4\r\n"
    b"cache_memlimit 2000000000\r\ncache_memlimit\r\n",
    b"slabs bogus\r\nslabs reassign x 1\r\nslabs automove 3\r\nslabs automove window 5\r\n"
    b"lru bogus\r\nlru tune 50 50 0.1 2.0\r\nlru tune 10 10 0 2.0\r\nlru mode x\r\n",
    b"lru_crawler bogus\r\nlru_crawler sleep 2000000\r\nlru_crawler crawl 99\r\n"
    b"lru_crawler crawl 0\r\nwatch bogus\r\n",
    b"stats bogus\r\nstats detail\r\nstats cachedump 1\r\nstats cachedump 64 0\r\n"
    b"stats cachedump x 0\r\n",
    b"set  sp   0  0  1 \r\nx\r\nset a\tb 0 0 1\r\ny\r\nget a\tb sp\r\nset lf 0 0 1\nz\r\nget lf\n",
    b"get\x00x a\r\nset k\x00z 0 0 1\r\nq\r\nget k\r\n",
    b"set big 0 0 1\r\nx\r\nset big 0 0 2000000\r\n" + b"y" * 2000000 + b"\r\nget big\r\n",
    b"set big 1 0 1048514\r\n" + b"a" * 1048514 + b"\r\n"
    b"set big 0 0 1048514\r\n" + b"a" * 1048514 + b"\r\n",
    b"get " + b" ".join(b"k%d" % i for i in range(300)) + b"\r\n",
    b"delete " + b" ".join(b"x" for _ in range(30)) + b"\r\n",
]  # fmt: skip


def _mask(b: bytes) -> bytes:
    return re.sub(rb"(VALUE \S+ \d+ \d+) \d+", rb"\1 C", b)


def _memcached(server, data: bytes) -> tuple[bytes, bool]:
    s = socket.create_connection(server.address, timeout=5)
    try:
        s.sendall(data)
        s.sendall(b"version\r\n")  # a sentinel: everything before it has been answered
        out = b""
        closed = False
        deadline = time.monotonic() + 10
        while not out.endswith(b"VERSION 1.6.18\r\n") and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
        return (out if closed else out[: -len(b"VERSION 1.6.18\r\n")]), closed
    finally:
        s.close()


@pytest.mark.parametrize("stream", CATALOGUE, ids=lambda s: repr(s[:30]))
def test_same_bytes_as_memcached(memcached_server, stream):
    # flush between streams so each starts from an empty cache on both sides
    _memcached(memcached_server, b"flush_all\r\n")
    want, _ = _memcached(memcached_server, stream)
    conn = make_conn()
    conn.receive_data(stream)
    got = conn.data_to_send()
    assert _mask(got) == _mask(want)
