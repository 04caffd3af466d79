"""Meta protocol (mg, ms, md, ma, mn, me) on the text port, as memcached 1.6.18's proto_text.c.

`MetaCommands` is owned by one TextProtocol connection; the codec hands it every 2-byte
command starting with "m" (tokens as memcached's tokenizer keeps them). Flags are parsed
once (`_preparse`, memcached's _meta_flag_preparse: first error wins for unknown and
duplicate letters, the last one for bad tokens), then each command walks its tokens in
request order so modifying flags (T, N, R) act at their position and return flags come
back in the order asked.

Deliberate differences from 1.6.18 (newer memcached behaviour, see the issue):
E<cas> (explicit new CAS) on every command, md x (empty the value, keep the item),
mg C<cas> (drop the value when the CAS matches), ms s (final size), ms N (vivify on
append/prepend miss). 1.6.18 answers `CLIENT_ERROR invalid flag` to E and x, and ignores
mg C, ms s and ms N. `me` prints exp with 1.6.18's inverted sign (byte compatible).
"""

from __future__ import annotations

import base64
from typing import Any

from slabcache.engine import DeltaResult, StoreMode, StoreResult
from slabcache.engine.meta_ops import ITEM_KEY_BINARY, ITEM_STALE, ITEM_TOKEN_SENT, MetaOps
from slabcache.protocol.context import LOG_FETCHERS, LOG_MUTATIONS
from slabcache.protocol.numbers import strtol32, strtoul32, strtoull

KEY_MAX_LENGTH = 250
MAX_OPT_TOKENS = 20  # MFLAG_MAX_OPT_LENGTH: more tokens (incl. the terminal) is an error
MAX_OPAQUE = 32  # MFLAG_MAX_OPAQUE_LENGTH, the O included
INT_MAX = (1 << 31) - 1
REALTIME_MAXDELTA = 60 * 60 * 24 * 30

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_TOKEN = b"CLIENT_ERROR bad token in command line format"
DUP_FLAG = b"CLIENT_ERROR duplicate flag"
INVALID_FLAG = b"CLIENT_ERROR invalid flag"
BAD_KEY = b"CLIENT_ERROR error decoding key"
OPAQUE_LONG = b"CLIENT_ERROR opaque token too long\r\n"
INVALID_OR_DUP = b"CLIENT_ERROR invalid or duplicate flag\r\n"
NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
MN = b"MN\r\n"
EN = b"EN\r\n"

_MS_MODES = {
    0: StoreMode.SET, 83: StoreMode.SET, 69: StoreMode.ADD, 65: StoreMode.APPEND,
    80: StoreMode.PREPEND, 82: StoreMode.REPLACE,
}  # fmt: skip
_MA_INCR = {0: True, 73: True, 105: True, 43: True, 68: False, 100: False, 45: False}
_STORE_CODE = {
    StoreResult.STORED: b"HD", StoreResult.EXISTS: b"EX",
    StoreResult.NOT_FOUND: b"NF", StoreResult.NOT_STORED: b"NS",
}  # fmt: skip
# base64 alphabet as memcached's decoder sees it: other bytes are skipped, "=" is 0 + pad
_B64 = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
_B64[61] = 0


def b64decode(src: bytes) -> bytes | None:
    """memcached's base64_decode: skips foreign bytes, needs whole quads, pads of 1-2."""
    vals = [(_B64[c], c == 61) for c in src if c in _B64]
    if not vals or len(vals) % 4:
        return None
    out = bytearray()
    for i in range(0, len(vals), 4):
        a, b, c, d = (v for v, _ in vals[i : i + 4])
        pad = sum(1 for _, p in vals[i : i + 4] if p)
        out += bytes(
            (((a << 2) | (b >> 4)) & 255, ((b << 4) | (c >> 2)) & 255, ((c << 6) | d) & 255)
        )
        if pad:
            if pad > 2:
                return None
            del out[-pad:]
            break
    return bytes(out) or None


def _key_token(key: bytes, binary: bool) -> bytes:
    """META_KEY: ` k<key>`, or the base64 form followed by ` b` for binary keys."""
    if binary:
        return b" k" + base64.b64encode(key) + b" b"
    return b" k" + key


class _Flags:
    """What _meta_flag_preparse records (struct _meta_flags)."""

    __slots__ = (
        "binary",
        "cas",
        "client_flags",
        "delta",
        "empty",
        "exptime",
        "initial",
        "key",
        "locked",
        "mode",
        "new_cas",
        "new_ttl",
        "no_update",
        "quiet",
        "recache",
        "stale",
        "value",
        "viv_exp",
        "vivify",
    )  # fmt: skip

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.binary = self.locked = self.vivify = self.new_ttl = self.value = False
        self.no_update = self.quiet = self.stale = self.empty = False
        self.viv_exp = self.exptime = self.recache = self.client_flags = self.mode = 0
        self.cas: int | None = None
        self.new_cas: int | None = None
        self.initial = 0
        self.delta = 1


def _ttl_arg(tok: bytes) -> int | None:
    """safe_strtol then EXPTIME_TO_POSITIVE_TIME: a negative TTL means already expired."""
    v = strtol32(tok)
    if v is None:
        return None
    return REALTIME_MAXDELTA + 1 if v < 0 else v


def _preparse(toks: list[bytes], start: int) -> tuple[_Flags, bytes | None]:
    """Parse flags from toks[start:]; (flags, error line without CRLF or None)."""
    f = _Flags(toks[1])
    err: bytes | None = None
    seen = set()
    for tok in toks[start:]:
        o = tok[0]
        if o >= 127 or o in seen:
            return f, DUP_FLAG
        seen.add(o)
        arg = tok[1:]
        if o == 98:  # b
            dec = b64decode(f.key)
            if dec is None:
                err = BAD_KEY
                dec = b""
            f.key = dec
            f.binary = True
        elif o == 78:  # N
            f.locked = f.vivify = True
            v = _ttl_arg(arg)
            if v is None:
                err = BAD_TOKEN
            else:
                f.viv_exp = v
        elif o == 84:  # T
            f.locked = True
            v = _ttl_arg(arg)
            if v is None:
                err = BAD_TOKEN
            else:
                f.exptime = v
                f.new_ttl = True
        elif o == 82:  # R
            f.locked = True
            v = _ttl_arg(arg)
            if v is None:
                err = BAD_TOKEN
            else:
                f.recache = v
        elif o in (108, 104):  # l, h: the bump waits until they are read
            f.locked = True
        elif o in (79, 80, 76, 107, 115, 116, 99, 102):  # O P L k s t c f
            pass
        elif o == 118:  # v
            f.value = True
        elif o == 117:  # u
            f.no_update = True
        elif o == 113:  # q
            f.quiet = True
        elif o == 70:  # F: no error string of its own (the caller's default stays)
            v = strtoul32(arg)
            if v is None:
                err = err or b""
            else:
                f.client_flags = v
        elif o == 67:  # C
            v = strtoull(arg)
            if v is None:
                err = BAD_TOKEN
            else:
                f.cas = v
        elif o == 69:  # E (newer memcached): the CAS to give the item
            v = strtoull(arg)
            if v is None:
                err = BAD_TOKEN
            else:
                f.new_cas = v
        elif o == 77:  # M
            if len(tok) != 2:
                err = b"CLIENT_ERROR incorrect length for M token"
            else:
                f.mode = tok[1]
        elif o == 74:  # J
            v = strtoull(arg)
            if v is None:
                err = b"CLIENT_ERROR invalid numeric initial value"
            else:
                f.initial = v
        elif o == 68:  # D
            v = strtoull(arg)
            if v is None:
                err = b"CLIENT_ERROR invalid numeric delta value"
            else:
                f.delta = v
        elif o == 73:  # I
            f.stale = True
        elif o == 120:  # x (newer memcached): md empties the value
            f.empty = True
        else:
            return f, INVALID_FLAG
    return f, err


class MetaCommands:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.engine = conn.engine
        self.ops = MetaOps(conn.engine)
        self.ctx = conn.ctx
        self._out: list[bytes] = conn._out

    # -- entry -----------------------------------------------------------------------------
    def dispatch(self, toks: list[bytes], ntok: int) -> None:
        c = toks[0][1]
        if c == 103:  # g
            self.mg(toks, ntok)
        elif c == 115:
            self.ms(toks, ntok)
        elif c == 110:
            self._out.append(MN)
        elif c == 100:
            self.md(toks, ntok)
        elif c == 97:
            self.ma(toks, ntok)
        elif c == 101:
            self.me(toks, ntok)
        else:
            self._out.append(ERROR)

    def mg_fast(self, line: bytes) -> bool:
        """`mg <key> v` (single spaces) is a plain get: same counters, same bump, same bytes.

        Hot path. Declines (False) whatever needs the general parser: other flags, watchers,
        or items that may carry stale/win state.
        """
        parts = line.split(b" ")
        if len(parts) != 3 or parts[2] != b"v" or self.ctx.watchers.mask or self.ops.marked:
            return False
        key = parts[1]
        if not key or len(key) > KEY_MAX_LENGTH:
            return False
        r = self.engine.get(key)
        if r is None:
            self._out.append(EN)
        else:
            data = r[1]
            self._out.append(b"VA %d\r\n" % (len(data) - 2))
            self._out.append(data)
        return True

    def _error(self, msg: bytes) -> None:
        self._out.append(msg if msg.endswith(b"\r\n") else msg + b"\r\n")

    def _log_get(self, key: bytes, off: int) -> None:
        if self.ctx.watchers.mask & LOG_FETCHERS:
            ops = self.ops
            st, cls, size = (
                ("found", ops.clsid(off), ops.nbytes(off) - 2) if off else ("not_found", 0, 0)
            )
            self.ctx.watchers.log(
                LOG_FETCHERS,
                f"type=item_get key={_uri(key)} status={st} clsid={cls} "
                f"cfd={self.conn.cfd} size={size}",
            )

    # -- mg --------------------------------------------------------------------------------
    def mg(self, toks: list[bytes], ntok: int) -> None:
        out = self._out
        if ntok < 3:
            out.append(ERROR)
            return
        if len(toks[1]) > KEY_MAX_LENGTH:
            out.append(BAD_FORMAT)
            return
        if ntok == 4 and toks[2] == b"v" and not self.ctx.watchers.mask and not self.ops.marked:
            # hot path: `mg <key> v` is a plain get (same counters, same bump)
            r = self.engine.get(toks[1])
            if r is None:
                out.append(EN)
            else:
                out.append(b"VA %d\r\n" % (len(r[1]) - 2))
                out.append(r[1])
            return
        if ntok > MAX_OPT_TOKENS:
            self._error(b"CLIENT_ERROR options flags are too long")
            return
        f, err = _preparse(toks, 2)
        if err is not None:
            self._error(err or BAD_FORMAT)
            return
        ops = self.ops
        key = f.key
        off = ops.find(key, bump=not f.locked and not f.no_update)
        self._log_get(key, off)
        created = False
        if not off and f.vivify:
            off = ops.vivify(key)
            created = bool(off)
            if off and f.new_cas is not None:
                ops.set_cas(off, f.new_cas)
        if not off:
            ops.count_get(0, False)
            parts = [b"EN"]
            if not self._opaque_and_key(toks, key, f.binary, parts):
                return
            if not f.quiet:
                parts.append(b"\r\n")
                out.append(b"".join(parts))
            return
        flags, data, cas = ops.value(off)
        send_value = f.value and not (f.cas is not None and f.cas == cas)
        won = ttl_set = False
        parts = [b"VA %d" % (len(data) - 2) if f.value else b"HD"]
        for tok in toks[2:]:
            o = tok[0]
            if o == 84:  # T
                ttl_set = True
                ops.set_exptime(off, f.exptime)
            elif o == 78:  # N
                if created:
                    ops.set_exptime(off, f.viv_exp)
                    won = True
            elif o == 82:  # R
                if not ops.it_flags(off) & ITEM_TOKEN_SENT and not created:
                    won = won or ops.recache_due(off, f.recache)
            elif o == 115:
                parts.append(b" s%d" % (len(data) - 2))
            elif o == 116:
                parts.append(b" t%d" % ops.ttl(off))
            elif o == 99:
                parts.append(b" c%d" % ops.cas(off))
            elif o == 102:
                parts.append(b" f%d" % flags)
            elif o == 108:
                parts.append(b" l%d" % ops.last_access(off))
            elif o == 104:
                parts.append(b" h1" if ops.it_flags(off) & ITEM_FETCHED_BIT else b" h0")
            elif o == 79:
                if len(tok) > MAX_OPAQUE:
                    out.append(OPAQUE_LONG)
                    return
                parts.append(b" " + tok)
            elif o == 107:
                parts.append(_key_token(key, bool(ops.it_flags(off) & ITEM_KEY_BINARY)))
        fl = ops.it_flags(off)
        if fl & ITEM_TOKEN_SENT:
            parts.append(b" Z")
        if fl & ITEM_STALE:
            parts.append(b" X")
            if not fl & ITEM_TOKEN_SENT:
                won = True
        if won:
            parts.append(b" W")
            ops.set_it_flags(off, fl | ITEM_TOKEN_SENT)
        if f.value and not send_value:
            parts[0] = b"HD"  # mg C<cas> (newer memcached): the client already has it
        parts.append(b"\r\n")
        out.append(b"".join(parts))
        if send_value:
            out.append(data)
        if f.locked and not f.no_update:
            ops.bump(off)  # delayed so h and l saw the state before this fetch
        ops.count_get(off, ttl_set)

    # -- ms --------------------------------------------------------------------------------
    def ms(self, toks: list[bytes], ntok: int) -> None:
        out = self._out
        conn = self.conn
        if ntok < 3:
            out.append(ERROR)
            return
        if len(toks[1]) > KEY_MAX_LENGTH or ntok == 3:
            out.append(BAD_FORMAT)
            return
        if ntok > MAX_OPT_TOKENS:
            self._error(b"CLIENT_ERROR options flags too long")
            return
        vlen = strtol32(toks[2])
        if vlen is None or vlen < 0 or vlen > INT_MAX - 2:
            out.append(BAD_FORMAT)
            return
        nbytes = vlen + 2
        f, err = _preparse(toks, 3)
        mode = _MS_MODES.get(f.mode)
        if err is None:
            # 1.6.18 checks the mode before acting on an over-long opaque
            if mode is None:
                err = b"CLIENT_ERROR invalid mode for ms M token"
            elif any(t[0] == 79 and len(t) > MAX_OPAQUE for t in toks[3:]):
                err = OPAQUE_LONG
        alloc = conn._alloc
        h = None
        if err is None:
            # process_mset_command allocates now; a refusal drops the old item in any mode
            appending = mode in (StoreMode.APPEND, StoreMode.PREPEND)
            exp = f.viv_exp if f.vivify and appending else f.exptime
            h = alloc(mode, f.key, f.client_flags, exp, nbytes, unlink_on_fail=True)
            if type(h) is not int:
                name = getattr(h, "name", str(h))
                if self.ctx.watchers.mask & LOG_MUTATIONS:
                    conn._log_store(mode, f.key, name, 0, vlen, f.client_flags)
                err = (
                    b"SERVER_ERROR object too large for cache"
                    if h is StoreResult.TOO_LARGE
                    else b"SERVER_ERROR out of memory storing object"
                )
        if err is not None:
            mark = len(out)
            self._error(err or BAD_FORMAT)
            reply = b"".join(out[mark:])  # sent once the block is swallowed
            del out[mark:]
            conn._skip(nbytes, reply)
            return
        if f.cas is not None and mode in (StoreMode.SET, StoreMode.REPLACE):
            mode = StoreMode.CAS
        if h is not None:
            held: int = h

            def done(ok: bool) -> None:
                self._ms_complete(toks, f, mode, held, vlen, ok)

            conn.read_into(held, nbytes, done, False)
            return
        conn.read_block(nbytes, lambda block: self._ms_finish(toks, f, mode, block))

    def _ms_complete(
        self, toks: list[bytes], f: _Flags, mode: Any, h: int, vlen: int, ok: bool
    ) -> None:
        """complete_nread for ms's held item: do_store_item, then E / b on the stored item."""
        engine = self.conn.engine
        if not ok:
            engine.complete_store(h, mode, None, False)  # counts the set, frees the item
            self._out.append(b"CLIENT_ERROR bad data chunk\r\n")
            return
        ops = self.ops
        key = f.key
        exptime = f.exptime
        appending = mode in (StoreMode.APPEND, StoreMode.PREPEND)
        if f.vivify and appending and not ops.find(key, bump=False):
            mode, exptime = StoreMode.ADD, f.viv_exp  # ms N: vivify on miss
        self._log_get(key, ops.find(key, bump=False) if self.ctx.watchers.mask else 0)
        cas_in = f.cas if f.cas is not None else None
        if f.stale and mode is StoreMode.CAS and cas_in:
            # do_store_item's stale branch (I with a lower CAS) marks the replacing item;
            # MetaOps owns that marking, so the held item's bytes go through it
            value = engine.held_value(h)[:-2]
            engine.abort_store(h)
            res, off = ops.store(
                mode, key, f.client_flags, exptime, value, cas_in,
                stale=True, new_cas=f.new_cas, binary_key=f.binary,
            )  # fmt: skip
            self._ms_reply(toks, f, mode, res, off, exptime, vlen)
            return
        res = engine.complete_store(h, mode, cas_in, True)
        off = 0
        if res is StoreResult.STORED:
            off = ops.find(key, bump=False) if appending else h
            if off and f.new_cas is not None:
                ops.set_cas(off, f.new_cas)
            if off and f.binary:
                ops.set_it_flags(off, ops.it_flags(off) | ITEM_KEY_BINARY)
        self._ms_reply(toks, f, mode, res, off, exptime, vlen)

    def _ms_finish(self, toks: list[bytes], f: _Flags, mode: Any, block: bytes) -> None:
        out = self._out
        if block[-2:] != b"\r\n":
            self.conn.count_bad_block(f.key, f.client_flags, len(block))
            out.append(b"CLIENT_ERROR bad data chunk\r\n")
            return
        ops = self.ops
        key = f.key
        value = block[:-2]
        exptime = f.exptime
        appending = mode in (StoreMode.APPEND, StoreMode.PREPEND)
        if f.vivify and appending and not ops.find(key, bump=False):
            mode, exptime = StoreMode.ADD, f.viv_exp  # ms N: vivify on miss
        self._log_get(key, ops.find(key, bump=False) if self.ctx.watchers.mask else 0)
        cas_in = f.cas if f.cas is not None else None
        res, off = ops.store(
            mode, key, f.client_flags, exptime, value, cas_in,
            stale=f.stale and mode is StoreMode.CAS, new_cas=f.new_cas, binary_key=f.binary,
        )  # fmt: skip
        self._ms_reply(toks, f, mode, res, off, exptime, len(value))

    def _ms_reply(
        self, toks: list[bytes], f: _Flags, mode: Any, res: Any, off: int, exptime: int, size: int
    ) -> None:
        out = self._out
        ops = self.ops
        key = f.key
        code = _STORE_CODE.get(res)
        if self.ctx.watchers.mask & LOG_MUTATIONS:
            st = getattr(res, "name", str(res)).lower()
            self.ctx.watchers.log(
                LOG_MUTATIONS,
                f"type=item_store key={_uri(key)} status={st} cmd={mode.name.lower()} "
                f"ttl={exptime} clsid={ops.clsid(off) if off else 0} cfd={self.conn.cfd} "
                f"size={size}",
            )
        if code is None:
            out.append(
                b"SERVER_ERROR object too large for cache\r\n"
                if res is StoreResult.TOO_LARGE
                else b"SERVER_ERROR out of memory storing object\r\n"
            )
            return
        if code == b"HD" and f.quiet:
            return
        parts = [code]
        for tok in toks[3:]:
            o = tok[0]
            if o == 79:
                parts.append(b" " + tok)
            elif o == 107:
                parts.append(_key_token(key, f.binary))
            elif o == 99:
                parts.append(b" c%d" % (ops.cas(off) if off else 0))
            elif o == 115 and off:  # newer memcached: the final size
                parts.append(b" s%d" % (ops.nbytes(off) - 2))
        parts.append(b"\r\n")
        out.append(b"".join(parts))

    # -- md --------------------------------------------------------------------------------
    def _opaque_and_key(
        self, toks: list[bytes], key: bytes, binary: bool, parts: list[bytes]
    ) -> bool:
        """Append the O and k return flags a reply without item data carries; False (and the
        error sent) when an opaque is too long."""
        for tok in toks[2:]:
            o = tok[0]
            if o == 79:
                if len(tok) > MAX_OPAQUE:
                    self._out.append(OPAQUE_LONG)
                    return False
                parts.append(b" " + tok)
            elif o == 107:
                parts.append(_key_token(key, binary))
        return True

    def _md_ma_flags(self, toks: list[bytes], ntok: int) -> _Flags | None:
        """md and ma share 1.6.18's checks, and its one message for any flag error."""
        out = self._out
        if ntok < 3:
            out.append(ERROR)
            return None
        if len(toks[1]) > KEY_MAX_LENGTH:
            out.append(BAD_FORMAT)
            return None
        if ntok > MAX_OPT_TOKENS:
            self._error(b"CLIENT_ERROR options flags too long")
            return None
        f, err = _preparse(toks, 2)
        if err is not None:
            out.append(INVALID_OR_DUP)
            return None
        return f

    def md(self, toks: list[bytes], ntok: int) -> None:
        f = self._md_ma_flags(toks, ntok)
        if f is None:
            return
        out = self._out
        parts = [b""]
        if not self._opaque_and_key(toks, f.key, f.binary, parts):
            return
        ops = self.ops
        if self.ctx.watchers.mask:
            self._log_get(f.key, ops.find(f.key, bump=False))
        code, _off = ops.delete(
            f.key, f.cas, f.stale, f.exptime if f.new_ttl else None, f.new_cas, f.empty,
            f.client_flags,
        )  # fmt: skip
        if code == "OOM":
            out.append(b"SERVER_ERROR out of memory\r\n")
            return
        if code == "HD" and f.quiet:
            return
        parts[0] = code.encode()
        parts.append(b"\r\n")
        out.append(b"".join(parts))

    # -- ma --------------------------------------------------------------------------------
    def ma(self, toks: list[bytes], ntok: int) -> None:
        f = self._md_ma_flags(toks, ntok)
        if f is None:
            return
        out = self._out
        incr = _MA_INCR.get(f.mode)
        if incr is None:
            out.append(b"CLIENT_ERROR invalid mode for ma M token\r\n")
            return
        ops = self.ops
        key = f.key
        if self.ctx.watchers.mask:
            self._log_get(key, ops.find(key, bump=False))
        res, off, num, ttl_ok = ops.delta(key, incr, f.delta, f.cas or 0)
        created = False
        code = b""
        if res is DeltaResult.NON_NUMERIC:
            out.append(NON_NUMERIC)
            return
        if res is DeltaResult.NO_MEMORY:
            out.append(b"SERVER_ERROR out of memory\r\n")
            return
        if res is DeltaResult.NOT_FOUND:
            if f.vivify:
                num = b"%d" % f.initial
                off = ops.vivify(key, num)
                if not off:
                    out.append(b"SERVER_ERROR Out of memory allocating new item\r\n")
                    return
                created = ttl_ok = True
            else:
                code = b"NF"
        elif res == "EX":
            code = b"EX"
        if off:
            if f.new_cas is not None:
                ops.set_cas(off, f.new_cas)
            parts = [b"VA %d" % len(num) if f.value else b"HD"]
            for tok in toks[2:]:
                o = tok[0]
                if o == 99:
                    parts.append(b" c%d" % ops.cas(off))
                elif o == 116:
                    parts.append(b" t%d" % ops.ttl(off))
                elif o == 84:
                    if ttl_ok:
                        ops.set_exptime(off, f.exptime)
                elif o == 78:
                    if created:
                        ops.set_exptime(off, f.viv_exp)
                elif o == 79:
                    if len(tok) > MAX_OPAQUE:
                        out.append(OPAQUE_LONG)
                        return
                    parts.append(b" " + tok)
                elif o == 107:
                    parts.append(_key_token(key, f.binary))
            if f.quiet and not created:
                return
            parts.append(b"\r\n")
            if f.value:
                parts.append(num + b"\r\n")
            out.append(b"".join(parts))
            return
        parts = [code]
        if not self._opaque_and_key(toks, key, f.binary, parts):
            return
        parts.append(b"\r\n")
        out.append(b"".join(parts))

    # -- me --------------------------------------------------------------------------------
    def me(self, toks: list[bytes], ntok: int) -> None:
        out = self._out
        if ntok < 3 or len(toks[1]) > KEY_MAX_LENGTH:
            out.append(BAD_FORMAT)
            return
        key = toks[1]
        if ntok >= 4 and toks[2] == b"b":
            dec = b64decode(key)
            if dec is None:
                out.append(BAD_FORMAT)  # me's own message for an undecodable key
                return
            key = dec
        ops = self.ops
        off = ops.find(key, bump=False)
        self._log_get(key, off)
        if not off:
            out.append(EN)
        else:
            fl = ops.it_flags(off)
            shown = base64.b64encode(key) if fl & ITEM_KEY_BINARY else key
            out.append(
                b"ME %s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\r\n"
                % (
                    shown,
                    ops.exp_inverted(off),
                    ops.last_access(off),
                    ops.cas(off),
                    b"yes" if fl & ITEM_FETCHED_BIT else b"no",
                    ops.clsid(off),
                    ops.ntotal(off),
                )
            )
        ops.count_meta()


ITEM_FETCHED_BIT = 8  # memcached's ITEM_FETCHED
_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _uri(key: bytes) -> str:
    return "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in key)
