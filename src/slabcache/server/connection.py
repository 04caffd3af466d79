"""One client connection: bytes from the socket into the codec, its replies back out.

Hot path (data_received): feed the codec, one joined write per read. Backpressure: when the
transport's write buffer passes the high-water mark, reading pauses and input already read
is held back unparsed, so a client that does not read its replies costs at most the
high-water mark plus one slice of replies, and never delays anyone else.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slabcache.protocol.context import Watcher
    from slabcache.server.state import ServerState

# Input is fed to the codec in slices of at most this many bytes; a slice whose replies are
# much larger than itself (multigets of big values) shrinks the next one, down to MIN_SLICE.
MAX_SLICE = 64 * 1024
MIN_SLICE = 64
TARGET_OUT = 256 * 1024
WRITE_HIGH = 1024 * 1024
WRITE_LOW = 256 * 1024


class Connection(asyncio.Protocol):
    __slots__ = (
        "_slice",
        "_watch_flush",
        "addr",
        "codec",
        "fd",
        "last_cmd",
        "listen_addr",
        "pending",
        "state",
        "transport",
        "watcher",
        "write_paused",
    )

    def __init__(self, state: ServerState, fd: int, addr: str, listen_addr: str) -> None:
        self.state = state
        self.fd = fd
        self.addr = addr
        self.listen_addr = listen_addr
        self.transport: asyncio.Transport | None = None
        self.codec = state.new_codec(self)
        self.last_cmd = state.clock.now
        self.pending: bytes = b""
        self.write_paused = False
        self.watcher: Watcher | None = None
        self._watch_flush: asyncio.Handle | None = None
        self._slice = MAX_SLICE

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)
        self.state.conn_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.conn_closed(self)
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        # Hot path: the common read is small and produces a small reply.
        state = self.state
        state.bytes_read += len(data)
        self.last_cmd = state.clock.now
        if self.pending or self.write_paused:
            self.pending += data
            if self.write_paused:
                return
            data, self.pending = self.pending, b""
        if len(data) <= self._slice:
            self._feed(data)
        else:
            self._feed_sliced(data)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.pending:
            data, self.pending = self.pending, b""
            self._feed_sliced(data)
        if not self.write_paused and not transport.is_closing():
            transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # close our side too, as memcached does on read() == 0

    # -- internals --------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        codec = self.codec
        codec.receive_data(data)
        out = codec.data_to_send()
        if out:
            self.state.bytes_written += len(out)
            self.transport.write(out)  # type: ignore[union-attr]
            if len(out) > TARGET_OUT:
                self._slice = max(MIN_SLICE, len(data) * TARGET_OUT // len(out))
            elif self._slice < MAX_SLICE:
                self._slice = min(MAX_SLICE, self._slice * 2)
        if codec.closing:
            self.close()

    def _feed_sliced(self, data: bytes) -> None:
        pos, end = 0, len(data)
        transport = self.transport
        while pos < end:
            if self.write_paused:
                self.pending = data[pos:]
                return
            if transport is None or transport.is_closing():
                return
            step = self._slice
            self._feed(data[pos : pos + step])
            pos += step

    # -- watch -----------------------------------------------------------------------------

    def attach_watcher(self, watcher: Watcher) -> None:
        self.watcher = watcher
        watcher.wake = self._wake_watcher

    def _wake_watcher(self) -> None:
        # Called once per log line: coalesce into one write per loop iteration.
        if self._watch_flush is None and self.transport is not None:
            self._watch_flush = asyncio.get_running_loop().call_soon(self._flush_watch)

    def _flush_watch(self) -> None:
        self._watch_flush = None
        watcher, transport = self.watcher, self.transport
        if watcher is None or transport is None or transport.is_closing():
            return
        data = watcher.take()
        if not data:
            return
        if transport.get_write_buffer_size() > self.state.settings.watcher_logbuf_size:
            lines = data.count(b"\n")
            registry = self.state.shared.watchers
            registry.skipped += lines
            registry.sent -= lines
            return
        self.state.bytes_written += len(data)
        transport.write(data)

    def close(self) -> None:
        self.pending = b""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.pending = b""
        if self.transport is not None:
            self.transport.abort()

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0
