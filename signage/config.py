"""config.toml: the site, the rule, opening hours, the log, the media root and the screens.

Strict pydantic models: unknown keys are rejected, types are not coerced. Loading returns a
frozen ``SiteConfig`` or raises ``InputError`` listing every problem with file, field and line.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import itertools
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .i18n import N_, _
from .keys import PublicKey, SigningKeyError
from .problems import InputError, Problem, read_toml, validated
from .timeutil import merge_spans, parse_span, split_overnight

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ID_RULE = N_("1-64 characters: letters, digits, '-', '_', '.', starting with a letter or digit")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_id(v: str) -> str:
    if not _ID.match(v):
        raise ValueError(_("invalid id {id}: {rule}").format(id=repr(v), rule=_(ID_RULE)))
    return v


def check_broker_url(v: str) -> str:
    """A broker URL the fleet link can connect to (fleet/mqtt.py), or the reason it cannot."""
    from .fleet.mqtt import BrokerConfigError, parse_url

    try:
        parse_url(v)
    except BrokerConfigError as exc:
        raise ValueError(str(exc)) from None
    return v


def check_spans(v: list[str]) -> list[str]:
    spans = sorted(parse_span(s) for s in v)
    for (a0, a1), (b0, _b1) in itertools.pairwise(spans):
        if b0 < a1:
            raise ValueError(_("time spans overlap: {spans}").format(spans=v))
        del a0
    if spans and spans[-1][1] > 24 * 60 and spans[-1][1] - 24 * 60 > spans[0][0]:
        raise ValueError(_("time spans overlap: {spans}: the span past midnight runs into the "
                           "next day's first span").format(spans=v))
    return v


Spans = Annotated[list[str], Field(max_length=24)]


@functools.lru_cache(maxsize=1024)
def parsed_spans(spans: tuple[str, ...]) -> list[tuple[int, int]]:
    """Sorted (start, end) minutes of validated spans (a fresh list each call)."""
    return sorted(parse_span(s) for s in spans)


#: a phone number (digits, spaces, + ( ) -), optionally with an extension: 转8001, 分机8001,
#: ext. 8001, ext 8001, x8001, #8001
_PHONE = re.compile(r"^[0-9+() -]*[0-9][0-9+() -]*"
                    r"(?:\s*(?:转|分机|ext\.?|x|#)\s*[0-9]{1,8})?$", re.IGNORECASE)


def check_printable(v: str) -> str:
    """Names and labels that go into the log, the live table and reports: no control or
    format characters (ANSI escapes, bidi overrides such as U+202E), as slogans."""
    bad = sorted({ch for ch in v if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:6])
        raise ValueError(_("contains control or format characters ({chars}); only printable "
                           "characters are allowed").format(chars=shown))
    return v


class Contact(Strict):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=40)
    #: the contact person's position (职务), shown on the campaign summary
    title: str = Field(default="", max_length=64)

    _name = field_validator("name")(check_printable)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not _PHONE.match(v.strip()):
            raise ValueError(_(
                "not a phone number: {got!r}. Write digits, spaces, + ( ) -, and an "
                "extension if any, e.g. \"0571-86000001\", \"0571-86000001转8001\" or "
                "\"0571-86000001 ext. 8001\"").format(got=v))
        return v


class SiteSection(Strict):
    id: str
    name: str = Field(min_length=1, max_length=128)
    timezone: str = "Asia/Shanghai"
    contact: Contact
    #: the holding unit (责任单位) named on the campaign summary; default: the site's name
    unit: str = Field(default="", max_length=128)

    _id = field_validator("id")(check_id)
    _name = field_validator("name")(check_printable)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(_("unknown timezone {tz}: use an IANA name like Asia/Shanghai"
                               ).format(tz=repr(v))) from None
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
            raise ValueError(_("margin_s ({margin}) must be smaller than max_gap_s ({max_gap})"
                               ).format(margin=self.margin_s, max_gap=self.max_gap_s))
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
            raise ValueError(_("exception ends ({end}) before it starts ({start})").format(
                end=self.to, start=self.date))
        if self.closed and self.open:
            raise ValueError(_("an exception is either closed = true or has open spans, not "
                               "both"))
        if not self.closed and not self.open:
            raise ValueError(_("an exception needs closed = true or open = "
                               "[\"HH:MM-HH:MM\", ...]"))
        check_spans(self.open)
        return self

    @property
    def days(self) -> int:
        return ((self.to or self.date) - self.date).days + 1

    def describe(self) -> str:
        return f"{self.date}" + (f" to {self.to}" if self.to else "")


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

    @model_validator(mode="after")
    def _exceptions(self) -> Hours:
        # overlapping exceptions: the most specific (fewest days) wins; two overlapping ones
        # of the same length would be a guess, so they are refused, naming both
        for i, a in enumerate(self.exceptions):
            for j in range(i + 1, len(self.exceptions)):
                b = self.exceptions[j]
                if a.date <= (b.to or b.date) and b.date <= (a.to or a.date) and \
                        a.days == b.days:
                    raise ValueError(_(
                        "hours.exceptions[{i}] ({a}) and hours.exceptions[{j}] ({b}) overlap and "
                        "cover the same number of days, so neither is more specific: make "
                        "them not overlap, or merge them").format(
                            i=i, j=j, a=a.describe(), b=b.describe()))
        return self

    def _day_spans(self, day: dt.date) -> list[tuple[int, int]]:
        """The spans that start on ``day`` (minutes; an overnight one ends past 1440)."""
        ex = self.exception_for(day)
        if ex is not None:
            return [] if ex.closed else parsed_spans(tuple(ex.open))
        wd = getattr(self, WEEKDAYS[day.weekday()])
        return parsed_spans(tuple(self.default if wd is None else wd))

    def exception_for(self, day: dt.date) -> HoursException | None:
        """The exception that decides ``day``: of those covering it, the one with the fewest
        days (a single day inside a range wins over the range)."""
        best: HoursException | None = None
        for ex in self.exceptions:
            if ex.date <= day <= (ex.to or ex.date) and (best is None or ex.days < best.days):
                best = ex
        return best

    def spans_for(self, day: dt.date) -> list[tuple[int, int]]:
        """Open spans (minutes after local midnight, within 0..1440) on ``day``, exceptions
        applied: the day's own spans, plus the part after midnight of a span that started
        the day before (an overnight span belongs to the day it starts)."""
        own, _spill = split_overnight(self._day_spans(day))
        _own, spill = split_overnight(self._day_spans(day - dt.timedelta(days=1)))
        return merge_spans(own + spill) if spill else own


class LogSection(Strict):
    dir: str = "var/log"
    key_file: str = "var/site.key"
    #: log format version: 1 (HMAC chain under key_file) or 2 (SHA-256 chain with checkpoints
    #: signed by signing_key; see docs/log-format.md). The shipped config.toml says 2, so a new
    #: installation writes it; a config that says nothing keeps 1, so that an existing box never
    #: switches silently to a signing key no inspector has registered (its operator upgrades by
    #: adding `format = 2`: the next start makes the key and chains on the format-1 head)
    format: Literal[1, 2] = 1
    signing_key: str = "var/signing.key"
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
    position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    #: side of the code (quiet zone included) as a fraction of the screen height
    size: float = Field(default=0.4, ge=0.15, le=0.6)
    #: a code on every N-th anti-fraud showing of a screen (1 = every one)
    every: int = Field(default=1, ge=1, le=1000)
    #: "corner": the code in a corner of anti-fraud showings; "slide": on HDMI screens, the
    #: code as its own short slide after every N-th anti-fraud showing, inside the gap budget
    mode: Literal["corner", "slide"] = "corner"
    #: how long a code slide stays (mode "slide"), seconds
    slide_s: float = Field(default=6.0, ge=3.0, le=15.0)


class MediaSection(Strict):
    root: str = "media"


class PlaylistsSection(Strict):
    dir: str = "playlists"
    #: how often the daemon checks config and playlists for edits, seconds
    reload_check_s: float = Field(default=2.0, gt=0, le=3600)


class ConsoleSection(Strict):
    #: the address `signage console` listens on: loopback only unless opened here, e.g.
    #: "0.0.0.0" for the shop's LAN
    bind: str = "127.0.0.1"
    port: int = Field(default=8780, ge=1, le=65535)
    #: accounts (scrypt hashes), uploads and reports live under this directory
    dir: str = "var/console"
    #: the largest upload accepted, megabytes
    upload_max_mb: int = Field(default=50, ge=1, le=2048)

    @field_validator("bind")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(_("not an IP address: {value}; e.g. 127.0.0.1 (this box only) or "
                               "0.0.0.0 (the LAN)").format(value=repr(v))) from None
        return v

def check_authority_keys(v: list[str]) -> list[str]:
    for i, k in enumerate(v):
        try:
            PublicKey.from_text(k)
        except SigningKeyError as exc:
            raise ValueError(f"keys[{i}]: {exc}") from None
    return v


class AuthoritySection(Strict):
    """Content pushed from above (docs/alerts.md): who may sign it, where this box is."""

    #: the authority's Ed25519 public keys, "ed25519:<base64url>" (see docs/keys.md)
    keys: list[str] = Field(default=[], max_length=16)
    #: administrative division codes (GB/T 2260, 6 digits) this site lies in, e.g. ["330106"]
    regions: list[str] = Field(default=[], max_length=16)
    #: screens that show drills (CAP status Exercise or Test), marked 演练 on screen
    drill_screens: list[str] = []
    #: where `signage alert add` (or a USB copy) drops signed envelopes for the daemon
    inbox: str = "var/inbox"
    #: where accepted envelopes are kept, so a restart keeps the alerts in force
    store: str = "var/alerts"
    #: the longest one alert showing lasts on a screen, seconds
    max_show_s: float = Field(default=45.0, ge=5, le=600)

    _keys = field_validator("keys")(check_authority_keys)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        for r in v:
            if not re.fullmatch(r"\d{6}", r):
                raise ValueError(_("region {r}: a 6-digit administrative division code "
                                   "(GB/T 2260), e.g. 330106").format(r=repr(r)))
        return v


class FleetSection(Strict):
    """[fleet]: ship the log to a hub over MQTT (docs/fleet.md). Off when absent."""
    #: mqtts://HOST[:PORT] (TLS, verified) or mqtt://localhost[:PORT]
    broker: str = Field(min_length=1, max_length=512)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = Field(default=None, min_length=1, max_length=128)
    password_file: str | None = None
    prefix: str = Field(default="signage/v1", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    #: unacknowledged chunks are sent again from the hub's ack after this long
    resend_s: float = Field(default=10.0, ge=1, le=3600)
    #: at most this many bytes shipped and not yet acknowledged
    window_bytes: int = Field(default=1 << 20, ge=1 << 16, le=1 << 30)
    #: how often the log is looked at for new lines, seconds
    poll_s: float = Field(default=0.2, gt=0, le=10)
    #: another name for [authority] keys (docs/alerts.md): the authority's public keys
    authority_keys: list[str] | None = Field(default=None, max_length=16)

    _broker = field_validator("broker")(check_broker_url)
    _authority_keys = field_validator("authority_keys")(check_authority_keys)

    @model_validator(mode="after")
    def _creds(self) -> FleetSection:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(_("cert_file and key_file go together"))
        if self.password_file is not None and self.username is None:
            raise ValueError(_("password_file needs username"))
        return self


class ScreenConfig(Strict):
    id: str
    label: str = Field(default="", max_length=128)
    driver: str = "simulator"
    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)
    playlists: list[str] = Field(min_length=1)
    options: dict[str, Any] = {}
    #: this screen's own opening hours, replacing the site's [hours] for it (e.g. a 24-hour
    #: ATM lobby in a bank open 09:00-17:00); None: the site's
    hours: Hours | None = None

    _id = field_validator("id")(check_id)
    _label = field_validator("label")(check_printable)


class SiteConfig(Strict):
    site: SiteSection
    rule: Rule = Rule()
    hours: Hours = Hours()
    log: LogSection = LogSection()
    media: MediaSection = MediaSection()
    inspection: InspectionSection = InspectionSection()
    playlists: PlaylistsSection = PlaylistsSection()
    console: ConsoleSection = ConsoleSection()
    authority: AuthoritySection = AuthoritySection()
    fleet: FleetSection | None = None
    screens: list[ScreenConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SiteConfig:
        seen: set[str] = set()
        for s in self.screens:
            if s.id in seen:
                raise ValueError(_("duplicate screen id {id}: screen ids must be unique"
                                   ).format(id=repr(s.id)))
            seen.add(s.id)
        for d in self.authority.drill_screens:
            if d not in seen:
                raise ValueError(_("authority.drill_screens: {id} is not a screen id here")
                                 .format(id=repr(d)))
        alias = self.fleet.authority_keys if self.fleet is not None else None
        if alias is not None:
            mine = self.authority.keys
            if mine and sorted(mine) != sorted(alias):
                raise ValueError(_(
                    "fleet.authority_keys and authority.keys list different keys; they are "
                    "one setting (the authority's public keys, docs/alerts.md): keep one of "
                    "them, or list the same keys in both"))
            # [fleet] authority_keys is another name for [authority] keys: the rest of the
            # code reads authority.keys (frozen model: set once, here, while validating)
            object.__setattr__(self, "authority",
                               self.authority.model_copy(update={"keys": list(alias)}))
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)


def load_config(path: Path) -> SiteConfig:
    """Load config.toml or raise InputError with one Problem per mistake."""
    data, text = read_toml(path)
    return validated(SiteConfig, data, path, text)


def resolve(base: Path, value: str) -> Path:
    """A config path relative to the config file's directory."""
    p = Path(value)
    return p if p.is_absolute() else base / p


__all__ = [
    "WEEKDAYS", "AuthoritySection", "Contact", "FleetSection", "Hours", "HoursException",
    "InputError",
    "LogSection", "Problem", "Rule", "ScreenConfig", "SiteConfig", "load_config", "resolve",
]
