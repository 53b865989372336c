"""Inspection code figures (issue 15): per code at 1080p, statement + signature + QR + the
overlay's BGRA pixels (what mpv gets) and the same pasted on a frame (the simulator); decode +
verify of a phone photo, for docs/benchmarks.md; with ``--rss``, the daemon's peak
RSS with codes on and off (a copy of the shipped site, open all day, run for ``--for`` s each).

    .venv/bin/python bench/inspect.py [--n 50]
    .venv/bin/python bench/inspect.py --rss [--for 90]
"""

from __future__ import annotations

import os
import sys

# this file is named like the standard library's `inspect`: run with the repository root, not
# bench/, first on the path, or `import dataclasses` would import this script
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from signage.driver import InspectionCode  # noqa: E402
from signage.inspection.check import check, read_codes  # noqa: E402
from signage.inspection.picture import (  # noqa: E402
    code_overlay,
    place_code,
    qr_modules,
    slide_with_code,
)
from signage.inspection.statement import Statement, sign  # noqa: E402
from signage.keys import SigningKey  # noqa: E402
from signage.render import render_slide  # noqa: E402
from signage.trust import parse_trust  # noqa: E402
from tests.inspection.photo import phone_photo  # noqa: E402


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"min {xs[0] * 1000:.1f} ms, median {statistics.median(xs) * 1000:.1f} ms, "
            f"max {xs[-1] * 1000:.1f} ms")


def peak_rss(seconds: int) -> None:
    """Peak VmHWM of `signage run --for N` on a copy of the shipped site, codes on and off."""
    import re
    import shutil
    import subprocess

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as d:
        site = Path(d)
        shutil.copy(root / "config.toml", site / "config.toml")
        shutil.copytree(root / "playlists", site / "playlists")
        shutil.copytree(root / "media", site / "media")
        text = (site / "config.toml").read_text("utf-8")
        text = re.sub(r"(?m)^(default|sat|sun) = \[.*\]$", "", text)
        text = text.replace("[hours]", '[hours]\ndefault = ["00:00-24:00"]', 1)
        for on in (True, False):
            cfg = text + f'\n[inspection]\nenabled = {str(on).lower()}\n'
            (site / "config.toml").write_text(cfg, "utf-8")
            shutil.rmtree(site / "var", ignore_errors=True)
            p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config",
                                  str(site / "config.toml"), "--for", f"{seconds}s"],
                                 cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            peak = 0
            while p.poll() is None:
                try:
                    status = Path(f"/proc/{p.pid}/status").read_text()
                    m = re.search(r"VmHWM:\s+(\d+)", status)
                    peak = max(peak, int(m.group(1))) if m else peak
                except OSError:
                    pass
                time.sleep(0.5)
            print(f"codes {'on' if on else 'off'}: peak RSS {peak / 1024:.1f} MB "
                  f"(exit {p.returncode})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--for", dest="seconds", type=int, default=90)
    args = ap.parse_args()
    if args.rss:
        peak_rss(args.seconds)
        return
    n = args.n
    key = SigningKey.generate()
    text = "凡是公检法要求转账汇款的都是诈骗"
    code_t, over_t, frame_t = [], [], []
    cpu0 = time.process_time()
    base = render_slide(text, 1920, 1080, clear_bottom=470)
    urls = []
    for i in range(n):
        st = Statement("demo-mall", "checkout-hdmi", 1796090400 + i, True, 400 + i, 57300,
                       18000 + i, bytes(16), key.key_id)
        t0 = time.perf_counter()
        url = sign(st, key).url("https://hub.example.cn")
        code = InspectionCode(url, qr_modules(url), "bottom-right", 0.4)
        made = code_overlay(code, 1920, 1080)
        t1 = time.perf_counter()
        assert made is not None
        over_t.append(t1 - t0)  # statement signed, QR, overlay pixels: the box's work per code
        img = base.copy()
        t2 = time.perf_counter()
        url = sign(st, key).url("https://hub.example.cn")
        code = InspectionCode(url, qr_modules(url), "bottom-right", 0.4)
        place_code(img, code)
        code_t.append(time.perf_counter() - t2)  # signed, QR, pasted on a 1080p frame
        t3 = time.perf_counter()
        slide_with_code(text, 1920, 1080, code)
        frame_t.append(time.perf_counter() - t3)
        urls.append((url, img))
    cpu = time.process_time() - cpu0
    print(f"statement + sign + QR + BGRA overlay pixels (mpv) at 1080p: {ms(over_t)}")
    print(f"statement + sign + QR + paste on a 1080p frame (simulator): {ms(code_t)}")
    print(f"whole 1080p slide laid out above the code area, with the code: {ms(frame_t)}")
    print(f"CPU (user+sys) of these {n} rounds: {cpu:.2f} s; load {load()}")
    trust = parse_trust({"version": 1, "site": [{"id": "demo-mall", "key": [
        {"public": key.public.text, "valid_from": datetime(2020, 1, 1, tzinfo=UTC)}]}]},
        "bench")
    rng = random.Random(1)  # noqa: S311 (image noise, not a secret)
    dec_t, ver_t = [], []
    with tempfile.TemporaryDirectory() as d:
        for url, img in urls[:min(n, 20)]:
            p = Path(d) / "p.jpg"
            phone_photo(img, rng).save(p, quality=95)
            t0 = time.perf_counter()
            got = read_codes(p)
            t1 = time.perf_counter()
            assert url in got
            rep = check(url, trust, 1796090400 + 10)
            t2 = time.perf_counter()
            assert rep.ok
            dec_t.append(t1 - t0)
            ver_t.append(t2 - t1)
    print(f"decode a 1280 px phone photo (zxing-cpp, incl. JPEG load): {ms(dec_t)}")
    print(f"parse + verify (Ed25519, trust, freshness): {ms(ver_t)}")


if __name__ == "__main__":
    main()
