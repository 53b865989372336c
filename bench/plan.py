"""Planner throughput (timeline entries per second, one core) and store airtime against its
theoretical bound G/(G+ā), on the shipped site.

    .venv/bin/python bench/plan.py [--config config.toml] [--days 30]
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from signage.load import load_site
from signage.plan.stats import mean_af_ms, measure, plan_days, store_bound


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, default=Path("config.toml"))
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start", default="2026-12-01")
    args = ap.parse_args()
    loaded = load_site(args.config)
    site = loaded.site
    first = date.fromisoformat(args.start)
    total_n = 0
    total_t = 0.0
    print(f"{'screen':16} {'entries':>9} {'entries/s':>11} {'worst gap':>9} {'store':>7} "
          f"{'bound':>7} {'ratio':>6}")
    for sc in site.screens:
        t0 = time.perf_counter()
        entries = plan_days(site, sc, first, args.days)
        dt = time.perf_counter() - t0
        total_n += len(entries)
        total_t += dt
        st = measure(sc.id, entries, site.rule.start_to_start)
        bound = store_bound(site.rule.budget_ms, mean_af_ms(st), site.rule.start_to_start)
        print(f"{sc.id:16} {len(entries):9d} {len(entries) / dt:11,.0f} "
              f"{st.worst_gap_ms / 1000:8.1f}s {st.store_share:7.1%} {bound:7.1%} "
              f"{st.store_share / bound:6.3f}")
    print(f"all screens: {total_n} entries in {total_t:.2f} s = {total_n / total_t:,.0f} "
          f"entries/s ({args.days} days from {first})")


if __name__ == "__main__":
    main()
