"""Random operation sequences against a dict model (ample memory, no eviction)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slabcache.engine import DeltaResult, Engine, EngineConfig, ManualClock, StoreMode, StoreResult
from slabcache.engine.store import parse_u64

KEYS = st.sampled_from([b"a", b"b", b"c", b"dd", b"e" * 40])
VALUES = st.one_of(st.sampled_from([b"", b"0", b"12", b"99", b"x y"]), st.binary(max_size=200))
TTL = st.sampled_from([0, 0, 1, 3, 10])
OPS = st.one_of(
    st.tuples(st.sampled_from(["set", "add", "replace", "append", "prepend"]), KEYS,
              st.integers(0, 2**32 - 1), TTL, VALUES),
    st.tuples(st.just("cas"), KEYS, st.integers(0, 5), VALUES),
    st.tuples(st.sampled_from(["get", "delete"]), KEYS),
    st.tuples(st.sampled_from(["incr", "decr"]), KEYS, st.integers(0, 2**64 - 1)),
    st.tuples(st.just("touch"), KEYS, TTL),
    st.tuples(st.just("flush"),),
    st.tuples(st.just("advance"), st.integers(0, 4)),
)  # fmt: skip


class Model:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.d: dict[bytes, list] = {}  # key -> [flags, data, cas, exp]
        self.cas = 0

    def live(self, k):
        it = self.d.get(k)
        if it is not None and it[3] and it[3] <= self.clock.now:
            del self.d[k]
            return None
        return it

    def next_cas(self):
        self.cas += 1
        return self.cas

    def exp(self, ttl):
        return self.clock.now + ttl if ttl else 0


def _zero(key: bytes) -> int:
    return 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=60), st.booleans())
def test_engine_matches_model(ops, zero_hash):
    clock = ManualClock()
    eng = Engine(EngineConfig(maxbytes=64 << 20), clock=clock, hash_fn=_zero if zero_hash else None)
    m = Model(clock)
    for op in ops:
        name = op[0]
        if name in ("set", "add", "replace", "append", "prepend"):
            _, k, flags, ttl, v = op
            res = eng.store(StoreMode[name.upper()], k, flags, ttl, v)
            it = m.live(k)
            if name == "set" or (name == "add" and it is None) or (name == "replace" and it):
                m.d[k] = [flags, v, m.next_cas(), m.exp(ttl)]
                assert res is StoreResult.STORED
            elif name in ("append", "prepend") and it:
                it[1] = it[1] + v if name == "append" else v + it[1]
                it[2] = m.next_cas()
                assert res is StoreResult.STORED
            else:
                assert res is StoreResult.NOT_STORED
        elif name == "cas":
            _, k, delta, v = op
            it = m.live(k)
            cas_in = (it[2] if it else 1) + (0 if delta == 0 else delta)
            res = eng.store(StoreMode.CAS, k, 0, 0, v, cas_in=cas_in)
            if it is None:
                assert res is StoreResult.NOT_FOUND
            elif cas_in == it[2]:
                m.d[k] = [0, v, m.next_cas(), 0]
                assert res is StoreResult.STORED
            else:
                assert res is StoreResult.EXISTS
        elif name == "get":
            it = m.live(op[1])
            got = eng.get(op[1])
            assert got == (None if it is None else (it[0], it[1] + b"\r\n", it[2]))
        elif name == "delete":
            it = m.live(op[1])
            assert eng.delete(op[1]) is (it is not None)
            m.d.pop(op[1], None)
        elif name in ("incr", "decr"):
            _, k, amount = op
            it = m.live(k)
            res, out = eng.delta(k, name == "incr", amount)
            if it is None:
                assert res is DeltaResult.NOT_FOUND
                continue
            num = parse_u64(it[1]) if it[1] else None
            if num is None:
                assert res is DeltaResult.NON_NUMERIC
                continue
            num = (num + amount) % 2**64 if name == "incr" else max(num - amount, 0)
            assert (res, out) == (DeltaResult.OK, b"%d" % num)
            new = b"%d" % num
            it[1] = new.ljust(len(it[1])) if len(new) <= len(it[1]) else new
            it[2] = m.next_cas()
        elif name == "touch":
            _, k, ttl = op
            it = m.live(k)
            assert eng.touch(k, ttl) is (it is not None)
            if it:
                it[3] = m.exp(ttl)
        elif name == "flush":
            eng.flush_all()
            m.d.clear()
            m.next_cas()  # flush_all takes a CAS value as oldest_cas
        else:
            clock.advance(op[1])
            eng.tick()
            eng.run_background(50)
