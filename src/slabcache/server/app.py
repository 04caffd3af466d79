"""`run(settings)`: the process from bound sockets to exit status.

Order follows memcached: privileges are dropped first, sockets bound (names resolved) before
any event loop exists, then the process daemonizes and writes its pid file; only then is the
loop created, so nothing blocking ever runs on it.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from typing import Any

from slabcache.server.acceptor import Acceptor
from slabcache.server.housekeeping import Housekeeper
from slabcache.server.listeners import Listener, ListenError, close_all, create_listeners
from slabcache.server.process import (
    EX_OSERR,
    ProcessError,
    daemonize,
    drop_privileges,
    new_event_loop,
    remove_file,
    write_pid_file,
)
from slabcache.server.state import RESERVED_FDS, ServerState
from slabcache.settings import Settings

GRACEFUL_DRAIN = 5.0  # seconds graceful stop waits for clients to take their last replies


STOP_SIGNALS = {signal.SIGTERM: False, signal.SIGINT: False, signal.SIGUSR1: True}


class _EarlySignals:
    """Signals that arrive before the loop runs (the sockets already listen, so clients and
    supervisors can see us) are remembered and honoured once it does."""

    def __init__(self) -> None:
        self.graceful: bool | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._record)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _record(self, signum: int, frame: object) -> None:
        if self.graceful is None:
            self.graceful = STOP_SIGNALS[signal.Signals(signum)]


def run(settings: Settings) -> int:
    early = _EarlySignals()
    early.install()
    try:
        raise_fd_limit(settings.maxconns)
        drop_privileges(settings.user)
        engine, clock = build_engine(settings)
        listeners = create_listeners(settings)
    except ProcessError as exc:
        print(exc, file=sys.stderr)
        return exc.status
    except ListenError as exc:
        print(exc, file=sys.stderr)
        return EX_OSERR
    unix_path = os.path.abspath(settings.unix_socket) if settings.unix_socket else None
    pidfile = os.path.abspath(settings.pidfile) if settings.pidfile else None
    if settings.daemonize:
        daemonize(keep_stdio=settings.verbose > 0)
    try:
        if pidfile:
            write_pid_file(pidfile)
        return serve(settings, engine, clock, listeners, early)
    finally:
        close_all(listeners)
        remove_file(unix_path)
        remove_file(pidfile)


def raise_fd_limit(maxconns: int) -> None:
    """memcached raises RLIMIT_NOFILE to fit -c and fails if it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = maxconns + RESERVED_FDS
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    except (ValueError, OSError):
        raise ProcessError(
            "failed to set rlimit for open files. Try starting as root or requesting "
            "smaller maxconns value.",
            EX_OSERR,
        ) from None


def build_engine(settings: Settings) -> tuple[Any, Any]:
    from slabcache.engine import Engine
    from slabcache.engine.clock import Clock

    clock = Clock()
    return Engine(settings.engine, clock=clock), clock


def codec_factory() -> Any:
    # -B auto|ascii|binary: the first byte of each connection picks text or binary
    from slabcache.protocol.negotiate import NegotiatingProtocol

    return NegotiatingProtocol


def serve(
    settings: Settings, engine: Any, clock: Any, listeners: list[Listener], early: _EarlySignals
) -> int:
    loop, libevent = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_main(settings, engine, clock, listeners, libevent, early))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _main(
    settings: Settings,
    engine: Any,
    clock: Any,
    listeners: list[Listener],
    libevent: str,
    early: _EarlySignals,
) -> int:
    loop = asyncio.get_running_loop()
    state = ServerState(settings, engine, clock, libevent, codec_factory())
    acceptor = Acceptor(state, loop)
    state.is_accepting = lambda: acceptor.accepting
    state.on_slot_freed = acceptor.slot_freed
    housekeeper = Housekeeper(state, loop)
    done: asyncio.Future[bool] = loop.create_future()

    def stop(graceful: bool) -> None:
        if not done.done():
            done.set_result(graceful)

    state.on_shutdown = stop
    for sig, graceful_stop in STOP_SIGNALS.items():
        loop.add_signal_handler(sig, stop, graceful_stop)
    loop.add_signal_handler(signal.SIGHUP, state.reload)
    if early.graceful is not None:
        stop(early.graceful)

    state.set_listeners(listeners)
    acceptor.start(listeners)
    housekeeper.start()
    graceful = await done

    state.stopping = True
    acceptor.close()
    housekeeper.stop()
    if graceful:
        state.log(0, "Gracefully stopping")
        await _drain(state)
    else:
        state.log(1, "Exiting normally")
        for conn in list(state.conns.values()):
            conn.close_reason = "shutdown"
            conn.abort()
    close_engine = getattr(engine, "close", None)
    if close_engine is not None:
        close_engine()  # graceful stop is where a -e memory file is saved
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    await asyncio.sleep(0)  # let transports run their connection_lost callbacks
    return 0


async def _drain(state: ServerState) -> None:
    """Let every client receive what it was already sent, then close it."""
    for conn in list(state.conns.values()):
        conn.close_reason = "shutdown"
        conn.close()
    deadline = asyncio.get_running_loop().time() + GRACEFUL_DRAIN
    while state.conns and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    for conn in list(state.conns.values()):
        conn.abort()
