"""Uploaded images and clips: hostile until checked, then previewed on every screen.

Checks, in order, before a byte lands in the media root: the size limit; the type from the
content (Pillow's header parse for images, ffprobe for clips), never from the name; for images
the pixel count from the header, before any decoding (a decompression bomb is refused without
being decompressed); then the first frame is decoded (the whole image, or the clip's first
video frame through ffmpeg, with a time limit). Only then is the file written (temporary
name, rename) under ``<media root>/uploads/``.

The preview is what the simulator driver draws for the item on each screen, at the screen's
geometry (an LED screen as its dot matrix), so a site manager sees it before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..driver import DriverContext, ItemKind, Showable
from ..i18n import _
from ..load import LoadedSite, screen_spec

IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
CLIP_EXT = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".ts"}
#: the most pixels an uploaded image may have (8K x 6K): far above any screen here
MAX_PIXELS = 8192 * 6144
MAX_SIDE = 16384
PROBE_TIMEOUT_S = 20.0


@dataclass
class Checked:
    ok: bool
    problems: list[str] = field(default_factory=list)
    kind: str = ""  # "image" or "clip"
    ext: str = ""
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    first_frame: bytes = b""  # PNG of the decoded first frame


def check_upload(data: bytes, name: str, max_bytes: int) -> Checked:
    """Every check on an upload; ``problems`` say what is wrong and what is allowed."""
    if len(data) > max_bytes:
        return Checked(False, [_("file too large: {size} MB; at most {max} MB").format(
            size=f"{len(data) / 1e6:.1f}", max=max_bytes // 1_000_000)])
    if not data:
        return Checked(False, [_("empty file")])
    img = _check_image(data)
    if img is not None:
        return img
    return _check_clip(data, name)


def _check_image(data: bytes) -> Checked | None:
    """None when Pillow does not recognise an image format at all (maybe a clip)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            return Checked(False, [_("image refused: too many pixels (a decompression "
                                     "bomb); at most {max} pixels").format(max=f"{MAX_PIXELS:,}")])
        except Image.DecompressionBombWarning:
            return Checked(False, [_("image refused: too many pixels (a decompression "
                                     "bomb); at most {max} pixels").format(max=f"{MAX_PIXELS:,}")])
        except (OSError, ValueError, SyntaxError):
            return None
    with im:
        fmt = im.format or ""
        w, h = im.size
        if fmt not in IMAGE_FORMATS:
            return Checked(False, [_("image type {type} not allowed; use PNG, JPEG, WebP, GIF "
                                     "or BMP").format(type=fmt or "?")])
        if w * h > MAX_PIXELS or w > MAX_SIDE or h > MAX_SIDE:
            return Checked(False, [_("image refused: {w}×{h} pixels is too many (a "
                                     "decompression bomb?); at most {max} pixels and {side} "
                                     "per side").format(w=w, h=h, max=f"{MAX_PIXELS:,}",
                                                        side=MAX_SIDE)])
        try:
            im.seek(0)
            im.load()
            rgb = im.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            return Checked(False, [_("the image cannot be decoded: {error}").format(
                error=exc)])
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return Checked(True, kind="image", ext=IMAGE_FORMATS[fmt], width=w, height=h,
                   first_frame=buf.getvalue())


def _check_clip(data: bytes, name: str) -> Checked:
    ext = Path(name).suffix.lower()
    if ext not in CLIP_EXT:
        return Checked(False, [_("not an image or a clip we can read; images: PNG, JPEG, "
                                 "WebP, GIF, BMP; clips: {exts}").format(
                                     exts=", ".join(sorted(CLIP_EXT)))])
    with tempfile.TemporaryDirectory(prefix="signage-upload-") as tmp:
        src = Path(tmp) / f"upload{ext}"
        src.write_bytes(data)
        try:
            probe = subprocess.run(
                [shutil.which("ffprobe") or "/usr/bin/ffprobe", "-v", "error",
                 "-print_format", "json", "-show_streams", "-show_format", str(src)],
                capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Checked(False, [_("the clip cannot be probed: {error}").format(error=exc)])
        try:
            info = json.loads(probe.stdout or b"{}")
        except ValueError:
            info = {}
        video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
        if probe.returncode != 0 or not video:
            return Checked(False, [_("not a playable clip: no video stream found")])
        w, h = int(video[0].get("width") or 0), int(video[0].get("height") or 0)
        if w * h > MAX_PIXELS or w > MAX_SIDE or h > MAX_SIDE or w <= 0 or h <= 0:
            return Checked(False, [_("clip refused: {w}×{h} pixels; at most {max} pixels"
                                     ).format(w=w, h=h, max=f"{MAX_PIXELS:,}")])
        try:
            dur = float(info.get("format", {}).get("duration") or 0) or None
        except (TypeError, ValueError):
            dur = None
        out = Path(tmp) / "first.png"
        try:
            dec = subprocess.run(
                [shutil.which("ffmpeg") or "/usr/bin/ffmpeg", "-nostdin", "-v", "error",
                 "-i", str(src), "-frames:v", "1", "-y", str(out)],
                capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Checked(False, [_("the clip's first frame cannot be decoded: {error}"
                                     ).format(error=exc)])
        if dec.returncode != 0 or not out.is_file():
            err = dec.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            return Checked(False, [_("the clip's first frame cannot be decoded: {error}"
                                     ).format(error=err[0][:200])])
        return Checked(True, kind="clip", ext=ext, width=w, height=h, duration_s=dur,
                       first_frame=out.read_bytes())


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stored_name(name: str, data: bytes, ext: str) -> str:
    """uploads/<safe stem>-<sha256 8>.<ext>: no path from the client survives."""
    stem = _SAFE.sub("-", Path(name).stem).strip("-.")[:40] or "upload"
    return f"uploads/{stem}-{hashlib.sha256(data).hexdigest()[:8]}{ext}"


def store(media_root: Path, rel: str, data: bytes) -> Path:
    dst = media_root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dst)
    return dst


def previews(loaded: LoadedSite, frame_png: bytes, work: Path) -> dict[str, bytes]:
    """Per screen, the PNG the simulator draws for this picture at the screen's geometry."""
    from signage_drivers.simulator import SimulatorDriver

    work.mkdir(parents=True, exist_ok=True)
    src = work / "frame.png"
    src.write_bytes(frame_png)
    out: dict[str, bytes] = {}
    for sc in loaded.cfg.screens:
        spec = screen_spec(sc, loaded.site.media_root)
        kind = "led" if sc.driver == "led" or sc.height <= 64 else "hdmi"
        if sc.driver == "simulator":
            kind = str(sc.options.get("kind", kind))
        spec = dataclasses.replace(spec, options={"kind": kind, "frames": False})
        ctx = DriverContext(clock=_NoClock(), run_dir=work, event=lambda k, d: None,
                            virtual=True)
        drv = SimulatorDriver(spec, ctx)
        out[sc.id] = drv.preview(Showable("preview", ItemKind.IMAGE, 1.0, False, path=src))
    return out


class _NoClock:
    def monotonic(self) -> float:
        return 0.0

    def time(self) -> float:
        return 0.0

    def sleep_until(self, monotonic_deadline: float) -> None:
        return None
