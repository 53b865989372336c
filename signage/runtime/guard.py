"""The runner's last line of defence for the gap rule, as a pure decision (see the runner's
docstring, point 3): may a store item that ends at ``end_mono`` start now?"""

from __future__ import annotations


def would_break(af_ref: float | None, af_on: bool, now: float, end_mono: float,
                max_gap_ms: int, guard_s: float, start_to_start: bool) -> bool:
    """True when a store item ending at ``end_mono`` would push the next anti-fraud showing
    past ``max_gap - guard`` measured from the last real anti-fraud showing (``af_ref``: its
    end, or its start in start-to-start mode; ``af_on``: one is on screen now). With no
    anti-fraud showing yet in this run, always True: the first item is anti-fraud."""
    if af_ref is None and not af_on:
        return True  # no anti-fraud showing yet this run: the first item is anti-fraud
    limit = max_gap_ms / 1000.0 - guard_s
    if start_to_start:
        ref = af_ref if af_ref is not None else now
    else:
        ref = now if af_on or af_ref is None else af_ref
    return end_mono - ref > limit
