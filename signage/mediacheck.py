"""Decode every image and clip once before it may play: a file with no decodable frame, or
one too large to decode safely, is refused by `signage validate`, naming the file.

An image is decoded with Pillow after its header's dimensions are checked against
``render.MAX_PIXELS`` / ``render.MAX_SIDE`` (the same caps the renderer applies at run time).
A clip's first video stream is measured with ffprobe, bounded the same way, and its first
frame is decoded with ffmpeg (``-frames:v 1 -f framemd5``): a clip counts as decodable only
when ffmpeg prints a checksum line for a decoded frame, so a container with a duration and no
decodable picture (random payload, a file cut after the ``mdat`` header) is refused.

Results are cached by the SHA-256 of the file's content in one JSON file (default
``var/cache/media-check.json`` next to config.toml): a file is decoded once, a replaced file
(new content) again. A damaged cache is ignored and rebuilt.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import UnidentifiedImageError

from . import render
from .digestcache import file_digest, load_entries, save_entries
from .i18n import _

#: bump when the checks change: older cache entries are then decoded again
CACHE_VERSION = 2
#: a decode that takes longer than this is refused (a hostile or broken file)
TIMEOUT_S = 60.0

Kind = Literal["image", "clip"]


@dataclass(frozen=True, slots=True)
class MediaCheck:
    ok: bool
    width: int = 0
    height: int = 0
    problem: str = ""  # why the file is refused ("" when ok); without the file's name


def _too_large(width: int, height: int) -> str:
    why = render.size_problem(width, height)
    return why or ""


def check_image(path: Path) -> MediaCheck:
    """Decode an image (no cache), through the renderer's own capped opener. Never raises
    on bad content."""
    try:
        img = render.open_image(path)
    except render.ImageTooLarge as exc:
        return MediaCheck(False, 0, 0, str(exc))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return MediaCheck(False, 0, 0, _("not a decodable image: {exc}").format(exc=exc))
    return MediaCheck(True, img.width, img.height)


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes] | str:
    try:
        return subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return _("decoding took longer than {s:g} s").format(s=TIMEOUT_S)
    except OSError as exc:
        return _("cannot run {exe}: {err}").format(exe=argv[0], err=exc.strerror or exc)


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def check_clip(path: Path) -> MediaCheck:
    """Measure and decode the first video frame of a clip (no cache). Never raises."""
    ffprobe, ffmpeg = shutil.which("ffprobe"), shutil.which("ffmpeg")
    if ffprobe is None or ffmpeg is None:
        return MediaCheck(False, 0, 0, _("ffmpeg/ffprobe not found: install ffmpeg "
                                         "(apt install ffmpeg) to check clips"))
    src = f"file:{path}"  # "file:" so a name with ':' is never taken for a protocol
    got = _run([ffprobe, "-v", "error", "-select_streams", "v:0", "-of", "json",
                "-show_entries", "stream=width,height", src])
    if isinstance(got, str):
        return MediaCheck(False, 0, 0, got)
    if got.returncode != 0:
        return MediaCheck(False, 0, 0, _("not a readable clip: {err}").format(
            err=_last_line(got.stderr) or _("ffprobe failed")))
    try:
        streams = json.loads(got.stdout).get("streams") or []
        w, h = int(streams[0]["width"]), int(streams[0]["height"])
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return MediaCheck(False, 0, 0, _("the clip has no video stream with a picture size"))
    why = _too_large(w, h)
    if why:
        return MediaCheck(False, w, h, why)
    got = _run([ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-i", src,
                "-map", "0:v:0", "-frames:v", "1", "-f", "framemd5", "-"])
    if isinstance(got, str):
        return MediaCheck(False, w, h, got)
    frames = [ln for ln in got.stdout.decode("ascii", "replace").splitlines()
              if ln.strip() and not ln.startswith("#")]
    if not frames:
        detail = _last_line(got.stderr)
        return MediaCheck(False, w, h, _("no video frame can be decoded from this clip; "
                                         "it would show nothing") +
                          (f" ({detail})" if detail else ""))
    return MediaCheck(True, w, h)


class MediaChecker:
    """Checks by content digest, persisted in one JSON file."""

    def __init__(self, cache_file: Path | None) -> None:
        self.cache_file = cache_file
        self.decoded = 0  # how many files were actually decoded (not from the cache)
        self._entries: dict[str, Any] | None = None
        self._dirty = False

    def check(self, path: Path, kind: Kind) -> MediaCheck:
        try:
            digest = file_digest(path)
        except OSError as exc:
            return MediaCheck(False, 0, 0, _("cannot read: {err}").format(
                err=exc.strerror or exc))
        entries = self._load()
        key = f"{kind}:{digest}"
        hit = entries.get(key)
        if isinstance(hit, dict):
            try:
                return MediaCheck(bool(hit["ok"]), int(hit["w"]), int(hit["h"]),
                                  str(hit["problem"]))
            except (KeyError, TypeError, ValueError):
                pass
        res = check_image(path) if kind == "image" else check_clip(path)
        self.decoded += 1
        entries[key] = {"ok": res.ok, "w": res.width, "h": res.height, "problem": res.problem,
                        "name": path.name}
        self._dirty = True
        return res

    def _load(self) -> dict[str, Any]:
        if self._entries is not None:
            return self._entries
        self._entries = {}
        if self.cache_file is None:
            return self._entries
        self._entries = load_entries(self.cache_file, CACHE_VERSION)
        return self._entries

    def save(self) -> None:
        """Atomic replace; a cache that cannot be written only costs a decode next time."""
        if not self._dirty or self.cache_file is None or self._entries is None:
            return
        if save_entries(self.cache_file, CACHE_VERSION, self._entries):
            self._dirty = False
