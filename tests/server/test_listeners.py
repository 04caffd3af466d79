"""Listeners: -l forms, IPv6, unix socket and its mask, -p 0 / -p -1 with
MEMCACHED_PORT_FILENAME (format compared with memcached's own file), listen backlog."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess

import pytest

from tests.helpers.servers import free_port
from tests.helpers.wire import request, stats
from tests.server.support import can_connect, have_ipv6, tcp_server

VERSION = b"version\r\n"


def version_over(family: int, addr: object) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(addr)
        return request(s, VERSION, b"\r\n")


def test_ipv4_listener_serves(spawn):
    srv = tcp_server(spawn)
    assert version_over(socket.AF_INET, ("127.0.0.1", srv.port)) == b"VERSION 1.6.18\r\n"


def test_host_port_form_overrides_p(spawn):
    port, other = free_port(), free_port()
    spawn(["-l", f"127.0.0.1:{other}", "-p", str(port)], ready=("127.0.0.1", other))
    assert version_over(socket.AF_INET, ("127.0.0.1", other)) == b"VERSION 1.6.18\r\n"
    assert not can_connect(("127.0.0.1", port))


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv4_and_ipv6_in_one_list(spawn):
    port = free_port()
    srv = spawn(["-l", "127.0.0.1,::1", "-p", str(port)], ready=("127.0.0.1", port), port=port)
    assert version_over(socket.AF_INET6, ("::1", port)) == b"VERSION 1.6.18\r\n"
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(("::1", port))
        rows = request(s, b"stats conns\r\n", b"END\r\n").decode()
    assert f"addr tcp:127.0.0.1:{port}\r\n" in rows
    assert f"addr tcp6:[::1]:{port}\r\n" in rows
    assert re.search(rf"STAT \d+:listen_addr tcp6:\[::1\]:{port}\r\n", rows)
    assert srv.proc.poll() is None


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_bracketed_ipv6_with_port(spawn):
    port = free_port()
    spawn(["-l", f"[::1]:{port}", "-p", str(free_port())], ready=("::1", port))
    assert version_over(socket.AF_INET6, ("::1", port)) == b"VERSION 1.6.18\r\n"


def test_unix_socket_mask_and_no_tcp(spawn, tmp_path):
    path = str(tmp_path / "mc.sock")
    # a stale socket file from a previous run must not stop the server
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    port = free_port()
    srv = spawn(["-s", path, "-a", "0766", "-p", str(port)], ready=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o766
    assert not can_connect(("127.0.0.1", port))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        rows = request(s, b"stats conns\r\n", b"END\r\n").decode()
        settings = stats(s, "settings")
    assert f":addr unix:{path}\r\n" in rows
    assert f":listen_addr unix:{path}\r\n" in rows
    assert settings["domain_socket"] == path
    assert settings["umask"] == "766"
    assert srv.stop() == 0
    assert not os.path.exists(path)


def test_unix_socket_default_mask(spawn, tmp_path):
    path = str(tmp_path / "mc.sock")
    spawn(["-s", path], ready=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def _port_file_lines(path: str) -> list[str]:
    with open(path) as fh:
        return fh.read().splitlines()


@pytest.mark.parametrize("kind", ["memcached", "slabcache"])
def test_port_zero_disables_tcp_and_writes_empty_port_file(spawn, tmp_path, kind):
    pf = str(tmp_path / "ports")
    srv = spawn(
        ["-l", "127.0.0.1", "-p", "0"],
        kind=kind,
        env={"MEMCACHED_PORT_FILENAME": pf},
        ready=lambda: os.path.exists(pf),
    )
    assert _port_file_lines(pf) == []
    assert srv.proc.poll() is None
    assert srv.stop() == 0


def test_ephemeral_ports_written_like_memcached(spawn, tmp_path):
    listen = "127.0.0.1,::1" if have_ipv6() else "127.0.0.1"
    files = {}
    for kind in ("memcached", "slabcache"):
        pf = str(tmp_path / f"ports-{kind}")
        spawn(
            ["-l", listen, "-p", "-1"],
            kind=kind,
            env={"MEMCACHED_PORT_FILENAME": pf},
            ready=lambda pf=pf: os.path.exists(pf),
        )
        files[kind] = _port_file_lines(pf)
    shape = [re.sub(r"\d+$", "N", line) for line in files["memcached"]]
    assert [re.sub(r"\d+$", "N", line) for line in files["slabcache"]] == shape
    assert shape[0] == "TCP INET: N"
    for line in files["slabcache"]:
        port = int(line.rsplit(" ", 1)[1])
        host = "::1" if "INET6" in line else "127.0.0.1"
        family = socket.AF_INET6 if "INET6" in line else socket.AF_INET
        assert version_over(family, (host, port)) == b"VERSION 1.6.18\r\n"


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss(8)")
def test_listen_backlog(spawn):
    srv = tcp_server(spawn, "-b", "77")
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{srv.port}"], capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[2] == "77"  # Send-Q of a listening socket is its backlog
