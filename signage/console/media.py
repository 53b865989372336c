"""Uploaded images and clips: hostile until checked, then previewed on every screen.

The checks are the loader's own (signage/mediacheck.py, the rule `signage validate` applies to
every media file), run on the upload before a byte lands in the media root, after two of the
console's: the size limit, and the type from the content (Pillow's header parse for images,
never the name; a clip by its extension, then ffprobe). For images the pixel count is checked
from the header before any decoding (render.open_image: a decompression bomb is refused
without being decompressed); clips are measured and their first frame decoded with ffmpeg
under a time limit. Only then is the file written (temporary name, rename) under
``<media root>/uploads/``.

The preview is what the simulator driver draws for the item on each screen, at the screen's
geometry (an LED screen as its dot matrix), so a site manager sees it before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .. import mediacheck, render
from ..driver import DriverContext, ItemKind, Showable
from ..i18n import _
from ..load import LoadedSite, screen_spec

IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
CLIP_EXT = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".ts"}
FRAME_TIMEOUT_S = 20.0


@dataclass
class Checked:
    ok: bool
    problems: list[str] = field(default_factory=list)
    kind: str = ""  # "image" or "clip"
    ext: str = ""
    width: int = 0
    height: int = 0
    first_frame: bytes = b""  # PNG of the decoded first frame


def check_upload(data: bytes, name: str, max_bytes: int) -> Checked:
    """Every check on an upload; ``problems`` say what is wrong and what is allowed."""
    if len(data) > max_bytes:
        return Checked(False, [_("file too large: {size} MB; at most {max} MB").format(
            size=f"{len(data) / 1e6:.1f}", max=max_bytes // 1_000_000)])
    if not data:
        return Checked(False, [_("empty file")])
    fmt = _image_format(data)
    with tempfile.TemporaryDirectory(prefix="signage-upload-") as tmp:
        if fmt is not None:
            return _check_image(Path(tmp), data, fmt)
        ext = Path(name).suffix.lower()
        if ext not in CLIP_EXT:
            return Checked(False, [_("not an image or a clip we can read; images: PNG, JPEG, "
                                     "WebP, GIF, BMP; clips: {exts}").format(
                                         exts=", ".join(sorted(CLIP_EXT)))])
        return _check_clip(Path(tmp), data, ext)


def _image_format(data: bytes) -> str | None:
    """Pillow's name for the image format from the header only (no decoding); "" for an
    image too large to even open (still an image: its check says why), None for no image."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format or ""
    except Image.DecompressionBombError:
        return ""
    except (OSError, ValueError, SyntaxError):
        return None


def _check_image(tmp: Path, data: bytes, fmt: str) -> Checked:
    if fmt and fmt not in IMAGE_FORMATS:
        return Checked(False, [_("image type {type} not allowed; use PNG, JPEG, WebP, GIF "
                                 "or BMP").format(type=fmt)])
    src = tmp / "upload"
    src.write_bytes(data)
    got = mediacheck.check_image(src)
    if not got.ok:
        return Checked(False, [got.problem])
    img = render.open_image(src).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Checked(True, kind="image", ext=IMAGE_FORMATS.get(fmt, ".png"), width=got.width,
                   height=got.height, first_frame=buf.getvalue())


def _check_clip(tmp: Path, data: bytes, ext: str) -> Checked:
    src = tmp / f"upload{ext}"
    src.write_bytes(data)
    got = mediacheck.check_clip(src)
    if not got.ok:
        return Checked(False, [got.problem])
    out = tmp / "first.png"
    try:  # the first frame as a picture, for the preview (the check above decoded it)
        subprocess.run([shutil.which("ffmpeg") or "/usr/bin/ffmpeg", "-nostdin", "-v",
                        "error", "-threads", "1", "-i", f"file:{src}", "-frames:v", "1",
                        "-y", str(out)], capture_output=True, timeout=FRAME_TIMEOUT_S,
                       check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass
    frame = out.read_bytes() if out.is_file() else b""
    return Checked(True, kind="clip", ext=ext, width=got.width, height=got.height,
                   first_frame=frame)


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

    if not frame_png:
        return {}
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
