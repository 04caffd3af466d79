"""A small dict-backed engine that follows the engine contract of docs/architecture.md.

Used only while `slabcache.engine.Engine` lacks the store layer: it implements the
semantics the protocol relies on (CAS counter, add/replace/append/prepend/cas rules,
incr/decr with memcached's padding, item size limit, flush) so codec tests exercise real
behaviour. `engine()` in conftest prefers the real Engine when it is importable.
"""

from __future__ import annotations

from slabcache.engine.config import EngineConfig
from slabcache.protocol.handler import StoreMode, StoreResult

try:
    from slabcache.engine import DeltaResult  # type: ignore[attr-defined]
except ImportError:
    from slabcache.protocol._engine_types import DeltaResult

U64 = 1 << 64


class DictEngine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.items: dict[bytes, list] = {}  # key -> [flags, data_crlf, cas]
        self.cas = 0

    def _next_cas(self) -> int:
        if not self.config.use_cas:
            return 0
        self.cas += 1
        return self.cas

    def get(self, key: bytes):
        it = self.items.get(key)
        return None if it is None else (it[0], it[1], it[2])

    def gat(self, key: bytes, exptime: int):
        return self.get(key)

    def touch(self, key: bytes, exptime: int) -> bool:
        return key in self.items

    def _too_large(self, key: bytes, flags: int, n: int) -> bool:
        total = 48 + len(key) + 1 + (4 if flags else 0) + n + 2
        total += 8 if self.config.use_cas else 0
        return total > self.config.item_size_max

    def store(self, mode, key, flags, exptime, value, cas_in=None):
        it = self.items.get(key)
        if mode in (StoreMode.APPEND, StoreMode.PREPEND) and it is not None:
            old = it[1][:-2]
            value = old + value if mode is StoreMode.APPEND else value + old
            flags = it[0]
        if self._too_large(key, flags, len(value)):
            if mode is StoreMode.SET:
                self.items.pop(key, None)
            return StoreResult.TOO_LARGE
        if mode is StoreMode.ADD and it is not None:
            return StoreResult.NOT_STORED
        if mode in (StoreMode.REPLACE, StoreMode.APPEND, StoreMode.PREPEND) and it is None:
            return StoreResult.NOT_STORED
        if mode is StoreMode.CAS:
            if it is None:
                return StoreResult.NOT_FOUND
            if it[2] != cas_in or not self.config.use_cas:
                return StoreResult.EXISTS
        self.items[key] = [flags, value + b"\r\n", self._next_cas()]
        return StoreResult.STORED

    def reject_store(self, mode, key, result) -> None:
        if mode is StoreMode.SET:
            self.items.pop(key, None)

    def delete(self, key: bytes) -> bool:
        return self.items.pop(key, None) is not None

    def delta(self, key: bytes, incr: bool, amount: int):
        it = self.items.get(key)
        if it is None:
            return DeltaResult.NOT_FOUND, None
        raw = it[1][:-2]
        digits = raw.lstrip(b" \t").lstrip(b"+").split(b" ")[0]
        if not digits.isdigit() or int(digits) >= U64:
            return DeltaResult.NON_NUMERIC, None
        v = int(digits)
        v = (v + amount) % U64 if incr else max(v - amount, 0)
        num = b"%d" % v
        data = num.ljust(len(raw)) if len(num) <= len(raw) else num
        it[1] = data + b"\r\n"
        it[2] = self._next_cas()
        return DeltaResult.OK, num

    def flush_all(self, delay: int = 0) -> None:
        if delay == 0:
            self.items.clear()
