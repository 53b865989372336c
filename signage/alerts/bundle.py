"""A pushed playlist bundle: the manifest signed inside a ``playlist-bundle`` envelope
(envelope.py), format version 2 (version 1, without ``serial``, is still parsed: a box loads
one already in place, and refuses a new one), documented in docs/alerts.md ("Pushed
playlists"); and the withdrawal of a publication slot (``playlist-withdrawal``).

The manifest is one UTF-8 JSON object::

    {"format": "signage-bundle", "version": 2, "id": "campaign-2026-12", "serial": 17960904001,
     "to": ["all"] | ["site:<site id>", "region:<6-digit code>", ...],
     "playlist": "<the playlist's TOML text, as in docs/playlists.md>",
     "media": [{"name": "poster.png", "size": 12345, "sha256": "<64 hex>"}, ...]}

The media files travel next to the envelope (files on a USB stick, or messages of the fleet
link); the box checks each one's size and SHA-256 against the signed manifest before it
looks at it. Items of the playlist name their media by ``name`` (``path = "poster.png"``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from .cap import REGION_CODE, SITE_ID, region_covers

FORMAT = "signage-bundle"
VERSION = 2
WITHDRAWAL_FORMAT = "signage-withdrawal"
WITHDRAWAL_VERSION = 1
MAX_SERIAL = 2**53 - 1
MAX_PLAYLIST_BYTES = 256 * 1024
MAX_MEDIA = 64
MAX_MEDIA_BYTES = 48 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_TARGET = re.compile(rf"^(all|site:{SITE_ID}|region:{REGION_CODE})$")


class BundleError(ValueError):
    """A manifest or media file this box refuses; the message names the field or file."""


@dataclass(frozen=True, slots=True)
class Media:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    id: str
    to: tuple[str, ...]
    playlist: str
    media: tuple[Media, ...]
    serial: int | None = None  # None: a version-1 manifest (no serial)

    def to_json(self) -> bytes:
        head: dict[str, object] = {"format": FORMAT, "version": 1, "id": self.id}
        if self.serial is not None:
            head = {"format": FORMAT, "version": VERSION, "id": self.id, "serial": self.serial}
        return json.dumps({**head, "to": list(self.to), "playlist": self.playlist,
                           "media": [{"name": m.name, "size": m.size, "sha256": m.sha256}
                                     for m in self.media]},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The authority takes a publication slot's playlist off the boxes it addresses."""

    id: str
    serial: int
    to: tuple[str, ...]

    def to_json(self) -> bytes:
        return json.dumps({"format": WITHDRAWAL_FORMAT, "version": WITHDRAWAL_VERSION,
                           "id": self.id, "serial": self.serial, "to": list(self.to)},
                          separators=(",", ":")).encode("utf-8")


def _json_object(data: bytes, what: str) -> dict[str, object]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(_("{what}: not a JSON object: {error}")
                          .format(what=what, error=exc)) from None
    if not isinstance(doc, dict):
        raise BundleError(_("{what}: not a JSON object").format(what=what))
    return doc


def _check_id(bid: object, what: str) -> str:
    if not isinstance(bid, str) or not _ID.match(bid):
        raise BundleError(_("{what}: id: 1-48 letters, digits, '-', '_', starting with a "
                            "letter or digit").format(what=what))
    return bid


def _check_to(to: object, what: str) -> tuple[str, ...]:
    if (not isinstance(to, list) or not to or len(to) > 256
            or not all(isinstance(t, str) and _TARGET.match(t) for t in to)):
        raise BundleError(_("{what}: to: a list of 'all', 'site:<id>' or 'region:<6 digits>'")
                          .format(what=what))
    return tuple(to)


def _check_serial(serial: object, what: str) -> int:
    if (not isinstance(serial, int) or isinstance(serial, bool)
            or not 1 <= serial <= MAX_SERIAL):
        raise BundleError(_("{what}: serial: an integer from 1 to {high}")
                          .format(what=what, high=MAX_SERIAL))
    return serial


def parse_withdrawal(data: bytes) -> Withdrawal:
    doc = _json_object(data, "withdrawal")
    if doc.get("format") != WITHDRAWAL_FORMAT:
        raise BundleError(_("withdrawal: format is not {format}")
                          .format(format=repr(WITHDRAWAL_FORMAT)))
    if doc.get("version") != WITHDRAWAL_VERSION:
        raise BundleError(_("withdrawal: version {version}; this box reads {ours}")
                          .format(version=repr(doc.get("version")), ours=WITHDRAWAL_VERSION))
    if set(doc) != {"format", "version", "id", "serial", "to"}:
        raise BundleError(_("withdrawal: needs exactly format, version, id, serial, to"))
    return Withdrawal(_check_id(doc["id"], "withdrawal"),
                      _check_serial(doc["serial"], "withdrawal"),
                      _check_to(doc["to"], "withdrawal"))


def parse_manifest(data: bytes) -> Manifest:
    doc = _json_object(data, "bundle")
    if doc.get("format") != FORMAT:
        raise BundleError(_("bundle: format is not {format}").format(format=repr(FORMAT)))
    version = doc.get("version")
    if version not in (1, VERSION) or isinstance(version, bool):
        raise BundleError(_("bundle: version {version}; this box reads 1 and {ours}")
                          .format(version=repr(version), ours=VERSION))
    allowed = {"format", "version", "id", "to", "playlist", "media"}
    if version == VERSION:
        allowed.add("serial")
    extra = set(doc) - allowed
    if extra:
        raise BundleError(_("bundle: unknown fields {fields}").format(fields=sorted(extra)))
    serial = _check_serial(doc.get("serial"), "bundle") if version == VERSION else None
    bid = _check_id(doc.get("id"), "bundle")
    to = _check_to(doc.get("to"), "bundle")
    pl, media = doc.get("playlist"), doc.get("media")
    if not isinstance(pl, str) or not pl.strip():
        raise BundleError(_("bundle: playlist: the playlist's TOML text is missing"))
    if len(pl.encode("utf-8")) > MAX_PLAYLIST_BYTES:
        raise BundleError(_("bundle: playlist: over {limit} bytes")
                          .format(limit=MAX_PLAYLIST_BYTES))
    if not isinstance(media, list) or len(media) > MAX_MEDIA:
        raise BundleError(_("bundle: media: a list of at most {limit} files")
                          .format(limit=MAX_MEDIA))
    out: list[Media] = []
    for i, m in enumerate(media):
        if not isinstance(m, dict) or set(m) != {"name", "size", "sha256"}:
            raise BundleError(_("bundle: media[{i}]: needs exactly name, size, sha256").format(i=i))
        name, size, digest = m["name"], m["size"], m["sha256"]
        if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
            raise BundleError(_("bundle: media[{i}].name: a plain file name (letters, digits, "
                                "'.', '-', '_'), no directories").format(i=i))
        if (not isinstance(size, int) or isinstance(size, bool)
                or not 0 < size <= MAX_MEDIA_BYTES):
            raise BundleError(_("bundle: media[{i}].size: 1 to {limit} bytes")
                              .format(i=i, limit=MAX_MEDIA_BYTES))
        if not isinstance(digest, str) or not _HEX.match(digest):
            raise BundleError(_("bundle: media[{i}].sha256: 64 lowercase hex digits").format(i=i))
        if any(x.name == name for x in out):
            raise BundleError(_("bundle: media[{i}].name: {name} appears twice")
                              .format(i=i, name=repr(name)))
        out.append(Media(name, size, digest))
    return Manifest(bid, to, pl, tuple(out), serial)


def addressed(m: Manifest | Withdrawal, site_id: str, regions: tuple[str, ...]) -> bool:
    for t in m.to:
        if t == "all" or t == f"site:{site_id}":
            return True
        if t.startswith("region:") and any(region_covers(t[7:], r) for r in regions):
            return True
    return False


def check_media(m: Manifest, files: dict[str, Path]) -> list[str]:
    """Problems with the media files delivered for ``m`` (empty: every one is there, of the
    signed size and digest). Sizes are checked before anything is read."""
    problems = []
    for x in m.media:
        p = files.get(x.name)
        if p is None:
            problems.append(_("media {name}: missing (the bundle lists it)").format(name=x.name))
            continue
        try:
            size = p.stat().st_size
        except OSError as exc:
            problems.append(_("media {name}: cannot read: {error}")
                            .format(name=x.name, error=exc.strerror))
            continue
        if size != x.size:
            problems.append(_("media {name}: {size} bytes, the bundle says {signed}")
                            .format(name=x.name, size=size, signed=x.size))
            continue
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                h.update(chunk)
        if h.hexdigest() != x.sha256:
            problems.append(_("media {name}: SHA-256 differs from the signed bundle (altered or "
                              "damaged)").format(name=x.name))
    return problems


def make_manifest(bid: str, to: list[str], playlist_text: str, media: list[Path],
                  serial: int) -> Manifest:
    """The authority's side: describe the files (then seal ``to_json()``)."""
    ms = []
    for p in media:
        data = p.read_bytes()
        ms.append(Media(p.name, len(data), hashlib.sha256(data).hexdigest()))
    m = Manifest(bid, tuple(to), playlist_text, tuple(ms), serial)
    return parse_manifest(m.to_json())  # the same checks as the box


def next_serial(now_s: float, last: int | None) -> int:
    """The serial for a new publication of a slot: the clock in milliseconds, or one more
    than the slot's last serial when the clock is behind it (docs/alerts.md)."""
    t = int(now_s * 1000)
    return max(t, (last or 0) + 1)
