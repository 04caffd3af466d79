"""Differential runs: the same byte streams to memcached 1.6.18 and slabcache.

Both servers are started by the test with identical flags, fed identical bytes
(cut at the same random points, with small pauses), and must answer with
identical bytes, except for the fields helpers/normalize.py names with the
reason they differ. Seeds are fixed, so a failure reproduces with its seed.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

import pytest

from tests.helpers import streams
from tests.helpers.normalize import line_diff, mask
from tests.helpers.servers import Server
from tests.helpers.wire import read_until, read_until_closed, request, send_fragmented

STREAM_TIMEOUT = 30.0
STATS_FAMILIES = [b"stats", b"stats items", b"stats slabs", b"stats sizes", b"stats settings"]
# After a stream that expired or flushed items, which classes stats items/slabs
# list depends on when memcached's threads reclaimed them.
STABLE_AFTER_EXPIRY = [b"stats", b"stats sizes", b"stats settings"]


class Reader(threading.Thread):
    """Drains a socket while the writer sends, so big replies never stall the server."""

    def __init__(self, sock: socket.socket, marker: bytes) -> None:
        super().__init__(daemon=True)
        self.sock, self.marker = sock, marker
        self.buf = bytearray()
        self.closed = False
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.buf.endswith(self.marker):
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    self.closed = True
                    break
                self.buf += chunk
        except OSError:
            self.closed = True
        finally:
            self.done.set()


def play(server: Server, requests: list[bytes], seed: int, fragment: bool) -> tuple[bytes, bool]:
    """Send the stream plus an end marker; return (all reply bytes, connection closed)."""
    token = b"%016x" % random.Random(seed).getrandbits(64)
    tail = b"\r\nset __end__ 0 0 16\r\n" + token + b"\r\nget __end__\r\n"
    marker = b"VALUE __end__ 0 16\r\n" + token + b"\r\nEND\r\n"
    sock = server.connect(timeout=STREAM_TIMEOUT)
    reader = Reader(sock, marker)
    reader.start()
    rng = random.Random(seed * 7919) if fragment else None
    # OSError: the server closed the connection; what it said before is compared.
    with contextlib.suppress(OSError):
        send_fragmented(sock, b"".join(requests) + tail, rng)
    finished = reader.done.wait(STREAM_TIMEOUT)
    sock.close()
    reader.join(1)
    assert finished, (
        f"{server.kind}: no end marker within {STREAM_TIMEOUT}s, got {bytes(reader.buf[-300:])!r}"
    )
    return bytes(reader.buf), reader.closed


def stats_families(server: Server, families: list[bytes]) -> dict[bytes, bytes]:
    out = {}
    for cmd in families:
        reply, _closed = play(server, [cmd + b"\r\n"], 1, fragment=False)
        out[cmd] = reply
    return out


def first_difference(ref: bytes, got: bytes, requests: list[bytes]) -> str:
    i = next((n for n, (a, b) in enumerate(zip(ref, got, strict=False)) if a != b), None)
    if i is None:
        i = min(len(ref), len(got))
    lo = max(0, i - 200)
    return (
        f"replies differ at byte {i} (lengths {len(ref)} vs {len(got)})\n"
        f"memcached: {ref[lo : i + 200]!r}\nslabcache: {got[lo : i + 200]!r}\n"
        f"commands sent: {[r[:60] for r in requests]!r}"[:1500]
    )


def compare_stream(pair, requests: list[bytes], seed: int, *, reclaim_timing: bool) -> None:
    results = []
    for server in pair:
        reply, closed = play(server, requests, seed, fragment=True)
        results.append((mask(reply, reclaim_timing=reclaim_timing), closed))
        assert server.alive(), f"{server.kind} died on seed {seed}:\n{server.log()}"
    (ref, ref_closed), (got, got_closed) = results
    assert ref == got, f"seed {seed}: " + first_difference(ref, got, requests)
    assert ref_closed == got_closed, f"seed {seed}: closed {ref_closed} vs {got_closed}"
    families = STABLE_AFTER_EXPIRY if reclaim_timing else STATS_FAMILIES
    ref_stats, got_stats = (stats_families(s, families) for s in pair)
    for cmd in families:
        r = mask(ref_stats[cmd], reclaim_timing=reclaim_timing)
        g = mask(got_stats[cmd], reclaim_timing=reclaim_timing)
        assert r == g, f"seed {seed}, {cmd!r} after the stream: " + first_difference(r, g, [])


def start_pair(server_factory, *flags: str) -> tuple[Server, Server]:
    return server_factory("memcached", *flags), server_factory("slabcache", *flags)


@pytest.mark.parametrize("seed", [11, 23, 37, 41, 59, 67, 71, 83])
def test_full_streams(server_factory, seed: int) -> None:
    pair = start_pair(server_factory)
    compare_stream(pair, streams.full_stream(seed), seed, reclaim_timing=True)


@pytest.mark.parametrize("seed", [101, 202])
def test_model_streams_default_flags(server_factory, seed: int) -> None:
    """With the maintainer and crawler running, memcached frees a replaced item only
    when the thread scanning it lets go, so chunk counts are compared in the quiet
    variant below; every reply and every other stat must match here."""
    pair = start_pair(server_factory)
    compare_stream(pair, streams.model_stream(seed), seed, reclaim_timing=True)


# No background thread touches items or pages (automove would move pages on its clock).
QUIET = ("-o", "no_lru_maintainer,no_lru_crawler,slab_automove=0")


@pytest.mark.parametrize("seed", [303, 404, 505])
def test_model_streams_exact_memory(server_factory, seed: int) -> None:
    """No background thread touches items: every stats family must match exactly."""
    pair = start_pair(server_factory, *QUIET)
    compare_stream(pair, streams.model_stream(seed), seed, reclaim_timing=False)


@pytest.mark.parametrize(
    "flags",
    [
        ("-m", "4", *QUIET),
        ("-m", "4", "-M", *QUIET),
        ("-f", "1.5", "-n", "100", *QUIET),
        ("-I", "2m", "-m", "16", *QUIET),
    ],
    ids=["m4-evict", "m4-M", "f1.5-n100", "I2m-m16"],
)
def test_model_streams_memory_limits(server_factory, flags: tuple[str, ...]) -> None:
    """Small -m forces evictions / out-of-memory; without background threads the
    eviction order is the model's alone, so every stat must match."""
    pair = start_pair(server_factory, *flags)
    for seed in (7, 8):
        compare_stream(pair, streams.model_stream(seed, 250), seed, reclaim_timing=False)


def test_pipelined_stream_in_one_send(server_factory) -> None:
    """Everything in a single write: the server must parse a full pipeline."""
    pair = start_pair(server_factory)
    requests = streams.full_stream(5, 120)
    results = []
    for server in pair:
        reply, closed = play(server, requests, 5, fragment=False)
        results.append((mask(reply, reclaim_timing=True), closed))
    assert results[0] == results[1], first_difference(results[0][0], results[1][0], requests)


LOCKSTEP_SCRIPTS = {
    "crawler": [
        b"lru_crawler disable\r\n",
        b"lru_crawler disable\r\n",
        b"lru_crawler enable\r\n",
        b"lru_crawler enable\r\n",
        b"lru_crawler sleep 0\r\n",
        b"lru_crawler crawl all\r\n",
        b"stats settings\r\n",
    ],
    "long-lines": [
        b"get " + b" ".join(b"k%d" % i for i in range(900)) + b"\r\n",
        b"x" * 2040 + b"\r\n",
        b"version\r\n",
    ],
    # Which counters each command moves, read back after every step.
    "counters": [
        b"set k 0 0 1\r\nx\r\n",
        b"gat 0 k\r\n",
        b"stats\r\n",
        b"gats 0 k nope\r\n",
        b"stats\r\n",
        b"flush_all abc\r\n",
        b"stats\r\n",
        b"set k 0 0 1 noreply\r\nxy\r\n",
        b"stats\r\n",
        b"incr nope 1\r\n",
        b"touch nope 1\r\n",
        b"stats\r\n",
    ],
    "admin": [
        b"verbosity 1\r\n",
        b"verbosity 0\r\n",
        b"lru mode flat\r\n",
        b"lru mode segmented\r\n",
        b"lru tune 10 25 0.1 2\r\n",
        b"lru temp_ttl 100\r\n",
        b"slabs automove 0\r\n",
        b"cache_memlimit 100\r\n",
        b"stats settings\r\n",
    ],
}


def wait_for_crawler(sock: socket.socket) -> None:
    """memcached starts its crawler thread beside the listener; a disable/enable
    that races that start answers differently, so wait until a crawl is accepted."""
    for _ in range(50):
        sock.sendall(b"lru_crawler crawl 1\r\n")
        out, _closed = read_until(sock, b"\r\n", timeout=5)
        if out == b"OK\r\n":
            return
        time.sleep(0.1)
    raise AssertionError("the LRU crawler never accepted a crawl")


# memcached's crawler thread is stopped and restarted by `lru_crawler disable/enable`; on a
# loaded machine its restart can lose a race with the old thread's exit ("ERROR failed to
# start lru crawler thread", then "ERROR an unknown error happened"). The oracle's own race
# is not a slabcache bug, so that script gets fresh servers up to this many times; a real
# difference repeats on every attempt.
ORACLE_RACE_ATTEMPTS = {"crawler": 3}


def _lockstep_diffs(server_factory, name: str) -> list[str]:
    pair = start_pair(server_factory)
    results = []
    for server in pair:
        sock = server.connect()
        if name == "crawler":
            wait_for_crawler(sock)
        replies = []
        for req in LOCKSTEP_SCRIPTS[name]:
            sock.sendall(req)
            multi = req.startswith((b"stats", b"get", b"gat", b"bget"))
            marker = b"END\r\n" if multi else b"\r\n"
            out, _ = read_until(sock, marker, timeout=10)
            replies.append(mask(out, reclaim_timing=True))
        sock.close()
        results.append(replies)
    return [
        f"{req!r}: {line_diff(r, g)}"
        for req, r, g in zip(LOCKSTEP_SCRIPTS[name], *results, strict=True)
        if r != g
    ]


@pytest.mark.parametrize("name", sorted(LOCKSTEP_SCRIPTS))
def test_lockstep_scripts(server_factory, name: str) -> None:
    """One request at a time, each reply read before the next is sent."""
    for _attempt in range(ORACLE_RACE_ATTEMPTS.get(name, 1)):
        diffs = _lockstep_diffs(server_factory, name)
        if not diffs:
            break
    assert not diffs, "\n".join(diffs)


def test_line_without_newline_over_2048_bytes_closes(server_factory) -> None:
    """memcached closes a connection whose buffered line passes 2048 bytes with no
    newline (unless it is a get/gets, which may be that long)."""
    pair = start_pair(server_factory)
    results = []
    for server in pair:
        sock = server.connect()
        sock.sendall(b"x" * 4096)
        results.append(read_until_closed(sock, timeout=5.0))
        sock.close()
        probe = server.connect()
        results.append(request(probe, b"version\r\n", b"\r\n")[:8])
        probe.close()
    assert results[0] == (b"", True)
    assert results[1] == b"VERSION "
    assert results[2:] == results[:2]


@pytest.mark.parametrize(
    "raw",
    [
        b"quit\r\n",
        b"quit extra\r\n",
        b"get k\r\nquit\r\nget k\r\n",
        b"set k 0 0 1\r\nx\r\nquit\r\n",
    ],
)
def test_quit_closes_like_memcached(server_factory, raw: bytes) -> None:
    pair = start_pair(server_factory)
    results = []
    for server in pair:
        sock = server.connect()
        sock.sendall(raw)
        results.append(read_until_closed(sock, timeout=3.0))
        sock.close()
    assert results[0] == results[1]


# Multi-key get lines, each sent as one read with nothing else in flight (the server answers
# such a read in one call), with the marker that ends its reply.
ONE_READ_GETS = [
    (b"set f 7 0 2\r\nff\r\n", b"\r\n"),
    (b"set plain 0 0 5\r\nhello\r\n", b"\r\n"),
    (b"get f plain\r\n", b"END\r\n"),
    (b"get plain nope f plain\r\n", b"END\r\n"),
    (b"get  plain   f \r\n", b"END\r\n"),
    (b"get nope1 nope2\r\n", b"END\r\n"),
    (b"get plain " + b"k" * 250 + b" f\r\n", b"END\r\n"),
    (b"get plain " + b"k" * 251 + b" f\r\n", b"\r\n"),
    (b"get " + b" ".join(b"k%d" % i for i in range(30)) + b" plain\r\n", b"END\r\n"),
    (b"get    \r\n", b"\r\n"),
    (b"get f\rx plain\r\n", b"END\r\n"),
    (b"stats\r\n", b"END\r\n"),
]


def test_one_read_multiget_lines(server_factory) -> None:
    pair = start_pair(server_factory)
    results = []
    for server in pair:
        sock = server.connect()
        results.append(
            [
                mask(request(sock, req, marker), reclaim_timing=False)
                for req, marker in ONE_READ_GETS
            ]
        )
        sock.close()
    diffs = [
        f"{req!r}: {line_diff(r, g)}"
        for (req, _), r, g in zip(ONE_READ_GETS, *results, strict=True)
        if r != g
    ]
    assert not diffs, "\n".join(diffs)
