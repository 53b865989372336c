"""What a showing may claim: the crediting rules, pure (no clock, no device, no log).

A ``showing`` record claims that the screen showed an item from ``start`` to ``end``. Every
instant of that claim must rest on an *answer* from the screen: the confirmation of the show
itself, a healthy check while the item was on, or the confirmation of what replaced it. The
runner (signage/runtime/runner.py) records the answers; this module alone decides the claim,
for every driver, present and future.

The rules:

1. A showing starts at its confirmation (the driver's answer to the show), never earlier.
2. A **prompt** answer (the first attempt answered, within ``prompt_bound`` of asking) vouches
   for the screen from the previous proof up to the instant it vouches for: the answer's own
   instant, or earlier when the driver says so (``as_of``: an LED board's last answer).
3. A retry, a resend or a slow answer proves the screen only at its own instant, **nothing
   before it**: the time between the previous proof and that answer is unproven, so the claim
   of the item on screen stops at the previous proof and does not grow any more.
4. Replaced by a promptly confirmed next item: the claim runs to the next item's confirmation,
   but not past the item's planned end unless an earlier proof covers it (a daemon that
   stalled proves nothing for the stall). Replaced after a retry or slowly: the last proof.
5. Closing time: the same with the clear's confirmation.
6. The screen went down, or the daemon stopped: the last proof, never the moment it was noticed.

In short: **no claim past the last proof**, and **a retry proves nothing before it**
(tests/runtime/test_credit.py checks both as hypothesis properties).
"""

from __future__ import annotations

from typing import NamedTuple

#: slack added to twice the driver's expected latency before an answer counts as slow
PROMPT_SLACK_S = 1.0


def prompt_bound(expected_latency_s: float) -> float:
    """Longest wait for an answer that still counts as prompt."""
    return 2.0 * max(0.0, expected_latency_s) + PROMPT_SLACK_S


class Answer(NamedTuple):
    """One answer from a screen: asked at ``asked``, read at ``at`` (the same monotonic clock).

    ``attempts`` > 1 means the driver had to resend or retry. ``as_of`` (None: the answer's own
    instant) is the last instant the driver can vouch for, e.g. an LED board's last reply.
    (Immutable; a named tuple rather than a frozen dataclass: the runner makes one per
    switch, and a frozen dataclass's constructor costs several times a tuple's.)"""

    asked: float
    at: float
    attempts: int = 1
    as_of: float | None = None

    def prompt(self, expected_latency_s: float) -> bool:
        # prompt_bound(expected_latency_s), inline (asked twice per switch)
        bound = 2.0 * (expected_latency_s if expected_latency_s > 0.0 else 0.0) + PROMPT_SLACK_S
        return self.attempts <= 1 and self.at - self.asked <= bound

    @property
    def vouches(self) -> float:
        """The latest instant this answer can prove (never after it was read)."""
        return self.at if self.as_of is None else min(self.at, self.as_of)


class Claim(NamedTuple):
    """What the showing now on screen may claim so far (immutable, as Answer)."""

    start: float
    planned_end: float
    proven: float
    #: why the claim stopped growing (a slow or retried answer); empty while it can grow
    broken: str = ""

    @classmethod
    def confirmed(cls, confirmation: Answer, planned_end: float) -> Claim:
        """Rule 1: the showing starts at its confirmation."""
        at = confirmation.at
        return cls(at, planned_end, at)

    def checked(self, answer: Answer, expected_latency_s: float) -> Claim:
        """A healthy check while the item is on (rules 2 and 3)."""
        if self.broken:
            return self
        if not answer.prompt(expected_latency_s):
            return self._replace(broken=_why(answer))
        return self._replace(proven=max(self.proven, answer.vouches))

    def replaced(self, confirmation: Answer, expected_latency_s: float) -> float:
        """The end of this showing when the next item is confirmed (rule 4)."""
        if self.broken or not confirmation.prompt(expected_latency_s):
            return self.proven
        return max(self.start, min(confirmation.at, max(self.planned_end, self.proven)))

    def cleared(self, confirmation: Answer, expected_latency_s: float) -> float:
        """The end of this showing when the clear at closing time is confirmed (rule 5)."""
        return self.replaced(confirmation, expected_latency_s)

    def lost(self, now: float) -> float:
        """The end when nothing more will confirm it: screen down, daemon stopped (rule 6)."""
        return max(self.start, min(now, self.proven))

    def why_short(self, confirmation: Answer | None, expected_latency_s: float) -> str:
        """The reason a replaced or cleared showing ended at its last proof, or ""."""
        if self.broken:
            return self.broken
        if confirmation is not None and not confirmation.prompt(expected_latency_s):
            return _why(confirmation)
        return ""


def _why(answer: Answer) -> str:
    if answer.attempts > 1:
        return (f"unproven after the last proof: the screen answered only after "
                f"{answer.attempts} attempts")
    return (f"unproven after the last proof: the screen answered only after "
            f"{answer.at - answer.asked:.1f} s")
