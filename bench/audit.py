"""Benchmark: `signage audit` on a large generated log, with DuckDB as the yardstick.

    .venv/bin/python bench/audit.py --screens 50 --days 30          # >= 5 million records
    .venv/bin/python bench/audit.py --screens 5 --days 2 --keep /tmp/smalllog
    .venv/bin/python bench/audit.py --log-format 2 --keep /tmp/biglog2   # signed checkpoints
    .venv/bin/python bench/audit.py --log-format 2 --screens 4 --days 30 --month-only DIR

Generates a site log (50 screens x 30 days by default: anti-fraud slogans and store content
between 08:00 and 22:00, heartbeats every 30 s, a seal at each midnight, a few planned gaps
that break the 60 s rule) by writing lines with ``signage.playlog.format.encode`` directly (no
fsync per record). Then, on the same files, it times

* our audit (chain + HMAC verification and compliance, ``python -m signage.audit``) in a child
  process, with the child's peak RSS from ``resource.getrusage(RUSAGE_CHILDREN)``; with
  ``--log-format 2`` the log is format 2 (plain SHA-256 chain, a checkpoint signed by an
  Ed25519 key every 30 s of log time, before each seal and after run_stop) and the audit
  verifies it with ``--trust`` (public key only);
* DuckDB (``SET threads=1``) computing the per-screen maximum gap between anti-fraud showings
  with a LAG window over start/end per screen (no verification).

DuckDB is a bench-only dependency (``pip install duckdb``, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself is sys.path[0] and holds inspect.py, which would shadow the standard library's
# inspect (imported by dataclasses): take it out, put the project root in
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from signage.keys import SigningKey  # noqa: E402
from signage.playlog import format as fmt  # noqa: E402
from signage.playlog import v2  # noqa: E402

KEY = b"5f1c0de5" * 8
TZ = "Asia/Shanghai"
OPEN_S, CLOSE_S = 8 * 3600, 22 * 3600
HEARTBEAT_S = 30
AF_ITEMS = [(f"af-{i:02d}", cat) for i, cat in enumerate(
    ["冒充公检法", "刷单返利", "虚假投资", "冒充客服", "网络贷款", "冒充熟人", "虚假征信",
     "游戏交易"])]
STORE_ITEMS = [f"store-{i:02d}" for i in range(12)]


def _iso(epoch: float, tzinfo: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, tzinfo).isoformat(timespec="milliseconds")


def site_fields(screens: int) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for item, cat in AF_ITEMS:
        items[item] = {"playlist": "anti-fraud", "kind": "text", "anti_fraud": True,
                       "category": cat, "text": f"警惕{cat}诈骗，拨打96110咨询", "path": None}
    for item in STORE_ITEMS:
        items[item] = {"playlist": "store", "kind": "image", "anti_fraud": False,
                       "category": None, "text": None, "path": f"store/{item}.png"}
    return {
        "version": "0.1.0", "mode": "run",
        "site": {"id": "bench-site", "name": "基准测试店", "tz": TZ,
                 "contact": {"name": "王经理", "phone": "+86 10 1234 5678"}},
        "rule": {"max_gap_s": 60.0, "margin_s": 5.0, "measure": "end-to-start"},
        "hours": {"default": ["08:00-22:00"], "mon": None, "tue": None, "wed": None,
                  "thu": None, "fri": None, "sat": None, "sun": None, "exceptions": []},
        "screens": [{"id": f"screen-{i:03d}", "label": f"收银台 {i}", "driver": "led",
                     "width": 128, "height": 16} for i in range(screens)],
        "config_sha256": "0" * 64, "playlists_sha256": {"anti-fraud.toml": "1" * 64},
        "items": items,
    }


def day_events(day_epoch: float, screens: int, rng: random.Random,
               ) -> list[tuple[float, int, str, dict[str, Any]]]:
    """(wall, order, type, fields) of one day, unsorted. Times are epoch seconds."""
    ev: list[tuple[float, int, str, dict[str, Any]]] = []
    for t in range(0, 86400, HEARTBEAT_S):
        ev.append((day_epoch + t + 0.5, 0, "heartbeat", {}))
    for s in range(screens):
        sid = f"screen-{s:03d}"
        t = OPEN_S + rng.uniform(0.0, 5.0)
        bad_at = rng.uniform(OPEN_S, CLOSE_S)  # one planned gap that breaks the rule
        prev: tuple[str, str, bool, float] | None = None  # item, category, af, start
        af = True
        while True:
            if af:
                item, cat = AF_ITEMS[rng.randrange(len(AF_ITEMS))]
                dur = rng.uniform(8.0, 12.0)
            else:
                item, cat = STORE_ITEMS[rng.randrange(len(STORE_ITEMS))], ""
                dur = 75.0 if bad_at <= t < bad_at + 60 else rng.uniform(30.0, 45.0)
            if t + dur > CLOSE_S:
                break
            if prev is not None:
                ev.append((day_epoch + t, 1, "showing", {"_s": sid, "_p": prev, "_end": t}))
            ev.append((day_epoch + t, 2, "showing_start", {"_s": sid, "_i": item, "_af": af}))
            prev = (item, cat, af, t)
            t += dur
            af = not af
        if prev is not None:
            ev.append((day_epoch + t, 1, "showing", {"_s": sid, "_p": prev, "_end": t}))
        ev.append((day_epoch + t, 3, "screen_clear", {"screen": sid, "reason": "closing time"}))
    return ev


def generate(out: Path, screens: int, days: int, seed: int = 7,
             signer: SigningKey | None = None) -> int:
    """Write the log files; return the number of records. ``signer``: format 2."""
    out.mkdir(parents=True, exist_ok=True)
    tzinfo = ZoneInfo(TZ)
    rng = random.Random(seed)  # noqa: S311 (test data)
    first = date(2026, 10, 1)
    day0 = datetime.combine(first, datetime.min.time(), tzinfo).timestamp()
    mono0 = 5000.0
    head = {"v": 1 if signer is None else 2, "seq": 0, "type": "", "run": "b0b0b0b0b0b0",
            "boot": "6b1f3e2a-0000-4000-8000-00000000beef", "wall": "", "mono": 0.0}
    chain: Any = KEY if signer is None else fmt.PLAIN
    prev = fmt.GENESIS
    seq = 0
    last_cp = -1e300
    status = {f"screen-{s:03d}": {"item": None, "anti_fraud": False, "since_mono": None}
              for s in range(screens)}
    for d in range(days):
        day = first + timedelta(days=d)
        day_epoch = datetime.combine(day, datetime.min.time(), tzinfo).timestamp()
        path = out / f"signage-{day.isoformat()}.jsonl"
        buf: list[bytes] = []

        def emit(rtype: str, wall: float, fields: dict[str, Any],
                 buf: list[bytes] = buf) -> None:
            nonlocal prev, seq, last_cp
            if signer is not None and rtype == "seal":
                checkpoint(wall, "seal", buf)
            body = dict(head)
            body["seq"], body["type"] = seq, rtype
            body["wall"] = _iso(wall, tzinfo)
            body["mono"] = round(mono0 + wall - day0, 3)
            body.update(fields)
            line, prev = fmt.encode(chain, prev, body)
            buf.append(line)
            seq += 1
            if signer is not None and rtype != "seal" and (
                    wall - last_cp >= 30 or rtype == "run_stop"):
                checkpoint(wall, "run_stop" if rtype == "run_stop" else "interval", buf)

        def checkpoint(wall: float, reason: str, buf: list[bytes]) -> None:
            nonlocal prev, seq, last_cp
            assert signer is not None
            body = dict(head)
            body["seq"], body["type"] = seq, "checkpoint"
            body["wall"] = _iso(wall, tzinfo)
            body["mono"] = round(mono0 + wall - day0, 3)
            body.update(v2.checkpoint_fields(
                signer, site="bench-site", head_seq=seq - 1, head=prev.decode(),
                wall=body["wall"], mono=body["mono"], boot=str(head["boot"]), reason=reason))
            line, prev = fmt.encode(chain, prev, body)
            buf.append(line)
            seq += 1
            last_cp = wall

        if d == 0:
            emit("run_start", day_epoch, site_fields(screens))
        events = day_events(day_epoch, screens, rng)
        events.sort(key=lambda e: (e[0], e[1]))
        for wall, _o, rtype, f in events:
            mono = round(mono0 + wall - day0, 3)
            if rtype == "heartbeat":
                emit(rtype, wall, {"screens": status})
            elif rtype == "showing_start":
                status[f["_s"]] = {"item": f["_i"], "anti_fraud": f["_af"], "since_mono": mono}
                emit(rtype, wall, {"screen": f["_s"], "item": f["_i"], "anti_fraud": f["_af"],
                                   "planned": _iso(wall, tzinfo), "start": _iso(wall, tzinfo),
                                   "start_mono": mono})
            elif rtype == "showing":
                item, cat, af, start = f["_p"]
                s_epoch = day_epoch + start
                emit(rtype, wall, {
                    "screen": f["_s"], "item": item,
                    "playlist": "anti-fraud" if af else "store",
                    "kind": "text" if af else "image", "category": cat or None,
                    "anti_fraud": af, "planned": _iso(s_epoch, tzinfo),
                    "start": _iso(s_epoch, tzinfo), "end": _iso(wall, tzinfo),
                    "start_mono": round(mono0 + s_epoch - day0, 3), "end_mono": mono,
                    "outcome": "completed", "reason": ""})
            else:
                if rtype == "screen_clear":
                    status[f["screen"]] = {"item": None, "anti_fraud": False,
                                           "since_mono": None}
                emit(rtype, wall, f)
        if d + 1 < days:
            nxt = f"signage-{(day + timedelta(days=1)).isoformat()}.jsonl"
            emit("seal", day_epoch + 86400.0, {"next_file": nxt})
        else:
            emit("run_stop", day_epoch + 86399.0, {"reason": "duration reached"})
        with open(path, "wb") as fh:
            fh.write(b"".join(buf))
    return seq


def _rss_mb(ru_maxrss_kb: int) -> float:
    return ru_maxrss_kb / 1024.0


def run_audit(logdir: Path, keyfile: Path, jobs: int, pure: bool = False,
              trust: Path | None = None) -> tuple[float, float, float, dict[str, Any]]:
    """Run the audit in a child; (wall s, CPU s of the child and its workers, child peak RSS
    MB, JSON result). ``pure``: without the compiled scanner (SIGNAGE_PURE_PYTHON=1)."""
    env = dict(os.environ)
    if pure:
        env["SIGNAGE_PURE_PYTHON"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    keyarg = ["--key", str(keyfile)] if trust is None else ["--trust", str(trust)]
    proc = subprocess.run(
        [sys.executable, "-m", "signage.audit", str(logdir), *keyarg,
         "--format", "json", "--jobs", str(jobs)],
        capture_output=True, check=False, cwd=ROOT, env=env)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        raise SystemExit(f"audit failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN: the largest of all waited-for descendants (the audit
    # process and each of its workers), in KB
    return dt, cpu, _rss_mb(after.ru_maxrss), result


def run_duckdb(logdir: Path) -> tuple[float, float, dict[str, float]]:
    """The same per-screen maximum gap (end-to-start, inside 08:00-22:00, opening and closing
    edges included) with a LAG/LEAD window per screen and day. (wall s, CPU s, result)"""
    import duckdb  # bench-only dependency

    con = duckdb.connect()
    con.execute("SET threads=1")
    open_, close = f"{OPEN_S // 3600:02d}:00:00+08:00", f"{CLOSE_S // 3600:02d}:00:00+08:00"
    t0, c0 = time.perf_counter(), time.process_time()
    query = f"""
        WITH af AS (
            SELECT screen, substr(start, 1, 10) AS day, start_mono AS sm, end_mono AS em,
                   CAST(start AS TIMESTAMPTZ) AS st, CAST("end" AS TIMESTAMPTZ) AS et
            FROM read_json('{logdir}/signage-*.jsonl', format='newline_delimited',
                           columns={{type: 'VARCHAR', screen: 'VARCHAR', anti_fraud: 'BOOLEAN',
                                     outcome: 'VARCHAR', start: 'VARCHAR', "end": 'VARCHAR',
                                     start_mono: 'DOUBLE', end_mono: 'DOUBLE'}})
            WHERE type = 'showing' AND anti_fraud AND outcome <> 'failed'
        ), w AS (
            SELECT *, LAG(em) OVER (PARTITION BY screen, day ORDER BY sm) AS prev_em,
                      LEAD(sm) OVER (PARTITION BY screen, day ORDER BY sm) AS next_sm
            FROM af
        ), gaps AS (
            SELECT screen, CASE WHEN prev_em IS NULL
                THEN epoch(st) - epoch(CAST(day || ' {open_}' AS TIMESTAMPTZ))
                ELSE sm - prev_em END AS gap FROM w
            UNION ALL
            SELECT screen, epoch(CAST(day || ' {close}' AS TIMESTAMPTZ)) - epoch(et)
            FROM w WHERE next_sm IS NULL
        )
        SELECT screen, max(gap) FROM gaps GROUP BY screen ORDER BY screen
    """  # noqa: S608 (our own path and constants)
    rows = con.execute(query).fetchall()
    return (time.perf_counter() - t0, time.process_time() - c0,
            {str(s): float(g) for s, g in rows if g is not None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screens", type=int, default=50)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", type=Path, default=None,
                    help="generate into (or reuse) this directory instead of a temporary one")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--pure", action="store_true",
                    help="audit without the compiled scanner (SIGNAGE_PURE_PYTHON=1)")
    ap.add_argument("--log-format", type=int, choices=(1, 2), default=1,
                    help="2: signed checkpoints, audited with --trust (public key only)")
    ap.add_argument("--repeat", type=int, default=1, help="run the audit this many times")
    args = ap.parse_args()

    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="signage-bench-") if args.keep is None else None
    logdir = args.keep or Path(tmp.name if tmp else ".")
    stamp = logdir / ".bench-params"
    params = f"{args.screens}x{args.days} v{args.log_format}\n"
    keyfile = logdir.parent / f"{logdir.name}.key"
    trust = logdir.parent / f"{logdir.name}.trust.toml" if args.log_format == 2 else None
    if stamp.exists() and stamp.read_text() == params and keyfile.exists() and (
            trust is None or trust.exists()):
        records = int((logdir / ".bench-records").read_text())
        print(f"reusing {logdir}: {records:,} records")
    else:
        t0 = time.perf_counter()
        signer = SigningKey.generate() if trust is not None else None
        for old in logdir.glob("signage-*.jsonl"):
            old.unlink()
        records = generate(logdir, args.screens, args.days, signer=signer)
        keyfile.write_bytes(KEY + b"\n")
        keyfile.chmod(0o600)
        if trust is not None and signer is not None:
            trust.write_text(f'version = 1\n[[site]]\nid = "bench-site"\n  [[site.key]]\n'
                             f'  public = "{signer.public.text}"\n'
                             '  valid_from = 2026-01-01T00:00:00+08:00\n', "utf-8")
        stamp.write_text(params)
        (logdir / ".bench-records").write_text(str(records))
        print(f"generated {records:,} records in {time.perf_counter() - t0:.1f} s")
    size = sum(p.stat().st_size for p in logdir.glob("signage-*.jsonl"))
    print(f"log: {args.screens} screens x {args.days} days, {size / 1e6:,.0f} MB")

    from signage.audit.scan import compiled_available

    scanner = "pure Python" if args.pure or not compiled_available() else "compiled"
    for _ in range(args.repeat):
        dt, cpu, rss, result = run_audit(logdir, keyfile, args.jobs, args.pure, trust)
        ours = {s["screen"]: s["max_gap_s"] for s in result["screens"]}
        sig = result["integrity"].get("signatures")
        print(f"signage audit (format {args.log_format}, --jobs {args.jobs}, {scanner} "
              f"scanner): {dt:.2f} s wall, {cpu:.2f} s CPU, "
              f"{records / dt:,.0f} records/s, peak RSS {rss:.1f} MB, "
              f"verdict {result['verdict']}, integrity intact: "
              f"{result['integrity']['intact']}"
              + (f", {sig['checkpoints']:,} checkpoints, {sig['signatures_verified']:,} "
                 "signatures verified" if sig else ""))
    if not args.skip_duckdb:
        ddt, dcpu, theirs = run_duckdb(logdir)
        print(f"duckdb (threads=1, LAG/LEAD window, no verification): {ddt:.2f} s wall, "
              f"{dcpu:.2f} s CPU, {records / ddt:,.0f} records/s")
        print(f"ratio ours/duckdb: {dt / ddt:.2f} (wall), {cpu / dcpu:.2f} (CPU)")
        worst = max(abs(ours.get(s, -1.0) - g) for s, g in theirs.items())
        print(f"per-screen maximum gap, largest difference ours vs duckdb: {worst:.3f} s")
    if tmp is not None:
        tmp.cleanup()
        keyfile.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
