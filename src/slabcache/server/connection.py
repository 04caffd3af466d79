"""One client connection: bytes from the socket into the codec, its replies back out.

Hot path (data_received): a read that is one whole request gets its whole reply from the
codec's `quick()` in one call; any other read feeds the codec, one joined write per read.

Fairness and backpressure. The codec runs at most `max_reqs` commands per feed (memcached's
-R); when it stops early (`pending`) or streams a metadump (`dumping`), reading pauses and
the rest runs in a later loop iteration, so other connections get their turn in between.
When the transport's write buffer passes the high-water mark, nothing more is run for this
connection until the client drains it: a client that does not read its replies costs at most
the high-water mark plus one step of replies, and never delays anyone else.

A step runs as many commands as memcached's event does: -R + 1 right after a read (memcached
spends its budget from the second command on), -R after a yield; so the yields, and the
points where replies are flushed, match memcached's. The replies of a yield (when small)
are written together with the next step's: the client reads the same bytes, with one
system call fewer. A step whose replies are very large, such as
multigets of big values, drops the next step's budget to one command, so a pipeline of huge
multigets from a client that never reads costs about one reply's worth of memory, not -R of
them; yields caused by this reduced budget are not counted as memcached's conn_yields (see
ConnContext.conn_yields).

Under -B auto the first read decides the protocol: the negotiator then hands over its codec
and the connection talks to that codec directly.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from slabcache.protocol.negotiate import NegotiatingProtocol

if TYPE_CHECKING:
    from slabcache.protocol.context import Watcher
    from slabcache.server.state import ServerState

WRITE_HIGH = 1024 * 1024
WRITE_LOW = 256 * 1024
LARGE_STEP = 256 * 1024  # replies per step above this shrink the per-step budget
CARRY_MAX = 64 * 1024  # replies of a -R yield below this wait for the next step's write


class Connection(asyncio.Protocol):
    __slots__ = (
        "_batch",
        "_batched",
        "_cont",
        "_loop",
        "_negotiating",
        "_reading_paused",
        "_unsent",
        "_watch_flush",
        "active",
        "addr",
        "close_reason",
        "codec",
        "fd",
        "last_cmd",
        "listen_addr",
        "max_reqs",
        "peer_ip",
        "peer_port",
        "state",
        "transport",
        "transport_name",
        "watcher",
        "write_paused",
    )

    def __init__(
        self, state: ServerState, fd: int, peer: object, addr: str, listen_addr: str
    ) -> None:
        self.state = state
        self.fd = fd
        self.addr = addr
        self.listen_addr = listen_addr
        if isinstance(peer, tuple):
            self.peer_ip, self.peer_port, self.transport_name = peer[0], peer[1], "tcp"
        else:
            self.peer_ip, self.peer_port, self.transport_name = "", 0, "local"
        self.close_reason = "normal"
        self.transport: Any = None
        self.max_reqs = state.settings.reqs_per_event
        self.codec = state.new_codec(self)
        self._negotiating = isinstance(self.codec, NegotiatingProtocol)
        self.last_cmd = state.clock.now
        self.active = False  # has sent anything: memcached shows conn_new_cmd until then
        self.write_paused = False
        self.watcher: Watcher | None = None
        self._reading_paused = False
        self._cont: asyncio.Handle | None = None
        self._unsent = b""  # replies made but not written yet (see WriteBatch)
        self._batched = False  # queued in the write batch of this loop pass
        self._batch = state.write_batch
        self._loop = asyncio.get_running_loop()  # looked up once: each lookup checks getpid()
        self._watch_flush: asyncio.Handle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)  # type: ignore[attr-defined]
        self.state.conn_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.close_reason == "normal":
            self.close_reason = "error"
        if self._cont is not None:
            self._cont.cancel()
            self._cont = None
        lost = getattr(self.codec, "connection_lost", None)
        if lost is not None:
            lost()  # frees an item still being read (memcached's conn_close item_remove)
        self.state.conn_closed(self)

    def data_received(self, data: bytes) -> None:
        # Hot path: one feed, one joined write; the rest only when the codec needs it.
        state = self.state
        state.bytes_read += len(data)
        self.last_cmd = state.clock.now
        self.active = True
        codec = self.codec
        if codec.max_reqs == self.max_reqs:
            out = codec.quick(data)  # one request in flight: its whole reply, or None
            if out is not None:
                state.bytes_written += len(out)
                self._queue(out)
                if len(out) > LARGE_STEP:
                    self._shrink()
                return
        codec.receive_data(data)
        if self._negotiating and codec.codec is not None:
            # the protocol is chosen: talk to its codec directly from now on
            self._negotiating = False
            codec = self.codec = codec.codec
        if codec.pending or codec.closing or codec.max_reqs != self.max_reqs:
            self._after_step(codec, self.transport)
            return
        out = codec.data_to_send()
        if out:
            state.bytes_written += len(out)
            self._queue(out)
            if len(out) > LARGE_STEP:
                self._shrink()
        if codec.pending or codec.closing or codec.dumping:
            self._after_step(codec, self.transport, sent=True)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        codec = self.codec
        if codec.pending or codec.dumping:
            self._schedule()
        else:
            self._resume_reading()

    def eof_received(self) -> bool:
        self.write_unsent()  # a client that half-closed still gets the replies it asked for
        return False  # close our side too, as memcached does when read() returns 0

    # -- deferred steps (-R yields, metadump chunks) ------------------------------------------

    def _defer(self) -> None:
        self._pause_reading()
        if not self.write_paused:
            self._schedule()

    def _schedule(self) -> None:
        if self._cont is None:
            self._cont = self._loop.call_soon(self._step)

    def _step(self) -> None:
        self._cont = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        codec = self.codec
        if codec.pending:
            codec.resume()
        self._after_step(codec, transport)

    def _after_step(self, codec: Any, transport: Any, sent: bool = False) -> None:
        """Write a step's replies (unless `sent`), then close, go on, or read again."""
        if not sent:
            reduced = codec.max_reqs < self.max_reqs
            out = self._take_sent(codec) if codec.pending and reduced else codec.data_to_send()
            if out:
                self.state.bytes_written += len(out)  # memcached counts them at its flush
                # a -R yield: memcached flushes here, but the client sees one byte stream
                # either way, so small replies wait for the next step's: one write, not two
                self._queue(out, hold=codec.pending and not reduced)
                if len(out) > LARGE_STEP:
                    self._shrink()
                elif codec.max_reqs != self.max_reqs:
                    codec.max_reqs = self.max_reqs
            elif codec.max_reqs != self.max_reqs:
                codec.max_reqs = self.max_reqs
            if self._unsent and not codec.pending and not self._batched:
                self._batched = True  # what an earlier yield held
                self._batch.add(self)
        if codec.closing:
            self.write_unsent()
            transport.close()
        elif codec.pending or codec.dumping:
            self._defer()
        elif not self.write_paused:
            self._resume_reading()

    def _queue(self, out: bytes, hold: bool = False) -> None:
        """Queue replies for this loop pass's write batch; `hold` keeps them for the next
        step instead. Past the write buffer's high-water mark they are written at once."""
        unsent = self._unsent = self._unsent + out if self._unsent else out
        if len(unsent) > WRITE_HIGH:
            self.write_unsent()
        elif (not hold or len(unsent) >= CARRY_MAX) and not self._batched:
            self._batched = True
            self._batch.add(self)

    def write_unsent(self) -> None:
        """Write the queued replies (the write batch calls this at the end of the pass)."""
        self._batched = False
        out = self._unsent
        if out:
            self._unsent = b""
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(out)

    def _take_sent(self, codec: Any) -> bytes:
        # A yield of the reduced budget is not memcached's: it flushes nothing there, so
        # replies an over-long get key would drop stay queued (up to LARGE_STEP bytes).
        take = getattr(codec, "take_flushed", None)
        return codec.data_to_send() if take is None else take(LARGE_STEP)

    def _shrink(self) -> None:
        if self.max_reqs:
            self.codec.max_reqs = 1

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.watcher is None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- watch -----------------------------------------------------------------------------

    def attach_watcher(self, watcher: Watcher) -> None:
        self.watcher = watcher
        watcher.wake = self._wake_watcher

    def _wake_watcher(self) -> None:
        # Called once per log line: coalesce into one write per loop iteration.
        if self._watch_flush is None and self.transport is not None:
            self._watch_flush = self._loop.call_soon(self._flush_watch)

    def _flush_watch(self) -> None:
        self._watch_flush = None
        watcher, transport = self.watcher, self.transport
        if watcher is None or transport is None or transport.is_closing():
            return
        self.write_unsent()  # the watch command's own reply first
        data = watcher.take()
        if not data:
            return
        if transport.get_write_buffer_size() > self.state.settings.watcher_logbuf_size:
            # memcached drops log lines for a watcher that is not keeping up
            lines = data.count(b"\n")
            registry = self.state.shared.watchers
            registry.skipped += lines
            registry.sent -= lines
            return
        self.state.bytes_written += len(data)
        transport.write(data)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        if self.transport is not None:
            self.write_unsent()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def busy(self) -> bool:
        """Replies still to produce (a -R yield or a metadump in progress)."""
        return bool(self.codec.pending or self.codec.dumping)

    def reading_block(self) -> bool:
        """A storage command is waiting for its data block (memcached's conn_nread)."""
        return bool(getattr(self.codec, "reading_block", False))

    def swallowing(self) -> bool:
        """A refused data block is being discarded (memcached's conn_swallow)."""
        return bool(getattr(self.codec, "swallowing", False))
