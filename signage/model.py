"""The frozen site model the planner works on: config and playlists compiled per screen,
with every item's duration resolved for that screen (drivers supply the duration model)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Hours, ScreenConfig, SiteConfig
from .driver import ItemKind
from .playlist import ItemConfig, PlaylistConfig
from .timeutil import merge_spans, parse_span, split_overnight


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    playlist: str
    kind: ItemKind
    anti_fraud: bool
    weight: float
    duration_ms: int
    text: str = ""
    path: str = ""  # relative to the media root
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Playlist:
    id: str
    name: str
    anti_fraud: bool
    window: tuple[date, date] | None
    dayparts: tuple[tuple[int, int], ...]  # minutes after midnight; empty = all day
    items: tuple[Item, ...]

    def active_on(self, day: date) -> bool:
        return self.window is None or self.window[0] <= day <= self.window[1]


@dataclass(frozen=True, slots=True)
class Screen:
    id: str
    index: int  # position among the site's screens, for staggering
    label: str
    driver: str
    width: int
    height: int
    playlists: tuple[Playlist, ...]
    #: this screen's own opening hours ([screens.hours]); None: the site's
    hours: Hours | None = None
    #: the inspection code as its own slide ([inspection] mode = "slide", HDMI screens):
    #: planned after every ``code_slide_every``-th anti-fraud showing, inside the gap budget
    code_slide: Item | None = None
    code_slide_every: int = 1


@dataclass(frozen=True, slots=True)
class RuleModel:
    max_gap_ms: int
    budget_ms: int  # max_gap - margin: what the planner may spend between anti-fraud showings
    start_to_start: bool


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    tz: ZoneInfo
    rule: RuleModel
    hours: Hours
    screens: tuple[Screen, ...]
    media_root: Path

    def hours_of(self, screen: Screen) -> Hours:
        """The opening hours ``screen`` keeps: its own, else the site's."""
        return screen.hours or self.hours

    def screen(self, screen_id: str) -> Screen:
        for s in self.screens:
            if s.id == screen_id:
                return s
        raise KeyError(screen_id)


#: (screen config, item config, playlist is anti-fraud) -> duration in seconds on that screen
DurationFn = Callable[[ScreenConfig, ItemConfig], float]


def build_site(cfg: SiteConfig, playlists: dict[str, PlaylistConfig], media_root: Path,
               duration_s: DurationFn, skip: Collection[tuple[str, str]] = ()) -> Site:
    """Compile. Assumes references were checked (see signage.validate). ``skip``: (screen,
    item) pairs left out on that screen (content it cannot show legibly)."""
    screens: list[Screen] = []
    for idx, sc in enumerate(cfg.screens):
        pls: list[Playlist] = []
        for pid in sc.playlists:
            pc = playlists[pid]
            items = tuple(
                Item(
                    id=it.id, playlist=pid, kind=ItemKind(it.type), anti_fraud=pc.anti_fraud,
                    weight=it.weight, duration_ms=max(1, round(duration_s(sc, it) * 1000)),
                    text=it.text, path=it.path, category=it.category,
                )
                for it in pc.items if (sc.id, it.id) not in skip
            )
            pls.append(Playlist(
                id=pid, name=pc.name, anti_fraud=pc.anti_fraud,
                window=(pc.window.start, pc.window.end) if pc.window else None,
                dayparts=_dayparts(pc.dayparts),
                items=items,
            ))
        screens.append(Screen(sc.id, idx, sc.label, sc.driver, sc.width, sc.height, tuple(pls),
                              sc.hours, _code_slide(cfg, sc), cfg.inspection.every))
    rule = cfg.rule
    return Site(
        id=cfg.site.id, name=cfg.site.name, tz=cfg.tz,
        rule=RuleModel(
            max_gap_ms=round(rule.max_gap_s * 1000),
            budget_ms=round(rule.budget_s * 1000),
            start_to_start=rule.measure == "start-to-start",
        ),
        hours=cfg.hours, screens=tuple(screens), media_root=media_root,
    )


#: the item id of the inspection code slide (not a playlist item; never anti-fraud content)
CODE_SLIDE_ID = "inspection-code"
#: what the code slide says above the code
CODE_SLIDE_TEXT = "扫码核验本屏反诈宣传播放记录"


def is_hdmi(sc: ScreenConfig) -> bool:
    """Whether a screen draws HDMI slides (mpv, or the simulator's hdmi kind), not an LED
    board's (the simulator's rule: kind, else up to 64 rows is an LED board)."""
    if sc.driver == "mpv":
        return True
    if sc.driver != "simulator":
        return False
    kind = sc.options.get("kind")
    return kind == "hdmi" if isinstance(kind, str) else sc.height > 64


def _code_slide(cfg: SiteConfig, sc: ScreenConfig) -> Item | None:
    ins = cfg.inspection
    if not (ins.enabled and ins.mode == "slide" and is_hdmi(sc)):
        return None
    return Item(id=CODE_SLIDE_ID, playlist="inspection", kind=ItemKind.TEXT, anti_fraud=False,
                weight=1.0, duration_ms=round(ins.slide_s * 1000), text=CODE_SLIDE_TEXT)


def _dayparts(spans: list[str]) -> tuple[tuple[int, int], ...]:
    """Dayparts as minute spans within a day: an overnight one (22:00-02:00) plays in the
    evening and again after midnight, every day."""
    own, spill = split_overnight(sorted(parse_span(s) for s in spans))
    return tuple(merge_spans(own + spill))
