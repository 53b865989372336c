"""What the box's shipper adds to the daemon's memory by importing: VmRSS before and after
each import, in a fresh interpreter that first imports what the daemon imports anyway.

    .venv/bin/python bench/fleet_imports.py
"""

from __future__ import annotations

import importlib
import sys

sys.path[:] = [p for p in sys.path if p not in ("", __file__.rsplit("/", 1)[0])]


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    for m in ("signage.config", "signage.runtime.daemon"):  # the daemon has these anyway
        importlib.import_module(m)
    start = rss_kib()
    for m in ("ssl", "paho.mqtt.client", "signage.fleet.mqtt", "signage.fleet.outbox",
              "signage.fleet.protocol", "signage.fleet.status", "signage.fleet.shipper"):
        before, had = rss_kib(), set(sys.modules)
        importlib.import_module(m)
        new = sorted(set(sys.modules) - had)
        print(f"{m}: +{(rss_kib() - before) / 1024:.2f} MiB ({len(new)} modules: "
              f"{', '.join(new[:12])}{' …' if len(new) > 12 else ''})")
    print(f"the shipper's imports: +{(rss_kib() - start) / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
