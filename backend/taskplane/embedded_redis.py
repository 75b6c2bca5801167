"""An embedded Redis-protocol server for `taskplane dev`: fakeredis's TCP server (with Lua,
from the `fakeredis[lua]` extra) in threads of the calling process.

Children (api, scheduler, worker) reach it over TCP like any Redis, so the same code paths
run in dev as in production. Everything lives in memory and is gone when the process exits.
"""

from __future__ import annotations

import select
import socket
import threading
from types import TracebackType
from typing import Any

import redis
from fakeredis import TcpFakeServer
from fakeredis._clients._tcp_server import TCPFakeRequestHandler

_POLL_SECONDS = 0.01


def _error_reply(exc: redis.ResponseError) -> bytes:
    """The RESP error line of an error reply, with its code (NOSCRIPT, WRONGTYPE, ERR ...)."""
    code = getattr(exc, "status_code", None)
    text = str(exc.args[0]) if exc.args else str(exc)
    line = f"{code} {text}" if code else text
    if not line.split(" ", 1)[0].isupper():
        line = f"ERR {line}"
    return ("-" + line.replace("\r", " ").replace("\n", " ") + "\r\n").encode()


class _RequestHandler(TCPFakeRequestHandler):
    """fakeredis's handler closes the connection after any error reply; a real server
    keeps it open (redis-py relies on that: EVALSHA -> NOSCRIPT -> EVAL on one connection).
    Same loop, but an error reply is written and the connection goes on."""

    def handle(self) -> None:
        client: Any = self.current_client
        while not self.server._shutdown_event.is_set():
            try:
                if client.can_read():
                    try:
                        response = client.read_response()
                    except redis.ResponseError as exc:
                        self.writer.write(_error_reply(exc))
                        self.writer.writer.flush()
                        continue
                    self.writer.dump(response)
                    continue
                data = self.rfile.readline()
                if data == b"":
                    readable, _, _ = select.select([self.connection], [], [], _POLL_SECONDS)
                    if not readable:
                        continue
                    data = self.rfile.readline()
                    if data == b"":
                        break
                client.get_socket().sendall(data)
            except ConnectionError:
                break
            except Exception as exc:  # the server thread must survive a bad client
                self.writer.dump(exc)
                break


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it next)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A fakeredis TCP server on ``host:port`` (a free port when 0), served by a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server: TcpFakeServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        server = TcpFakeServer((self.host, self.port), server_type="redis")
        server.RequestHandlerClass = _RequestHandler
        # connection threads must not keep the process alive once the supervisor exits
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
