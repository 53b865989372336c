"""Benchmark of the mpv driver: switch latency (loadfile -> playback-restart) and RSS growth.

    .venv/bin/python bench/mpv.py [--switches 1000] [--size 1920x1080] [--vo null]

Media are generated with ffmpeg's lavfi sources in a temporary directory: two PNG images and
two 2 s H.264 clips at the given size. The driver cycles image A, image B, clip A, clip B, so
every transition (image->image, image->clip, clip->clip, clip->image) occurs equally often;
each sample is the time from calling show() to the confirmed instant it returns (a clip is
replaced while it plays, as the scheduler does). Target: p95 <= 60 ms. mpv's RSS (VmRSS) is
printed after opening and every 10 % of the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from signage_drivers.mpv.driver import MpvDriver
from signage_drivers.mpv.ipc import read_rss_mb

from signage.driver import DriverContext, ItemKind, ScreenSpec, Showable
from signage.runtime.clock import RealClock

TARGET_P95_S = 0.060


def _ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        sys.exit("ffmpeg not found: apt install ffmpeg")
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, timeout=300)


def make_media(root: Path, size: str) -> list[tuple[ItemKind, Path]]:
    images: list[tuple[ItemKind, Path]] = []
    clips: list[tuple[ItemKind, Path]] = []
    for i, (src, color) in enumerate((("testsrc2", "navy"), ("smptebars", "darkred"))):
        img = root / f"image{i}.png"
        _ffmpeg("-f", "lavfi", "-i", f"{src}=size={size}", "-vf", f"drawbox=c={color}:t=40",
                "-frames:v", "1", str(img))
        clip = root / f"clip{i}.mp4"
        _ffmpeg("-f", "lavfi", "-i", f"{src}=size={size}:rate=25", "-t", "2", "-c:v",
                "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(clip))
        images.append((ItemKind.IMAGE, img))
        clips.append((ItemKind.CLIP, clip))
    return images + clips


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--switches", type=int, default=1000)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--vo", default="null")
    ap.add_argument("--hwdec", default="no")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="mpvbench-") as tmp:
        root = Path(tmp) / "media"
        root.mkdir()
        t0 = time.monotonic()
        media = make_media(root, args.size)
        print(f"media: 2 PNG + 2 H.264 2 s clips at {args.size} "
              f"(generated in {time.monotonic() - t0:.1f} s)")
        spec = ScreenSpec("bench", w, h, {"vo": args.vo, "hwdec": args.hwdec,
                                          "fullscreen": False}, root)
        drv = MpvDriver(spec, DriverContext(clock=RealClock(), run_dir=Path(tmp) / "run"))
        drv.open()
        try:
            assert drv.player is not None and drv.pid is not None
            version, _ = drv.player.command(["get_property", "mpv-version"])
            print(f"{version}, vo={args.vo}, hwdec={args.hwdec}, IPC={drv.ipc_mode}")
            rss_open = read_rss_mb(drv.pid) or 0.0
            print(f"RSS after open: {rss_open:.1f} MiB")
            lat: dict[ItemKind, list[float]] = {ItemKind.IMAGE: [], ItemKind.CLIP: []}
            by_transition: dict[str, list[float]] = {}
            prev: ItemKind | None = None
            step = max(1, args.switches // 10)
            run_start = time.monotonic()
            for n in range(args.switches):
                kind, path = media[n % len(media)]
                before = drv.ctx.clock.monotonic()
                confirmed = drv.show(Showable(f"b{n}", kind, 5.0, True, path=path))
                lat[kind].append(confirmed - before)
                if prev is not None:
                    by_transition.setdefault(f"{prev.value}->{kind.value}", []).append(
                        confirmed - before)
                prev = kind
                if (n + 1) % step == 0:
                    print(f"  after {n + 1:5d} switches: RSS {read_rss_mb(drv.pid) or 0:.1f} MiB")
            elapsed = time.monotonic() - run_start
            rss_end = read_rss_mb(drv.pid) or 0.0
        finally:
            drv.close()
    print(f"\n{args.switches} switches in {elapsed:.1f} s")
    print(f"{'kind':6} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'mean ms':>8}")
    ok = True
    for kind, samples in lat.items():
        if not samples:
            continue
        p95 = pct(samples, 95)
        ok = ok and p95 <= TARGET_P95_S
        print(f"{kind.value:6} {len(samples):5d} {pct(samples, 50) * 1e3:8.1f} {p95 * 1e3:8.1f} "
              f"{max(samples) * 1e3:8.1f} {statistics.fmean(samples) * 1e3:8.1f}")
    for name, samples in sorted(by_transition.items()):
        print(f"  {name:13} {len(samples):5d} p50 {pct(samples, 50) * 1e3:6.1f} ms   "
              f"p95 {pct(samples, 95) * 1e3:6.1f} ms")
    print(f"RSS: {rss_open:.1f} MiB after open -> {rss_end:.1f} MiB after {args.switches} "
          f"switches ({rss_end - rss_open:+.1f} MiB)")
    print(f"target p95 <= {TARGET_P95_S * 1e3:.0f} ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
