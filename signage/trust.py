"""The inspector's trust file: which public keys speak for which site, and when.

A TOML file kept by whoever verifies (an inspector, a bureau, the fleet hub); it holds no
secret. Format (version 1; the public contract is docs/trust-file.md):

    version = 1

    [[site]]
    id = "demo-mall"                 # the site id the box writes in its log
    name = "示例商场"                 # optional, for people

      [[site.key]]
      public = "ed25519:…"            # signage keys show prints it
      valid_from = 2026-01-01T00:00:00+08:00
      valid_to = 2027-01-01T00:00:00+08:00   # optional: open-ended when absent

      [site.profile]                  # optional: the site's registered profile (the yardstick)
      timezone = "Asia/Shanghai"
      max_gap_s = 60
      measure = "end-to-start"
      screens = ["entrance-led", "checkout-hdmi"]
      hours = { default = ["08:00-22:00"], sat = ["08:00-22:30"] }

A key speaks for its site only inside [valid_from, valid_to). Times carry an offset. The
audit judges a log against its site's profile when the trust file holds one, and flags every
configuration the log shows that differs from it. A site needs keys, a profile or both.
Loading is all or nothing: any problem raises TrustFileError naming the file, the site and
the field, and what is allowed.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from .config import Hours, check_id
from .i18n import _
from .keys import PublicKey, SigningKeyError

TRUST_VERSION = 1
#: a province of 10,000 sites with a few keys each is a few MB
MAX_TRUST_BYTES = 64 * 1024 * 1024


class TrustFileError(Exception):
    """The trust file is unusable; the message names the file, the place and the rule."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    public: PublicKey
    valid_from: datetime
    valid_to: datetime | None = None

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def valid_at(self, t: datetime) -> bool:
        """Whether the key speaks for its site at ``t`` (an aware datetime)."""
        return self.valid_from <= t and (self.valid_to is None or t < self.valid_to)


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """The site's registered profile: the yardstick the audit judges its log against."""
    timezone: str
    max_gap_s: float
    measure: str
    hours: Hours
    screens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrustedSite:
    id: str
    name: str = ""
    keys: tuple[TrustedKey, ...] = ()
    profile: SiteProfile | None = None

    def key(self, key_id: str) -> TrustedKey | None:
        for k in self.keys:
            if k.key_id == key_id:
                return k
        return None


@dataclass(frozen=True, slots=True)
class Trust:
    sites: Mapping[str, TrustedSite] = field(default_factory=dict)

    def site(self, site_id: str) -> TrustedSite | None:
        return self.sites.get(site_id)

    def key_for(self, site_id: str, key_id: str) -> TrustedKey | None:
        """The registered key ``key_id`` of ``site_id``, whatever its period (the caller
        checks ``valid_at`` against the time the signature claims)."""
        s = self.sites.get(site_id)
        return s.key(key_id) if s else None


def _aware(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TrustFileError(
            _("{where}: expected a date and time with an offset, without quotes, e.g. "
              "2026-01-01T00:00:00+08:00").format(where=where))
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TrustFileError(_("{where}: expected a non-empty text in quotes").format(where=where))
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0x202A <= ord(c) <= 0x202E
           or 0x2066 <= ord(c) <= 0x2069 for c in value):
        raise TrustFileError(_("{where}: control or text-direction characters are not "
                               "allowed").format(where=where))
    return value


def _unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise TrustFileError(
            _("{where}: unknown field {extra!r}; allowed: "
              "{allowed}").format(where=where, extra=extra[0], allowed=", ".join(sorted(allowed))))


def parse_trust(doc: Mapping[str, Any], src: str) -> Trust:
    """Build a Trust from a parsed TOML document; ``src`` names it in messages."""
    _unknown(doc, {"version", "site"}, src)
    version = doc.get("version")
    if version != TRUST_VERSION:
        raise TrustFileError(_("{src}: version: expected version = {trust_version}, got "
                               "{version!r}").format(src=src, trust_version=TRUST_VERSION,
                                                     version=version))
    raw_sites = doc.get("site", [])
    if not isinstance(raw_sites, list):
        raise TrustFileError(_("{src}: site: expected [[site]] tables").format(src=src))
    sites: dict[str, TrustedSite] = {}
    for i, rs in enumerate(raw_sites, 1):
        where = f"{src}: site #{i}"
        if not isinstance(rs, dict):
            raise TrustFileError(_("{where}: expected a [[site]] table").format(where=where))
        _unknown(rs, {"id", "name", "key", "profile"}, where)
        sid = _str(rs.get("id"), f"{where}: id")
        where = f"{src}: site {sid!r}"
        if sid in sites:
            raise TrustFileError(_("{where}: listed twice; list each site once with all its "
                                   "keys").format(where=where))
        name = _str(rs["name"], f"{where}: name") if "name" in rs else ""
        profile = _profile(rs["profile"], f"{where}: profile") if "profile" in rs else None
        raw_keys = rs.get("key", [])
        if not isinstance(raw_keys, list) or (not raw_keys and profile is None):
            raise TrustFileError(_("{where}: expected at least one [[site.key]] table (or a "
                                   "[site.profile])").format(where=where))
        keys: list[TrustedKey] = []
        for j, rk in enumerate(raw_keys, 1):
            kw = f"{where}: key #{j}"
            if not isinstance(rk, dict):
                raise TrustFileError(_("{kw}: expected a [[site.key]] table").format(kw=kw))
            _unknown(rk, {"public", "valid_from", "valid_to", "note"}, kw)
            try:
                pub = PublicKey.from_text(_str(rk.get("public"), f"{kw}: public"))
            except SigningKeyError as exc:
                raise TrustFileError(f"{kw}: public: {exc}") from None
            vf = _aware(rk.get("valid_from"), f"{kw}: valid_from")
            vt = _aware(rk["valid_to"], f"{kw}: valid_to") if "valid_to" in rk else None
            if vt is not None and vt <= vf:
                raise TrustFileError(_("{kw}: valid_to must be later than "
                                       "valid_from").format(kw=kw))
            if any(k.key_id == pub.key_id for k in keys):
                raise TrustFileError(_("{kw}: the same key is listed twice for this "
                                       "site").format(kw=kw))
            keys.append(TrustedKey(pub, vf, vt))
        sites[sid] = TrustedSite(sid, name, tuple(keys), profile)
    return Trust(sites)


PROFILE_FIELDS = {"timezone", "max_gap_s", "measure", "screens", "hours"}


def _profile(raw: Any, where: str) -> SiteProfile:
    if not isinstance(raw, dict):
        raise TrustFileError(_("{where}: expected a [site.profile] table").format(where=where))
    _unknown(raw, PROFILE_FIELDS, where)
    missing = sorted(PROFILE_FIELDS - {"measure"} - set(raw))
    if missing:
        raise TrustFileError(_("{where}: {missing} is "
                               "required").format(where=where, missing=missing[0]))
    tz = _str(raw["timezone"], f"{where}: timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise TrustFileError(_("{where}: timezone: unknown timezone {tz!r}; use an IANA name like "
                               "Asia/Shanghai").format(where=where, tz=tz)) from None
    gap = raw["max_gap_s"]
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not 0 < gap <= 3600:
        raise TrustFileError(_("{where}: max_gap_s: expected seconds, more than 0 and at most 3600 "
                               "(the rule: 60)").format(where=where))
    measure = raw.get("measure", "end-to-start")
    if measure not in ("end-to-start", "start-to-start"):
        raise TrustFileError(_("{where}: measure: expected \"end-to-start\" or "
                               "\"start-to-start\"").format(where=where))
    screens = raw["screens"]
    if not isinstance(screens, list) or not screens:
        raise TrustFileError(_("{where}: screens: expected a list of screen ids, e.g. "
                               "[\"entrance-led\"]").format(where=where))
    for i, sc in enumerate(screens):
        try:
            check_id(sc if isinstance(sc, str) else repr(sc))
        except ValueError as exc:
            raise TrustFileError(f"{where}: screens[{i}]: {exc}") from None
    if len(set(screens)) != len(screens):
        raise TrustFileError(_("{where}: screens: a screen id is listed twice").format(where=where))
    try:
        hours = Hours.model_validate(raw["hours"])
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise TrustFileError(_("{where}: hours{loc}: {msg} (the format of config.toml's [hours], "
                               "docs/playlists.md)").format(
                                   where=where, loc="." + loc if loc else "", msg=err["msg"])
                             ) from None
    return SiteProfile(tz, float(gap), str(measure), hours, tuple(screens))


def load_trust(path: Path) -> Trust:
    """Read and check a trust file; all or nothing."""
    try:
        st = path.stat()
    except OSError as exc:
        raise TrustFileError(_("{path}: cannot read trust file: "
                               "{strerror}").format(path=path, strerror=exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise TrustFileError(_("{path}: not a regular file").format(path=path))
    if st.st_size > MAX_TRUST_BYTES:
        raise TrustFileError(_("{path}: {size} bytes; a trust file may hold at most {mib} "
                               "MiB").format(path=path, size=st.st_size,
                                             mib=MAX_TRUST_BYTES // (1024 * 1024)))
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TRUST_BYTES + 1)
    except OSError as exc:
        raise TrustFileError(_("{path}: cannot read trust file: "
                               "{strerror}").format(path=path, strerror=exc.strerror)) from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise TrustFileError(_("{path}: not UTF-8 text").format(path=path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise TrustFileError(_("{path}: not valid TOML: "
                               "{exc}").format(path=path, exc=exc)) from None
    except RecursionError:
        raise TrustFileError(_("{path}: nested too deeply").format(path=path)) from None
    return parse_trust(doc, str(path))


__all__ = [
    "TRUST_VERSION",
    "SiteProfile",
    "Trust",
    "TrustFileError",
    "TrustedKey",
    "TrustedSite",
    "load_trust",
    "parse_trust",
]
