"""Tamper: 1,000 random edits, deletions, insertions, reorderings and truncations of a real
log (made once with `signage simulate`, across local midnight: two files and a seal). Every
one must be detected: the audit exits 2, and a truncation fails the anchor taken before.

An edit keeps the record's digest (the tamperer has no key), or re-signs it with a guessed
key; an insertion duplicates a record or splices in a record from another log signed with
the *same* key (a replay); a reordering swaps records or whole files.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from signage.playlog import format as fmt

from .helpers import (
    AuditOut,
    Files,
    Timer,
    audit_api,
    audit_cli,
    copy_files,
    line_places,
    log_files,
    report,
    signage_run,
)

SEED = 1000
N = 1000
KINDS = ("edit", "delete", "insert", "reorder", "truncate")
ENC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))



class Base:
    def __init__(self, root: Path) -> None:
        from tests.conftest import small_site

        site = root / "site"
        site.mkdir()
        cfg = small_site(site)
        self.log = site / "simlog"
        r = signage_run("simulate", "--config", str(cfg), "--start", "2026-12-01 23:58:30",
                        "--for", "3m", "--log", str(self.log), cwd=site)
        assert r.returncode == 0, r.stderr
        self.key = self.log / "simulate.key"
        # a second log, signed with the same key: its records are valid lines, elsewhere
        other = site / "otherlog"
        other.mkdir()
        shutil.copy(self.key, other / "simulate.key")
        r = signage_run("simulate", "--config", str(cfg), "--start", "2026-12-01 23:58:30",
                        "--for", "1m", "--log", str(other), cwd=site)
        assert r.returncode == 0, r.stderr
        self.foreign = [ln for p in log_files(other) for ln in p.read_bytes().splitlines(True)]
        self.files: Files = [(p.name, p.read_bytes().splitlines(True)) for p in log_files(self.log)]
        assert len(self.files) == 2, [n for n, _ in self.files]
        assert self.files[0][1][-1].startswith(b'{"v":1,"seq":') and b'"type":"seal"' in \
            self.files[0][1][-1]
        self.root = root
        res = audit_cli([self.log], self.key, "--anchor")
        assert res.code == 0, res.err
        self.anchor = res.out.strip()
        res = audit_api([self.log], self.key)
        assert res.code in (0, 1) and res.doc["integrity"]["intact"], res.doc["integrity"]
        self.n = 0

    def write(self, files: Files) -> Path:
        self.n += 1
        d = self.root / f"t{self.n}"
        d.mkdir()
        for name, lines in files:
            (d / name).write_bytes(b"".join(lines))
        return d


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return Base(tmp_path_factory.mktemp("tamper"))


# ---- the tampers ---------------------------------------------------------------------------
def _reframe(line: bytes, rec: dict[str, object]) -> bytes:
    """The record re-serialised as the writer does, with the line's old digest kept."""
    mac = line.rstrip(b"\n")[-66:-2]
    return ENC.encode(rec)[:-1].encode() + b',"mac":"' + mac + b'"}\n'


def _field_edit(rng: random.Random, line: bytes) -> bytes | None:
    rec = json.loads(line)
    rec.pop("mac")
    choices: list[Callable[[], None]] = [
        lambda: rec.update(seq=rec["seq"] + rng.choice((-1, 1, 1000))),
        lambda: rec.update(mono=round(rec["mono"] + rng.choice((-5, 0.001, 30)), 3)),
        lambda: rec.update(wall=rec["wall"].replace(":", ";", 1)),
        lambda: rec.update(run="0" * 12),
    ]
    if rec["type"] == "showing":
        choices += [
            lambda: rec.update(anti_fraud=not rec["anti_fraud"]),
            lambda: rec.update(end_mono=round(rec["end_mono"] + 10, 3)),
            lambda: rec.update(outcome="completed" if rec["outcome"] != "completed"
                               else "failed"),
            lambda: rec.update(item="af0" if rec["item"] != "af0" else "af1"),
        ]
    elif rec["type"] == "heartbeat":
        choices.append(lambda: rec.update(screens={}))
    rng.choice(choices)()
    out = _reframe(line, rec)
    return out if out != line else None


def _resign(line: bytes, prev_mac: bytes, key: bytes) -> tuple[bytes, bytes]:
    body = line.rstrip(b"\n")[:-fmt.SUFFIX_LEN]
    mac = fmt.mac_of(key, prev_mac, body)
    return body + b',"mac":"' + mac + b'"}\n', mac


def tamper(rng: random.Random, base: Base, kind: str) -> tuple[Files, str, str | None]:
    """A tampered copy: (files, what was done, anchor to expect or None)."""
    files = copy_files(base.files)
    flat = line_places(files)
    n = len(flat)
    if kind == "edit":
        fi, li = flat[rng.randrange(n)]
        line = files[fi][1][li]
        how = rng.choice(("byte", "field", "field", "resign", "mac"))
        if how == "byte":
            pos = rng.randrange(len(line) - 1)
            b = bytearray(line)
            b[pos] ^= rng.randrange(1, 256)
            new = bytes(b)
        elif how == "field":
            new = _field_edit(rng, line) or line.replace(b'"v":1', b'"v":1 ', 1)
        elif how == "resign":  # edited, then signed with a guessed key on the real chain
            prev = (files[fi][1][li - 1] if li > 0 else
                    files[fi - 1][1][-1] if fi > 0 else b"0" * 64 + b'"}\n')
            prev_mac = prev.rstrip(b"\n")[-66:-2]
            edited = _field_edit(rng, line) or line
            new, _ = _resign(edited, prev_mac, secrets.token_hex(32).encode())
        else:
            new = line[:-67] + secrets.token_hex(32).encode() + b'"}\n'
        files[fi][1][li] = new
        if how == "byte":
            where = pos - len(line)  # from the end of the line (-1 is the newline)
            return files, f"edit/byte at {fi}:{li}, byte {where} ({line[pos:pos + 1]!r})", None
        return files, f"edit/{how} at {fi}:{li}", None
    if kind == "delete":
        # not record 0 (without run_start the log cannot be audited: exit 3, by contract)
        # and not up to the very end (that is a truncation, below)
        k = rng.choice((1, 1, 1, 2, 5))
        i = rng.randrange(1, n - k)
        gone = flat[i:i + k]
        for fi, li in sorted(gone, reverse=True):
            del files[fi][1][li]
        files = [(nm, ls) for nm, ls in files if ls]
        return files, f"delete {k} at {gone[0]}", None
    if kind == "insert":
        fi, li = flat[rng.randrange(1, n)]
        how = rng.choice(("duplicate", "replay", "forged"))
        if how == "duplicate":
            sf, sl = flat[rng.randrange(n)]
            line = files[sf][1][sl]
        elif how == "replay":
            line = rng.choice(base.foreign)
        else:  # a plausible new showing: a neighbour with seq and times moved
            sf, sl = flat[rng.randrange(n)]
            line = _field_edit(rng, files[sf][1][sl]) or files[sf][1][sl]
        files[fi][1].insert(li, line)
        return files, f"insert/{how} at {fi}:{li}", None
    if kind == "reorder":
        how = rng.choice(("swap", "swap", "adjacent", "move", "files"))
        if how == "files":
            (n0, l0), (n1, l1) = files
            return [(n0, l1), (n1, l0)], "reorder/swap files", None
        if how == "adjacent":
            i = rng.randrange(n - 1)
            j = i + 1
        else:
            i, j = sorted(rng.sample(range(n), 2))
        (fa, la), (fb, lb) = flat[i], flat[j]
        a, b = files[fa][1][la], files[fb][1][lb]
        if how == "move":  # take record i out, put it back after j
            del files[fa][1][la]
            fb2, lb2 = fb, lb - (1 if fa == fb else 0)
            files[fb2][1].insert(lb2 + 1, a)
        else:
            files[fa][1][la], files[fb][1][lb] = b, a
        return files, f"reorder/{how} {flat[i]}<->{flat[j]}", None
    # truncate: the tail cut off at a line, or inside one (a torn tail), checked with the
    # anchor an inspector took before
    k = rng.randrange(1, n - 1)
    keep = flat[:n - k]
    torn = rng.random() < 0.3
    out: Files = []
    for fi, (name, lines) in enumerate(files):
        mine = [lines[li] for f2, li in keep if f2 == fi]
        if mine:
            out.append((name, mine))
    if torn:
        cut = flat[n - k]
        out_line = files[cut[0]][1][cut[1]]
        part = out_line[:rng.randrange(1, len(out_line) - 1)]
        if out and out[-1][0] == files[cut[0]][0]:
            out[-1][1].append(part)
        else:
            out.append((files[cut[0]][0], [part]))
    return out, f"truncate {k} records{' + torn bytes' if torn else ''}", base.anchor


def test_a_thousand_tampers_are_all_detected(base: Base) -> None:
    rng = random.Random(SEED)
    by_kind: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    missed: list[tuple[str, int, str]] = []
    codes: Counter[int] = Counter()
    crashes = 0
    with Timer() as t:
        for i in range(N):
            kind = KINDS[i % len(KINDS)]
            files, what, anchor = tamper(rng, base, kind)
            if files == base.files:
                continue  # a no-op (cannot happen by construction; guarded anyway)
            d = base.write(files)
            res = audit_api([d], base.key, expect_anchor=anchor)
            by_kind[kind] += 1
            codes[res.code] += 1
            crashed = "internal error" in res.err
            if crashed:
                crashes += 1
            ok = res.code == 2 and not crashed
            if ok and anchor is not None:
                ok = res.doc["integrity"]["anchor"]["found"] is False
            if ok:
                detected[kind] += 1
            else:
                missed.append((what, res.code, _why(res)))
            shutil.rmtree(d)
    report("tamper", tampers=sum(by_kind.values()), detected=sum(detected.values()),
           by_kind={k: f"{detected[k]}/{by_kind[k]}" for k in KINDS},
           exit_codes=dict(sorted(codes.items())), audit_crashes=crashes,
           seconds=round(t.s, 1))
    assert not missed, (f"{len(missed)} of {sum(by_kind.values())} tampers not detected "
                        f"(what, exit, findings): {missed[:8]}")


def _why(res: AuditOut) -> str:
    try:
        return str([f["kind"] for f in res.doc["integrity"]["findings"]][:4])
    except (AssertionError, ValueError):
        return res.err.strip()[:160]


def test_truncation_without_an_anchor_is_invisible_by_design(base: Base) -> None:
    """The documented limit (docs/log-format.md): a tail cut at a record boundary leaves a
    valid chain; only the anchor shows it. This pins the contract the tamper test relies on."""
    files = copy_files(base.files)
    files[1] = (files[1][0], files[1][1][:-10])
    d = base.write(files)
    assert audit_api([d], base.key).code in (0, 1)
    res = audit_api([d], base.key, expect_anchor=base.anchor)
    assert res.code == 2 and res.doc["integrity"]["anchor"]["found"] is False
    assert "anchor" in res.breaking()


def test_tampers_through_the_command_with_parallel_jobs(base: Base) -> None:
    """A sample through `signage audit --jobs 2` as a real process: the same verdicts."""
    rng = random.Random(SEED + 1)
    for kind in KINDS:
        files, what, anchor = tamper(rng, base, kind)
        d = base.write(files)
        extra = ["--format", "json", "--jobs", "2"]
        if anchor is not None:
            extra += ["--expect-anchor", anchor]
        res = audit_cli([d], base.key, *extra)
        assert "Traceback" not in res.err, res.err
        assert res.code == 2, (what, res.code, _why(res))
        assert res.doc["verdict"] == "integrity_broken"
