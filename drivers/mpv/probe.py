"""Clip durations from ffprobe, cached by the SHA-256 of the file's content.

The cache is a small JSON file (``{"version": 1, "entries": {digest: {...}}}``) written
atomically; a damaged cache file is ignored and rebuilt. Keying by content means a renamed
clip is not probed again and a replaced clip (same name, new content) always is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signage.digestcache import file_digest, load_entries, save_entries
from signage.i18n import _

DEFAULT_CACHE = Path("var/cache/ffprobe.json")
CACHE_VERSION = 1
#: ffprobe format names of still-image demuxers: a file there has no duration of its own
_IMAGE_FORMATS = ("image2", "_pipe")


class ProbeError(Exception):
    """ffprobe could not read the file (missing, corrupt, unsupported, timed out)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    digest: str
    duration_s: float | None
    format_name: str
    has_video: bool

    @property
    def is_still_image(self) -> bool:
        return any(self.format_name == f or self.format_name.endswith(f)
                   for f in _IMAGE_FORMATS)


def run_ffprobe(path: Path, *, digest: str = "", ffprobe: str = "ffprobe",
                timeout_s: float = 20.0) -> ProbeResult:
    """Probe one file (no cache). Raises ProbeError naming the file."""
    exe = shutil.which(ffprobe)
    if exe is None:
        raise ProbeError(_("{ffprobe} not found: install ffmpeg (apt install ffmpeg)").format(
            ffprobe=ffprobe))
    argv = [exe, "-v", "error", "-of", "json",
            "-show_entries", "format=duration,format_name:stream=codec_type",
            f"file:{path}"]  # "file:" so a name with ':' is never taken for a protocol
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(_("{path}: ffprobe timed out after {timeout_s} s").format(
            path=path, timeout_s=f"{timeout_s:g}")) from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ProbeError(_("{path}: ffprobe failed: {value}").format(
            path=path, value=msg[-1] if msg else _("no output")))
    try:
        info = json.loads(proc.stdout)
        fmt = info.get("format", {})
        streams = info.get("streams", [])
    except (ValueError, AttributeError) as exc:
        raise ProbeError(_("{path}: unreadable ffprobe output").format(path=path)) from exc
    raw = fmt.get("duration")
    try:
        duration = float(raw) if raw not in (None, "N/A") else None
    except (TypeError, ValueError):
        duration = None
    has_video = any(isinstance(s, dict) and s.get("codec_type") == "video" for s in streams)
    return ProbeResult(digest, duration, str(fmt.get("format_name", "")), has_video)


class ProbeCache:
    """Probe results by content digest, persisted in one JSON file."""

    def __init__(self, cache_file: Path = DEFAULT_CACHE, *, ffprobe: str = "ffprobe",
                 timeout_s: float = 20.0) -> None:
        self.cache_file = cache_file
        self.ffprobe = ffprobe
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        #: how many times ffprobe actually ran through this object (for tests and logs)
        self.probes_run = 0

    def probe(self, path: Path) -> ProbeResult:
        """Cached probe. Raises ProbeError naming the file."""
        try:
            digest = file_digest(path)
        except OSError as exc:
            raise ProbeError(_("{path}: cannot read: {error}").format(
                path=path, error=exc.strerror or exc)) from exc
        with self._lock:
            entries = self._load()
            hit = entries.get(digest)
            if isinstance(hit, dict):
                try:
                    dur = hit.get("duration_s")
                    return ProbeResult(digest, float(dur) if dur is not None else None,
                                       str(hit["format_name"]), bool(hit["has_video"]))
                except (KeyError, TypeError, ValueError):
                    pass  # damaged entry: probe again
            result = run_ffprobe(path, digest=digest, ffprobe=self.ffprobe,
                                 timeout_s=self.timeout_s)
            self.probes_run += 1
            entries[result.digest] = {
                "duration_s": result.duration_s, "format_name": result.format_name,
                "has_video": result.has_video, "name": path.name,
            }
            self._save(entries)
            return result

    def duration_s(self, path: Path) -> float | None:
        """Duration of a clip; None for a still image. Raises ProbeError when the file cannot
        be probed or is neither a clip with a duration nor an image."""
        res = self.probe(path)
        if res.duration_s is not None and res.duration_s > 0 and not res.is_still_image:
            return res.duration_s
        if res.is_still_image:
            return None
        raise ProbeError(_("{path}: ffprobe found no duration (format {format_name})").format(
            path=path, format_name=repr(res.format_name)))

    def _load(self) -> dict[str, Any]:
        return load_entries(self.cache_file, CACHE_VERSION)

    def _save(self, entries: dict[str, Any]) -> None:
        """A cache that cannot be written only costs a probe next time."""
        save_entries(self.cache_file, CACHE_VERSION, entries)
