"""The serial side of the LED driver: a port (any pyserial URL) and the request/reply
discipline of the board (one request outstanding, bounded resends). Every read has a timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Protocol, cast

import serial

from .codec import (
    ErrorCode,
    FrameDecoder,
    FrameError,
    Packet,
    ProtocolError,
    Response,
    encode_frame,
    parse_response,
    ping_request,
)

try:  # termios.error is not an OSError: a hung-up tty raises it from tcflush/tcdrain
    import termios

    PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError,
                                                    termios.error)
except ImportError:  # pragma: no cover - not POSIX
    PORT_ERRORS = (serial.SerialException, OSError)

READ_SLICE_S = 0.02
RETRYABLE = (ErrorCode.ERR_BUSY, ErrorCode.ERR_CHECKSUM)


class LinkDown(Exception):
    """The port cannot be opened or failed under us (EIO, unplugged adapter, TCP reset)."""


class NoReply(Exception):
    """No usable reply within the timeout, after every resend."""


class Nacked(Exception):
    """The board refused the request with an error that a resend will not cure."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"board answered NACK {response.error} {response.error_name}")
        self.response = response


def wire_time_s(n_bytes: int, baud: int) -> float:
    """8N1: 10 bits on the line per byte."""
    return n_bytes * 10 / baud


class Port(Protocol):
    """What this module uses of a pyserial port (every serial_for_url class has it)."""

    write_timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


class Link:
    """A pyserial port opened from a URL: /dev/ttyUSB0, socket://host:5005, loop://, spy://…"""

    def __init__(self, url: str, baud: int) -> None:
        self.url = url
        self.baud = baud
        self._port: Port | None = None
        self.decoder = FrameDecoder()
        self._pending: list[Packet | FrameError] = []

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        self.close()
        try:
            port = serial.serial_for_url(
                self.url, baudrate=self.baud, bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                timeout=READ_SLICE_S, write_timeout=2.0)
        except PORT_ERRORS as exc:
            raise LinkDown(f"cannot open {self.url}: {exc}") from exc
        except ValueError as exc:  # a malformed URL
            raise LinkDown(f"cannot open {self.url}: {exc}") from exc
        self._port = cast(Port, port)
        self.decoder.reset()
        self._pending.clear()

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):
                port.close()

    def _require(self) -> Port:
        if self._port is None:
            raise LinkDown(f"{self.url} is not open")
        return self._port

    def send(self, frame: bytes) -> None:
        """Drop stale input, write the frame and wait until it has left the port."""
        port = self._require()
        try:
            port.reset_input_buffer()
            self.decoder.reset()
            self._pending.clear()
            # the kernel queues ~4 KiB; a bigger frame writes at line speed: allow for it
            port.write_timeout = 2.0 + 1.5 * wire_time_s(len(frame), self.baud)
            port.write(frame)
            port.flush()
        except serial.SerialTimeoutException as exc:
            self.close()
            raise LinkDown(f"write to {self.url} timed out (flow control stuck?)") from exc
        except PORT_ERRORS as exc:
            self.close()
            raise LinkDown(f"{self.url} failed while writing: {exc}") from exc

    def receive(self, deadline: float) -> Packet | FrameError | None:
        """The next decoded frame, or None when ``deadline`` (time.monotonic) passes."""
        port = self._require()
        while True:
            if self._pending:
                return self._pending.pop(0)
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = port.read(max(1, port.in_waiting))
            except PORT_ERRORS as exc:
                self.close()
                raise LinkDown(f"{self.url} failed while reading: {exc}") from exc
            if chunk:
                self._pending.extend(self.decoder.feed(chunk))


@dataclass(frozen=True, slots=True)
class Outcome:
    response: Response | None  # None when sent without confirmation
    attempts: int
    frame_bytes: int
    problems: tuple[str, ...] = ()


class Board:
    """One BX-5E on a link: addressing, timeouts and the resend policy.

    One request is outstanding at a time: a whole exchange (every resend and its reply) holds
    a lock, so a ping from another thread never lands between a frame and its ACK."""

    def __init__(self, link: Link, *, address: int, device_type: int, timeout_s: float,
                 retries: int) -> None:
        self.link = link
        self.address = address
        self.device_type = device_type
        self.timeout_s = timeout_s
        self.retries = retries
        self._exchange = threading.Lock()

    def frame(self, data: bytes) -> bytes:
        return encode_frame(data, dst=self.address, device_type=self.device_type)

    def ping(self, *, retries: int | None = None) -> Outcome:
        """Any well-formed reply means the board is there (manual §5.5.1)."""
        return self.command(ping_request(), confirm=True, any_reply=True, retries=retries)

    def command(self, data: bytes, *, confirm: bool = True, any_reply: bool = False,
                retries: int | None = None) -> Outcome:
        """Send a request; with ``confirm`` wait for the ACK, resending the whole frame on
        silence, a garbled reply, or NACK busy/CRC (``retries`` times, default the board's).
        Raises LinkDown, NoReply, Nacked."""
        with self._exchange:
            return self._command(data, confirm, any_reply,
                                 self.retries if retries is None else retries)

    def _command(self, data: bytes, confirm: bool, any_reply: bool, retries: int) -> Outcome:
        frame = self.frame(data)
        problems: list[str] = []
        attempts = retries + 1
        for attempt in range(1, attempts + 1):
            self.link.send(frame)
            if not confirm:
                return Outcome(None, attempt, len(frame))
            reply = self._await_reply(problems)
            if reply is None:
                continue
            if reply.is_ack or (any_reply and not reply.is_nack):
                return Outcome(reply, attempt, len(frame), tuple(problems))
            if not reply.is_nack:
                problems.append(f"unexpected {reply.describe()}")
                continue
            if reply.error not in RETRYABLE:
                raise Nacked(reply)
            problems.append(reply.describe())
            if reply.error == ErrorCode.ERR_BUSY and attempt < attempts:
                time.sleep(min(0.05 * attempt, self.timeout_s))
        raise NoReply(f"no ACK after {attempts} attempt(s): " + "; ".join(problems))

    def _await_reply(self, problems: list[str]) -> Response | None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            got = self.link.receive(deadline)
            if got is None:
                problems.append(f"no reply within {self.timeout_s:g} s")
                return None
            if isinstance(got, FrameError):
                problems.append(f"garbled reply ({got.reason})")
                return None
            try:
                return parse_response(got.data)
            except ProtocolError as exc:
                problems.append(f"malformed reply ({exc})")
                return None
