"""The witness store is bounded: a box signing checkpoints with ever higher seqs (ahead of
anything the hub verified) gets at most one kept per WITNESS_AHEAD_S of hub time; the
checkpoints of the verified copy are all kept; past WITNESS_MAX_BYTES none is."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from signage.fleet import protocol as p
from signage.hub import ingest as ingest_mod
from signage.hub.config import load_hub
from signage.hub.ingest import Ingest
from signage.keys import SigningKey
from signage.playlog.writer import LogWriter
from signage.runtime.clock import VirtualClock


def test_checkpoints_ahead_of_the_copy_are_spaced_and_the_store_is_capped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SigningKey.generate()
    (tmp_path / "trust.toml").write_text(
        f'version = 1\n[[site]]\nid = "s"\n[[site.key]]\npublic = "{key.public.text}"\n'
        'valid_from = 2020-01-01T00:00:00+08:00\n')
    (tmp_path / "hub.toml").write_text(
        f'data_dir = "{tmp_path / "hub-data"}"\ntrust_file = "trust.toml"\n'
        '[http]\nenabled = false\n')
    said: list[str] = []
    ing = Ingest(load_hub(tmp_path / "hub.toml"), say=said.append)
    clock = VirtualClock(1764547200.0)
    w = LogWriter(tmp_path / "box", None, ZoneInfo("Asia/Shanghai"), clock, run_id="a" * 12,
                  boot_id="b", signing=key, site_id="s")
    w.open()
    w.append("run_start", site={"id": "s"})
    assert w.path is not None

    def checkpoints() -> list[bytes]:
        assert w.path is not None
        return [ln for ln in w.path.read_bytes().split(b"\n") if b'"type":"checkpoint"' in ln]

    for _ in range(50):  # 50 valid checkpoints, each ahead of the hub's (empty) copy
        w.append("heartbeat", screens={})
        w.checkpoint()
    for cp in checkpoints():
        ing.handle("signage/v1/s/checkpoint", cp)
    witness = tmp_path / "hub-data" / "s" / "witness.jsonl"
    assert witness.read_bytes().count(b"\n") == 1  # one per 10 s of hub time
    assert ing.boards["s"].witness_dropped == 49

    # the log arrives: checkpoints at or below the verified copy's last seq are kept
    data = w.path.read_bytes()
    ing.handle("signage/v1/s/log", p.encode_chunk(p.Chunk(w.path.name, 0, 0,
                                                          data.count(b"\n"), data)))
    assert ing.boards["s"].stored == data.count(b"\n") and ing.boards["s"].rejected == 0
    before = len(checkpoints())
    for _ in range(5):
        w.append("heartbeat", screens={})
        w.checkpoint()
    new = w.path.read_bytes()[len(data):]
    ing.handle("signage/v1/s/log", p.encode_chunk(p.Chunk(w.path.name, len(data), p.line_seq(new),
                                                          new.count(b"\n"), new)))
    for cp in checkpoints()[before:]:
        ing.handle("signage/v1/s/checkpoint", cp)
    assert witness.read_bytes().count(b"\n") == 6

    # the cap: a full store refuses further checkpoints, with the reason
    monkeypatch.setattr(ingest_mod, "WITNESS_MAX_BYTES", witness.stat().st_size)
    data = w.path.read_bytes()
    w.append("heartbeat", screens={})
    w.checkpoint()
    new = w.path.read_bytes()[len(data):]
    ing.handle("signage/v1/s/log", p.encode_chunk(p.Chunk(w.path.name, len(data), p.line_seq(new),
                                                          new.count(b"\n"), new)))
    ing.handle("signage/v1/s/checkpoint", checkpoints()[-1])
    assert witness.read_bytes().count(b"\n") == 6
    assert any("no more checkpoints are witnessed" in m for m in said), said
    w.close()
    ing.close()
