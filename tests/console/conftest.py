"""A real daemon on the simulator, a real console, and a real headless Chromium (Selenium with
the system's chromedriver; no browser is downloaded)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "test-screenshots" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ADMIN, ADMIN_PW = "boss", "boss-password-1"
INSPECTOR, INSPECTOR_PW = "insp", "insp-password-1"

CONFIG = """
[site]
id = "console-test"
name = "控制台测试超市"
unit = "某某区反诈中心测试点"
contact = {{ name = "张三", title = "店长", phone = "13800000000" }}

[rule]
max_gap_s = 10
margin_s = 2
measure = "end-to-start"
text_default_s = 1

[hours]
default = ["00:00-24:00"]

[log]
dir = "log"
key_file = "site.key"
heartbeat_s = 2

[playlists]
reload_check_s = 0.5

[console]
port = {port}

[[screens]]
id = "hall-hdmi"
label = "大厅屏"
driver = "simulator"
width = 320
height = 180
playlists = ["af", "store"]
options = {{ kind = "hdmi" }}

[[screens]]
id = "door-led"
label = "门口LED"
driver = "simulator"
width = 96
height = 16
playlists = ["af", "store"]
options = {{ kind = "led" }}

[[screens]]
id = "lobby-mpv"
label = "电梯厅屏"
driver = "mpv"
width = 320
height = 180
playlists = ["af", "store"]
options = {{ vo = "null", fullscreen = false, screenshot_every_s = 2 }}
"""

AF = """name = "反诈"
content = "anti-fraud"

[[items]]
id = "af1"
type = "text"
text = "凡是刷单返利就是诈骗"
category = "刷单返利"
duration_s = 1.5

[[items]]
id = "af2"
type = "text"
text = "凡是冒充公检法要求转账就是诈骗"
category = "冒充公检法"
duration_s = 1.5
"""

STORE = """name = "促销"
content = "store"

[[items]]
id = "st1"
type = "text"
text = "今日特价"
duration_s = 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNAGE_LANG", "LC_ALL",
                                                             "LC_MESSAGES", "LANGUAGE")}
    env.update({"LANG": "zh_CN.UTF-8", "NO_COLOR": "1"})
    return env


@dataclass
class Site:
    dir: Path
    config: Path
    port: int
    daemon: subprocess.Popen[bytes]
    console: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.dir / "var" / "status.json").read_text("utf-8")))

    def records(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted((self.dir / "log").glob("signage-*.jsonl")):
            for line in p.read_text("utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _wait(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("console-site")
    port = free_port()
    (d / "playlists").mkdir()
    (d / "media").mkdir()
    cfg = d / "config.toml"
    cfg.write_text(CONFIG.format(port=port), "utf-8")
    (d / "playlists" / "af.toml").write_text(AF, "utf-8")
    (d / "playlists" / "store.toml").write_text(STORE, "utf-8")
    env = child_env()
    for name, pw, role in ((ADMIN, ADMIN_PW, "admin"), (INSPECTOR, INSPECTOR_PW, "inspector")):
        subprocess.run([sys.executable, "-m", "signage.cli", "console", "adduser", name,
                        "--role", role, "--config", str(cfg), "--password-stdin"],
                       input=pw + "\n", text=True, check=True, env=env, timeout=60)
    logs = d / "out"
    logs.mkdir()
    daemon = subprocess.Popen([sys.executable, "-m", "signage.cli", "run", "--config",
                               str(cfg), "--for", "30m", "--no-live"], cwd=d, env=env,
                              stdout=(logs / "daemon.out").open("wb"), stderr=subprocess.STDOUT)
    console = subprocess.Popen([sys.executable, "-m", "signage.cli", "console", "--config",
                                str(cfg)], cwd=d, env=env,
                               stdout=(logs / "console.out").open("wb"),
                               stderr=subprocess.STDOUT)
    s = Site(d, cfg, port, daemon, console)
    try:
        _wait(lambda: (d / "var" / "status.json").is_file(), 60, "the daemon's status file")

        def console_up() -> bool:
            try:
                with urllib.request.urlopen(f"{s.url}/login", timeout=2) as r:  # noqa: S310
                    return bool(r.status == 200)
            except OSError:
                return False
        _wait(console_up, 60, "the console")
        yield s
    finally:
        _stop(console)
        _stop(daemon)


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="signage-chromium-")
    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}",
              "--window-size=1280,1000", "--lang=zh-CN"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    drv = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    drv.set_page_load_timeout(60)
    drv.downloads = downloads
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(browser: Any, name: str) -> Path:
    """A screenshot of this step, kept for the test's output (var/test-screenshots/console)."""
    p = SHOTS / f"{name}.png"
    browser.save_screenshot(str(p))
    print(f"screenshot: {p}")
    return p


def bomb_png(path: Path, w: int = 30_000, h: int = 30_000) -> Path:
    """A real 30,000 x 30,000 1-bit PNG (900 M pixels) of ~100 KB: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (w + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path
