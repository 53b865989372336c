"""config.toml: the site, the rule, opening hours, the log, the media root and the screens.

Strict pydantic models: unknown keys are rejected, types are not coerced. Loading returns a
frozen ``SiteConfig`` or raises ``InputError`` listing every problem with file, field and line.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .problems import InputError, Problem, from_validation, read_toml
from .timeutil import parse_span

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ID_RULE = "1-64 characters: letters, digits, '-', '_', '.', starting with a letter or digit"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_id(v: str) -> str:
    if not _ID.match(v):
        raise ValueError(f"invalid id {v!r}: {ID_RULE}")
    return v


def check_spans(v: list[str]) -> list[str]:
    spans = sorted(parse_span(s) for s in v)
    for (a0, a1), (b0, _b1) in itertools.pairwise(spans):
        if b0 < a1:
            raise ValueError(f"time spans overlap: {v}")
        del a0
    return v


Spans = Annotated[list[str], Field(max_length=24)]


@functools.lru_cache(maxsize=1024)
def parsed_spans(spans: tuple[str, ...]) -> list[tuple[int, int]]:
    """Sorted (start, end) minutes of validated spans (a fresh list each call)."""
    return sorted(parse_span(s) for s in spans)


class Contact(Strict):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=32, pattern=r"^[0-9+() -]+$")


class SiteSection(Strict):
    id: str
    name: str = Field(min_length=1, max_length=128)
    timezone: str = "Asia/Shanghai"
    contact: Contact

    _id = field_validator("id")(check_id)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r}: use an IANA name like Asia/Shanghai"
            ) from None
        return v


class Rule(Strict):
    #: the longest allowed interval between two anti-fraud showings, seconds
    max_gap_s: float = Field(default=60.0, gt=0, le=3600)
    #: the planner keeps this much below max_gap_s, for switch latency and late starts
    margin_s: float = Field(default=5.0, ge=0, le=600)
    #: "end-to-start": from the end of one anti-fraud showing to the start of the next
    #: ("中间间隔", the default); "start-to-start": between their starts
    measure: Literal["end-to-start", "start-to-start"] = "end-to-start"
    #: duration of a text item when neither the item nor the screen's driver gives one
    text_default_s: float = Field(default=8.0, gt=0, le=600)

    @model_validator(mode="after")
    def _margin(self) -> Rule:
        if self.margin_s >= self.max_gap_s:
            raise ValueError(
                f"margin_s ({self.margin_s}) must be smaller than max_gap_s ({self.max_gap_s})"
            )
        return self

    @property
    def budget_s(self) -> float:
        return self.max_gap_s - self.margin_s


class HoursException(Strict):
    #: a single day, or a range with `to`
    date: dt.date
    to: dt.date | None = None
    closed: bool = False
    open: Spans = []
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> HoursException:
        if self.to is not None and self.to < self.date:
            raise ValueError(f"exception ends ({self.to}) before it starts ({self.date})")
        if self.closed and self.open:
            raise ValueError("an exception is either closed = true or has open spans, not both")
        if not self.closed and not self.open:
            raise ValueError("an exception needs closed = true or open = [\"HH:MM-HH:MM\", ...]")
        check_spans(self.open)
        return self


class Hours(Strict):
    #: spans for every day unless a weekday key overrides it, e.g. ["08:00-22:00"]
    default: Spans = ["00:00-24:00"]
    mon: Spans | None = None
    tue: Spans | None = None
    wed: Spans | None = None
    thu: Spans | None = None
    fri: Spans | None = None
    sat: Spans | None = None
    sun: Spans | None = None
    exceptions: list[HoursException] = []

    @model_validator(mode="after")
    def _spans(self) -> Hours:
        check_spans(self.default)
        for wd in WEEKDAYS:
            v = getattr(self, wd)
            if v is not None:
                check_spans(v)
        return self

    def spans_for(self, day: dt.date) -> list[tuple[int, int]]:
        """Open spans (minutes after local midnight) on ``day``, exceptions applied."""
        for ex in self.exceptions:
            if ex.date <= day <= (ex.to or ex.date):
                return [] if ex.closed else parsed_spans(tuple(ex.open))
        wd = getattr(self, WEEKDAYS[day.weekday()])
        return parsed_spans(tuple(self.default if wd is None else wd))


class LogSection(Strict):
    dir: str = "var/log"
    key_file: str = "var/site.key"
    #: "every": fsync each record before moving on (default). "batch": fsync at most every
    #: batch_ms; a power cut may lose the records of the last batch (see docs/log-format.md)
    fsync: Literal["every", "batch"] = "every"
    batch_ms: int = Field(default=1000, ge=10, le=60000)
    heartbeat_s: float = Field(default=30.0, gt=0, le=3600)
    buffer_records: int = Field(default=10000, ge=10, le=1_000_000)


class InspectionSection(Strict):
    """The signed inspection code on screens (docs/inspection-code.md, docs/playlists.md)."""

    enabled: bool = False
    #: the fleet hub's base URL: the code is <hub_url>/v/<payload>
    hub_url: str = Field(default="https://hub.invalid", max_length=100,
                         pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*/?$")
    #: the box's Ed25519 signing key (docs/keys.md); created with mode 0600 when missing
    signing_key: str = "var/signing.key"
    position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    #: side of the code (quiet zone included) as a fraction of the screen height
    size: float = Field(default=0.4, ge=0.15, le=0.6)
    #: a code on every N-th anti-fraud showing of a screen (1 = every one)
    every: int = Field(default=1, ge=1, le=1000)


class MediaSection(Strict):
    root: str = "media"


class PlaylistsSection(Strict):
    dir: str = "playlists"
    #: how often the daemon checks config and playlists for edits, seconds
    reload_check_s: float = Field(default=2.0, gt=0, le=3600)


class ScreenConfig(Strict):
    id: str
    label: str = ""
    driver: str = "simulator"
    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)
    playlists: list[str] = Field(min_length=1)
    options: dict[str, Any] = {}

    _id = field_validator("id")(check_id)


class SiteConfig(Strict):
    site: SiteSection
    rule: Rule = Rule()
    hours: Hours = Hours()
    log: LogSection = LogSection()
    media: MediaSection = MediaSection()
    inspection: InspectionSection = InspectionSection()
    playlists: PlaylistsSection = PlaylistsSection()
    screens: list[ScreenConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SiteConfig:
        seen: set[str] = set()
        for s in self.screens:
            if s.id in seen:
                raise ValueError(f"duplicate screen id {s.id!r}: screen ids must be unique")
            seen.add(s.id)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)


def load_config(path: Path) -> SiteConfig:
    """Load config.toml or raise InputError with one Problem per mistake."""
    data, text = read_toml(path)
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(from_validation(exc, str(path), text)) from None


def resolve(base: Path, value: str) -> Path:
    """A config path relative to the config file's directory."""
    p = Path(value)
    return p if p.is_absolute() else base / p


__all__ = [
    "WEEKDAYS", "Contact", "Hours", "HoursException", "InputError", "LogSection", "Problem",
    "Rule", "ScreenConfig", "SiteConfig", "load_config", "resolve",
]
