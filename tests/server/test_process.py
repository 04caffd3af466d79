"""Process lifecycle: signals, daemon mode and pid file, the root check, verbose logging."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers.servers import REPO_ROOT, free_port, server_command
from tests.helpers.wire import read_until_closed, request
from tests.server.support import can_connect, tcp_server, wait_for


def test_sigterm_exits_zero_and_removes_unix_socket(spawn, tmp_path):
    path = str(tmp_path / "mc.sock")
    srv = spawn(["-s", path], ready=path)
    assert os.path.exists(path)
    assert srv.stop(signal.SIGTERM) == 0
    assert not os.path.exists(path)


def test_sigint_exits_zero(spawn):
    srv = tcp_server(spawn)
    assert srv.stop(signal.SIGINT) == 0
    assert not can_connect(("127.0.0.1", srv.port))


def test_sigusr1_graceful_stop_lets_clients_finish(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    assert request(s, b"set g 0 0 1\r\n1\r\n", b"STORED\r\n") == b"STORED\r\n"
    assert srv.stop(signal.SIGUSR1) == 0
    assert "Gracefully stopping" in srv.log()
    data, closed = read_until_closed(s, timeout=10)
    assert (data, closed) == (b"", True)


def test_sighup_keeps_serving(spawn):
    srv = tcp_server(spawn)
    os.kill(srv.pid, signal.SIGHUP)
    s = srv.connect()
    assert request(s, b"version\r\n", b"\r\n") == b"VERSION 1.6.18\r\n"
    assert srv.proc.poll() is None


def test_shutdown_command_with_A(spawn):
    srv = tcp_server(spawn, "-A")
    s = srv.connect()
    s.sendall(b"shutdown\r\n")
    read_until_closed(s, timeout=10)
    assert srv.proc.wait(10) == 0


def test_daemon_with_pid_file(tmp_path):
    port = free_port()
    pidfile = tmp_path / "mc.pid"
    argv = [*server_command("slabcache"), "-u", "root", "-U", "0", "-l", "127.0.0.1"]
    argv += ["-p", str(port), "-d", "-P", str(pidfile)]
    launcher = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, timeout=30)
    assert launcher.returncode == 0, launcher.stderr
    pid = 0
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", None, "pid file")
        pid = int(pidfile.read_text())
        wait_for(lambda: can_connect(("127.0.0.1", port)), None, "daemon to serve")
        assert pid != launcher and Path(f"/proc/{pid}").exists()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"slabcache" in cmdline and b"-d" in cmdline
        # detached: its own session, stdio on /dev/null
        assert os.getsid(pid) == pid or os.getsid(pid) != os.getsid(0)
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        with __import__("socket").create_connection(("127.0.0.1", port), timeout=10) as s:
            assert request(s, b"version\r\n", b"\r\n") == b"VERSION 1.6.18\r\n"
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert not pidfile.exists()


def test_root_without_u_is_refused_like_memcached():
    if os.geteuid() != 0:
        return
    outs = []
    for kind in ("memcached", "slabcache"):
        argv = [*server_command(kind), "-U", "0", "-l", "127.0.0.1", "-p", str(free_port())]
        r = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, timeout=30)
        outs.append((r.returncode, r.stderr))
    assert outs[0] == outs[1]
    assert outs[1][0] == 64


def test_bind_failure_exits_like_memcached(spawn):
    srv = tcp_server(spawn)
    r = subprocess.run(
        [*server_command("slabcache"), "-u", "root", "-U", "0", "-p", str(srv.port)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=30,
    )
    assert r.returncode == 71
    assert b"Address already in use" in r.stderr


def test_vv_logs_connections_to_stderr(spawn):
    srv = tcp_server(spawn, "-vv")
    s = srv.connect()
    request(s, b"get nothing\r\n", b"END\r\n")
    fd_lines = [ln for ln in srv.log().splitlines() if "new auto-negotiating client" in ln]
    assert fd_lines and fd_lines[-1].startswith("<")
    s.sendall(b"quit\r\n")
    read_until_closed(s, timeout=10)
    fd = fd_lines[-1][1:].split()[0]
    wait_for(lambda: f"<{fd} connection closed." in srv.log(), None, "close to be logged")
    assert "server listening (auto-negotiate)" in srv.log()


def test_quiet_by_default(spawn):
    srv = tcp_server(spawn)
    s = srv.connect()
    request(s, b"get nothing\r\n", b"END\r\n")
    assert srv.stop() == 0
    assert srv.log() == ""
