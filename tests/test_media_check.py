"""validate decodes every image and clip once (cached by digest) and refuses a file with no
decodable frame or too large to decode; the renderer caps what it decodes (issue 10 item 1b,
issue 11 item 3c). Real files, real ffmpeg, real Pillow."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signage import render
from signage.cli import app
from signage.mediacheck import MediaChecker, check_clip, check_image

runner = CliRunner()
CLIP = Path(__file__).resolve().parent.parent / "media/promo/store-tour.mp4"


def _boxes(b: bytes) -> list[tuple[str, int, int, int]]:
    i, out = 0, []
    while i + 8 <= len(b):
        size, typ = struct.unpack(">I4s", b[i:i + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", b[i + 8:i + 16])[0], 16
        if size == 0:
            size = len(b) - i
        out.append((typ.decode("latin-1"), i, hdr, size))
        i += size
    return out


def faststart(dst: Path) -> tuple[bytes, int, int, int]:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(CLIP), "-c", "copy",
                    "-movflags", "+faststart", str(dst)], check=True, timeout=60)
    data = dst.read_bytes()
    _t, i, hdr, size = next(x for x in _boxes(data) if x[0] == "mdat")
    return data, i, hdr, size


def frameless_clips(d: Path) -> tuple[Path, Path]:
    """A valid container whose payload is random, and one cut right after the mdat header:
    ffprobe reads a 45 s duration from both, and neither has a decodable frame."""
    data, i, hdr, size = faststart(d / "fs.mp4")
    cut = d / "cut.mp4"
    cut.write_bytes(data[:i + hdr])
    rnd = bytearray(data)
    rnd[i + hdr:i + size] = random.Random(1).randbytes(size - hdr)
    noise = d / "noise.mp4"
    noise.write_bytes(bytes(rnd))
    return noise, cut


def big_png(path: Path, side: int, bit_depth: int) -> None:
    """A valid all-black grey PNG of side x side pixels, written without holding it decoded."""
    row = b"\x00" + bytes((side * bit_depth + 7) // 8)
    comp = zlib.compressobj(9)
    chunks = [comp.compress(row) for _ in range(side)]
    idat = b"".join(chunks) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", side, side, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))


def validate(cfg: Path) -> tuple[int, str]:
    res = runner.invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_real_clip_decodes() -> None:
    got = check_clip(CLIP)
    assert got.ok, got.problem
    assert (got.width, got.height) == (320, 180)


def test_frameless_clips_are_refused_naming_the_file(site_dir: Path) -> None:
    noise, cut = frameless_clips(site_dir / "media/promo")
    for bad in (noise, cut):
        # the container alone looks fine: ffprobe finds the duration
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                "-of", "csv=p=0", str(bad)], capture_output=True, text=True,
                               timeout=60, check=False)
        assert float(probe.stdout.strip()) == pytest.approx(45.0)
        got = check_clip(bad)
        assert not got.ok and "no video frame" in got.problem
    pl = site_dir / "playlists/store-promos.toml"
    pl.write_text(pl.read_text("utf-8").replace("promo/store-tour.mp4", "promo/noise.mp4"),
                  "utf-8")
    code, out = validate(site_dir / "config.toml")
    assert code == 1, out
    assert "items[5].path" in out and "noise.mp4" in out and "no video frame" in out, out


def test_decoded_once_cached_by_digest(tmp_path: Path) -> None:
    noise, _cut = frameless_clips(tmp_path)
    cache = tmp_path / "cache.json"
    first = MediaChecker(cache)
    assert first.check(CLIP, "clip").ok
    assert not first.check(noise, "clip").ok
    first.save()
    assert first.decoded == 2
    again = MediaChecker(cache)
    assert again.check(CLIP, "clip").ok
    assert not again.check(noise, "clip").ok
    assert again.decoded == 0  # both from the cache
    # same name, new content: decoded again
    noise.write_bytes((tmp_path / "fs.mp4").read_bytes())
    assert again.check(noise, "clip").ok and again.decoded == 1


def test_validate_uses_its_cache(site_dir: Path) -> None:
    code, out = validate(site_dir / "config.toml")
    assert code == 0, out
    cache = site_dir / "var/cache/media-check.json"
    assert cache.is_file()
    checker = MediaChecker(cache)
    assert checker.check(site_dir / "media/promo/store-tour.mp4", "clip").ok
    assert checker.decoded == 0


@pytest.mark.parametrize(("side", "depth"), [(30_000, 1), (13_000, 8)])
def test_huge_images_are_refused(site_dir: Path, side: int, depth: int) -> None:
    big = site_dir / "media/promo/huge.png"
    big_png(big, side, depth)
    got = check_image(big)
    assert not got.ok and "larger than signage decodes" in got.problem, got
    pl = site_dir / "playlists/store-promos.toml"
    pl.write_text(pl.read_text("utf-8").replace("promo/rice.png", "promo/huge.png"), "utf-8")
    code, out = validate(site_dir / "config.toml")
    assert code == 1, out
    assert "items[3].path" in out and "huge.png" in out, out
    assert "larger than signage decodes" in out, out


def test_truncated_image_is_refused(tmp_path: Path) -> None:
    src = (Path(__file__).resolve().parent.parent / "media/promo/rice.png").read_bytes()
    bad = tmp_path / "half.png"
    bad.write_bytes(src[: len(src) // 2])
    got = check_image(bad)
    assert not got.ok and "not a decodable image" in got.problem


_SHOW_BIG = """
import sys, threading
from pathlib import Path
from signage.driver import ContentRejected, DriverContext, ItemKind, ScreenSpec, Showable
from signage_drivers.simulator import SimulatorDriver
from signage.runtime.clock import RealClock
p = Path(sys.argv[1])
spec = ScreenSpec("s", 1920, 1080, {"kind": "hdmi"}, p.parent)
drv = SimulatorDriver(spec, DriverContext(clock=RealClock(), run_dir=p.parent / "run"))
drv.open()
try:
    drv.show(Showable("big", ItemKind.IMAGE, 5.0, True, path=p))
    print("shown")
except ContentRejected as exc:
    print("rejected:", exc)
# VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across a vfork+exec
# (Linux records the old mm's high-water mark at exec), so it measured pytest, not this.
hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines()
           if ln.startswith("VmHWM:"))
print("maxrss_mb", int(hwm.split()[1]) // 1024)
"""


def test_renderer_caps_what_it_decodes(tmp_path: Path) -> None:
    """A 13,000 x 13,000 PNG took the simulator to ~890 MB: now refused before decoding."""
    big = tmp_path / "huge.png"
    big_png(big, 13_000, 8)
    with pytest.raises(render.ImageTooLarge):
        render.open_image(big)
    proc = subprocess.run([sys.executable, "-c", _SHOW_BIG, str(big)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "rejected:" in proc.stdout and "larger than signage decodes" in proc.stdout
    rss = int(proc.stdout.split("maxrss_mb")[1])
    assert rss < 300, proc.stdout


def test_a_damaged_cache_is_rebuilt_whatever_it_holds(tmp_path: Path) -> None:
    """The cache is a file anyone with the directory can edit: JSON nested deeper than the
    parser goes (RecursionError escaped: validate crashed) reads as an empty cache, for the
    media check and for the mpv driver's ffprobe cache alike (one implementation)."""
    from signage_drivers.mpv.probe import ProbeCache

    for name in ("media.json", "ffprobe.json"):
        (tmp_path / name).write_bytes(b"[" * 100_000)
    checker = MediaChecker(tmp_path / "media.json")
    assert checker.check(CLIP, "clip").ok and checker.decoded == 1
    checker.save()
    assert MediaChecker(tmp_path / "media.json").check(CLIP, "clip").ok
    probe = ProbeCache(tmp_path / "ffprobe.json")
    assert probe.duration_s(CLIP) is not None and probe.probes_run == 1
