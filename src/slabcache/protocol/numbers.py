"""memcached's number parsing (`safe_strtoul`, `safe_strtol`, `safe_strtoull`, `safe_strtod`).

memcached 1.6.18 parses arguments with C `strto*` on 64-bit Linux and then narrows the
result, which gives observable quirks we must reproduce byte for byte:

* leading C whitespace (tab, VT, FF, CR) is skipped, one `+` or `-` sign is accepted;
* a number must be followed by the end of the token or a C whitespace byte;
* unsigned parsing accepts `-N` and negates modulo 2^64 unless the result looks negative
  as a signed 64-bit value (so `-1` fails but `-18446744073709551615` is 1);
* flags are parsed as 64-bit then truncated to 32 bits; exptime and bytes are parsed as a
  signed 64-bit `long` and truncated to int32.

Every function returns None when memcached's helper returns false.
"""

from __future__ import annotations

import re

_C_SPACE = b" \t\n\v\f\r"
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1
# strtol/strtoul: optional whitespace, sign, digits; the rest of the token must be empty
# or start with a C whitespace byte.
_INT_RE = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)(?:[ \t\n\v\f\r].*)?\Z", re.S)
_FLOAT_RE = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rb"|inf(?:inity)?|nan))(?:[ \t\n\v\f\r].*)?\Z",
    re.S | re.I,
)


def strtoull(tok: bytes) -> int | None:
    """`safe_strtoull`: uint64 with memcached's negative-number guard."""
    if tok.isdigit():  # hot path: plain decimal
        v = int(tok)
        return v if v < _U64 else None
    m = _INT_RE.match(tok)
    if m is None:
        return None
    v = int(m.group(2))
    if v >= _U64:
        return None  # ERANGE
    if m.group(1) == b"-":
        v = (-v) % _U64
        if v >= 1 << 63:  # looks negative and a '-' was present
            return None
    return v


def strtoul32(tok: bytes) -> int | None:
    """`safe_strtoul` into a uint32_t: 64-bit parse, then truncation mod 2^32."""
    v = strtoull(tok)
    return None if v is None else v & 0xFFFFFFFF


def strtol32(tok: bytes) -> int | None:
    """`safe_strtol` into an int32_t: signed 64-bit parse, then two's-complement truncation."""
    if tok.isdigit():  # hot path
        v = int(tok)
        if v > _I64_MAX:
            return None
    else:
        m = _INT_RE.match(tok)
        if m is None:
            return None
        v = int(m.group(2))
        if m.group(1) == b"-":
            v = -v
            if v < -_I64_MAX - 1:
                return None
        elif v > _I64_MAX:
            return None
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def strtod(tok: bytes) -> float | None:
    """`safe_strtod` for the decimal forms clients send (hex floats are not accepted)."""
    m = _FLOAT_RE.match(tok)
    if m is None:
        return None
    v = float(m.group(1))
    if v in (float("inf"), float("-inf")) and b"inf" not in m.group(1).lower():
        return None  # ERANGE on overflow
    return v
