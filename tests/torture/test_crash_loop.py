"""Crash loop: `signage run` killed with SIGKILL at random moments, 50 times, restarted each
time. The chain must verify across every run, every downtime must be an outage in the audit,
and no record may be lost or duplicated."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.logtools import records

from .helpers import (
    Timer,
    audit_api,
    audit_cli,
    kill9,
    parse_wall,
    read_lines,
    report,
    signage_popen,
    signage_run,
    torn_tails,
)

LIVES = 50
SEED = 20261128


@pytest.mark.slow  # about a minute: 50 real starts and kills
def test_fifty_kill_9_at_random_moments(site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    rng = random.Random(SEED)
    lives: list[float] = []
    with Timer() as t:
        for _ in range(LIVES):
            life = rng.uniform(0.3, 1.5)
            p = signage_popen("run", "--config", str(cfg), cwd=base)
            time.sleep(life)
            kill9(p)
            assert p.returncode == -9, p.returncode  # it was running, not exited on its own
            lives.append(life)
            time.sleep(rng.uniform(0.0, 0.2))
        # after 50 crashes the daemon still starts, runs and stops cleanly
        last = signage_run("run", "--config", str(cfg), "--for", "2s", cwd=base, timeout=60)
    assert last.returncode == 0, last.stderr
    assert "Traceback" not in last.stderr

    log, key = base / "log", base / "site.key"
    # the independent reader: every complete line verifies against the one before, seq 0..N-1
    recs = records(log, key)
    lines = list(read_lines(log))
    assert len(lines) == len(recs)
    seqs = [r["seq"] for r in recs]
    assert seqs == list(range(len(recs)))  # nothing lost, nothing duplicated
    assert len(set(seqs)) == len(seqs)
    starts = [i for i, r in enumerate(recs) if r["type"] == "run_start"]
    stops = [r for r in recs if r["type"] == "run_stop"]
    # a run that was killed before it wrote run_start leaves nothing; the others left one
    assert 1 < len(starts) <= LIVES + 1
    assert len(stops) == 1 and recs[-1]["type"] == "run_stop"  # only the final, clean run
    # each run's records are contiguous (a run id never reappears after another run began)
    runs = [r["run"] for r in recs]
    blocks = [runs[0]] + [b for a, b in itertools.pairwise(runs) if a != b]
    assert len(blocks) == len(set(blocks)) == len(starts)
    assert all(recs[i]["type"] == "run_start" for i in starts)
    assert Counter(runs)[recs[starts[0]]["run"]] >= 1
    # a kill mid-write may leave a torn line; each one is announced by the next run
    torn = torn_tails(log)
    announced = {(r["file"], r["length"]) for r in recs if r["type"] == "torn_tail"}
    assert {(f, len(b)) for f, b in torn.items()} <= announced

    res = audit_api([log], key)
    doc = res.doc
    assert res.code in (0, 1), (res.code, doc["integrity"]["findings"][:5])
    assert doc["integrity"]["intact"]
    assert doc["integrity"]["records"] == len(recs)
    assert doc["integrity"]["head"]["seq"] == len(recs) - 1
    # every downtime is an outage "daemon not running": from the killed run's last record to
    # the next run_start, to the millisecond
    downs = [(parse_wall(o["start"]), parse_wall(o["end"])) for o in doc["outages"]
             if o["kind"] == "daemon_not_running"]
    expected = [(parse_wall(recs[i - 1]["wall"]), parse_wall(recs[i]["wall"]))
                for i in starts[1:]]
    missing = [e for e in expected if e not in downs]
    assert not missing, f"{len(missing)} of {len(expected)} downtimes not reported: {missing[:3]}"
    assert len(downs) == len(expected), (len(downs), len(expected))
    for o in doc["outages"]:
        if o["kind"] == "daemon_not_running":
            assert "crashed" in o["reason"] or "no run_stop" in o["reason"], o
    # the command agrees with the Python entry point
    cli = audit_cli([log], key, "--format", "json", "--jobs", "2")
    assert cli.code == res.code and "Traceback" not in cli.err
    assert cli.doc["integrity"] == doc["integrity"]
    report("crash loop", kills=LIVES, runs_logged=len(starts),
           killed_before_run_start=LIVES + 1 - len(starts), records=len(recs),
           outages=len(downs), torn_tails=len(torn), audit_exit=res.code,
           mean_life_s=round(sum(lives) / len(lives), 2), loop_s=round(t.s, 1))
