"""Disk full: the log directory on a small tmpfs (256 KiB) filled up by a filler file, while
`signage run` plays (its run dir, var/sim, is on the ordinary disk). The screens keep
playing, the daemon says so loudly on stderr, records wait in memory and are written when
space returns (the filler is deleted mid-run); with a tiny buffer, what overflows is recorded
as `dropped`, never silently; the chain verifies throughout.

Mounting needs root (CI runs as root); without it these tests fail with a clear message."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.logtools import af_gaps, planned_af_gaps, records

from .conftest import require_root
from .helpers import audit_api, report, signage_popen, torn_tails

SIZE = "256k"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    require_root()
    d = tmp_path / "logfs"
    d.mkdir()
    mount, umount = shutil.which("mount") or "mount", shutil.which("umount") or "umount"
    r = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(d)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs on {d} (root is needed): {r.stderr.strip()}",
                    pytrace=False)
    try:
        yield d
    finally:
        r = subprocess.run([umount, str(d)], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            subprocess.run([umount, "-l", str(d)], check=False)


def fill(fs: Path) -> Path:
    """A filler file that takes every free byte of the file system."""
    filler = fs / "filler"
    chunk = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                if os.write(fd, chunk) < len(chunk):
                    break
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        # the last page too: byte by byte
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0") == 1:
                pass
    finally:
        os.close(fd)
    st = os.statvfs(fs)
    assert st.f_bavail == 0, "the file system is not full"
    return filler


def _site(make: Callable[..., Path], logfs: Path, buffer_records: int | None) -> Path:
    cfg = make()
    text = cfg.read_text("utf-8").replace('dir = "log"', f'dir = "{logfs / "log"}"')
    if buffer_records is not None:
        text = text.replace("heartbeat_s =", f"buffer_records = {buffer_records}\nheartbeat_s =")
    cfg.write_text(text, "utf-8")
    (logfs / "log").mkdir()
    return cfg


def _frames_while(frame: Path, seconds: float) -> int:
    """How many times the simulator's frame changed over ``seconds`` (each switch links a
    rendered frame, one inode per item, into place)."""
    changes = 0
    last: int | None = None
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        with contextlib.suppress(FileNotFoundError):
            ino = frame.stat().st_ino
            if last is not None and ino != last:
                changes += 1
            last = ino
        time.sleep(0.02)
    return changes


def _showings_between(recs: list[dict[str, Any]], t0: float, t1: float) -> int:
    return sum(1 for r in recs if r["type"] == "showing_start"
               and t0 <= datetime.fromisoformat(r["wall"]).timestamp() <= t1)


def _run_full(cfg: Path, logfs: Path, full_s: float, total_s: float
              ) -> tuple[str, int, float, float]:
    base = cfg.parent
    filler = fill(logfs)
    p = signage_popen("run", "--config", str(cfg), "--for", f"{total_s}s", cwd=base)
    try:
        t0 = time.time()
        time.sleep(0.8)  # start-up, first frame
        frames = _frames_while(base / "var" / "sim" / "s1.png", full_s - 0.8)
        filler.unlink()  # space returns
        t_free = time.time()
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert "Traceback" not in err, err
    return err, frames, t0, t_free


def test_full_log_disk_keeps_playing_and_writes_later(site: Callable[..., Path],
                                                      tmpfs: Path) -> None:
    cfg = _site(site, tmpfs, None)
    err, frames, t0, t_free = _run_full(cfg, tmpfs, full_s=4.5, total_s=8.0)
    log, key = tmpfs / "log", cfg.parent / "site.key"
    assert "No space left on device" in err, err  # said loudly, on stderr
    assert "records wait in memory" in err and "log writing works again" in err, err
    recs = records(log, key)  # the chain verifies, seq 0..N-1
    # the screen kept playing while the disk was full: the frame file changed, and the
    # showings of that time, written later, are in the log with their own times
    during = _showings_between(recs, t0, t_free)
    assert frames >= 2 and during >= 3, (
        f"the screen did not keep playing while the log disk was full: {frames} frame "
        f"changes, {during} showings")
    assert not torn_tails(log), "a half-written record was left on the full disk"
    assert recs[0]["type"] == "run_start" and recs[-1]["type"] == "run_stop"
    assert not [r for r in recs if r["type"] == "dropped"], "nothing may be dropped here"
    # the records made while the disk was full are there, in order, with their own times
    shows = [r for r in recs if r["type"] == "showing_start"]
    assert len(shows) >= 6
    monos = [r["mono"] for r in recs]
    assert monos == sorted(monos)
    assert max(planned_af_gaps(recs, "s1")) <= 2.5 + 0.001  # the budget: 3 - 0.5 s
    assert max(af_gaps(recs)["s1"]) <= 3.0 + 10  # (a hang; a busy machine makes them late)
    res = audit_api([log], key)
    assert res.code in (0, 1) and res.doc["integrity"]["intact"], res.doc["integrity"]
    report("disk full: buffered", frame_changes_while_full=frames,
           showings_while_full=during, records=len(recs),
           showings=len(shows), dropped=0, audit_exit=res.code)


def test_full_log_disk_with_a_tiny_buffer_records_what_it_dropped(site: Callable[..., Path],
                                                                  tmpfs: Path) -> None:
    cfg = _site(site, tmpfs, 10)  # the smallest buffer the config allows
    err, frames, _t0, _t_free = _run_full(cfg, tmpfs, full_s=5.0, total_s=8.0)
    log, key = tmpfs / "log", cfg.parent / "site.key"
    assert "No space left on device" in err, err
    assert frames >= 2, f"the screen did not keep playing: {frames} frame changes"
    recs = records(log, key)  # the chain verifies across the drop
    drops = [r for r in recs if r["type"] == "dropped"]
    assert len(drops) == 1, [r["type"] for r in recs[:20]]
    d = drops[0]
    assert d["count"] >= 1 and sum(d["types"].values()) == d["count"], d
    assert d["first_mono"] <= d["last_mono"] <= d["mono"], d
    # the least important records go first (heartbeats, then showing starts), and the note
    # stands where they were lost: no record written after it is older than the last loss
    assert set(d["types"]) <= {"heartbeat", "showing_start", "showing", "driver_error"}, d
    i = recs.index(d)
    assert all(r["mono"] >= d["last_mono"] for r in recs[i + 1:]), d
    # at most buffer_records records waited in memory while the disk was full
    waited = [r for r in recs if d["first_mono"] <= r["mono"] <= d["mono"]
              and r["type"] != "dropped"]
    assert len(waited) <= 10 + 1, [(r["type"], r["mono"]) for r in waited]
    res = audit_api([log], key)
    report("disk full: tiny buffer", frame_changes_while_full=frames, records=len(recs),
           dropped=d["count"], dropped_types=d["types"], first_record=recs[0]["type"],
           audit_exit=res.code)
    # the run_start says which site, rule, hours and items: without it the log of this run
    # cannot be audited (and a restart would not be seen). It must never be the one dropped.
    assert "run_start" not in d["types"], (
        f"the run_start record was dropped ({d}); the audit says: exit {res.code} "
        f"{res.err.strip()[:200]}")
    assert recs[0]["type"] == "run_start"
    doc = res.doc
    assert doc["integrity"]["intact"], doc["integrity"]["findings"][:3]
    assert any("dropped" in w for w in doc["warnings"]), doc["warnings"]
    assert all(v["cause"] in ("records_dropped", "daemon_not_running") or
               "records_dropped" in v["causes"] for v in doc["violations"]), doc["violations"]


@pytest.mark.parametrize("batch_ms", [10**12, 1000])
def test_simulate_block_writer_keeps_every_record_across_a_full_disk(tmpfs: Path,
                                                                     batch_ms: int) -> None:
    """`signage simulate` writes its log in blocks (write_buffer): a block that does not fit
    stays in memory, the failure is reported, and once space returns every record is in the
    file, in order, with an intact chain."""
    from zoneinfo import ZoneInfo

    from signage.playlog import format as lf
    from signage.playlog.writer import LogWriter
    from signage.runtime.clock import VirtualClock

    errors: list[str] = []
    clock = VirtualClock(1_764_547_200.0)
    key = b"k" * 32
    w = LogWriter(tmpfs / "log", key, ZoneInfo("Asia/Shanghai"), clock, run_id="r" * 12,
                  boot_id="virtual-test", fsync="batch", batch_ms=batch_ms, write_buffer=4096,
                  on_error=errors.append)
    w.open()
    fields = {"screen": "s1", "item": "af-01", "anti_fraud": True, "planned": "x",
              "planned_mono": 1.0, "start": "x", "start_mono": 1.0}
    n = 0

    def write(k: int) -> None:
        nonlocal n
        for _ in range(k):
            clock.sleep_until(clock.monotonic() + 1.0)
            w.append("showing_start", **fields)
            n += 1

    write(50)
    filler = fill(tmpfs)
    write(200)  # several blocks' worth while full
    assert errors and "cannot write the log" in errors[0] and "wait in memory" in errors[0]
    assert w.error is not None
    filler.unlink()
    write(20)
    w.close()
    assert w.error is None, w.error
    lines = b"".join(p.read_bytes() for p in sorted((tmpfs / "log").glob("*.jsonl")))
    recs = lines.splitlines()
    prev = lf.GENESIS
    for i, line in enumerate(recs):
        mac = lf.verify(key, prev, line)
        assert mac is not None, f"record {i} does not chain"
        assert lf.decode(line)["seq"] == i
        prev = mac
    dropped = sum(lf.decode(r).get("count", 0) for r in recs if b'"type":"dropped"' in r)
    assert len(recs) - (1 if dropped else 0) + dropped == n
    report("disk full: simulate blocks", records=len(recs), appended=n, dropped=dropped,
           errors=len(errors))


def test_block_writer_full_at_midnight_seals_the_day_once(tmpfs: Path) -> None:
    """The disk is full when the day changes: the seal waits in simulate's block with the
    records before it. Once space returns the day's file ends with that one seal (a second
    seal after it would be a seal that is not its file's last record: an integrity break)
    and the chain goes on in the next day's file."""
    from zoneinfo import ZoneInfo

    from signage.playlog import format as lf
    from signage.playlog.writer import LogWriter
    from signage.runtime.clock import VirtualClock

    tz = ZoneInfo("Asia/Shanghai")
    clock = VirtualClock(datetime(2026, 11, 30, 23, 59, 0, tzinfo=tz).timestamp())
    key = b"k" * 32
    errors: list[str] = []
    w = LogWriter(tmpfs / "log", key, tz, clock, run_id="r" * 12, boot_id="virtual-test",
                  fsync="batch", batch_ms=10**12, write_buffer=1 << 16,  # as simulate
                  on_error=errors.append)
    w.open()
    fields = {"screen": "s1", "item": "af-01", "anti_fraud": True, "planned": "x",
              "planned_mono": 1.0, "start": "x", "start_mono": 1.0}

    def write(k: int) -> None:
        for _ in range(k):
            clock.sleep_until(clock.monotonic() + 1.0)
            w.append("showing_start", **fields)

    write(30)  # all still in the block: the rotation is the first write to fail
    filler = fill(tmpfs)
    write(60)  # across midnight while full
    assert errors
    filler.unlink()
    write(10)
    w.close()
    assert w.error is None, w.error
    files = sorted((tmpfs / "log").glob("*.jsonl"))
    assert [p.name for p in files] == ["signage-2026-11-30.jsonl", "signage-2026-12-01.jsonl"]
    prev = lf.GENESIS
    seq = 0
    for p in files:
        recs = p.read_bytes().splitlines()
        types = [lf.decode(r)["type"] for r in recs]
        seals = [i for i, t in enumerate(types) if t == "seal"]
        if p is files[0]:
            assert seals == [len(recs) - 1], f"{p.name}: seals at {seals} of {len(recs)}"
        else:
            assert seals == []
        for r in recs:
            mac = lf.verify(key, prev, r)
            assert mac is not None and lf.decode(r)["seq"] == seq
            prev, seq = mac, seq + 1
