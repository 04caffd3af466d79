"""Accepting connections ourselves (not loop.create_server) so the connection limit behaves
like memcached's: with maxconns_fast an extra client is accepted, sent the raw
`ERROR Too many open connections`, and closed; without it, accepting stops until a slot
frees (listen_disabled_num, accepting_conns 0). EMFILE also pauses accepting briefly."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import TYPE_CHECKING

from slabcache.server.connection import Connection
from slabcache.server.listeners import Listener, sockaddr_name

if TYPE_CHECKING:
    from slabcache.server.state import ServerState

TOO_MANY = b"ERROR Too many open connections\r\n"
ACCEPTS_PER_EVENT = 64  # bound the work one readable event can cause
EMFILE_RETRY = 0.1  # seconds before retrying accept after running out of descriptors


class Acceptor:
    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.loop = loop
        self.listeners: list[Listener] = []
        self.accepting = False
        self._disabled_at = 0.0
        self._tasks: set[asyncio.Future[object]] = set()

    def start(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self.enable()

    def enable(self) -> None:
        if self.accepting:
            return
        if self._disabled_at:
            self.state.time_in_listen_disabled_us += int(
                (time.monotonic() - self._disabled_at) * 1_000_000
            )
            self._disabled_at = 0.0
        for lst in self.listeners:
            self.loop.add_reader(lst.fd, self._on_readable, lst)
        self.accepting = True

    def disable(self) -> None:
        if not self.accepting:
            return
        for lst in self.listeners:
            self.loop.remove_reader(lst.fd)
        self.accepting = False
        self.state.listen_disabled_num += 1
        self._disabled_at = time.monotonic()

    def close(self) -> None:
        if self.accepting:
            for lst in self.listeners:
                self.loop.remove_reader(lst.fd)
            self.accepting = False

    def slot_freed(self) -> None:
        """A client left: resume accepting if the limit had stopped it."""
        if not self.accepting and not self.state.stopping and not self.state.at_limit():
            self.enable()

    def _on_readable(self, lst: Listener) -> None:
        state = self.state
        fast = state.settings.maxconns_fast
        for _ in range(ACCEPTS_PER_EVENT):
            if not fast and state.at_limit():
                self.disable()  # leave them in the backlog until a slot frees
                return
            try:
                sock, peer = lst.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    state.log(1, "Too many open connections")
                    self.disable()
                    self.loop.call_later(EMFILE_RETRY, self._retry)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            if fast and state.at_limit():
                self._reject(sock)
            else:
                self._adopt(sock, peer, lst)

    def _retry(self) -> None:
        if not self.state.stopping and not self.accepting:
            self.enable()

    def _reject(self, sock: socket.socket) -> None:
        # Raw bytes, no connection object: this is all memcached spends on a rejected client.
        try:
            sock.setblocking(False)
            sock.send(TOO_MANY)
        except OSError:
            pass
        sock.close()
        self.state.rejected_connections += 1

    def _adopt(self, sock: socket.socket, peer: object, lst: Listener) -> None:
        sock.setblocking(False)
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(
            self.state, sock.fileno(), peer, sockaddr_name(sock.family, peer), lst.name
        )
        self.state.conn_adopted(conn)
        fut = asyncio.ensure_future(self.loop.connect_accepted_socket(lambda: conn, sock))
        self._tasks.add(fut)
        fut.add_done_callback(lambda f: self._accepted(f, conn, sock))

    def _accepted(self, fut: asyncio.Future[object], conn: Connection, sock: socket.socket) -> None:
        self._tasks.discard(fut)
        if not fut.cancelled() and fut.exception() is None:
            return
        # the transport never came up: release the slot the connection was counted in
        self.state.log(1, f"failed to set up connection: {fut.exception()}")
        sock.close()
        self.state.conn_closed(conn)
