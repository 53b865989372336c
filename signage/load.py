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

from .alerts.pushed import load_pushed
from .config import ScreenConfig, SiteConfig, load_config, resolve
from .driver import ContentRejected, DriverClass, ScreenSpec, UnknownDriver, load_driver
from .keys import PublicKey
from .model import Site, build_site
from .plan.segments import day_segments
from .playlist import ItemConfig, PlaylistConfig, load_playlists
from .problems import InputError, Problem, find_line
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
        raise ValueError("empty or invalid path")
    p = Path(rel)
    if p.is_absolute():
        raise ValueError(f"absolute path {rel!r}: give a path relative to the media root")
    try:
        root = media_root.resolve()
        full = (root / p).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise ValueError(f"path {rel!r} cannot be resolved: {exc}") from None
    if not full.is_relative_to(root):
        raise ValueError(f"path {rel!r} leads outside the media root {root}")
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


def load_site(config_path: Path, today: date | None = None) -> LoadedSite:
    """Load and check everything; raise InputError with all problems, or return the site."""
    cfg = load_config(config_path)
    base = config_path.parent
    cfile = str(config_path)
    ctext = _text_of(config_path)
    problems: list[Problem] = []
    pl_dir = resolve(base, cfg.playlists.dir)
    if not pl_dir.is_dir():
        raise InputError([Problem(cfile, "playlists.dir",
                                  f"playlist directory not found: {pl_dir}",
                                  find_line(ctext, ["playlists", "dir"]))])
    try:
        playlists = load_playlists(pl_dir)
    except InputError as exc:
        raise InputError(exc.problems) from None
    media_root = resolve(base, cfg.media.root)
    if not media_root.is_dir():
        problems.append(Problem(cfile, "media.root", f"directory not found: {media_root}",
                                find_line(ctext, ["media", "root"])))
    # playlists pushed by the authority (docs/alerts.md): verified again, added to every screen
    keys = {k.key_id: k for k in (PublicKey.from_text(t) for t in cfg.authority.keys)}
    pushed, pl_paths, pushed_problems = load_pushed(media_root, keys)
    problems.extend(pushed_problems)
    for pid in pushed:
        if pid in playlists:
            problems.append(Problem(str(pl_dir / f"{pid}.toml"), "",
                                    f"the name {pid!r} is taken by a pushed playlist; rename "
                                    "this file"))
    if pushed:
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
                problems.append(pl_problem(pid, i, "id", f"duplicate item id {it.id!r}: "
                                           f"already used in playlists/{owner[it.id]}.toml"))
            owner.setdefault(it.id, pid)

    drivers: dict[str, DriverClass] = {}
    durations: dict[tuple[str, str], float] = {}
    budget = cfg.rule.budget_s
    for si, sc in enumerate(cfg.screens):
        sfield = f"screens[{si}]"
        spec = screen_spec(sc, media_root)
        try:
            drv = drivers.get(sc.driver) or load_driver(sc.driver)
            drivers[sc.driver] = drv
        except UnknownDriver as exc:
            problems.append(Problem(cfile, f"{sfield}.driver", str(exc),
                                    find_line(ctext, ["screens", si, "driver"])))
            continue
        for msg in _safe_list(drv.check_options, spec):
            problems.append(Problem(cfile, f"{sfield}.options", msg,
                                    find_line(ctext, ["screens", si, "options"])))
        has_af = False
        for pid in sc.playlists:
            if pid not in playlists:
                known = ", ".join(sorted(playlists)) or "none"
                problems.append(Problem(cfile, f"{sfield}.playlists",
                                        f"unknown playlist {pid!r}; playlists in {pl_dir}: {known}",
                                        find_line(ctext, ["screens", si, "playlists"])))
                continue
            pc = playlists[pid]
            has_af = has_af or pc.anti_fraud
            for ii, it in enumerate(pc.items):
                d, errs = _duration(drv, spec, sc, it, media_root, cfg.rule.text_default_s)
                for fld, msg in errs:
                    problems.append(pl_problem(pid, ii, fld, f"on screen {sc.id}: {msg}"))
                if d is None:
                    continue
                durations[(sc.id, it.id)] = d
                if not pc.anti_fraud and d > budget:
                    problems.append(pl_problem(
                        pid, ii, "duration_s",
                        f"store item lasts {d:.1f} s on screen {sc.id}, longer than the gap "
                        f"budget {budget:g} s (max_gap_s - margin_s): it can never play without "
                        f"breaking the rule; shorten it to at most {budget:g} s"))
                if pc.anti_fraud and cfg.rule.measure == "start-to-start" and d >= budget:
                    problems.append(pl_problem(
                        pid, ii, "duration_s",
                        f"anti-fraud item lasts {d:.1f} s on screen {sc.id}; with measure = "
                        f"start-to-start it must be shorter than {budget:g} s"))
        if not has_af:
            problems.append(Problem(cfile, f"{sfield}.playlists",
                                    f"screen {sc.id} has no anti-fraud playlist; add one with "
                                    'content = "anti-fraud"',
                                    find_line(ctext, ["screens", si, "playlists"])))
    if problems:
        raise InputError(problems)

    site = build_site(cfg, playlists, media_root, lambda sc, it: durations[(sc.id, it.id)])
    problems.extend(_coverage(site, today or date.today(), cfile, ctext))
    if problems:
        raise InputError(problems)
    digests = {str(config_path): _sha256(config_path)}
    for pid in sorted(playlists):
        p = pl_paths.get(pid, pl_dir / f"{pid}.toml")
        digests[str(p)] = _sha256(p)
    return LoadedSite(config_path, cfg, playlists, site, drivers, digests)


def _safe_list(fn: Callable[..., Iterable[object]], *args: object) -> list[str]:
    try:
        return [str(x) for x in fn(*args)]
    except Exception as exc:  # a plugin's check must not crash validate
        return [f"driver check failed: {exc}"]


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
            errs.append(("text", f"cannot measure the text: {exc}"))
            return None, errs
        return (model if model is not None else text_default), errs
    try:
        full = media_path(media_root, it.path)
    except ValueError as exc:
        return None, [("path", str(exc))]
    try:
        found = full.is_file()
    except OSError as exc:
        return None, [("path", f"cannot read {full}: {exc.strerror or exc}")]
    if not found:
        return None, [("path", f"media file not found: {full}")]
    if it.type == "clip":
        try:
            probed = drv.media_duration_s(spec, full)
        except ContentRejected as exc:
            return None, [("path", str(exc))]
        except Exception as exc:
            return None, [("path", f"cannot probe {full}: {exc}")]
        if probed is not None:
            return probed, errs
        if it.duration_s is None:
            return None, [("duration_s", "a clip needs duration_s on this driver (seconds)")]
    return it.duration_s, errs


def _coverage(site: Site, today: date, cfile: str, ctext: str) -> Iterable[Problem]:
    """Open hours in which a screen has no anti-fraud content (date windows, dayparts)."""
    for si, screen in enumerate(site.screens):
        seen: set[tuple[object, ...]] = set()
        for k in range(COVERAGE_DAYS):
            day = today + timedelta(days=k)
            # days with the same hours and the same active playlists plan alike: check once
            key = (tuple(site.hours.spans_for(day)),
                   tuple(p.id for p in screen.playlists if p.active_on(day)))
            if key in seen:
                continue
            seen.add(key)
            bad = [s for s in day_segments(site, screen, day) if not s.anti_fraud]
            if bad:
                s = bad[0]
                yield Problem(cfile, f"screens[{si}].playlists",
                              f"screen {screen.id} has no anti-fraud content from "
                              f"{rfc3339_ms(s.start_ms, site.tz)} to "
                              f"{rfc3339_ms(s.end_ms, site.tz)}"
                              " inside opening hours: give it an anti-fraud playlist without "
                              "date window or daypart", find_line(ctext, ["screens", si]))
                break
