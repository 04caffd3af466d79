"""Binary-protocol clients against a live slabcache, compared with memcached 1.6.18.

libmemcached's `memccapable -b` binary conformance tests, pylibmc with binary=True and
python-binary-memcached (bmemcached) doing every operation they offer, and SASL PLAIN
logins with a right and a wrong password. Debian's memcached uses Cyrus SASL, whose
password check goes to sasldb (not MEMCACHED_SASL_PWDB), so a right password cannot log
in there: SASL is compared with memcached where both can run it (mechanism list, wrong
password, unauthenticated commands, text clients) and the successful login is checked
against memcached's documented behaviour.
"""

from __future__ import annotations

import re
import struct
import subprocess

import pytest

from tests.helpers.servers import Server
from tests.protocol.test_binary import parse, pkt

RESULT_LINE = re.compile(r"^(binary [\w ]+?)\s+\[(\w+)\]\s*$")
STABLE_STATS = ("cmd_get", "cmd_set", "get_hits", "get_misses", "curr_items", "cmd_touch",
                "delete_hits", "delete_misses", "incr_hits", "decr_hits", "cas_hits",
                "cas_badval", "cas_misses", "touch_hits", "auth_cmds", "auth_errors")  # fmt: skip


def run_memccapable(port: int) -> tuple[dict[str, str], str, int]:
    done = subprocess.run(
        ["memccapable", "-h", "127.0.0.1", "-p", str(port), "-b", "-v", "-t", "5"],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    results = {m.group(1): m.group(2) for m in map(RESULT_LINE.match, out.splitlines()) if m}
    return results, out, done.returncode


def test_memccapable_binary_passes_like_memcached(server_factory) -> None:
    ref, ref_out, ref_rc = run_memccapable(server_factory("memcached").port)
    assert ref_rc == 0 and len(ref) >= 25 and set(ref.values()) == {"pass"}, ref_out
    server = server_factory("slabcache")
    got, out, rc = run_memccapable(server.port)
    assert {k: v for k, v in got.items() if v != "pass"} == {}, out
    assert got.keys() == ref.keys() and "All tests passed" in out and rc == 0, out
    assert server.alive(), server.log()


def step(fn, *args):
    """The client's answer, or the name of the error it raised (part of what it sees)."""
    try:
        return fn(*args)
    except Exception as exc:  # the client's error for a status is the observable result
        return type(exc).__name__


def pylibmc_scenario(server: Server) -> list:
    import pylibmc

    mc = pylibmc.Client([f"127.0.0.1:{server.port}"], binary=True, behaviors={"cas": True})
    log: list = []
    log.append(step(mc.set, "a", "alpha"))
    log.append(step(mc.get, "a"))
    log.append(step(mc.add, "a", "x"))
    log.append(step(mc.add, "b", "beta"))
    log.append(step(mc.replace, "b", "BETA"))
    log.append(step(mc.replace, "zz", "no"))
    log.append(step(mc.append, "a", "+"))
    log.append(step(mc.prepend, "a", "-"))
    log.append(step(mc.get, "a"))
    value, cas = mc.gets("a")
    log.append((value, cas != 0))
    log.append(step(mc.cas, "a", "casval", cas))
    log.append(step(mc.cas, "a", "stale", cas))
    log.append(step(mc.get, "a"))
    log.append(step(mc.set, "n", 10))
    log.append(step(mc.incr, "n", 5))
    log.append(step(mc.decr, "n", 100))
    log.append(step(mc.incr, "missing", 1))
    log.append(sorted(mc.set_multi({"m1": "1", "m2": "2", "m3": 3})))
    log.append(sorted(mc.get_multi(["m1", "m2", "m3", "nope"]).items()))
    log.append(step(mc.touch, "m1", 100))
    log.append(step(mc.touch, "nope", 100))
    log.append(step(mc.delete, "m1"))
    log.append(step(mc.delete, "m1"))
    log.append(step(mc.delete_multi, ["m2", "m3"]))
    log.append(step(mc.set, "pickled", {"d": [1, 2]}))
    log.append(step(mc.get, "pickled"))
    ((_name, stats),) = mc.get_stats()
    log.append({k: stats[k] for k in STABLE_STATS if k in stats})
    log.append(sorted(dict(mc.get_stats("settings")[0][1]).keys())[:5])
    log.append(step(mc.flush_all))
    log.append(step(mc.get, "a"))
    mc.disconnect_all()
    return log


def bmemcached_scenario(server: Server) -> list:
    import bmemcached

    mc = bmemcached.Client((f"127.0.0.1:{server.port}",))
    log: list = []
    log.append(step(mc.set, "a", "alpha"))
    log.append(step(mc.get, "a"))
    log.append(step(mc.add, "a", "x"))
    log.append(step(mc.add, "b", "beta"))
    log.append(step(mc.replace, "b", "BETA"))
    log.append(step(mc.replace, "zz", "no"))
    value, cas = mc.gets("a")
    log.append((value, cas != 0))
    log.append(step(mc.cas, "a", "new", cas))
    log.append(step(mc.cas, "a", "old", cas))
    log.append(mc.get("a", get_cas=True)[0])
    log.append(step(mc.set_multi, {"m1": "1", "m2": 2, "m3": [3]}))
    log.append(sorted(mc.get_multi(["m1", "m2", "m3", "nope"]).items(), key=str))
    log.append(step(mc.incr, "n", 5))
    log.append(step(mc.incr, "n", 5))
    log.append(step(mc.decr, "n", 100))
    log.append(step(mc.delete, "m1"))
    log.append(step(mc.delete, "m1"))
    log.append(step(mc.delete_multi, ["m2", "m3"]))
    stats = next(iter(mc.stats().values()))
    log.append({k: stats[k] for k in STABLE_STATS if k in stats})
    log.append(step(mc.flush_all))
    log.append(step(mc.get, "a"))
    mc.disconnect_all()
    return log


@pytest.mark.parametrize("scenario", [pylibmc_scenario, bmemcached_scenario])
def test_binary_clients_see_what_memcached_shows(server_factory, scenario) -> None:
    ref = scenario(server_factory("memcached"))
    server = server_factory("slabcache")
    got = scenario(server)
    # the stats snapshot includes cmd_set: an incr that creates its counter (bmemcached's
    # incr sends an initial value) must count no set, as memcached's binary incr does
    assert got == ref
    assert ref[0] is True and ref[1] == "alpha"
    assert server.alive(), server.log()


# ---------------------------------------------------------------- SASL


def sasl_env(tmp_path, monkeypatch) -> None:
    pw = tmp_path / "sasl.pw"
    pw.write_text("alice:s3cret\nbob:hunter2:extra\n")
    conf = tmp_path / "sasl"
    conf.mkdir()
    (conf / "memcached.conf").write_text("mech_list: plain\n")
    monkeypatch.setenv("MEMCACHED_SASL_PWDB", str(pw))
    monkeypatch.setenv("SASL_CONF_PATH", str(conf))  # memcached's Cyrus needs a config


def exchange(server: Server, data: bytes) -> tuple[list[dict], bool]:
    """Send `data`, read until the server closes or goes quiet; (replies, closed)."""
    with server.connect(timeout=1.0) as s:
        s.sendall(data)
        out = b""
        closed = False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                out += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
    return (parse(out) if out[:1] != b"" else []), closed


SASL_CASES = {
    "list mechs": pkt(0x20),
    "version allowed, then noop refused and closed": pkt(0x0B) + pkt(0x0A) + pkt(0x0B),
    "get before auth": pkt(0x00, b"k") + pkt(0x0A),
    "wrong password, then refused": pkt(0x21, b"PLAIN", value=b"\0alice\0nope") + pkt(0x0A),
    "unknown user": pkt(0x21, b"PLAIN", value=b"\0carol\0s3cret") + pkt(0x0A),
    "unknown mechanism": pkt(0x21, b"CRAM-MD5", value=b"x"),
    "step without start": pkt(0x22, b"PLAIN", value=b"\0alice\0s3cret") + pkt(0x0A),
}


@pytest.mark.parametrize("case", sorted(SASL_CASES))
def test_sasl_failures_match_memcached(server_factory, tmp_path, monkeypatch, case) -> None:
    sasl_env(tmp_path, monkeypatch)
    results = []
    for kind in ("memcached", "slabcache"):
        server = server_factory(kind, "-S")
        results.append(exchange(server, SASL_CASES[case]))
        assert server.alive(), server.log()
    assert results[1] == results[0]


def test_sasl_refuses_text_clients_like_memcached(server_factory, tmp_path, monkeypatch) -> None:
    sasl_env(tmp_path, monkeypatch)
    for kind in ("memcached", "slabcache"):
        server = server_factory(kind, "-S")
        with server.connect(timeout=2.0) as s:
            s.sendall(b"version\r\nget foo bar baz quux\r\n")
            assert s.recv(100) == b"", kind  # closed without a word


def test_sasl_login_right_and_wrong_password(server_factory, tmp_path, monkeypatch) -> None:
    sasl_env(tmp_path, monkeypatch)
    server = server_factory("slabcache", "-S")
    good, closed = exchange(
        server,
        pkt(0x21, b"PLAIN", value=b"\0alice\0s3cret", opaque=7)
        + pkt(0x01, b"k", struct.pack(">II", 0, 0), b"v")
        + pkt(0x00, b"k")
        + pkt(0x21, b"PLAIN", value=b"bob\0bob\0hunter2"),  # authzid = authcid is allowed
    )
    assert not closed
    assert [(r["op"], r["status"], r["value"]) for r in good] == [
        (0x21, 0, b"Authenticated"),
        (0x01, 0, b""),
        (0x00, 0, b"v"),
        (0x21, 0, b"Authenticated"),
    ]
    assert good[0]["opaque"] == 7

    import bmemcached

    ok = bmemcached.Client((f"127.0.0.1:{server.port}",), "alice", "s3cret")
    assert ok.set("x", "1") and ok.get("x") == "1"
    ok.disconnect_all()
    bad = bmemcached.Client((f"127.0.0.1:{server.port}",), "alice", "wrong")
    with pytest.raises(bmemcached.exceptions.MemcachedException, match="Auth failure"):
        bad.set("x", "2")
    bad.disconnect_all()
    stats, _ = exchange(server, pkt(0x21, b"PLAIN", value=b"\0alice\0s3cret") + pkt(0x10))
    values = {r["key"]: r["value"] for r in stats}
    assert int(values[b"auth_cmds"]) >= 4 and int(values[b"auth_errors"]) >= 1


def test_sasl_flag_combinations_like_memcached() -> None:
    from slabcache.options import OptionExit, parse_args

    assert parse_args(["-S"]).protocol == "binary"
    with pytest.raises(OptionExit, match="cannot allow the ASCII protocol while using SASL"):
        parse_args(["-S", "-B", "ascii"])
