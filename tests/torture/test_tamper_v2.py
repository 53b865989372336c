"""Tamper, log format 2: 1,000 tampers of a real signed log (made with `signage simulate`
across local midnight: two files, a seal, checkpoints every 30 s), each detected with the
right cause by `signage audit --trust` (public keys only).

Format 2's chain is plain SHA-256: anyone can recompute it, so the tamperer here does (the
"re-chained" variants): edits, deletions and insertions with every digest, sequence number
and checkpoint head made consistent again. Those must be caught by the signatures. Without
the box's key the tamperer can only re-sign with another key (caught: key not trusted). With
the box's key (the site manager) a regenerated log verifies, and only a witness taken
earlier catches it; so does a cut tail. Replays splice in another day's log signed by the
same key.

Expected causes (the breaking findings must include one of them):
- edits, deletions, insertions, reorderings as bytes (no re-chaining): the chain itself
  (digest, malformed, sequence, missing, seal);
- the same, re-chained: signature or checkpoint (a head that is not the previous digest);
- re-signed with another key: signature;
- another day's file replayed: the chain (sequence, missing, digest, seal);
- truncated (with the last checkpoint witnessed): witness;
- regenerated with the box's own key (one checkpoint witnessed): witness, and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from signage.keys import SigningKey, load_signing_key
from signage.playlog import v2

from .helpers import Files, Timer, copy_files, line_places, log_files, report, signage_run

SEED = 1212
N = 1000
KINDS = ("edit", "delete", "insert", "reorder", "truncate", "resign", "replay", "regenerate")
CHAIN = {"digest", "malformed", "sequence", "missing", "seal", "wrong_key"}
SIGNED = {"signature", "checkpoint"}


def _compact(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))[:-1].encode()


class Base:
    def __init__(self, root: Path) -> None:
        from tests.conftest import small_site

        site = root / "site"
        site.mkdir()
        cfg = small_site(site)
        cfg.write_text(cfg.read_text("utf-8").replace("[log]\n", "[log]\nformat = 2\n", 1),
                       "utf-8")
        self.log = site / "simlog"
        r = signage_run("simulate", "--config", str(cfg), "--start", "2026-12-01 23:58:30",
                        "--for", "3m", "--log", str(self.log), cwd=site)
        assert r.returncode == 0, r.stderr
        self.key = load_signing_key(self.log / "simulate-signing.key")
        other = site / "otherlog"  # another day, the same box key
        other.mkdir()
        shutil.copy(self.log / "simulate-signing.key", other / "simulate-signing.key")
        r = signage_run("simulate", "--config", str(cfg), "--start", "2026-12-05 10:00",
                        "--for", "2m", "--log", str(other), cwd=site)
        assert r.returncode == 0, r.stderr
        self.other: Files = [(p.name, p.read_bytes().splitlines(True)) for p in log_files(other)]
        self.files: Files = [(p.name, p.read_bytes().splitlines(True))
                             for p in log_files(self.log)]
        assert len(self.files) == 2 and b'"type":"seal"' in self.files[0][1][-1]
        self.trust = root / "trust.toml"
        self.trust.write_text(
            f'version = 1\n[[site]]\nid = "test-site"\n  [[site.key]]\n'
            f'  public = "{self.key.public.text}"\n  valid_from = 2026-01-01T00:00:00+08:00\n',
            "utf-8")
        cps = [(fi, li) for fi, (_n, ls) in enumerate(self.files) for li, ln in enumerate(ls)
               if b'"type":"checkpoint"' in ln]
        assert len(cps) >= 6, len(cps)
        self.checkpoints = cps
        # the inspector's witnesses: the last checkpoint (`signage checkpoint` at the end)
        r = signage_run("checkpoint", "--log", str(self.log), "--key",
                        str(self.log / "simulate-signing.key"), "--trust", str(self.trust),
                        cwd=site)
        assert r.returncode == 0, r.stderr
        self.w_last = root / "w-last.jsonl"
        self.w_last.write_text(r.stdout, "utf-8")
        fi, li = cps[len(cps) // 2]  # and one in the middle (the hub's copy, say)
        self.w_mid = root / "w-mid.jsonl"
        self.w_mid.write_text(json.dumps({"received": "x", "line": self.files[fi][1][li]
                                          .decode().strip()}) + "\n", "utf-8")
        self.mid_flat = sum(len(ls) for _n, ls in self.files[:fi]) + li
        self.root = root
        self.n = 0
        code, doc, err = self.audit(self.log, [self.w_last, self.w_mid])
        assert code in (0, 1) and doc["integrity"]["intact"], (err, doc["integrity"])

    def write(self, files: Files) -> Path:
        self.n += 1
        d = self.root / f"t{self.n}"
        d.mkdir()
        for name, ls in files:
            (d / name).write_bytes(b"".join(ls))
        return d

    def audit(self, d: Path, witness: list[Path]) -> tuple[int, dict[str, Any], str]:
        from signage.audit.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([d], format_="json", trust=self.trust, witness=witness, jobs="1",
                        simulated=True)  # a `signage simulate` log: judged by its figures
        doc = json.loads(out.getvalue()) if out.getvalue().strip() else {}
        return code, doc, err.getvalue()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return Base(tmp_path_factory.mktemp("tamper2"))


def rechain(files: Files, *, renumber: bool = False, signer: SigningKey | None = None,
            keep_key_id: bool = False) -> Files:
    """Make every digest (and checkpoint head) consistent again, as anyone can in format 2;
    ``renumber``: sequence numbers too; ``signer``: re-sign every checkpoint (with the key
    id of ``signer``, or the original key id when ``keep_key_id``)."""
    prev = b"0" * 64
    seq = 0
    out: Files = []
    for name, ls in files:
        new = []
        for ln in ls:
            try:
                rec = json.loads(ln)
                rec.pop("mac")
            except (ValueError, KeyError, AttributeError, TypeError):
                new.append(ln)
                continue
            if renumber:
                rec["seq"] = seq
            seq = (rec["seq"] if isinstance(rec.get("seq"), int) else seq) + 1
            if rec.get("type") == "checkpoint":
                rec["head"] = prev.decode()
                rec["head_seq"] = rec["seq"] - 1
                if signer is not None:
                    key_id = rec["key"]
                    rec.update(v2.checkpoint_fields(
                        signer, site=rec["site"], head_seq=rec["head_seq"], head=rec["head"],
                        wall=rec["wall"], mono=rec["mono"], boot=rec["boot"],
                        reason=rec["reason"]))
                    if keep_key_id:
                        rec["key"] = key_id
            prefix = _compact(rec)
            prev = hashlib.sha256(prev + prefix).hexdigest().encode()
            new.append(prefix + b',"mac":"' + prev + b'"}\n')
        out.append((name, new))
    return out


def _edit_field(rng: random.Random, line: bytes) -> bytes:
    rec = json.loads(line)
    mac = rec.pop("mac")
    t = rec["type"]
    if t == "showing":
        rng.choice([lambda: rec.update(anti_fraud=not rec["anti_fraud"]),
                    lambda: rec.update(end_mono=round(rec["end_mono"] + 10, 3)),
                    lambda: rec.update(item=rec["item"] + "x")])()
    elif t == "checkpoint":
        rng.choice([lambda: rec.update(wall=rec["wall"].replace("2026", "2027", 1)),
                    lambda: rec.update(mono=round(rec["mono"] + 1, 3)),
                    lambda: rec.update(site="other-site")])()
    else:
        rng.choice([lambda: rec.update(mono=round(rec["mono"] + 0.5, 3)),
                    lambda: rec.update(run="0" * 12)])()
    return _compact(rec) + b',"mac":"' + mac.encode() + b'"}\n'


def tamper(rng: random.Random, base: Base, kind: str) -> tuple[Files, str, set[str], list[Path]]:
    """(files, what was done, the causes one of which must be found, witnesses to pass)."""
    files = copy_files(base.files)
    flat = line_places(files)
    n = len(flat)
    if kind == "edit":
        fi, li = flat[rng.randrange(n)]
        line = files[fi][1][li]
        how = rng.choice(("byte", "field", "mac", "field-rechained", "field-rechained"))
        if how == "byte":
            b = bytearray(line)
            pos = rng.randrange(len(line) - 1)
            b[pos] ^= rng.randrange(1, 256)
            files[fi][1][li] = bytes(b)
        elif how == "mac":
            files[fi][1][li] = line[:-67] + hashlib.sha256(line).hexdigest().encode() + b'"}\n'
        else:
            files[fi][1][li] = _edit_field(rng, line)
        if how == "field-rechained":
            return rechain(files), f"edit/{how} at {fi}:{li}", SIGNED, []
        return files, f"edit/{how} at {fi}:{li}", CHAIN, []
    if kind == "delete":
        k = rng.choice((1, 1, 2, 5))
        i = rng.randrange(1, n - k)
        for fi, li in sorted(flat[i:i + k], reverse=True):
            del files[fi][1][li]
        files = [(nm, ls) for nm, ls in files if ls]
        if rng.random() < 0.5:
            return (rechain(files, renumber=True), f"delete {k} at {flat[i]}, re-chained",
                    SIGNED, [])
        return files, f"delete {k} at {flat[i]}", CHAIN, []
    if kind == "insert":
        fi, li = flat[rng.randrange(1, n)]
        sf, sl = flat[rng.randrange(n)]
        how = rng.choice(("duplicate", "replay", "forged-rechained"))
        if how == "replay":
            of = rng.choice(base.other)[1]
            files[fi][1].insert(li, rng.choice(of))
        elif how == "duplicate":
            files[fi][1].insert(li, files[sf][1][sl])
        else:
            src = files[sf][1][sl]
            files[fi][1].insert(li, _edit_field(rng, src) if b'"type":"seal"' not in src
                                else src)
            return (rechain(files, renumber=True), f"insert/{how} at {fi}:{li}", SIGNED, [])
        return files, f"insert/{how} at {fi}:{li}", CHAIN, []
    if kind == "reorder":
        how = rng.choice(("swap", "adjacent", "move"))
        i = rng.randrange(1, n - 1)
        j = i + 1 if how == "adjacent" else rng.randrange(1, n)
        if i == j:
            j = i + 1
        (fa, la), (fb, lb) = flat[min(i, j)], flat[max(i, j)]
        a, b = files[fa][1][la], files[fb][1][lb]
        if a == b:
            a = files[fa][1][la] = _edit_field(rng, a)
        if how == "move":
            del files[fa][1][la]
            files[fb][1].insert(lb - (1 if fa == fb else 0) + 1, a)
        else:
            files[fa][1][la], files[fb][1][lb] = b, a
        files = [(nm, ls) for nm, ls in files if ls]
        return files, f"reorder/{how} {flat[i]}<->{flat[j]}", CHAIN, []
    if kind == "truncate":
        k = rng.randrange(1, n - 1)
        keep = flat[:n - k]
        out: Files = []
        for fi, (name, ls) in enumerate(files):
            mine = [ls[li] for f2, li in keep if f2 == fi]
            if mine:
                out.append((name, mine))
        if rng.random() < 0.3:  # and torn bytes
            cf, cl = flat[n - k]
            part = files[cf][1][cl][:rng.randrange(1, len(files[cf][1][cl]) - 1)]
            if out and out[-1][0] == files[cf][0]:
                out[-1][1].append(part)
            else:
                out.append((files[cf][0], [part]))
        return out, f"truncate {k}", {"witness"}, [base.w_last]
    if kind == "resign":
        fi, li = flat[rng.randrange(1, n)]
        files[fi][1][li] = _edit_field(rng, files[fi][1][li])
        thief = SigningKey.generate()
        keep = rng.random() < 0.5
        return (rechain(files, signer=thief, keep_key_id=keep),
                f"resign ({'same key id' if keep else 'own key id'}) after {fi}:{li}",
                {"signature"}, [])
    if kind == "replay":
        how = rng.choice(("replace", "append", "prepend"))
        if how == "replace":
            files[1] = (files[1][0], list(base.other[0][1]))
        elif how == "append":
            files.append(("signage-2026-12-03.jsonl", list(base.other[0][1])))
        else:
            files.insert(0, ("signage-2026-11-30.jsonl", list(base.other[0][1])))
        return files, f"replay/{how} another day's file", CHAIN, []
    # regenerate with the box's own key: an edit before the witnessed checkpoint
    i = rng.randrange(1, base.mid_flat)
    fi, li = flat[i]
    files[fi][1][li] = _edit_field(rng, files[fi][1][li])
    return (rechain(files, signer=base.key), f"regenerate with the real key, edit at {fi}:{li}",
            {"witness"}, [base.w_mid])


def test_a_thousand_v2_tampers_are_detected_with_the_right_cause(base: Base) -> None:
    rng = random.Random(SEED)  # noqa: S311 (reproducible tampers, not cryptography)
    by_kind: Counter[str] = Counter()
    ok_kind: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    missed: list[tuple[str, int, list[str]]] = []
    with Timer() as t:
        for i in range(N):
            kind = KINDS[i % len(KINDS)]
            files, what, want, witness = tamper(rng, base, kind)
            assert files != base.files, what
            d = base.write(files)
            code, doc, err = base.audit(d, witness)
            by_kind[kind] += 1
            codes[code] += 1
            found = sorted({f["kind"] for f in doc.get("integrity", {}).get("findings", [])
                            if f["breaks"]} | set(
                k for k, _n in doc.get("integrity", {}).get("finding_counts", {}).items()
                if k in CHAIN | SIGNED | {"witness", "unsigned"}))
            good = code == 2 and "internal error" not in err and bool(set(found) & want)
            if kind == "regenerate":
                good = good and set(found) == {"witness"}  # it verifies everywhere else
            if good:
                ok_kind[kind] += 1
            else:
                missed.append((what, code, found or [err.strip()[:120]]))
            shutil.rmtree(d)
    report("tamper_v2", tampers=sum(by_kind.values()), detected=sum(ok_kind.values()),
           by_kind={k: f"{ok_kind[k]}/{by_kind[k]}" for k in KINDS},
           exit_codes=dict(sorted(codes.items())), seconds=round(t.s, 1))
    assert not missed, f"{len(missed)} of {N} not detected with the right cause: {missed[:8]}"
