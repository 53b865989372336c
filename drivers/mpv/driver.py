"""The HDMI player driver: one long-lived mpv per screen, driven over JSON IPC.

What "on screen" means here: ``show()`` sends ``loadfile <path> replace`` and waits for the
``playback-restart`` event that follows the ``start-file`` event carrying the playlist entry id
the loadfile reply returned. mpv emits ``playback-restart`` only after the VO has shown the
first frame, so that instant (read on ``ctx.clock.monotonic()`` by the IPC reader thread the
moment the event arrived) is the confirmed start. Events older than the loadfile reply and
events for other entries are never taken.

A clip's end is mpv's ``eof-reached`` property turning true (``--keep-open`` holds the last
frame instead of ending the file) or an ``end-file`` with reason ``eof`` for our entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NoReturn

from PIL import Image

from signage import render
from signage.driver import (
    ContentRejected,
    Driver,
    DriverContext,
    Health,
    ItemKind,
    ScreenSpec,
    ScreenUnavailable,
    Showable,
)

from .ipc import (
    CommandFailed,
    Event,
    IpcClosed,
    IpcError,
    IpcMode,
    IpcTimeout,
    MpvProcess,
    read_rss_mb,
    supports_ipc_client,
)
from .options import MpvOptions, build_argv, parse_options
from .probe import ProbeCache, ProbeError

#: switch latency assumed before the first measurement
DEFAULT_LATENCY_S = 0.1
#: weight of a new measurement in the latency EWMA
EWMA_ALPHA = 0.2
_EOF_OBSERVER = 1


@dataclass(slots=True)
class _Showing:
    entry_id: int | None
    kind: ItemKind | None  # None for the black frame of clear()
    started_at: float
    ended_at: float | None = None


def checked_media_path(spec: ScreenSpec, path: Path, label: str) -> Path:
    """``path`` resolved (symlinks followed) and required to be a readable regular file inside
    ``spec.media_root``. Raises ContentRejected otherwise; nothing reaches mpv before this."""
    root = spec.media_root.resolve()
    candidate = path if path.is_absolute() else root / path
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop
        raise ContentRejected(f"{label}: cannot resolve {path}: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise ContentRejected(f"{label}: {path} lies outside the media root {root}")
    if not resolved.is_file():
        raise ContentRejected(f"{label}: {path} is missing or not a regular file")
    if not os.access(resolved, os.R_OK):
        raise ContentRejected(f"{label}: {path} is not readable")
    return resolved


class MpvDriver(Driver):
    """mpv on an HDMI screen. Options: see docs/drivers/mpv.md."""

    name: ClassVar[str] = "mpv"

    def __init__(self, spec: ScreenSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts, problems = parse_options(spec.options)
        if problems:
            raise ValueError(f"screen {spec.screen_id}: " + "; ".join(problems))
        self.options: MpvOptions = opts
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.screen_id)[:48]
        #: private 0700 runtime directory: IPC socket, rendered slides, black frame
        self.runtime_dir = ctx.run_dir / "mpv" / (safe or "screen")
        self._player: MpvProcess | None = None
        self._ipc_mode: IpcMode | None = None
        self._current: _Showing | None = None
        self._latency: float | None = None
        self._render_tag: str | None = None

    # ---- validate time ---------------------------------------------------------------------
    @classmethod
    def check_options(cls, spec: ScreenSpec) -> list[str]:
        try:
            _, problems = parse_options(spec.options)
            if spec.width <= 0 or spec.height <= 0:
                problems.append(f"screen size {spec.width}x{spec.height}: must be positive")
            return problems
        except Exception as exc:  # the contract: never raise
            return [f"options: cannot be checked ({exc})"]

    @classmethod
    def check_text(cls, spec: ScreenSpec, text: str) -> list[str]:
        try:
            missing = render.missing_glyphs(text, render.SMOOTH_FONT)
        except render.FontNotFound as exc:
            return [str(exc)]
        if missing:
            chars = ", ".join(f"{c if c.isprintable() else ''} U+{ord(c):04X}".strip()
                              for c in missing)
            return [f"the slide font ({render.SMOOTH_FONT}) cannot draw: {chars}"]
        return []

    @classmethod
    def media_duration_s(cls, spec: ScreenSpec, path: Path) -> float | None:
        opts, _ = parse_options(spec.options)
        resolved = checked_media_path(spec, path, path.name)
        try:
            return ProbeCache(Path(opts.probe_cache)).duration_s(resolved)
        except ProbeError as exc:
            raise ContentRejected(str(exc)) from exc

    # ---- life cycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Start a fresh mpv (closing any previous one). Raises ScreenUnavailable."""
        self.close()
        exe = shutil.which(self.options.mpv_path)
        if exe is None:
            raise ScreenUnavailable(f"{self.options.mpv_path} not found: apt install mpv")
        self._ensure_private_dir(self.runtime_dir)
        if self._ipc_mode is None:
            want = self.options.ipc
            if want == "auto":
                want = "fd" if supports_ipc_client(exe) else "socket"
            self._ipc_mode = "fd" if want == "fd" else "socket"
        argv = build_argv(self.options, exe, screen_id=self.spec.screen_id,
                          width=self.spec.width, height=self.spec.height)
        player = MpvProcess(argv, mode=self._ipc_mode, runtime_dir=self.runtime_dir,
                            now=self.ctx.clock.monotonic,
                            start_timeout_s=self.options.start_timeout_s,
                            reply_timeout_s=self.options.reply_timeout_s)
        try:
            player.start()
            player.command(["get_property", "mpv-version"],
                           timeout_s=self.options.start_timeout_s)
            player.command(["observe_property", _EOF_OBSERVER, "eof-reached"])
        except IpcError as exc:
            player.kill()
            raise ScreenUnavailable(f"mpv did not start ({self._ipc_mode} IPC): {exc}") from exc
        self._player = player
        self._current = None

    def close(self) -> None:
        player, self._player = self._player, None
        self._current = None
        if player is not None:
            player.close(grace_s=1.0)

    @property
    def pid(self) -> int | None:
        """Process id of the running mpv (None when closed)."""
        return self._player.pid if self._player is not None else None

    @property
    def ipc_mode(self) -> IpcMode | None:
        return self._ipc_mode

    @property
    def player(self) -> MpvProcess | None:
        """The running mpv and its IPC connection (diagnostics and tests)."""
        return self._player

    @property
    def current_entry_id(self) -> int | None:
        """mpv's playlist entry id of what show()/clear() last confirmed."""
        return self._current.entry_id if self._current is not None else None

    # ---- showing ---------------------------------------------------------------------------
    def show(self, item: Showable) -> float:
        label = f"item {item.item_id}"
        if item.kind is ItemKind.TEXT:
            media = self._slide(item, label)
        elif item.path is None:
            raise ContentRejected(f"{label}: {item.kind.value} item without a path")
        else:
            media = checked_media_path(self.spec, item.path, label)
        self._restart_if_bloated()
        showing = self._load(media, label, item.kind)
        return showing.started_at

    def clear(self) -> None:
        """A black frame, confirmed like any item. Raises ScreenUnavailable."""
        self._restart_if_bloated()
        try:
            self._load(self._black_frame(), "black frame", None)
        except ContentRejected as exc:
            raise ScreenUnavailable(f"cannot show a black frame: {exc}") from exc

    def poll_end(self) -> float | None:
        cur, player = self._current, self._player
        if cur is None or player is None or cur.kind is not ItemKind.CLIP:
            return None
        if cur.ended_at is None:
            for ev in player.pending_events():
                if _is_eof(ev, cur.entry_id):
                    cur.ended_at = ev.at
                    break
        return cur.ended_at

    @property
    def switch_latency_s(self) -> float:
        return DEFAULT_LATENCY_S if self._latency is None else self._latency

    def health(self) -> Health:
        player = self._player
        if player is None:
            return Health(False, "mpv not running (not opened, or closed after a failure)")
        if not player.alive():
            return Health(False, f"mpv exited (status {player.exit_status()})")
        try:
            player.command(["get_property", "pid"])
        except IpcError as exc:
            return Health(False, f"mpv does not answer: {exc}")
        rss = read_rss_mb(player.pid) if player.pid is not None else None
        rss_txt = f"{rss:.0f} MiB" if rss is not None else "unknown"
        return Health(True, f"mpv pid {player.pid}, {self._ipc_mode} IPC, RSS {rss_txt}, "
                            f"switch {self.switch_latency_s * 1000:.0f} ms")

    # ---- internals -------------------------------------------------------------------------
    def _load(self, media: Path, label: str, kind: ItemKind | None) -> _Showing:
        player = self._player
        if player is None or not player.alive():
            raise self._down(IpcClosed("mpv is not running"))
        player.pending_events()  # drop what is left of the previous item
        self._current = None
        t_send = self.ctx.clock.monotonic()
        try:
            data, reply_seq = player.command(
                {"name": "loadfile", "url": str(media), "flags": "replace"})
        except CommandFailed as exc:
            raise ContentRejected(f"{label}: mpv refused {media.name}: {exc.error}") from exc
        except IpcError as exc:
            raise self._down(exc) from exc
        entry = data.get("playlist_entry_id") if isinstance(data, dict) else None
        deadline = time.monotonic() + self.options.show_timeout_s
        ours = False
        while True:
            try:
                ev = player.next_event(deadline)
            except IpcClosed as exc:
                raise self._down(exc) from exc
            if ev is None:
                self._no_confirmation(player, label)
            if ev.seq < reply_seq:
                continue  # older than our loadfile: a previous item's event
            eid = ev.data.get("playlist_entry_id")
            if ev.name == "start-file":
                if entry is None:  # an mpv whose loadfile returns no id: first start is ours
                    entry = eid
                ours = eid == entry
            elif ev.name == "end-file" and eid == entry:
                raise self._ended_early(ev, label, media)
            elif ev.name == "playback-restart" and ours:
                showing = _Showing(entry, kind, ev.at)
                self._current = showing
                self._record_latency(ev.at - t_send)
                return showing
            elif ev.name == "shutdown":
                raise self._down(IpcClosed("mpv is shutting down"))

    def _ended_early(self, ev: Event, label: str, media: Path) -> Exception:
        reason = ev.data.get("reason")
        if reason == "quit":
            return self._down(IpcClosed("mpv quit while loading"))
        if reason == "error":
            why = ev.data.get("file_error", "unknown error")
            return ContentRejected(f"{label}: mpv cannot play {media.name}: {why}")
        if reason == "redirect":
            return ContentRejected(f"{label}: {media.name} is a playlist, not a media file")
        return ContentRejected(f"{label}: {media.name} ended before its first frame ({reason})")

    def _no_confirmation(self, player: MpvProcess, label: str) -> NoReturn:
        """No playback-restart in time: a hung player is down, a live one rejects the file."""
        try:
            player.command(["get_property", "pid"])
        except IpcError as exc:
            raise self._down(IpcTimeout(f"no confirmation and no reply: {exc}")) from exc
        raise ContentRejected(f"{label}: no first frame within "
                              f"{self.options.show_timeout_s:g} s")

    def _down(self, exc: IpcError) -> ScreenUnavailable:
        """Kill and forget the player; the runtime's open() starts a fresh one."""
        player, self._player = self._player, None
        self._current = None
        status = None
        if player is not None:
            player.kill()
            status = player.exit_status()
        tail = f" (exit status {status})" if status is not None else ""
        return ScreenUnavailable(f"mpv unavailable: {exc}{tail}")

    def _record_latency(self, sample: float) -> None:
        sample = max(0.0, sample)
        if self._latency is None:
            self._latency = sample
        else:
            self._latency += EWMA_ALPHA * (sample - self._latency)

    def _restart_if_bloated(self) -> None:
        """At an item boundary: restart mpv when its RSS passed max_rss_mb."""
        limit, player = self.options.max_rss_mb, self._player
        if limit is None or player is None or player.pid is None:
            return
        rss = read_rss_mb(player.pid)
        if rss is None or rss <= limit:
            return
        self.ctx.event("player_restart", {"reason": "rss", "rss_mb": round(rss, 1),
                                          "limit_mb": limit, "pid": player.pid})
        self.open()

    @staticmethod
    def _ensure_private_dir(path: Path) -> None:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                raise ScreenUnavailable(f"{path}: not a directory owned by this user")
            if stat.S_IMODE(st.st_mode) != 0o700:
                os.chmod(path, 0o700)
        except OSError as exc:
            raise ScreenUnavailable(f"cannot create runtime directory {path}: {exc}") from exc

    def _slide(self, item: Showable, label: str) -> Path:
        """The item's text rendered by signage.render as a PNG, cached by text and size."""
        text = item.text
        if not text.strip():
            raise ContentRejected(f"{label}: empty text")
        w, h = self.spec.width, self.spec.height
        key = hashlib.sha256(
            f"{self._renderer_tag()}|{w}x{h}|{int(item.anti_fraud)}|{text}".encode()
        ).hexdigest()[:32]
        path = self.runtime_dir / "slides" / f"{key}.png"
        if path.is_file():
            return path
        try:
            img = render.render_slide(text, w, h, anti_fraud=item.anti_fraud)
        except (render.FontNotFound, OSError, ValueError) as exc:
            raise ContentRejected(f"{label}: cannot render the slide: {exc}") from exc
        self._save_png(img, path)
        return path

    def _black_frame(self) -> Path:
        w, h = max(1, self.spec.width), max(1, self.spec.height)
        path = self.runtime_dir / f"black-{w}x{h}.png"
        if not path.is_file():
            self._save_png(Image.new("RGB", (w, h), (0, 0, 0)), path)
        return path

    def _save_png(self, img: Image.Image, path: Path) -> None:
        self._ensure_private_dir(path.parent)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
        except OSError as exc:
            raise ScreenUnavailable(f"cannot write in {path.parent}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                img.save(fh, format="PNG")
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise ScreenUnavailable(f"cannot write {path}: {exc}") from exc

    def _renderer_tag(self) -> str:
        """Digest of the renderer's source, so a changed renderer never serves stale slides."""
        if self._render_tag is None:
            try:
                src = Path(render.__file__).read_bytes()
            except OSError:
                src = b""
            self._render_tag = hashlib.sha256(src).hexdigest()[:12]
        return self._render_tag


def _is_eof(ev: Event, entry_id: int | None) -> bool:
    if ev.name == "property-change":
        return ev.data.get("id") == _EOF_OBSERVER and ev.data.get("data") is True
    if ev.name == "end-file":
        return ev.data.get("reason") == "eof" and ev.data.get("playlist_entry_id") == entry_id
    return False
