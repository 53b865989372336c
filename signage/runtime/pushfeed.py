"""The daemon's side of pushed playlists (docs/alerts.md, "Pushed playlists"): take a signed
bundle and its media, verify, validate the whole site with it through the same loader as
`signage validate`, and either put it in place and ask for a reload (applied at the next item
boundary by the hot-reload path) or leave everything as it was. All or nothing.

Runs in the daemon's main thread (the one that also reloads), so the swap in place and the
reload never race.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..alerts.bundle import (
    BundleError,
    Withdrawal,
    addressed,
    check_media,
    parse_manifest,
    parse_withdrawal,
)
from ..alerts.envelope import KINDS, EnvelopeError, Opened, open_envelope
from ..alerts.pubstate import STATE_FILE, Slot, discrepancies, dump_state, parse_state, replay
from ..alerts.pushed import pushed_root
from ..config import resolve
from ..durable import fsync_dir
from ..i18n import _
from ..keys import PublicKey
from ..load import LoadedSite, load_site
from ..problems import InputError
from .records import Sink

BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
#: media travel in parts of at most this size (the broker's packet limit is ~1 MB)
PART_BYTES = 512 * 1024
MAX_PARTS = 128
#: unverified media parts kept waiting for their bundle, at most
SPOOL_BYTES = 256 * 1024 * 1024
#: how often the pushed state is compared with .pushed/ (seconds)
STATE_CHECK_S = 10.0
#: the kinds a publication envelope may be
PUB_KINDS = ("playlist-bundle", "playlist-withdrawal")


@dataclass(frozen=True, slots=True)
class PushVerdict:
    accepted: bool
    reason: str  # accepted | malformed | unsigned | too_large | unknown_key | forged |
    #              other_region | media | invalid | unversioned | replay
    problems: list[str] = field(default_factory=list)
    id: str = ""
    digest: str = ""
    serial: int | None = None
    action: str = "apply"  # or "withdraw"

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reason": self.reason, "problems": self.problems,
                "id": self.id, "digest": self.digest, "serial": self.serial,
                "action": self.action}


class PushCenter:
    def __init__(self, loaded: LoadedSite, log: Sink, today: Callable[[], date],
                 request_reload: Callable[[], None]) -> None:
        #: reports to the hub (report/publication); set when the fleet link runs
        self.report: Callable[[dict[str, Any]], None] | None = None
        self._fleet_pending: dict[str, bytes] = {}  # bundle id -> envelope awaiting media
        self._fleet_done: set[str] = set()  # envelope digests handled
        self._loaded = loaded
        self._log = log
        self._today = today
        self._reload = request_reload
        self.inbox = resolve(loaded.base, loaded.cfg.authority.inbox)
        self._noted: set[tuple[str, str]] = set()  # discrepancies logged already
        self._checked_at: float | None = None

    def apply_site(self, loaded: LoadedSite) -> None:
        self._loaded = loaded

    # ---- the pushed state (docs/alerts.md, "Pushed state and the proof log") ------------
    @property
    def state_path(self) -> Path:
        return resolve(self._loaded.base, self._loaded.cfg.authority.store) / STATE_FILE

    def slots(self) -> dict[str, Slot]:
        try:
            data = self.state_path.read_bytes()
        except OSError:
            return {}
        return parse_state(data) or {}

    def _keep_slot(self, bid: str, slot: Slot) -> None:
        slots = self.slots()
        slots[bid] = slot
        path = self.state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(dump_state(slots))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def _present(self) -> dict[str, str | None]:
        root = pushed_root(self._loaded.site.media_root)
        out: dict[str, str | None] = {}
        try:
            dirs = [d for d in root.iterdir() if not d.name.startswith(".") and d.is_dir()]
        except OSError:
            return out
        for d in dirs:
            try:
                out[d.name] = hashlib.sha256((d / "bundle.env").read_bytes()).hexdigest()
            except OSError:
                out[d.name] = None
        return out

    def state_report(self) -> dict[str, Any]:
        present = self._present()
        return {"kind": "state", "pushed": [
            {"id": bid, "serial": s.serial, "digest": s.digest, "state": s.state,
             "present": bid in present}
            for bid, s in sorted(self.slots().items())]
            + [{"id": bid, "serial": None, "digest": None, "state": "unrecorded",
                "present": True} for bid in sorted(set(present) - set(self.slots()))]}

    def report_state(self) -> None:
        rep = self.report
        if rep is not None:
            try:
                rep(self.state_report())
            except Exception:  # the link's trouble never stops the box
                pass

    def check_state(self) -> None:
        """Compare the pushed state with .pushed/; log each new disagreement once (a
        `publication_state` record) and report the state to the hub when there is one."""
        slots = self.slots()
        found = discrepancies(slots, self._present())
        new = [(bid, what) for bid, what in found if (bid, what) not in self._noted]
        for bid, what in new:
            self._noted.add((bid, what))
            s = slots.get(bid)
            self._log.append("publication_state", id=bid, found=what,
                             serial=s.serial if s else None, digest=s.digest if s else None)
        self._noted &= set(found)  # resolved ones may be logged again if they come back
        if new:
            self.report_state()

    def offer(self, env: bytes, media: dict[str, Path], source: str) -> PushVerdict:
        v = self._offer(env, media)
        self._log.append("publication", id=v.id or None, digest=v.digest or None,
                         accepted=v.accepted, reason=v.reason, problems=v.problems[:50],
                         source=source[:200], action=v.action, serial=v.serial)
        if v.accepted:
            self._reload()
        rep = self.report
        if rep is not None and not source.startswith("inbox:"):
            try:
                rep({"kind": "result", **v.as_json(), "source": source[:200]})
            except Exception:  # the link's trouble never stops a publication
                pass
        return v

    # ---- the fleet link: cmd/playlist/<id> (the envelope), cmd/media/<sha256>/<i> ---------
    @property
    def spool(self) -> Path:
        return self.inbox / ".fleet-media"

    def fleet_part(self, sha: str, index: int, data: bytes) -> None:
        """A part of a media file (docs/alerts.md); kept until a verified bundle needs it.
        Unverified until then, so the spool is bounded."""
        if not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)) \
                or not 0 <= index < MAX_PARTS or len(data) > PART_BYTES:
            return
        if sha in self._installed_media():
            return  # a retained part of a bundle in place, again at a reconnect: not needed
        d = self.spool / sha
        try:
            used = sum(p.stat().st_size for p in self.spool.glob("*/*")) \
                if self.spool.is_dir() else 0
            if used + len(data) > SPOOL_BYTES:
                self._spool_evict()
                used = sum(p.stat().st_size for p in self.spool.glob("*/*"))
            if used + len(data) > SPOOL_BYTES:
                return
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f".{index}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, d / str(index))
        except OSError:
            return
        self._fleet_try()

    def _installed_media(self) -> dict[str, Path]:
        """The media of the pushed bundles in place, by digest (their manifests verified; the
        files' digests are checked again when a bundle is offered)."""
        out: dict[str, Path] = {}
        root = pushed_root(self._loaded.site.media_root)
        keys = self._keys()
        try:
            dirs = [d for d in root.iterdir() if not d.name.startswith(".")]
        except OSError:
            return out
        for d in dirs:
            try:
                env = (d / "bundle.env").read_bytes()
                m = parse_manifest(open_envelope(env, keys, kinds=("playlist-bundle",)).payload)
            except (OSError, EnvelopeError, BundleError):
                continue
            out.update((x.sha256, d / "media" / x.name) for x in m.media)
        return out

    def _spool_evict(self) -> None:
        """Spool parts that no bundle waiting here needs are removed (the spool is full)."""
        keys = self._keys()
        wanted: set[str] = set()
        for env in self._fleet_pending.values():
            try:
                m = parse_manifest(open_envelope(env, keys, kinds=("playlist-bundle",)).payload)
            except (EnvelopeError, BundleError):
                continue
            wanted.update(x.sha256 for x in m.media)
        for d in self.spool.iterdir():
            if d.name not in wanted:
                shutil.rmtree(d, ignore_errors=True)

    def fleet_bundle(self, name: str, env: bytes) -> None:
        """A bundle envelope from the hub: verified now, applied once its media are here."""
        if not BUNDLE_ID.fullmatch(name):
            return  # not a bundle id (docs/alerts.md): no bundle of ours
        digest = hashlib.sha256(env).hexdigest()
        if digest in self._fleet_done:
            return  # a retained copy again after a reconnect
        try:
            kept = (pushed_root(self._loaded.site.media_root) / name / "bundle.env").read_bytes()
        except (OSError, ValueError):
            kept = b""
        if kept == env:  # in place already (the daemon restarted): nothing to do
            self._fleet_done.add(digest)
            return
        try:
            opened = open_envelope(env, self._keys(), kinds=PUB_KINDS)
        except EnvelopeError:
            kind = ""
        else:
            kind = opened.kind
            slot = self.slots().get(name)
            if slot is not None and slot.digest == opened.digest:
                # the retained message of what this box already took (a reconnect, a
                # restart): answered already; taken again it would only be a "replay"
                self._fleet_done.add(digest)
                return
        if kind == "playlist-withdrawal":  # no media to wait for
            self._fleet_pending.pop(name, None)
            self._fleet_done.add(digest)
            self.offer(env, {}, "fleet")
            return
        self._fleet_pending[name] = env
        rep = self.report
        if rep is not None:
            try:
                opened = open_envelope(env, self._keys(), kinds=("playlist-bundle",))
                m = parse_manifest(opened.payload)
                rep({"kind": "delivered", "id": m.id, "digest": opened.digest,
                     "media": len(m.media)})
            except (EnvelopeError, BundleError):
                pass  # reported as refused by _fleet_try
            except Exception:  # the link's trouble never stops a publication
                pass
        self._fleet_try()

    def _keys(self) -> dict[str, PublicKey]:
        return {k.key_id: k for k in (PublicKey.from_text(t)
                                      for t in self._loaded.cfg.authority.keys)}

    def _fleet_try(self) -> None:
        keys = self._keys()
        for name, env in list(self._fleet_pending.items()):
            try:
                m = parse_manifest(open_envelope(env, keys, kinds=("playlist-bundle",)).payload)
            except (EnvelopeError, BundleError):
                del self._fleet_pending[name]
                self._fleet_done.add(hashlib.sha256(env).hexdigest())
                self.offer(env, {}, "fleet")  # refused, with the reason, reported
                continue
            files: dict[str, Path] = {}
            installed = self._installed_media()
            for x in m.media:
                have = installed.get(x.sha256)
                if have is not None and have.is_file():
                    files[x.name] = have  # a new version keeps this file: its parts are skipped
                    continue
                n = -(-x.size // PART_BYTES)
                parts = [self.spool / x.sha256 / str(i) for i in range(n)]
                if not all(p.is_file() for p in parts):
                    break
                out = self.spool / x.sha256 / "whole"
                if not out.is_file():
                    tmp = self.spool / x.sha256 / ".whole.tmp"
                    with open(tmp, "wb") as fh:
                        for p in parts:
                            fh.write(p.read_bytes())
                    os.replace(tmp, out)
                files[x.name] = out
            else:
                del self._fleet_pending[name]
                self._fleet_done.add(hashlib.sha256(env).hexdigest())
                self.offer(env, files, "fleet")  # copies what it keeps
                for x in m.media:
                    shutil.rmtree(self.spool / x.sha256, ignore_errors=True)

    def _offer(self, env: bytes, media: dict[str, Path]) -> PushVerdict:
        loaded = self._loaded
        cfg = loaded.cfg
        keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in cfg.authority.keys)}
        try:
            opened = open_envelope(env, keys, kinds=PUB_KINDS)
            if opened.kind == "playlist-withdrawal":
                return self._withdraw(opened, parse_withdrawal(opened.payload))
            m = parse_manifest(opened.payload)
        except EnvelopeError as exc:
            return PushVerdict(False, exc.reason, [str(exc)])
        except BundleError as exc:
            return PushVerdict(False, "malformed", [str(exc)])
        if not addressed(m, cfg.site.id, tuple(cfg.authority.regions)):
            return PushVerdict(False, "other_region", [_(
                "bundle {id} is for {to}; this box is site {site} in regions {regions}"
            ).format(id=m.id, to=list(m.to), site=cfg.site.id,
                     regions=list(cfg.authority.regions))], m.id, opened.digest, m.serial)
        if m.serial is None:
            return PushVerdict(False, "unversioned", [_(
                "bundle {id}: format 1 carries no serial, so it cannot be told from an old "
                "bundle replayed; this box takes bundle format 2: publish it again with "
                "`signage hub publish` or `signage push seal` of this version").format(
                    id=m.id)], m.id, opened.digest)
        why = replay(self.slots(), m.id, m.serial)
        if why is not None:
            return PushVerdict(False, "replay", [why], m.id, opened.digest, m.serial)
        bad = check_media(m, media)
        if bad:
            return PushVerdict(False, "media", bad, m.id, opened.digest, m.serial)
        root = pushed_root(loaded.site.media_root)
        root.mkdir(parents=True, exist_ok=True)
        tag = secrets.token_hex(4)
        staging = root / f".staging-{m.id}-{tag}"
        (staging / "media").mkdir(parents=True)
        (staging / "bundle.env").write_bytes(env)
        (staging / "playlist.toml").write_bytes(m.playlist.encode("utf-8"))
        for x in m.media:
            shutil.copyfile(media[x.name], staging / "media" / x.name)
        target = root / m.id
        old = root / f".old-{m.id}-{tag}"
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
        try:
            load_site(loaded.config_path, self._today())  # the whole site, as validate does
        except InputError as exc:
            problems = [str(p) for p in exc.problems]
        except Exception as exc:  # never let a bundle take the daemon down
            problems = [_("cannot load: {error}").format(error=exc)]
        else:
            problems = []
        if problems:
            shutil.rmtree(target, ignore_errors=True)
            if old.exists():
                os.rename(old, target)
            return PushVerdict(False, "invalid", problems, m.id, opened.digest, m.serial)
        shutil.rmtree(old, ignore_errors=True)
        self._keep_slot(m.id, Slot(m.serial, opened.digest, hashlib.sha256(env).hexdigest(),
                                   opened.key_id, "applied"))
        return PushVerdict(True, "accepted", [], m.id, opened.digest, m.serial)

    def _withdraw(self, opened: Opened, w: Withdrawal) -> PushVerdict:
        """Take a slot's playlist away (all or nothing: the site must load without it)."""
        loaded = self._loaded
        cfg = loaded.cfg

        def verdict(ok: bool, reason: str, problems: list[str]) -> PushVerdict:
            return PushVerdict(ok, reason, problems, w.id, opened.digest, w.serial, "withdraw")

        if not addressed(w, cfg.site.id, tuple(cfg.authority.regions)):
            return verdict(False, "other_region", [_(
                "withdrawal of {id} is for {to}; this box is site {site} in regions {regions}"
            ).format(id=w.id, to=list(w.to), site=cfg.site.id,
                     regions=list(cfg.authority.regions))])
        why = replay(self.slots(), w.id, w.serial)
        if why is not None:
            return verdict(False, "replay", [why])
        root = pushed_root(loaded.site.media_root)
        target = root / w.id
        aside = root / f".withdrawn-{w.id}-{secrets.token_hex(4)}"
        if target.exists():
            os.rename(target, aside)
            try:
                load_site(loaded.config_path, self._today())
            except InputError as exc:
                os.rename(aside, target)
                return verdict(False, "invalid", [str(p) for p in exc.problems])
            except Exception as exc:  # never let a withdrawal take the daemon down
                os.rename(aside, target)
                return verdict(False, "invalid", [_("cannot load: {error}").format(error=exc)])
            shutil.rmtree(aside, ignore_errors=True)
        self._keep_slot(w.id, Slot(w.serial, opened.digest, "", opened.key_id, "withdrawn"))
        return verdict(True, "accepted", [])

    def poll(self, now: float | None = None) -> None:
        """Bundle directories dropped into the inbox by `signage push add` (written as
        .name.tmp and renamed, so a directory seen is complete); and every STATE_CHECK_S
        (``now``: monotonic seconds) the pushed state against .pushed/."""
        if now is not None and (self._checked_at is None
                                or now - self._checked_at >= STATE_CHECK_S):
            self._checked_at = now
            self.check_state()
        try:
            names = sorted(e.name for e in os.scandir(self.inbox)
                           if not e.name.startswith(".") and e.name != "results"
                           and e.is_dir(follow_symlinks=False))
        except OSError:
            return
        for name in names:
            d = self.inbox / name
            env_path = d / "bundle.env"
            try:
                if env_path.stat().st_size > KINDS["playlist-bundle"]:
                    raise OSError(_("bundle.env is larger than {limit} bytes").format(
                        limit=KINDS["playlist-bundle"]))
                env = env_path.read_bytes()
            except OSError as exc:
                v = PushVerdict(False, "malformed", [f"{env_path}: {exc}"])
            else:
                media = {p.name: p for p in (d / "media").iterdir()} \
                    if (d / "media").is_dir() else {}
                v = self.offer(env, media, f"inbox:{name}")
            results = self.inbox / "results"
            results.mkdir(exist_ok=True)
            tmp = results / f".{name}.json.tmp"
            tmp.write_text(json.dumps(v.as_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, results / f"{name}.json")
            shutil.rmtree(d, ignore_errors=True)
