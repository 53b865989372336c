"""What the console's status file costs the daemon: the same site run with the status file
written every second and with it switched off (write_status replaced by a no-op), alternated.

    .venv/bin/python bench/status_cost.py [--screens 8] [--seconds 45] [--rounds 2]

Prints RSS and peak RSS (VmHWM) of each `signage run` after --seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime import make_site  # noqa: E402

CODE = """
import sys
import signage.runtime.daemon as d
if sys.argv[1] == "off":
    d.Runtime.write_status = lambda self, state="running": None
import signage.cli as c
sys.argv = ["signage", "run", "--config", sys.argv[2], "--no-live"]
c.main()
"""


def mem(pid: int) -> tuple[float, float]:
    t = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", t).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", t).group(1))  # type: ignore[union-attr]
    return rss / 1024, hwm / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screens", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    for mode in ("on", "off") * a.rounds:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = make_site(Path(tmp), a.screens)
            env = {**os.environ, "SIGNAGE_LANG": "en"}
            p = subprocess.Popen([sys.executable, "-c", CODE, mode, str(cfg)], cwd=tmp, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(a.seconds)
            rss, hwm = mem(p.pid)
            written = (Path(tmp) / "var" / "status.json").exists()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            print(f"status file {mode}: RSS {rss:.1f} MB, peak {hwm:.1f} MB "
                  f"(status.json written: {written})", flush=True)


if __name__ == "__main__":
    main()
