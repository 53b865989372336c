"""A fake BX-5E board on a pseudo-terminal or a TCP port, for tests and installers.

It decodes frames with the same streaming decoder as the driver, answers per the manual, keeps
the dynamic area and renders it to a PNG, and can misbehave on request: busy NACKs, corrupt
replies, silence, and unplug/replug.

Unplug closes the pty master (the driver's next read or write fails with EIO) and removes the
``--link`` symlink, as a USB adapter's /dev/ttyUSB0 disappears. Replug makes a NEW pty and
points the same symlink at it — a real adapter comes back under the same path (given a
udev rule or a single adapter), so the driver's ``port`` names the symlink and its reopen
finds the board again.

Run it as a process::

    python -m signage_drivers.led.fakeboard --pty --link /tmp/x/board --png out.png \\
        --width 128 --height 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from signage import render

from .codec import DEVICE_TYPES, FrameDecoder, FrameError, Packet
from .emulator import BoardEmulator, Faults

POLL_S = 0.02


class FakeBoard:
    """Start it (``start()`` returns the port to give the driver), then inspect
    ``board.emulator`` or inject faults through ``board.faults``."""

    def __init__(self, *, width: int = 128, height: int = 16, colors: int = 1,
                 address: int = 1, device_type: int = DEVICE_TYPES["BX-5E1"],
                 baud: int = 0, png: Path | None = None, link: Path | None = None,
                 tcp_port: int | None = None, host: str = "127.0.0.1",
                 log: Callable[[str], None] | None = None) -> None:
        self.emulator = BoardEmulator(width=width, height=height, colors=colors,
                                      address=address, device_type=device_type, png=png)
        self.baud = baud  # > 0: emulate the line rate (10 bits per byte)
        self.link = link
        self.tcp_port = tcp_port
        self.host = host
        self.log = log
        self.slave_name = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._commands: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._line_free_at = 0.0

    @property
    def faults(self) -> Faults:
        return self.emulator.faults

    @property
    def port(self) -> str:
        """What the driver's ``port`` option should say."""
        if self.tcp_port is not None:
            return f"socket://{self.host}:{self.tcp_port}"
        return str(self.link) if self.link is not None else self.slave_name

    # ---- life cycle ------------------------------------------------------------------------
    def start(self) -> str:
        self._plug()
        self._thread = threading.Thread(target=self._run, name="fakeboard", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unplug()

    def __enter__(self) -> FakeBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        self._in_thread(self._unplug)

    def replug(self) -> None:
        self._in_thread(self._plug)

    def _in_thread(self, fn: Callable[[], None]) -> None:
        """fds are opened and closed only by the I/O thread (no fd reuse under a select)."""
        if self._thread is None or not self._thread.is_alive():
            fn()
            return
        done = threading.Event()
        self._commands.put((fn, done))
        if not done.wait(timeout=5):
            raise TimeoutError("fake board thread did not answer")

    def _plug(self) -> None:
        if self.tcp_port is not None:
            lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind((self.host, self.tcp_port))
            lst.listen(1)
            self.tcp_port = lst.getsockname()[1]
            self._listener = lst
        else:
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing, before anyone opens it
            self._master, self._slave = master, slave
            self.slave_name = os.ttyname(slave)
            if self.link is not None:
                tmp = self.link.with_name(self.link.name + ".new")
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(self.slave_name)
                tmp.replace(self.link)
        self._decoder.reset()
        self._say(f"fake board up on {self.port}"
                  + (f" ({self.slave_name})" if self.link is not None else ""))

    def _unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        for sock in (self._conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._conn = self._listener = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    # ---- I/O thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            while True:
                try:
                    fn, done = self._commands.get_nowait()
                except queue.Empty:
                    break
                try:
                    fn()
                finally:
                    done.set()
            try:
                self._poll_once()
            except OSError as exc:
                self._say(f"fake board I/O error: {exc}")
                self._drop_client()
                time.sleep(POLL_S)

    def _poll_once(self) -> None:
        fds: list[int] = []
        if self._master is not None:
            fds.append(self._master)
        elif self._conn is not None:
            fds.append(self._conn.fileno())
        elif self._listener is not None:
            fds.append(self._listener.fileno())
        if not fds:
            time.sleep(POLL_S)
            return
        ready, _w, _x = select.select(fds, [], [], POLL_S)
        if not ready:
            return
        if self._listener is not None and self._conn is None:
            conn, _addr = self._listener.accept()
            self._conn = conn
            self._decoder.reset()
            return
        chunk = self._read()
        if not chunk:
            self._drop_client()
            return
        self._pace(len(chunk))
        for event in self._decoder.feed(chunk):
            reply = self.emulator.handle(event)
            if self.log is not None:
                self._say(f"<- {_describe(event)}" + (" (no reply)" if reply is None else ""))
            if reply is not None:
                self._pace(len(reply))
                self._write(reply)

    def _read(self) -> bytes:
        if self._master is not None:
            return os.read(self._master, 65536)
        assert self._conn is not None
        return self._conn.recv(65536)

    def _write(self, data: bytes) -> None:
        if self._master is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._master, view):]
        elif self._conn is not None:
            self._conn.sendall(data)

    def _drop_client(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        self._decoder.reset()

    def _pace(self, n_bytes: int) -> None:
        """Hold the data until it would have crossed an 8N1 line at ``baud``."""
        if self.baud <= 0:
            return
        now = time.monotonic()
        self._line_free_at = max(self._line_free_at, now) + n_bytes * 10 / self.baud
        if self._line_free_at > now:
            time.sleep(self._line_free_at - now)

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log(render.sanitize(message))


def _describe(event: object) -> str:
    if isinstance(event, FrameError):
        return f"bad frame: {event.reason}"
    if isinstance(event, Packet):
        d = event.data
        return (f"request {d[1]:02X} {d[2]:02X} to {event.header.dst:04X}, "
                f"{len(d)} data bytes" if len(d) >= 3 else f"short request {d.hex(' ')}")
    return repr(event)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fakeboard", description="A fake Onbon BX-5E LED board.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="open a pseudo-terminal (default)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP (5005 is real)")
    p.add_argument("--host", default="127.0.0.1", help="TCP address to listen on")
    p.add_argument("--link", type=Path, help="stable symlink to the pty, for the driver's port")
    p.add_argument("--png", type=Path, help="write the board as a dot-matrix PNG on each update")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=16)
    p.add_argument("--colors", type=int, choices=(1, 2), default=1)
    p.add_argument("--address", type=lambda s: int(s, 0), default=1, help="screen number")
    p.add_argument("--model", default="BX-5E1", choices=sorted(DEVICE_TYPES))
    p.add_argument("--baud", type=int, default=0,
                   help="emulate this line rate (bytes take 10 bits); 0 = as fast as possible")
    p.add_argument("--busy", type=int, default=0, help="NACK busy to the first N requests")
    p.add_argument("--corrupt", type=int, default=0, help="corrupt the first N replies")
    p.add_argument("--silent", action="store_true", help="never answer")
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    board = FakeBoard(width=args.width, height=args.height, colors=args.colors,
                      address=args.address, device_type=DEVICE_TYPES[args.model],
                      baud=args.baud, png=args.png, link=args.link, tcp_port=args.tcp,
                      host=args.host, log=None if args.quiet else _print)
    board.faults.busy, board.faults.corrupt = args.busy, args.corrupt
    board.faults.silent = args.silent
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = board.start()
    print(f"port = {port!r}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        board.stop()
    return 0


def _print(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
