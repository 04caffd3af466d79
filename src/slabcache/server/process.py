"""Process-level chores memcached does around its event loop: root check and privilege drop,
daemonizing, the pid file, rusage text and the event-loop flavour."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import pwd
import resource
import sys
from collections.abc import Callable

EX_USAGE = 64
EX_NOUSER = 67
EX_OSERR = 71


class ProcessError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def drop_privileges(user: str | None) -> None:
    """memcached refuses to run as root without -u; with -u it assumes that identity."""
    if os.getuid() != 0 and os.geteuid() != 0:
        return
    if not user:
        raise ProcessError("can't run as root without the -u switch", EX_USAGE)
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise ProcessError(f"can't find the user {user} to switch to", EX_NOUSER) from None
    try:
        if pw.pw_uid != os.getuid():
            os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError:
        raise ProcessError(f"failed to assume identity of user {user}", EX_OSERR) from None


def daemonize(keep_stdio: bool) -> None:
    """Double fork, new session, cwd /, stdio to /dev/null (kept at -v, as memcached does)."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    if not keep_stdio:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)


def write_pid_file(path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_file(path: str | None) -> None:
    if not path:
        return
    with contextlib.suppress(OSError):
        os.unlink(path)


def rusage_text() -> tuple[str, str]:
    """`rusage_user` / `rusage_system` as memcached prints them: seconds.microseconds."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return _sec_usec(ru.ru_utime), _sec_usec(ru.ru_stime)


def _sec_usec(value: float) -> str:
    usec = round(value * 1_000_000)
    return f"{usec // 1_000_000}.{usec % 1_000_000:06d}"


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when importable, stock asyncio otherwise; also the `libevent` stats text."""
    try:
        import uvloop
        from uvloop.loop import libuv_get_version
    except ImportError:
        return asyncio.new_event_loop(), f"asyncio-{platform.python_version()}"
    v = libuv_get_version()
    return uvloop.new_event_loop(), f"libuv-{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def log_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


Logger = Callable[[str], None]
