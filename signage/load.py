"""Load a site from disk and check it completely: config, playlists, references, media paths,
drivers and their options, durations, drawable text, and whether every item can comply.

This is the shell around the pure core: it reads files and asks drivers (through their
classmethods, never a device) for duration models. It never raises on bad input other than
``InputError``, which lists every problem found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .alerts.pushed import load_pushed
from .config import ScreenConfig, SiteConfig, resolve
from .driver import ContentRejected, DriverClass, ScreenSpec, UnknownDriver, load_driver
from .i18n import _
from .keys import PublicKey
from .mediacheck import Kind, MediaCheck, MediaChecker
from .model import Site, build_site
from .plan.rotation import never_placed
from .plan.segments import day_segments
from .playlist import ItemConfig, PlaylistConfig, read_playlists
from .problems import InputError, Problem, find_line, from_validation, read_toml
from .timeutil import rfc3339_ms

#: how far ahead validate looks for open hours without anti-fraud content
COVERAGE_DAYS = 400


@dataclass(frozen=True)
class LoadedSite:
    config_path: Path
    cfg: SiteConfig
    playlists: dict[str, PlaylistConfig]
    site: Site
    drivers: dict[str, DriverClass]
    digests: dict[str, str] = field(default_factory=dict)  # file -> sha256, for the run log
    #: things that are allowed but probably not meant (printed by validate, never fatal)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def base(self) -> Path:
        return self.config_path.parent

    def spec(self, screen_id: str) -> ScreenSpec:
        sc = next(s for s in self.cfg.screens if s.id == screen_id)
        return screen_spec(sc, self.site.media_root)


def screen_spec(sc: ScreenConfig, media_root: Path) -> ScreenSpec:
    return ScreenSpec(sc.id, sc.width, sc.height, dict(sc.options), media_root, sc.label)


def media_path(media_root: Path, rel: str) -> Path:
    """Resolve a media path, or raise ValueError if it is absolute or escapes the media root
    (by ``..`` or a symlink)."""
    if not rel or "\x00" in rel:
        raise ValueError(_("empty or invalid path"))
    p = Path(rel)
    if p.is_absolute():
        raise ValueError(_("absolute path {path}: give a path relative to the media root"
                           ).format(path=repr(rel)))
    try:
        root = media_root.resolve()
        full = (root / p).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise ValueError(_("path {path} cannot be resolved: {error}").format(
            path=repr(rel), error=exc)) from None
    if not full.is_relative_to(root):
        raise ValueError(_("path {path} leads outside the media root {root}").format(
            path=repr(rel), root=root))
    return full


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _text_of(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def load_site(config_path: Path, today: date | None = None,
              media_cache: Path | bool | None = True) -> LoadedSite:
    """Load and check everything; raise InputError with all problems, or return the site.

    Every independent problem is reported in one run: a config that does not validate still
    lets the playlists and their media be checked, a broken playlist file the others.
    ``media_cache``: where decoded-media results are kept (True: ``var/cache/
    media-check.json`` next to the config; None or False: no cache)."""
    data, ctext = read_toml(config_path)
    cfile = str(config_path)
    base = config_path.parent
    problems: list[Problem] = []
    warnings: list[Problem] = []
    cfg: SiteConfig | None
    try:
        cfg = SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(from_validation(exc, cfile, ctext))
        cfg = None
    pl_rel = cfg.playlists.dir if cfg else _raw_str(data, "playlists", "dir", "playlists")
    root_rel = cfg.media.root if cfg else _raw_str(data, "media", "root", "media")
    pl_dir = resolve(base, pl_rel)
    if not pl_dir.is_dir():
        problems.append(Problem(cfile, "playlists.dir",
                                _("playlist directory not found: {dir}").format(dir=pl_dir),
                                find_line(ctext, ["playlists", "dir"])))
        raise InputError(problems)
    playlists, pl_problems, broken = read_playlists(pl_dir)
    problems.extend(pl_problems)
    media_root = resolve(base, root_rel)
    root_ok = media_root.is_dir()
    if not root_ok:
        problems.append(Problem(cfile, "media.root",
                                _("directory not found: {dir}").format(dir=media_root),
                                find_line(ctext, ["media", "root"])))
    # playlists pushed by the authority (docs/alerts.md): verified again, added to every screen
    pushed: dict[str, PlaylistConfig] = {}
    pl_paths: dict[str, Path] = {}
    if cfg is not None:
        keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in cfg.authority.keys)}
        pushed, pl_paths, pushed_problems = load_pushed(media_root, keys)
        problems.extend(pushed_problems)
    for pid in pushed:
        if pid in playlists:
            problems.append(Problem(str(pl_dir / f"{pid}.toml"), "",
                                    _("the name {name} is taken by a pushed playlist; "
                                      "rename this file").format(name=repr(pid))))
    if pushed and cfg is not None:
        playlists = {**playlists, **pushed}
        cfg = cfg.model_copy(update={"screens": [
            sc.model_copy(update={"playlists": [*sc.playlists, *sorted(pushed)]})
            for sc in cfg.screens]})

    texts: dict[str, str] = {}

    def pl_problem(pid: str, idx: int | None, fld: str, msg: str) -> Problem:
        path = pl_paths.get(pid, pl_dir / f"{pid}.toml")
        if pid not in texts:
            texts[pid] = _text_of(path)
        loc: list[int | str] = ["items", idx, fld] if idx is not None else [fld]
        name = f"items[{idx}].{fld}" if idx is not None else fld
        return Problem(str(path), name, msg, find_line(texts[pid], loc))

    # item ids are unique across the site: the log names items by id
    owner: dict[str, str] = {}
    for pid, pc in playlists.items():
        for i, it in enumerate(pc.items):
            if it.id in owner and owner[it.id] != pid:
                problems.append(pl_problem(pid, i, "id", _(
                    "duplicate item id {id}: already used in playlists/{other}.toml").format(
                        id=repr(it.id), other=owner[it.id])))
            owner.setdefault(it.id, pid)

    # every image and clip: inside the media root, present, decodable, of a size we decode
    cache_file = (base / "var" / "cache" / "media-check.json" if media_cache is True
                  else media_cache or None)
    checker = MediaChecker(cache_file if isinstance(cache_file, Path) else None)
    media: dict[str, MediaCheck] = {}  # item id -> result, for items whose file is usable
    if root_ok:
        for pid, pc in playlists.items():
            for ii, it in enumerate(pc.items):
                if it.type == "text":
                    continue
                got, msg = _media_file(media_root, it, checker)
                if got is None:
                    problems.append(pl_problem(pid, ii, "path", msg))
                else:
                    media[it.id] = got
        checker.save()
    if cfg is None:
        raise InputError(problems)

    drivers: dict[str, DriverClass] = {}
    durations: dict[tuple[str, str], float] = {}
    skip: set[tuple[str, str]] = set()  # (screen, item): not played on that screen
    budget = cfg.rule.budget_s
    refs_ok = True
    for si, sc in enumerate(cfg.screens):
        sfield = f"screens[{si}]"
        spec = screen_spec(sc, media_root)
        try:
            drv = drivers.get(sc.driver) or load_driver(sc.driver)
            drivers[sc.driver] = drv
        except UnknownDriver as exc:
            problems.append(Problem(cfile, f"{sfield}.driver", str(exc),
                                    find_line(ctext, ["screens", si, "driver"])))
            drv = None
        if drv is not None:
            for msg in _safe_list(drv.check_options, spec):
                problems.append(Problem(cfile, f"{sfield}.options", msg,
                                        find_line(ctext, ["screens", si, "options"])))
        has_af = False
        for pid in sc.playlists:
            if pid in broken:
                refs_ok = False  # its own problems are listed above
                has_af = True
                continue
            if pid not in playlists:
                refs_ok = False
                known = ", ".join(sorted(playlists)) or _("none")
                problems.append(Problem(cfile, f"{sfield}.playlists",
                                        _("unknown playlist {id}; playlists in {dir}: {known}"
                                          ).format(id=repr(pid), dir=pl_dir, known=known),
                                        find_line(ctext, ["screens", si, "playlists"])))
                continue
            pc = playlists[pid]
            has_af = has_af or pc.anti_fraud
            if drv is None:
                continue
            for ii, it in enumerate(pc.items):
                if it.type != "text" and it.id not in media:
                    continue  # its file's problem is listed above
                if it.type == "image":
                    got = media[it.id]
                    illegible = _safe_list(drv.check_image, spec, got.width, got.height)
                    if illegible:  # shown as a few dots it proves nothing: left out here
                        skip.add((sc.id, it.id))
                        warnings.append(pl_problem(pid, ii, "path", _(
                            "on screen {screen}: {why}. It is left out on this screen.").format(
                                screen=sc.id, why="; ".join(illegible))))
                        continue
                d, errs = _duration(drv, spec, sc, it, media_root, cfg.rule.text_default_s)
                for fld, msg in errs:
                    problems.append(pl_problem(pid, ii, fld, _("on screen {screen}: {error}"
                                                               ).format(screen=sc.id, error=msg)))
                if d is None:
                    continue
                durations[(sc.id, it.id)] = d
                if not pc.anti_fraud and d > budget:
                    problems.append(pl_problem(
                        pid, ii, "duration_s",
                        _("store item lasts {d} s on screen {screen}, longer than the gap "
                          "budget {budget} s (max_gap_s - margin_s): it can never play without "
                          "breaking the rule; shorten it to at most {budget} s").format(
                              d=f"{d:.1f}", screen=sc.id, budget=f"{budget:g}")))
                if pc.anti_fraud and cfg.rule.measure == "start-to-start" and d >= budget:
                    problems.append(pl_problem(
                        pid, ii, "duration_s",
                        _("anti-fraud item lasts {d} s on screen {screen}; with measure = "
                          "start-to-start it must be shorter than {budget} s").format(
                              d=f"{d:.1f}", screen=sc.id, budget=f"{budget:g}")))
        if not has_af:
            problems.append(Problem(cfile, f"{sfield}.playlists",
                                    _("screen {screen} has no anti-fraud playlist; add one "
                                      "with content = \"anti-fraud\"").format(screen=sc.id),
                                    find_line(ctext, ["screens", si, "playlists"])))
    if refs_ok:
        # coverage depends on hours, windows and dayparts only: check it even when some
        # durations are unknown (an item with a problem counts 1 s here)
        site = build_site(cfg, playlists, media_root,
                          lambda sc, it: durations.get((sc.id, it.id), 1.0), skip)
        problems.extend(_coverage(site, today or date.today(), cfile, ctext))
    if problems or not refs_ok:
        raise InputError(problems)
    for pid, idx, msg in _never_placed(site, today or date.today()):
        warnings.append(pl_problem(pid, idx, "duration_s", msg))
    digests = {str(config_path): _sha256(config_path)}
    for pid in sorted(playlists):
        p = pl_paths.get(pid, pl_dir / f"{pid}.toml")
        digests[str(p)] = _sha256(p)
    return LoadedSite(config_path, cfg, playlists, site, drivers, digests, warnings)


def _raw_str(data: dict[str, Any], table: str, key: str, default: str) -> str:
    """A path from a config that did not validate, to check the playlists anyway."""
    t = data.get(table)
    v = t.get(key) if isinstance(t, dict) else None
    return v if isinstance(v, str) and v else default


def _media_file(media_root: Path, it: ItemConfig, checker: MediaChecker
                ) -> tuple[MediaCheck | None, str]:
    try:
        full = media_path(media_root, it.path)
    except ValueError as exc:
        return None, str(exc)
    try:
        found = full.is_file()
    except OSError as exc:
        return None, _("cannot read {path}: {error}").format(path=full,
                                                             error=exc.strerror or exc)
    if not found:
        return None, _("media file not found: {path}").format(path=full)
    kind: Kind = "image" if it.type == "image" else "clip"
    got = checker.check(full, kind)
    if not got.ok:
        return None, f"{full}: {got.problem}"
    return got, ""


def _safe_list(fn: Callable[..., Iterable[object]], *args: object) -> list[str]:
    try:
        return [str(x) for x in fn(*args)]
    except Exception as exc:  # a plugin's check must not crash validate
        return [_("driver check failed: {error}").format(error=exc)]


def _duration(drv: DriverClass, spec: ScreenSpec, sc: ScreenConfig, it: ItemConfig,
              media_root: Path, text_default: float) -> tuple[float | None, list[tuple[str, str]]]:
    errs: list[tuple[str, str]] = []
    if it.type == "text":
        errs.extend(("text", m) for m in _safe_list(drv.check_text, spec, it.text))
        if it.duration_s is not None:
            return it.duration_s, errs
        try:
            model = drv.text_duration_s(spec, it.text)
        except Exception as exc:
            errs.append(("text", _("cannot measure the text: {error}").format(error=exc)))
            return None, errs
        return (model if model is not None else text_default), errs
    full = media_path(media_root, it.path)  # checked by _media_file before
    if it.type == "clip":
        try:
            probed = drv.media_duration_s(spec, full)
        except ContentRejected as exc:
            return None, [("path", str(exc))]
        except Exception as exc:
            return None, [("path", _("cannot probe {path}: {error}").format(path=full,
                                                                          error=exc))]
        if probed is not None:
            return probed, errs
        if it.duration_s is None:
            return None, [("duration_s", _("a clip needs duration_s on this driver (seconds)"))]
    return it.duration_s, errs


def _never_placed(site: Site, today: date) -> Iterable[tuple[str, int, str]]:
    """Store items that no gap ever holds on some screen (over the coming week's pools):
    (playlist, item index, message)."""
    b = site.rule.budget_ms
    for screen in site.screens:
        seen: set[tuple[object, ...]] = set()
        flagged: set[str] = set()
        for k in range(7):
            for seg in day_segments(site, screen, today + timedelta(days=k)):
                key = (seg.store, seg.anti_fraud)
                if not seg.store or key in seen:
                    continue
                seen.add(key)
                budgets = ([b - a.duration_ms for a in seg.anti_fraud]
                           if site.rule.start_to_start else [b])
                for it in never_placed(seg.store, budgets):
                    if it.id in flagged:
                        continue
                    flagged.add(it.id)
                    pl = next(p for p in screen.playlists if p.id == it.playlist)
                    idx = next(i for i, x in enumerate(pl.items) if x.id == it.id)
                    yield it.playlist, idx, _(
                        "store item {item!r} ({s:g} s) never plays on screen {screen}: every "
                        "gap (budget {b:g} s) is filled more fully by other store items; "
                        "shorten it or change the others").format(
                            item=it.id, s=it.duration_ms / 1000, screen=screen.id,
                            b=max(budgets) / 1000)


def _coverage(site: Site, today: date, cfile: str, ctext: str) -> Iterable[Problem]:
    """Open hours in which a screen has no anti-fraud content (date windows, dayparts)."""
    for si, screen in enumerate(site.screens):
        seen: set[tuple[object, ...]] = set()
        for k in range(COVERAGE_DAYS):
            day = today + timedelta(days=k)
            # days with the same hours and the same active playlists plan alike: check once
            key = (tuple(site.hours_of(screen).spans_for(day)),
                   tuple(p.id for p in screen.playlists if p.active_on(day)))
            if key in seen:
                continue
            seen.add(key)
            bad = [s for s in day_segments(site, screen, day) if not s.anti_fraud]
            if bad:
                s = bad[0]
                yield Problem(cfile, f"screens[{si}].playlists",
                              _("screen {screen} has no anti-fraud content from {start} to "
                                "{end} inside opening hours: give it an anti-fraud playlist "
                                "without date window or daypart").format(
                                    screen=screen.id, start=rfc3339_ms(s.start_ms, site.tz),
                                    end=rfc3339_ms(s.end_ms, site.tz)),
                              find_line(ctext, ["screens", si]))
                break
