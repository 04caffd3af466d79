"""Key hashes memcached 1.6.18 offers: murmur3 (default), jenkins (lookup3) and xxh3.

All return the unsigned 32-bit value memcached computes over the key bytes (no NUL).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import mmh3

HashFn = Callable[[bytes], int]

_M32 = 0xFFFFFFFF
_LE3 = struct.Struct("<III")


# MurmurHash3_x86_32, seed 0, unsigned: the C function itself, no Python frame per hash
murmur3: HashFn = mmh3.mmh3_32_uintdigest


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def jenkins(key: bytes) -> int:
    """lookup3 `hashlittle` (little-endian, initval 0), as memcached's jenkins_hash."""
    length = len(key)
    a = b = c = (0xDEADBEEF + length) & _M32
    if length == 0:
        return c
    pos = 0
    while length > 12:
        x, y, z = _LE3.unpack_from(key, pos)
        a = (a + x) & _M32
        b = (b + y) & _M32
        c = (c + z) & _M32
        # mix(a, b, c)
        a = (a - c) & _M32
        a ^= _rot(c, 4)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 6)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 8)
        b = (b + a) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 16)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 19)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 4)
        b = (b + a) & _M32
        pos += 12
        length -= 12
    x, y, z = _LE3.unpack(key[pos:].ljust(12, b"\0"))
    a = (a + x) & _M32
    b = (b + y) & _M32
    c = (c + z) & _M32
    # final(a, b, c)
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    c = (c - _rot(b, 24)) & _M32
    return c


def xxh3(key: bytes) -> int:
    import xxhash  # imported lazily: only needed when selected

    return xxhash.xxh3_64_intdigest(key) & _M32


HASH_ALGORITHMS: dict[str, HashFn] = {"murmur3": murmur3, "jenkins": jenkins, "xxh3": xxh3}


def hash_function(name: str) -> HashFn:
    try:
        fn = HASH_ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown hash_algorithm {name!r}") from None
    if fn is xxh3:
        xxh3(b"")  # fail at startup, not on the first request, if xxhash is missing
    return fn
