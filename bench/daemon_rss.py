"""Peak and steady RSS of a real `signage run`, read from /proc/<pid>/status every 0.1 s
(VmHWM is the kernel's own peak; a child's ru_maxrss can carry its parent's peak on Linux).

    .venv/bin/python bench/daemon_rss.py SECONDS SITE/config.toml

The site's directory is the daemon's working directory. Steady = median VmRSS of the
second half of the run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    secs, cfg = sys.argv[1], Path(sys.argv[2]).resolve()
    p = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config", str(cfg),
                          "--for", f"{secs}s", "--no-live"], cwd=cfg.parent,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss: list[int] = []
    hwm = 0
    while p.poll() is None:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmRSS"):
                rss.append(int(line.split()[1]))
            elif line.startswith("VmHWM"):
                hwm = int(line.split()[1])
        time.sleep(0.1)
    err = p.stderr.read().decode()[-500:] if p.stderr else ""
    half = sorted(rss[len(rss) // 2:])
    steady = half[len(half) // 2] / 1024
    print(f"rc={p.returncode} peak VmHWM {hwm / 1024:.1f} MiB, steady {steady:.1f} MiB, "
          f"max sampled VmRSS {max(rss) / 1024:.1f} MiB", err if p.returncode else "")


if __name__ == "__main__":
    main()
