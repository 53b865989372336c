"""`signage hub audit` over a province-month of showings in Parquet (the DuckDB part).

    .venv/bin/python bench/hub_audit.py [--sites 100] [--screens 10] [--days 30]

Generates the hub's dataset layout directly with DuckDB (`date=…/site=…/` partitions, the
schema of signage/hub/dataset.py): per screen and day 1,333 showings (14 h open, a 30 s
anti-fraud item after every 30 s of store content: 10,000 screens x 30 days = 400 M showings).
Then times signage.hub.views.figures (per site, screen and day: verified anti-fraud showings,
seconds, longest interval) over the whole month, and extrapolates linearly to 10,000 screens.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from signage.hub.config import HubConfig, LoadedHub  # noqa: E402
from signage.hub.views import figures  # noqa: E402

PER_DAY = 1333


def generate(root: Path, sites: int, screens: int, days: int) -> int:
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    n = sites * screens * days * PER_DAY
    out = root / "showings"
    out.mkdir(parents=True)
    con.execute(f"""
    COPY (
      SELECT i AS seq, 'r' || (i // {PER_DAY * screens}) AS run,
             's' || ((i // {PER_DAY}) % {screens}) AS screen,
             CASE WHEN i % 2 = 0 THEN 'af' || (i % 7) ELSE 'st' || (i % 5) END AS item,
             CASE WHEN i % 2 = 0 THEN 'af' ELSE 'store' END AS playlist, 'text' AS kind,
             CASE WHEN i % 2 = 0 THEN '反诈' ELSE NULL END AS category,
             i % 2 = 0 AS anti_fraud, 'completed' AS outcome,
             epoch_ms(TIMESTAMP '2026-11-01 00:00:00') + d * 86400000 + 28800000
               + (i % {PER_DAY}) * 37800 AS start_ms,
             epoch_ms(TIMESTAMP '2026-11-01 00:00:00') + d * 86400000 + 28800000
               + (i % {PER_DAY}) * 37800 + 30000 AS end_ms,
             '' AS start, '' AS "end",
             (i % {PER_DAY}) * 37.8 AS start_mono, (i % {PER_DAY}) * 37.8 + 30 AS end_mono,
             'b' AS boot,
             strftime(DATE '2026-11-01' + CAST(d AS INTEGER), '%Y-%m-%d') AS date,
             'site' || lpad(CAST(s AS VARCHAR), 5, '0') AS site
      FROM (SELECT i, (i // {PER_DAY * screens}) % {days} AS d,
                   i // {PER_DAY * screens * days} AS s FROM range({n}) t(i))
    ) TO '{out}' (FORMAT PARQUET, PARTITION_BY (date, site), OVERWRITE_OR_IGNORE)
    """)  # noqa: S608
    return n


def query(root: Path) -> None:
    hub = LoadedHub(HubConfig(data_dir=str(root)), root / "hub.toml")
    t0 = time.perf_counter()
    rows = figures(hub, "2026-11-01", "2026-11-30")
    dt = time.perf_counter() - t0
    # VmHWM, not getrusage: ru_maxrss survives fork+exec and would report the parent's peak
    hwm = next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines()
               if x.startswith("VmHWM:"))
    print(len(rows), dt, hwm / 1024)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--query":
        query(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--screens", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--keep", type=Path, default=None,
                    help="make the dataset here and keep it; reuse it when it is there")
    a = ap.parse_args()
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="hub-audit-bench-"))
    try:
        t0 = time.perf_counter()
        n = a.sites * a.screens * a.days * PER_DAY
        made = "reused"
        if not (tmp / "showings").is_dir():
            generate(tmp, a.sites, a.screens, a.days)
            made = "made"
        size = sum(p.stat().st_size for p in (tmp / "showings").rglob("*.parquet"))
        print(f"dataset: {n:,} showings ({a.sites} sites x {a.screens} screens x {a.days} days)"
              f", {size / 1e9:.2f} GB, {made} in {time.perf_counter() - t0:.0f} s", flush=True)
        # the query in a fresh process, so that its peak RSS is its own
        r = subprocess.run([sys.executable, __file__, "--query", str(tmp)], check=True,
                           capture_output=True, text=True)
        n_rows, dt, rss = r.stdout.split()
        total_screens = a.sites * a.screens
        print(f"hub audit figures (DuckDB): {int(n_rows):,} screen-days in {float(dt):.1f} s "
              f"= {n / float(dt) / 1e6:.2f} M showings/s; peak RSS {float(rss):.0f} MB")
        dt = float(dt)
        print(f"extrapolated to 10,000 screens x 30 days (400 M showings), linearly: "
              f"{dt * (10_000 * 30) / (total_screens * a.days) / 60:.1f} min")
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
