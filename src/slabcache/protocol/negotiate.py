"""Per-connection protocol choice, as memcached's -B makes it.

`auto`: the first byte decides (0x80 -> binary, anything else -> text and meta);
`ascii`: always text (binary bytes are read as text); `binary`: always binary (a first
byte other than 0x80 closes the connection, as does -S, which forces binary).
The server constructs this in place of a codec; until the first byte arrives it holds no
codec, afterwards it forwards everything to the chosen one.
"""

from __future__ import annotations

from typing import Any

from slabcache.protocol.binary import REQ_MAGIC, BinaryProtocol
from slabcache.protocol.context import LocalContext, ServerContext
from slabcache.protocol.text import TextProtocol


class NegotiatingProtocol:
    def __init__(
        self,
        engine: Any,
        ctx: ServerContext | None = None,
        cfd: int = 0,
        max_reqs: int = 0,
    ) -> None:
        self._engine = engine
        self._ctx = ctx if ctx is not None else LocalContext()
        self._cfd = cfd
        self._max_reqs = max_reqs
        self.codec: Any = None
        mode = self._ctx.settings.protocol
        if mode == "ascii":
            self._choose(TextProtocol)
        elif mode == "binary":
            self._choose(BinaryProtocol)

    def _choose(self, cls: type) -> None:
        self.codec = cls(self._engine, self._ctx, self._cfd, self._max_reqs)

    @property
    def protocol(self) -> str | None:
        """The chosen protocol: "binary", "ascii", or None (nothing received yet under -B auto)."""
        if self.codec is None:
            return None
        return "binary" if isinstance(self.codec, BinaryProtocol) else "ascii"

    def quick(self, data: bytes) -> bytes | None:
        return None  # the first read decides the protocol: it goes through receive_data

    def receive_data(self, data: bytes) -> None:
        codec = self.codec
        if codec is None:
            if not data:
                return
            self._choose(BinaryProtocol if data[0] == REQ_MAGIC else TextProtocol)
            codec = self.codec
        codec.receive_data(data)

    def data_to_send(self) -> bytes:
        return self.codec.data_to_send() if self.codec is not None else b""

    def resume(self) -> None:
        if self.codec is not None:
            self.codec.resume()

    @property
    def max_reqs(self) -> int:
        return self.codec.max_reqs if self.codec is not None else self._max_reqs

    @max_reqs.setter
    def max_reqs(self, n: int) -> None:
        self._max_reqs = n
        if self.codec is not None:
            self.codec.max_reqs = n

    @property
    def closing(self) -> bool:
        return self.codec is not None and self.codec.closing

    @property
    def pending(self) -> bool:
        return self.codec is not None and self.codec.pending

    @property
    def dumping(self) -> bool:
        return self.codec is not None and self.codec.dumping

    @property
    def reading_block(self) -> bool:
        return bool(getattr(self.codec, "reading_block", False))

    @property
    def swallowing(self) -> bool:
        return bool(getattr(self.codec, "swallowing", False))

    def __getattr__(self, name: str) -> Any:
        # anything else (watcher, tests' introspection) belongs to the chosen codec
        codec = self.__dict__.get("codec")
        if codec is None:
            raise AttributeError(name)
        return getattr(codec, name)
