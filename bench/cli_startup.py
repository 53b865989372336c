"""The CLI's start-up, side by side: the same commands run by two checkouts' `signage`, alternating,
each a fresh process; per run the wall time and the CPU time (user + sys of the process and its
children, from wait4), with the 1-minute load average before the run (docs/benchmarks.md, issue 12).

    .venv/bin/python bench/cli_startup.py --base /work/main --ours . --rounds 5 \
        [--month /tmp/h12month2]     # the month of bench/audit.py --log-format 2 --keep

Commands: `signage --help`, `signage version`, `signage validate` of the shipped sample site (a
copy in a temporary directory, the same for both), and with --month the month's audit
(`signage audit MONTH --trust MONTH.trust.toml --format json`; exit 1 is expected: the log has
planned violations) and of its first 400 records ("audit small": nearly all start-up).
Prints one line per run and the median of each command per checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def load1() -> float:
    return os.getloadavg()[0]


def one(exe: Path, args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, exit status) of ``exe args`` run in ``cwd``, output discarded."""
    env = {**os.environ, "LANG": "C.UTF-8", "COLUMNS": "100"}
    t0 = time.perf_counter()
    p = subprocess.Popen([str(exe), *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, default=Path("/work/main"))
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--month", type=Path, default=None)
    ns = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        for d in ("playlists", "media"):
            shutil.copytree(root / d, site / d)
        shutil.copy(root / "config.toml", site / "config.toml")
        cmds: dict[str, list[str]] = {"--help": ["--help"], "version": ["version"],
                                      "validate": ["validate"]}
        if ns.month is not None:
            # the month's first 400 records: an audit that is nearly all start-up
            first = sorted(ns.month.glob("signage-*.jsonl"))[0]
            (site / "small").mkdir()
            with open(first, "rb") as fi, open(site / "small" / first.name, "wb") as fo:
                for _n, line in zip(range(400), fi, strict=False):
                    fo.write(line)
            cmds["audit small"] = ["audit", "small", "--trust", f"{ns.month}.trust.toml",
                                   "--format", "json"]
            cmds["audit month"] = ["audit", str(ns.month), "--trust",
                                   f"{ns.month}.trust.toml", "--format", "json"]
        who = {"base": ns.base.resolve() / ".venv/bin/signage",
               "ours": ns.ours.resolve() / ".venv/bin/signage"}
        got: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(ns.rounds):
            for name, args in cmds.items():
                order = ("base", "ours") if r % 2 == 0 else ("ours", "base")
                for w in order:
                    la = load1()
                    wall, cpu, code = one(who[w], args, site)
                    got.setdefault((name, w), []).append((wall, cpu))
                    print(f"round {r + 1} {name:12s} {w}: wall {wall:.3f} s, CPU {cpu:.3f} s, "
                          f"exit {code}, load {la:.2f}", flush=True)
        print(f"\nmedians over {ns.rounds} rounds (load now {load1():.2f}):")
        for name in cmds:
            cells = []
            for w in ("base", "ours"):
                xs = got[(name, w)]
                cells.append(f"{w} wall {statistics.median(x[0] for x in xs):.3f} s / CPU "
                             f"{statistics.median(x[1] for x in xs):.3f} s")
            print(f"  {name:12s} " + "; ".join(cells))


if __name__ == "__main__":
    main()
