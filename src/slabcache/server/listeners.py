"""Listening sockets, bound before the event loop starts (name resolution blocks).

memcached's rules: `-l` takes a list separated by `,` or `;` (repeated `-l` flags add to it);
each entry is `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `*` means every
interface. Every address a name resolves to gets its own socket. `-p 0` disables TCP and a
negative port asks for an ephemeral one. `-s path` replaces TCP with a unix socket whose file
permissions come from `-a`. `MEMCACHED_PORT_FILENAME` receives the bound ports.
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass

from slabcache.settings import Settings


class ListenError(Exception):
    """A listener could not be created; the message is what memcached prints."""


@dataclass
class Listener:
    sock: socket.socket
    kind: str  # "tcp" | "tcp6" | "unix"
    name: str  # memcached's conn address text: tcp:1.2.3.4:11211, tcp6:[::1]:11211, unix:/path

    @property
    def fd(self) -> int:
        return self.sock.fileno()


def split_listen(entries: list[str]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        out.extend(p.strip() for p in entry.replace(";", ",").split(",") if p.strip())
    return out


def parse_listen_entry(entry: str, default_port: int) -> tuple[str | None, int]:
    """`host[:port]` / `[v6][:port]` / bare v6 -> (host or None for any, port)."""
    if entry.startswith("notls:"):
        entry = entry[len("notls:") :]
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            raise ListenError(f'Invalid IPV6 address: "{entry}"')
        host, rest = entry[1:end], entry[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") and rest[1:] else default_port
        return host, port
    if entry.count(":") == 1:
        host, port_text = entry.split(":")
        return (None if host in ("*", "") else host), int(port_text) if port_text else default_port
    return (None if entry == "*" else entry), default_port


def tcp_name(sock: socket.socket) -> str:
    return sockaddr_name(sock.family, sock.getsockname())


def sockaddr_name(family: int, addr: object) -> str:
    """memcached's address text for `stats conns`."""
    if family == socket.AF_INET:
        host, port = addr[:2]  # type: ignore[index]
        return f"tcp:{host}:{port}"
    if family == socket.AF_INET6:
        host, port = addr[:2]  # type: ignore[index]
        return f"tcp6:[{host}]:{port}"
    if family == socket.AF_UNIX and addr:
        return f"unix:{addr}"
    return "?:<AF 0>"  # what memcached prints for an unnamed unix peer


def bind_tcp(settings: Settings) -> list[Listener]:
    if settings.port == 0:
        return []
    port = max(settings.port, 0)  # negative: ephemeral, as memcached's -p -1
    listeners: list[Listener] = []
    try:
        for entry in split_listen(settings.listen or ["*"]):
            host, eport = parse_listen_entry(entry, port)
            eport = max(eport, 0)
            try:
                infos = socket.getaddrinfo(
                    host, eport, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
                )
            except socket.gaierror as exc:
                raise ListenError(f"getaddrinfo(): {exc.strerror}") from exc
            for family, socktype, proto, _, addr in infos:
                sock = socket.socket(family, socktype, proto)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind(addr)
                    sock.listen(settings.backlog)
                except OSError as exc:
                    sock.close()
                    raise ListenError(
                        f"failed to listen on one of interface(s) {entry}: {exc.strerror}"
                    ) from exc
                sock.setblocking(False)
                kind = "tcp6" if family == socket.AF_INET6 else "tcp"
                listeners.append(Listener(sock, kind, tcp_name(sock)))
    except BaseException:
        close_all(listeners)
        raise
    return listeners


def bind_unix(path: str, mask: int, backlog: int) -> Listener:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)  # stale socket from a previous run
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The mask applies at bind time, as memcached does, so the file never exists with
    # wider permissions than asked for.
    old = os.umask(~mask & 0o777)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f'failed to listen on UNIX socket "{path}": {exc.strerror}') from exc
    finally:
        os.umask(old)
    sock.setblocking(False)
    return Listener(sock, "unix", f"unix:{path}")


def write_port_file(path: str, listeners: list[Listener]) -> None:
    """memcached's format: `TCP INET: <port>` / `TCP INET6: <port>`, written via `<path>.lck`."""
    tmp = path + ".lck"
    with open(tmp, "w") as fh:
        for lst in listeners:
            if lst.kind == "unix":
                continue
            family = "INET6" if lst.kind == "tcp6" else "INET"
            fh.write(f"TCP {family}: {lst.sock.getsockname()[1]}\n")
    os.replace(tmp, path)


def create_listeners(settings: Settings) -> list[Listener]:
    if settings.unix_socket:
        return [bind_unix(settings.unix_socket, settings.unix_mask, settings.backlog)]
    listeners = bind_tcp(settings)
    port_file = os.environ.get("MEMCACHED_PORT_FILENAME")
    if port_file:
        try:
            write_port_file(port_file, listeners)
        except OSError as exc:
            close_all(listeners)
            raise ListenError(f"Failed to write port file {port_file}: {exc.strerror}") from exc
    return listeners


def close_all(listeners: list[Listener]) -> None:
    for lst in listeners:
        lst.sock.close()
