"""The console's parts without a browser: accounts, rate limit, upload checks, staged
validation, the change note, the status file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from PIL import Image

from signage.console import auth, changes, media
from signage.i18n import set_language
from signage.runtime.status import CHANGE_NOTE, take_change_note

from .conftest import AF, CONFIG, STORE, bomb_png


def test_scrypt_accounts(tmp_path: Path) -> None:
    users = auth.Users(tmp_path / "c" / "users.json")
    users.set("boss", "correct horse", "admin")
    rec = json.loads((tmp_path / "c" / "users.json").read_text())["users"]["boss"]
    assert rec["alg"] == "scrypt" and "correct horse" not in json.dumps(rec)
    assert stat.S_IMODE(os.stat(tmp_path / "c" / "users.json").st_mode) == 0o600
    assert users.verify("boss", "correct horse") == "admin"
    assert users.verify("boss", "correct horsE") is None
    assert users.verify("nobody", "correct horse") is None
    for bad, what in ((("b o", "12345678", "admin"), "name"), (("x", "short", "admin"),
                      "password"), (("x", "12345678", "root"), "role")):
        try:
            users.set(*bad)
            raise AssertionError("accepted")
        except ValueError as exc:
            assert str(exc) == what


def test_login_rate_limit() -> None:
    s = auth.Sessions()
    keys = ["ip:1.2.3.4", "user:boss"]
    for i in range(auth.MAX_FAILS):
        assert not s.limited(keys, now=100.0 + i)
        s.failed(keys, now=100.0 + i)
    assert s.limited(keys, now=105.0)
    assert s.limited(["user:boss"], now=105.0)  # from another address too
    assert not s.limited(keys, now=104.0 + auth.FAIL_WINDOW_S + 1)


def test_sessions_expire_and_csrf() -> None:
    s = auth.Sessions()
    tok, sess = s.create("boss", "admin", now=0.0)
    assert s.get(tok, now=10.0) is sess
    assert auth.csrf_ok(sess, sess.csrf) and not auth.csrf_ok(sess, "") \
        and not auth.csrf_ok(sess, sess.csrf + "x")
    assert s.get(tok, now=auth.SESSION_S + 1) is None


def test_upload_checks(tmp_path: Path) -> None:
    set_language("zh_CN")
    try:
        huge = media.check_upload(bomb_png(tmp_path / "b.png", 20_000, 20_000).read_bytes(),
                                  "b.png", 10**8)
        assert not huge.ok and "超出 signage 的解码上限" in huge.problems[0], huge.problems
        big = media.check_upload(bomb_png(tmp_path / "c.png", 8_000, 8_000).read_bytes(),
                                 "c.png", 10**8)
        assert not big.ok and "图片为 8000x8000 像素" in big.problems[0], big.problems
        good = tmp_path / "ok.png"
        Image.new("RGB", (64, 32), (255, 0, 0)).save(good)
        data = good.read_bytes()
        assert media.check_upload(data, "ok.png", 10**8).ok
        cut = media.check_upload(data[: len(data) // 2], "cut.png", 10**8)
        assert not cut.ok and "不是可解码的图片" in cut.problems[0], cut.problems
        assert "太大" in media.check_upload(data, "ok.png", 10).problems[0]
        txt = media.check_upload(b"hello", "x.txt", 10**8)
        assert not txt.ok and "不是可读取的图片或视频" in txt.problems[0]
        fake = media.check_upload(b"\x00" * 4096, "x.mp4", 10**8)
        assert not fake.ok and "不是可读取的视频" in fake.problems[0], fake.problems
        clip = tmp_path / "c.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",  # noqa: S607
                        "testsrc=size=160x90:rate=10", "-t", "1", "-pix_fmt", "yuv420p",
                        str(clip)], check=True, timeout=120)
        c = media.check_upload(clip.read_bytes(), "c.mp4", 10**8)
        assert c.ok and c.kind == "clip" and (c.width, c.height) == (160, 90)
        assert c.first_frame.startswith(b"\x89PNG")
    finally:
        set_language(None)
    assert media.stored_name("../../etc/passwd", b"x", ".png").startswith("uploads/passwd-")


def _site(tmp_path: Path) -> changes.Site:
    (tmp_path / "playlists").mkdir()
    (tmp_path / "media").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG.format(port=8780), "utf-8")
    (tmp_path / "playlists" / "af.toml").write_text(AF, "utf-8")
    (tmp_path / "playlists" / "store.toml").write_text(STORE, "utf-8")
    return changes.Site.of(cfg)


def test_staged_validation_names_the_real_file(tmp_path: Path) -> None:
    site = _site(tmp_path)
    bad = AF.replace("duration_s = 1.5", "duration_s = 1.5\nwidth = 3", 1)
    problems, loaded = changes.validate(site, "af", bad)
    assert loaded is None
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'playlists' / 'af.toml'}:10: items[0].width: unknown key; check the "
        "spelling against docs/playlists.md"]
    # a store item longer than the gap budget: found by the loader across files
    problems, _ = changes.validate(site, "store", STORE.replace("duration_s = 2",
                                                                "duration_s = 20"))
    assert problems and problems[0].file == str(tmp_path / "playlists" / "store.toml")
    assert (tmp_path / "playlists" / "store.toml").read_text("utf-8") == STORE
    problems, loaded = changes.validate(site, "af", AF)
    assert problems == [] and loaded is not None


def test_apply_writes_note_then_file(tmp_path: Path) -> None:
    site = _site(tmp_path)
    new = AF.replace("凡是刷单返利就是诈骗", "凡是刷单返利都是诈骗")
    assert changes.apply(site, "af", new, "boss", "admin") == []
    assert (tmp_path / "playlists" / "af.toml").read_text("utf-8") == new
    note = json.loads((site.run_dir / CHANGE_NOTE).read_text("utf-8"))
    assert note["user"] == "boss"
    # the daemon uses the note only for the digests it loaded
    assert take_change_note(site.run_dir, {"x/af.toml": "0" * 64}) is None
    assert (site.run_dir / CHANGE_NOTE).exists()
    digest = note["files"]["af.toml"]
    assert take_change_note(site.run_dir, {str(tmp_path / "playlists" / "af.toml"): digest}) \
        == {"user": "boss", "role": "admin", "via": "console"}
    assert not (site.run_dir / CHANGE_NOTE).exists()
    assert changes.apply(site, "af", "name = 1", "boss", "admin") != []
    assert (tmp_path / "playlists" / "af.toml").read_text("utf-8") == new


def test_add_item_text() -> None:
    out = changes.add_item_text("name = \"x\"\n\n", {"id": "a", "type": "text",
                                                    "text": "引号\"和\\", "duration_s": 2.0,
                                                    "path": ""})
    assert out.endswith('[[items]]\nid = "a"\ntype = "text"\ntext = "引号\\"和\\\\"\n'
                        'duration_s = 2.0\n')


def test_status_file_written_whole_and_read_as_stale(tmp_path: Path) -> None:
    from signage.console.state import STALE_S, read_status
    from signage.runtime.status import NAME, write_status

    assert read_status(tmp_path)["live"] is False  # none yet
    doc = {"version": 1, "state": "running", "written_epoch": 1000.0, "pid": 1, "screens": []}
    write_status(tmp_path, doc)
    assert [p.name for p in tmp_path.iterdir()] == [NAME]  # no temporary file left behind
    assert read_status(tmp_path, now=1000.0 + STALE_S - 0.1)["live"] is True
    assert read_status(tmp_path, now=1000.0 + STALE_S + 0.1)["live"] is False
    write_status(tmp_path, {**doc, "state": "stopped"})
    assert read_status(tmp_path, now=1000.0)["live"] is False
    write_status(tmp_path, {**doc, "version": 2})
    assert read_status(tmp_path, now=1000.0)["live"] is False  # another version: not read
    (tmp_path / NAME).write_text("{not json", "utf-8")
    assert read_status(tmp_path, now=1000.0)["screens"] == []
