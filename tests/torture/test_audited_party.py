"""The audited party must not be able to pass (issue 11, items 1 and 2): a forged first
record of a partial log, and a yardstick taken from the audited configuration. Real daemons
write the logs; the attacks edit the files as a site manager without the key could."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from .helpers import audit_here as audit_cli
from .helpers import report, signage_popen, signage_run

TRUST = """version = 1

[[site]]
id = "test-site"
  [site.profile]
  timezone = "Asia/Shanghai"
  max_gap_s = {gap}
  measure = "end-to-start"
  screens = [{screens}]
  hours = {{ default = ["00:00-24:00"] }}
"""



def _trust(path: Path, gap: float = 10, screens: str = '"s1"') -> Path:
    path.write_text(TRUST.format(gap=gap, screens=screens), "utf-8")
    return path


def _forge(rec: dict[str, object], mac: str) -> bytes:
    """A record line with a claimed digest, as an editor without the key writes it."""
    body = {k: v for k, v in rec.items() if k != "mac"}
    prefix = json.dumps(body, ensure_ascii=False, separators=(",", ":"))[:-1]
    return (prefix + ',"mac":"' + mac + '"}\n').encode()


def _two_runs(site: Callable[..., Path]) -> tuple[Path, Path, list[bytes]]:
    """Two real runs with a pause longer than the rule between them (a real violation)."""
    cfg = site(max_gap=3.0, margin=0.5)
    base = cfg.parent
    for i in range(2):
        r = signage_run("run", "--config", str(cfg), "--for", "2s", cwd=base)
        assert r.returncode == 0, r.stderr
        if i == 0:
            time.sleep(5)
    files = sorted((base / "log").glob("signage-*.jsonl"))
    lines = b"".join(p.read_bytes() for p in files).splitlines(keepends=True)
    return base, base / "site.key", lines


def test_a_forged_first_record_of_a_partial_log_never_sets_the_yardstick(
        site: Callable[..., Path], tmp_path: Path) -> None:
    base, key, lines = _two_runs(site)
    recs = [json.loads(x) for x in lines]
    stops = [i for i, r in enumerate(recs) if r["type"] == "run_stop"]
    assert len(stops) == 2
    j = 3  # older records removed; the new first line is rewritten, seq and mac kept
    orig = recs[j]
    forged = dict(recs[0])
    for k in ("seq", "run", "boot", "wall", "mono"):
        forged[k] = orig[k]
    today = date.fromisoformat(str(orig["wall"])[:10])
    forged["hours"] = {"default": ["00:00-24:00"], "exceptions": [
        {"date": today.isoformat(), "to": (today + timedelta(days=365)).isoformat(),
         "closed": True, "open": [], "note": ""}]}
    log = tmp_path / "partial"
    log.mkdir()
    name = sorted((base / "log").glob("signage-*.jsonl"))[0].name
    (log / name).write_bytes(_forge(forged, str(orig["mac"])) + b"".join(lines[j + 1:]))
    anchor = f"{name}:{recs[stops[0]]['seq']}:{recs[stops[0]]['mac']}"  # taken before
    cases = {"plain": (), "--from": ("--from", str(orig["wall"])[:23]),
             "--expect-anchor": ("--expect-anchor", anchor)}
    for what, extra in cases.items():
        res = audit_cli([log], key, "--format", "json", *extra)
        doc = res.doc
        assert res.code == 1, (what, res.code, res.err)  # the pause is a violation
        assert doc["integrity"]["intact"] is False and doc["integrity"]["state"] == "partial"
        assert doc["integrity"]["unverified"] == [
            {"file": name, "line": 1, "seq": orig["seq"], "type": "run_start"}], what
        assert any(f["kind"] == "partial_start" and "cannot be verified" in f["message"]
                   for f in doc["integrity"]["findings"]), what
        assert any(v["cause"] == "daemon_not_running" for v in doc["violations"]), what
    # the table says plainly that the log is verified only from the next record on
    res = audit_cli([log], key)
    assert f"verified from seq {orig['seq'] + 1} on" in res.out, res.out
    # the forged record as the only run_start: the site is unknown (exit 3), never compliant
    only = tmp_path / "only"
    only.mkdir()
    (only / name).write_bytes(_forge(forged, str(orig["mac"]))
                              + b"".join(lines[j + 1:stops[0] + 1]))
    res = audit_cli([only], key)
    assert res.code == 3 and "cannot be checked" in res.err, (res.code, res.err)
    # with the site's registered profile it is judged against that instead
    res = audit_cli([only], key, "--format", "json", "--trust",
                    str(_trust(tmp_path / "trust.toml", gap=3)))
    assert res.code in (1, 5) and res.doc["yardstick"] == "profile", res.err
    assert res.doc["integrity"]["state"] == "partial"  # never "intact", never exit 0
    report("audit: forged first record of a partial log", verdict_before="compliant (exit 0)",
           verdict_now="violations (exit 1), first record not used")


def _edit(cfg: Path, old: str, new: str) -> None:
    text = cfg.read_text("utf-8")
    assert old in text, old
    cfg.write_text(text.replace(old, new, 1), "utf-8")


def test_the_registered_profile_is_the_yardstick_and_every_change_is_listed(
        site: Callable[..., Path], tmp_path: Path) -> None:
    cfg = site(max_gap=10.0, margin=1.0)
    base = cfg.parent
    two = cfg.read_text("utf-8") + ('\n[[screens]]\nid = "s2"\ndriver = "simulator"\n'
                                    'width = 320\nheight = 180\nplaylists = ["af", "store"]\n'
                                    'options = { kind = "hdmi" }\n')
    cfg.write_text(two, "utf-8")
    r = signage_run("run", "--config", str(cfg), "--for", "2s", cwd=base)
    assert r.returncode == 0, r.stderr
    # a restart without s2 and with a lax rule, then a live reload that closes the site
    cfg.write_text(two[:two.rindex("[[screens]]")], "utf-8")
    _edit(cfg, "max_gap_s = 10.0", "max_gap_s = 3600")
    p = signage_popen("run", "--config", str(cfg), "--for", "14s", cwd=base)
    time.sleep(9)
    today = datetime.now().astimezone().date()
    _edit(cfg, '[hours]\ndefault = ["00:00-24:00"]',
          '[hours]\ndefault = ["00:00-24:00"]\nexceptions = [{ date = '
          f'{today - timedelta(days=1)}, to = {today + timedelta(days=2)}, closed = true }}]')
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "reload accepted" in err, err
    log, key = base / "log", base / "site.key"
    # without a profile: every change, with its effect
    res = audit_cli([log], key, "--format", "json")
    changes = res.doc["config_changes"]
    whats = {c["what"] for c in changes}
    assert {"max_gap_s", "screens", "hours"} <= whats, changes
    eff = {c["what"]: c["effect"] for c in changes}
    assert "3600 s instead of 10 s" in eff["max_gap_s"]
    assert "not judged from then on: s2" in eff["screens"]
    assert "opening time judged from then to the end of the period" in eff["hours"]
    assert any("changed 3 times" in w or "changed" in w for w in res.doc["warnings"])
    # with it: judged against the profile, every difference flagged, s2 still judged
    trust = _trust(tmp_path / "trust.toml", gap=10, screens='"s1", "s2"')
    res = audit_cli([log], key, "--format", "json", "--trust", str(trust))
    doc = res.doc
    assert res.code == 1, (res.code, res.err)
    assert doc["rule"]["source"] == "profile" and doc["rule"]["max_gap_s"] == 10
    diffs = {(c["seq"], c["what"]) for c in doc["config_changes"]}
    assert {w for _s, w in diffs} >= {"max_gap_s", "screens", "hours"}, diffs
    s2 = next(s for s in doc["screens"] if s["screen"] == "s2")
    assert s2["violations"] >= 1, doc["screens"]
    res = audit_cli([log], key, "--trust", str(trust))
    assert "Differences from the registered profile" in res.out, res.out
    report("audit: yardstick", changes_listed=len(changes),
           with_profile=f"exit {doc['exit_code']}, s2 violations {s2['violations']}")


def test_a_log_that_ends_before_now_or_before_to_is_said_to(tmp_path: Path,
                                                             site: Callable[..., Path]) -> None:
    cfg = site(max_gap=10.0, margin=1.0)
    base = cfg.parent
    start = (datetime.now() - timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    r = signage_run("simulate", "--config", str(cfg), "--start", start, "--for", "10m",
                    "--log", "simlog", cwd=base)
    assert r.returncode == 0, r.stderr
    key = base / "simlog" / "simulate.key"
    res = audit_cli([base / "simlog"], key, "--format", "json", "--simulated")
    assert res.code == 0, res.err
    assert any("before now" in w and "--to" in w for w in res.doc["warnings"]), \
        res.doc["warnings"]
    res = audit_cli([base / "simlog"], key, "--format", "json", "--to", "now",
                    "--simulated")
    assert res.code == 1
    assert any("before --to" in w for w in res.doc["warnings"]), res.doc["warnings"]
