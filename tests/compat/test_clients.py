"""Real Python clients against slabcache, each doing every operation it supports.

Each scenario runs against a fresh memcached 1.6.18 and a fresh slabcache started
with the same flags; what the client sees must be the same on both. Steps with a
fixed expected outcome also check it, so a scenario cannot pass by both servers
being wrong in the same way. Fields that legitimately differ between two server
processes (pid, uptime, time, version string, rusage, connection counters,
addresses) are left out of the comparison by name.
"""

from __future__ import annotations

import pytest

from tests.helpers.normalize import LRU_TIMING_FIELDS, PROCESS_FIELDS
from tests.helpers.recording import Recorder, compare_runs
from tests.helpers.servers import Server

# Stats values that differ between any two server processes or with the timing of
# memcached's background threads (named, with reasons, in helpers/normalize.py);
# the names must still match. An expired item counts as get_expired if the get
# finds it first, as a plain miss if the maintainer reclaimed it first.
VOLATILE_STATS = (
    PROCESS_FIELDS
    | LRU_TIMING_FIELDS
    | {"reclaimed", "expired_unfetched", "crawler_reclaimed", "crawler_items_checked"}
    | {"get_expired"}
)


def stable_stats(stats: dict) -> dict:
    """Stats as str -> str with volatile values masked (the names are kept)."""
    out = {}
    for key, value in stats.items():
        k = key.decode() if isinstance(key, bytes) else str(key)
        v = value.decode() if isinstance(value, bytes) else str(value)
        field = k.rsplit(":", 1)[-1]  # items:N:name and N:name are per-class rows
        out[k] = "*" if field in VOLATILE_STATS else v
    return out


def run_both(server_factory, scenario, *flags: str) -> None:
    runs = []
    for kind in ("memcached", "slabcache"):
        server: Server = server_factory(kind, *flags)
        rec = Recorder()
        scenario(server, rec)
        assert server.alive(), f"{kind} died during the scenario:\n{server.log()}"
        runs.append((kind, rec))
    (_, ref), (_, got) = runs
    assert not ref.broken, f"memcached broke the scenario's own expectations: {ref.broken}"
    problems = got.broken + compare_runs(ref, got)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- pymemcache


def pymemcache_scenario(server: Server, rec: Recorder) -> None:
    from pymemcache import serde
    from pymemcache.client.base import Client

    c = Client(server.address, connect_timeout=5, timeout=5, default_noreply=False)
    rec("version", lambda: bool(c.version()), expect=True)
    rec("set", lambda: c.set("k1", b"v1", expire=0, flags=5), expect=True)
    rec("get", lambda: c.get("k1"), expect=b"v1")
    rec("get missing", lambda: c.get("nope"), expect=None)
    rec("set_many", lambda: c.set_many({"a": b"1", "b": b"2", "c": b"3"}), expect=[])
    rec(
        "get_many",
        lambda: c.get_many(["a", "b", "c", "nope"]),
        expect={"a": b"1", "b": b"2", "c": b"3"},
    )
    rec("gets", lambda: c.gets("k1"))
    _value, cas = c.gets("k1")
    rec("cas ok", lambda: c.cas("k1", b"v2", cas), expect=True)
    rec("cas stale", lambda: c.cas("k1", b"v3", cas), expect=False)
    rec("cas missing", lambda: c.cas("nope", b"x", b"1"), expect=None)
    rec("gets_many", lambda: c.gets_many(["k1", "a", "nope"]))
    rec("add existing", lambda: c.add("k1", b"x"), expect=False)
    rec("add new", lambda: c.add("k2", b"x"), expect=True)
    rec("replace existing", lambda: c.replace("k2", b"y"), expect=True)
    rec("replace missing", lambda: c.replace("nope", b"y"), expect=False)
    rec("append", lambda: c.append("k2", b"zz"), expect=True)
    rec("prepend", lambda: c.prepend("k2", b"aa"), expect=True)
    rec("append missing", lambda: c.append("nope", b"zz"), expect=False)
    rec("get appended", lambda: c.get("k2"), expect=b"aayzz")
    rec("set counter", lambda: c.set("n", b"10"), expect=True)
    rec("incr", lambda: c.incr("n", 5), expect=15)
    rec("decr", lambda: c.decr("n", 20), expect=0)
    rec("incr missing", lambda: c.incr("nope", 1), expect=None)
    rec("set max", lambda: c.set("big", b"18446744073709551615"), expect=True)
    rec("incr wraps", lambda: c.incr("big", 2), expect=1)
    rec("incr non-numeric", lambda: c.incr("k2", 1))
    rec("delete", lambda: c.delete("a"), expect=True)
    rec("delete missing", lambda: c.delete("a"), expect=False)
    rec("delete_many", lambda: c.delete_many(["b", "c", "nope"]), expect=True)
    rec("touch", lambda: c.touch("k1", 100), expect=True)
    rec("touch missing", lambda: c.touch("nope", 100), expect=False)
    rec("gat", lambda: c.raw_command(b"gat 200 k1", b"END\r\n"))
    rec("gats", lambda: c.raw_command(b"gats 200 k1 nope", b"END\r\n").split(b" ")[:3])
    rec("gat missing", lambda: c.raw_command(b"gat 1 nope", b"END\r\n"), expect=b"")
    # noreply: the client sends and does not wait; a get afterwards shows the effect.
    rec("set noreply", lambda: c.set("nr", b"quiet", noreply=True), expect=True)
    rec("append noreply", lambda: c.append("nr", b"!", noreply=True), expect=True)
    rec("incr noreply", lambda: c.incr("n", 3, noreply=True), expect=None)
    rec("delete noreply", lambda: c.delete("k2", noreply=True), expect=True)
    # memcached rewrites a shorter counter in place, padding it with spaces.
    rec(
        "after noreply", lambda: c.get_many(["nr", "n", "k2"]), expect={"nr": b"quiet!", "n": b"3 "}
    )
    rec(
        "expired on set",
        lambda: (c.set("gone", b"x", expire=-1), c.get("gone")),
        expect=(True, None),
    )
    rec("large value", lambda: c.set("large", b"x" * 500_000), expect=True)
    rec("get large", lambda: len(c.get("large") or b""), expect=500_000)
    rec("too large", lambda: c.set("huge", b"x" * (1 << 20) + b"x"))
    rec("key too long", lambda: c.get("k" * 251))
    rec("cache_memlimit", lambda: c.cache_memlimit(64), expect=True)
    rec("stats", lambda: stable_stats(c.stats()))
    rec("stats items", lambda: stable_stats(c.stats("items")))
    rec("stats slabs", lambda: stable_stats(c.stats("slabs")))
    rec("stats settings", lambda: sorted(c.stats("settings")))
    rec("flush_all", lambda: c.flush_all(), expect=True)
    rec("get after flush", lambda: c.get_many(["k1", "nr", "n"]), expect={})
    rec("flush_all noreply", lambda: c.flush_all(noreply=True), expect=True)
    c.close()

    s = Client(server.address, serde=serde.pickle_serde, connect_timeout=5, timeout=5)
    values = {"int": 42, "str": "héllo", "dict": {"a": [1, 2]}, "bytes": b"\x00\r\n", "float": 1.5}
    for name, v in values.items():
        rec(f"serde set {name}", lambda n=name, v=v: s.set(n, v), expect=True)
        rec(f"serde get {name}", lambda n=name: s.get(n), expect=v)
    rec("serde get_many", lambda: s.get_many(list(values)), expect=values)
    rec("quit", lambda: s.quit())
    rec("reconnect", lambda: s.get("int"), expect=42)
    s.close()


def test_pymemcache(server_factory) -> None:
    run_both(server_factory, pymemcache_scenario)


# ---------------------------------------------------------------- python-memcached


def python_memcached_scenario(server: Server, rec: Recorder) -> None:
    import memcache

    c = memcache.Client([f"{server.host}:{server.port}"], cache_cas=True, socket_timeout=5)
    rec("set", lambda: c.set("k1", "v1"), expect=True)
    rec("get", lambda: c.get("k1"), expect="v1")
    rec("get missing", lambda: c.get("nope"), expect=None)
    rec("set int", lambda: c.set("i", 7), expect=True)
    rec("get int", lambda: c.get("i"), expect=7)
    rec("set obj", lambda: c.set("o", {"x": (1, 2)}), expect=True)
    rec("get obj", lambda: c.get("o"), expect={"x": (1, 2)})
    rec(
        "set_multi", lambda: c.set_multi({"a": "1", "b": "2", "c": "3"}, key_prefix="p:"), expect=[]
    )
    rec(
        "get_multi",
        lambda: c.get_multi(["a", "b", "c", "x"], key_prefix="p:"),
        expect={"a": "1", "b": "2", "c": "3"},
    )
    rec("add existing", lambda: c.add("k1", "x"), expect=False)
    rec("add new", lambda: c.add("k2", "x"), expect=True)
    rec("replace", lambda: c.replace("k2", "y"), expect=True)
    rec("replace missing", lambda: c.replace("nope", "y"), expect=False)
    rec("append", lambda: c.append("k2", "zz"), expect=True)
    rec("prepend", lambda: c.prepend("k2", "aa"), expect=True)
    rec("get appended", lambda: c.get("k2"), expect="aayzz")
    rec("gets", lambda: c.gets("k1"), expect="v1")
    rec("cas ok", lambda: c.cas("k1", "v2"), expect=True)
    rec(
        "cas stale",
        lambda: (c.gets("k1"), c.set("k1", "other"), c.cas("k1", "v3"))[2],
        expect=False,
    )
    rec("incr", lambda: (c.set("n", "10"), c.incr("n", 5))[1], expect=15)
    rec("decr", lambda: c.decr("n", 100), expect=0)
    rec("incr missing", lambda: c.incr("nope"), expect=None)
    rec("incr non-numeric", lambda: c.incr("k2"))
    rec("delete", lambda: c.delete("k2"), expect=1)
    rec("delete missing", lambda: c.delete("k2"), expect=0)
    rec("delete_multi", lambda: c.delete_multi(["a", "b", "x"], key_prefix="p:"), expect=1)
    rec("touch", lambda: c.touch("k1", 100), expect=1)
    rec("touch missing", lambda: c.touch("nope", 100), expect=0)
    rec("unicode", lambda: (c.set("u", "日本語"), c.get("u")), expect=(True, "日本語"))
    rec("large", lambda: (c.set("L", "x" * 900_000), len(c.get("L"))), expect=(True, 900_000))
    rec("stats", lambda: [stable_stats(s) for _, s in c.get_stats()])
    rec("stats items", lambda: [stable_stats(s) for _, s in c.get_stats("items")])
    rec("slab stats", lambda: [sorted(s) for s in c.get_slab_stats()])
    rec("slabs", lambda: [sorted(s) for _, s in c.get_slabs()])
    rec("flush_all", lambda: c.flush_all())
    rec("after flush", lambda: c.get_multi(["k1", "i", "o", "n"]), expect={})
    c.disconnect_all()


def test_python_memcached(server_factory) -> None:
    run_both(server_factory, python_memcached_scenario)


# ---------------------------------------------------------------- pylibmc (text protocol)


def pylibmc_scenario(server: Server, rec: Recorder, behaviors: dict) -> None:
    import pylibmc

    c = pylibmc.Client([f"{server.host}:{server.port}"], binary=False, behaviors=behaviors)
    rec("behaviors", lambda: {k: c.behaviors[k] for k in behaviors}, expect=behaviors)
    rec("set", lambda: c.set("k1", b"v1"), expect=True)
    rec("get", lambda: c.get("k1"), expect=b"v1")
    rec("get missing", lambda: c.get("nope"), expect=None)
    rec("set_multi", lambda: c.set_multi({"a": 1, "b": "two", "c": b"3"}), expect=[])
    rec(
        "get_multi",
        lambda: c.get_multi(["a", "b", "c", "x"]),
        expect={"a": 1, "b": "two", "c": b"3"},
    )
    rec("add existing", lambda: c.add("k1", b"x"), expect=False)
    rec("add new", lambda: c.add("k2", b"x"), expect=True)
    rec("replace", lambda: c.replace("k2", b"y"), expect=True)
    rec("replace missing", lambda: c.replace("nope", b"y"), expect=False)
    rec("append", lambda: c.append("k2", b"zz"), expect=True)
    rec("prepend", lambda: c.prepend("k2", b"aa"), expect=True)
    rec("get appended", lambda: c.get("k2"), expect=b"aayzz")
    if behaviors.get("cas"):
        rec("gets", lambda: c.gets("k1")[0], expect=b"v1")
        _, cas = c.gets("k1")
        rec("cas ok", lambda: c.cas("k1", b"v2", cas), expect=True)
        rec("cas stale", lambda: c.cas("k1", b"v3", cas), expect=False)
    rec("incr", lambda: (c.set("n", 10), c.incr("n", 5))[1], expect=15)
    rec("decr", lambda: c.decr("n", 100), expect=0)
    rec("incr_multi", lambda: (c.incr_multi(["n", "n2"]), c.get_multi(["n"]))[1])
    rec("incr missing", lambda: c.incr("nope"))
    rec("incr non-numeric", lambda: c.incr("k2"))
    rec("delete", lambda: c.delete("k2"), expect=True)
    rec("delete missing", lambda: c.delete("k2"), expect=False)
    rec("delete_multi", lambda: c.delete_multi(["a", "b", "x"]))
    rec("touch", lambda: c.touch("k1", 100), expect=True)
    rec("touch missing", lambda: c.touch("nope", 100), expect=False)
    big = bytes(range(256)) * 3000  # incompressible-ish, 768000 bytes
    rec(
        "large",
        lambda: (c.set("L", big, min_compress_len=0), c.get("L") == big),
        expect=(True, True),
    )
    rec("too large", lambda: c.set("H", b"\xff" * (2 << 20)))
    rec("stats", lambda: [stable_stats(s) for _, s in c.get_stats()])
    rec("stats slabs", lambda: [stable_stats(s) for _, s in c.get_stats("slabs")])
    rec("flush_all", lambda: c.flush_all(), expect=True)
    rec("after flush", lambda: c.get_multi(["k1", "n", "L"]), expect={})
    c.disconnect_all()


@pytest.mark.parametrize(
    "behaviors",
    [
        {"cas": True, "tcp_nodelay": True},
        {"cas": False, "no_block": True, "tcp_nodelay": True},
    ],
    ids=["cas", "no_block"],
)
def test_pylibmc_text(server_factory, behaviors: dict) -> None:
    run_both(server_factory, lambda s, r: pylibmc_scenario(s, r, behaviors))


# ---------------------------------------------------------------- unix socket


def test_pymemcache_over_unix_socket(server_factory) -> None:
    from pymemcache.client.base import Client

    results = []
    for kind in ("memcached", "slabcache"):
        server = server_factory(kind, "-a", "0700", unix=True)
        _host, _port, pid = server
        assert pid == server.proc.pid
        c = Client(server.unix_path, timeout=5)
        c.set("k", b"41")
        results.append((c.get("k"), c.incr("k", 1), c.touch("k", 5), c.delete("k"), c.get("k")))
        assert server.alive()
        c.close()
    assert results[0] == (b"41", 42, True, True, None)
    assert results[1] == results[0]
