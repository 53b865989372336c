"""The campaign summary as one self-contained A4 HTML page (pictures embedded), and as PDF
through the system's Chromium (``--print-to-pdf``) when it is installed."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from ..i18n import _
from .build import Summary

MAX_PICTURES_PER_SCREEN = 4
MAX_PHOTOS = 12
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _thumb(path: Path, width: int = 640) -> str | None:
    """A picture as a JPEG data: URI at most ``width`` wide (None when it cannot be read)."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > 80_000_000:
                return None
            im.thumbnail((width, width))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def screen_pictures(run_dir: Path, screen: str, tz: ZoneInfo) -> list[dict[str, str]]:
    """Real frames the screen's driver drew at its showings, newest first: the simulator's frame
    of each item it showed (``var/sim/frames/<screen>/``) and its current frame; the bitmaps an
    LED board acknowledged (``var/frames/<screen>/``); mpv's screenshot of each item it showed
    (``var/frames/<screen>/*.jpg``) and its current one. Drivers that keep no frame give none
    (the page says so)."""
    found: list[Path] = []
    for cur in (run_dir / "sim" / f"{screen}.png", run_dir / "frames" / f"{screen}.png",
                run_dir / "frames" / f"{screen}.jpg"):
        if cur.is_file():
            found.append(cur)
    for fdir in (run_dir / "sim" / "frames" / screen, run_dir / "frames" / screen):
        if fdir.is_dir():
            frames = sorted((p for p in fdir.iterdir() if p.suffix in (".png", ".jpg")
                             and not p.name.startswith(".")),
                            key=lambda p: p.stat().st_mtime, reverse=True)
            found += frames[:MAX_PICTURES_PER_SCREEN]
    out = []
    seen: set[bytes] = set()
    for p in found:
        try:
            digest = p.read_bytes()[:4096] + str(p.stat().st_size).encode()
        except OSError:
            continue
        if digest in seen:
            continue
        seen.add(digest)
        uri = _thumb(p)
        if uri is not None:
            when = datetime.fromtimestamp(p.stat().st_mtime, tz).strftime("%Y-%m-%d %H:%M")
            out.append({"uri": uri, "caption": when})
        if len(out) >= MAX_PICTURES_PER_SCREEN:
            break
    return out


def site_photos(photo_dir: Path | None) -> list[dict[str, str]]:
    """Photos uploaded in the console (already checked there), with their captions."""
    if photo_dir is None or not photo_dir.is_dir():
        return []
    out = []
    for p in sorted(photo_dir.glob("*"))[-MAX_PHOTOS * 2:]:
        if p.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"):
            continue
        uri = _thumb(p)
        if uri is None:
            continue
        try:
            caption = str(json.loads(p.with_suffix(".json").read_text("utf-8")).get(
                "caption", ""))
        except (OSError, ValueError):
            caption = ""
        out.append({"uri": uri, "caption": caption})
    return out[-MAX_PHOTOS:]


def render_html(summary: Summary, pictures: dict[str, list[dict[str, str]]],
                photos: list[dict[str, str]], generated: str) -> str:
    env = Environment(loader=PackageLoader("signage.summary", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.globals["_"] = _
    ctx: dict[str, Any] = asdict(summary)
    return env.get_template("summary.html").render(
        s=ctx, pictures=pictures, photos=photos, generated=generated)


def to_pdf(html_file: Path, pdf: Path, timeout_s: float = 120.0) -> str | None:
    """Print the page to PDF with the system Chromium; None when done, else why not."""
    exe = next((shutil.which(c) for c in CHROMIUM if shutil.which(c)), None)
    if exe is None:
        return _("no PDF: Chromium is not installed (the HTML page prints on A4 from any "
                 "browser)")
    with tempfile.TemporaryDirectory(prefix="signage-pdf-") as prof:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync", f"--user-data-dir={prof}",
               "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
               html_file.resolve().as_uri()]
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _("no PDF: Chromium failed: {error}").format(error=exc)
    if res.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        tail = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        return _("no PDF: Chromium failed: {error}").format(error=tail[0][:200])
    return None
