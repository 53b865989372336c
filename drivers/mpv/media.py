"""Files the driver hands to mpv: checked media paths, rendered text slides, a black frame.

Nothing reaches mpv before it passed through here: a media path must resolve (symlinks
followed) to a readable regular file inside the screen's media root; text is drawn by the one
shared renderer (``signage.render.render_slide``) into a PNG in the driver's private 0700
runtime directory, cached by text, size and renderer version.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path

from PIL import Image

from signage import render
from signage.driver import ContentRejected, ScreenSpec, ScreenUnavailable
from signage.i18n import _
from signage.inspection import picture


def checked_media_path(spec: ScreenSpec, path: Path, label: str) -> Path:
    """``path`` resolved (symlinks followed) and required to be a readable regular file inside
    ``spec.media_root`` (a relative path is taken relative to it). Raises ContentRejected."""
    root = spec.media_root.resolve()
    candidate = path if path.is_absolute() else root / path
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop
        raise ContentRejected(_("{label}: cannot resolve {path}: {error}").format(
            label=label, path=path, error=exc)) from exc
    if not resolved.is_relative_to(root):
        raise ContentRejected(_("{label}: {path} lies outside the media root {root}").format(
            label=label, path=path, root=root))
    if not resolved.is_file():
        raise ContentRejected(_("{label}: {path} is missing or not a regular file").format(
            label=label, path=path))
    if not os.access(resolved, os.R_OK):
        raise ContentRejected(_("{label}: {path} is not readable").format(label=label, path=path))
    return resolved


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700, owned by us, not a symlink). Raises ScreenUnavailable."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise ScreenUnavailable(_("{path}: not a directory owned by this user").format(
                path=path))
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise ScreenUnavailable(_("cannot create runtime directory {path}: {error}").format(
            path=path, error=exc)) from exc


#: the code overlay's pixel file (driver.py ``_overlay_file``) and its temporary name
_OVERLAY_FILE = re.compile(r"code-([1-9][0-9]{0,9})\.(?:bgra|tmp)")


def sweep_stale_overlays(directory: Path) -> list[str]:
    """Remove the code's overlay pixel files (``code-<pid>.bgra`` and ``.tmp``) that a daemon
    which is gone (crashed, killed) left in ``directory``, one of the driver's private 0700
    directories (the caller ensured it). Only names of exactly that form, only regular files
    owned by us, only when process <pid> no longer exists: a running daemon's file (another
    site's screen of the same name shares the /dev/shm directory) is never touched. Returns
    the names removed; a file that cannot be examined or removed is left as it is."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in sorted(names):
        m = _OVERLAY_FILE.fullmatch(name)
        if m is None or _process_exists(int(m.group(1))):
            continue
        path = directory / name
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(name)
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (EPERM: it exists, another user's)
        return True
    except OverflowError:  # beyond a pid_t: not a process of ours, and not ours to judge
        return True
    return True


def save_png(img: Image.Image, path: Path, fast: bool = False) -> None:
    """Atomic write (temp file + rename) into a private directory. Raises ScreenUnavailable."""
    ensure_private_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    except OSError as exc:
        raise ScreenUnavailable(_("cannot write in {parent}: {error}").format(
            parent=path.parent, error=exc)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG", compress_level=1 if fast else 6)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ScreenUnavailable(_("cannot write {path}: {error}").format(
            path=path, error=exc)) from exc


class SlideFiles:
    """Text slides and the black frame of one screen, as PNG files under ``directory``."""

    def __init__(self, directory: Path, width: int, height: int) -> None:
        self.directory = directory
        self.width = max(1, width)
        self.height = max(1, height)
        self._render_tag: str | None = None

    def slide_above_code(self, text: str, anti_fraud: bool, label: str,
                         category: str | None, size: float) -> Path | None:
        """The text (or alert) laid out above the code area of a screen showing codes of
        ``size`` (signage.inspection.picture), cached like ``slide``: drawn once per text,
        whatever code is put over it. None when the text does not fit there (it is then
        shown whole, without a code)."""
        if not text.strip():
            raise ContentRejected(_("{label}: empty text").format(label=label))
        key = hashlib.sha256(
            f"{self._renderer_tag()}|{self.width}x{self.height}|{int(anti_fraud)}|{category}|"
            f"code {size}|{text}".encode()).hexdigest()[:32]
        path = self.directory / "slides" / f"{key}.png"
        if path.is_file():
            return path
        try:
            img = picture.slide_above_code(text, self.width, self.height, size,
                                           anti_fraud=anti_fraud, category=category,
                                           indexed=True)
        except (render.FontNotFound, OSError, ValueError) as exc:
            raise ContentRejected(_("{label}: cannot render the slide: {error}").format(
                label=label, error=exc)) from exc
        if img is None:
            return None
        save_png(img, path)
        return path

    def image_above_code(self, media: Path, label: str, size: float,
                         make: bool = True) -> Path | None:
        """The image fitted above the code area, on black, as a PNG drawn once per image
        (path, size and modification time) and code size; None when it is not drawn yet and
        ``make`` is False (the switch: it never decodes and draws an image). ``media`` is
        checked already."""
        try:
            st = media.stat()
        except OSError as exc:
            raise ContentRejected(_("{label}: cannot read {name}: {error}").format(
                label=label, name=media.name, error=exc)) from exc
        key = hashlib.sha256(
            f"{self.width}x{self.height}|code {size}|{media}|{st.st_size}|{st.st_mtime_ns}"
            .encode()).hexdigest()[:32]
        path = self.directory / "images" / f"{key}.png"
        if path.is_file() or not make:
            return path if path.is_file() else None
        try:
            img = picture.image_above_code(media, self.width, self.height, size)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ContentRejected(_("{label}: cannot draw the image above the code: {error}")
                                  .format(label=label, error=exc)) from exc
        save_png(img, path, fast=True)
        return path

    def slide(self, text: str, anti_fraud: bool, label: str,
              category: str | None = None) -> Path:
        """The text drawn by signage.render as a full-screen slide. Raises ContentRejected
        (empty or undrawable text) or ScreenUnavailable (cannot write the file)."""
        if not text.strip():
            raise ContentRejected(_("{label}: empty text").format(label=label))
        key = hashlib.sha256(
            f"{self._renderer_tag()}|{self.width}x{self.height}|{int(anti_fraud)}|{category}|{text}"
            .encode()
        ).hexdigest()[:32]
        path = self.directory / "slides" / f"{key}.png"
        if path.is_file():
            return path
        try:
            img = render.render_slide(text, self.width, self.height, anti_fraud=anti_fraud,
                                      category=category, indexed=True)
        except (render.FontNotFound, OSError, ValueError) as exc:
            raise ContentRejected(_("{label}: cannot render the slide: {error}").format(
                label=label, error=exc)) from exc
        save_png(img, path)
        return path

    def black(self) -> Path:
        path = self.directory / f"black-{self.width}x{self.height}.png"
        if not path.is_file():
            save_png(render.blank("L", self.width, self.height), path)
        return path

    def _renderer_tag(self) -> str:
        """Digest of the renderer's source: a changed renderer never serves stale slides."""
        if self._render_tag is None:
            try:
                src = Path(render.__file__).read_bytes()
            except OSError:
                src = b""
            self._render_tag = hashlib.sha256(src).hexdigest()[:12]
        return self._render_tag
