"""Seeded random text-protocol command streams for differential runs.

A stream is a list of complete requests (command line plus data block where one
is due). Two flavours:

- full streams use every text command, noreply, malformed input, expiry and
  flush_all; items that expire are reclaimed by memcached's background threads
  at moments no client controls, so stats values that count them are masked;
- model streams never expire or flush anything, so every memory-model stat
  (items, bytes, chunks, pages, per-class counters) must match exactly.
"""

from __future__ import annotations

import random

KEYS = [f"k{i}" for i in range(12)] + ["key:with:colons", "x" * 250, "ünï"]
ITEM_SIZE_MAX = 1 << 20


def _key(rng: random.Random) -> str:
    return rng.choice(KEYS)


def _value(rng: random.Random, sizes: tuple[int, ...]) -> bytes:
    size = rng.choice(sizes)
    if rng.random() < 0.3:
        # Values that contain the protocol's own delimiters.
        base = rng.choice([b"\r\n", b"END\r\n", b"\r", b"\n", b"VALUE x 0 1\r\n", b"\x00"])
        return (base * (size // len(base) + 1))[:size]
    return bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1)


def _exptime(rng: random.Random, expiring: bool) -> str:
    choices = ["0", "0", "100", "3600", "2592000", "1999999999"]
    if expiring:
        # 4000000000 does not fit memcached's int32 exptime: it wraps negative (expired).
        choices += ["-1", "1000000", "4000000000", "abc", "-2147483649", "99999999999999999999"]
    return rng.choice(choices)


def _flags(rng: random.Random) -> str:
    return rng.choice(["0", "0", "1", "42", "4294967295", "65535"])


def _noreply(rng: random.Random) -> str:
    return " noreply" if rng.random() < 0.15 else ""


def storage(rng: random.Random, expiring: bool, sizes: tuple[int, ...]) -> bytes:
    cmd = rng.choice(["set", "set", "add", "replace", "append", "prepend", "cas"])
    exptime = _exptime(rng, expiring)
    if not exptime.lstrip("-").isdigit() or len(exptime) > 10:
        # A rejected command line leaves its data to be read as commands; a long
        # newline-free run there makes memcached close the connection at whatever
        # point its read buffer passes 2048 bytes, which no client can reproduce.
        sizes = SMALL
    value = _value(rng, sizes)
    line = f"{cmd} {_key(rng)} {_flags(rng)} {exptime} {len(value)}"
    if cmd == "cas":
        line += f" {rng.randint(1, 40)}"
    return line.encode() + _noreply(rng).encode() + b"\r\n" + value + b"\r\n"


def retrieval(rng: random.Random, expiring: bool) -> bytes:
    keys = " ".join(_key(rng) for _ in range(rng.randint(1, 5)))
    cmd = rng.choice(["get", "gets", "get", "bget", "gat", "gats"])
    if cmd in ("gat", "gats"):
        return f"{cmd} {_exptime(rng, expiring)} {keys}\r\n".encode()
    return f"{cmd} {keys}\r\n".encode()


def arithmetic(rng: random.Random) -> bytes:
    amount = rng.choice(["1", "7", "18446744073709551615", "18446744073709551616", "-1", "x"])
    return f"{rng.choice(['incr', 'decr'])} {_key(rng)} {amount}{_noreply(rng)}\r\n".encode()


def counter_set(rng: random.Random) -> bytes:
    value = rng.choice([b"0", b"10", b"18446744073709551615", b"99", b"007", b"1 "])
    return b"set %s 0 0 %d\r\n%s\r\n" % (_key(rng).encode(), len(value), value)


def deletion(rng: random.Random) -> bytes:
    tail = rng.choice(["", "", " noreply", " 0", " 0 noreply", " 5"])
    return f"delete {_key(rng)}{tail}\r\n".encode()


def touch(rng: random.Random, expiring: bool) -> bytes:
    return f"touch {_key(rng)} {_exptime(rng, expiring)}{_noreply(rng)}\r\n".encode()


def admin(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"version\r\n",
            b"verbosity 1\r\n",
            b"verbosity 0 noreply\r\n",
            b"verbosity\r\n",
            b"slabs automove 0\r\n",
            b"slabs automove 1\r\n",
            b"slabs automove 2\r\n",
            b"slabs automove 3\r\n",
            b"lru tune 10 25 0.1 2\r\n",
            b"lru tune 10 90 0.1 2\r\n",
            b"lru mode flat\r\n",
            b"lru mode segmented\r\n",
            b"lru mode other\r\n",
            b"lru temp_ttl 61\r\n",
            b"lru_crawler sleep 100\r\n",
            b"lru_crawler sleep 2000000\r\n",
            b"lru_crawler tocrawl 10\r\n",
            b"lru_crawler tocrawl x\r\n",
            b"lru_crawler bogus\r\n",
            b"cache_memlimit 64\r\n",
            b"cache_memlimit 0\r\n",
            b"cache_memlimit x\r\n",
            b"slabs reassign 1 99\r\n",
            b"stats detail on\r\n",
            b"stats detail off\r\n",
            b"stats detail dump\r\n",
        ]
    )


def stats_request(rng: random.Random, full: bool) -> bytes:
    # No cachedump: it lists HOT items, which the maintainer moves on its own clock.
    families = ["", "settings", "sizes", "detail dump", "bogus", "reset"]
    if not full:
        # Which classes stats items/slabs list depends on when expired items are
        # reclaimed, so only streams that never expire anything ask for them.
        families += ["items", "slabs"]
    return f"stats {rng.choice(families)}".strip().encode() + b"\r\n"


def malformed(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"\r\n",
            b"\n",
            b"bogus command here\r\n",
            b"GET k1\r\n",
            b"get\r\n",
            b"gets\r\n",
            b"set k1 0 0\r\n",
            b"set k1 abc 0 1\r\nx\r\n",
            b"set k1 0 abc 1\r\nx\r\n",
            b"set k1 0 0 abc\r\nx\r\n",
            b"set k1 0 0 -1\r\n",
            b"set k1 4294967296 0 1\r\nx\r\n",
            b"set k1 0 0 3\r\nabcde\r\n",
            b"set k1 0 0 3\r\nab\r\n",
            b"set " + b"y" * 251 + b" 0 0 1\r\nx\r\n",
            b"get " + b"y" * 251 + b"\r\n",
            b"delete " + b"y" * 251 + b"\r\n",
            b"incr k1\r\n",
            b"incr k1 1 2 3\r\n",
            b"touch k1\r\n",
            b"cas k1 0 0 1\r\nx\r\n",
            b"cas k1 0 0 1 abc\r\nx\r\n",
            b"flush_all abc\r\n",
            b"verbosity abc def ghi\r\n",
            b"get k1 \r\n",
            b"get  k1\r\n",
            b"   \r\n",
            b"set k1 0 0 1 noreply extra\r\nx\r\n",
            b"x" * 2000 + b"\r\n",
            b"\x00\x01\x02\r\n",
            b"shutdown\r\n",
            b"mn\r\n",
        ]
    )


def too_large(rng: random.Random) -> bytes:
    size = ITEM_SIZE_MAX + rng.choice([1, 100, 4096])
    return f"set {_key(rng)} 0 0 {size}\r\n".encode() + b"z" * size + b"\r\n"


SMALL = (0, 1, 5, 30, 100)
# Delayed flushes are far enough ahead that none comes due during a test.
FLUSHES = [
    b"flush_all\r\n",
    b"flush_all 0\r\n",
    b"flush_all noreply\r\n",
    b"flush_all 1000\r\n",
    b"flush_all 0 noreply\r\n",
    b"flush_all -1\r\n",
]
MIXED = (0, 1, 10, 60, 100, 500, 1000, 3000, 10_000, 70_000, 300_000, 1_000_000)


def full_stream(seed: int, length: int = 150) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(length):
        r = rng.random()
        if r < 0.30:
            out.append(storage(rng, True, MIXED if rng.random() < 0.2 else SMALL))
        elif r < 0.50:
            out.append(retrieval(rng, True))
        elif r < 0.58:
            out.append(arithmetic(rng))
        elif r < 0.62:
            out.append(counter_set(rng))
        elif r < 0.67:
            out.append(deletion(rng))
        elif r < 0.71:
            out.append(touch(rng, True))
        elif r < 0.73:
            out.append(rng.choice(FLUSHES))
        elif r < 0.80:
            out.append(admin(rng))
        elif r < 0.85:
            out.append(stats_request(rng, True))
        elif r < 0.99:
            out.append(malformed(rng))
        else:
            out.append(too_large(rng))
    return out


def model_stream(seed: int, length: int = 300) -> list[bytes]:
    """Stores of many sizes, reads, deletes, counters: no expiry, no flush."""
    rng = random.Random(seed)
    out = []
    for _ in range(length):
        r = rng.random()
        if r < 0.55:
            out.append(storage(rng, False, MIXED))
        elif r < 0.75:
            out.append(retrieval(rng, False))
        elif r < 0.82:
            out.append(arithmetic(rng))
        elif r < 0.86:
            out.append(counter_set(rng))
        elif r < 0.93:
            out.append(deletion(rng))
        elif r < 0.97:
            out.append(touch(rng, False))
        else:
            out.append(stats_request(rng, False))
    return out
