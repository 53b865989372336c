"""Playlist changes from the console: validated with the daemon's own loader on a staged copy,
then applied through the daemon's reload path.

A change replaces one playlist file (edit, upload, add an item). Before anything is written,
the whole site is loaded from a staging directory that holds the config, every playlist with
the change in place and a link to the media root: the same ``load_site`` the daemon runs, so
the problems are the daemon's, with the real file names. Only a change without problems is
applied: a note naming the user (``<run_dir>/console-change.json``, see
docs/status-file.md), then the file replaced by a rename (all or nothing), then SIGHUP to the
daemon, whose reload writes a ``reload`` record with ``by`` = the user.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import load_config, resolve
from ..i18n import _
from ..load import LoadedSite, load_site
from ..playlist import PlaylistConfig
from ..problems import InputError, Problem
from ..runtime.status import CHANGE_NOTE, NAME

MAX_PLAYLIST_BYTES = 256 * 1024


@dataclass(frozen=True)
class Site:
    """Where the site's files are, from its config."""

    config: Path
    playlists: Path
    media: Path
    run_dir: Path

    @classmethod
    def of(cls, config: Path) -> Site:
        cfg = load_config(config)
        base = config.parent
        return cls(config, resolve(base, cfg.playlists.dir), resolve(base, cfg.media.root),
                   base / "var")


def playlist_file(site: Site, pid: str) -> Path:
    return site.playlists / f"{pid}.toml"


def validate(site: Site, pid: str, text: str) -> tuple[list[Problem], LoadedSite | None]:
    """The problems the daemon would find if playlist ``pid`` had ``text`` (nothing written
    to the site), with the real file names; and the loaded site when there are none."""
    real = playlist_file(site, pid)
    if len(text.encode("utf-8")) > MAX_PLAYLIST_BYTES:
        return [Problem(str(real), "", _("file too large: at most {n} KB").format(
            n=MAX_PLAYLIST_BYTES // 1024))], None
    rel_pl = os.path.relpath(site.playlists, site.config.parent)
    rel_media = os.path.relpath(site.media, site.config.parent)
    if rel_pl.startswith("..") or rel_media.startswith(".."):
        rel_pl, rel_media = "playlists", "media"
    with tempfile.TemporaryDirectory(prefix="signage-stage-") as tmp:
        stage = Path(tmp)
        cfg = stage / site.config.name
        shutil.copyfile(site.config, cfg)
        pl = stage / rel_pl
        pl.mkdir(parents=True)
        for p in site.playlists.glob("*.toml"):
            shutil.copyfile(p, pl / p.name)
        (pl / real.name).write_text(text, "utf-8")
        media = stage / rel_media
        media.parent.mkdir(parents=True, exist_ok=True)
        media.symlink_to(site.media, target_is_directory=True)
        try:
            loaded = _load_staged(cfg, site, pl, media)
        except InputError as exc:
            return [_unstage(p, stage, site, pl) for p in exc.problems], None
    return [], loaded


def _load_staged(cfg: Path, site: Site, pl: Path, media: Path) -> LoadedSite:
    """load_site on the staged copy; the config must point where the stage has its copies."""
    staged = load_config(cfg)
    if (resolve(cfg.parent, staged.playlists.dir) != pl
            or resolve(cfg.parent, staged.media.root) != media):
        raise InputError([Problem(str(site.config), "playlists.dir", _(
            "the console edits playlists only when playlists.dir and media.root are relative "
            "paths inside the site's directory"))])
    return load_site(cfg)


def _unstage(p: Problem, stage: Path, site: Site, pl: Path) -> Problem:
    f = p.file
    if f.startswith(str(pl)):
        f = str(site.playlists) + f[len(str(pl)):]
    elif f.startswith(str(stage)):
        f = str(site.config.parent) + f[len(str(stage)):]
    msg = p.message.replace(str(pl), str(site.playlists)).replace(str(stage),
                                                                   str(site.config.parent))
    return Problem(f, p.field, msg, p.line)


def apply(site: Site, pid: str, text: str, user: str, role: str) -> list[Problem]:
    """Validate, then replace the playlist and have the daemon reload. Returns the problems
    (nothing written) or [] when applied."""
    problems, _loaded = validate(site, pid, text)
    if problems:
        return problems
    data = text.encode("utf-8")
    real = playlist_file(site, pid)
    site.run_dir.mkdir(parents=True, exist_ok=True)
    note = {"user": user, "role": role,
            "files": {real.name: hashlib.sha256(data).hexdigest()}}
    _atomic(site.run_dir / CHANGE_NOTE, json.dumps(note, ensure_ascii=False).encode("utf-8"))
    _atomic(real, data)
    signal_daemon(site)
    return []


def wait_for_reload(site: Site, pid: str, text: str, timeout_s: float = 5.0) -> str:
    """After apply(): whether the daemon took the change up, from its status file.
    "loaded": an accepted reload with exactly this file's digest; "no-daemon": no daemon is
    running (the change applies at its next start); "pending": not seen within timeout_s."""
    from .state import read_status

    name = playlist_file(site, pid).name
    want = hashlib.sha256(text.encode("utf-8")).hexdigest()
    end = time.monotonic() + timeout_s
    while True:
        st = read_status(site.run_dir)
        if not st.get("live"):
            return "no-daemon"
        last = st.get("last_reload") or {}
        if last.get("accepted") and (last.get("playlists_sha256") or {}).get(name) == want:
            return "loaded"
        if time.monotonic() >= end:
            return "pending"
        time.sleep(0.1)


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.console.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def daemon_pid(site: Site) -> int | None:
    """The running daemon's pid from its status file, when that process is a signage run."""
    try:
        doc = json.loads((site.run_dir / NAME).read_text("utf-8"))
        pid = int(doc["pid"])
        if doc.get("state") != "running":
            return None
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if b"signage" in cmd and b"run" in cmd else None


def signal_daemon(site: Site) -> bool:
    """SIGHUP: reload now (without it the daemon still notices within reload_check_s)."""
    pid = daemon_pid(site)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return False
    return True


def add_item_text(current: str, item: dict[str, object]) -> str:
    """The playlist text with one more [[items]] table at the end (the rest unchanged)."""
    lines = ["", "[[items]]"]
    for k, v in item.items():
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, int | float):
            lines.append(f"{k} = {v}")
        else:
            lines.append(f"{k} = {json.dumps(str(v), ensure_ascii=False)}")
    return current.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def parsed(site: Site, pid: str) -> PlaylistConfig | None:
    from ..playlist import load_playlist

    try:
        return load_playlist(playlist_file(site, pid))
    except InputError:
        return None
