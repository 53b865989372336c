"""Hot reload: notice edits to config.toml and playlists/, validate, apply or reject."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from ..alerts.pushed import pushed_root
from ..config import resolve
from ..i18n import _
from ..load import LoadedSite, load_site
from ..problems import InputError

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(config_path: Path, playlists_dir: Path,
                pushed_dir: Path | None = None) -> Fingerprint:
    """(name, mtime_ns, size) of the config, every playlist file and every pushed bundle's
    files: cheap to take often."""
    out: list[tuple[str, int, int]] = []
    pushed = sorted(pushed_dir.glob("[!.]*/*.*")) if pushed_dir is not None else []
    for p in [config_path, *sorted(playlists_dir.glob("*.toml")), *pushed]:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), -1, -1))
    return tuple(out)


def screens_shape(loaded: LoadedSite) -> list[tuple[object, ...]]:
    return [(s.id, s.driver, s.width, s.height, tuple(sorted(s.options.items())))
            for s in loaded.cfg.screens]


class Reloader:
    """Checks for edits; returns the new site, or the problems that made it reject them."""

    def __init__(self, current: LoadedSite, today: Callable[[], date]) -> None:
        self.current = current
        self._today = today
        self._fp = self._take()

    def _take(self) -> Fingerprint:
        cur = self.current
        return fingerprint(cur.config_path, resolve(cur.base, cur.cfg.playlists.dir),
                           pushed_root(cur.site.media_root))

    def check(self, force: bool = False) -> tuple[LoadedSite | None, list[str]] | None:
        """None when nothing changed. Else (new site, []) when accepted, (None, problems)
        when rejected (the old schedule keeps running)."""
        fp = self._take()
        if fp == self._fp and not force:
            return None
        self._fp = fp
        try:
            new = load_site(self.current.config_path, self._today())
        except InputError as exc:
            return None, [str(p) for p in exc.problems]
        except Exception as exc:  # never let a reload take the daemon down
            return None, [_("{file}: cannot load: {error}").format(
                file=self.current.config_path, error=exc)]
        if new.digests == self.current.digests and not force:
            return None
        if screens_shape(new) != screens_shape(self.current):
            return None, [_("{file}: screens: adding, removing or re-wiring screens (id, "
                            "driver, geometry, options) needs a restart of the daemon; "
                            "playlists, rule and hours reload live").format(
                file=self.current.config_path)]
        self.current = new
        return new, []
