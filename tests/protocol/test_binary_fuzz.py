"""Fuzz of the binary codec: arbitrary bytes never raise out of it, and garbage that is
well framed (any opcode, any lengths the header declares) never makes it consume past a
packet: a valid request that follows is answered."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.test_binary import make, parse, pkt

HDR = struct.Struct(">BBHBBHIIQ")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_never_raise(data: bytes, chunk: int) -> None:
    conn = make()
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        conn.data_to_send()


framed = st.builds(
    lambda op, key, extras, value: pkt(op, key, extras, value),
    st.integers(min_value=0x25, max_value=0xFF).filter(lambda op: op not in range(0x30, 0x3D))
    | st.sampled_from([0x1B, 0x30, 0x3C]),
    st.binary(max_size=40),
    st.binary(max_size=30),
    st.binary(max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(framed, max_size=6), st.integers(min_value=1, max_value=50))
def test_unknown_packets_never_swallow_the_next_request(packets: list[bytes], chunk: int) -> None:
    stream = b"".join(packets) + pkt(0x0B, opaque=0x5EED)
    conn = make()
    out = b""
    for i in range(0, len(stream), chunk):
        conn.receive_data(stream[i : i + chunk])
        out += conn.data_to_send()
    replies = parse(out)
    assert [r["status"] for r in replies[:-1]] == [0x81] * len(packets)
    assert (replies[-1]["value"], replies[-1]["opaque"]) == (b"1.6.18", 0x5EED)
    assert not conn.closing


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 0x24), st.integers(0, 300), st.integers(0, 30), st.integers(0, 400),
    st.binary(max_size=300),
)  # fmt: skip
def test_known_opcodes_with_any_lengths_stay_framed(
    op: int, keylen: int, extlen: int, bodylen: int, body: bytes
) -> None:
    # Whatever the header declares, the codec either closes (memcached's protocol errors)
    # or consumes exactly this packet and answers the version request after it.
    if op in (0x07, 0x17):  # quit closes by design
        return
    data = HDR.pack(0x80, op, keylen, extlen, 0, 0, bodylen, 1, 0) + body[:bodylen]
    data += bytes(max(0, bodylen - len(body)))
    conn = make()
    if keylen + extlen > bodylen:
        # like memcached, the codec waits for extras and key before it can refuse this
        conn.receive_data(data + bytes(keylen + extlen - bodylen))
        assert conn.closing and parse(conn.data_to_send())[0]["status"] == 0x81
        return
    conn.receive_data(data + pkt(0x0B, opaque=0xABCD))
    replies = parse(conn.data_to_send())
    if not conn.closing:
        assert replies and replies[-1]["opaque"] == 0xABCD and replies[-1]["value"] == b"1.6.18"
