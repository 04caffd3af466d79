"""Item layout inside the arena (memcached's 64-bit `struct _stritem`) and small accessors.

Offsets are relative to the chunk start. Links (next/prev/h_next) are arena offsets; offset 0
is never a chunk because the arena's first page is a reserved header, so 0 is a safe null link.

  0 next  8 prev  16 h_next  24 time  28 exptime  32 nbytes  36 refcount  38 it_flags
  40 slabs_clsid (class | sub-LRU bits)  41 nkey  42 orig_clsid (chunked header class)
  48 [cas: 8 bytes when use_cas]  key  NUL  [client flags: 4 bytes when nonzero]  data+CRLF

A chunked item keeps a 48-byte item_chunk in its data area whose `next` is the first data chunk.
Data chunks (ITEM_CHUNK) use the same field positions for next/prev/refcount/it_flags/clsid:
  0 next  8 prev  16 head  24 size  28 used  36 refcount  38 it_flags  40 slabs_clsid  48 data
"""

from __future__ import annotations

import struct

ITEM_LINKED = 1
ITEM_CAS = 2
ITEM_SLABBED = 4
ITEM_FETCHED = 8
ITEM_ACTIVE = 16
ITEM_CHUNKED = 32
ITEM_CHUNK = 64
ITEM_CFLAGS = 256

HOT_LRU = 0
WARM_LRU = 64
COLD_LRU = 128
TEMP_LRU = 192
CLSID_MASK = 63
LRU_MASK = 192

HEADER_SIZE = 48
CHUNK_HEADER_SIZE = 48

# header field offsets
OFF_NEXT = 0
OFF_PREV = 8
OFF_HNEXT = 16
OFF_TIME = 24
OFF_EXPTIME = 28
OFF_NBYTES = 32
OFF_REFCOUNT = 36
OFF_FLAGS = 38
OFF_CLSID = 40
OFF_NKEY = 41
OFF_ORIG_CLSID = 42
OFF_CAS = 48
# data chunk fields
OFF_CHUNK_HEAD = 16
OFF_CHUNK_SIZE = 24
OFF_CHUNK_USED = 28

Q = struct.Struct("<Q")
I32 = struct.Struct("<I")
H16 = struct.Struct("<H")
# the whole header: next, prev, h_next, time, exptime, nbytes, refcount, it_flags, clsid, nkey
HDR = struct.Struct("<QQQIIIHHBB")
# time, exptime, nbytes, refcount, it_flags, slabs_clsid, nkey (from offset 24)
META = struct.Struct("<IIIHHBB")
# time..nkey + orig_clsid + padding: written once when an item is allocated (from offset 24)
NEWHDR = struct.Struct("<IIIHHBBB5x")
LINKS = struct.Struct("<QQ")
# hot-path layouts: a whole linked header written in one call (next..orig_clsid [+ cas]), and
# everything a lookup needs read in one call from offset 24 (time..nkey [+ cas at 48])
LINKED_HDR = struct.Struct("<QQQIIIHHBBB5x")
LINKED_HDR_CAS = struct.Struct("<QQQIIIHHBBB5xQ")
META_CAS = struct.Struct("<IIIHHBB6xQ")
REF_FLAGS = struct.Struct("<HH")  # refcount, it_flags (from offset 36)
NUL_FLAGS = struct.Struct("<BI")  # the key's NUL and the client flags after it
CHUNK_HDR = struct.Struct("<QQQII4xHHB7x")


def item_ntotal(nkey: int, nbytes: int, has_flags: bool, use_cas: bool) -> int:
    """ITEM_ntotal: 48 + key + NUL + data+CRLF [+4 flags] [+8 cas]."""
    return HEADER_SIZE + nkey + 1 + nbytes + (4 if has_flags else 0) + (8 if use_cas else 0)
