"""Differential test: `set` requests that arrive as one read, against memcached 1.6.18.

A read that is exactly one plain `set <key> <flags> <exptime> <bytes>\\r\\n<block>\\r\\n`
takes the text codec's fast path (one engine call, the block stored with its CRLF);
anything unusual about it (noreply, odd numbers, a block of the wrong length or
without its CRLF, bytes after the block, an item over one slab chunk or too large,
an over-long key, NUL bytes) must fall back to the general path. Each request here
is one `sendall` with nothing else in flight, every reply is read before the next
request, and the value is read back with a `get`: both servers must answer with the
same bytes, and close the connection at the same points. The `stats` counters the
sets moved are compared at the end. Everything runs with default flags, without
memcached's background threads (exact item and byte counts), and with -m 4 so that
sets evict.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time

import pytest

from tests.helpers.normalize import line_diff, mask
from tests.helpers.servers import Server
from tests.helpers.wire import parse_stats, read_until, request

# One step: the bytes of one sendall, and the marker its reply ends with. None: no
# reply is due yet (noreply, or a block still short); the next step's reply carries
# anything the server said after all. A marker that ends only the first line of a
# longer reply is fine too: what follows arrives ahead of the next step's reply, and
# a case's replies are compared as one byte string.
Step = tuple[bytes, bytes | None]

LINE = b"\r\n"
END = b"END\r\n"
REPLY_TIMEOUT = 5.0
# No background thread touches items or pages: curr_items and bytes are exact.
QUIET = ("-o", "no_lru_maintainer,no_lru_crawler,slab_automove=0")

# memcached's largest item stored in one chunk with the default -I 1m: half of it
# (slab_chunk_max), less the 48-byte header, the 8-byte CAS, the key's NUL, the
# 4-byte flags suffix when flags are non-zero and the block's CRLF.
CHUNK_MAX = 512 * 1024


def one_chunk_limit(key: bytes, flags: int) -> int:
    return CHUNK_MAX - 48 - 8 - len(key) - 1 - (4 if flags else 0) - 2


def block(n: int) -> bytes:
    """`n` pseudo-random bytes, the same each run (CR, LF and NUL among them once n is
    in the hundreds)."""
    return random.Random(n).randbytes(n)


def set_get(key: bytes, args: bytes, data: bytes, marker: bytes | None = LINE) -> list[Step]:
    """`set key <args>` with `data` (its CRLF added) in one read, then a get of the key."""
    return [
        (b"set " + key + b" " + args + b"\r\n" + data + b"\r\n", marker),
        (b"get " + key + b"\r\n", END),
    ]


def sized(key: bytes, n: int, flags: int = 0) -> list[Step]:
    return set_get(key, b"%d 0 %d" % (flags, n), block(n))


def _well_formed() -> list[tuple[str, list[Step]]]:
    cases: list[tuple[str, list[Step]]] = []
    for n in (0, 1, 100, 2047, 2048, 5000, 100000, 600000):
        cases.append((f"size {n}", sized(b"size%d" % n, n)))
    for flags in (0, 1):
        key = b"edge%d" % flags
        limit = one_chunk_limit(key, flags)
        for n in (limit, limit + 1):
            cases.append((f"one-chunk edge flags {flags} size {n}", sized(key, n, flags)))
    for n in (2048, 100000):
        cases.append((f"flags 42 size {n}", sized(b"f42s%d" % n, n, 42)))
    for flags in (1, 65535, 999999999, 1000000000, 4294967295):
        cases.append((f"flags {flags}", set_get(b"fl%d" % flags, b"%d 0 3" % flags, b"abc")))
    for exptime in (b"0", b"100", b"-1", b"2592000", b"2592001", b"999999999"):
        args = b"0 " + exptime + b" 3"
        cases.append((f"exptime {exptime.decode()}", set_get(b"ex" + exptime, args, b"val")))
    cases += [
        (
            "absolute exptime in the future",
            set_get(b"exabs", b"0 %d 3" % (time.time() + 3600), b"val"),
        ),
        ("key of 250 bytes", set_get(b"k" * 250, b"0 0 2", b"ok")),
        ("bytes over 9 digits", set_get(b"d10", b"0 0 0000000005", b"hello")),
        ("flags over 9 digits", set_get(b"f10", b"0000000007 0 5", b"hello")),
        ("exptime over 9 digits", set_get(b"e10", b"0 0000000100 5", b"hello")),
        ("leading zeros, 9 digits", set_get(b"z9", b"000000007 000000000 000000005", b"hello")),
        ("plus flags", set_get(b"pf", b"+7 0 5", b"hello")),
        ("plus exptime", set_get(b"pe", b"0 +100 5", b"hello")),
        ("plus bytes", set_get(b"pb", b"0 0 +5", b"hello")),
        ("block holding CRLF", set_get(b"crlf", b"0 0 5", b"ab\r\nc")),
        ("block ending in CRLF", set_get(b"crlf2", b"0 0 5", b"hel\r\n")),
        ("block of NULs", set_get(b"nul", b"0 0 3", b"\0\0\0")),
        ("key with a tab", set_get(b"a\tb", b"0 0 1", b"x")),
        ("key with a CR", set_get(b"a\rb", b"0 0 1", b"x")),
        ("key with high bytes", set_get(b"\xc3\xa9\xff", b"0 0 1", b"x")),
        ("misspelt noreply", set_get(b"nr1", b"0 0 1 norepl", b"x")),
        ("noreply", set_get(b"nr2", b"5 0 3 noreply", b"abc", None)),
        ("noreply, big", set_get(b"nr3", b"0 0 5000 noreply", block(5000), None)),
        ("double spaces", [(b"set  sp1  0 0  1\r\nx\r\n", LINE), (b"get sp1\r\n", END)]),
        ("trailing space", [(b"set sp2 0 0 1 \r\nx\r\n", LINE), (b"get sp2\r\n", END)]),
        ("LF-only command line", [(b"set lf 0 0 1\nx\r\n", LINE), (b"get lf\r\n", END)]),
        ("set then get in one read", [(b"set sg 3 0 5\r\nhello\r\nget sg\r\n", END)]),
        (
            "overwrites: small, chunked, small",
            sized(b"ow", 10) + sized(b"ow", 600000) + sized(b"ow", 20, 9) + sized(b"ow", 0),
        ),
    ]
    return cases


# Run one after another on one connection: none of them leaves it in a bad state.
WELL_FORMED = _well_formed()

# Each on a fresh connection: errors, swallowed blocks, bytes left over.
ODD: list[tuple[str, list[Step]]] = [
    ("declared 5, sent 6", set_get(b"o1", b"0 0 5", b"helloX")),
    (
        "declared 5, sent 4",
        [(b"set o2 0 0 5\r\nhell\r\n", None), (b"get o2\r\n", LINE), (b"get o2\r\n", END)],
    ),
    (
        "block ended by LF only",
        [(b"set o3 0 0 5\r\nhello\n", None), (b"get o3\r\n", LINE), (b"get o3\r\n", END)],
    ),
    ("block ended by xx", [(b"set o4 0 0 5\r\nhelloxx", LINE), (b"get o4\r\n", END)]),
    ("block ended by xx, CRLF", set_get(b"o5", b"0 0 5", b"helloxx")),
    ("CRLF after the block", set_get(b"o6", b"0 0 5", b"hello\r\n")),
    ("command after the block", set_get(b"o7", b"0 0 5", b"hello\r\nversion")),
    (
        "key of 251 bytes",
        [(b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n", LINE), (b"get " + b"k" * 251 + b"\r\n", LINE)],
    ),
    ("negative flags", set_get(b"o8", b"-1 0 1", b"x")),
    ("flags 2^32", set_get(b"o9", b"4294967296 0 1", b"x")),
    ("negative bytes", set_get(b"o10", b"0 0 -1", b"x")),
    ("bytes 2^32-1", set_get(b"o11", b"0 0 4294967295", b"x")),
    ("non-numeric flags", set_get(b"o12", b"abc 0 1", b"x")),
    ("non-numeric exptime", set_get(b"o13", b"0 abc 1", b"x")),
    ("non-numeric bytes", set_get(b"o14", b"0 0 abc", b"x")),
    ("number with a suffix", set_get(b"o15", b"0 0 1x", b"x")),
    ("too few tokens", set_get(b"o16", b"0 0", b"x")),
    ("too many tokens", set_get(b"o17", b"0 0 1 noreply extra", b"x")),
    ("NUL in the key", set_get(b"a\0b", b"0 0 1", b"x")),
    ("NUL after the bytes", set_get(b"o18", b"0 0 1\0", b"x")),
    ("noreply, bad chunk", set_get(b"o19", b"0 0 1 noreply", b"xy", None)),
    ("noreply, too large", set_get(b"o20", b"0 0 1048577 noreply", block(1048577), None)),
    (
        "too large replaces nothing, deletes the old value",
        sized(b"o21", 5) + sized(b"o21", 1048577),
    ),
    ("1048576 bytes", sized(b"o22", 1048576)),
    ("just under 1 MB item", sized(b"o23", 1048576 - 48 - 8 - 4 - 2 - 100)),
]


def run_steps(sock: socket.socket, steps: list[Step]) -> tuple[bytes, bool]:
    """All the replies of a case as one byte string, and whether the server closed."""
    out = bytearray()
    for data, marker in steps:
        with contextlib.suppress(OSError):  # closed: reported below with what it said
            sock.sendall(data)
        if marker is None:
            continue
        reply, closed = read_until(sock, marker, timeout=REPLY_TIMEOUT)
        out += reply
        if closed:
            return bytes(out), True
        assert reply.endswith(marker), f"no {marker!r} after {data[:80]!r}: {bytes(out)[-300:]!r}"
    return bytes(out), False


def play(server: Server) -> list[tuple[bytes, bool]]:
    results = []
    sock = server.connect()
    for _name, steps in WELL_FORMED:
        results.append(run_steps(sock, steps))
    sock.close()
    for _name, steps in ODD:
        sock = server.connect()
        results.append(run_steps(sock, steps))
        sock.close()
    assert server.alive(), f"{server.kind} died:\n{server.log()}"
    return results


def counters(server: Server) -> bytes:
    sock = server.connect()
    reply = request(sock, b"stats\r\n", END)
    sock.close()
    return reply


# Server flags per mode, and the `stats` counters compared by value (and required to have
# moved). With memcached's background threads running ("default") the item and byte
# counts depend on when they ran, so mask() hides them; "quiet" stops those threads,
# "m4" also makes the sets evict (4 MB of memory for more than that in items).
EXACT = ("cmd_set", "total_items", "curr_items", "bytes")
COUNTERS = {"default": ("cmd_set",), "quiet": EXACT, "m4": (*EXACT, "evictions")}
FLAGS = {"default": (), "quiet": QUIET, "m4": ("-m", "4", *QUIET)}


@pytest.mark.parametrize("mode", sorted(FLAGS))
def test_one_read_sets(server_factory, mode: str) -> None:
    flags = FLAGS[mode]
    pair = server_factory("memcached", *flags), server_factory("slabcache", *flags)
    ref, got = (play(server) for server in pair)
    names = [name for name, _ in WELL_FORMED + ODD]
    diffs = [
        f"{name}: {line_diff(r, g)} (closed {rc} vs {gc})"
        for name, (r, rc), (g, gc) in zip(names, ref, got, strict=True)
        if (r, rc) != (g, gc)
    ]
    assert not diffs, "\n".join(diffs)
    # The cases did store, expire and refuse items: memcached's own replies show it.
    seen = {name: reply for name, (reply, _closed) in zip(names, ref, strict=True)}
    assert (
        seen["size 600000"]
        == b"STORED\r\nVALUE size600000 0 600000\r\n" + block(600000) + b"\r\nEND\r\n"
    )
    assert seen["exptime -1"] == b"STORED\r\nEND\r\n"
    assert seen["declared 5, sent 6"] == b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
    assert seen["too large replaces nothing, deletes the old value"].endswith(
        b"SERVER_ERROR object too large for cache\r\nEND\r\n"
    )

    reclaim_timing = mode == "default"
    ref_stats, got_stats = (counters(server) for server in pair)
    r = mask(ref_stats, reclaim_timing=reclaim_timing)
    g = mask(got_stats, reclaim_timing=reclaim_timing)
    assert r == g, line_diff(r, g)
    ref_counts, got_counts = parse_stats(ref_stats), parse_stats(got_stats)
    for name in COUNTERS[mode]:
        assert int(ref_counts[name]) > 0, name
        assert ref_counts[name] == got_counts[name], (name, ref_counts[name], got_counts[name])
