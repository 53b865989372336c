"""The simulator driver: renders with Pillow what the screen would show.

An LED screen appears as a dot matrix of its pixel size, an HDMI screen as a full slide, a clip
as a card with its name. Each screen's current frame is written to ``<run_dir>/sim/<id>.png``
and replaced atomically (a hard link, then a rename). Frames are PNG files because the console,
`signage summary` and the tests read them as pictures. A frame is rendered once per process
and picture, not once per screen: frames live in ``<run_dir>/sim/frames/.shared/``, named by
the digest of everything that makes the picture (the item's content, the screen's kind, size
and font), so two screens of one size showing the same slide (an urgent alert on every HDMI
screen at once) draw it once; a screen that wants a frame another one is drawing waits for
that drawing. Each screen's own ``sim/frames/<id>/`` holds a link to each frame it showed
(`signage summary`'s pictures). A frame with an inspection code is the screen's own. Under
``signage simulate`` (virtual clock) nothing is drawn: the confirmed instant is the virtual now.

Fault injection for drills and tests: ``fail_every_af = N`` rejects every N-th anti-fraud
item (as a missing clip would be rejected); ``latency_ms`` delays every confirmation (under
``signage simulate`` by advancing the virtual clock).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from signage import render
from signage.alerts import ALERT_CATEGORY
from signage.driver import (
    ContentRejected,
    Driver,
    DriverContext,
    Health,
    InspectionCode,
    ItemKind,
    ScreenSpec,
    Showable,
)
from signage.i18n import N_, _
from signage.inspection import picture

_OPTIONS: Mapping[str, str] = {
    "kind": N_('"led" (dot matrix) or "hdmi" (slides); default: led up to 64 px high'),
    "scroll_px_per_s": N_("a number > 0, LED scroll speed (default 32)"),
    "font": N_("a fontconfig pattern, e.g. \"Unifont\" or \"WenQuanYi Micro Hei\""),
    "frames": N_("true or false: write var/sim/<screen>.png (default true)"),
    "latency_ms": N_("a number >= 0: delay before confirming each switch (default 0)"),
    "fail_every_af": N_("an integer >= 0: reject every N-th anti-fraud item (default 0 = "
                        "never)"),
}


def _kind(spec: ScreenSpec) -> str:
    k = spec.options.get("kind")
    if isinstance(k, str):
        return k
    return "led" if spec.height <= 64 else "hdmi"


def _num(opts: Mapping[str, Any], key: str, default: float) -> float:
    v = opts.get(key, default)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _font(spec: ScreenSpec) -> str:
    f = spec.options.get("font")
    if isinstance(f, str) and f:
        return f
    return render.font_for_height(spec.height) if _kind(spec) == "led" else render.SMOOTH_FONT


class FrameStore:
    """The frames of one run directory, shared by the screens of one process: each drawn once.

    ``get(key, render)`` returns the frame's path, calling ``render`` only when no screen has
    drawn that frame yet; a second screen asking while the first draws waits for it (and
    draws itself if that drawing failed). Frames of an earlier process may be stale (the
    drawing code changed): the store empties its directory when it is first opened."""

    _open: ClassVar[dict[Path, FrameStore]] = {}
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._busy: dict[str, threading.Event] = {}
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.png"):
            old.unlink()

    @classmethod
    def at(cls, directory: Path) -> FrameStore:
        with cls._open_lock:
            store = cls._open.get(directory)
            if store is None:
                store = cls._open[directory] = cls(directory)
            return store

    def get(self, key: str, render: Callable[[], bytes]) -> Path:
        path = self.dir / f"{key}.png"
        while True:
            with self._lock:
                if key in self._ready and path.exists():
                    return path
                busy = self._busy.get(key)
                if busy is None:
                    busy = self._busy[key] = threading.Event()
                    break
            busy.wait()  # another screen draws it: then it is ready (or failed: draw it here)
        try:
            data = render()
            tmp = path.with_name(f".{key}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            with self._lock:
                self._ready.add(key)
        finally:
            with self._lock:
                del self._busy[key]
            busy.set()
        return path


#: the last alert slides laid out above the code area, without their code (per process):
#: text, width, height, code size, anti_fraud -> the slide, indexed (None: the alert does not
#: fit above the code, and is drawn whole, without one)
_BARE: dict[tuple[str, int, int, float, bool], Image.Image | None] = {}
_BARE_MAX = 2  # 0.9 MB each at 1280x720 (mode "P"); one alert on every HDMI screen needs one
_BARE_LOCK = threading.Lock()


def alert_with_code(text: str, width: int, height: int, code: InspectionCode,
                    anti_fraud: bool = True) -> Image.Image:
    """``picture.slide_with_code(text, width, height, code, category=ALERT_CATEGORY,
    indexed=True)``, pixel for pixel, with the slide laid out once per process and size.
    A coded frame is each showing's own (its code is new each time), but an alert's slide
    under the code is the same on every screen of one size and at every showing: it is laid
    out and drawn once, and each showing pastes its code on a copy."""
    key = (text, width, height, code.size, anti_fraud)
    with _BARE_LOCK:
        known = key in _BARE
        bare = _BARE.get(key)
    if not known:
        bare = picture.slide_above_code(text, width, height, code.size, anti_fraud=anti_fraud,
                                        category=ALERT_CATEGORY, indexed=True)
        with _BARE_LOCK:
            _BARE[key] = bare
            while len(_BARE) > _BARE_MAX:
                del _BARE[next(iter(_BARE))]
    if bare is None:  # does not fit above the code: the whole slide, no code (as slide_with_code)
        return render.render_slide(text, width, height, anti_fraud=anti_fraud,
                                   category=ALERT_CATEGORY, indexed=True)
    img = bare.copy()
    picture.place_code(img, code)
    return img


class SimulatorDriver(Driver):
    name: ClassVar[str] = "simulator"

    def __init__(self, spec: ScreenSpec, ctx: DriverContext) -> None:
        super().__init__(spec, ctx)
        self._frames_on = bool(spec.options.get("frames", True)) and not ctx.virtual
        self._latency_s = _num(spec.options, "latency_ms", 0.0) / 1000.0
        self._fail_every = int(_num(spec.options, "fail_every_af", 0))
        self._af_count = 0
        # rendered frames live on disk, not in memory: a switch hard-links one into place
        self._frames_dir = ctx.run_dir / "sim" / "frames" / spec.screen_id
        self._ready: set[str] = set()  # frames linked into _frames_dir
        self._coded: list[Path] = []  # frames with an inspection code: each used once
        self._out = ctx.run_dir / "sim" / f"{spec.screen_id}.png"
        self._open = False

    # ---- validate time -------------------------------------------------------------------
    @classmethod
    def check_options(cls, spec: ScreenSpec) -> list[str]:
        out: list[str] = []
        for key, value in spec.options.items():
            if key not in _OPTIONS:
                out.append(_("{key}: unknown option; allowed: {known}").format(
                    key=key, known=", ".join(_OPTIONS)))
                continue
            ok = True
            if key == "kind":
                ok = value in ("led", "hdmi")
            elif key == "scroll_px_per_s":
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            elif key in ("latency_ms",):
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            elif key == "fail_every_af":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            elif key == "frames":
                ok = isinstance(value, bool)
            elif key == "font":
                ok = isinstance(value, str) and bool(value)
                if ok:
                    try:
                        render.find_font(value)
                    except render.FontNotFound as exc:
                        out.append(f"font: {exc}")
                        continue
            if not ok:
                out.append(_("{key}: {value} is not allowed; expected {allowed}").format(
                    key=key, value=repr(value), allowed=_(_OPTIONS[key])))
        return out

    @classmethod
    def text_duration_s(cls, spec: ScreenSpec, text: str) -> float | None:
        if _kind(spec) != "led":
            return None
        speed = _num(spec.options, "scroll_px_per_s", 32.0)
        w = render.text_width(text, spec.height, _font(spec))
        if w <= spec.width:
            return None  # fits: shown static for the item's or the site's default time
        return (w + spec.width) / speed

    @classmethod
    def check_text(cls, spec: ScreenSpec, text: str) -> list[str]:
        out: list[str] = []
        if _kind(spec) == "led":
            lines = render.led_lines_problem(text, spec.height)
            if lines:
                out.append(lines)
        missing = render.missing_glyphs(render.sanitize(text), _font(spec))
        if missing:
            shown = " ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:8])
            out.append(_("the font {font} cannot draw {chars}").format(font=repr(_font(spec)),
                                                                      chars=shown))
        return out

    @classmethod
    def check_image(cls, spec: ScreenSpec, width: int, height: int) -> list[str]:
        if _kind(spec) != "led":
            return []
        why = render.led_image_problem(width, height, spec.width, spec.height)
        return [why] if why else []

    # ---- run time ------------------------------------------------------------------------
    def open(self) -> None:
        if self._frames_on:
            self._frames_dir.mkdir(parents=True, exist_ok=True)
            for old in self._frames_dir.glob("*.png"):  # frames of an earlier run may be stale
                old.unlink()
            self._ready.clear()  # (a reopen after the screen was down: they are gone)
        self._open = True

    def close(self) -> None:
        self._open = False

    def _frame(self, item: Showable) -> Path:
        """The rendered frame of ``item`` as a PNG file, rendered on first use (by this
        screen or by another of the same kind, size and font: FrameStore)."""
        code = item.code.text if item.code is not None else ""
        opts = self.spec.options
        key = hashlib.sha256(
            f"{item.kind.value}\0{item.item_id}\0{item.text}\0{item.path}\0{item.anti_fraud}"
            f"\0{item.category}\0{code}\0{_kind(self.spec)}\0{self.spec.width}x"
            f"{self.spec.height}\0{_font(self.spec)}\0{opts.get('scroll_px_per_s')}"
            .encode()).hexdigest()[:24]
        path = self._frames_dir / f"{key}.png"
        if key in self._ready:
            return path

        def draw() -> bytes:
            with self.ctx.heavy:
                try:
                    return self._render(item)
                finally:  # the faces' mapped font pages leave the daemon's RSS until the
                    render.release_fonts()  # next drawing (docs/benchmarks.md)

        if code:  # a code is this screen's own (and this showing's): drawn here, used once
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(draw())
            os.replace(tmp, path)
        else:
            shared = FrameStore.at(self._frames_dir.parent / ".shared").get(key, draw)
            tmp = path.with_suffix(".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(shared, tmp)
            os.replace(tmp, path)
        self._ready.add(key)
        if code:  # a code frame is shown once: keep the last few, not one per showing
            self._coded.append(path)
            while len(self._coded) > 3:
                old = self._coded.pop(0)
                self._ready.discard(old.stem)
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
        return path

    def preview(self, item: Showable) -> bytes:
        """The PNG this screen would show for ``item`` (the console's preview): the same
        drawing as a showing, without writing a frame. Raises ContentRejected."""
        return self._render(item)

    def _render(self, item: Showable) -> bytes:
        w, h = self.spec.width, self.spec.height
        led = _kind(self.spec) == "led"
        if item.kind is ItemKind.TEXT:
            led_code = led and item.code is not None and item.category != ALERT_CATEGORY
            coded = picture.led_with_code(item.text, w, h, item.code, _font(self.spec)) \
                if led_code and item.code is not None else None
            if coded is not None:
                img = render.dot_matrix(coded, width=w, pitch=max(2, min(8, 1024 // w)))
            elif led:
                bmp = render.render_bitmap(item.text, w, h, _font(self.spec))
                img = render.dot_matrix(bmp, width=w, pitch=max(2, min(8, 1024 // w)))
            elif item.code is not None and item.category == ALERT_CATEGORY:
                img = alert_with_code(item.text, w, h, item.code, item.anti_fraud)
            elif item.code is not None:
                img = picture.slide_with_code(item.text, w, h, item.code,
                                              anti_fraud=item.anti_fraud,
                                              category=item.category, indexed=True)
            else:
                img = render.render_slide(item.text, w, h, anti_fraud=item.anti_fraud,
                                          category=item.category, indexed=True)
        elif item.kind is ItemKind.IMAGE and item.code is not None and not led:
            p = self._check_file(item.path)
            try:
                img = picture.image_with_code(p, w, h, item.code)
            except (OSError, ValueError) as exc:
                raise ContentRejected(_("cannot decode image {path}: {error}").format(
                    path=p, error=exc)) from None
        elif item.kind is ItemKind.IMAGE:
            img = self._image(item.path, led)
        elif item.code is not None and not led:  # as mpv: the clip above the code area
            self._check_file(item.path)
            # the card drawn at the size it gets above the code area (not drawn whole in RGB
            # and shrunk: two full-screen copies less at the daemon's peak)
            avail = picture.content_height(w, h, item.code.size)
            card = render.clip_card(Path(str(item.path)).name, max(1, w * avail // h), avail,
                                    0.0)
            img = picture.fit_above_code(card, w, h, item.code.size)
            picture.place_code(img, item.code)
        else:
            self._check_file(item.path)
            img = render.clip_card(Path(str(item.path)).name, min(w, 1280), min(h, 720), 0.0,
                                   indexed=True)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def _check_file(self, path: Path | None) -> Path:
        if path is None or not os.path.isfile(path):  # (os.path: without pathlib's frames)
            raise ContentRejected(_("file not found: {path}").format(path=path))
        return path

    def _image(self, path: Path | None, led: bool) -> Image.Image:
        p = self._check_file(path)
        try:
            img = render.open_image(p).convert("RGB")  # size-checked before decoding
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ContentRejected(_("cannot decode image {path}: {error}").format(
                path=p, error=exc)) from None
        w, h = self.spec.width, self.spec.height
        img.thumbnail((w, h))
        canvas = render.blank("RGB", w, h)  # rows outside the picture never made resident
        canvas.paste(img, ((w - img.width) // 2, (h - img.height) // 2))
        if led:
            return render.dot_matrix(canvas.convert("1"), width=w, pitch=max(2, min(8, 1024 // w)))
        return canvas

    def prepare(self, item: Showable) -> None:
        if self._frames_on:
            try:
                self._frame(item)
            except ContentRejected:
                pass  # show() will reject it

    def show(self, item: Showable) -> float:
        if item.anti_fraud and self._fail_every:
            self._af_count += 1
            if self._af_count % self._fail_every == 0:
                raise ContentRejected(_("simulated rejection of {item_id} (fail_every_af)").format(
                    item_id=item.item_id))
        if self._frames_on:
            frame = self._frame(item)
            tmp = self._out.with_suffix(".png.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.link(frame, tmp)
            os.replace(tmp, self._out)
        elif item.kind is not ItemKind.TEXT:
            self._check_file(item.path)
        if self._latency_s:
            if not self.ctx.virtual:
                time.sleep(self._latency_s)
            else:  # the switch takes that long on the virtual clock too
                advance = getattr(self.ctx.clock, "advance_to", None)
                if advance is not None:
                    advance(self.ctx.clock.monotonic() + self._latency_s)
        return self.ctx.clock.monotonic()

    def clear(self) -> None:
        if self._frames_on:
            img = Image.new("RGB", (min(self.spec.width, 1280), min(self.spec.height, 720)))
            tmp = self._out.with_suffix(".png.tmp")
            img.save(tmp, format="PNG")
            os.replace(tmp, self._out)

    def health(self) -> Health:
        return Health(ok=self._open)
