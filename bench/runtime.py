"""Runtime figures: start error, peak RSS, CPU per screen, time to the first showing, and the
speed of `signage simulate`.

    .venv/bin/python bench/runtime.py [--seconds 120] [--screens 8] [--sim-screens 10]
    .venv/bin/python bench/runtime.py --simulate-only --log-format 1 2   # side by side
    .venv/bin/python -P bench/runtime.py --simulate-only --log-format 2 --repeat 3 --in-process

Runs `signage run` as a real process on a generated site of simulator screens (half LED
strips, half 1280x720 HDMI slides) using the shipped playlists, then reads its log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYLISTS = '["wugefanshi", "common-fraud", "theme", "store-promos"]'


def make_site(dst: Path, screens: int, log_format: int = 1) -> Path:
    shutil.copytree(ROOT / "playlists", dst / "playlists")
    shutil.copytree(ROOT / "media", dst / "media")
    text = (ROOT / "config.toml").read_text("utf-8")
    head = text[: text.index("[[screens]]")].replace('default = ["08:00-22:00"]',
                                                      'default = ["00:00-24:00"]')
    for key in ("sat", "sun"):
        head = head.replace(f'{key} = ["08:00-22:30"]\n', "")
    body = ""
    for i in range(screens):
        led = i % 2 == 0
        body += (f'\n[[screens]]\nid = "{"led" if led else "hdmi"}-{i}"\ndriver = "simulator"\n'
                 f"width = {128 if led else 1280}\nheight = {16 if led else 720}\n"
                 f'playlists = {PLAYLISTS}\noptions = {{ kind = "{"led" if led else "hdmi"}" }}\n')
    # the log format asked for (2: signed checkpoints, docs/log-format.md), whatever the
    # shipped config.toml sets (it writes format 2 since issue 12)
    head = re.sub(r"(?m)^format = \d+\n", "", head)
    head = head.replace("[log]\n", f"[log]\nformat = {log_format}\n", 1)
    cfg = dst / "config.toml"
    cfg.write_text(head + body, "utf-8")
    return cfg


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def read_log(log_dir: Path) -> list[dict[str, object]]:
    out = []
    for p in sorted(log_dir.glob("*.jsonl")):
        for line in p.read_bytes().splitlines():
            out.append(json.loads(line))
    return out


def real_run(seconds: float, screens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_site(Path(tmp), screens)
        t_launch = time.time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                               "--for", f"{seconds}s", "--no-live"], cwd=tmp,
                              capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        del proc
        recs = read_log(Path(tmp) / "var" / "log")
        starts = [r for r in recs if r["type"] == "showing_start"]
        first_by_screen: dict[str, dict[str, object]] = {}
        for r in starts:
            first_by_screen.setdefault(str(r["screen"]), r)
        errs = [abs(float(r["start_mono"]) - float(r["planned_mono"])) * 1000  # type: ignore[arg-type]
                for r in starts if r is not first_by_screen[str(r["screen"])]]
        first = min(datetime.fromisoformat(str(r["start"])).timestamp()
                    for r in first_by_screen.values())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"signage run, {screens} simulator screens, {seconds:.0f} s real time:")
        print(f"  switches measured        {len(errs)}")
        print(f"  start error p50/p99/max  {pct(errs, 0.5):.2f} / {pct(errs, 0.99):.2f} / "
              f"{max(errs):.2f} ms")
        print(f"  peak RSS                 {after.ru_maxrss / 1024:.1f} MB")
        print(f"  CPU                      {cpu:.2f} s = {100 * cpu / seconds:.2f} % of a core, "
              f"{100 * cpu / seconds / screens:.3f} % per screen")
        print(f"  launch -> first showing  {first - t_launch:.3f} s")


def simulate(screens: int, repeat: int = 5, log_format: int = 1) -> None:
    """`signage simulate` of one day, ``repeat`` times in fresh directories: this VM's speed
    varies by up to 1.5x from run to run, so the best and the median are printed."""
    speeds: list[float] = []
    totals: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = make_site(Path(tmp), screens, log_format)
            t0 = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            res = subprocess.run([sys.executable, "-m", "signage.cli", "simulate", "--config",
                                  str(cfg), "--start", "2026-12-01", "--for", "24h", "--log",
                                  str(Path(tmp) / "simlog")], cwd=tmp, capture_output=True,
                                 text=True, check=True,
                                 env={**os.environ, "SIGNAGE_LANG": "en"})  # (parsed below)
            totals.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            line = next(ln for ln in res.stderr.splitlines() if ln.startswith("simulated "))
            speeds.append(float(line.split(" in ", 1)[1].split(" s ", 1)[0]))
            records = line.rsplit("; ", 1)[1].split(" records", 1)[0]
    best, med = min(speeds), sorted(speeds)[len(speeds) // 2]
    print(f"signage simulate, log format {log_format}, {screens} screens, 24 h, {records} "
          f"records, {repeat} runs: "
          f"best {best:.2f} s = {86400 / best:,.0f}x, median {med:.2f} s = {86400 / med:,.0f}x")
    print(f"  (whole process incl. start-up, best: {min(totals):.2f} s = "
          f"{86400 / min(totals):,.0f}x; its CPU, user+sys, best {min(cpus):.2f} s, median "
          f"{sorted(cpus)[len(cpus) // 2]:.2f} s; load average {_load()})")


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 1)[0]
    except OSError:
        return "?"


def simulate_in_process(screens: int, repeat: int, log_format: int) -> None:
    """The simulated day's loop as `signage simulate` runs it (Runtime.run_virtual, then
    finish), in this process: its wall time and its CPU time (time.process_time), which a
    busy machine disturbs less than the wall."""
    from signage.runcmd import load_or_exit
    from signage.runtime.clock import VirtualClock
    from signage.runtime.daemon import RunSettings, Runtime
    from signage.timeutil import parse_when

    walls: list[float] = []
    cpus: list[float] = []
    records = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = make_site(Path(tmp), screens, log_format)
            loaded = load_or_exit(cfg)
            clock = VirtualClock(parse_when("2026-12-01", loaded.site.tz, 0) / 1000)
            log = Path(tmp) / "simlog"
            rt = Runtime(loaded, clock, RunSettings(
                virtual=True, duration_s=86400.0, log_dir=log, key_file=log / "simulate.key",
                signing_key=log / "simulate-signing.key", say=lambda _m: None))
            rt.setup()
            w0, c0 = time.perf_counter(), time.process_time()
            rt.run_virtual(clock.monotonic() + 86400.0)
            rt.stop_reason = "duration reached"
            rt.finish()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            records = rt.writer.records_written
    print(f"in-process loop, log format {log_format}, {screens} screens, 24 h, {records} "
          f"records, {repeat} runs: wall best {min(walls):.2f} s = {86400 / min(walls):,.0f}x; "
          f"CPU best {min(cpus):.2f} s = {86400 / min(cpus):,.0f}x, median "
          f"{sorted(cpus)[len(cpus) // 2]:.2f} s; load average {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--screens", type=int, default=8)
    ap.add_argument("--sim-screens", type=int, default=10)
    ap.add_argument("--simulate-only", action="store_true")
    ap.add_argument("--log-format", type=int, nargs="+", choices=(1, 2), default=[1],
                    help="simulate with these log formats, one after the other")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--in-process", action="store_true",
                    help="also time the simulated day's loop in this process (wall and CPU)")
    args = ap.parse_args()
    if not args.simulate_only:
        real_run(args.seconds, args.screens)
    for f in args.log_format:
        simulate(args.sim_screens, args.repeat, f)
        if args.in_process:
            simulate_in_process(args.sim_screens, args.repeat, f)


if __name__ == "__main__":
    main()
