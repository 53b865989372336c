"""`signage alert add` and `signage push add` read a USB stick, which is hostile: a FIFO or a
link to /dev/zero named like an envelope (0 bytes by stat, then blocking or endless) is
refused at once; files on the stick that the signed bundle does not list never reach the
box's disk, and a listed one is copied only up to its signed size (+1, so the daemon still
sees and logs the mismatch)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

from PIL import Image

from signage.keys import load_signing_key

from .alertsite import alert_site
from .test_alert_cli import cli
from .test_push import GOOD


def test_a_hostile_stick(tmp_path: Path) -> None:
    assert cli("alert", "authority-key", "auth.key", cwd=tmp_path).returncode == 0
    alert_site(tmp_path, load_signing_key(tmp_path / "auth.key"))
    # a FIFO and a link to /dev/zero as envelopes: refused, no hang (the timeout would fire)
    os.mkfifo(tmp_path / "fifo.env")
    (tmp_path / "zero.env").symlink_to("/dev/zero")
    for n in ("fifo.env", "zero.env"):
        r = cli("alert", "add", n, "--wait", "0.5", cwd=tmp_path, timeout=30)
        assert r.returncode != 0 and "not a regular file" in r.stderr, (n, r.stderr)
    # a bundle with junk next to its media, and its poster grown on the stick
    Image.new("RGB", (64, 36), (200, 30, 30)).save(tmp_path / "poster.png")
    today = date.today()
    (tmp_path / "campaign.toml").write_text(
        GOOD.format(start=today - timedelta(days=1), end=today + timedelta(days=7)), "utf-8")
    r = cli("push", "seal", "campaign.toml", "poster.png", "--key", "auth.key", "--id",
            "campaign", "-o", "stick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    size = (tmp_path / "poster.png").stat().st_size
    with open(tmp_path / "stick" / "media" / "junk.bin", "wb") as fh:
        fh.truncate(200 << 20)  # 200 MiB the bundle does not list
    with open(tmp_path / "stick" / "media" / "poster.png", "ab") as fh:
        fh.truncate(size + (50 << 20))  # the listed file, 50 MiB longer than signed
    r = cli("push", "add", "stick", "--wait", "0.5", cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and "queued" in r.stdout, (r.stdout, r.stderr)
    inbox = tmp_path / "var" / "inbox"
    (queued,) = [d for d in inbox.iterdir() if not d.name.startswith(".")
                 and d.name != "results"]
    assert sorted(p.name for p in (queued / "media").iterdir()) == ["poster.png"]
    assert (queued / "media" / "poster.png").stat().st_size == size + 1
