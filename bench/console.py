"""Console figures: 总览 page load time with 8 screens, the console's RSS, the daemon's RSS.

    .venv/bin/python bench/console.py [--screens 8] [--seconds 60] [--loads 50]

Starts `signage run` (8 simulator screens: half LED strips, half 1280x720 HDMI slides, the
shipped playlists, open all day) and `signage console` as real processes, logs in, then:
- HTTP: GET / (the 总览 page, server-rendered from the status file) `--loads` times with the
  session cookie; the time to the last byte;
- Chromium (headless, the system's): the page's own navigation timing (navigationStart to
  loadEventEnd, all frames loaded) over `--loads` reloads;
- RSS (VmRSS) and peak RSS (VmHWM) of both processes from /proc after the loads and after
  `--seconds` more of running (no page open meanwhile).
Target: 总览 ≤ 200 ms; console ≤ 80 MB; daemon ≤ 60 MB (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

# bench/ must not be on the path (its inspect.py would shadow the stdlib's, which selenium
# imports): bench/runtime.py is loaded by its file name
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
_spec = importlib.util.spec_from_file_location("bench_runtime",
                                               Path(__file__).resolve().parent / "runtime.py")
assert _spec is not None and _spec.loader is not None
_bench_runtime = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_runtime)
make_site, pct = _bench_runtime.make_site, _bench_runtime.pct

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def mem(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return rss / 1024, hwm / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screens", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--loads", type=int, default=50)
    a = ap.parse_args()
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "NO_COLOR": "1"}
    env.pop("SIGNAGE_LANG", None)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cfg = make_site(d, a.screens)
        port = free_port()
        subprocess.run([py, "-m", "signage.cli", "console", "adduser", "bench", "--role",
                        "admin", "--config", str(cfg), "--password-stdin"], input="bench-pass-1\n",
                       text=True, check=True, env=env, capture_output=True)
        daemon = subprocess.Popen([py, "-m", "signage.cli", "run", "--config", str(cfg),
                                   "--no-live"], cwd=d, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        console = subprocess.Popen([py, "-m", "signage.cli", "console", "--config", str(cfg),
                                    "--port", str(port)], cwd=d, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            t_end = time.monotonic() + 60
            while time.monotonic() < t_end:
                try:
                    urllib.request.urlopen(base + "/login", timeout=2)  # noqa: S310
                    if (d / "var" / "status.json").is_file():
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            time.sleep(3)  # every screen has drawn its first frame
            jar = CookieJar()
            op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = op.open(base + "/login").read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            op.open(base + "/login", urllib.parse.urlencode(
                {"csrf": csrf, "user": "bench", "password": "bench-pass-1"}).encode())
            http_ms = []
            for _ in range(a.loads):
                t0 = time.perf_counter()
                body = op.open(base + "/").read()
                http_ms.append((time.perf_counter() - t0) * 1000)
            assert body.count(b'class="screen"') == a.screens, "not every screen on the page"
            browser_ms = chromium_loads(base, a.loads)
            c_after_loads = mem(console.pid)
            time.sleep(a.seconds)
            c_mem, d_mem = mem(console.pid), mem(daemon.pid)
        finally:
            for p in (console, daemon):
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    print(f"screens: {a.screens}, loads: {a.loads}")
    print(f"总览 HTTP GET /: median {pct(http_ms, 0.5):.1f} ms, p95 {pct(http_ms, 0.95):.1f} ms,"
          f" max {max(http_ms):.1f} ms")
    if browser_ms:
        print(f"总览 in Chromium (navigationStart to loadEventEnd, frames included): median "
              f"{pct(browser_ms, 0.5):.0f} ms, p95 {pct(browser_ms, 0.95):.0f} ms")
    print(f"console RSS after the loads {c_after_loads[0]:.1f} MB; after {a.seconds:.0f} s "
          f"more {c_mem[0]:.1f} MB, peak {c_mem[1]:.1f} MB")
    print(f"daemon RSS {d_mem[0]:.1f} MB, peak {d_mem[1]:.1f} MB")


def chromium_loads(base: str, loads: int) -> list[float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="signage-bench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for x in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(x)
    drv = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    out = []
    try:
        drv.get(base + "/login")
        drv.find_element(By.ID, "user").send_keys("bench")
        drv.find_element(By.ID, "password").send_keys("bench-pass-1")
        drv.find_element(By.ID, "login").click()
        drv.find_element(By.ID, "who")
        for _ in range(loads):
            drv.get(base + "/")
            ms = drv.execute_script(
                "const t = performance.getEntriesByType('navigation')[0];"
                "return t.loadEventEnd - t.startTime;")
            out.append(float(ms))
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
