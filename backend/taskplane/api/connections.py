"""The api's HTTP connections: uvicorn's httptools protocol with the bounds it lacks, so no
single client can stall the api or hold a connection for nothing.

- **Head size and count**: a request head (request line and headers) larger than
  ``MAX_HEAD_BYTES`` or with more than ``MAX_HEADERS`` headers is refused with 431 and the
  connection closed. httptools itself has no limit: one 64 MiB header stalled the whole api
  for seconds while its parser grew the value.
- **Head timeout**: a connection must deliver a complete head within
  ``api_head_timeout_seconds`` of opening or of its previous response's end, else it is
  closed (slow-loris: a client dribbling a header byte at a time; a connection that never
  sends anything).
- **Write timeout**: a response whose client stops reading (the transport's buffer stays
  full) for ``api_write_timeout_seconds`` has its connection closed; the app sees a
  disconnect, so an event stream ends and frees its socket and kernel buffers.

The request body keeps its own limit (``api/limits.py``); idle keep-alive connections are
closed after uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
HEAD_TIMEOUT_SECONDS = 10.0  # defaults; the settings' api_head/write_timeout_seconds win
WRITE_TIMEOUT_SECONDS = 30.0
KEEP_ALIVE_SECONDS = 5


class _TooManyHeaders(Exception):
    """Raised in the parser's header callback: feed_data fails, uvicorn answers 400 through
    ``send_400_response``, which this protocol turns into the 431."""


def configure(*, head_timeout_seconds: float, write_timeout_seconds: float) -> None:
    """Set this process's timeouts from its settings (uvicorn builds the protocol itself,
    in each worker process: ``process.app_from_environment`` calls this there)."""
    BoundedHttpProtocol.head_timeout_seconds = head_timeout_seconds
    BoundedHttpProtocol.write_timeout_seconds = write_timeout_seconds


class BoundedHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with head size, head count, head timeout and write timeout.

    Bytes are counted from the end of the previous request (or the connection's start)
    until the parser reports the head complete; the check runs after each chunk is parsed,
    so a chunk that completes the head (with some body after it) is never refused.
    """

    head_timeout_seconds = HEAD_TIMEOUT_SECONDS
    write_timeout_seconds = WRITE_TIMEOUT_SECONDS

    _head_bytes = 0
    _header_count = 0
    _refusal: Exception | None = None
    _is_reading_head = True
    _head_timer: asyncio.TimerHandle | None = None
    _write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._is_reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._is_reading_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        # an exception raised in a parser callback arrives here as HttpParserCallbackError
        if isinstance(self._refusal, _TooManyHeaders):
            self._refuse_head()
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        self._header_count = 0
        self._refusal = None
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refusal = _TooManyHeaders()
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._is_reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._is_reading_head = True  # the next bytes are the next request's head
        self._head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        is_idle = not self.pipeline  # else a parsed request runs next: no head is awaited
        super().on_response_complete()
        if is_idle and not self.transport.is_closing():
            self._await_head()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self.write_timeout_seconds, self._close, "write timeout"
            )

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(
            self.head_timeout_seconds, self._close, "head timeout"
        )

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._write_timer = None

    def _close(self, reason: str) -> None:
        """Reset the connection: with SO_LINGER 0 the kernel drops what the client never
        read at once (a plain close would keep the full send buffer until it times out)."""
        if self.transport.is_closing():
            return
        self.logger.debug("connection reset: %s", reason)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _refuse_head(self) -> None:
        self._cancel_timers()
        body = b"request head too large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()
