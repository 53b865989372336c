"""A small client for mpv's JSON IPC: one long-lived mpv process, one connection.

Two transports, both a Unix stream socket speaking newline-delimited JSON:

* ``fd``: a ``socketpair()``; mpv gets one end as ``--input-ipc-client=fd://N``. No file in
  the file system, no connect race, and mpv quits by itself when the connection closes, so
  a crashed or killed daemon never leaves an orphan player on the screen. Needs an mpv that
  knows ``--input-ipc-client`` (0.35 does).
* ``socket``: ``--input-ipc-server=PATH`` in a private 0700 directory. The socket file can
  exist before mpv listens on it, so connecting retries until a deadline.

Every command carries a ``request_id``; one reader thread drains the connection all the time
(mpv drops events for a client whose queue overflows), hands replies to the waiting caller by
request id and queues events in wire order, each stamped with the caller's clock and a
sequence number. The sequence number tells which events came after a given reply.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import select
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from signage.i18n import _

IpcMode = Literal["fd", "socket"]
_READ_CHUNK = 65536


class IpcError(Exception):
    """Base of the IPC errors."""


class IpcClosed(IpcError):
    """The connection is gone: mpv exited, crashed or closed the socket."""


class IpcTimeout(IpcError):
    """mpv did not answer in time (hung, or stopped)."""


class CommandFailed(IpcError):
    """mpv answered with an error (e.g. "property unavailable")."""

    def __init__(self, command: object, error: str) -> None:
        super().__init__(_("mpv command {command} failed: {error}").format(
            command=repr(command), error=error))
        self.error = error


@dataclass(frozen=True, slots=True)
class Event:
    """One mpv event as read from the wire."""

    name: str
    data: Mapping[str, Any]
    at: float  # clock reading when the reader thread parsed it
    seq: int  # position among all messages read on this connection


@dataclass(slots=True)
class _Slot:
    done: threading.Event = field(default_factory=threading.Event)
    reply: Mapping[str, Any] | None = None
    seq: int = 0


class MpvProcess:
    """One mpv process and its IPC connection. Not reusable: start a new one after close()."""

    def __init__(self, argv: Sequence[str], *, mode: IpcMode, runtime_dir: Path,
                 now: Callable[[], float], start_timeout_s: float = 10.0,
                 reply_timeout_s: float = 2.0, history: int = 1024) -> None:
        self._argv = list(argv)
        self._mode = mode
        self._runtime_dir = runtime_dir
        self._now = now
        self.start_timeout_s = start_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _pending, _closed, _seq
        self._send_lock = threading.Lock()
        self._pending: dict[int, _Slot] = {}
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._closed = False
        self._close_reason = ""
        self._seq = 0
        self._history: deque[Event] = deque(maxlen=history)

    # ---- life cycle ------------------------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self._runtime_dir / "ipc.sock"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start mpv and connect. Raises IpcError (closed or timeout) when it cannot."""
        if self._mode == "fd":
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._proc = self._spawn([f"--input-ipc-client=fd://{theirs.fileno()}"],
                                         pass_fds=(theirs.fileno(),))
            except IpcError:
                ours.close()
                raise
            finally:
                theirs.close()  # only mpv holds that end now: its exit gives us EOF
            self._sock = ours
        else:
            path = self.socket_path
            if len(os.fsencode(path)) >= 104:
                raise IpcError(_("socket path too long for AF_UNIX ({path}); use a shorter "
                                 "run_dir or ipc = \"fd\"").format(path=path))
            path.unlink(missing_ok=True)
            self._proc = self._spawn([f"--input-ipc-server={path}"], pass_fds=())
            self._sock = self._connect(path, time.monotonic() + self.start_timeout_s)
        self._reader = threading.Thread(target=self._read_loop, name=f"mpv-ipc-{self.pid}",
                                        daemon=True)
        self._reader.start()

    def _spawn(self, ipc_args: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        argv = [*self._argv, *ipc_args]  # last: nothing earlier can redirect the IPC
        try:
            return subprocess.Popen(  # argument list, never a shell
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=pass_fds, close_fds=True,
            )
        except OSError as exc:
            raise IpcClosed(_("cannot start {argv}: {error}").format(
                argv=argv[0], error=exc)) from exc

    def _connect(self, path: Path, deadline: float) -> socket.socket:
        """The socket file may exist before mpv listens: retry until the deadline."""
        delay = 0.005
        last = _("socket not created")
        while True:
            code = self._proc.poll() if self._proc is not None else None
            if code is not None:
                raise IpcClosed(_("mpv exited with status {code} before accepting IPC").format(
                    code=code))
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except OSError as exc:
                sock.close()
                last = exc.strerror or str(exc)
            if time.monotonic() >= deadline:
                raise IpcTimeout(_("mpv did not listen on {path} in time ({last})").format(
                    path=path, last=last))
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def alive(self) -> bool:
        with self._lock:
            closed = self._closed
        return not closed and self._proc is not None and self._proc.poll() is None

    def exit_status(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def close(self, grace_s: float = 1.0) -> None:
        """Ask mpv to quit, kill it after ``grace_s``, reap it, drop the connection.
        Never raises."""
        proc = self._proc
        if proc is not None and proc.poll() is None and self.alive():
            try:
                self._send({"command": ["quit"], "request_id": next(self._ids)},
                           time.monotonic() + min(grace_s, 0.5))  # no need to wait for it
            except IpcError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                try:
                    proc.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass  # unkillable (D state); nothing more to do from here
        self._mark_closed(_("closed by driver"))
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        if self._mode == "socket":
            try:
                self.socket_path.unlink(missing_ok=True)
            except OSError:
                pass

    def kill(self) -> None:
        """Kill without asking (a hung player), then reap. Never raises."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.close(grace_s=2.0)

    # ---- commands --------------------------------------------------------------------------
    def command(self, command: Sequence[Any] | Mapping[str, Any],
                timeout_s: float | None = None) -> tuple[Any, int]:
        """Run one command; return (data, seq of the reply). ``command`` is a list
        (positional form) or a dict (named-argument form, ``{"name": ..., ...}``).
        Raises CommandFailed, IpcTimeout or IpcClosed."""
        rid = next(self._ids)
        slot = _Slot()
        with self._lock:
            if self._closed:
                raise IpcClosed(self._close_reason or _("connection closed"))
            self._pending[rid] = slot
        limit = self.reply_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        try:
            self._send({"command": command, "request_id": rid}, deadline)
            if not slot.done.wait(max(0.0, deadline - time.monotonic())):
                raise IpcTimeout(_("no reply from mpv to {command} within {limit} s").format(
                    command=_short(command), limit=f"{limit:g}"))
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        reply = slot.reply
        if reply is None:
            raise IpcClosed(self._close_reason or _("connection closed"))
        error = reply.get("error", "success")
        if error != "success":
            raise CommandFailed(_short(command), str(error))
        return reply.get("data"), slot.seq

    def _send(self, message: Mapping[str, Any], deadline: float) -> None:
        sock = self._sock
        if sock is None:
            raise IpcClosed(_("not connected"))
        data = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        with self._send_lock:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise IpcTimeout(_("mpv does not read its IPC connection"))
                try:
                    _r, writable, _x = select.select([], [sock], [], remaining)
                    if not writable:
                        continue
                    sent = sock.send(view, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
                except BlockingIOError:
                    continue
                except (OSError, ValueError) as exc:  # EPIPE, ECONNRESET, closed fd
                    self._mark_closed(_("IPC send failed: {error}").format(error=exc))
                    raise IpcClosed(_("IPC send failed: {error}").format(error=exc)) from exc
                view = view[sent:]

    # ---- events ----------------------------------------------------------------------------
    def next_event(self, deadline: float) -> Event | None:
        """The next queued event, waiting until ``deadline`` (time.monotonic()). None on
        timeout. Raises IpcClosed once the connection is gone and the queue is empty."""
        try:
            ev = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if ev is None:
            self._events.put(None)  # keep the end marker for later callers
            raise IpcClosed(self._close_reason or _("connection closed"))
        return ev

    def pending_events(self) -> list[Event]:
        """All events queued right now, without waiting (never raises)."""
        out: list[Event] = []
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return out
            if ev is None:
                self._events.put(None)
                return out
            out.append(ev)

    def recent_events(self) -> list[Event]:
        """The last events read (diagnostics and tests), oldest first; does not consume."""
        with self._lock:
            return list(self._history)

    # ---- reader thread ---------------------------------------------------------------------
    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = b""
        reason = _("mpv closed the IPC connection")
        try:
            while True:
                chunk = sock.recv(_READ_CHUNK)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._dispatch(line)
        except OSError as exc:
            reason = _("IPC read failed: {error}").format(error=exc)
        finally:
            code = self.exit_status()
            if code is not None:
                reason = _("{reason} (mpv exit status {status})").format(reason=reason,
                                                                         status=code)
            self._mark_closed(reason)

    def _dispatch(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            msg = json.loads(line.decode("utf-8", errors="replace"))
        except ValueError:
            return  # not JSON (should not happen); never let it kill the reader
        if not isinstance(msg, dict):
            return
        at = self._now()
        with self._lock:
            self._seq += 1
            seq = self._seq
            if "event" in msg:
                ev = Event(str(msg["event"]), msg, at, seq)
                self._history.append(ev)
                self._events.put(ev)
                return
            rid = msg.get("request_id")
            slot = self._pending.get(rid) if isinstance(rid, int) else None
        if slot is not None:
            slot.reply = msg
            slot.seq = seq
            slot.done.set()

    def _mark_closed(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_reason = reason
            waiting = list(self._pending.values())
        for slot in waiting:
            slot.done.set()  # reply stays None: the caller raises IpcClosed
        self._events.put(None)


def _short(command: Sequence[Any] | Mapping[str, Any]) -> str:
    if isinstance(command, Mapping):
        return str(command.get("name", "?"))
    return str(command[0]) if command else "?"


def read_rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB from /proc/PID/status (VmRSS), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    parts = line.split()
                    return int(parts[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def supports_ipc_client(mpv_binary: str, timeout_s: float = 10.0) -> bool:
    """Whether this mpv knows ``--input-ipc-client`` (asks ``mpv --list-options``)."""
    try:
        out = subprocess.run(  # argument list, no shell
            [mpv_binary, "--no-config", "--list-options"], capture_output=True,
            timeout=timeout_s, check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--input-ipc-client" in out
