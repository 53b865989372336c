"""End-to-end helpers: start `signage run` as a real process, watch its log while it runs,
and measure the log afterwards (gaps with their positions, outages, start errors).

Every time here is CLOCK_MONOTONIC: the test process and the daemon read the same clock, so
an instant taken in the test (an unplug, a kill) compares directly with a record's `mono`.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signage.playlog.writer import log_files

Record = dict[str, Any]

SITE = """
[site]
id = "e2e-{name}"
name = "端到端测试超市"
contact = {{ name = "张三", phone = "13800000000" }}

[rule]
max_gap_s = {max_gap}
margin_s = {margin}
measure = "end-to-start"
text_default_s = {text_s}

[hours]
default = ["00:00-24:00"]

[log]
dir = "log"
key_file = "site.key"
heartbeat_s = 2

[media]
root = "media"

[playlists]
reload_check_s = 1

[[screens]]
id = "{screen}"
label = "端到端"
driver = "{driver}"
width = {width}
height = {height}
playlists = ["af", "store"]
options = {options}
"""


@dataclass(frozen=True)
class Item:
    id: str
    type: str  # text, image, clip
    text: str = ""
    path: str = ""
    duration_s: float | None = None
    weight: int = 1

    def toml(self) -> str:
        out = f'\n[[items]]\nid = "{self.id}"\ntype = "{self.type}"\n'
        if self.text:
            out += f'text = "{self.text}"\n'
        if self.path:
            out += f'path = "{self.path}"\n'
        if self.duration_s is not None:
            out += f"duration_s = {self.duration_s}\n"
        if self.weight != 1:
            out += f"weight = {self.weight}\n"
        return out


def write_site(dst: Path, *, name: str, driver: str, screen: str, width: int, height: int,
               options: str, af: list[Item], store: list[Item], max_gap: float,
               margin: float, text_s: float = 1.0) -> Path:
    """A one-screen site: config.toml, playlists/af.toml, playlists/store.toml, media/."""
    (dst / "playlists").mkdir(exist_ok=True)
    (dst / "media").mkdir(exist_ok=True)
    cfg = dst / "config.toml"
    cfg.write_text(SITE.format(name=name, driver=driver, screen=screen, width=width,
                               height=height, options=options, max_gap=max_gap,
                               margin=margin, text_s=text_s), "utf-8")
    (dst / "playlists" / "af.toml").write_text(
        'name = "反诈"\ncontent = "anti-fraud"\n' + "".join(i.toml() for i in af), "utf-8")
    (dst / "playlists" / "store.toml").write_text(
        'name = "促销"\ncontent = "store"\n' + "".join(i.toml() for i in store), "utf-8")
    return cfg


def signage_run(cfg: Path, for_: str) -> subprocess.Popen[str]:
    """`signage run --config CFG --for FOR`, a real process, working directory = the site."""
    return subprocess.Popen(
        [sys.executable, "-m", "signage.cli", "run", "--config", str(cfg), "--for", for_],
        cwd=cfg.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_log(log_dir: Path) -> list[Record]:
    """Complete records so far, unverified (the daemon may be writing the last line)."""
    out: list[Record] = []
    for path in log_files(log_dir):
        lines = path.read_bytes().split(b"\n")
        out.extend(json.loads(line) for line in lines[:-1])
    return out


def wait_for(log_dir: Path, proc: subprocess.Popen[str], what: str,
             pred: Callable[[list[Record]], Any], timeout_s: float = 15.0) -> Any:
    """Poll the live log until ``pred(records)`` is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred(read_log(log_dir))
        if got:
            return got
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"signage exited ({proc.returncode}) while waiting for "
                                 f"{what}:\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def showings(recs: list[Record], screen: str) -> list[Record]:
    return [r for r in recs if r["type"] == "showing" and r["screen"] == screen]


def af_gap_spans(recs: list[Record], screen: str) -> list[tuple[float, float]]:
    """End-to-start gaps between consecutive real anti-fraud showings (completed or cut
    short, longer than 0 s) as (end of one, start of the next) on the monotonic clock."""
    shows = sorted((r for r in showings(recs, screen)
                    if r["anti_fraud"] and r["outcome"] in ("completed", "cut_short")
                    and r["end_mono"] > r["start_mono"]), key=lambda r: r["start_mono"])
    return [(a["end_mono"], b["start_mono"]) for a, b in itertools.pairwise(shows)]


def outages(recs: list[Record], screen: str) -> list[tuple[float, float, Record, Record]]:
    """(down mono, up mono, screen_down, screen_up) for each completed outage."""
    out: list[tuple[float, float, Record, Record]] = []
    down: Record | None = None
    for r in recs:
        if r.get("screen") != screen:
            continue
        if r["type"] == "screen_down":
            assert down is None, f"two screen_down without screen_up: {r}"
            down = r
        elif r["type"] == "screen_up":
            assert down is not None, f"screen_up without screen_down: {r}"
            out.append((down["mono"], r["mono"], down, r))
            down = None
    assert down is None, f"the screen never came back up: {down}"
    return out


def overlaps(span: tuple[float, float], windows: list[tuple[float, float]]) -> bool:
    a, b = span
    return any(a < w1 and w0 < b for w0, w1 in windows)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))
    return s[int(k)]


def audit_json(log_dir: Path, key: Path, cwd: Path) -> tuple[int, dict[str, Any]]:
    """`signage audit LOG --key KEY --format json`: the inspector's independent reading."""
    p = subprocess.run([sys.executable, "-m", "signage.cli", "audit", str(log_dir), "--key",
                        str(key), "--format", "json"], cwd=cwd, capture_output=True, text=True,
                       timeout=60, check=False)
    assert p.stdout, p.stderr
    return p.returncode, json.loads(p.stdout)


def children(pid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the direct children of ``pid``, from /proc."""
    out: list[tuple[int, list[str]]] = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid != pid:
                continue
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        out.append((int(d), [a.decode("utf-8", "replace") for a in argv if a]))
    return out
