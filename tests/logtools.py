"""Reading a log directory in tests: chain verification and gap measurement, written simply
and independently of signage.audit, so the two check each other."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from signage.keys import load_signing_key
from signage.playlog import format as fmt
from signage.playlog import v2
from signage.playlog.writer import log_files


def records(log_dir: Path, key_file: Path | None = None, *,
            signing_key: Path | None = None) -> list[dict[str, Any]]:
    """All complete records in write order; asserts the chain when a key is given: the site
    key (format 1) or the box's signing key (format 2: the SHA-256 chain, and every
    checkpoint's signature by that key's public half, which must cover the last record).
    A torn last line of a file is skipped (it must be followed by a torn_tail record)."""
    key = key_file.read_bytes().strip() if key_file else None
    public = load_signing_key(signing_key).public if signing_key else None
    prev = fmt.GENESIS
    out: list[dict[str, Any]] = []
    for path in log_files(log_dir):
        data = path.read_bytes()
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            if i == len(lines) - 1:
                break  # after the last newline: empty, or a torn tail
            if key is not None:
                mac = fmt.verify(key, prev, line)
                assert mac is not None, f"chain breaks at {path.name} line {i + 1}"
                prev = mac
            elif public is not None:
                got = v2.verify_link(prev, line)
                assert got is not None, f"chain breaks at {path.name} line {i + 1}"
                prev = got
                if b'"type":"checkpoint"' in line:
                    assert v2.parse_checkpoint(line).verify(public), (path.name, i + 1)
            out.append(json.loads(line))
    seqs = [r["seq"] for r in out]
    assert seqs == list(range(len(seqs))), "sequence numbers are not continuous"
    if public is not None:
        assert out and out[-1]["type"] == "checkpoint", "records after the last checkpoint"
    return out


def af_gaps(recs: list[dict[str, Any]], measure: str = "end-to-start") -> dict[str, list[float]]:
    """Per screen, the gaps between consecutive anti-fraud showings of the same run."""
    by: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    stretch: dict[str, int] = defaultdict(int)  # a screen_clear (closing) starts a new stretch
    for r in recs:
        if r["type"] == "screen_clear":
            stretch[r["screen"]] += 1
        if r["type"] == "showing" and r["anti_fraud"] and r["outcome"] != "failed":
            by[(r["run"], r["screen"], stretch[r["screen"]])].append(r)
    gaps: dict[str, list[float]] = defaultdict(list)
    for (_run, screen, _k), shows in by.items():
        shows.sort(key=lambda r: r["start_mono"])
        for a, b in zip(shows, shows[1:], strict=False):
            ref = a["start_mono"] if measure == "start-to-start" else a["end_mono"]
            gaps[screen].append(b["start_mono"] - ref)
    return gaps


def start_errors(recs: list[dict[str, Any]]) -> list[float]:
    return [r["start_mono"] - r["planned_mono"] for r in recs if r["type"] == "showing_start"]


def trust_for(path: Path, site_id: str, signing_key: Path) -> Path:
    """An inspector's trust file (docs/trust-file.md) registering the public half of a box's
    signing key for ``site_id`` since 2020: what `signage keys show` prints, written out."""
    pub = load_signing_key(signing_key).public
    path.write_text(f'version = 1\n[[site]]\nid = "{site_id}"\n  [[site.key]]\n  public = '
                    f'"{pub.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    return path


def run_gaps(recs: list[dict[str, Any]], screen: str,
             measure: str = "end-to-start") -> list[float]:
    """Every interval of one screen with no anti-fraud content proven, in seconds, for a log of
    runs that were open all day (no hours, no outages): from each run's start to its first
    anti-fraud showing, between consecutive ones (end to start, or start to start with that
    ``measure``), and from the last one to the
    run's stop. Written independently of signage.audit, to check its figure on a real run:
    the two must agree whatever a busy machine did to the gaps."""
    out: list[float] = []
    ref: float | None = None
    for r in recs:
        if r["type"] == "run_start":
            ref = r["mono"]
        elif (r["type"] == "showing" and r.get("screen") == screen and r["anti_fraud"]
              and r["outcome"] in ("completed", "cut_short") and ref is not None):
            out.append(r["start_mono"] - ref)
            ref = r["start_mono"] if measure == "start-to-start" else r["end_mono"]
        elif r["type"] == "run_stop" and ref is not None:
            out.append(r["mono"] - ref)
            ref = None
    return out


def planned_af_gaps(recs: list[dict[str, Any]], screen: str,
                    skip: tuple[tuple[float, float], ...] = ()) -> list[float]:
    """The gaps between consecutive anti-fraud attempts of one screen as the runtime planned
    them: a switch is planned where the entry before it ends, so the gap after anti-fraud
    showing A is the planned start of the next anti-fraud attempt B (shown, or failed and
    replaced at once) minus the planned start of the entry that followed A (0 when B followed
    A directly). Planned instants are the records' ``planned`` (wall). A busy machine makes
    starts late, never these figures longer: this checks the planner's budget, the start
    errors check how late the machine was. ``skip``: (from, to) windows on the monotonic
    clock (a screen outage); a gap whose attempts A..B overlap one is left out. A re-plan
    (a reload or push applied, an alert coming or ending) counts the budget from the last
    anti-fraud showing's planned instants however late it runs (Timeline.replan), so these
    are bounded by the budget with re-plans too; only a screen back up after an outage or a
    wall-clock step plans from the instant it runs (skip the outage's window)."""
    from datetime import datetime

    tries = [r for r in recs if r.get("screen") == screen and (
        r["type"] == "showing_start" or (r["type"] == "showing" and r["outcome"] == "failed"))]
    out: list[float] = []
    for i, a in enumerate(tries):
        if a["type"] != "showing_start" or not a["anti_fraud"]:
            continue
        j = next((k for k in range(i + 1, len(tries)) if tries[k]["anti_fraud"]), None)
        if j is None:
            break
        if tries[j].get("run") != a.get("run"):
            continue
        if any(a["start_mono"] < w1 and w0 < tries[j]["start_mono"] for w0, w1 in skip):
            continue
        if j == i + 1:
            out.append(0.0)
            continue
        t1 = datetime.fromisoformat(tries[i + 1]["planned"]).timestamp()
        out.append(datetime.fromisoformat(tries[j]["planned"]).timestamp() - t1)
    return out
