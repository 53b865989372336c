"""The HDMI player driver: one long-lived mpv per screen, driven over JSON IPC.

What "on screen" means here: ``show()`` sends ``loadfile <path> replace`` and waits for two
things about the entry the loadfile reply named: the ``playback-restart`` event that follows
its ``start-file``, and mpv's own log line ``first video frame after restart shown`` (module
``cplayer``, level ``v``, received over IPC with ``request_log_messages``) after the
``Opening done: <path>`` line of that file. mpv writes that line only once the video output
has drawn a frame of the file; ``playback-restart`` alone also comes for a file whose video
reaches its end before any frame decodes (``video=eof``: a valid container with a garbage
payload, a file cut after its ``mdat`` header), which therefore is never confirmed. The start
is the earlier of the two instants (read on ``ctx.clock.monotonic()`` by the IPC reader thread
the moment each arrived): both come after the frame was drawn. Events older than the loadfile
reply and events for other entries are never taken.

A clip's end is mpv's ``eof-reached`` property turning true (``--keep-open`` holds the last
frame instead of ending the file) or an ``end-file`` with reason ``eof`` for our entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NoReturn

from signage import render
from signage.driver import (
    ContentRejected,
    Driver,
    DriverContext,
    Health,
    InspectionCode,
    ItemKind,
    ScreenSpec,
    ScreenUnavailable,
    Showable,
)
from signage.i18n import _
from signage.inspection import picture

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
from .media import SlideFiles, checked_media_path, ensure_private_dir, sweep_stale_overlays
from .options import MpvOptions, build_argv, parse_options
from .probe import ProbeCache, ProbeError

#: switch latency assumed before the first measurement
DEFAULT_LATENCY_S = 0.1
#: weight of a new measurement in the latency EWMA
EWMA_ALPHA = 0.2
_EOF_OBSERVER = 1
#: mpv's log line (cplayer, level v) written once the VO has drawn the first frame of a file
#: or after a seek; mpv 0.35.1 player/video.c. The only signal over IPC that a frame is drawn.
FRAME_SHOWN = "first video frame after restart shown"
#: written when a file's video ends; before FRAME_SHOWN it means no frame ever decoded
VIDEO_EOF = "video EOF reached"
#: mpv's overlay id of the inspection code (overlay-add / overlay-remove)
OVERLAY_ID = 0
#: where the code's overlay pixels go (RAM-backed); shared by all users, hence checked
SHM_DIR = Path("/dev/shm")  # noqa: S108 - a 0700 directory of ours, checked at use


@dataclass(slots=True)
class _Showing:
    entry_id: int | None
    kind: ItemKind | None  # None for the black frame of clear()
    started_at: float
    ended_at: float | None = None


def runtime_name(screen_id: str) -> str:
    """The screen's runtime directory name: its id when that is short enough for the IPC
    socket's AF_UNIX path (ids are 1-64 of [A-Za-z0-9_.-], config.py), else a 39-character
    prefix and 8 hex digits of the id's SHA-256, so that two long ids with the same beginning
    never share a directory, an IPC socket or an overlay file."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in screen_id)
    if safe == screen_id and len(safe) <= 48:
        return safe or "screen"
    digest = hashlib.sha256(screen_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:39]}-{digest}"


class MpvDriver(Driver):
    """mpv on an HDMI screen. Options: see docs/drivers/mpv.md."""

    name: ClassVar[str] = "mpv"

    def __init__(self, spec: ScreenSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts, problems = parse_options(spec.options)
        if problems:
            raise ValueError(f"screen {spec.screen_id}: " + "; ".join(problems))
        self.options: MpvOptions = opts
        #: private 0700 runtime directory: IPC socket, rendered slides, black frame
        self.runtime_dir = ctx.run_dir / "mpv" / runtime_name(spec.screen_id)
        self._player: MpvProcess | None = None
        self._ipc_mode: IpcMode | None = None
        self._current: _Showing | None = None
        self._latency: float | None = None
        self._shot_at = -1e9  # monotonic time of the last screenshot
        self._files = SlideFiles(self.runtime_dir, spec.width, spec.height)
        self._overlay: str | None = None  # the code mpv draws now (its text)
        self._tile: tuple[str, picture.Box, Path] | None = None  # the last code's pixels
        self._swept = False  # stale overlay files of dead daemons removed (at the first open)

    SHM: ClassVar[Path] = SHM_DIR  # the shared RAM directory (a test points it at one of its own)

    # ---- validate time ---------------------------------------------------------------------
    @classmethod
    def check_options(cls, spec: ScreenSpec) -> list[str]:
        try:
            _opts, problems = parse_options(spec.options)
            if spec.width <= 0 or spec.height <= 0:
                problems.append(_("screen size {w}x{h}: must be positive").format(
                    w=spec.width, h=spec.height))
            return problems
        except Exception as exc:  # the contract: never raise
            return ["options: " + _("cannot be checked ({error})").format(error=exc)]

    @classmethod
    def check_text(cls, spec: ScreenSpec, text: str) -> list[str]:
        try:
            missing = render.missing_glyphs(text, render.SMOOTH_FONT)
        except render.FontNotFound as exc:
            return [str(exc)]
        if missing:
            chars = ", ".join(f"{c if c.isprintable() else ''} U+{ord(c):04X}".strip()
                              for c in missing)
            return [_("the slide font ({font}) cannot draw: {chars}").format(
                font=render.SMOOTH_FONT, chars=chars)]
        return []

    @classmethod
    def media_duration_s(cls, spec: ScreenSpec, path: Path) -> float | None:
        opts, _probs = parse_options(spec.options)
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
            raise ScreenUnavailable(_("{program} not found: apt install mpv").format(
                program=self.options.mpv_path))
        ensure_private_dir(self.runtime_dir)
        if not self._swept:  # once per driver: what a crashed daemon left behind
            self._swept = True
            for d in dict.fromkeys((self.runtime_dir, self._overlay_dir())):
                sweep_stale_overlays(d)
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
            # the proof of a drawn frame is a log line (see FRAME_SHOWN)
            player.command(["request_log_messages", "v"])
            vo_up = self._wait_for_vo(player)
        except IpcError as exc:
            player.kill()
            raise ScreenUnavailable(
                _("mpv did not start (exit status {status}, {ipc} IPC): {error}; command line: "
                  "{argv}").format(status=player.exit_status(), ipc=self._ipc_mode, error=exc,
                                   argv=shlex.join(argv))) from exc
        if not vo_up:
            player.kill()
            raise ScreenUnavailable(
                _("mpv started but its video output vo={vo} could not be opened (no "
                  "display/DRM device, or no permission: see docs/drivers/mpv.md); command "
                  "line: {argv}").format(vo=repr(self.options.vo), argv=shlex.join(argv)))
        self._player = player
        self._current = None
        self._overlay = None

    def _wait_for_vo(self, player: MpvProcess) -> bool:
        """With --force-window mpv opens its video output at start-up, then emits ``idle``.
        True once ``current-vo`` exists; False when start-up ended without one."""
        deadline = time.monotonic() + self.options.start_timeout_s
        idle_seen = False
        while True:
            if _vo_alive(player):
                return True
            if idle_seen or time.monotonic() >= deadline:
                return False
            ev = player.next_event(min(deadline, time.monotonic() + 0.05))
            idle_seen = ev is not None and ev.name == "idle"

    def close(self) -> None:
        player, self._player = self._player, None
        self._current = None
        self._overlay = None  # a new mpv starts without overlays
        if self._tile is not None:
            self._tile[2].unlink(missing_ok=True)
            self._tile = None
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
    def prepare(self, item: Showable) -> None:
        """Ahead of the switch: draw the slide laid out above the code area (once per text or
        image) and the code's overlay pixels (once per code), so that show() only loads."""
        if item.code is None:
            return
        with self.ctx.heavy:
            try:
                self._coded_media(item, f"item {item.item_id}", make=True)
                self._overlay_file(item.code)
            finally:
                render.release_fonts()  # the faces' font pages leave the daemon's RSS

    def show(self, item: Showable) -> float:
        label = f"item {item.item_id}"
        code = item.code
        options: str | None = None
        if code is not None:
            media, code, options = self._coded_media(item, label)
        elif item.kind is ItemKind.TEXT:
            media = self._files.slide(item.text, item.anti_fraud, label, item.category)
        elif item.path is None:
            raise ContentRejected(_("{label}: {kind} item without a path").format(
                label=label, kind=item.kind.value))
        else:
            media = checked_media_path(self.spec, item.path, label)
            too_large = render.header_problem(media) if item.kind is ItemKind.IMAGE else None
            if too_large:  # mpv would decode it whole: refuse before it is handed over
                raise ContentRejected(f"{label}: {too_large}")
        self._restart_if_bloated()
        if code is None and self._overlay is not None:
            self._remove_overlay()  # before the switch: nothing may cover what comes next
        showing = self._load(media, label, item.kind, options)
        if code is not None:  # after the confirmed start: the code never delays the switch
            self._add_overlay(code)
        self._screenshot(item.item_id)
        return showing.started_at

    def _coded_media(self, item: Showable, label: str, make: bool = False
                     ) -> tuple[Path, InspectionCode | None, str | None]:
        """What mpv loads for an item with a code, the code (None: this item cannot carry
        it) and per-file options: a slide or image laid out above the code area, a clip
        scaled into that part by a bottom margin (docs/drivers/mpv.md, "Inspection code").
        An image not fitted yet (not prepared) is shown whole without a code unless ``make``:
        the switch never decodes and redraws an image for a code."""
        code = item.code
        assert code is not None
        w, h = self.spec.width, self.spec.height
        if item.kind is ItemKind.TEXT:
            above = self._files.slide_above_code(item.text, item.anti_fraud, label,
                                                 item.category, code.size)
            if above is None:  # too long to stand above the code: whole, without it
                return self._files.slide(item.text, item.anti_fraud, label,
                                         item.category), None, None
            return above, code, None
        if item.path is None:
            raise ContentRejected(_("{label}: {kind} item without a path").format(
                label=label, kind=item.kind.value))
        media = checked_media_path(self.spec, item.path, label)
        if item.kind is ItemKind.IMAGE:
            too_large = render.header_problem(media)
            if too_large:
                raise ContentRejected(f"{label}: {too_large}")
            fitted = self._files.image_above_code(media, label, code.size, make)
            return (media, None, None) if fitted is None else (fitted, code, None)
        # rounded up: the clip's last row stays above the code area
        ratio = math.ceil(picture.code_area(w, h, code.size) * 10_000 / max(1, h)) / 10_000
        return media, code, f"video-margin-ratio-bottom={ratio:.4f}"

    def _overlay_file(self, code: InspectionCode) -> tuple[picture.Box, Path] | None:
        """The code's BGRA pixels in a private file (RAM-backed /dev/shm when there is one),
        written once per code; None when the screen is too small for a code."""
        if self._tile is not None and self._tile[0] == code.text:
            return self._tile[1], self._tile[2]
        path = self._overlay_dir() / f"code-{os.getpid()}.bgra"
        tmp = path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:  # band by band: never the whole tile in memory
                box = picture.write_code_overlay(code, self.spec.width, self.spec.height, fh)
            if box is None:
                tmp.unlink()
                return None
            os.replace(tmp, path)
        except OSError as exc:
            raise ScreenUnavailable(_("cannot write the code's overlay {path}: {error}").format(
                path=path, error=exc)) from exc
        self._tile = (code.text, box, path)
        return box, path

    def _overlay_dir(self) -> Path:
        shm = self.SHM
        if shm.is_dir() and os.access(shm, os.W_OK):
            d = shm / f"signage-{os.getuid()}" / self.runtime_dir.name
            try:
                ensure_private_dir(d.parent)
                ensure_private_dir(d)
                return d
            except ScreenUnavailable:  # e.g. another user made that name first (/dev/shm
                pass  # is shared): our private runtime directory, on disk, does as well
        ensure_private_dir(self.runtime_dir)
        return self.runtime_dir

    def _add_overlay(self, code: InspectionCode) -> None:
        """Put the code over what plays (mpv copies the pixels at ``overlay-add``). A player
        that refuses it shows the item without a code (an event says so): the showing stands."""
        player = self._player
        if player is None:
            return
        try:
            tile = self._overlay_file(code)  # ~1 ms when prepare() has not drawn it
            if tile is None:
                return
            box, path = tile
            player.command(["overlay-add", OVERLAY_ID, box.x, box.y, str(path), 0, "bgra",
                            box.side, box.side, box.side * 4])
            self._overlay = code.text
        except (CommandFailed, ScreenUnavailable) as exc:
            self._overlay = None
            self.ctx.event("inspection_code_not_shown", {"error": str(exc)[:300]})
        except IpcError as exc:
            raise self._down(exc) from exc

    def _remove_overlay(self) -> None:
        player = self._player
        self._overlay = None
        if player is None:
            return
        try:
            player.command(["overlay-remove", OVERLAY_ID])
        except CommandFailed:
            pass
        except IpcError as exc:
            raise self._down(exc) from exc

    @property
    def overlay_code(self) -> str | None:
        """The text of the code mpv draws over the screen now (None: no code)."""
        return self._overlay

    def clear(self) -> None:
        """A black frame, confirmed like any item. Raises ScreenUnavailable."""
        self._restart_if_bloated()
        if self._overlay is not None:
            self._remove_overlay()  # a closed screen shows no code (nor a stale one)
        try:
            self._load(self._files.black(), _("black frame"), None)
        except ContentRejected as exc:
            raise ScreenUnavailable(_("cannot show a black frame: {error}").format(
                error=exc)) from exc
        self._screenshot()

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
            return Health(False, _("mpv not running (not opened, or closed after a failure)"))
        if not player.alive():
            return Health(False, _("mpv exited (status {status})").format(
                status=player.exit_status()))
        try:
            player.command(["get_property", "pid"])
        except IpcError as exc:
            return Health(False, _("mpv does not answer: {error}").format(error=exc))
        cur = self._current
        if cur is not None and cur.kind is ItemKind.CLIP and (
                time.monotonic() - self._shot_at >= self.options.screenshot_every_s):
            self._screenshot()  # a clip's picture moves: refreshed at most this often
        rss = read_rss_mb(player.pid) if player.pid is not None else None
        rss_txt = f"{rss:.0f} MiB" if rss is not None else _("unknown")
        return Health(True, _("mpv pid {pid}, {ipc} IPC, RSS {rss}, switch {ms} ms").format(
            pid=player.pid, ipc=self._ipc_mode, rss=rss_txt,
            ms=f"{self.switch_latency_s * 1000:.0f}"))

    # ---- internals -------------------------------------------------------------------------
    def _screenshot(self, item_id: str | None = None) -> None:
        """The picture on screen for the console (docs/status-file.md): mpv itself writes
        ``<run_dir>/frames/<screen>.jpg`` (screenshot-to-file of the video, small JPEG) to a
        temporary name that is then renamed over it, so the daemon never holds or decodes an
        image. Taken after every confirmed switch and, while a clip plays, at most every
        ``screenshot_every_s`` from the health polls. The picture of a switch to an item is also
        linked as ``<run_dir>/frames/<screen>/<digest of the item id>.jpg`` (the newest of each
        item: as many files as items) for the campaign summary. A view, never evidence: it
        never fails or delays a showing's credit (show() has confirmed the start before it)."""
        player = self._player
        every = self.options.screenshot_every_s
        if player is None or every <= 0:
            return
        self._shot_at = time.monotonic()
        root = self.ctx.run_dir / "frames"
        tmp = root / f".{self.spec.screen_id}.{os.getpid()}.tmp.jpg"  # mpv: type by extension
        try:
            root.mkdir(parents=True, exist_ok=True)
            player.command(["screenshot-to-file", str(tmp), "video"])
            if item_id is not None:
                kept = root / self.spec.screen_id / (
                    hashlib.sha256(item_id.encode("utf-8", "replace")).hexdigest()[:16] + ".jpg")
                kept.parent.mkdir(exist_ok=True)
                link = kept.with_name(f".{kept.name}.tmp")
                link.unlink(missing_ok=True)
                os.link(tmp, link)
                os.replace(link, kept)
            os.replace(tmp, root / f"{self.spec.screen_id}.jpg")
        except (IpcError, OSError):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _load(self, media: Path, label: str, kind: ItemKind | None,
              options: str | None = None) -> _Showing:
        player = self._player
        if player is None or not player.alive():
            raise self._down(IpcClosed(_("mpv is not running")))
        player.pending_events()  # drop what is left of the previous item
        self._current = None
        t_send = self.ctx.clock.monotonic()
        try:
            cmd: dict[str, object] = {"name": "loadfile", "url": str(media), "flags": "replace"}
            if options:  # per-file: mpv drops them when the next file starts
                cmd["options"] = options
            data, reply_seq = player.command(cmd)
        except CommandFailed as exc:
            raise ContentRejected(_("{label}: mpv refused {file}: {error}").format(
                label=label, file=media.name, error=exc.error)) from exc
        except IpcError as exc:
            raise self._down(exc) from exc
        entry = data.get("playlist_entry_id") if isinstance(data, dict) else None
        try:
            showing = self._confirm(player, entry, reply_seq, media, label, kind)
        except ContentRejected:
            # mpv may still be busy with the file (a late first frame, a playlist's entries):
            # nothing may appear on screen that show() did not confirm.
            self._stop_quietly(player)
            raise
        self._record_latency(showing.started_at - t_send)
        self._current = showing
        return showing

    def _confirm(self, player: MpvProcess, entry: int | None, reply_seq: int, media: Path,
                 label: str, kind: ItemKind | None) -> _Showing:
        """Wait for the playback-restart that follows the start-file of ``entry`` and for mpv's
        log line saying the first frame of ``media`` was drawn (see the module docstring)."""
        deadline = time.monotonic() + self.options.show_timeout_s
        ours = False
        log_ours = False  # the log stream has reached our file ("Opening done: <path>")
        opened = f"Opening done: {media}"
        restart_at: float | None = None
        frame_at: float | None = None
        while True:
            if restart_at is not None and frame_at is not None:
                self._require_video(player, label, media)
                return _Showing(entry, kind, min(restart_at, frame_at))
            # Wake up at least every reply_timeout_s: a player that falls silent is pinged,
            # so a hang is found in about twice that, not only after show_timeout_s.
            wake = min(deadline, time.monotonic() + self.options.reply_timeout_s)
            try:
                ev = player.next_event(wake)
            except IpcClosed as exc:
                raise self._down(exc) from exc
            if ev is None:
                if time.monotonic() >= deadline:
                    self._no_confirmation(player, label, restart_at is not None)
                self._ping(player)
                continue
            if ev.seq < reply_seq:
                continue  # older than our loadfile: a previous item's event
            eid = ev.data.get("playlist_entry_id")
            if ev.name == "log-message":
                if ev.data.get("prefix") != "cplayer":
                    continue
                text = str(ev.data.get("text", "")).strip()
                if text == opened:
                    log_ours = True
                elif log_ours and text == FRAME_SHOWN and frame_at is None:
                    frame_at = ev.at
                elif log_ours and text == VIDEO_EOF and frame_at is None:
                    raise ContentRejected(_(
                        "{label}: {file} has no decodable frame (mpv reached the end of its "
                        "video before drawing one)").format(label=label, file=media.name))
            elif ev.name == "start-file":
                if entry is None:  # an mpv whose loadfile returns no id: first start is ours
                    entry = eid
                ours = eid == entry
            elif ev.name == "end-file" and eid == entry:
                try:
                    vo_up = _vo_alive(player)
                except IpcError as exc:
                    raise self._down(exc) from exc
                if not vo_up:
                    raise self._down(IpcClosed(_("mpv lost its video output")))
                raise self._ended_early(ev, label, media)
            elif ev.name == "playback-restart" and ours and restart_at is None:
                restart_at = ev.at
            elif ev.name == "shutdown":
                raise self._down(IpcClosed(_("mpv is shutting down")))

    def _ended_early(self, ev: Event, label: str, media: Path) -> Exception:
        reason = ev.data.get("reason")
        if reason == "quit":
            return self._down(IpcClosed(_("mpv quit while loading")))
        if reason == "error":
            why = ev.data.get("file_error") or _("unknown error")
            return ContentRejected(_("{label}: mpv cannot play {file}: {why}").format(
                label=label, file=media.name, why=why))
        if reason == "redirect":
            return ContentRejected(_("{label}: {file} is a playlist, not a media file").format(
                label=label, file=media.name))
        return ContentRejected(_("{label}: {file} ended before its first frame ({reason})")
                               .format(label=label, file=media.name, reason=reason))

    def _require_video(self, player: MpvProcess, label: str, media: Path) -> None:
        """A file without a video track (audio only) "starts" on a black window: refuse it,
        and stop it so its sound does not play on."""
        try:
            vid, _seq = player.command(["get_property", "vid"])
        except CommandFailed:
            vid = False
        except IpcError as exc:
            raise self._down(exc) from exc
        if vid is False or vid is None:
            raise ContentRejected(_("{label}: {file} has no picture (audio only)").format(
                label=label, file=media.name))

    def _stop_quietly(self, player: MpvProcess) -> None:
        """Best effort ``stop`` (idle, black window); a dead player shows up at the next call."""
        try:
            player.command(["stop"])
        except IpcError:
            pass

    def _ping(self, player: MpvProcess) -> None:
        """Raise ScreenUnavailable unless mpv answers within reply_timeout_s."""
        try:
            player.command(["get_property", "pid"])
        except IpcError as exc:
            raise self._down(IpcTimeout(_("mpv stopped answering while loading: {error}")
                                        .format(error=exc))) from exc

    def _no_confirmation(self, player: MpvProcess, label: str, restarted: bool) -> NoReturn:
        """No drawn frame in time: a hung player is down, a live one rejects the file."""
        self._ping(player)
        if restarted:
            raise ContentRejected(_("{label}: no first frame within {s} s (playback started, "
                                    "but mpv drew no frame)").format(
                label=label, s=f"{self.options.show_timeout_s:g}"))
        raise ContentRejected(_("{label}: no first frame within {s} s").format(
            label=label, s=f"{self.options.show_timeout_s:g}"))

    def _down(self, exc: IpcError) -> ScreenUnavailable:
        """Kill and forget the player; the runtime's open() starts a fresh one."""
        player, self._player = self._player, None
        self._current = None
        status = None
        if player is not None:
            player.kill()
            status = player.exit_status()
        if status is not None:
            return ScreenUnavailable(_("mpv unavailable: {error} (exit status {status})").format(
                error=exc, status=status))
        return ScreenUnavailable(_("mpv unavailable: {error}").format(error=exc))

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


def _vo_alive(player: MpvProcess) -> bool:
    """Whether mpv has a video output right now (``current-vo`` exists)."""
    try:
        player.command(["get_property", "current-vo"])
    except CommandFailed:
        return False
    return True


def _is_eof(ev: Event, entry_id: int | None) -> bool:
    if ev.name == "property-change":
        return ev.data.get("id") == _EOF_OBSERVER and ev.data.get("data") is True
    if ev.name == "end-file":
        return ev.data.get("reason") == "eof" and ev.data.get("playlist_entry_id") == entry_id
    return False
