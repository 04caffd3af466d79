"""Chained hash index (assoc.c): bucket arrays of arena offsets, chains through h_next.

The bucket array is a compact `array('Q')` beside the arena (0 = empty bucket; offset 0 never
holds an item). Growth follows memcached: when curr_items > 1.5 x buckets (checked by the
engine's once-a-second tick) a table twice the size is made and old buckets move over one at a
time in bounded slices; while expanding, a key whose old bucket has not moved yet is looked up
in the old table.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator

from .items import OFF_HNEXT, OFF_NKEY, Q

HASHPOWER_MAX = 32


class HashIndex:
    def __init__(
        self,
        mm_getter: Callable[[], object],
        key_off: int,
        hashpower: int,
        words_getter: Callable[[], memoryview],
    ) -> None:
        self._mm = mm_getter
        # the arena as 64-bit words (offsets are 8-aligned): h_next without a struct call
        self._words = words_getter
        self.key_off = key_off  # where the key starts in an item (48 or 56 with CAS)
        self.hashpower = hashpower
        self.primary = array("Q", bytes(8 << hashpower))
        self.mask = (1 << hashpower) - 1
        self.old: array | None = None
        self.old_mask = 0
        self.expanding = False
        self.expand_bucket = 0
        self.hash_items = 0
        # (table, mask) while not expanding, else None: one attribute for the hot paths
        self.fast: tuple[array, int] | None = (self.primary, self.mask)

    # -- lookup ----------------------------------------------------------------------------

    def bucket_of(self, hv: int) -> tuple[array, int]:
        if self.expanding:
            ob = hv & self.old_mask
            if ob >= self.expand_bucket:
                return self.old, ob  # type: ignore[return-value]
        return self.primary, hv & self.mask

    def find(self, key: bytes, hv: int) -> int:
        """Offset of the item with this key, or 0 when absent."""
        tm = self.fast
        if tm is None:
            table, b = self.bucket_of(hv)
        else:
            table, mask = tm
            b = hv & mask
        mm = self._mm()
        off = table[b]
        nk = len(key)
        ko = self.key_off
        unpack = Q.unpack_from
        while off:
            if mm[off + OFF_NKEY] == nk and mm[off + ko : off + ko + nk] == key:
                return off
            off = unpack(mm, off + OFF_HNEXT)[0]
        return 0

    def insert(self, off: int, hv: int) -> None:
        table, b = self.bucket_of(hv)
        Q.pack_into(self._mm(), off + OFF_HNEXT, table[b])
        table[b] = off
        self.hash_items += 1

    def delete(self, off: int, hv: int) -> None:
        table, b = self.bucket_of(hv)
        mm = self._mm()
        cur = table[b]
        nxt = Q.unpack_from(mm, off + OFF_HNEXT)[0]
        if cur == off:
            table[b] = nxt
        else:
            while cur:
                after = Q.unpack_from(mm, cur + OFF_HNEXT)[0]
                if after == off:
                    Q.pack_into(mm, cur + OFF_HNEXT, nxt)
                    break
                cur = after
            else:
                raise AssertionError("item not in its hash chain")
        self.hash_items -= 1

    # -- growth ----------------------------------------------------------------------------

    def start_expand(self) -> bool:
        if self.expanding or self.hashpower >= HASHPOWER_MAX:
            return False
        self.old = self.primary
        self.old_mask = self.mask
        self.hashpower += 1
        self.primary = array("Q", bytes(8 << self.hashpower))
        self.mask = (1 << self.hashpower) - 1
        self.expand_bucket = 0
        self.expanding = True
        self.fast = None
        return True

    def expand_step(self, hash_fn: Callable[[bytes], int], buckets: int) -> int:
        """Move up to `buckets` old buckets into the new table; returns buckets moved."""
        if not self.expanding:
            return 0
        old = self.old
        assert old is not None
        mm = self._mm()
        m64 = self._words()
        ko = self.key_off
        primary, mask = self.primary, self.mask
        b = self.expand_bucket
        stop = min(b + buckets, len(old))
        moved = stop - b
        while b < stop:
            off = old[b]
            while off:
                w = (off >> 3) + 2  # h_next
                nxt = m64[w]
                nk = mm[off + OFF_NKEY]
                nb = hash_fn(mm[off + ko : off + ko + nk]) & mask
                m64[w] = primary[nb]
                primary[nb] = off
                off = nxt
            old[b] = 0
            b += 1
            self.expand_bucket = b
        if self.expand_bucket >= len(old):
            self.old = None
            self.expanding = False
            self.fast = (self.primary, self.mask)
        return moved

    @property
    def hash_bytes(self) -> int:
        n = 8 << self.hashpower
        if self.expanding:
            n += 8 << (self.hashpower - 1)
        return n

    def iter_items(self) -> Iterator[int]:
        """Every indexed item offset (old table first while expanding)."""
        mm = self._mm()
        for table in (self.old, self.primary):
            if table is None:
                continue
            for head in table:
                off = head
                while off:
                    yield off
                    off = Q.unpack_from(mm, off + OFF_HNEXT)[0]
