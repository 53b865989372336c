"""The daemon's memory (target ≤ 60 MB = 57.2 MiB RSS, peak and steady): a real `signage run`,
its own /proc/<pid>/status read every 0.05 s. Peak = VmHWM, the kernel's high-water mark of
that process (not a child's ru_maxrss, which on Linux can carry its parent's peak); steady =
median VmRSS of the second half of the run. CPU = the daemon's user+sys (wait4).

    .venv/bin/python bench/daemon_rss.py [--for 40] [--rounds 2] [--only NAME,...]
    .venv/bin/python bench/daemon_rss.py --config SITE/config.toml [--for 40]

Variants (copies of the shipped site, opened 00:00-24:00 so every screen plays):
  shipped         four simulator screens (LED 128x16, 1280x720 x2, 1920x1080), log format 2
  fleet           + [fleet] over TLS with client certificates to a real Mosquitto (the test
                  fixtures' broker and PKI; no hub, so nothing is acknowledged and shipped
                  chunks stay in the send window: the shipper's worst case)
  codes           + [inspection] enabled (a signed QR code on every anti-fraud slide)
  fleet+codes     both
  mpv+fleet+codes the HDMI screens on mpv (two at 1920x1080, one 1280x720, vo=null), the
                  LED on the simulator, fleet and codes on; mpv's own RSS is reported apart
Variants run alternating, round after round, so that the machine's load falls on all alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/, whose inspect.py would shadow the stdlib's

VARIANTS = ("shipped", "fleet", "codes", "fleet+codes", "mpv+fleet+codes")


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def _children_rss(pid: int) -> int:
    """Summed VmRSS (KiB) of the daemon's child processes now (mpv; fc-match at start)."""
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                total += _status(int(d.name)).get("VmRSS", 0)
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(cfg: Path, seconds: float) -> dict[str, float]:
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", f"{seconds:g}s", "--no-live"], cwd=cfg.parent,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss: list[int] = []
    hwm = 0
    kids: list[int] = []
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)  # reaped here, for its rusage
        if pid:
            break
        try:
            st = _status(p.pid)
        except OSError:
            break
        if "VmRSS" in st:
            rss.append(st["VmRSS"])
            hwm = max(hwm, st.get("VmHWM", 0))
        if len(rss) % 20 == 0:
            kids.append(_children_rss(p.pid))
        time.sleep(0.05)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")[-800:] if p.stderr else ""
    if p.returncode != 0 or not rss:
        raise SystemExit(f"signage run failed (exit {p.returncode}): {err}")
    half = rss[len(rss) // 2:]
    return {"peak": hwm / 1024, "steady": statistics.median(half) / 1024,
            "max_sampled": max(rss) / 1024, "cpu": ru.ru_utime + ru.ru_stime,
            "wall": time.monotonic() - t0, "load": (load0 + os.getloadavg()[0]) / 2,
            "children": max(kids, default=0) / 1024}


def make_site(d: Path, variant: str, broker_url: str | None, pki: object | None) -> Path:
    for sub in ("playlists", "media"):
        shutil.copytree(ROOT / sub, d / sub)
    text = (ROOT / "config.toml").read_text("utf-8")
    text = re.sub(r'(?m)^(default|sat|sun) = \["08:00-22:(00|30)"\]', r'\1 = ["00:00-24:00"]',
                  text)
    assert text.count('"00:00-24:00"') >= 4, "the shipped config's hours changed"
    extra = ""
    if "fleet" in variant:
        assert broker_url is not None and pki is not None
        crt, key = pki.cert("hz-wensan-0001")  # type: ignore[attr-defined]
        extra += (f'\n[fleet]\nbroker = "{broker_url}"\nca_file = "{pki.ca}"\n'  # type: ignore[attr-defined]
                  f'cert_file = "{crt}"\nkey_file = "{key}"\n')
    if "codes" in variant:
        extra += '\n[inspection]\nenabled = true\nhub_url = "https://hub.example.cn"\n'
    if variant.startswith("mpv"):
        mpv = ('driver = "mpv"\noptions = { vo = "null", fullscreen = false, '
               'probe_cache = "var/probe.json" }')
        text = text.replace('driver = "simulator"\nwidth = 1280\nheight = 720\n'
                            'playlists = ["wugefanshi", "common-fraud", "theme", '
                            '"campaign-2027-spring", "store-promos"]\noptions = { kind = "hdmi" }',
                            'width = 1920\nheight = 1080\nplaylists = ["wugefanshi", '
                            '"common-fraud", "theme", "campaign-2027-spring", '
                            '"store-promos"]\n' + mpv)
        text = text.replace('driver = "simulator"\nwidth = 1920\nheight = 1080\n'
                            'playlists = ["wugefanshi", "common-fraud", "theme", "store-promos"]'
                            '\noptions = { kind = "hdmi" }',
                            'width = 1920\nheight = 1080\nplaylists = ["wugefanshi", '
                            '"common-fraud", "theme", "store-promos"]\n' + mpv)
        text = text.replace('driver = "simulator"\nwidth = 1280\nheight = 720\n'
                            'playlists = ["wugefanshi", "common-fraud", "theme", "store-promos"]'
                            '\noptions = { kind = "hdmi" }',
                            'width = 1280\nheight = 720\nplaylists = ["wugefanshi", '
                            '"common-fraud", "theme", "store-promos"]\n' + mpv)
        assert text.count('driver = "mpv"') == 3, "the shipped config's screens changed"
    # [fleet] and [inspection] go before the first [[screens]] (top-level tables)
    text = text.replace("[[screens]]", extra.strip() + "\n\n[[screens]]", 1) if extra else text
    cfg = d / "config.toml"
    cfg.write_text(text, "utf-8")
    r = subprocess.run([sys.executable, "-m", "signage.cli", "validate", "--config", str(cfg)],
                       cwd=d, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"{variant}: the site does not validate:\n{r.stdout}{r.stderr}")
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--for", dest="seconds", type=float, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    if args.config is not None:
        m = measure(args.config.resolve(), args.seconds)
        print(f"{args.config}: peak {m['peak']:.1f} MiB, steady {m['steady']:.1f} MiB, "
              f"cpu {m['cpu']:.1f} s, wall {m['wall']:.1f} s, load {m['load']:.1f}")
        return
    names = [v for v in args.only.split(",") if v]
    for v in names:
        if v not in VARIANTS:
            raise SystemExit(f"--only: unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory(prefix="daemon-rss-") as tmp:
        base = Path(tmp)
        broker = pki = None
        if any("fleet" in v for v in names):
            from tests.fleet.conftest import SITES, Broker, make_pki
            (base / "pki").mkdir()
            pki = make_pki(base / "pki", ("hub", *SITES))
            (base / "broker").mkdir()
            broker = Broker(base / "broker", pki)
            broker.start()
        try:
            results: dict[str, list[dict[str, float]]] = {v: [] for v in names}
            for rnd in range(args.rounds):
                for v in names:
                    d = base / f"{v}-{rnd}"
                    d.mkdir()
                    cfg = make_site(d, v, broker.url if broker else None, pki)
                    m = measure(cfg, args.seconds)
                    results[v].append(m)
                    kids = f", children (mpv) {m['children']:.1f} MiB" if m["children"] else ""
                    print(f"round {rnd + 1} {v:16s} peak {m['peak']:5.1f} MiB  steady "
                          f"{m['steady']:5.1f} MiB  cpu {m['cpu']:4.1f} s  wall "
                          f"{m['wall']:4.1f} s  load {m['load']:4.1f}{kids}", flush=True)
        finally:
            if broker is not None:
                broker.stop()
    print(f"\n| variant | peak VmHWM (max of {args.rounds}) | steady VmRSS (median) | "
          "≤ 57.2 MiB |\n|---|---|---|---|")
    for v, ms in results.items():
        peak = max(m["peak"] for m in ms)
        steady = statistics.median(m["steady"] for m in ms)
        ok = "met" if max(peak, steady) <= 57.2 else "missed"
        print(f"| {v} | {peak:.1f} MiB | {steady:.1f} MiB | {ok} |")


if __name__ == "__main__":
    main()
