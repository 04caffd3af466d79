"""The `meta-memcache` client (PyPI) doing every operation it supports, on both servers.

The same scenario runs against a fresh memcached 1.6.18 and a fresh slabcache; what the
client sees must match, and steps with a known outcome also check it. It covers the
high-level API (set/get/multi-get/CAS/delete/invalidate/touch/refill/deltas/typed gets),
the herd-control helpers (stale-while-revalidate on delete and CAS mismatch, recache, miss
leases) and the low-level meta_* calls with explicit request flags. CAS values differ
between servers, so only their presence and their effect are recorded.
"""

from __future__ import annotations

from meta_memcache import (
    CacheClient,
    Key,
    LeasePolicy,
    RecachePolicy,
    RequestFlags,
    ServerAddress,
    SetMode,
    StalePolicy,
    connection_pool_factory_builder,
)

from tests.compat.test_clients import run_both
from tests.helpers.servers import Server


def _client(server: Server):
    return CacheClient.cache_client_from_servers(
        servers=[ServerAddress(host=server.host, port=server.port)],
        connection_pool_factory_fn=connection_pool_factory_builder(recv_timeout=5),
    )


def _no_wait(_seconds: float) -> None:
    """Lease retries without sleeping: the scenario drives the competing clients itself."""


def basic_scenario(server: Server, rec) -> None:
    c = _client(server)
    rec("set", lambda: c.set("k1", "v1", ttl=0), expect=True)
    rec("get", lambda: c.get("k1"), expect="v1")
    rec("get miss", lambda: c.get("nope"), expect=None)
    rec("set bytes", lambda: c.set("b", b"\x00\x01raw", ttl=100), expect=True)
    rec("get bytes", lambda: c.get("b"), expect=b"\x00\x01raw")
    rec("set int", lambda: c.set("i", 42, ttl=100), expect=True)
    rec("get_typed", lambda: c.get_typed("i", int), expect=42)
    rec("set dict", lambda: c.set("d", {"a": [1, 2]}, ttl=100), expect=True)
    rec("get dict", lambda: c.get("d"), expect={"a": [1, 2]})
    rec("set noreply", lambda: c.set("nr", "x", ttl=100, no_reply=True), expect=True)
    rec("get noreply", lambda: c.get("nr"), expect="x")
    big = "z" * 300  # long keys go out hashed, base64 encoded, with the b flag
    rec("set long key", lambda: c.set(big, "long", ttl=100), expect=True)
    rec("get long key", lambda: c.get(big), expect="long")
    rec("set unicode key", lambda: c.set("ключ", "v", ttl=100), expect=True)
    rec("get unicode key", lambda: c.get("ключ"), expect="v")
    rec(
        "multi_get",
        lambda: c.multi_get(["k1", "b", "nope"]),
        expect={Key("k1"): "v1", Key("b"): b"\x00\x01raw", Key("nope"): None},
    )
    rec("touch", lambda: c.touch("k1", ttl=500), expect=True)
    rec("touch miss", lambda: c.touch("nope", ttl=5), expect=False)
    rec("get touch_ttl", lambda: c.get("k1", touch_ttl=600), expect="v1")
    rec("add existing", lambda: c.set("k1", "x", ttl=0, set_mode=SetMode.ADD), expect=False)
    rec("add new", lambda: c.set("n", "x", ttl=0, set_mode=SetMode.ADD), expect=True)
    rec("replace miss", lambda: c.set("zz", "x", ttl=0, set_mode=SetMode.REPLACE), expect=False)
    rec("append", lambda: c.set("n", b"y", ttl=0, set_mode=SetMode.APPEND), expect=True)
    rec("prepend", lambda: c.set("n", b"w", ttl=0, set_mode=SetMode.PREPEND), expect=True)
    rec("refill existing", lambda: c.refill("k1", "other", ttl=0), expect=False)
    rec("refill new", lambda: c.refill("r", "fresh", ttl=0), expect=True)
    rec("delete", lambda: c.delete("r"), expect=True)
    rec("delete miss", lambda: c.delete("r"), expect=False)
    rec("invalidate miss", lambda: c.invalidate("r"), expect=True)
    rec("invalidate hit", lambda: c.invalidate("n"), expect=True)
    rec("get after invalidate", lambda: c.get("n"), expect=None)


def cas_and_delta_scenario(server: Server, rec) -> None:
    c = _client(server)
    cas = c.set_cas("c", "one", ttl=0)
    rec("set_cas token", lambda: isinstance(cas, int) and cas > 0, expect=True)
    value, cas2 = c.get_cas("c")
    rec("get_cas", lambda: (value, cas2 == cas), expect=("one", True))
    rec("set with cas", lambda: c.set("c", "two", ttl=0, cas_token=cas), expect=True)
    rec("set stale cas", lambda: c.set("c", "three", ttl=0, cas_token=cas), expect=False)
    rec("get after cas", lambda: c.get("c"), expect="two")
    _v, cur = c.get_cas("c")
    rec("delete bad cas", lambda: c.delete("c", cas_token=cur + 1000), expect=False)
    rec("delete good cas", lambda: c.delete("c", cas_token=cur), expect=True)
    rec("multi_get_cas", lambda: {k.key: v for k, (v, _) in c.multi_get_cas(["c"]).items()})
    rec("delta miss", lambda: c.delta("cnt", 1), expect=False)
    rec("delta_initialize", lambda: c.delta_initialize("cnt", 5, 10, 100), expect=True)
    rec("get counter", lambda: c.get("cnt"))
    rec("delta", lambda: c.delta("cnt", 5), expect=True)
    rec("delta_and_get", lambda: c.delta_and_get("cnt", 3), expect=18)
    rec("decrement", lambda: c.delta_and_get("cnt", -20), expect=0)
    rec("delta_initialize_and_get miss", lambda: c.delta_initialize_and_get("c2", 1, 7, 100),
        expect=7)  # fmt: skip
    rec("delta_initialize_and_get hit", lambda: c.delta_initialize_and_get("c2", 1, 7, 100),
        expect=8)  # fmt: skip
    rec("delta noreply", lambda: c.delta("c2", 2, no_reply=True), expect=True)
    rec("delta_and_get refresh", lambda: c.delta_and_get("c2", 0, refresh_ttl=300), expect=10)


def herd_scenario(server: Server, rec) -> None:
    a = _client(server)
    b = _client(server)
    stale = StalePolicy(mark_stale_on_deletion_ttl=30, mark_stale_on_cas_mismatch=True)
    # stale-while-revalidate: a deletion marks stale; one reader wins, the others see stale
    rec("set", lambda: a.set("s", "old", ttl=100), expect=True)
    rec("stale delete", lambda: a.delete("s", stale_policy=stale), expect=True)
    rec("winner sees a miss", lambda: a.get("s"), expect=None)
    rec("loser sees stale", lambda: b.get("s"), expect="old")
    rec("refresh", lambda: a.set("s", "new", ttl=100), expect=True)
    rec("fresh again", lambda: b.get("s"), expect="new")
    rec("invalidate stale", lambda: a.invalidate("s", stale_policy=stale), expect=True)
    rec("stale winner", lambda: b.get("s"), expect=None)
    # a CAS mismatch under the stale policy stores the value stale instead of failing
    _v, cas = a.get_cas("s")
    rec("set fresh", lambda: a.set("s", "newest", ttl=100), expect=True)
    rec("cas mismatch kept stale", lambda: b.set("s", "late", ttl=100, cas_token=cas,
                                                 stale_policy=stale), expect=True)  # fmt: skip
    # recache: an item close to expiry gives one client the chance to refill early
    rec("set short", lambda: a.set("r", "v", ttl=10), expect=True)
    rec("recache winner", lambda: a.get("r", recache_policy=RecachePolicy(ttl=30)), expect=None)
    rec("recache loser", lambda: b.get("r", recache_policy=RecachePolicy(ttl=30)), expect="v")
    # leases: the first miss wins the right to fill, the others retry and then give up
    lease = LeasePolicy(ttl=30, miss_retries=2, miss_retry_wait=0.0)
    rec("lease winner", lambda: a.get_or_lease("l", lease, lease_wait_fn=_no_wait), expect=None)
    rec("lease loser", lambda: b.get_or_lease("l", lease, lease_wait_fn=_no_wait), expect=None)
    rec("lease fill", lambda: a.set("l", "filled", ttl=100), expect=True)
    rec("lease hit", lambda: b.get_or_lease("l", lease, lease_wait_fn=_no_wait), expect="filled")
    value, cas = b.get_or_lease_cas("l", lease, lease_wait_fn=_no_wait)
    rec("get_or_lease_cas", lambda: (value, isinstance(cas, int)), expect=("filled", True))


def low_level_scenario(server: Server, rec) -> None:
    c = _client(server)
    k = Key("ll")
    flags = RequestFlags(return_cas_token=True, cache_ttl=100, client_flag=0)
    rec("meta_set", lambda: type(c.meta_set(k, "val", flags=flags)).__name__, expect="Success")
    got = c.meta_get(
        k,
        flags=RequestFlags(
            return_value=True, return_ttl=True, return_size=True, return_fetched=True,
            return_last_access=True, return_key=True, return_client_flag=True, opaque=b"op1",
        ),
    )  # fmt: skip
    rec("meta_get", lambda: (type(got).__name__, got.flags.ttl, got.flags.size,
                             got.flags.fetched, got.flags.opaque))  # fmt: skip
    rec("meta_get no_update", lambda: c.meta_get(
        k, flags=RequestFlags(no_update_lru=True, return_fetched=True)).flags.fetched)  # fmt: skip
    rec("meta_get vivify", lambda: c.meta_get(
        Key("viv"), flags=RequestFlags(vivify_on_miss_ttl=30)).flags.win)  # fmt: skip
    rec("meta_get vivify again", lambda: c.meta_get(
        Key("viv"), flags=RequestFlags(vivify_on_miss_ttl=30)).flags.win)  # fmt: skip
    rec("meta_delete stale", lambda: type(c.meta_delete(
        k, flags=RequestFlags(mark_stale=True, cache_ttl=30))).__name__)  # fmt: skip
    st = c.meta_get(k, flags=RequestFlags(return_value=True))
    rec("meta_get stale", lambda: (st.flags.stale, st.flags.win))
    rec("meta_multiget", lambda: sorted(
        (key.key, type(v).__name__) for key, v in c.meta_multiget(
            [k, Key("nope")], flags=RequestFlags(return_value=True)).items()))  # fmt: skip
    r = c.meta_arithmetic(
        Key("ctr"),
        flags=RequestFlags(vivify_on_miss_ttl=0, ma_initial_value=3, return_value=True),
    )
    rec("meta_arithmetic vivify", lambda: (type(r).__name__, r.value))
    r2 = c.meta_arithmetic(
        Key("ctr"), flags=RequestFlags(ma_delta_value=4, return_value=True, return_ttl=True)
    )
    rec("meta_arithmetic incr", lambda: (type(r2).__name__, r2.value, r2.flags.ttl))
    rec("pool counters", lambda: len(c.get_counters()), expect=1)


def test_basic_operations(server_factory):
    run_both(server_factory, basic_scenario)


def test_cas_and_deltas(server_factory):
    run_both(server_factory, cas_and_delta_scenario)


def test_herd_control_helpers(server_factory):
    run_both(server_factory, herd_scenario)


def test_low_level_meta_calls(server_factory):
    run_both(server_factory, low_level_scenario)
