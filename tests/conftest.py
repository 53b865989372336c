"""Shared fixtures: a real site on disk (config, playlists, media) in a temp directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Messages are Chinese by default (signage/i18n.py). Most tests assert the English msgids, so
# the suite runs in English, child processes included; tests/test_i18n.py and the console's
# tests choose Chinese explicitly.
os.environ["SIGNAGE_LANG"] = "en"


def copy_site(dst: Path) -> Path:
    """A copy of the shipped sample site; returns its config path."""
    shutil.copy(ROOT / "config.toml", dst / "config.toml")
    shutil.copytree(ROOT / "playlists", dst / "playlists")
    shutil.copytree(ROOT / "media", dst / "media")
    return dst / "config.toml"


def keep_format_1(cfg: Path) -> Path:
    """The shipped config writes log format 2; a test about format 1 (the site key's HMAC
    chain) says so explicitly with this."""
    text = cfg.read_text("utf-8")
    assert "\nformat = 2\n" in text
    cfg.write_text(text.replace("\nformat = 2\n", "\nformat = 1\n", 1), "utf-8")
    return cfg


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    copy_site(tmp_path)
    return tmp_path


SMALL_CONFIG = """
[site]
id = "test-site"
name = "测试超市"
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
heartbeat_s = {heartbeat}

[playlists]
reload_check_s = 0.2

[[screens]]
id = "s1"
driver = "simulator"
width = 320
height = 180
playlists = ["af", "store"]
options = {{ kind = "hdmi"{extra} }}
"""

SMALL_AF = """
name = "反诈"
content = "anti-fraud"
{items}
"""


def small_site(dst: Path, *, max_gap: float = 3.0, margin: float = 0.5, text_s: float = 0.5,
               heartbeat: float = 1.0, extra: str = "", store_s: tuple[float, ...] = (0.5, 1.0),
               af_s: tuple[float, ...] = (0.5, 0.7, 1.0)) -> Path:
    """A scaled-down site: a 3 s rule, items of 0.5-2 s, one simulator screen."""
    (dst / "playlists").mkdir(exist_ok=True)
    (dst / "media").mkdir(exist_ok=True)
    cfg = dst / "config.toml"
    cfg.write_text(SMALL_CONFIG.format(max_gap=max_gap, margin=margin, text_s=text_s,
                                       heartbeat=heartbeat, extra=extra), "utf-8")
    af = "".join(
        f'\n[[items]]\nid = "af{i}"\ntype = "text"\ntext = "凡是刷单返利就是诈骗{i}"\n'
        f"duration_s = {d}\n" for i, d in enumerate(af_s))
    (dst / "playlists" / "af.toml").write_text(SMALL_AF.format(items=af), "utf-8")
    st = "".join(
        f'\n[[items]]\nid = "st{i}"\ntype = "text"\ntext = "促销{i}"\nduration_s = {d}\n'
        for i, d in enumerate(store_s))
    (dst / "playlists" / "store.toml").write_text(
        f'name = "促销"\ncontent = "store"\n{st}', "utf-8")
    return cfg


@pytest.fixture
def make_small_site(tmp_path: Path) -> Callable[..., Path]:
    def make(**kw: object) -> Path:
        return small_site(tmp_path, **kw)  # type: ignore[arg-type]
    return make
