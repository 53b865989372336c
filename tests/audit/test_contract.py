"""The log contract's compatibility rule (docs/log-format.md, "Compatibility"): within a format
version a reader tolerates record types it does not know and keys it does not know after a
record's known keys. The audit reads past both, in format 1 and 2, without crashing, and
never credits an unknown record: a record of a new type that claims an anti-fraud showing
covers no gap, and a known showing with a trailing new key is credited as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signage.keys import SigningKey

from .logkit import DAY0, KEY, Daemon, FakeClock, audit, site, trust_file

SIGNER = SigningKey.generate()


def _log(d: Path, fmt: int) -> None:
    clock = FakeClock(DAY0 + 9 * 3600)
    dm = Daemon(d, clock, site(), signing=SIGNER if fmt == 2 else None)
    t = clock.mono
    dm.showing("s1", "af1", True, t, t + 10)
    dm.showing("s1", "af1", True, t + 40, t + 50)
    # a record type this reader does not know, claiming an anti-fraud showing over the gap
    dm.append(t + 120, "showing_v9", screen="s1", item="af1", anti_fraud=True,
              outcome="completed", start=dm.iso(t + 55), end=dm.iso(t + 120),
              start_mono=round(t + 55, 3), end_mono=round(t + 120, 3))
    dm.append(t + 130, "future_note", detail={"nested": [1, 2, {"x": None}]})
    # a known record with a key this reader does not know, after its known keys
    dm.append(t + 160, "showing", screen="s1", item="af1", playlist="af", kind="text",
              category="冒充客服", anti_fraud=True, planned=dm.iso(t + 150),
              start=dm.iso(t + 150), end=dm.iso(t + 160), start_mono=round(t + 150, 3),
              end_mono=round(t + 160, 3), outcome="completed", reason="",
              seen_by={"camera": "c1"})
    dm.showing("s1", "af1", True, t + 200, t + 210)
    dm.showing("s1", "af1", True, t + 240, t + 250)
    dm.stop(t + 260)


@pytest.mark.parametrize("fmt", [1, 2])
def test_unknown_types_and_trailing_keys_are_read_past_and_never_credited(
        tmp_path: Path, fmt: int) -> None:
    d = tmp_path / "log"
    _log(d, fmt)
    raw = "".join(p.read_text("utf-8") for p in sorted(d.glob("signage-*.jsonl")))
    assert '"type":"showing_v9"' in raw and '"seen_by":' in raw
    assert {json.loads(ln)["v"] for ln in raw.splitlines()} == {fmt}
    args: list[Any] = [d]
    if fmt == 2:
        args += ["--trust", trust_file(tmp_path / "trust.toml", "shop-7", SIGNER.public)]
    for out_fmt in ("table", "csv"):
        code, _out, err = audit(*args, "--format", out_fmt, key=None if fmt == 2 else
                                KEY, tmp=tmp_path)
        assert code == 1, err
    code, out, err = audit(*args, "--format", "json", "--report", tmp_path / "r.html",
                           key=None if fmt == 2 else KEY, tmp=tmp_path)
    doc = json.loads(out)
    assert doc["integrity"]["intact"], doc["integrity"]["findings"]
    assert doc["integrity"]["format_versions"] == [fmt]
    # one violation: the 100 s between the showing that ended at +50 and the one that began
    # at +150 (the unknown record's claim covers none of it; the showing with a trailing key
    # ends the gap, so it was read and credited)
    assert code == 1 and doc["verdict"] == "violations", err
    assert [v["length_s"] for v in doc["violations"]] == [100.0]
    assert doc["screens"][0]["af_showings"] == 5
    if fmt == 2:
        assert doc["integrity"]["signatures"]["unsigned_tail"]["records"] == 0


ROOT = Path(__file__).resolve().parents[2]
#: the types the writer makes itself (signage/playlog/writer.py, not through append("…"))
WRITER_TYPES = {"clock_step", "dropped", "checkpoint", "seal", "torn_tail"}


def test_the_doc_lists_every_record_type_the_code_writes() -> None:
    """docs/log-format.md, "When each record type and key appeared", names every record type
    written anywhere in signage/ and drivers/ (a new type must be documented with its date)."""
    import re

    written = set(WRITER_TYPES)
    for tree in ("signage", "drivers"):
        for src in (ROOT / tree).rglob("*.py"):
            written |= set(re.findall(r'\.append(?:_dict)?\(\s*"([a-z_]+)"', src.read_text("utf-8")))
    assert {"run_start", "showing", "alert_shown", "publication"} <= written
    doc = (ROOT / "docs" / "log-format.md").read_text("utf-8")
    table = doc.split("### When each record type and key appeared", 1)[1].split("\n\n", 3)[2]
    listed = set(re.findall(r"`([a-z_]+)`", "\n".join(
        ln.split("|")[1] for ln in table.splitlines() if ln.startswith("| `"))))
    assert written - listed == set(), "record types written but not in the doc's table"
    assert listed - written == set(), "record types in the doc's table that nothing writes"
