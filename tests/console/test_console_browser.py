"""The console driven by a real headless Chromium against a real daemon on the simulator.
Each step saves a screenshot (var/test-screenshots/console/). The steps run in file order and
share one browser, one console and one daemon."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import ADMIN, ADMIN_PW, INSPECTOR, INSPECTOR_PW, Site, bomb_png, shot

WAIT_S = 30  # a bound to catch a hang, never a speed claim


def _wait(browser: Any, cond: Any, timeout: float = WAIT_S) -> Any:
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(cond)


def _login(browser: Any, site: Site, user: str, pw: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site.url}/login")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(pw)
    browser.find_element(By.ID, "login").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "who")))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _post(browser: Any, url: str, fields: dict[str, str]) -> tuple[int, str]:
    """A form post from the page's own origin (the session cookie goes along), as a script
    on that page would send it."""
    res = browser.execute_async_script("""
        const [url, fields, done] = arguments;
        const body = new URLSearchParams(fields);
        fetch(url, {method: "POST", body, credentials: "same-origin", redirect: "manual"})
          .then(async r => done([r.status, await r.text()]))
          .catch(e => done([0, String(e)]));
    """, url, fields)
    return int(res[0]), str(res[1])


def test_1_login_and_all_screens_live(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/")
    assert "/login" in browser.current_url  # not logged in: the login page
    shot(browser, "01a-login")
    _login(browser, site, ADMIN, ADMIN_PW)
    assert browser.find_element(By.ID, "nav-overview").text == "总览"
    boxes = browser.find_elements(By.CSS_SELECTOR, "section.screen")
    assert sorted(b.get_attribute("data-screen") for b in boxes) == [
        "door-led", "hall-hdmi", "lobby-mpv"]
    _wait(browser, lambda b: b.find_element(By.ID, "daemon").get_attribute("data-live") == "1")
    assert browser.find_element(By.ID, "daemon").text == "实时：播放程序正在运行"
    for b in boxes:
        assert b.find_element(By.CSS_SELECTOR, '[data-k="up"]').text == "正常"
        img = b.find_element(By.CSS_SELECTOR, 'img[data-k="frame"]')
        _wait(browser, lambda _b, img=img: browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", img) > 0)
    # the mpv screen's picture is mpv's own screenshot of what it shows (a JPEG at the
    # screen's size), the simulator's its frame, the LED board's the bitmap it acknowledged
    st = site.status()
    frames = {s["id"]: s["frame"] for s in st["screens"]}
    assert frames == {"hall-hdmi": "sim/hall-hdmi.png", "door-led": "sim/door-led.png",
                      "lobby-mpv": "frames/lobby-mpv.jpg"}, frames
    mpv_img = browser.find_element(By.CSS_SELECTOR,
                                   '[data-screen="lobby-mpv"] img[data-k="frame"]')
    assert browser.execute_script("return arguments[0].naturalWidth", mpv_img) == 320
    # live: the page updates itself (the on-air text follows the daemon without a reload)
    seen: set[str] = set()
    hall = '[data-screen="hall-hdmi"] [data-k="on"]'

    def changed(b: Any) -> bool:
        seen.add(b.find_element(By.CSS_SELECTOR, hall).text)
        return len(seen) >= 2
    _wait(browser, changed)
    assert any(t.startswith("★ af") for t in seen) or any("st1" in t for t in seen), seen
    shot(browser, "01b-overview-live")


BROKEN = """name = "反诈"
content = "anti-fraud"

[[items]]
id = "af1"
type = "text"
text = "凡是刷单返利就是诈骗"
duration_s = -1
"""

FIXED = """name = "反诈"
content = "anti-fraud"

[[items]]
id = "af-new"
type = "text"
text = "新的反诈标语：凡是索要验证码的都是诈骗"
category = "验证码"
duration_s = 1.5
"""


def _submit_text(browser: Any, site: Site, pid: str, text: str) -> None:
    browser.get(f"{site.url}/playlists/{pid}")
    area = browser.find_element(By.ID, "text")
    browser.execute_script("arguments[0].value = arguments[1]", area, text)
    browser.find_element(By.ID, "save").click()


def test_2_broken_playlist_refused_in_chinese_nothing_applied(browser: Any, site: Site) -> None:
    af = site.dir / "playlists" / "af.toml"
    before = _sha(af)
    reloads = len([r for r in site.records() if r.get("type") == "reload"])
    _submit_text(browser, site, "af", BROKEN)
    box = _wait(browser, ec.presence_of_element_located((By.ID, "problems")))
    lines = [e.text for e in box.find_elements(By.CSS_SELECTOR, "li.problem-line")]
    assert lines == [f"{af}:8: items[0].duration_s: 必须大于 0（实际为 -1）"], lines
    assert "未应用任何更改" in box.text
    shot(browser, "02-broken-playlist-refused")
    assert _sha(af) == before  # nothing written
    time.sleep(1.5)  # the daemon would have reloaded by now (reload_check_s = 0.5)
    assert len([r for r in site.records() if r.get("type") == "reload"]) == reloads
    assert not (site.dir / "var" / "console-change.json").exists()


def test_3_fix_and_see_it_on_air(browser: Any, site: Site) -> None:
    t0 = time.monotonic()
    _submit_text(browser, site, "af", FIXED)
    _wait(browser, ec.presence_of_element_located((By.ID, "applied")))
    browser.get(f"{site.url}/")
    hall = '[data-screen="hall-hdmi"] [data-k="on"]'
    _wait(browser, lambda b: "af-new" in b.find_element(By.CSS_SELECTOR, hall).text)
    on_air_s = time.monotonic() - t0
    print(f"fixed playlist: on air in the browser {on_air_s:.2f} s after submitting")
    (site.dir / "out" / "on-air.txt").write_text(f"{on_air_s:.3f}\n")
    shot(browser, "03-fixed-on-air")
    reloads = [r for r in site.records() if r.get("type") == "reload"]
    assert reloads and reloads[-1]["accepted"] is True
    assert reloads[-1]["by"] == {"user": ADMIN, "role": "admin", "via": "console"}
    assert reloads[-1]["playlists_sha256"]["af.toml"] == _sha(site.dir / "playlists" / "af.toml")


def test_4_decompression_bomb_refused_and_a_picture_previewed(browser: Any, site: Site,
                                                              tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "huge.png")
    browser.get(f"{site.url}/media")
    browser.find_element(By.ID, "media-file").send_keys(str(bomb))
    browser.find_element(By.ID, "media-upload").click()
    box = _wait(browser, ec.presence_of_element_located((By.ID, "upload-problems")))
    assert "huge.png 被拒绝" in box.text and "超出 signage 的解码上限" in box.text, box.text
    shot(browser, "04a-bomb-refused")
    assert not list((site.dir / "media").rglob("huge*"))
    from PIL import Image

    ok = tmp_path / "poster.png"
    Image.new("RGB", (640, 360), (200, 30, 30)).save(ok)
    browser.get(f"{site.url}/media")
    browser.find_element(By.ID, "media-file").send_keys(str(ok))
    browser.find_element(By.ID, "media-upload").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "upload-ok")))
    imgs = browser.find_elements(By.CSS_SELECTOR, "#previews img")
    assert sorted(i.get_attribute("alt") for i in imgs) == ["door-led", "hall-hdmi", "lobby-mpv"]
    for i in imgs:
        _wait(browser, lambda _b, i=i: browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", i) > 0)
    shot(browser, "04b-picture-previews")
    assert len(list((site.dir / "media" / "uploads").glob("poster-*.png"))) == 1


def test_5_inspector_cannot_change_anything(browser: Any, site: Site) -> None:
    af = site.dir / "playlists" / "af.toml"
    before = _sha(af)
    _login(browser, site, INSPECTOR, INSPECTOR_PW)
    assert "检查员" in browser.find_element(By.ID, "who").text
    browser.get(f"{site.url}/playlists/af")
    assert not browser.find_elements(By.ID, "edit-form")
    assert not browser.find_elements(By.ID, "add-form")
    shot(browser, "05a-inspector-read-only")
    csrf = browser.find_element(By.CSS_SELECTOR, "form.who input[name=csrf]").get_attribute(
        "value")
    # even with a valid session and CSRF token, every change is refused
    for url, fields in ((f"{site.url}/playlists/af", {"text": FIXED.replace("1.5", "2")}),
                        (f"{site.url}/playlists/af/add", {"id": "x1", "type": "text",
                                                          "text": "x"}),
                        (f"{site.url}/accounts", {"user": "mallory", "password": "12345678",
                                                  "role": "admin"})):
        status, body = _post(browser, url, {"csrf": csrf, **fields})
        assert status == 403 and "检查员只能查看，不能更改" in body, (url, status)
    assert _sha(af) == before
    browser.get(f"{site.url}/accounts")
    assert "mallory" not in browser.page_source
    shot(browser, "05b-inspector-refused")


def test_6_forged_post_without_csrf_fails(browser: Any, site: Site, tmp_path: Path) -> None:
    af = site.dir / "playlists" / "af.toml"
    before = _sha(af)
    _login(browser, site, ADMIN, ADMIN_PW)
    browser.get(f"{site.url}/playlists/af")
    status, body = _post(browser, f"{site.url}/playlists/af", {"text": BROKEN})
    assert status == 403 and "CSRF" in body
    status, body = _post(browser, f"{site.url}/playlists/af",
                         {"text": BROKEN, "csrf": "forged-token"})
    assert status == 403 and "CSRF" in body
    # a form on another site posting to the console: SameSite=Strict keeps the session home
    evil = tmp_path / "evil.html"
    evil.write_text(f"""<!doctype html><meta charset="utf-8"><form id="f" method="post"
        action="{site.url}/playlists/af"><input name="text" value="x"></form>""", "utf-8")
    browser.get(evil.as_uri())
    browser.execute_script("document.getElementById('f').submit()")
    _wait(browser, lambda b: b.current_url.startswith(site.url))
    assert "未登录" in browser.page_source
    shot(browser, "06-forged-post-refused")
    assert _sha(af) == before


def test_7_run_a_report_and_download_it(browser: Any, site: Site) -> None:
    _login(browser, site, ADMIN, ADMIN_PW)
    browser.get(f"{site.url}/reports")
    browser.find_element(By.ID, "report-run").click()
    res = _wait(browser, ec.presence_of_element_located((By.ID, "report-result")), 180)
    assert res.text.startswith("审计结论："), res.text
    shot(browser, "07a-report-run")
    links = {a.get_attribute("data-file"): a for a in browser.find_elements(
        By.CSS_SELECTOR, "#runs a.download")}
    assert {"audit.html", "audit.csv", "summary.html", "summary.pdf"} <= set(links), links
    links["audit.csv"].click()
    csv_file = browser.downloads
    _wait(browser, lambda _b: [p for p in csv_file.glob("*audit.csv")])
    got = next(csv_file.glob("*audit.csv")).read_text("utf-8")
    assert got.splitlines()[0].startswith("screen,day,start,end")
    # the session cookie (HttpOnly) fetches the other files as the browser does
    cookie = {c["name"]: c["value"] for c in browser.get_cookies()}["signage_session"]
    href = links["summary.html"].get_attribute("href")
    req = urllib.request.Request(href, headers={"Cookie": f"signage_session={cookie}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
        summary = r.read().decode("utf-8")
    assert "反诈宣传活动总结" in summary and "某某区反诈中心测试点" in summary
    assert "张三，店长，电话 13800000000" in summary
    assert "验证码" in summary and "data:image/jpeg;base64," in summary
    pdf = links["summary.pdf"].get_attribute("href")
    req = urllib.request.Request(pdf, headers={"Cookie": f"signage_session={cookie}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
        assert r.read(5) == b"%PDF-"
    browser.get(href + "?view=1")
    shot(browser, "07b-campaign-summary")
    # without the session, nothing is served: the login page instead
    with urllib.request.urlopen(href, timeout=30) as r:  # noqa: S310
        assert r.url.endswith("/login")
        assert "反诈宣传活动总结" not in r.read().decode("utf-8")
