"""The CPU of one idle bench box (issue 14): the box bench/alerts.py starts (2 LED 128x16 and
2 HDMI 1280x720 simulator screens drawing frames, the shipped playlists, open all day,
[authority] keys, [fleet] to a real Mosquitto with TLS), with no alert, for a while.

    .venv/bin/python bench/idle_box.py [--seconds 90] [--no-fleet] [--tree DIR ...]

Each ``--tree`` (default: this one) is a checkout with its own .venv: its `signage run` runs
the same box (made by this tree's bench/alerts.make_box), all trees at the same time, so the
figures are side by side under the same load. The first 15 s (start-up) are not counted.
Prints per tree: user+sys CPU seconds over the wall seconds, as % of one core, the CPU per
thread, and the load average before and after.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)  # bench/inspect.py would shadow the standard library's inspect

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alerts import cpu_s, make_box  # noqa: E402
from signage.keys import write_new_key  # noqa: E402
from tests.fleet.conftest import Broker, make_pki  # noqa: E402

WARM_S = 15.0


def thread_ticks(pid: int) -> dict[int, int]:
    """User + system clock ticks so far of each thread of ``pid``."""
    out: dict[int, int] = {}
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            f = (t / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(t.name)] = int(f[11]) + int(f[12])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--no-fleet", dest="fleet", action="store_false")
    ap.add_argument("--tree", action="append", type=Path)
    a = ap.parse_args()
    trees = [t.resolve() for t in (a.tree or [ROOT])]
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    sites = [f"box-{i:02d}" for i in range(len(trees))]
    (tmp / "pki").mkdir()
    pki = make_pki(tmp / "pki", ("hub", *sites))
    (tmp / "broker").mkdir()
    broker = Broker(tmp / "broker", pki)
    broker.start()
    auth = write_new_key(tmp / "authority.key")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for tree, s in zip(trees, sites, strict=True):
            d = tmp / s
            (d / "var").mkdir(parents=True)
            write_new_key(d / "var" / "signing.key")
            make_box(d, s, broker, pki.dir, auth.public.text, True)
            if not a.fleet:
                t = (d / "config.toml").read_text("utf-8")
                cut = t[t.index("\n[fleet]"):t.index("\n[[screens]]")]
                (d / "config.toml").write_text(t.replace(cut, ""), "utf-8")
            with open(d / "stderr.txt", "wb") as err:
                procs.append(subprocess.Popen(
                    [str(tree / ".venv" / "bin" / "python"), "-m", "signage.cli", "run",
                     "--config", str(d / "config.toml")],
                    cwd=d, stdout=subprocess.DEVNULL, stderr=err))
        time.sleep(WARM_S)
        for p, s in zip(procs, sites, strict=True):
            if p.poll() is not None:
                raise SystemExit(f"{s} exited (rc {p.returncode}): "
                                 + (tmp / s / "stderr.txt").read_text("utf-8", "replace")[-2000:])
        load0 = Path("/proc/loadavg").read_text().split()[:3]
        c0 = [cpu_s([p.pid]) for p in procs]
        th0 = [thread_ticks(p.pid) for p in procs]
        w0 = time.monotonic()
        time.sleep(a.seconds)
        w = time.monotonic() - w0
        c1 = [cpu_s([p.pid]) for p in procs]
        th1 = [thread_ticks(p.pid) for p in procs]
        load1 = Path("/proc/loadavg").read_text().split()[:3]
        print(f"one idle box, fleet={'on' if a.fleet else 'off'}, {w:.1f} s; load average "
              f"{' '.join(load0)} -> {' '.join(load1)}")
        for tree, p, a0, a1, t0, t1 in zip(trees, procs, c0, c1, th0, th1, strict=True):
            per = sorted(((t1[k] - t0.get(k, 0)) for k in t1), reverse=True)
            print(f"  {tree}: {a1 - a0:.2f} s CPU = {100 * (a1 - a0) / w:.2f} % of a core "
                  f"(ticks per thread, most first: {per}; pid {p.pid})")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
