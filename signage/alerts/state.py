"""The alerts a box holds: a pure function of the CAP messages it received, in order, and of
time. No I/O, no clock: ``now`` is passed in.

- An ``Alert`` becomes active from its ``effective`` time until ``expires``.
- An ``Update`` replaces the alerts it references (they end, "superseded") and is itself a new
  active alert.
- A ``Cancel`` ends the alerts it references ("cancelled"); it is never shown.
- A message that references one this box has not received yet (a box that was offline and
  catches up out of order) still takes effect: the reference is remembered, so the older
  message, arriving later, is refused as cancelled or superseded.
- Refused, with a reason word for the log and a sentence for people: a duplicate (same sender
  and identifier as one accepted), another site's or region's alert, a drill on a box with no
  screen configured for drills, an expired message, one already cancelled or superseded.
- A Cancel ends what it references whatever its own ``expires`` says (it is never shown, and
  an ended alert stays ended: a Cancel read again after its expires, as on a restart, still
  holds); an expired Update still ends what it references and is not shown itself.
- Only the alert's own sender, signed with the same authority key, may end it: a reference to
  another sender's alert, or from a message signed with another key, is ignored (one authority
  cannot cancel or replace another's warnings, nor forge their sender name to do so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..i18n import _
from .cap import CapAlert, addressed_to
from .reasons import label

Key = tuple[str, str]  # (sender, identifier)


@dataclass(frozen=True, slots=True)
class Accepted:
    alert: CapAlert
    #: keys of the alerts this message ended (Update: superseded, Cancel: cancelled)
    ended: tuple[Key, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # duplicate, other_region, drill_not_configured, expired, cancelled, superseded
    message: str


@dataclass(frozen=True, slots=True)
class Ended:
    key: Key
    reason: str  # expired, cancelled, superseded
    at: datetime


@dataclass
class AlertBook:
    site_id: str
    regions: tuple[str, ...]
    drills: bool  # some screen of this box is configured for drills
    _live: dict[Key, CapAlert] = field(default_factory=dict)
    _seen: set[Key] = field(default_factory=set)
    #: alerts ended by a later message (possibly before they arrived):
    #: (key, the signer of the ending message) -> (reason, by)
    _ended: dict[tuple[Key, str], tuple[str, str]] = field(default_factory=dict)
    #: the authority key id that signed each accepted message
    _signer: dict[Key, str] = field(default_factory=dict)

    def receive(self, alert: CapAlert, now: datetime, signer: str = "") -> Accepted | Refused:
        """``signer``: the id of the authority key whose envelope carried ``alert``."""
        key = alert.key
        if key in self._seen:
            return Refused("duplicate", _("alert {id} from {sender} was already received")
                           .format(id=alert.identifier, sender=alert.sender))
        if not addressed_to(alert, self.site_id, self.regions):
            return Refused("other_region", _(
                "alert {id} is for sites {sites} and regions {regions}; this box is site "
                "{site} in regions {ours}").format(
                    id=alert.identifier, sites=list(alert.sites), regions=list(alert.regions),
                    site=self.site_id, ours=list(self.regions)))
        if alert.drill and not self.drills:
            return Refused("drill_not_configured", _(
                "alert {id} is a drill (status {status}) and no screen here is configured for "
                "drills").format(id=alert.identifier, status=alert.status))
        expired = alert.expires <= now
        if expired and alert.msg_type == "Alert":
            return Refused("expired", _("alert {id} expired at {at}").format(
                id=alert.identifier, at=alert.expires.isoformat()))
        gone = self._ended.get((key, signer))
        if gone is not None:
            return Refused(gone[0], _("alert {id} was {how} by {by}").format(
                id=alert.identifier, how=label(gone[0]), by=gone[1]))
        self._seen.add(key)
        self._signer[key] = signer
        ended: list[Key] = []
        if alert.msg_type in ("Update", "Cancel"):
            why = "superseded" if alert.msg_type == "Update" else "cancelled"
            for ref in alert.references:
                rk = (ref.sender, ref.identifier)
                if rk == key or (rk, signer) in self._ended or ref.sender != alert.sender:
                    continue
                held = self._live.get(rk)
                if held is not None and self._signer.get(rk) != signer:
                    continue  # signed by another authority key: not this sender's to end
                self._ended[(rk, signer)] = (why, alert.identifier)
                if self._live.pop(rk, None) is not None:
                    ended.append(rk)
        if alert.msg_type != "Cancel" and not expired:
            self._live[key] = alert
        return Accepted(alert, tuple(ended))

    def active(self, now: datetime) -> list[CapAlert]:
        """Alerts to show at ``now``, oldest first (by sent time, then sender, identifier)."""
        out = [a for a in self._live.values() if a.effective <= now < a.expires]
        out.sort(key=lambda a: (a.sent, a.sender, a.identifier))
        return out

    def live(self) -> list[CapAlert]:
        """Every accepted alert not ended by a message (including ones not yet effective or
        past expiry until ``expire`` is called), in the order of ``active``."""
        out = list(self._live.values())
        out.sort(key=lambda a: (a.sent, a.sender, a.identifier))
        return out

    def expire(self, now: datetime) -> list[Ended]:
        """Forget alerts whose time is over; returns them (for the log)."""
        over = [k for k, a in self._live.items() if a.expires <= now]
        return [Ended(k, "expired", self._live.pop(k).expires) for k in over]

    def next_change(self, now: datetime) -> datetime | None:
        """The next instant the active set changes by time alone (an effective or expires)."""
        times = [t for a in self._live.values() for t in (a.effective, a.expires) if t > now]
        return min(times) if times else None

    def get(self, key: Key) -> CapAlert | None:
        return self._live.get(key)
