"""memcached 1.6.18 binary protocol: framing and execution, bytes in, replies out, no I/O.

Framing plan. A request is a 24-byte header, then `bodylen` bytes (extras, key, value).
Like memcached, a packet is dispatched once its header, extras and key are buffered
(keylen <= 65535 and extlen <= 255 bound that wait), so the checks that close the
connection answer exactly when memcached answers. Values are only buffered for commands
that use them, and a value that could never be stored is skipped as it arrives (never
buffered). Unknown opcodes and commands that ignore their value skip the *whole* packet:
memcached 1.6.18 skips `bodylen` bytes after it has already consumed extras and key, and so
reads into the next request (see `MISFRAMED` below); slabcache keeps the framing.

Buffer costs are those of text.py: one `bytearray` plus a read offset, compaction once per
feed (each byte moved at most once), so the worst case is O(n) in bytes received.
"""

from __future__ import annotations

import struct
from typing import Any

from slabcache.engine import StoreMode, StoreResult
from slabcache.engine.meta_ops import MetaOps
from slabcache.protocol import stats as statsfmt
from slabcache.protocol.context import VERSION, LocalContext, ServerContext
from slabcache.protocol.handler import ITEM_HEADER, KEY_MAX_LENGTH
from slabcache.protocol.sasl import (
    MAX_SASL_MECH_LEN,
    MECHANISMS,
    SaslSession,
    password_file_from_env,
)

REQ_MAGIC = 0x80
RES_MAGIC = 0x81
# magic, opcode, keylen, extlen, datatype, vbucket/status, bodylen, opaque, cas
HEADER = struct.Struct(">BBHBBHIIQ")
HEADER_LEN = 24
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
SET_EXTRAS = struct.Struct(">II")  # flags, exptime
DELTA_EXTRAS = struct.Struct(">QQI")  # delta, initial, exptime
NO_CREATE = 0xFFFFFFFF  # incr/decr exptime meaning "do not create a missing counter"

# opcodes
GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH = range(9)
GETQ, NOOP, VERSION_OP, GETK, GETKQ, APPEND, PREPEND, STAT = range(0x09, 0x11)
SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ, QUITQ, FLUSHQ = range(0x11, 0x19)
APPENDQ, PREPENDQ, VERBOSITY, TOUCH, GAT, GATQ = range(0x19, 0x1F)
SASL_LIST, SASL_AUTH, SASL_STEP, GATK, GATKQ = range(0x20, 0x25)

# status codes and memcached's error bodies
OK_STATUS = 0x00
KEY_ENOENT = 0x01
KEY_EEXISTS = 0x02
E2BIG = 0x03
EINVAL = 0x04
NOT_STORED = 0x05
DELTA_BADVAL = 0x06
AUTH_ERROR = 0x20
AUTH_CONTINUE = 0x21
UNKNOWN_COMMAND = 0x81
ENOMEM = 0x82
ERROR_TEXT = {
    KEY_ENOENT: b"Not found",
    KEY_EEXISTS: b"Data exists for key.",
    E2BIG: b"Too large.",
    EINVAL: b"Invalid arguments",
    NOT_STORED: b"Not stored.",
    DELTA_BADVAL: b"Non-numeric server-side value for incr or decr",
    AUTH_ERROR: b"Auth failure.",
    UNKNOWN_COMMAND: b"Unknown command",
    ENOMEM: b"Out of memory",
}

# quiet opcode -> the command it runs (memcached's c->noreply mapping)
QUIET = {
    GETQ: GET, GETKQ: GETK, SETQ: SET, ADDQ: ADD, REPLACEQ: REPLACE, DELETEQ: DELETE,
    INCRQ: INCR, DECRQ: DECR, QUITQ: QUIT, FLUSHQ: FLUSH, APPENDQ: APPEND,
    PREPENDQ: PREPEND, GATQ: GAT, GATKQ: GATK,
}  # fmt: skip
STORE_OPS = {SET: StoreMode.SET, ADD: StoreMode.ADD, REPLACE: StoreMode.REPLACE}
CONCAT_OPS = {APPEND: StoreMode.APPEND, PREPEND: StoreMode.PREPEND}
SASL_OPS = (SASL_LIST, SASL_AUTH, SASL_STEP)

# Where memcached 1.6.18 loses the packet boundary and slabcache does not: an unknown
# opcode (e.g. verbosity 0x1b) with extras or a key, and STAT / TOUCH / GAT(K) requests
# whose body carries bytes beyond their extras and key.
MISFRAMED = "unknown opcode with extras/key; stat/touch/gat with a trailing value"


def _valid(op: int, extlen: int, keylen: int, bodylen: int) -> bool | None:
    """memcached's per-opcode shape checks; None = not a command memcached serves."""
    if op in (VERSION_OP, NOOP, QUIT, SASL_LIST):
        return extlen == 0 and keylen == 0 and bodylen == 0
    if op == FLUSH:
        return keylen == 0 and bodylen == extlen and extlen in (0, 4)
    if op in STORE_OPS:
        return extlen == 8 and keylen != 0 and bodylen >= keylen + 8
    if op in (GET, GETK):
        return extlen == 0 and bodylen == keylen and keylen > 0
    if op == DELETE:
        return keylen > 0 and extlen == 0 and bodylen == keylen
    if op in (INCR, DECR):
        return keylen > 0 and extlen == 20 and bodylen == keylen + 20
    if op in CONCAT_OPS:
        return keylen > 0 and extlen == 0
    if op == STAT:
        return extlen == 0
    if op in (SASL_AUTH, SASL_STEP):
        return extlen == 0 and keylen != 0
    if op in (TOUCH, GAT, GATK):
        return extlen == 4 and keylen != 0
    return None


class BinaryProtocol:
    """One binary-protocol connection. Feed `receive_data`, send `data_to_send()`.

    `max_reqs` (memcached's -R) bounds the packets run per feed, as in TextProtocol.
    """

    dumping = False  # no metadump streaming on the binary protocol
    watcher = None

    def __init__(
        self,
        engine: Any,
        ctx: ServerContext | None = None,
        cfd: int = 0,
        max_reqs: int = 0,
    ) -> None:
        self.engine = engine
        self.ctx: Any = ctx if ctx is not None else LocalContext()
        self.cfd = cfd
        self.max_reqs = max_reqs
        self.pending = False
        self.closing = False
        self._out: list[bytes] = []
        self._buf = bytearray()
        self._pos = 0
        self._swallow = 0
        self._mark = 0  # len(self._out) when the current packet started
        self._deferred: list[bytes] = []  # replies sent once the swallow is through
        settings = self.ctx.settings
        cfg = getattr(engine, "config", None) or settings.engine
        self._item_size_max = cfg.item_size_max
        self._cas_bytes = 8 if cfg.use_cas else 0
        self._sasl: SaslSession | None = None
        if settings.sasl:
            path = getattr(settings, "sasl_file", None)
            self._sasl = SaslSession(password_file_from_env(path))
        self._item_cas = getattr(engine, "item_cas", None)
        # slabcache's engine: stores that hand back the stored item (its CAS for the reply)
        self._ops = MetaOps(engine) if hasattr(engine, "_g") else None
        # two-phase storage: the item is allocated once the packet's head is in, then filled
        # as the value arrives; held = [handle, bytes still due, cmd, op, quiet, opaque, cas,
        # key, mode]
        self._alloc = getattr(engine, "alloc_item", None) if self._ops is not None else None
        self._held: list[Any] | None = None
        chunk = min(cfg.slab_chunk_max, cfg.item_size_max)
        self._one_chunk = chunk - ITEM_HEADER - 1 - self._cas_bytes  # key+flags+value+CRLF

    # -- public API ----------------------------------------------------------------------
    def quick(self, data: bytes) -> bytes | None:
        return None  # no one-call path: every packet goes through receive_data

    def receive_data(self, data: bytes) -> None:
        if self.closing:
            return
        if self._swallow:
            n = min(self._swallow, len(data))
            self._swallow -= n
            data = data[n:]
            if not self._swallow:
                self._swallowed()
        self._buf += data
        if not self.pending:
            self._process()

    @property
    def reading_block(self) -> bool:
        """A packet's header is in and the rest of its body is awaited (conn_nread)."""
        if self._held is not None:
            return True
        buf = self._buf
        if self._swallow or len(buf) < HEADER_LEN:
            return False
        return len(buf) < HEADER_LEN + U32.unpack_from(buf, 8)[0]

    @property
    def swallowing(self) -> bool:
        """A refused packet's value is being discarded (conn_swallow)."""
        return bool(self._swallow)

    def _swallowed(self) -> None:
        if self._deferred:
            self._out.extend(self._deferred)
            self._deferred.clear()

    def resume(self) -> None:
        self.pending = False
        self._process()

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    # -- replies -------------------------------------------------------------------------
    def _send(
        self,
        op: int,
        opaque: int,
        status: int = 0,
        extras: bytes = b"",
        key: bytes = b"",
        value: bytes = b"",
        cas: int = 0,
    ) -> None:
        body = len(extras) + len(key) + len(value)
        hdr = HEADER.pack(RES_MAGIC, op, len(key), len(extras), 0, status, body, opaque, cas)
        self._out.append(hdr + extras + key + value)

    def _error(self, op: int, opaque: int, status: int) -> None:
        self._send(op, opaque, status, value=ERROR_TEXT[status])

    # -- framing -------------------------------------------------------------------------
    def _process(self) -> None:
        buf = self._buf
        pos = self._pos
        budget = self.max_reqs or -1
        try:
            while not self.closing:
                if self._held is not None:
                    pos = self._fill_held(pos)
                    if self._held is not None:
                        break  # the rest of the value comes with later reads
                if self._swallow:
                    n = min(self._swallow, len(buf) - pos)
                    pos += n
                    self._swallow -= n
                    if self._swallow:
                        break
                    self._swallowed()
                avail = len(buf) - pos
                if avail < HEADER_LEN:
                    break
                if buf[pos] != REQ_MAGIC:
                    self.closing = True  # memcached closes on a bad magic byte, silently
                    break
                _m, op, keylen, extlen, _dt, _vb, bodylen, opaque, cas = HEADER.unpack_from(
                    buf, pos
                )
                head = HEADER_LEN + extlen + keylen
                if avail < head:
                    break
                if budget == 0:
                    self.pending = True
                    self.ctx.conn_yields += 1
                    break
                budget -= 1
                self._mark = len(self._out)
                pos = self._packet(pos, op, keylen, extlen, bodylen, opaque, cas)
                if pos < 0:  # the value has not arrived yet
                    pos = -pos - 1
                    break
        finally:
            if pos:
                del buf[:pos]
            self._pos = 0

    def _skip_to(self, pos: int, end: int, defer: bool = False) -> int:
        """Consume up to `end`; what has not arrived yet is dropped as it comes. `defer`:
        this packet's reply waits for the swallow, as memcached's write_bin_error does."""
        have = len(self._buf)
        if end > have:
            self._swallow = end - have
            if defer:
                self._deferred.extend(self._out[self._mark :])
                del self._out[self._mark :]
            return have
        return end

    def _packet(
        self, pos: int, op: int, keylen: int, extlen: int, bodylen: int, opaque: int, cas: int
    ) -> int:
        """Run one packet whose header, extras and key are buffered; return the new read
        offset, or -(pos + 1) to wait for the rest of the body."""
        buf = self._buf
        end = pos + HEADER_LEN + bodylen
        if keylen + extlen > bodylen:
            self._error(op, opaque, UNKNOWN_COMMAND)
            self.closing = True
            return end
        sasl = self._sasl
        if sasl is not None and not sasl.authenticated and op not in SASL_OPS and op != VERSION_OP:
            self._error(op, opaque, AUTH_ERROR)
            self.closing = True
            return end
        if keylen > KEY_MAX_LENGTH:
            self._error(op, opaque, EINVAL)
            self.closing = True
            return end
        quiet = op in QUIET
        cmd = QUIET.get(op, op)
        ok = _valid(cmd, extlen, keylen, bodylen)
        if ok is None or (cmd in SASL_OPS and sasl is None):
            # memcached answers these (and SASL without -S) and keeps the connection
            self._error(op, opaque, UNKNOWN_COMMAND)
            return self._skip_to(pos, end)
        if not ok:
            self._error(op, opaque, EINVAL)
            self.closing = True
            return end
        p = pos + HEADER_LEN
        extras = bytes(buf[p : p + extlen])
        key = bytes(buf[p + extlen : p + extlen + keylen])
        vstart = p + extlen + keylen
        vlen = bodylen - extlen - keylen
        if cmd in STORE_OPS or cmd in CONCAT_OPS:
            flags, exptime = SET_EXTRAS.unpack(extras) if extlen else (0, 0)
            if self._too_large(keylen, flags, vlen + 2):
                self._reject_large(cmd, op, opaque, key, flags, vlen)
                return self._skip_to(pos, end, defer=True)
            if self._alloc is not None and (
                len(buf) < end or keylen + (4 if flags else 0) + vlen + 2 > self._one_chunk
            ):
                return self._store_two_phase(cmd, op, quiet, opaque, cas, key, flags, exptime,
                                             vstart, end)  # fmt: skip
            if len(buf) < end:
                return -(pos + 1)
            value = bytes(buf[vstart:end])
            self._store(cmd, op, quiet, opaque, cas, key, flags, exptime, value)
            return end
        if cmd in (SASL_AUTH, SASL_STEP):
            if keylen > MAX_SASL_MECH_LEN:
                self._error(op, opaque, EINVAL)
                return self._skip_to(pos, end)
            if vlen + 2 > self._item_size_max:
                self._error(op, opaque, ENOMEM)  # memcached's item_alloc for the data fails
                return self._skip_to(pos, end, defer=True)
            if len(buf) < end:
                return -(pos + 1)
            self._sasl_auth(cmd, op, opaque, key, bytes(buf[vstart:end]))
            return end
        self._simple(cmd, op, quiet, opaque, cas, extras, key)
        return self._skip_to(pos, end)  # any trailing value (stat/touch/gat) is skipped

    # -- commands ------------------------------------------------------------------------
    def _simple(
        self, cmd: int, op: int, quiet: bool, opaque: int, cas: int, extras: bytes, key: bytes
    ) -> None:
        if cmd in (GET, GETK, TOUCH, GAT, GATK):
            self._get(cmd, op, quiet, opaque, extras, key)
        elif cmd == NOOP:
            self._send(op, opaque)
        elif cmd == VERSION_OP:
            self._send(op, opaque, value=VERSION.encode())
        elif cmd == DELETE:
            self._delete(op, quiet, opaque, cas, key)
        elif cmd in (INCR, DECR):
            self._delta(cmd, op, quiet, opaque, cas, extras, key)
        elif cmd == QUIT:
            if not quiet:
                self._send(op, opaque)
            self.closing = True
        elif cmd == FLUSH:
            self._flush(op, quiet, opaque, extras)
        elif cmd == STAT:
            self._stat(op, opaque, key)
        elif cmd == SASL_LIST:
            self._send(op, opaque, value=MECHANISMS)

    def _get(self, cmd: int, op: int, quiet: bool, opaque: int, extras: bytes, key: bytes) -> None:
        ctx = self.ctx
        if cmd in (GET, GETK):
            r = self.engine.get(key)
        elif cmd == TOUCH:
            # memcached counts a binary TOUCH as a touch only (no cmd_get)
            peek = getattr(self.engine, "item_flags_cas", None)
            if peek is None:
                r = self.engine.gat(key, _exptime(U32.unpack(extras)[0]))
            else:
                hit = self.engine.touch(key, _exptime(U32.unpack(extras)[0]))
                fc = peek(key) if hit else None
                r = (fc[0], b"", fc[1]) if fc is not None else None
        else:
            r = self.engine.gat(key, _exptime(U32.unpack(extras)[0]))
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 0, r is not None)
        with_key = cmd in (GETK, GATK)
        if r is None:
            if not quiet:
                if with_key:
                    self._send(op, opaque, KEY_ENOENT, key=key)
                else:
                    self._error(op, opaque, KEY_ENOENT)
            return
        flags, data, item_cas = r
        value = b"" if cmd == TOUCH else bytes(data[:-2])
        self._send(op, opaque, 0, U32.pack(flags), key if with_key else b"", value, item_cas)

    def _too_large(self, nkey: int, flags: int, nbytes: int) -> bool:
        """memcached's item_size_ok(): header + key + NUL + flags suffix + data + CAS."""
        total = ITEM_HEADER + nkey + 1 + (4 if flags else 0) + nbytes + self._cas_bytes
        return total > self._item_size_max

    def _reject_large(
        self, cmd: int, op: int, opaque: int, key: bytes, flags: int, vlen: int
    ) -> None:
        self._error(op, opaque, E2BIG)  # sent even for quiet variants: it is an error
        mode = STORE_OPS.get(cmd) or CONCAT_OPS[cmd]
        # memcached's binary path counts no store_too_large; a refused SET(Q) still drops
        # the old item, append/prepend do not
        self.engine.alloc_item(mode, key, flags, 0, vlen + 2, binary=True,
                               unlink_on_fail=cmd == SET, count=False)  # fmt: skip

    def _store_two_phase(
        self,
        cmd: int,
        op: int,
        quiet: bool,
        opaque: int,
        cas: int,
        key: bytes,
        flags: int,
        exptime: int,
        vstart: int,
        end: int,
    ) -> int:
        """process_bin_update / process_bin_append_prepend: allocate now (a refusal is sent
        once the value is swallowed), then read the value into the held item."""
        ctx = self.ctx
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 2)
        if cmd in CONCAT_OPS:
            mode = CONCAT_OPS[cmd]
            flags = exptime = 0
        else:
            mode = StoreMode.CAS if cas else STORE_OPS[cmd]
        vlen = end - vstart
        h = self._alloc(  # type: ignore[misc]
            mode, key, flags, _exptime(exptime), vlen + 2, binary=True,
            unlink_on_fail=cmd == SET, count=cmd not in CONCAT_OPS,
        )  # fmt: skip
        if type(h) is not int:
            self._error(op, opaque, E2BIG if h is StoreResult.TOO_LARGE else ENOMEM)
            return self._skip_to(vstart, end, defer=True)
        self._held = [h, vlen, cmd, op, quiet, opaque, cas, key, mode]
        return self._fill_held(vstart)

    def _fill_held(self, pos: int) -> int:
        """Write what has arrived of the held item's value; store it once all is in."""
        held = self._held
        assert held is not None
        h, due, cmd, op, quiet, opaque, cas, key, mode = held
        take = min(due, len(self._buf) - pos)
        engine = self.engine
        ok = engine.write_value(h, bytes(self._buf[pos : pos + take])) if take else True
        pos += take
        held[1] = due = due - take
        if not ok:
            # no data chunk for the value: the error follows the swallowed rest
            self._held = None
            engine.abort_store(h)
            self._mark = len(self._out)
            self._send(op, opaque, ENOMEM, value=b"Out of memory during read")  # its own text
            return self._skip_to(pos, pos + due, defer=True)
        if due:
            return pos
        self._held = None
        res = engine.complete_store(h, mode, cas or None, True)
        stored = res is StoreResult.STORED and cmd not in CONCAT_OPS
        # the stored item is the held one: its CAS, even when its exptime has already passed
        cas_out = self._ops.cas(h) if stored else None  # type: ignore[union-attr]
        self._store_reply(cmd, op, quiet, opaque, key, mode, res, cas_out)
        return pos

    def connection_lost(self) -> None:
        """The client went away: an item still being read is freed, never stored."""
        held, self._held = self._held, None
        if held is not None:
            self.engine.abort_store(held[0])

    def _store(
        self,
        cmd: int,
        op: int,
        quiet: bool,
        opaque: int,
        cas: int,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes,
    ) -> None:
        ctx = self.ctx
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 2)
        if cmd in CONCAT_OPS:
            mode = CONCAT_OPS[cmd]
            flags = exptime = 0
        else:
            mode = StoreMode.CAS if cas else STORE_OPS[cmd]  # a header CAS makes it a CAS op
        ops = self._ops
        stored_cas = None
        if ops is not None:
            res, off = ops.store(mode, key, flags, _exptime(exptime), value, cas or None)
            # memcached replies with the stored item's CAS even when its exptime has already
            # passed (an absolute time before now): a lookup of the live item would miss it
            stored_cas = ops.cas(off) if off else 0
        else:
            res = self.engine.store(mode, key, flags, _exptime(exptime), value, cas or None)
        self._store_reply(cmd, op, quiet, opaque, key, mode, res, stored_cas)

    def _store_reply(
        self,
        cmd: int,
        op: int,
        quiet: bool,
        opaque: int,
        key: bytes,
        mode: Any,
        res: Any,
        stored_cas: int | None,
    ) -> None:
        name = getattr(res, "name", str(res)).upper()
        if name == "STORED":
            if not quiet:
                cas_out = self._cas_of(key) if stored_cas is None else stored_cas
                self._send(op, opaque, cas=cas_out)
        elif name == "EXISTS":
            self._error(op, opaque, KEY_EEXISTS)
        elif name == "NOT_FOUND":
            self._error(op, opaque, KEY_ENOENT)
        elif name == "TOO_LARGE":
            self._error(op, opaque, E2BIG)
        elif name == "NO_MEMORY" and mode not in (StoreMode.APPEND, StoreMode.PREPEND):
            self._error(op, opaque, ENOMEM)
        elif cmd == ADD:
            self._error(op, opaque, KEY_EEXISTS)
        elif cmd == REPLACE:
            self._error(op, opaque, KEY_ENOENT)
        else:
            self._error(op, opaque, NOT_STORED)

    def _cas_of(self, key: bytes) -> int:
        if self._item_cas is None:
            return 0
        return self._item_cas(key) or 0

    def _delete(self, op: int, quiet: bool, opaque: int, cas: int, key: bytes) -> None:
        ctx = self.ctx
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 3)
        if cas and self._item_cas is not None:
            current = self._item_cas(key)
            if current is not None and current != cas:
                self._error(op, opaque, KEY_EEXISTS)
                return
        if self.engine.delete(key):
            if not quiet:
                self._send(op, opaque)
        else:
            self._error(op, opaque, KEY_ENOENT)

    def _delta(
        self, cmd: int, op: int, quiet: bool, opaque: int, cas: int, extras: bytes, key: bytes
    ) -> None:
        amount, initial, exptime = DELTA_EXTRAS.unpack(extras)
        engine = self.engine
        current = self._item_cas(key) if self._item_cas is not None else 0
        if current is None and exptime != NO_CREATE:
            # memcached creates the counter with `initial` (the delta is not applied) by
            # store_item(NREAD_ADD), which counts no set: only complete_nread counts sets
            ops = self._ops
            if ops is not None:
                off = ops.vivify(key, b"%d" % initial)  # the miss above unlinked any dead item
                if off:
                    ops.set_exptime(off, _exptime(exptime))
                name = "STORED" if off else "NO_MEMORY"
                new_cas = ops.cas(off) if off else 0
            else:  # a contract-only engine
                res = engine.store(StoreMode.ADD, key, 0, _exptime(exptime), b"%d" % initial)
                name = getattr(res, "name", str(res)).upper()
                new_cas = self._cas_of(key)
            if name == "STORED":
                if not quiet:
                    self._send(op, opaque, value=U64.pack(initial), cas=new_cas)
            elif name in ("NO_MEMORY", "TOO_LARGE"):
                self._error(op, opaque, ENOMEM)
            else:
                self._error(op, opaque, NOT_STORED)
            return
        if cas and current is not None and current != cas:
            self._error(op, opaque, KEY_EEXISTS)
            return
        res, value = engine.delta(key, cmd == INCR, amount)
        name = getattr(res, "name", str(res)).upper()
        if name == "OK":
            if not quiet:
                number = int(bytes(value or b"0"))
                self._send(op, opaque, value=U64.pack(number), cas=self._cas_of(key))
        elif name == "NON_NUMERIC":
            self._error(op, opaque, DELTA_BADVAL)
        elif name == "NO_MEMORY":
            self._error(op, opaque, ENOMEM)
        else:
            self._error(op, opaque, KEY_ENOENT)

    def _flush(self, op: int, quiet: bool, opaque: int, extras: bytes) -> None:
        if not self.ctx.settings.flush_enabled:
            self._error(op, opaque, AUTH_ERROR)  # memcached's answer to a flush under -F
            return
        delay = U32.unpack(extras)[0] if extras else 0
        self.engine.flush_all(delay)
        if not quiet:
            self._send(op, opaque)

    # -- stats ---------------------------------------------------------------------------
    def _stat_packets(self, op: int, opaque: int, pairs: list[tuple[bytes, bytes]]) -> None:
        for k, v in pairs:
            self._send(op, opaque, key=k, value=v)

    def _stat(self, op: int, opaque: int, key: bytes) -> None:
        eng, ctx = self.engine, self.ctx
        if not key:
            es = eng.stats_settings() if hasattr(eng, "stats_settings") else {}
            general = eng.stats_general() if hasattr(eng, "stats_general") else {}
            sw = statsfmt.switches(ctx, es)
            text = statsfmt.general(general, ctx.server_stats(), sw)
            self._stat_packets(op, opaque, _parse_stat_text(text))
        elif key.startswith(b"reset"):  # memcached compares group prefixes with strncmp
            if hasattr(eng, "stats_reset"):
                eng.stats_reset()
            ctx.stats_reset()
        elif key.startswith(b"settings"):
            es = eng.stats_settings() if hasattr(eng, "stats_settings") else {}
            self._stat_packets(op, opaque, _parse_stat_text(statsfmt.settings_lines(ctx, es)))
        elif key.startswith(b"detail"):
            sub = key[6:]
            if sub.startswith(b" dump"):
                self._send(op, opaque, key=b"detailed", value=ctx.prefix_stats.dump())
            elif sub.startswith(b" on") or sub.startswith(b" off"):
                ctx.detail_enabled = sub.startswith(b" on")
            else:
                self._error(op, opaque, KEY_ENOENT)
                return
        elif key in (b"items", b"slabs", b"sizes", b"sizes_enable", b"sizes_disable"):
            name = key.decode()
            fn = getattr(eng, name if name.startswith("sizes_") else "stats_" + name, None)
            if fn is None:
                self._error(op, opaque, KEY_ENOENT)
                return
            rv = fn()
            if name.startswith("sizes_"):
                if isinstance(rv, tuple):
                    status, err = rv
                    rv = [("sizes_status", status)] + ([("sizes_error", err)] if err else [])
                elif not isinstance(rv, list):
                    rv = [("sizes_status", "enabled" if name == "sizes_enable" else "disabled")]
                # as in the text protocol, 1.6.18 sends no terminator after these
                self._stat_packets(op, opaque, [(_b(k), _b(v)) for k, v in rv])
                return
            self._stat_packets(op, opaque, [(_b(k), _b(v)) for k, v in rv])
        else:
            self._error(op, opaque, KEY_ENOENT)
            return
        self._send(op, opaque)  # the empty packet that ends a stats reply

    # -- SASL ----------------------------------------------------------------------------
    def _sasl_auth(self, cmd: int, op: int, opaque: int, mech: bytes, data: bytes) -> None:
        sasl = self._sasl
        assert sasl is not None
        ok = sasl.start(mech, data) if cmd == SASL_AUTH else sasl.step(mech, data)
        count = getattr(self.ctx, "count_auth", None)
        if count is not None:
            count(bool(ok))
        if ok:
            self._send(op, opaque, value=b"Authenticated")
        else:
            self._error(op, opaque, AUTH_ERROR)


def _exptime(v: int) -> int:
    """Binary exptimes are unsigned 32-bit; the engine applies memcached's rules."""
    return v


def _b(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"1" if v else b"0"
    return str(v).encode()


def _parse_stat_text(text: bytes) -> list[tuple[bytes, bytes]]:
    """`STAT name value` lines (as the text protocol formats them) -> (name, value)."""
    pairs = []
    for line in text.split(b"\r\n"):
        if line.startswith(b"STAT "):
            name, _, value = line[5:].partition(b" ")
            pairs.append((name, value))
    return pairs
