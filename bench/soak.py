"""Soak: hours of `signage run` killed and restarted at random, and days of `signage
simulate`, audited as they go. By hand, not in CI (the torture suite in tests/torture/ is the
CI-sized version); prints one line of figures per audit and a summary at the end.

    .venv/bin/python bench/soak.py [--hours 4] [--sim-days 30] [--site small|sample]
                                   [--min-life 5] [--max-life 600] [--term 0.2] [--seed 1]
                                   [--audit-every 10] [--dir var/soak]

Phase 1 (simulate): `signage simulate --for <sim-days>d` on the site, then the audit.
Phase 2 (real time): `signage run` lives a random time in [min-life, max-life] s, then is
killed (SIGKILL, or SIGTERM with probability --term), and restarted after 0-5 s, until
--hours have passed. Every --audit-every lives, and at the end, `signage audit --format json`
checks: the chain verifies (exit != 2), every killed life left an outage "daemon not
running", sequence numbers run 0..N-1 with nothing lost or doubled, and the daemon's peak RSS
(VmHWM) is reported.

--site small is the scaled-down rule of the tests (max_gap 3 s, items 0.5-2 s, one screen);
--site sample is the shipped config.toml and playlists/, all 24 hours open.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable


def make_site(dst: Path, kind: str) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    if kind == "small":
        from tests.conftest import small_site

        return small_site(dst)
    shutil.copytree(ROOT / "playlists", dst / "playlists", dirs_exist_ok=True)
    shutil.copytree(ROOT / "media", dst / "media", dirs_exist_ok=True)
    text = (ROOT / "config.toml").read_text("utf-8")
    text = text.replace('default = ["08:00-22:00"]', 'default = ["00:00-24:00"]')
    for key in ("sat", "sun"):
        text = text.replace(f'{key} = ["08:00-22:30"]\n', "")
    text = text.replace('dir = "var/log"', 'dir = "log"').replace('"var/site.key"', '"site.key"')
    cfg = dst / "config.toml"
    cfg.write_text(text, "utf-8")
    return cfg


def say(msg: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {msg}", flush=True)


def audit(log: Path, key: Path) -> tuple[int, dict[str, Any] | None, float]:
    t0 = time.monotonic()
    p = subprocess.run([PY, "-m", "signage.cli", "audit", str(log), "--key", str(key),
                        "--format", "json"], capture_output=True, text=True, check=False)
    took = time.monotonic() - t0
    try:
        return p.returncode, json.loads(p.stdout), took
    except ValueError:
        say(f"audit exit {p.returncode}, no JSON: {p.stderr.strip()[:300]}")
        return p.returncode, None, took


def count(log: Path) -> tuple[int, list[int], list[str], int]:
    """(complete lines, their seqs, their types, torn tails) read plainly from the files."""
    seqs: list[int] = []
    types: list[str] = []
    torn = 0
    for f in sorted(log.glob("signage-*.jsonl")):
        lines = f.read_bytes().split(b"\n")
        if lines[-1]:
            torn += 1  # bytes after the last newline: a torn last line
        for line in lines[:-1]:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            seqs.append(int(rec["seq"]))
            types.append(str(rec["type"]))
    return len(seqs), seqs, types, torn


def simulate_phase(root: Path, cfg: Path, days: int) -> bool:
    if days <= 0:
        return True
    log = root / "simlog"
    shutil.rmtree(log, ignore_errors=True)
    t0 = time.monotonic()
    p = subprocess.run([PY, "-m", "signage.cli", "simulate", "--config", str(cfg), "--for",
                        f"{days}d", "--log", str(log)], cwd=cfg.parent, capture_output=True,
                       text=True, check=False)
    took = time.monotonic() - t0
    if p.returncode != 0:
        say(f"simulate failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        return False
    n, seqs, _types, _torn = count(log)
    code, doc, a_took = audit(log, log / "simulate.key")
    ok = code in (0, 1) and doc is not None and seqs == list(range(n))
    worst = max((s["max_gap_s"] for s in doc["screens"]), default=None) if doc else None
    say(f"simulate {days} d: {took:.1f} s, {n:,} records, "
        f"{sum(1 for _ in log.glob('signage-*.jsonl'))} files; audit exit {code} in "
        f"{a_took:.1f} s, worst gap {worst} s, violations "
        f"{sum(s['violations'] for s in doc['screens']) if doc else '?'}"
        f"{'' if ok else '  <-- PROBLEM'}")
    return ok


def vmhwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def real_phase(root: Path, cfg: Path, args: argparse.Namespace) -> bool:
    rng = random.Random(args.seed)
    log, key = cfg.parent / "log", cfg.parent / "site.key"
    end = time.monotonic() + args.hours * 3600
    lives = kills = terms = 0
    peak_kb = 0
    ok = True
    while time.monotonic() < end:
        life = rng.uniform(args.min_life, args.max_life)
        life = min(life, max(0.5, end - time.monotonic()))
        p = subprocess.Popen([PY, "-m", "signage.cli", "run", "--config", str(cfg)],
                             cwd=cfg.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        t_end = time.monotonic() + life
        while time.monotonic() < t_end and p.poll() is None:
            peak_kb = max(peak_kb, vmhwm(p.pid))
            time.sleep(min(1.0, max(0.0, t_end - time.monotonic())))
        if p.poll() is not None:
            err = p.communicate()[1]
            say(f"the daemon exited by itself ({p.returncode}): {err.strip()[-400:]}")
            ok = False
        elif rng.random() < args.term:
            os.kill(p.pid, signal.SIGTERM)
            terms += 1
            err = p.communicate(timeout=60)[1]
            if p.returncode != 0:
                say(f"SIGTERM exit {p.returncode}: {err.strip()[-300:]}")
                ok = False
        else:
            os.kill(p.pid, signal.SIGKILL)
            p.communicate(timeout=60)
            kills += 1
        lives += 1
        if lives % args.audit_every == 0 or time.monotonic() >= end:
            ok = check(log, key, lives, kills, terms, peak_kb) and ok
        time.sleep(rng.uniform(0, 5))
    return ok


def check(log: Path, key: Path, lives: int, kills: int, terms: int, peak_kb: int) -> bool:
    n, seqs, types, torn = count(log)
    code, doc, took = audit(log, key)
    starts = types.count("run_start")
    problems = []
    if code not in (0, 1) or doc is None:
        problems.append(f"audit exit {code}")
    if seqs != list(range(n)):
        problems.append("sequence numbers not 0..N-1")
    outages = [o for o in (doc or {}).get("outages", []) if o["kind"] == "daemon_not_running"]
    if doc is not None and len(outages) != starts - 1:
        problems.append(f"{len(outages)} outages for {starts} runs")
    if doc is not None and doc["integrity"]["records"] != n:
        problems.append(f"audit counts {doc['integrity']['records']} records, files hold {n}")
    say(f"lives {lives} (kill -9 {kills}, SIGTERM {terms}): {n:,} records, {starts} runs "
        f"logged, {len(outages)} outages, {torn} torn tails, audit exit {code} in {took:.1f} s, "
        f"peak RSS {peak_kb / 1024:.0f} MiB" + (f"  <-- {'; '.join(problems)}" if problems else ""))
    return not problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--sim-days", type=int, default=30)
    ap.add_argument("--site", choices=("small", "sample"), default="small")
    ap.add_argument("--min-life", type=float, default=5.0)
    ap.add_argument("--max-life", type=float, default=600.0)
    ap.add_argument("--term", type=float, default=0.2, help="share of SIGTERM stops")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--audit-every", type=int, default=10)
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "soak")
    args = ap.parse_args()
    root = args.dir.resolve()
    shutil.rmtree(root, ignore_errors=True)
    cfg = make_site(root / "site", args.site)
    say(f"soak: site {args.site} in {root}, {args.hours} h real time, {args.sim_days} d simulated")
    ok = simulate_phase(root, cfg, args.sim_days)
    ok = real_phase(root, cfg, args) and ok
    say("soak: " + ("all checks passed" if ok else "PROBLEMS (see above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
