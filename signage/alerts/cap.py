"""CAP 1.2 (OASIS Common Alerting Protocol) alerts: the subset a screen needs, parsed from
hostile bytes.

Alerts come from outside the box, so the bytes are checked for size before any parsing, and
parsed with defusedxml with DTDs forbidden outright (no entity expansion bombs, no external
entities, no network). Every refusal is a ``CapError`` naming the element and what is allowed.

What is read (docs/alerts.md is the contract for senders):

- ``identifier``, ``sender``, ``sent``, ``status`` (Actual; Exercise and Test are drills),
  ``msgType`` (Alert, Update, Cancel; Update and Cancel name ``references``), ``scope`` Public;
- the ``info`` block whose ``language`` is zh-CN: ``category``, ``event``, ``urgency``,
  ``severity``, ``certainty`` (required by CAP), ``senderName``, ``headline``, ``description``,
  ``instruction``, ``effective``, ``onset``, ``expires`` (required here: an alert on a public
  screen must end), the parameter ``signage:repeat_s`` (the cadence), and ``area`` geocodes
  named ``site`` (a site id) or ``region`` (an administrative division code, GB/T 2260).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..i18n import _

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_Q = "{" + NS + "}"
#: the whole CAP document, checked before parsing (a CAP alert is a few KB)
MAX_CAP_BYTES = 64 * 1024
MAX_HEADLINE = 160
MAX_DESCRIPTION = 2000
MAX_INSTRUCTION = 1000
MAX_SHORT = 256
REPEAT_MIN_S = 30
REPEAT_MAX_S = 3600
REPEAT_DEFAULT_S = 120
#: an alert ends within this many days of being sent (a typo'd year, or a stolen key, must
#: not put a warning on every screen for decades: only a Cancel could end it)
MAX_LIFETIME_DAYS = 31
STATUSES = ("Actual", "Exercise", "Test")
MSG_TYPES = ("Alert", "Update", "Cancel")
LANGUAGE = "zh-CN"
#: CAP 1.2 dateTime: 2026-12-01T21:00:00+08:00 (a numeric offset is required; "Z" is not CAP)
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")
#: a site id (as config.toml's [site] id) and an administrative division code (GB/T 2260):
#: the grammar of area geocodes here and of a pushed bundle's targets (bundle.py)
SITE_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
REGION_CODE = r"\d{6}"
_REGION = re.compile(rf"^{REGION_CODE}$")
_SITE = re.compile(rf"^{SITE_ID}$")
# CAP forbids whitespace, comma and '<' '&' in identifier and sender
_TOKEN = re.compile(r"^[^\s,<&]{1,256}$")


class CapError(ValueError):
    """A CAP document this box refuses; the message names the element."""


@dataclass(frozen=True, slots=True)
class Ref:
    sender: str
    identifier: str
    sent: str


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[Ref, ...]
    sender_name: str
    event: str
    headline: str
    description: str
    instruction: str
    effective: datetime
    onset: datetime | None
    expires: datetime
    repeat_s: int
    sites: tuple[str, ...]
    regions: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.sender, self.identifier)

    @property
    def drill(self) -> bool:
        return self.status != "Actual"


def parse_cap_time(text: str, where: str) -> datetime:
    if not _DT.match(text):
        raise CapError(_("{where}: {text} is not a CAP time; expected e.g. "
                         "2026-12-01T21:00:00+08:00 (with a numeric offset)")
                       .format(where=where, text=repr(text[:40])))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CapError(_("{where}: {text} is not a valid date and time")
                       .format(where=where, text=repr(text[:40]))) from None


def _text(el: Element, name: str, where: str, *, required: bool = True,
          limit: int = MAX_SHORT) -> str:
    found = el.findall(_Q + name)
    if len(found) > 1:
        raise CapError(_("{where}/{name}: appears {n} times; CAP allows one")
                       .format(where=where, name=name, n=len(found)))
    if not found:
        if required:
            raise CapError(_("{where}/{name}: missing (required)").format(where=where, name=name))
        return ""
    value = (found[0].text or "").strip()
    if required and not value:
        raise CapError(_("{where}/{name}: empty (required)").format(where=where, name=name))
    if len(value) > limit:
        raise CapError(_("{where}/{name}: {n} characters; at most {limit} allowed")
                       .format(where=where, name=name, n=len(value), limit=limit))
    return value


def _refs(text: str) -> tuple[Ref, ...]:
    out = []
    for tok in text.split():
        parts = tok.split(",")
        if len(parts) != 3:
            raise CapError(_("alert/references: {token} is not 'sender,identifier,sent'")
                           .format(token=repr(tok[:80])))
        parse_cap_time(parts[2], "alert/references")
        out.append(Ref(parts[0], parts[1], parts[2]))
    return tuple(out)


def warm_parser() -> None:
    """Load the XML parser ``parse_cap`` uses (a daemon that takes alerts calls this at start,
    so that the first alert does not wait for the import)."""
    import defusedxml.ElementTree  # noqa: F401


def parse_cap(data: bytes) -> CapAlert:
    """Parse one CAP 1.2 ``<alert>``; raise CapError with a clear message otherwise."""
    # The XML parser (defusedxml, pyexpat) is loaded only when an alert arrives: the daemon
    # imports this module for the alert state and region rules, and must stay small (≤ 60 MB).
    from xml.etree.ElementTree import Element, ParseError

    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    if len(data) > MAX_CAP_BYTES:
        raise CapError(_("alert: the document is {n} bytes; at most {limit} bytes are accepted "
                         "(a CAP alert is a few KB)").format(n=len(data), limit=MAX_CAP_BYTES))
    try:
        root: Any = DET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                   forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError(_("alert: refused XML construct ({kind}): DTDs and entities are not "
                         "allowed in a CAP alert").format(kind=type(exc).__name__)) from None
    except ParseError as exc:
        raise CapError(_("alert: not well-formed XML: {error}").format(error=exc)) from None
    if not isinstance(root, Element) or root.tag != _Q + "alert":
        tag = getattr(root, "tag", "?")
        raise CapError(_("alert: the root element is {tag}; expected <alert> in the CAP 1.2 "
                         "namespace {ns}").format(tag=repr(str(tag)[:120]), ns=NS))
    w = "alert"
    identifier = _text(root, "identifier", w)
    sender = _text(root, "sender", w)
    for name, v in (("identifier", identifier), ("sender", sender)):
        if not _TOKEN.match(v):
            raise CapError(_("alert/{name}: {value} may not contain spaces, ',', '<' or '&'")
                           .format(name=name, value=repr(v[:80])))
    sent = parse_cap_time(_text(root, "sent", w), "alert/sent")
    status = _text(root, "status", w)
    if status not in STATUSES:
        raise CapError(_("alert/status: {value} is not shown on screens; allowed: {allowed}")
                       .format(value=repr(status[:40]), allowed=", ".join(STATUSES)))
    msg_type = _text(root, "msgType", w)
    if msg_type not in MSG_TYPES:
        raise CapError(_("alert/msgType: {value} is not allowed; allowed: {allowed}")
                       .format(value=repr(msg_type[:40]), allowed=", ".join(MSG_TYPES)))
    scope = _text(root, "scope", w)
    if scope != "Public":
        raise CapError(_("alert/scope: {value}; screens show only Public alerts")
                       .format(value=repr(scope[:40])))
    refs = _refs(_text(root, "references", w, required=msg_type != "Alert", limit=4096))
    if msg_type == "Alert" and refs:
        raise CapError(_("alert/references: an Alert names no references (use Update or "
                         "Cancel)"))
    infos = [i for i in root.findall(_Q + "info")
             if (_text(i, "language", "alert/info", required=False) or "en-US") == LANGUAGE]
    if not infos:
        raise CapError(_("alert/info: no <info> with <language>{language}</language>")
                       .format(language=LANGUAGE))
    if len(infos) > 1:
        raise CapError(_("alert/info: {n} blocks in {language}; send one")
                       .format(n=len(infos), language=LANGUAGE))
    info = infos[0]
    wi = "alert/info"
    for name in ("category", "urgency", "severity", "certainty"):
        _text(info, name, wi)
    event = _text(info, "event", wi)
    headline = _text(info, "headline", wi, required=msg_type != "Cancel", limit=MAX_HEADLINE)
    description = _text(info, "description", wi, required=msg_type != "Cancel",
                        limit=MAX_DESCRIPTION)
    instruction = _text(info, "instruction", wi, required=False, limit=MAX_INSTRUCTION)
    sender_name = _text(info, "senderName", wi, required=False) or sender
    eff = _text(info, "effective", wi, required=False)
    effective = parse_cap_time(eff, f"{wi}/effective") if eff else sent
    ons = _text(info, "onset", wi, required=False)
    onset = parse_cap_time(ons, f"{wi}/onset") if ons else None
    expires = parse_cap_time(_text(info, "expires", wi), f"{wi}/expires")
    if expires <= effective:
        raise CapError(_("{where}/expires: {expires} is not after the alert becomes effective "
                         "({effective})").format(where=wi, expires=expires.isoformat(),
                                                 effective=effective.isoformat()))
    if expires - sent > timedelta(days=MAX_LIFETIME_DAYS):
        raise CapError(_("{where}/expires: {expires} is more than {days} days after sent "
                         "({sent}); send an Update to extend an alert")
                       .format(where=wi, expires=expires.isoformat(), days=MAX_LIFETIME_DAYS,
                               sent=sent.isoformat()))
    repeat_s = REPEAT_DEFAULT_S
    for p in info.findall(_Q + "parameter"):
        if _text(p, "valueName", f"{wi}/parameter") == "signage:repeat_s":
            v = _text(p, "value", f"{wi}/parameter")
            if not v.isdigit() or not REPEAT_MIN_S <= int(v) <= REPEAT_MAX_S:
                raise CapError(_("{where}/parameter signage:repeat_s: {value}; a whole number "
                                 "of seconds from {low} to {high}")
                               .format(where=wi, value=repr(v[:20]), low=REPEAT_MIN_S,
                                       high=REPEAT_MAX_S))
            repeat_s = int(v)
    sites: list[str] = []
    regions: list[str] = []
    for area in info.findall(_Q + "area"):
        _text(area, "areaDesc", f"{wi}/area")
        for g in area.findall(_Q + "geocode"):
            name = _text(g, "valueName", f"{wi}/area/geocode")
            value = _text(g, "value", f"{wi}/area/geocode")
            if name == "site":
                if not _SITE.match(value):
                    raise CapError(_("{where}/area/geocode site: {value} is not a site id")
                                   .format(where=wi, value=repr(value[:80])))
                sites.append(value)
            elif name == "region":
                if not _REGION.match(value):
                    raise CapError(_("{where}/area/geocode region: {value}; a region is a 6-digit "
                                     "administrative division code, e.g. 330106")
                                   .format(where=wi, value=repr(value[:80])))
                regions.append(value)
    if not sites and not regions:
        raise CapError(_("{where}/area: no <geocode> named 'site' or 'region': the alert "
                         "would reach no screen").format(where=wi))
    return CapAlert(identifier, sender, sent, status, msg_type, refs, sender_name, event,
                    headline, description, instruction, effective, onset, expires, repeat_s,
                    tuple(sites), tuple(regions))


def region_covers(alert_region: str, box_region: str) -> bool:
    """GB/T 2260 codes: 33xxxx province, 3301xx city, 330106 county. A province code
    (ending 0000) covers its cities and counties, a city code (ending 00) its counties."""
    if alert_region == box_region:
        return True
    if alert_region.endswith("0000"):
        return box_region[:2] == alert_region[:2]
    if alert_region.endswith("00"):
        return box_region[:4] == alert_region[:4]
    return False


def addressed_to(alert: CapAlert, site_id: str, regions: tuple[str, ...]) -> bool:
    return site_id in alert.sites or any(
        region_covers(a, b) for a in alert.regions for b in regions)
