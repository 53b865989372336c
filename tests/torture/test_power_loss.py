"""Power loss: a real log cut at every byte offset inside its last three records, and a real
log with random bytes flipped. Start-up and the audit never crash; start-up never rewrites or
truncates what is on disk; a torn tail is tolerated, any other damage is an integrity break.

Every offset and every flip goes through the real start-up code (Runtime.setup: the log
writer finds the chain head, notes the torn tail, opens the next part; then run_stop) in this
process, and through the audit's own entry point; a sample also goes through a real
`signage run --for 1s` process and the `signage audit` command.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from signage.load import LoadedSite, load_site
from signage.runtime.clock import RealClock
from signage.runtime.daemon import RunSettings, Runtime
from tests.logtools import records

from .helpers import AuditOut, Timer, audit_api, audit_cli, log_files, report, signage_run

SEED = 77
FLIPS = 300
REAL_STARTS = 6  # sampled offsets / flips that also get a real `signage run --for 1s`


class Base:
    """A real log: `signage run --for 3s` on the scaled-down site, stopped cleanly."""

    def __init__(self, root: Path, cfg: Path) -> None:
        self.root = root
        self.cfg = cfg
        r = signage_run("run", "--config", str(cfg), "--for", "3s", cwd=cfg.parent)
        assert r.returncode == 0, r.stderr
        self.log = cfg.parent / "log"
        self.key = cfg.parent / "site.key"
        (self.file,) = log_files(self.log)
        self.data = self.file.read_bytes()
        self.loaded: LoadedSite = load_site(cfg)
        assert self.data.endswith(b"\n")
        nls = [i for i, b in enumerate(self.data) if b == 0x0A]
        assert len(nls) >= 6
        self.line_starts = [0] + [i + 1 for i in nls[:-1]]
        self.n = 0

    def damaged(self, data: bytes) -> Path:
        """A fresh copy of the log dir whose file holds ``data``."""
        self.n += 1
        d = self.root / f"case{self.n}"
        d.mkdir()
        (d / self.file.name).write_bytes(data)
        return d

    def start_up(self, log_dir: Path) -> Runtime:
        """The daemon's start-up on this log dir, in process, then a clean stop."""
        rt = Runtime(self.loaded, RealClock(threading.Event()),
                     RunSettings(log_dir=log_dir, key_file=self.key,
                                 run_dir=log_dir / "var", say=lambda _m: None))
        rt.setup()
        rt.stop_reason = "test"
        rt.finish()
        return rt


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    from tests.conftest import small_site

    root = tmp_path_factory.mktemp("power")
    site = root / "site"
    site.mkdir()
    return Base(root, small_site(site))


def _ok(res: AuditOut) -> None:
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    assert res.code in (0, 1, 2), (res.code, res.err)


def _files_after(log_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in log_files(log_dir)}


def _cut_offsets(base: Base) -> Iterator[int]:
    """Every offset from the start of the third-to-last record to the last byte: the file is
    cut there (bytes [0, offset) survive)."""
    first = base.line_starts[-3]
    yield from range(first, len(base.data))


def test_cut_at_every_offset_of_the_last_three_records(base: Base) -> None:
    boundaries = set(base.line_starts)
    offsets = list(_cut_offsets(base))
    torn = clean = 0
    with Timer() as t:
        for off in offsets:
            data = base.data[:off]
            is_torn = off not in boundaries
            d = base.damaged(data)
            # the audit of the damaged log: a torn tail is tolerated, a clean cut is a
            # shorter log (only an anchor can tell; see test_tamper)
            res = audit_api([d], base.key)
            _ok(res)
            doc = res.doc
            assert res.code != 2, (off, doc["integrity"]["findings"])
            f0 = doc["integrity"]["files"][0]
            if is_torn:
                torn += 1
                assert f0["torn_tail"] is not None, off
                assert f0["torn_tail"]["offset"] == data.rfind(b"\n") + 1, off
                assert f0["torn_tail"]["length"] == len(data) - data.rfind(b"\n") - 1
                assert "torn_tail" in {f["kind"] for f in doc["integrity"]["findings"]}
            else:
                clean += 1
                assert f0["torn_tail"] is None
            # start-up on it: never a crash, never a byte rewritten or cut
            rt = base.start_up(d)
            after = _files_after(d)
            assert after[base.file.name].startswith(data), f"start-up changed bytes at {off}"
            if is_torn:
                assert after[base.file.name] == data, "the torn bytes must stay untouched"
                assert len(after) == 2, sorted(after)  # writing went on in part .1
                assert rt.writer.path is not None and rt.writer.path.name.endswith(".1.jsonl")
            else:
                assert len(after) == 1
            recs = records(d, base.key)  # independent check: chain and seq continue
            assert recs[-1]["type"] == "run_stop"
            assert sum(r["type"] == "torn_tail" for r in recs) == is_torn
            res2 = audit_api([d], base.key)
            _ok(res2)
            assert res2.code in (0, 1), (off, res2.doc["integrity"]["findings"])
            assert res2.doc["integrity"]["findings"] == [], (off, res2.doc["integrity"])
            shutil.rmtree(d)
    report("power loss: cuts", offsets=len(offsets), torn_cuts=torn, clean_cuts=clean,
           file_bytes=len(base.data), seconds=round(t.s, 1))


def _flip(data: bytes, rng: random.Random, nbytes: int) -> tuple[bytes, list[int]]:
    """``nbytes`` bytes changed (XOR with a non-zero value) anywhere but the final newline
    (changing that one only makes the last record look torn: a torn tail, tolerated)."""
    buf = bytearray(data)
    where = rng.sample(range(len(data) - 1), nbytes)
    for i in where:
        buf[i] ^= rng.randrange(1, 256)
    return bytes(buf), where


def test_random_byte_flips_are_an_integrity_break(base: Base) -> None:
    rng = random.Random(SEED)
    codes: dict[int, int] = {}
    not_broken: list[tuple[list[int], int, str]] = []
    crashed: list[tuple[str, list[int], str]] = []
    with Timer() as t:
        for k in range(FLIPS):
            data, where = _flip(base.data, rng, 1 if k % 3 else rng.randint(2, 8))
            d = base.damaged(data)
            res = audit_api([d], base.key)
            codes[res.code] = codes.get(res.code, 0) + 1
            if "Traceback" in res.err or "internal error" in res.err:
                crashed.append(("audit", where, res.err.strip()[:300]))
            elif res.code != 2:
                not_broken.append((where, res.code, res.err.strip()[:200]))
            # start-up on it: never raises, never rewrites a byte
            try:
                base.start_up(d)
            except Exception as exc:
                crashed.append(("start-up", where, repr(exc)))
                continue
            after = _files_after(d)
            assert after[base.file.name].startswith(data), f"start-up changed bytes: {where}"
            res2 = audit_api([d], base.key)
            if "Traceback" in res2.err or "internal error" in res2.err:
                crashed.append(("audit after start-up", where, res2.err.strip()[:300]))
            elif res.code == 2:
                assert res2.code == 2, "damage found before a restart is still found after it"
            shutil.rmtree(d)
    report("power loss: flips", flipped_logs=FLIPS, audit_exit_codes=dict(sorted(codes.items())),
           not_reported_as_break=len(not_broken), crashes=len(crashed),
           seconds=round(t.s, 1))
    assert not crashed, (f"{len(crashed)} crashes on {FLIPS} damaged logs; first ones "
                         f"(where, flipped offsets, message): {crashed[:3]}")
    assert not not_broken, (
        f"{len(not_broken)} of {FLIPS} damaged logs were not reported as an integrity break "
        f"(exit 2): first ones (flipped offsets, exit, stderr): {not_broken[:3]}")


def test_damaged_time_in_the_last_record_is_a_break_not_a_crash(base: Base) -> None:
    """One byte of the last record's `wall` damaged (as by a bad sector): the audit must say
    "integrity broken" (exit 2), not stop with an internal error (exit 3)."""
    last = base.line_starts[-1]
    i = base.data.index(b'"wall":"', last) + len(b'"wall":"') + 1
    for bad in (b"X", b"\xbd"[:1], b"-"):
        data = base.data[:i] + bad + base.data[i + 1:]
        res = audit_api([base.damaged(data)], base.key)
        assert "internal error" not in res.err, res.err.strip()
        assert res.code == 2, (res.code, res.err)


def _suffix_bytes(base: Base, line: int) -> list[int]:
    """Offsets of the fixed bytes around a record's digest: `,"mac":"` and the closing `"}`."""
    start = base.line_starts[line]
    nl = base.data.index(b"\n", start)
    return [*range(nl - 74, nl - 66), nl - 2, nl - 1]


@pytest.mark.parametrize("which", ["middle", "last"])
def test_damaged_digest_frame_is_detected(base: Base, which: str) -> None:
    """A record whose `,"mac":"` or closing `"}` is damaged is no longer a record of the
    format (not even JSON), even though its 64 hex digits still verify: exit 2."""
    line = 3 if which == "middle" else len(base.line_starts) - 1
    missed = []
    for i in _suffix_bytes(base, line):
        data = base.data[:i] + (b"?" if base.data[i] != ord("?") else b"!") + base.data[i + 1:]
        res = audit_api([base.damaged(data)], base.key)
        if res.code != 2:
            missed.append((i - base.line_starts[line], chr(base.data[i]), res.code))
    assert not missed, f"damaged bytes not detected (offset in line, byte, exit): {missed}"


@pytest.mark.parametrize("damage", [
    ("invalid JSON in the items", b'"items":{', b'"items":['),
    ("invalid UTF-8 in a slogan", "凡是".encode(), b"\xff\xfe\xfd\xfc\xfb\xfa"),
    ("unknown timezone", b"Asia/Shanghai", b"Asia*Shanghai"),
    ("first line not shaped like a record", b'{"v":1,"seq":0,', b'{"v":1,"seq":0;'),
    ("opening hours unreadable", b'"default":["00:00-24:00"]', b'"default":["00:00-2\x14:00"]'),
    ("rule unreadable", b'"max_gap_s":3.0', b'"max_gap_s":"3"'),
])
def test_damaged_run_start_is_a_break_not_unreadable_input(
        base: Base, damage: tuple[str, bytes, bytes]) -> None:
    """The first record (run_start) damaged: the log is still a log (a dozen records verify
    after it); the damage is an integrity break (exit 2), not "unreadable input" (exit 3),
    which a caller takes for a wrong path or a missing file."""
    name, old, new = damage
    first_end = base.line_starts[1]
    assert base.data.index(old) < first_end
    data = base.data.replace(old, new, 1)
    res = audit_api([base.damaged(data)], base.key)
    assert "internal error" not in res.err, (name, res.err.strip())
    assert res.code == 2, (name, res.code, res.err.strip())


def _real_cases(base: Base) -> list[tuple[str, bytes]]:
    first = base.line_starts[-3]
    last = base.line_starts[-1]
    rng = random.Random(SEED + 1)
    cases = [("clean cut before the last record", base.data[:last]),
             ("torn: one byte of the last record", base.data[:last + 1]),
             ("torn: inside the mac of the last record", base.data[:len(base.data) - 20]),
             ("torn: all but the newline", base.data[:-1]),
             ("torn: middle of the third-to-last record",
              base.data[:(first + base.line_starts[-2]) // 2])]
    flipped, where = _flip(base.data, rng, 1)
    cases.append((f"flipped byte at {where[0]}", flipped))
    assert len(cases) == REAL_STARTS
    return cases


def test_real_start_up_on_damaged_logs(base: Base) -> None:
    """The same, through real processes: `signage run --for 1s` on the damaged log dir, then
    `signage audit`."""
    cases = _real_cases(base)

    def one(case: tuple[str, bytes]) -> tuple[str, bytes, Path, object, AuditOut]:
        name, data = case
        d = base.damaged(data)
        site = d / "site"
        site.mkdir()
        shutil.copy(base.cfg, site / "config.toml")
        shutil.copytree(base.cfg.parent / "playlists", site / "playlists")
        shutil.copytree(base.cfg.parent / "media", site / "media")
        shutil.copy(base.key, site / "site.key")
        (site / "log").mkdir()
        shutil.move(d / base.file.name, site / "log" / base.file.name)
        r = signage_run("run", "--config", str(site / "config.toml"), "--for", "1s", cwd=site)
        res = audit_cli([site / "log"], site / "site.key", "--format", "json")
        return name, data, site, r, res

    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(one, cases))
    for name, data, site, r, res in results:
        assert r.returncode == 0, (name, r.stderr)  # type: ignore[attr-defined]
        assert "Traceback" not in r.stderr, (name, r.stderr)  # type: ignore[attr-defined]
        _ok(res)
        after = _files_after(site / "log")
        assert after[base.file.name].startswith(data), name
        if name.startswith("flipped"):
            assert res.code == 2, (name, res.doc["integrity"]["findings"][:3])
        else:
            assert res.code in (0, 1), (name, res.doc["integrity"]["findings"][:3])
    report("power loss: real processes", damaged_logs_started=len(results))


SiteFactory = Callable[..., Path]
