"""The crediting rules (signage/runtime/credit.py) as properties over any answers a screen
could give: no claim past the last proof, and a retry or slow answer proves nothing before it."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from signage.runtime.credit import Answer, Claim, prompt_bound


@dataclass(frozen=True)
class Story:
    confirmation: Answer
    planned_end: float
    checks: list[Answer]
    ending: Answer | None  # the next item's (or the clear's) confirmation; None: screen lost
    lost_at: float
    latency: float


@st.composite
def answers_after(draw: st.DrawFn, t: float, latency: float) -> Answer:
    asked = t + draw(st.floats(0.0, 20.0))
    slow = draw(st.booleans())
    wait = draw(st.floats(0.0, prompt_bound(latency) * (3 if slow else 1)))
    attempts = draw(st.sampled_from([1, 1, 1, 2, 3]))
    at = asked + wait
    as_of = draw(st.one_of(st.none(), st.floats(max(0.0, at - 30.0), at + 5.0)))
    return Answer(asked, at, attempts, as_of)


@st.composite
def stories(draw: st.DrawFn) -> Story:
    latency = draw(st.floats(0.0, 2.0))
    conf_asked = draw(st.floats(0.0, 100.0))
    conf = Answer(conf_asked, conf_asked + draw(st.floats(0.0, 3.0)))
    planned_end = conf.at + draw(st.floats(-2.0, 60.0))
    checks, t = [], conf.at
    for _ in range(draw(st.integers(0, 6))):
        a = draw(answers_after(t, latency))
        checks.append(a)
        t = a.at
    ending = draw(st.one_of(st.none(), answers_after(t, latency)))
    lost_at = t + draw(st.floats(0.0, 30.0))
    return Story(conf, planned_end, checks, ending, lost_at, latency)


def _end(s: Story) -> float:
    claim = Claim.confirmed(s.confirmation, s.planned_end)
    for a in s.checks:
        claim = claim.checked(a, s.latency)
    return claim.lost(s.lost_at) if s.ending is None else claim.replaced(s.ending, s.latency)


def _proofs_before(s: Story, limit: int) -> list[float]:
    """Instants vouched for by the prompt answers among the first ``limit`` checks."""
    out = [s.confirmation.at]
    for a in s.checks[:limit]:
        if a.prompt(s.latency):
            out.append(a.vouches)
    return out


@settings(max_examples=400, deadline=None)
@given(stories())
def test_no_claim_past_the_last_proof(s: Story) -> None:
    end = _end(s)
    proofs = _proofs_before(s, len(s.checks))
    if s.ending is not None and s.ending.prompt(s.latency):
        proofs.append(s.ending.at)
    assert s.confirmation.at <= end <= max(proofs)
    if s.ending is None:
        assert end <= s.lost_at or end == s.confirmation.at


@settings(max_examples=400, deadline=None)
@given(stories())
def test_a_retry_or_slow_answer_proves_nothing_before_it(s: Story) -> None:
    end = _end(s)
    answers = [*s.checks, *([s.ending] if s.ending is not None else [])]
    for i, a in enumerate(answers):
        if not a.prompt(s.latency):
            # nothing between the proofs before it and it is claimed
            assert end <= max(_proofs_before(s, i))


def test_the_led_outage_case() -> None:
    """The reproduced case: last answer at 10.0, board silent, the next switch answered only
    after a resend at 16.2; the item was planned to 16.0. Old code: credited to 16.0."""
    claim = Claim.confirmed(Answer(4.9, 5.0), planned_end=16.0)
    claim = claim.checked(Answer(10.0, 10.07, as_of=10.07), 0.1)
    switch = Answer(15.0, 16.2, attempts=2)
    assert claim.replaced(switch, 0.1) == 10.07
    assert "2 attempts" in claim.why_short(switch, 0.1)
    # the same switch answered at once credits the planned end
    assert claim.replaced(Answer(15.9, 15.95), 0.1) == 15.95
    assert claim.replaced(Answer(16.0, 16.05), 0.1) == 16.0


def test_a_ping_answer_vouches_for_the_instant_of_the_answer() -> None:
    claim = Claim.confirmed(Answer(0.0, 0.1), planned_end=30.0)
    # asked at 5.0, the board's reply decoded at 5.3 (as_of): proven to 5.3, not 5.0
    assert claim.checked(Answer(5.0, 5.31, as_of=5.3), 0.2).proven == 5.3
