"""Pushed playlists on a box, as the loader sees them: ``<media root>/.pushed/<id>/`` holds
the signed envelope (``bundle.env``), the playlist (``playlist.toml``, the manifest's text)
and ``media/<name>``. They live apart from the site manager's playlists/, and every load
verifies them again (signature, playlist text, media digests), so an edit on disk is refused,
never played. Each pushed playlist is added to every screen, with the id ``pushed.<id>``.
"""

from __future__ import annotations

from pathlib import Path

from ..i18n import _
from ..keys import PublicKey
from ..playlist import PlaylistConfig, load_playlist
from ..problems import InputError, Problem
from .bundle import BundleError, Manifest, check_media, parse_manifest
from .envelope import KINDS, EnvelopeError, open_envelope

PUSHED_DIR = ".pushed"
PREFIX = "pushed."


def pushed_root(media_root: Path) -> Path:
    return media_root / PUSHED_DIR


def verify_dir(d: Path, keys: dict[str, PublicKey]) -> Manifest:
    """The manifest of a pushed bundle directory, verified; raises BundleError."""
    env = d / "bundle.env"
    try:
        if env.stat().st_size > KINDS["playlist-bundle"]:
            raise BundleError(_("{path}: too large").format(path=env))
        data = env.read_bytes()
    except OSError as exc:
        raise BundleError(_("{path}: cannot read: {error}")
                          .format(path=env, error=exc.strerror)) from None
    try:
        m = parse_manifest(open_envelope(data, keys, kinds=("playlist-bundle",)).payload)
    except EnvelopeError as exc:
        raise BundleError(f"{env}: {exc}") from None
    if m.id != d.name:
        raise BundleError(_("{path}: the bundle's id {id} is not its directory's name")
                          .format(path=env, id=repr(m.id)))
    pl = d / "playlist.toml"
    try:
        text = pl.read_bytes()
    except OSError as exc:
        raise BundleError(_("{path}: cannot read: {error}")
                          .format(path=pl, error=exc.strerror)) from None
    if text != m.playlist.encode("utf-8"):
        raise BundleError(_("{path}: differs from the signed bundle (edited on the box?); "
                            "pushed playlists are changed only by a new publication")
                          .format(path=pl))
    bad = check_media(m, {x.name: d / "media" / x.name for x in m.media})
    if bad:
        raise BundleError(f"{d}: " + "; ".join(bad))
    return m


def load_pushed(media_root: Path, keys: dict[str, PublicKey]
                ) -> tuple[dict[str, PlaylistConfig], dict[str, Path], list[Problem]]:
    """(playlists by id, their playlist.toml paths, problems) of every pushed bundle."""
    root = pushed_root(media_root)
    out: dict[str, PlaylistConfig] = {}
    paths: dict[str, Path] = {}
    problems: list[Problem] = []
    if not root.is_dir():
        return out, paths, problems
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            m = verify_dir(d, keys)
        except BundleError as exc:
            problems.append(Problem(str(d / "bundle.env"), "", str(exc)))
            continue
        try:
            pc = load_playlist(d / "playlist.toml")
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        names = {x.name for x in m.media}
        items = []
        for i, it in enumerate(pc.items):
            if it.type == "text":
                items.append(it)
                continue
            if it.path not in names:
                problems.append(Problem(str(d / "playlist.toml"), f"items[{i}].path",
                                        _("{path} is not one of the bundle's media "
                                          "files: {names}").format(path=repr(it.path),
                                                                   names=sorted(names))))
                continue
            items.append(it.model_copy(update={"path": f"{PUSHED_DIR}/{m.id}/media/{it.path}"}))
        pid = PREFIX + m.id
        out[pid] = pc.model_copy(update={"items": items})
        paths[pid] = d / "playlist.toml"
    return out, paths, problems
