"""A scaled-down site with three simulator screens and an [authority] section, for alert
tests; and helpers to seal and drop alerts."""

from __future__ import annotations

import os
from pathlib import Path

from signage.alerts.envelope import seal
from signage.keys import SigningKey

CONFIG = """
[site]
id = "{site}"
name = "测试超市"
contact = {{ name = "张三", phone = "13800000000" }}

[rule]
max_gap_s = {max_gap}
margin_s = 1.0
measure = "{measure}"
text_default_s = 1.0

[hours]
default = ["00:00-24:00"]

[log]
dir = "log"
key_file = "site.key"
heartbeat_s = 1.0

[playlists]
reload_check_s = 0.5

[authority]
keys = ["{key}"]
regions = ["330106"]
drill_screens = ["s2"]
max_show_s = {show}

[[screens]]
id = "s1"
driver = "simulator"
width = 320
height = 180
playlists = ["af", "store"]
options = {{ kind = "hdmi" }}

[[screens]]
id = "s2"
driver = "simulator"
width = 320
height = 180
playlists = ["af", "store"]
options = {{ kind = "hdmi" }}

[[screens]]
id = "s3"
driver = "simulator"
width = 96
height = 16
playlists = ["af", "store"]
options = {{ kind = "led", scroll_px_per_s = 64 }}
"""


def alert_site(dst: Path, key: SigningKey, *, site: str = "shop-1", max_gap: float = 6.0,
               show: float = 5.0, measure: str = "end-to-start", extra: str = "") -> Path:
    (dst / "playlists").mkdir(parents=True, exist_ok=True)
    (dst / "media").mkdir(exist_ok=True)
    cfg = dst / "config.toml"
    cfg.write_text(CONFIG.format(site=site, max_gap=max_gap, key=key.public.text, show=show,
                                 measure=measure) + extra, "utf-8")
    af = "".join(f'\n[[items]]\nid = "af{i}"\ntype = "text"\ntext = "反诈{i}"\n'
                 f"duration_s = {d}\n" for i, d in enumerate((0.8, 1.0)))
    (dst / "playlists" / "af.toml").write_text(
        f'name = "反诈"\ncontent = "anti-fraud"\n{af}', "utf-8")
    st = "".join(f'\n[[items]]\nid = "st{i}"\ntype = "text"\ntext = "促销{i}"\n'
                 f"duration_s = {d}\n" for i, d in enumerate((1.5, 2.0)))
    (dst / "playlists" / "store.toml").write_text(
        f'name = "促销"\ncontent = "store"\n{st}', "utf-8")
    return cfg


def drop(inbox: Path, name: str, data: bytes) -> None:
    """Write a file into the drop directory the way `signage alert add` does (atomic)."""
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)


def sealed(doc: bytes, key: SigningKey) -> bytes:
    return seal("cap-alert", doc, key)
