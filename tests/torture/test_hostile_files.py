"""Inputs that hang or exhaust (issue 11, items 10-12): newline-free sparse and gzip files,
a hostile newest file at the daemon's start, special files as playlists, deep nesting, and
the smaller cases. Real files (sparse, gzip, FIFO, symlink to /dev/zero), real processes;
each process's time and peak RSS are measured (os.wait4) and reported for
docs/reliability.md. The bounds asserted here catch a hang or a blow-up, not a latency."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .helpers import CHILD_ENV, PY, report, signage_popen, signage_run
from .helpers import audit_here as audit_cli

TZ = ZoneInfo("Asia/Shanghai")  # the test site's timezone
MB = 1 << 20



@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    rss_mb: float


#: forks the command from a small process and reports its peak RSS. The child's own
#: ru_maxrss is not enough when pytest starts it: Linux keeps, across exec, the high-water mark
#: of the memory the child was forked with, i.e. pytest's (384 MB late in the full suite).
_LAUNCH = """
import os, sys
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
os.write(fd, str(ru.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(args: list[str], cwd: Path, timeout: float = 120) -> Measured:
    """`python -m signage.cli ARGS` with its wall time and its own peak RSS."""
    rfd, wfd = os.pipe()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen([PY, "-c", _LAUNCH, str(wfd), PY, "-m", "signage.cli", *args],
                                 cwd=cwd, env=CHILD_ENV, stdout=fo, stderr=fe,
                                 start_new_session=True, pass_fds=(wfd,))
        finally:
            os.close(wfd)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise AssertionError(f"signage {' '.join(args)}: no answer in {timeout} s") from None
        finally:
            with os.fdopen(rfd, "rb") as r:
                maxrss_kb = r.read()
        took = time.monotonic() - t0
        fo.seek(0)
        fe.seek(0)
        return Measured(p.returncode, fo.read().decode(errors="replace"),
                        fe.read().decode(errors="replace"), took, int(maxrss_kb) / 1024)


def _real_log(site: Callable[..., Path]) -> tuple[Path, Path, Path]:
    cfg = site()
    base = cfg.parent
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=base)
    assert r.returncode == 0, r.stderr
    return cfg, base / "log", base / "site.key"


def _next_day_name(log: Path, suffix: str = ".jsonl") -> str:
    day = datetime.now(TZ).date() + timedelta(days=1)
    return f"signage-{day.isoformat()}{suffix}"


# ---- item 10: newline-free data ---------------------------------------------------------
def test_a_sparse_newline_free_log_file_is_audited_in_bounded_time_and_memory(
        site: Callable[..., Path]) -> None:
    _cfg, log, key = _real_log(site)
    hostile = log / _next_day_name(log)
    with open(hostile, "wb") as fh:
        fh.truncate(400 * MB)  # sparse: no disk, no newline
    m = measured(["audit", str(log), "--key", str(key), "--jobs", "1"], log.parent)
    assert m.code in (2, 3), (m.code, m.err)
    assert hostile.name in m.err + m.out and "Traceback" not in m.err, m.err
    assert m.rss_mb < 400, f"peak RSS {m.rss_mb:.0f} MB"
    report("hostile: sparse 400 MB newline-free log file (audit)", exit=m.code,
           seconds=round(m.seconds, 1), peak_rss_mb=round(m.rss_mb))


def test_a_gzip_bomb_is_audited_in_bounded_time_and_memory(site: Callable[..., Path]) -> None:
    _cfg, log, key = _real_log(site)
    bomb = log / _next_day_name(log, ".jsonl.gz")
    zeros = b"\0" * MB
    with gzip.open(bomb, "wb", compresslevel=9) as gz:
        for _ in range(512):
            gz.write(zeros)
    assert bomb.stat().st_size < 2 * MB
    m = measured(["audit", str(log), "--key", str(key), "--jobs", "1"], log.parent)
    assert m.code in (2, 3), (m.code, m.err)  # never "intact" (it was exit 0)
    assert bomb.name in m.err + m.out and "Traceback" not in m.err, m.err
    assert m.rss_mb < 400, f"peak RSS {m.rss_mb:.0f} MB"
    report("hostile: gzip bomb, 0.5 MB -> 512 MiB without newline (audit)", exit=m.code,
           compressed_kb=bomb.stat().st_size // 1024, seconds=round(m.seconds, 1),
           peak_rss_mb=round(m.rss_mb))


def test_a_garbage_first_line_over_8_mib_before_records_is_damage_not_unreadable(
        site: Callable[..., Path]) -> None:
    _cfg, log, key = _real_log(site)
    (path,) = sorted(log.glob("signage-*.jsonl"))
    path.write_bytes(b"x" * (9 * MB) + b"\n" + path.read_bytes())
    res = audit_cli([log], key, "--format", "json", "--jobs", "1")
    assert res.code == 2, (res.code, res.err)
    assert "malformed" in {f["kind"] for f in res.doc["integrity"]["findings"]}


def test_the_daemon_starts_fast_on_a_hostile_newest_file(site: Callable[..., Path]) -> None:
    cfg, log, _key = _real_log(site)
    base = cfg.parent
    today = datetime.now(TZ).date().isoformat()
    hostile = log / f"signage-{today}.1.jsonl"
    with open(hostile, "wb") as fh:
        fh.write(b"x" * (100 * MB))  # a real 100 MB newline-free file (the newest)
    t0 = time.monotonic()
    p = signage_popen("run", "--config", str(cfg), "--for", "3s", cwd=base)
    part2 = log / f"signage-{today}.2.jsonl"
    while not (part2.exists() and b'"type":"run_start"' in part2.read_bytes()):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t0 < 30, "the daemon did not start within 30 s"
        time.sleep(0.05)
    started = time.monotonic() - t0
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    recs = [json.loads(x) for x in part2.read_bytes().splitlines()]
    torn = [r for r in recs if r["type"] == "torn_tail"]
    assert torn and torn[0]["file"] == hostile.name and torn[0]["length"] == 100 * MB
    assert hostile.stat().st_size == 100 * MB  # untouched
    report("hostile: daemon start on a 100 MB newline-free newest file",
           first_record_after_s=round(started, 2))


# ---- item 11: special files ---------------------------------------------------------------
def test_a_fifo_playlist_is_refused_by_validate_and_the_running_daemon(
        site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    fifo = base / "playlists" / "zz.toml"
    os.mkfifo(fifo)
    m = measured(["validate", "--config", str(cfg)], base, timeout=60)
    assert m.code == 1, (m.code, m.err)
    assert "zz.toml" in m.err and "FIFO" in m.err, m.err
    fifo.unlink()
    # no fixed sleeps: the FIFO appears once the daemon has shown something (its log says so),
    # and the daemon is stopped (SIGTERM, a clean stop) once it has logged the rejected reload
    # and kept heartbeating; every wait is a hang bound a loaded machine cannot reach
    p = signage_popen("run", "--config", str(cfg), "--for", "600s", cwd=base)

    def records() -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for f in (base / "log").glob("signage-*.jsonl"):
            for line in f.read_bytes().splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def wait_for(what: str, ok: Callable[[list[dict[str, object]]], bool]) -> None:
        deadline = time.monotonic() + 120
        while not ok(records()):
            assert p.poll() is None, f"the daemon ended while waiting for {what}"
            assert time.monotonic() < deadline, f"no {what} in 120 s"
            time.sleep(0.2)

    try:
        wait_for("first showing", lambda rs: any(r["type"] == "showing" for r in rs))
        os.mkfifo(fifo)  # appears while the daemon runs
        wait_for("rejected reload", lambda rs: any(
            r["type"] == "reload" and r.get("accepted") is False for r in rs))
        seen = len([r for r in records() if r["type"] == "heartbeat"])
        wait_for("4 heartbeats after the rejection",
                 lambda rs: len([r for r in rs if r["type"] == "heartbeat"]) >= seen + 4)
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert "reload rejected" in err and "zz.toml" in err and "FIFO" in err, err
    recs = records()
    assert recs[-1]["type"] == "run_stop", [r["type"] for r in recs]
    report("hostile: FIFO playlist", validate_s=round(m.seconds, 2),
           daemon="rejected the reload, kept heartbeating, stopped cleanly")


def test_a_playlist_symlinked_to_dev_zero_is_refused_without_reading_it(
        site: Callable[..., Path]) -> None:
    cfg = site()
    (cfg.parent / "playlists" / "zz.toml").symlink_to("/dev/zero")
    m = measured(["validate", "--config", str(cfg)], cfg.parent, timeout=60)
    assert m.code == 1 and "zz.toml" in m.err and "device" in m.err, (m.code, m.err)
    assert m.rss_mb < 300, f"peak RSS {m.rss_mb:.0f} MB"
    report("hostile: playlist -> /dev/zero (validate)", seconds=round(m.seconds, 2),
           peak_rss_mb=round(m.rss_mb))


def test_a_deeply_nested_array_is_a_problem_naming_the_file(site: Callable[..., Path]) -> None:
    cfg = site()
    deep = cfg.parent / "playlists" / "zz.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "utf-8")
    m = measured(["validate", "--config", str(cfg)], cfg.parent, timeout=60)
    assert m.code == 1, (m.code, m.err)
    assert "zz.toml" in m.err and "nested too deeply" in m.err and "internal" not in m.err, m.err


# ---- item 12: the smaller ones ------------------------------------------------------------
def test_torn_bytes_after_a_seal_are_damage(site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    r = signage_run("simulate", "--config", str(cfg), "--start", "2026-11-30 23:59",
                    "--for", "2m", "--log", "sim", cwd=base)
    assert r.returncode == 0, r.stderr
    first = sorted((base / "sim").glob("signage-*.jsonl"))[0]
    assert b'"type":"seal"' in first.read_bytes().splitlines()[-1]
    with open(first, "ab") as fh:
        fh.write(b'{"v":1,"seq":99999,"ty')
    res = audit_cli([base / "sim"], base / "sim" / "simulate.key", "--format", "json",
                    "--simulated")
    assert res.code == 2, (res.code, res.err)
    assert any(f["kind"] == "seal" and "follow the seal" in f["message"]
               for f in res.doc["integrity"]["findings"]), res.doc["integrity"]["findings"]


def test_a_key_file_that_is_a_directory_is_named_as_such(site: Callable[..., Path]) -> None:
    cfg = site()
    (cfg.parent / "site.key").mkdir()
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=cfg.parent)
    assert r.returncode == 3 and "is a directory" in r.stderr, r.stderr
    assert "accessible by group or others" not in r.stderr, r.stderr


def test_a_log_dir_that_is_a_file_names_the_config_field(site: Callable[..., Path]) -> None:
    cfg = site()
    (cfg.parent / "log").write_text("not a directory")
    r = signage_run("run", "--config", str(cfg), "--for", "1s", cwd=cfg.parent)
    assert r.returncode == 3 and "[log] dir" in r.stderr and "Errno" not in r.stderr, r.stderr


def test_control_and_bidi_characters_in_names_and_labels_are_refused(
        site: Callable[..., Path]) -> None:
    for old, new, field in (('name = "测试超市"', 'name = "测试\u202e超市"', "site.name"),
                            ('id = "s1"', 'id = "s1"\nlabel = "入口\x1b[31m"',
                             "screens[0].label")):
        cfg = site()
        text = cfg.read_text("utf-8")
        cfg.write_text(text.replace(old, new.replace("\x1b", "\\u001b"), 1), "utf-8")
        m = measured(["validate", "--config", str(cfg)], cfg.parent, timeout=60)
        assert m.code == 1 and field in m.err and "control or format" in m.err, (field, m.err)


def test_a_record_over_the_line_bound_is_never_written(tmp_path: Path) -> None:
    """The writer keeps the format's bound: a configuration record that would pass MAX_LINE
    (an enormous item catalogue) is refused whole, and the log stays readable."""
    from signage.playlog.format import MAX_LINE
    from signage.playlog.writer import LogWriter, RecordTooLong
    from signage.runtime.clock import RealClock

    w = LogWriter(tmp_path / "log", b"ab" * 32, TZ, RealClock(), run_id="r" * 12,
                  boot_id="test")
    w.open()
    try:
        w.append("run_start", items={"x": {"text": "长" * (MAX_LINE // 3 + 1)}})
    except RecordTooLong as exc:
        assert "16 MiB" in str(exc)
    else:
        raise AssertionError("a record over MAX_LINE was accepted")
    w.append("heartbeat", screens={})
    w.close()
    (path,) = (tmp_path / "log").glob("signage-*.jsonl")
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1 and b'"seq":0,"type":"heartbeat"' in lines[0]
