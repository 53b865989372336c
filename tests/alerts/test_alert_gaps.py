"""The whole runtime (runner, gap guard, log writer) on a virtual clock with random alerts:
whatever alerts arrive, when, how long and how often, the gap rule holds on every screen
(checked from the log by tests/logtools, not by the runner), alerts show only while active,
a repeat never follows an alert, and every alert active long enough reaches every screen.

The alerts come from a scripted source, a small real implementation of the runner's
AlertSource (what AlertCenter gives in production, without the I/O)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signage.alerts import ALERT_CATEGORY
from signage.alerts.choice import AlertCard, Candidate, show_seconds
from signage.driver import ItemKind
from signage.keys import SigningKey
from signage.load import load_site
from signage.model import Item
from signage.runtime.clock import VirtualClock
from signage.runtime.daemon import RunSettings, Runtime
from tests.logtools import af_gaps, records

from .alertsite import alert_site

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp()
RUN_S = 900.0
MAX_GAP = 6.0


class Scripted:
    enabled = True

    def __init__(self, cards: list[AlertCard]) -> None:
        self._cards = cards
        self.log: list[tuple[str, str, float]] = []

    def restore(self) -> None:
        pass  # nothing kept on disk

    def cards(self, screen_id: str, now: float) -> tuple[AlertCard, ...]:
        return tuple(c for c in self._cards if c.effective <= now < c.expires)

    def pending(self, screen_id: str) -> bool:
        return bool(self._cards)

    def shown(self, screen_id: str, card: AlertCard, start: float) -> None:
        self.log.append((screen_id, card.identifier, start))


alerts = st.lists(st.tuples(
    st.floats(0, RUN_S - 60),       # effective, seconds after T0
    st.floats(20, 600),             # lifetime
    st.floats(1, 45),               # natural showing length
    st.sampled_from([30, 60, 120]),  # repeat_s
), max_size=5)


def run(tmp: Path, spec: list[tuple[float, float, float, int]], measure: str
        ) -> tuple[list[dict[str, Any]], list[AlertCard]]:
    cfg = alert_site(tmp, SigningKey.generate(), measure=measure, max_gap=MAX_GAP)
    cards = []
    for i, (eff, life, natural, rep) in enumerate(spec):
        secs = show_seconds(natural, 0, 45.0, MAX_GAP - 1.0, measure == "start-to-start")
        item = Item(f"alert:X{i}", "alerts", ItemKind.TEXT, True, 1.0, round(secs * 1000),
                    text=f"预警{i}", category=ALERT_CATEGORY)
        cards.append(AlertCard(Candidate(("s", f"X{i}"), T0 + eff, float(rep)), item,
                               f"X{i}", "s", T0 + eff, T0 + eff, T0 + eff + life, False))
    clock = VirtualClock(T0)
    rt = Runtime(load_site(cfg), clock, RunSettings(
        virtual=True, log_dir=tmp / "log", key_file=tmp / "site.key", run_dir=tmp / "var",
        say=lambda _m: None))
    rt.alerts = Scripted(cards)  # type: ignore[assignment]
    rt.setup()
    rt.run_virtual(clock.monotonic() + RUN_S)
    rt.stop_reason = "duration reached"
    rt.finish()
    return records(tmp / "log", tmp / "site.key"), cards


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=alerts, measure=st.sampled_from(["end-to-start", "start-to-start"]))
def test_random_alerts_never_break_the_rule(spec: list[tuple[float, float, float, int]],
                                            measure: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        recs, cards = run(Path(d), spec, measure)
    gaps = af_gaps(recs, measure)
    assert set(gaps) == {"s1", "s2", "s3"}
    for s, g in gaps.items():
        assert max(g) <= MAX_GAP, (s, max(g))
    by_id = {c.item.id: c for c in cards}
    seen: dict[str, set[str]] = {s: set() for s in ("s1", "s2", "s3")}
    prev_alert: dict[str, bool] = {}
    for r in recs:
        if r["type"] != "showing" or r["outcome"] == "failed":
            continue
        s, item = r["screen"], r["item"]
        c = by_id.get(item)
        if c is None:
            prev_alert[s] = False
            continue
        start = datetime.fromisoformat(r["start"]).timestamp()
        end = datetime.fromisoformat(r["end"]).timestamp()
        assert c.effective - 0.01 <= start < c.expires, (item, start - c.effective)
        assert end <= c.expires + 0.01, (item, end - c.expires)
        if item in seen[s]:
            assert not prev_alert.get(s, False), f"a repeat of {item} followed an alert on {s}"
        seen[s].add(item)
        prev_alert[s] = True
    # an alert active for a while inside the run reaches every screen (alerts queue behind
    # each other: allow each earlier-overlapping alert's longest showing)
    for c in cards:
        window = min(c.expires, T0 + RUN_S) - c.effective
        if window > 50 * (1 + len(cards)):
            for s in seen:
                assert c.item.id in seen[s], (c.item.id, s)
