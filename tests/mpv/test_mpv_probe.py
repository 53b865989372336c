"""Clip durations from the real ffprobe, cached by content digest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from signage_drivers.mpv.driver import MpvDriver
from signage_drivers.mpv.probe import ProbeCache, ProbeError, file_digest

from signage.driver import ContentRejected, ScreenSpec

from .conftest import Media


def test_durations_are_right(media: Media, tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path / "ffprobe.json")
    d1 = cache.duration_s(media.clip_1s)
    d2 = cache.duration_s(media.clip_2s)
    assert d1 is not None and abs(d1 - 1.0) <= 0.1
    assert d2 is not None and abs(d2 - 2.0) <= 0.1
    assert cache.duration_s(media.red) is None  # a still image has no duration


def test_probes_are_cached_by_content(media: Media, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "ffprobe.json"
    cache = ProbeCache(cache_file)
    first = cache.duration_s(media.clip_1s)
    assert cache.probes_run == 1
    doc = json.loads(cache_file.read_text())
    assert file_digest(media.clip_1s) in doc["entries"]
    # a new cache object (a new process) reads the file instead of probing again
    again = ProbeCache(cache_file)
    assert again.duration_s(media.clip_1s) == first and again.probes_run == 0
    # same content under another name: still a hit
    renamed = tmp_path / "renamed.mp4"
    shutil.copy(media.clip_1s, renamed)
    assert again.duration_s(renamed) == first and again.probes_run == 0
    # same name, other content: probed again
    shutil.copy(media.clip_2s, renamed)
    d = again.duration_s(renamed)
    assert again.probes_run == 1 and d is not None and abs(d - 2.0) <= 0.1


def test_damaged_cache_file_is_rebuilt(media: Media, tmp_path: Path) -> None:
    cache_file = tmp_path / "ffprobe.json"
    cache_file.write_text("{not json")
    cache = ProbeCache(cache_file)
    d = cache.duration_s(media.clip_2s)
    assert d is not None and abs(d - 2.0) <= 0.1
    assert json.loads(cache_file.read_text())["version"] == 1


def test_corrupt_clip_cannot_be_probed(media: Media, tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path / "ffprobe.json")
    with pytest.raises(ProbeError, match=r"corrupt\.mp4"):
        cache.duration_s(media.corrupt)


def _spec(media: Media, tmp_path: Path) -> ScreenSpec:
    return ScreenSpec("hdmi-1", 320, 240, {"probe_cache": str(tmp_path / "p.json")},
                      media.root)


def test_media_duration_s_through_the_driver(media: Media, tmp_path: Path) -> None:
    spec = _spec(media, tmp_path)
    d = MpvDriver.media_duration_s(spec, media.clip_2s)
    assert d is not None and abs(d - 2.0) <= 0.1
    assert (tmp_path / "p.json").is_file()
    # relative paths are taken relative to the media root
    rel = MpvDriver.media_duration_s(spec, Path(media.clip_1s.name))
    assert rel is not None and abs(rel - 1.0) <= 0.1


def test_media_duration_s_rejects_bad_files_by_name(media: Media, tmp_path: Path) -> None:
    spec = _spec(media, tmp_path)
    with pytest.raises(ContentRejected, match=r"corrupt\.mp4"):
        MpvDriver.media_duration_s(spec, media.corrupt)
    with pytest.raises(ContentRejected, match=r"gone\.mp4"):
        MpvDriver.media_duration_s(spec, media.root / "gone.mp4")
    with pytest.raises(ContentRejected, match="outside the media root"):
        MpvDriver.media_duration_s(spec, media.outside)
