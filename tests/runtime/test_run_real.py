"""The real runtime, as a real process, on a scaled-down rule (max_gap 3 s, items 0.5-2 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from signage.playlog.writer import log_files
from tests.e2e.e2etools import wait_for
from tests.logtools import af_gaps, planned_af_gaps, records, start_errors

#: what a real gap may exceed the rule by before it is a hang, not a busy machine
HANG_S = 10.0


#: a bound on waiting for the log that only a hang reaches
WAIT_S = 120.0


def _replace(path: Path, text: str) -> None:
    """Write as an editor saves: a new file renamed over the old one (a reload never reads a
    half-written file, which a busy machine would otherwise let it see now and then)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def _wait_showings(site: Path, p: subprocess.Popen[str], n: int, after: str | None = None
                   ) -> None:
    """Until the log holds ``n`` ended showings (after the last record of type ``after``)."""
    def pred(rs: list[dict[str, object]]) -> bool:
        i = max((k for k, r in enumerate(rs) if r["type"] == after), default=-1)
        return sum(1 for r in rs[i + 1:] if r["type"] == "showing") >= n
    wait_for(site / "log", p, f"{n} showings", pred, timeout_s=WAIT_S)


def signage(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_twenty_second_run_keeps_every_gap_and_starts_on_time(
        make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site(store_s=(0.5, 1.0, 2.0), af_s=(0.5, 0.7, 1.0))
    p = signage("run", "--config", str(cfg), "--for", "20s", cwd=cfg.parent)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    recs = records(cfg.parent / "log", cfg.parent / "site.key")
    gaps = af_gaps(recs)["s1"]
    assert len(gaps) >= 5
    # the rule as planned (budget 3 - 0.5 s); how late a busy machine made the switches is
    # the start errors' business below; the real gaps only catch a hang
    assert max(planned_af_gaps(recs, "s1")) <= 2.5 + 0.001
    assert max(gaps) <= 3.0 + HANG_S, max(gaps)
    errs = sorted(abs(e) for e in start_errors(recs)[1:])  # the first joins mid-plan
    assert len(errs) >= 20
    p99 = errs[int(len(errs) * 0.99) - 1]
    # correctness only: every start lands on its planned instant, not a second late (a hang);
    # the target (p99 <= 5 ms) is measured by bench/runtime.py, figures in docs/benchmarks.md
    assert p99 <= 1.0, errs[-5:]
    assert recs[0]["type"] == "run_start" and recs[-1]["type"] == "run_stop"
    assert recs[-1]["reason"] == "duration reached"
    assert (cfg.parent / "var" / "sim" / "s1.png").stat().st_size > 0
    assert any(r["type"] == "heartbeat" for r in recs)


def test_a_driver_failing_every_third_anti_fraud_item_still_keeps_the_gap(
        make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site(extra=", fail_every_af = 3", max_gap=2.0)
    p = signage("run", "--config", str(cfg), "--for", "20s", cwd=cfg.parent)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    recs = records(cfg.parent / "log", cfg.parent / "site.key")
    failed = [r for r in recs if r["type"] == "showing" and r["outcome"] == "failed"]
    assert len(failed) >= 2
    assert max(planned_af_gaps(recs, "s1")) <= 1.5 + 0.001  # the budget: 2 - 0.5 s
    assert max(af_gaps(recs)["s1"]) <= 2.0 + HANG_S


def test_sigterm_stops_cleanly_with_a_run_stop_record(make_small_site: Callable[..., Path]
                                                      ) -> None:
    cfg = make_small_site()
    p = signage("run", "--config", str(cfg), cwd=cfg.parent)
    _wait_showings(cfg.parent, p, 2)
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    recs = records(cfg.parent / "log", cfg.parent / "site.key")
    assert recs[-1]["type"] == "run_stop" and recs[-1]["reason"] == "signal SIGTERM"
    last_show = [r for r in recs if r["type"] == "showing"][-1]
    assert last_show["outcome"] in ("completed", "cut_short")


def test_kill_9_and_restart_chain_verifies_and_the_outage_is_visible(
        make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site()
    p = signage("run", "--config", str(cfg), cwd=cfg.parent)
    _wait_showings(cfg.parent, p, 2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    time.sleep(1.5)
    p2 = signage("run", "--config", str(cfg), "--for", "3s", cwd=cfg.parent)
    _o, err = p2.communicate(timeout=30)
    assert p2.returncode == 0, err
    recs = records(cfg.parent / "log", cfg.parent / "site.key")  # asserts the chain
    starts = [i for i, r in enumerate(recs) if r["type"] == "run_start"]
    assert len(starts) == 2
    before = recs[starts[1] - 1]
    assert before["type"] != "run_stop"  # the first run never said goodbye
    # the outage: nothing was shown between the first run's last record and the restart
    assert recs[starts[1]]["mono"] - before["mono"] >= 1.5


def test_torn_last_line_is_left_alone_and_the_chain_continues(
        make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site()
    p = signage("run", "--config", str(cfg), "--for", "2s", cwd=cfg.parent)
    assert p.wait(timeout=30) == 0
    log = cfg.parent / "log"
    (first,) = sorted(log.glob("*.jsonl"))
    torn = b'{"v":1,"seq":99999,"type":"show'
    with open(first, "ab") as fh:
        fh.write(torn)
    size = first.stat().st_size
    p = signage("run", "--config", str(cfg), "--for", "2s", cwd=cfg.parent)
    assert p.wait(timeout=30) == 0
    assert first.stat().st_size == size and first.read_bytes().endswith(torn)  # untouched
    files = log_files(log)
    assert len(files) == 2 and files[1].name.endswith(".1.jsonl")
    recs = records(log, cfg.parent / "site.key")  # the chain skips the torn bytes
    tt = [r for r in recs if r["type"] == "torn_tail"]
    assert len(tt) == 1 and tt[0]["length"] == len(torn) and tt[0]["file"] == first.name


def test_bad_playlist_edit_is_rejected_and_the_old_schedule_continues(
        make_small_site: Callable[..., Path]) -> None:
    cfg = make_small_site()
    af = cfg.parent / "playlists" / "af.toml"
    good = af.read_text("utf-8")
    p = signage("run", "--config", str(cfg), "--for", "10m", cwd=cfg.parent)
    log = cfg.parent / "log"
    _wait_showings(cfg.parent, p, 2)
    _replace(af, good.replace('type = "text"', 'type = "txt"', 1))
    wait_for(log, p, "the rejected reload", lambda rs: any(
        r["type"] == "reload" for r in rs), timeout_s=WAIT_S)
    _wait_showings(cfg.parent, p, 2, after="reload")  # the old schedule goes on
    _replace(af, good.replace("凡是刷单返利就是诈骗0", "新口号：不转账").replace('"af0"', '"af9"'))
    wait_for(log, p, "af9 shown", lambda rs: any(
        r["type"] == "showing" and r["item"] == "af9" for r in rs), timeout_s=WAIT_S)
    p.terminate()
    _out, err = p.communicate(timeout=WAIT_S)
    assert p.returncode == 0, err
    assert "reload rejected" in err and "items[0].type" in err
    recs = records(cfg.parent / "log", cfg.parent / "site.key")
    reloads = [r for r in recs if r["type"] == "reload"]
    assert [r["accepted"] for r in reloads] == [False, True]
    assert any("items[0].type" in pr for pr in reloads[0]["problems"])
    i_bad = recs.index(reloads[0])
    i_good = recs.index(reloads[1])
    shown_between = {r["item"] for r in recs[i_bad:i_good] if r["type"] == "showing_start"}
    assert shown_between and shown_between <= {"af0", "af1", "af2", "st0", "st1"}
    shown_after = {r["item"] for r in recs[i_good:] if r["type"] == "showing_start"}
    assert "af9" in shown_after
    # the budget as planned (3 - 0.5 s), reloads included: a re-plan counts it from the last
    # anti-fraud showing's planned instants, however late it ran (Timeline.replan)
    assert max(planned_af_gaps(recs, "s1")) <= 2.5 + 0.001
    assert max(af_gaps(recs)["s1"]) <= 3.0 + HANG_S
