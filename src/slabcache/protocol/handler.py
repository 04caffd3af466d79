"""Executes text-protocol commands on the engine and formats memcached 1.6.18's reply bytes.

`CommandHandler` holds one connection's reply list and the per-command logic; `text.py`
subclasses it with the framing. Each `cmd_*` method receives the command's tokens (at most
23, as memcached's tokenizer keeps; `ntok` is memcached's `ntokens`, i.e. tokens + 1) and
appends reply bytes to `self._out`. The rules (argument counts, error strings, which
commands honour `noreply`) mirror proto_text.c of 1.6.18; see
/work/shared/reference/memcached-protocol.md §1.
"""

from __future__ import annotations

from typing import Any

from slabcache.engine import StoreMode, StoreResult
from slabcache.engine.meta_ops import MetaOps
from slabcache.protocol import stats as statsfmt
from slabcache.protocol.context import (
    LOG_FETCHERS,
    LOG_MUTATIONS,
    VERSION,
    WATCH_KINDS,
    ServerContext,
    Watcher,
)
from slabcache.protocol.numbers import strtod, strtol32, strtoul32, strtoull

KEY_MAX_LENGTH = 250
ITEM_HEADER = 48  # sizeof(item) on 64-bit memcached
MAX_VERBOSITY = 2
MAX_SLAB_CLASSES = 64

ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_EXPTIME = b"CLIENT_ERROR invalid exptime argument\r\n"
BAD_DELTA = b"CLIENT_ERROR invalid numeric delta argument\r\n"
NON_NUMERIC = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
DELETE_USAGE = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
NO_MEMORY = b"SERVER_ERROR out of memory storing object\r\n"
BAD_CHUNK = b"CLIENT_ERROR bad data chunk\r\n"
END = b"END\r\n"
OK = b"OK\r\n"

STORE_REPLY = {
    "STORED": b"STORED\r\n",
    "NOT_STORED": b"NOT_STORED\r\n",
    "EXISTS": b"EXISTS\r\n",
    "NOT_FOUND": b"NOT_FOUND\r\n",
    "TOO_LARGE": TOO_LARGE,
    "NO_MEMORY": NO_MEMORY,
}
STORED_REPLY = {r: STORE_REPLY[r.name] for r in StoreResult}  # engine result -> reply
STORE_MODES = {
    b"set": StoreMode.SET,
    b"add": StoreMode.ADD,
    b"replace": StoreMode.REPLACE,
    b"append": StoreMode.APPEND,
    b"prepend": StoreMode.PREPEND,
    b"cas": StoreMode.CAS,
}
REASSIGN_REPLY = {
    "OK": b"OK\r\n",
    "RUNNING": b"BUSY currently processing reassign request\r\n",
    "BUSY": b"BUSY currently processing reassign request\r\n",
    "BADCLASS": b"BADCLASS invalid src or dst class id\r\n",
    "NOSPARE": b"NOSPARE source class has no spare pages\r\n",
    "SAME": b"SAME src and dst class are identical\r\n",
    "SRC_DST_SAME": b"SAME src and dst class are identical\r\n",
}
CRAWLER_REPLY = {
    "OK": b"OK\r\n",
    "RUNNING": b"BUSY currently processing crawler request\r\n",
    "BUSY": b"BUSY currently processing crawler request\r\n",
    "BADCLASS": b"BADCLASS invalid class id\r\n",
    "NOTSTARTED": b"NOTSTARTED no items to crawl\r\n",
    "ERROR": b"ERROR an unknown error happened\r\n",
    "DISABLED": b"CLIENT_ERROR lru crawler disabled\r\n",
}
_STATUS_NAMES = {"not_stored": "NOT_STORED"}
_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _name(result: Any) -> str:
    """Engine results may be enums or plain strings; replies are chosen by name."""
    if result is True:
        return "OK"
    n = getattr(result, "name", result)
    return str(n).upper()


def uriencode(key: bytes) -> str:
    """memcached's uriencode() used in log and metadump lines."""
    return "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in key)


class CommandHandler:
    def __init__(self, engine: Any, ctx: ServerContext, cfd: int = 0) -> None:
        self.engine = engine
        self.ctx = ctx
        self.cfd = cfd  # the connection's id (memcached's fd) for log lines
        self._out: list[bytes] = []
        # Replies in _out[:_kept] count as sent: memcached flushes its responses after
        # every text get/gets/gat/gats/bget and when a data block ends with a socket
        # read; an over-long get key drops only what is queued since that flush.
        self._kept = 0
        self.closing = False
        self.watcher: Watcher | None = None
        self._dump: Any = None  # metadump iterator while it owns the output
        cfg = getattr(engine, "config", None) or ctx.settings.engine
        self._item_size_max = cfg.item_size_max
        self._cas_bytes = 8 if cfg.use_cas else 0
        self._ops: MetaOps | None = None  # item peeks for watch lines, made on first use

    # -- helpers -----------------------------------------------------------------------
    def take_flushed(self, limit: int) -> bytes:
        """The replies memcached has sent by now: those before its last flush point.

        For a pause memcached does not make (the server's own flow control): the rest
        stays queued so an over-long get key can still drop it, unless it passes `limit`
        bytes, where bounded memory wins.
        """
        out = self._out
        kept = self._kept
        if self._dump is not None or sum(map(len, out[kept:])) > limit:
            return self.data_to_send()
        data = b"".join(out[:kept])
        del out[:kept]
        self._kept = 0
        return data

    def _reply(self, data: bytes, noreply: bool) -> None:
        if not noreply:
            self._out.append(data)

    def _admin(self, name: str, *args: Any) -> Any:
        fn = getattr(self.engine, name, None)
        if fn is None:
            raise _Unsupported(name)
        return fn(*args)

    def _peek(self, key: bytes) -> tuple[int, int]:
        """(class id, value length) of the live item, (0, 0) if none; watch lines only."""
        ops = self._ops
        if ops is None:
            if not hasattr(self.engine, "_g"):
                return 0, 0  # a contract-only engine has no classes to show
            ops = self._ops = MetaOps(self.engine)
        off = ops.find(key, bump=False)
        return (ops.clsid(off), ops.nbytes(off) - 2) if off else (0, 0)

    def _log_get(self, key: bytes) -> None:
        """memcached logs every do_item_get: found items with their class and size."""
        cls, size = self._peek(key)
        st = "found" if cls else "not_found"
        self.ctx.watchers.log(
            LOG_FETCHERS,
            f"type=item_get key={uriencode(key)} status={st} clsid={cls} cfd={self.cfd} "
            f"size={size}",
        )

    # -- retrieval ---------------------------------------------------------------------
    def retrieve(self, keys: list[bytes], with_cas: bool, exptime: int | None) -> None:
        """get/gets/bget (exptime None) and gat/gats. One over-long key: only the error.

        Hot path: one engine call and two list appends per key.
        """
        out = self._out
        ctx = self.ctx
        detail = ctx.detail_enabled
        watch = ctx.watchers.mask & LOG_FETCHERS
        if exptime is None:
            fetch = self.engine.get
            args: tuple[int, ...] = ()
        else:
            fetch = self.engine.gat
            args = (exptime,)
        for key in keys:
            if len(key) > KEY_MAX_LENGTH:
                # memcached drops every response queued since its last flush
                del out[self._kept :]
                out.append(BAD_FORMAT)
                return
            r = fetch(key, *args)
            if detail:
                ctx.prefix_stats.record(
                    key, ctx.settings.prefix_delimiter.encode(), 0, r is not None
                )
            if watch:
                self._log_get(key)
            if r is not None:
                flags, data, cas = r
                if with_cas:
                    out.append(b"VALUE %s %d %d %d\r\n" % (key, flags, len(data) - 2, cas))
                else:
                    out.append(b"VALUE %s %d %d\r\n" % (key, flags, len(data) - 2))
                out.append(data)
        out.append(END)
        self._kept = len(out)  # memcached sends a finished get at once

    # -- storage -----------------------------------------------------------------------
    def store(
        self,
        mode: Any,
        key: bytes,
        flags: int,
        exptime: int,
        value: bytes | memoryview,
        cas: int | None,
        noreply: bool,
    ) -> None:
        mask = self.ctx.watchers.mask
        if mask & LOG_FETCHERS:
            self._log_get(key)  # do_store_item looks the old item up first
        res = self.engine.store(mode, key, flags, exptime, value, cas)
        name = _name(res)
        if not noreply:
            self._out.append(STORE_REPLY[name])
        if mask & LOG_MUTATIONS:
            self._log_store(mode, key, name, exptime, len(value), flags)

    def count_bad_block(self, key: bytes, flags: int, nbytes: int) -> None:
        """A data block without its CRLF: memcached has counted the set already."""
        self.engine.count_set(len(key), flags, nbytes)

    def _log_store(
        self, mode: Any, key: bytes, status: str, ttl: int, size: int, flags: int
    ) -> None:
        # the class of the item built from the request (memcached logs ITEM_clsid(it))
        cls = self.engine.item_clsid(len(key), flags, size + 2)
        self.ctx.watchers.log(
            LOG_MUTATIONS,
            f"type=item_store key={uriencode(key)} status={status.lower()} "
            f"cmd={_name(mode).lower()} ttl={ttl} clsid={cls} cfd={self.cfd} size={size}",
        )

    # -- other item commands -----------------------------------------------------------
    def cmd_delete(self, t: list[bytes], ntok: int) -> None:
        nr = False
        if ntok > 3:
            hold_zero = t[2] == b"0"
            nr = t[-1] == b"noreply"
            valid = (ntok == 4 and (hold_zero or nr)) or (ntok == 5 and hold_zero and nr)
            if not valid:
                return self._reply(DELETE_USAGE, nr)
        key = t[1]
        if len(key) > KEY_MAX_LENGTH:
            return self._reply(BAD_FORMAT, nr)
        ctx = self.ctx
        if ctx.detail_enabled:
            ctx.prefix_stats.record(key, ctx.settings.prefix_delimiter.encode(), 3)
        self._reply(b"DELETED\r\n" if self.engine.delete(key) else b"NOT_FOUND\r\n", nr)

    def cmd_delta(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        key = t[1]
        if len(key) > KEY_MAX_LENGTH:
            return self._reply(BAD_FORMAT, nr)
        delta = strtoull(t[2])
        if delta is None:
            return self._reply(BAD_DELTA, nr)
        res, value = self.engine.delta(key, t[0] == b"incr", delta)
        name = _name(res)
        if name == "OK":
            self._reply(bytes(value).rstrip(b" ") + b"\r\n", nr)
        elif name == "NON_NUMERIC":
            self._reply(NON_NUMERIC, nr)
        elif name == "NO_MEMORY":
            self._reply(b"SERVER_ERROR out of memory\r\n", nr)
        else:
            self._reply(b"NOT_FOUND\r\n", nr)

    def cmd_touch(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        key = t[1]
        if len(key) > KEY_MAX_LENGTH:
            return self._reply(BAD_FORMAT, nr)
        exptime = strtol32(t[2])
        if exptime is None:
            return self._reply(BAD_EXPTIME, nr)
        self._reply(b"TOUCHED\r\n" if self.engine.touch(key, exptime) else b"NOT_FOUND\r\n", nr)

    def cmd_flush_all(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        if not self.ctx.settings.flush_enabled:
            self._count_flush()  # memcached counts cmd_flush even when refused
            return self._reply(b"CLIENT_ERROR flush_all not allowed\r\n", nr)
        delay = 0
        if ntok != (3 if nr else 2):
            d = strtol32(t[1])
            if d is None:
                self._count_flush()  # counted before the delay is parsed
                return self._reply(BAD_EXPTIME, nr)
            delay = max(d, 0)
        self.engine.flush_all(delay)
        self._reply(OK, nr)

    def _count_flush(self) -> None:
        self.engine.count_flush()

    # -- misc --------------------------------------------------------------------------
    def cmd_version(self, t: list[bytes], ntok: int) -> None:
        self._out.append(b"VERSION %s\r\n" % VERSION.encode())

    def cmd_quit(self, t: list[bytes], ntok: int) -> None:
        self.closing = True

    def cmd_verbosity(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        level = strtoul32(t[1])
        if level is None:
            return self._reply(BAD_FORMAT, nr)
        self.ctx.set_verbosity(min(level, MAX_VERBOSITY))
        self._reply(OK, nr)

    def cmd_shutdown(self, t: list[bytes], ntok: int) -> None:
        if not self.ctx.settings.shutdown_enabled:
            self._out.append(b"ERROR: shutdown not enabled\r\n")
        elif ntok == 2:
            self.closing = True
            self.ctx.request_shutdown(False)
        elif ntok == 3 and t[1] == b"graceful":
            self.closing = True
            self.ctx.request_shutdown(True)
        else:
            self._out.append(b"CLIENT_ERROR invalid shutdown mode\r\n")

    def cmd_cache_memlimit(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        mb = strtoul32(t[1])
        if mb is None:
            return self._reply(ERROR, nr)
        if mb < 8:
            return self._reply(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", nr)
        if mb > 1000000000:
            msg = b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
            return self._reply(msg, nr)
        ok = self._admin("cache_memlimit", mb)
        if ok is False:
            msg = b"MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n"
            return self._reply(msg, nr)
        self._reply(OK, nr)

    # -- slabs / lru / lru_crawler -----------------------------------------------------
    def cmd_slabs(self, t: list[bytes], ntok: int) -> None:
        if ntok == 5 and t[1] == b"reassign":
            cfg_on = self._engine_setting("slab_reassign", self.ctx.settings.engine.slab_reassign)
            if not cfg_on:
                self._out.append(b"CLIENT_ERROR slab reassignment disabled\r\n")
                return
            src, dst = strtol32(t[2]), strtol32(t[3])
            if src is None or dst is None:
                self._out.append(BAD_FORMAT)
                return
            rv = _name(self._admin("slabs_reassign", src, dst))
            self._out.append(REASSIGN_REPLY.get(rv, ERROR))
        elif ntok >= 4 and t[1] == b"automove":
            nr = t[-1] == b"noreply"
            if t[2] == b"ratio":
                ratio = strtod(t[3]) if ntok >= 5 else None
                if ratio is None:
                    return self._reply(ERROR, nr)
                self._admin("set_automove_ratio", ratio)
            else:
                level = strtoul32(t[2])
                if level is None:
                    return self._reply(BAD_FORMAT, nr)
                if level > 2:
                    return self._reply(ERROR, nr)
                self._admin("slabs_automove", level)
            self._reply(OK, nr)
        else:
            self._out.append(ERROR)

    def cmd_lru(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        sub = t[1]
        maint = self._engine_setting(
            "lru_maintainer_thread", self.ctx.settings.engine.lru_maintainer
        )
        if sub == b"tune" and ntok >= 7:
            hot, warm = strtoul32(t[2]), strtoul32(t[3])
            hf, wf = strtod(t[4]), strtod(t[5])
            if hot is None or warm is None or hf is None or wf is None:
                return self._reply(ERROR, nr)
            if (hot + warm) & 0xFFFFFFFF > 80:
                return self._reply(b"ERROR hot and warm pcts must not exceed 80\r\n", nr)
            if wf <= 0 or hf <= 0:
                return self._reply(b"ERROR hot/warm age factors must be greater than 0\r\n", nr)
            self._admin("lru_tune", hot, warm, hf, wf)
            self._reply(OK, nr)
        elif sub == b"mode" and ntok >= 4 and maint:
            if t[2] not in (b"flat", b"segmented"):
                return self._reply(ERROR, nr)
            self._admin("lru_mode", t[2].decode())
            self._reply(OK, nr)
        elif sub == b"temp_ttl" and ntok >= 4 and maint:
            ttl = strtol32(t[2])
            if ttl is None:
                return self._reply(ERROR, nr)
            self._admin("lru_temp_ttl", ttl)
            self._reply(OK, nr)
        else:
            self._reply(ERROR, nr)

    def _engine_setting(self, name: str, default: Any) -> bool:
        v = self.engine.stats_settings().get(name, default)
        return v in ("yes", "on") if isinstance(v, str) else bool(v)

    @staticmethod
    def _class_ids(tok: bytes) -> list[int] | str | None:
        """`all`, `hash` (metadump) or a comma list of 1..63; None = BADCLASS."""
        if tok == b"all":
            return list(range(1, MAX_SLAB_CLASSES))
        if tok == b"hash":
            return "hash"
        ids = []
        for p in tok.split(b","):
            if not p:
                continue  # strtok skips empty fields
            sid = strtoul32(p)
            if sid is None or sid < 1 or sid >= MAX_SLAB_CLASSES:
                return None
            ids.append(sid)
        return ids

    def cmd_lru_crawler(self, t: list[bytes], ntok: int) -> None:
        out = self._out
        sub = t[1] if ntok > 2 else b""
        crawler_on = self._engine_setting("lru_crawler", self.ctx.settings.engine.lru_crawler)
        if ntok == 4 and sub in (b"crawl", b"metadump"):
            if not crawler_on:
                out.append(b"CLIENT_ERROR lru crawler disabled\r\n")
                return
            if sub == b"metadump":
                if not self.ctx.settings.dump_enabled:
                    out.append(b"ERROR metadump not allowed\r\n")
                    return
                if out:
                    out.append(b"ERROR cannot pipeline other commands before metadump\r\n")
                    return
            ids = self._class_ids(t[2])
            if ids is None or (ids == "hash" and sub == b"crawl"):
                out.append(CRAWLER_REPLY["BADCLASS"])
                return
            if sub == b"crawl":
                out.append(CRAWLER_REPLY.get(_name(self._admin("lru_crawler_crawl", ids)), ERROR))
                return
            rv = self._admin("lru_crawler_metadump", ids)
            if hasattr(rv, "name") or isinstance(rv, str):
                out.append(CRAWLER_REPLY.get(_name(rv), ERROR))
            else:
                self._dump = iter(rv)  # takes over the output until END
        elif ntok == 4 and sub == b"tocrawl":
            n = strtoul32(t[2])
            if n is None:
                out.append(BAD_FORMAT)
                return
            self._admin("lru_crawler_tocrawl", n)
            out.append(OK)
        elif ntok == 4 and sub == b"sleep":
            n = strtoul32(t[2])
            if n is None:
                out.append(BAD_FORMAT)
            elif n > 1000000:
                out.append(b"CLIENT_ERROR sleep must be one second or less\r\n")
            else:
                self._admin("lru_crawler_sleep", n)
                out.append(OK)
        elif ntok == 3 and sub == b"enable":
            ok = self._admin("lru_crawler_enable")
            out.append(OK if ok is not False else b"ERROR failed to start lru crawler thread\r\n")
        elif ntok == 3 and sub == b"disable":
            ok = self._admin("lru_crawler_disable")
            out.append(OK if ok is not False else b"ERROR failed to stop lru crawler thread\r\n")
        else:
            out.append(ERROR)

    def dump_chunk(self, limit: int = 256 * 1024) -> bytes:
        """Pull up to ~`limit` bytes of a running metadump; END\\r\\n closes it."""
        parts: list[bytes] = []
        size = 0
        it = self._dump
        while size < limit:
            line = next(it, None)
            if line is None:
                parts.append(END)
                self._dump = None
                break
            if isinstance(line, str):
                line = line.encode()
            if not line.endswith(b"\n"):
                line += b"\n"
            parts.append(line)
            size += len(line)
        return b"".join(parts)

    # -- watch -------------------------------------------------------------------------
    def cmd_watch(self, t: list[bytes], ntok: int) -> None:
        nr = t[-1] == b"noreply"
        if not self.ctx.settings.watch_enabled:
            return self._reply(b"CLIENT_ERROR watch commands not allowed\r\n", nr)
        if self._out:
            return self._reply(b"ERROR cannot pipeline other commands before watch\r\n", nr)
        kinds = 0
        if ntok > 2:
            for tok in t[1:]:
                k = WATCH_KINDS.get(tok)
                if k is None:
                    return self._reply(ERROR, nr)
                kinds |= k
        else:
            kinds = LOG_FETCHERS
        w = self.ctx.watchers.add(kinds)
        if w is None:
            self._out.append(b"WATCHER_TOO_MANY log watcher limit reached\r\n")
            return
        self._out.append(OK)
        self.watcher = w

    # -- stats -------------------------------------------------------------------------
    def cmd_stats(self, t: list[bytes], ntok: int) -> None:
        out = self._out
        eng = self.engine
        ctx = self.ctx
        if ntok == 2:
            es = eng.stats_settings() if hasattr(eng, "stats_settings") else {}
            general = eng.stats_general() if hasattr(eng, "stats_general") else {}
            if "cmd_meta" not in general and hasattr(eng, "_g"):
                general = {**general, "cmd_meta": MetaOps(eng).meta_cmds()}
            sw = statsfmt.switches(ctx, es)
            out.append(statsfmt.general(general, ctx.server_stats(), sw))
            return
        sub = t[1]
        if sub == b"reset":
            if hasattr(eng, "stats_reset"):
                eng.stats_reset()
            ctx.stats_reset()
            out.append(b"RESET\r\n")
        elif sub == b"detail":
            arg = t[2] if ntok >= 4 else b""
            if arg in (b"on", b"off"):
                ctx.detail_enabled = arg == b"on"
                out.append(OK)
            elif arg == b"dump":
                out.append(ctx.prefix_stats.dump())
            else:
                out.append(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n")
        elif sub == b"settings":
            es = eng.stats_settings() if hasattr(eng, "stats_settings") else {}
            out.append(statsfmt.settings_lines(ctx, es))
        elif sub == b"cachedump":
            if not ctx.settings.dump_enabled:
                out.append(b"CLIENT_ERROR stats cachedump not allowed\r\n")
                return
            if ntok < 5:
                out.append(b"CLIENT_ERROR bad command line\r\n")
                return
            cid, limit = strtoul32(t[2]), strtoul32(t[3])
            if cid is None or limit is None:
                out.append(BAD_FORMAT)
                return
            if cid >= MAX_SLAB_CLASSES:
                out.append(b"CLIENT_ERROR Illegal slab id\r\n")
                return
            lines = self._admin("cachedump", cid, limit)
            out.append(b"".join(_crlf(x) for x in lines) + END)
        elif sub == b"conns":
            out.append(statsfmt.stat_lines(ctx.conn_stats()) + END)
        elif sub in (b"items", b"slabs", b"sizes"):
            pairs = self._admin("stats_" + sub.decode())
            out.append(statsfmt.stat_lines(pairs) + END)
        elif sub in (b"sizes_enable", b"sizes_disable"):
            rv = self._admin(sub.decode())
            if isinstance(rv, tuple):  # (status, error or None)
                status, err = rv
                rv = [("sizes_status", status)] + ([("sizes_error", err)] if err else [])
            elif not isinstance(rv, list):
                on = sub == b"sizes_enable"
                rv = [("sizes_status", "enabled" if on else "disabled")]
            out.append(statsfmt.stat_lines(rv))  # 1.6.18 sends no END here
        else:
            out.append(ERROR)


def _crlf(line: bytes | str) -> bytes:
    if isinstance(line, str):
        line = line.encode()
    return line if line.endswith(b"\r\n") else line + b"\r\n"


class _Unsupported(Exception):
    """The engine lacks an admin method (its part has not landed yet)."""
