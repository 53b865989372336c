"""``led`` driver: Onbon BX-5E boards over RS232/RS485 or TCP, through the dynamic area.

Every item is drawn by :mod:`signage.render`, packed 1 bit per LED and sent as one
"update dynamic area" (A7 00) request with ImmePlay = 1 (the board's stored programs stop and
only our area plays). Text that fits is one static page; wider text is cut into area-wide
pages that the board scrolls with "continuous move left".

On-screen instant: the moment the board's ACK has been decoded (``confirm = true``), or the
moment the frame has left the port (``confirm = false``), read on ``ctx.clock.monotonic()``.

Health: the board's last answer (an ACK to a show, or a ping reply) is the last instant the
driver can vouch for; ``health()`` pings (A2 00, one attempt) once that answer is ``ping_s``
old, and reports it as ``Health.as_of`` so the runtime never credits a showing past it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import ClassVar

from PIL import Image, ImageChops, UnidentifiedImageError

from signage import render
from signage.alerts import ALERT_CATEGORY
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
from signage.i18n import _
from signage.inspection import picture

from .area import AreaUpdate, DisplayMode, Page, RunMode, update_area_request
from .bitmap import (
    bitmap_size,
    blank,
    pack_bitmap,
    paginate,
    planes_for_image,
    planes_for_text,
    unpack_bitmap,
)
from .codec import ErrorCode, brightness_request
from .link import Board, Link, LinkDown, Nacked, NoReply, Outcome, wire_time_s
from .options import LedOptions, parse_options

EWMA_ALPHA = 0.3
BOARD_PROCESSING_S = 0.02  # first guess of the board's own time to ACK; replaced by measurement
REPLY_BYTES = 8 + 16 + 9 + 2 + 1  # an ACK frame on the wire (no escaping needed)


class LedDriver(Driver):
    name: ClassVar[str] = "led"

    def __init__(self, spec: ScreenSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        opts, problems = parse_options(spec.options, spec.width, spec.height)
        self._problems = problems
        self.opts: LedOptions = opts or LedOptions(port="", width=spec.width, height=spec.height)
        self._link = Link(self.opts.port, self.opts.baud)
        self._board = Board(self._link, address=self.opts.address,
                            device_type=self.opts.device_type, timeout_s=self.opts.timeout_s,
                            retries=self.opts.retries)
        self._latency = self.estimate_latency_s()
        self._measured = 0
        self._last_error = ""
        self.last_outcome: Outcome | None = None
        self._prepared: tuple[tuple[object, ...], AreaUpdate] | None = None
        self._prepared_wire: float | None = None  # wire time of the prepared frame
        self._wire_seen: float | None = None  # EWMA of the wire times behind self._latency
        #: ctx.clock.monotonic() of the board's last answer (ACK or ping reply): the last
        #: instant the board is known to have been there
        self._contact: float | None = None

    # ---- validate time -------------------------------------------------------------------
    @classmethod
    def check_options(cls, spec: ScreenSpec) -> list[str]:
        try:
            return parse_options(spec.options, spec.width, spec.height)[1]
        except Exception as exc:  # must never raise
            return ["options: " + _("cannot be checked ({error})").format(
                error=f"{type(exc).__name__}: {exc}")]

    @classmethod
    def media_duration_s(cls, spec: ScreenSpec, path: Path) -> float | None:
        """Called for clips only: an LED board cannot play them, which validate reports."""
        raise ContentRejected(_("{name}: an LED board cannot play video clips; use text or "
                                "images on LED screens").format(name=path.name))

    @classmethod
    def text_duration_s(cls, spec: ScreenSpec, text: str) -> float | None:
        """Scroll time when the text is wider than the board: (text px + board px) / px per s,
        i.e. from the first column entering on the right to the last leaving on the left.
        None (the item's own duration) when the text fits and stands still."""
        opts, _problems = parse_options(spec.options, spec.width, spec.height)
        if opts is None:
            return None
        width = render.text_width(text, opts.height, opts.font_pattern)
        if width <= opts.width:
            return None
        return (width + opts.width) / opts.scroll_px_per_s

    @classmethod
    def check_text(cls, spec: ScreenSpec, text: str) -> list[str]:
        opts, _problems = parse_options(spec.options, spec.width, spec.height)
        if opts is None:
            return []  # check_options reports the options
        try:
            return _text_problems(opts, text)
        except render.FontNotFound as exc:
            return [f"font: {exc}"]

    @classmethod
    def check_image(cls, spec: ScreenSpec, width: int, height: int) -> list[str]:
        opts, _problems = parse_options(spec.options, spec.width, spec.height)
        if opts is None:
            return []
        why = render.led_image_problem(width, height, opts.width, opts.height)
        return [why] if why else []

    # ---- run time --------------------------------------------------------------------------
    def estimate_latency_s(self) -> float:
        """Wire time of one full-board static frame and its ACK, plus a processing guess."""
        o = self.opts
        page = Page(bitmap=b"\xff" * bitmap_size(o.width, o.height, o.x, o.colors),
                    valid_len=o.width)
        frame = self._board.frame(update_area_request(self._area((page,), RunMode.HOLD_LAST)))
        reply = REPLY_BYTES if o.confirm else 0
        return wire_time_s(len(frame) + reply, o.baud) + BOARD_PROCESSING_S

    @property
    def switch_latency_s(self) -> float:
        """The measured latency, scaled to the prepared frame's size: wire time is most of
        it, and a 3-page slogan takes three times as long on the wire as one page."""
        if self._prepared_wire is None or self._wire_seen is None:
            return self._latency
        return max(0.0, self._latency + self._prepared_wire - self._wire_seen)

    def _wire_s(self, area: AreaUpdate) -> float:
        frame = self._board.frame(update_area_request(area, rtn_req=self.opts.confirm))
        reply = REPLY_BYTES if self.opts.confirm else 0
        return wire_time_s(len(frame) + reply, self.opts.baud)

    def open(self) -> None:
        if self._problems:
            raise ScreenUnavailable(_("led options: {problems}").format(
                problems="; ".join(self._problems)))
        if self.ctx.virtual:
            return
        self._contact = None
        try:
            self._link.open()
            self.ping()
            if self.opts.brightness is not None:
                self._board.command(brightness_request(self.opts.brightness))
        except (LinkDown, NoReply, Nacked) as exc:
            self._link.close()
            self._last_error = f"{self.opts.port}: {exc}"
            raise ScreenUnavailable(self._last_error) from exc
        self._last_error = ""

    def ping(self, *, retries: int | None = None) -> tuple[Outcome, float]:
        """Ping the board; (outcome, round trip in seconds). Raises LinkDown/NoReply/Nacked."""
        start = time.monotonic()
        outcome = self._board.ping(retries=retries)
        self._contact = self.ctx.clock.monotonic()  # the instant of the answer
        self.last_outcome = outcome
        self.last_attempts = max(self.last_attempts, outcome.attempts)
        return outcome, time.monotonic() - start

    def close(self) -> None:
        self._link.close()

    def prepare(self, item: Showable) -> None:
        """Render and pack the next item now, so that show() only has to send it."""
        try:
            self._prepared = (_key(item), self._build(item))
            self._prepared_wire = self._wire_s(self._prepared[1])
        except ContentRejected:
            self._prepared = None  # show() raises it again
            self._prepared_wire = None

    def frame_for(self, item: Showable) -> bytes:
        """The exact bytes show() would put on the wire for ``item`` (for benches and probes)."""
        data = update_area_request(self._build(item), rtn_req=self.opts.confirm)
        return self._board.frame(data)

    def show(self, item: Showable) -> float:
        start = self.ctx.clock.monotonic()
        prepared, self._prepared = self._prepared, None
        wire, self._prepared_wire = self._prepared_wire, None
        if prepared is not None and prepared[0] == _key(item):
            area = prepared[1]
        else:
            area = self._build(item)
            wire = None
        confirmed = self._send(area, start)
        if self.opts.confirm and not self.ctx.virtual:
            self._keep_frame(area)
        # the EWMA of latencies is for frames of about this wire time (see switch_latency_s)
        w = wire if wire is not None else self._wire_s(area)
        self._wire_seen = w if self._wire_seen is None else (
            self._wire_seen + EWMA_ALPHA * (w - self._wire_seen))
        return confirmed

    def _keep_frame(self, area: AreaUpdate) -> None:
        """The picture the board acknowledged (the first page of the area it ACKed), drawn as
        its dot matrix, for the console and the campaign summary: once per distinct bitmap in
        ``<run_dir>/frames/<screen>/<digest>.png``, and the current one linked as
        ``<run_dir>/frames/<screen>.png`` (docs/status-file.md). A view, never evidence; it
        never fails a showing."""
        o = self.opts
        try:
            page = area.pages[0]
            digest = hashlib.sha256(page.bitmap).hexdigest()[:16]
            root = self.ctx.run_dir / "frames"
            kept = root / self.spec.screen_id / f"{digest}.png"
            if not kept.exists():
                red, green = unpack_bitmap(page.bitmap, o.width, o.height, o.x, o.colors)
                lit = red if green is None else ImageChops.logical_or(red, green)
                colour = (255, 200, 0) if green is not None and o.color == "yellow" else (
                    (40, 220, 60) if green is not None and o.color == "green" else (255, 40, 20))
                img = render.dot_matrix(lit, width=o.width, pitch=max(2, min(8, 1024 // o.width)),
                                        color=colour)
                kept.parent.mkdir(parents=True, exist_ok=True)
                tmp = kept.with_name(f".{kept.name}.tmp")
                img.save(tmp, format="PNG")
                os.replace(tmp, kept)
            cur = root / f"{self.spec.screen_id}.png"
            tmp = root / f".{self.spec.screen_id}.png.tmp"
            tmp.unlink(missing_ok=True)
            os.link(kept, tmp)
            os.replace(tmp, cur)
        except Exception:  # a picture for people must never cost a showing
            return

    def clear(self) -> None:
        """An all-dark static page (deleting the area would let stored programs play)."""
        o = self.opts
        dark = pack_bitmap(*planes_for_text(blank(o.width, o.height), o.colors, o.color), x=o.x)
        page = Page(bitmap=dark, valid_len=o.width, display_mode=DisplayMode.STATIC,
                    speed=o.speed)
        self._send(self._area((page,), RunMode.HOLD_LAST), None)

    def health(self) -> Health:
        if self._problems:
            return Health(ok=False, detail="; ".join(self._problems))
        if self.ctx.virtual:
            return Health(ok=True, detail=_("virtual: nothing is sent"))
        if self._last_error:
            return Health(ok=False, detail=self._last_error)
        if not self._link.is_open:
            return Health(ok=False, detail=_("{port} is not open").format(port=self.opts.port))
        last = self._contact
        now = self.ctx.clock.monotonic()
        if self.opts.ping_s > 0 and (last is None or now - last >= self.opts.ping_s):
            try:
                self.ping(retries=0)  # one attempt: a board that is there answers at once
            except (LinkDown, NoReply, Nacked) as exc:
                if last is None:
                    self._fail(_("{port}: board did not answer a ping: {error}").format(
                        port=self.opts.port, error=exc))
                else:
                    self._fail(_("{port}: board did not answer a ping: {error}; its last answer "
                                 "was {s} s ago").format(port=self.opts.port, error=exc,
                                                         s=f"{now - last:.1f}"))
                return Health(ok=False, detail=self._last_error)
            last, now = self._contact, self.ctx.clock.monotonic()
        age = _("no answer yet") if last is None else _("last answer {s} s ago").format(
            s=f"{now - last:.1f}")
        return Health(ok=True, detail=f"{self.opts.port} @ {self.opts.baud}, {age}",
                      as_of=last)

    # ---- internals -------------------------------------------------------------------------
    def _build(self, item: Showable) -> AreaUpdate:
        if item.kind is ItemKind.CLIP:
            raise ContentRejected(_("{item}: an LED board cannot play video clips").format(
                item=item.item_id))
        if item.kind is ItemKind.TEXT:
            return self._text_area(item)
        return self._image_area(item)

    def _area(self, pages: tuple[Page, ...], run_mode: RunMode) -> AreaUpdate:
        o = self.opts
        return AreaUpdate(area_id=o.area_id, x=o.x, y=o.y, width=o.width, height=o.height,
                          pages=pages, run_mode=run_mode, imme_play=1)

    def _text_area(self, item: Showable) -> AreaUpdate:
        o = self.opts
        try:
            problems = _text_problems(o, item.text)
        except render.FontNotFound as exc:
            raise ContentRejected(f"{item.item_id}: {exc}") from exc
        if problems:
            raise ContentRejected(f"{item.item_id}: " + "; ".join(problems))
        stay = max(0, min(0xFFFF, round(item.duration_s * 100)))
        coded = picture.led_with_code(item.text, o.width, o.height, item.code,
                                      o.font_pattern) \
            if item.code is not None and item.category != ALERT_CATEGORY else None
        if coded is not None:  # the inspection code beside a static slogan
            packed = pack_bitmap(*planes_for_text(coded, o.colors, o.color), x=o.x)
            page = Page(bitmap=packed, valid_len=o.width, display_mode=DisplayMode.STATIC,
                        speed=o.speed, stay_10ms=stay)
            return self._checked(item, self._area((page,), RunMode.HOLD_LAST))
        # explicit line breaks are kept: a two-line slogan on a two-line board
        line = render.render_bitmap(item.text, o.width, o.height, o.font_pattern)
        if line.width <= o.width:
            packed = pack_bitmap(*planes_for_text(line, o.colors, o.color), x=o.x)
            page = Page(bitmap=packed, valid_len=o.width, display_mode=DisplayMode.STATIC,
                        speed=o.speed, stay_10ms=stay)
            return self._checked(item, self._area((page,), RunMode.HOLD_LAST))
        pages = tuple(
            Page(bitmap=pack_bitmap(*planes_for_text(img, o.colors, o.color), x=o.x),
                 valid_len=valid, display_mode=DisplayMode.CONTINUOUS_LEFT, speed=o.speed)
            for img, valid in paginate(line, o.width)
        )
        return self._checked(item, self._area(pages, RunMode.LOOP))

    def _image_area(self, item: Showable) -> AreaUpdate:
        o = self.opts
        path: Path | None = item.path
        if path is None:
            raise ContentRejected(_("{item}: image item without a file").format(
                item=item.item_id))
        try:
            img = render.open_image(path)  # size-checked before decoding
            planes = planes_for_image(img, o.width, o.height, o.colors)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError,
                ValueError) as exc:
            raise ContentRejected(_("{item}: cannot read image {file}: {error}").format(
                item=item.item_id, file=path.name, error=exc)) from exc
        page = Page(bitmap=pack_bitmap(*planes, x=o.x), valid_len=o.width,
                    display_mode=DisplayMode.STATIC, speed=o.speed,
                    stay_10ms=max(0, min(0xFFFF, round(item.duration_s * 100))))
        return self._checked(item, self._area((page,), RunMode.HOLD_LAST))

    def _checked(self, item: Showable, area: AreaUpdate) -> AreaUpdate:
        problems = area.check(self.opts.colors)
        if problems:
            raise ContentRejected(f"{item.item_id}: " + "; ".join(problems))
        return area

    def _send(self, area: AreaUpdate, start: float | None) -> float:
        """Send, confirm, and (for a switch, ``start`` given) measure its latency."""
        data = update_area_request(area, rtn_req=self.opts.confirm)
        if self.ctx.virtual:
            return self.ctx.clock.monotonic()
        if self._problems:
            raise ScreenUnavailable(_("led options: {problems}").format(
                problems="; ".join(self._problems)))
        if not self._link.is_open:
            raise ScreenUnavailable(_("{port} is not open").format(port=self.opts.port))
        try:
            self.last_outcome = self._board.command(data, confirm=self.opts.confirm)
        except LinkDown as exc:
            self._fail(str(exc))
            raise ScreenUnavailable(self._last_error) from exc
        except NoReply as exc:
            self._fail(f"{self.opts.port}: {exc}")
            raise ScreenUnavailable(self._last_error) from exc
        except Nacked as exc:
            if exc.response.error == ErrorCode.ERR_MEMORYVOLUME:
                raise ContentRejected(_("board memory exceeded: {error}").format(
                    error=exc)) from exc
            self._fail(_("{port}: {error} (check width/height/x/y/model/area_id)").format(
                port=self.opts.port, error=exc))
            raise ScreenUnavailable(self._last_error) from exc
        confirmed = self.ctx.clock.monotonic()
        outcome = self.last_outcome
        self.last_attempts = max(self.last_attempts, outcome.attempts)
        if outcome.response is not None:  # an ACK (confirm = false: nothing came back)
            self._contact = confirmed
        if outcome.attempts > 1:
            self.ctx.event("led_resend", {"attempts": outcome.attempts,
                                          "problems": list(outcome.problems)})
        if start is not None:
            self._observe(confirmed - start)
        self._last_error = ""
        return confirmed

    def _fail(self, message: str) -> None:
        self._link.close()
        self._last_error = message

    def _observe(self, seconds: float) -> None:
        self._measured += 1
        if self._measured == 1:
            self._latency = seconds
        else:
            self._latency += EWMA_ALPHA * (seconds - self._latency)


def _key(item: Showable) -> tuple[object, ...]:
    """What the prepared frame depends on (an image file changed since is re-read)."""
    mtime = None
    if item.path is not None and item.kind is ItemKind.IMAGE:
        try:
            mtime = item.path.stat().st_mtime_ns
        except OSError:
            mtime = -1
    return (item.item_id, item.kind, item.text, item.path, mtime, item.duration_s,
            item.code.text if item.code is not None else None)


def _text_problems(opts: LedOptions, text: str) -> list[str]:
    clean = render.sanitize(text)
    if not clean.strip():
        return [_("text: empty after removing control characters")]
    font = opts.font_pattern
    problems = [
        _("text: {char} (U+{code}) is not in font {font} ({file})").format(
            char=repr(ch), code=f"{ord(ch):04X}", font=repr(font),
            file=render.find_font(font).name)
        for ch in render.missing_glyphs(clean, font)
    ]
    lines = render.led_lines_problem(text, opts.height)
    if lines:
        problems.append(f"text: {lines}")
        return problems
    width = render.text_width(text, opts.height, font)
    if width > opts.width:
        pages = -(-width // opts.width)
        size = pages * bitmap_size(opts.width, opts.height, opts.x, opts.colors)
        if size > 300 * 1024:
            problems.append(_("text: {width} px wide needs {size} bytes, over the board's "
                              "300 KiB dynamic-area limit").format(width=width, size=size))
    return problems
