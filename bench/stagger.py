"""Screens that share a playlist: how often neighbouring screens show the same anti-fraud
slogan at the same instant (issue 10, item 7). Pure planner, no drivers.

    .venv/bin/python bench/stagger.py [--day 2026-12-02] [--hour 10]

Two sites, written to a temporary directory and loaded as `signage run` would load them:

- twelve HDMI screens sharing the shipped playlists (wugefanshi, common-fraud, theme:
  19 anti-fraud slogans of weights 2 and 1; store-promos between them);
- twelve screens sharing one anti-fraud playlist of 20 slogans, four of weight 2 and
  sixteen of weight 1 (each at most 1/12 of the weight), nothing else;
- a mall with two screens, one anti-fraud playlist of unequal weights 3, 2, 1, 1 and a store
  playlist.

Of the anti-fraud showings that start in the hour: how many overlap a showing of the *same*
slogan on the next screen, and on any other screen. Only the public
loading and planning API is used, so the script runs unchanged on older trees
(``PYTHONPATH=<tree> python bench/stagger.py``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import date
from itertools import takewhile
from pathlib import Path

from signage.load import load_site
from signage.plan import Entry, Timeline
from signage.timeutil import local_ms

REPO = Path(__file__).resolve().parent.parent

SITE = """
[site]
id = "{id}"
name = "{id}"
timezone = "Asia/Shanghai"
contact = {{ name = "王芳", phone = "0571-88000000" }}

[rule]
max_gap_s = 60
margin_s = 5
measure = "end-to-start"
text_default_s = 8

[hours]
default = ["08:00-22:00"]

[log]
dir = "var/log"

[media]
root = "{media}"

[playlists]
dir = "playlists"
"""

SCREEN = """
[[screens]]
id = "s{k:02d}"
driver = "simulator"
width = 1280
height = 720
playlists = [{pls}]
options = {{ kind = "hdmi" }}
"""

def af_playlist(name: str, weights: tuple[int, ...]) -> str:
    return f"""
name = "{name}"
content = "anti-fraud"
""" + "".join(f"""
[[items]]
id = "{name}-{i}"
type = "text"
text = "反诈提示{i}：不听、不信、不转账"
weight = {w}
""" for i, w in enumerate(weights))


MALL_AF = af_playlist("mall-af", (3, 2, 1, 1))
WIDE_AF = af_playlist("wide-af", (2, 2, 2, 2) + (1,) * 16)

MALL_STORE = """
name = "商场促销"
content = "store"
""" + "".join(f"""
[[items]]
id = "shop-{i}"
type = "text"
text = "本周促销{i}"
duration_s = {d}
""" for i, d in enumerate((10, 15, 20)))


def write_site(root: Path, sid: str, screens: int, pls: list[str]) -> Path:
    root.mkdir(parents=True)
    text = SITE.format(id=sid, media=REPO / "media")
    names = ", ".join(f'"{p}"' for p in pls)
    text += "".join(SCREEN.format(k=k, pls=names) for k in range(screens))
    (root / "config.toml").write_text(text, encoding="utf-8")
    return root / "config.toml"


def coincidences(cfg: Path, day: date, hour: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(same slogan as the next screen, showings) over the neighbouring pairs, and (same
    slogan as any other screen, showings) over all screens, for showings starting in the
    hour."""
    site = load_site(cfg).site
    t0 = local_ms(day, hour * 60, site.tz)
    t1 = t0 + 3_600_000
    rows = []
    for sc in site.screens:
        es = takewhile(lambda e: e.start_ms < t1 + 120_000, Timeline(site, sc).entries(t0))
        rows.append([e for e in es if e.anti_fraud])

    def meets(e: Entry, other: list[Entry]) -> bool:
        return any(f.item.id == e.item.id and f.start_ms < e.end_ms and e.start_ms < f.end_ms
                   for f in other)

    nb = [0, 0]
    anyone = [0, 0]
    for k, row in enumerate(rows):
        for e in row:
            if not t0 <= e.start_ms < t1:
                continue
            anyone[1] += 1
            anyone[0] += any(meets(e, o) for j, o in enumerate(rows) if j != k)
            if k + 1 < len(rows):
                nb[1] += 1
                nb[0] += meets(e, rows[k + 1])
    return (nb[0], nb[1]), (anyone[0], anyone[1])


def report(name: str, figures: tuple[tuple[int, int], tuple[int, int]]) -> None:
    (ns, nn), (a_s, an) = figures
    print(f"{name}:\n  same slogan as the next screen at the same instant: {ns} of {nn} showings;"
          f" as any other screen: {a_s} of {an}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", default="2026-12-02")
    ap.add_argument("--hour", type=int, default=10)
    args = ap.parse_args()
    day = date.fromisoformat(args.day)
    with tempfile.TemporaryDirectory() as tmp:
        twelve = write_site(Path(tmp) / "twelve", "twelve", 12,
                            ["wugefanshi", "common-fraud", "theme", "store-promos"])
        shutil.copytree(REPO / "playlists", twelve.parent / "playlists")
        mall = write_site(Path(tmp) / "mall", "mall", 2, ["mall-af", "mall-store"])
        (mall.parent / "playlists").mkdir()
        (mall.parent / "playlists" / "mall-af.toml").write_text(MALL_AF, encoding="utf-8")
        (mall.parent / "playlists" / "mall-store.toml").write_text(MALL_STORE, encoding="utf-8")
        wide = write_site(Path(tmp) / "wide", "wide", 12, ["wide-af"])
        (wide.parent / "playlists").mkdir()
        (wide.parent / "playlists" / "wide-af.toml").write_text(WIDE_AF, encoding="utf-8")
        report("twelve screens, shipped playlists", coincidences(twelve, day, args.hour))
        report("twelve screens, 20 slogans of weights 2 (4) and 1 (16), no store",
               coincidences(wide, day, args.hour))
        report("two mall screens, weights 3/2/1/1", coincidences(mall, day, args.hour))


if __name__ == "__main__":
    main()
