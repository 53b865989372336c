"""The fleet's pure parts and file parts without a broker: hostile payloads refused with a
clear reason, the outbox on real files (torn tail, file order), the hub's store keeping a
bounded number of files open, and the alert rules."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from signage.fleet import protocol as p
from signage.fleet.outbox import Outbox
from signage.hub import store as store_mod
from signage.hub.config import Webhook
from signage.hub.notify import Alerts, conditions_of
from signage.hub.store import SiteStore, Verifier
from signage.playlog.keyfile import create_or_load_key
from signage.playlog.writer import LogWriter
from signage.runtime.clock import VirtualClock


@pytest.mark.parametrize(("payload", "why"), [
    (b"x" * (p.MAX_PAYLOAD + 1), "at most"),
    (b"{" * 2000, "no header line"),
    (b'{"fv":2,"file":"signage-2026-12-01.jsonl","offset":0,"seq":0,"n":0}\n', "version"),
    (b'{"fv":1,"file":"../etc/passwd","offset":0,"seq":0,"n":0}\n', "'file'"),
    (b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":-1,"seq":0,"n":0}\n', "'offset'"),
    (b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":0,"seq":0,"n":2}\nab\n', "2 lines"),
    (b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":0,"seq":null,"n":1}\na\n', "null"),
    (b'{"fv":1,"file":"signage-2026-12-01.jsonl","offset":0,"seq":0,"n":1}\na\nb', "whole"),
    (b'[1]\n', "not a JSON object"),
    (b'\xff\n', "not JSON"),
])
def test_hostile_chunks_are_refused_with_a_reason(payload: bytes, why: str) -> None:
    with pytest.raises(p.ProtocolError, match=why):
        p.decode_chunk(payload)


def test_topics_and_acks() -> None:
    assert p.parse_topic("signage/v1", "signage/v1/site-a/log") == ("site-a", "log")
    for bad in ("other/v1/site-a/log", "signage/v1/../log", "signage/v1/site-a"):
        with pytest.raises(p.ProtocolError):
            p.parse_topic("signage/v1", bad)
    a = p.Ack("signage-2026-12-01.1.jsonl", 10, 3, "t")
    assert p.decode_ack(p.encode_ack(a)) == a
    with pytest.raises(p.ProtocolError):
        p.decode_ack(b'{"fv":1,"file":"x","offset":1,"seq":1}')


def _writer(d: Path, site: str, key: bytes, clock: VirtualClock) -> LogWriter:
    w = LogWriter(d, key, ZoneInfo("Asia/Shanghai"), clock, run_id="a" * 12, boot_id="b")
    w.open()
    w.append("run_start", site={"id": site})
    return w


def test_outbox_reads_whole_lines_in_file_order_and_ships_a_torn_tail(tmp_path: Path) -> None:
    key = create_or_load_key(tmp_path / "k")
    clock = VirtualClock(1764547200.0)  # 2025-12-01 08:00 +08:00
    w = _writer(tmp_path / "log", "s", key, clock)
    for _ in range(50):
        w.append("heartbeat", screens={})
    w.close()
    first = w.path
    assert first is not None
    with open(first, "ab") as fh:
        fh.write(b'{"v":1,"seq":51,"type":"hea')  # a power cut mid-line
    w2 = _writer(tmp_path / "log", "s", key, clock)  # the next run: part .1
    w2.close()
    ob = Outbox(tmp_path / "log", max_chunk=1000)
    pos = ob.first()
    assert pos is not None
    got: list[p.Chunk] = []
    while True:
        ch, nxt = ob.read(pos)
        if ch is None and nxt == pos:
            break
        if ch is not None:
            got.append(ch)
        pos = nxt
    files = sorted({c.file for c in got}, key=p.file_order)
    assert files == [first.name, first.name.replace(".jsonl", ".1.jsonl")]
    assert b"".join(c.data for c in got if c.file == first.name) == first.read_bytes()
    assert [c.torn for c in got if c.file == first.name][-1] is True
    assert all(c.data.endswith(b"\n") for c in got if not c.torn)


def test_hub_store_keeps_few_files_open_and_loses_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "OPEN_FILES_MAX", 2)
    key = create_or_load_key(tmp_path / "k")
    clock = VirtualClock(1764547200.0)
    stores, writers = {}, {}
    for i in range(5):
        site = f"s{i}"
        writers[site] = _writer(tmp_path / "box" / site, site, key, clock)
        stores[site] = SiteStore(tmp_path / "hub", site, Verifier(site, key, None), lambda: "t")
    offsets = dict.fromkeys(stores, 0)
    for _round in range(4):
        for site, w in writers.items():
            for _ in range(10):
                w.append("heartbeat", screens={})
            assert w.path is not None
            data = w.path.read_bytes()[offsets[site]:]
            out = stores[site].accept(p.Chunk(w.path.name, offsets[site],
                                              p.line_seq(data), data.count(b"\n"), data))
            assert out.rejected == 0 and out.stored == data.count(b"\n")
            offsets[site] += len(data)
            assert len(store_mod._OPEN) <= 2
    for site, w in writers.items():
        stores[site].close()
        w.close()
        assert w.path is not None
        assert (tmp_path / "hub" / site / w.path.name).read_bytes() == w.path.read_bytes()


def _board(status: dict[str, object] | None, heard: float, at: float) -> SimpleNamespace:
    return SimpleNamespace(status=status, last_heard=heard, status_at=at, rejected_since=None,
                           last_reject="")


def test_alerts_fire_once_and_resolve_once() -> None:
    hook = Webhook(url="http://127.0.0.1:1/x", down_after_s=60, min_interval_s=300)
    al = Alerts([hook], silent_after_s=300)
    down = {"rule": {"max_gap_s": 60}, "screens": {"a": {
        "up": False, "open": True, "down_since": "2026-12-01T10:00:00+08:00",
        "worst_gap_today_s": 75.0}}}
    t0 = 1796090400.0  # 2026-12-01T10:00:00+08:00
    parse = lambda s: t0  # noqa: E731
    seen = []
    for dt in (10, 59, 61, 120, 400, 1000):
        cond, det = conditions_of({"s": _board(down, t0 + dt, t0 + dt)}, t0 + dt, 300, parse)
        seen += [(dt, e.kind, e.state) for _i, e in al.evaluate(t0 + dt, cond, det)]
    assert seen == [(10, "violation", "firing"), (61, "screen_down", "firing")]
    up = {"rule": {"max_gap_s": 60}, "screens": {"a": {"up": True, "open": True,
                                                        "worst_gap_today_s": 10.0}}}
    cond, det = conditions_of({"s": _board(up, t0 + 1100, t0 + 1100)}, t0 + 1100, 300, parse)
    assert sorted((e.kind, e.state) for _i, e in al.evaluate(t0 + 1100, cond, det)) == [
        ("screen_down", "resolved"), ("violation", "resolved")]
    # a closed site's dark screen is not an alert; a silent site is, once
    closed = {"screens": {"a": {"up": False, "open": False}}}
    cond, det = conditions_of({"s": _board(closed, t0, t0)}, t0 + 10, 300, parse)
    assert cond == {}
    cond, det = conditions_of({"s": _board(closed, t0, t0)}, t0 + 301, 300, parse)
    assert list(cond) == [("site_silent", "s", None)]


def test_v2_lines_count_only_under_a_checkpoint_even_across_a_hub_restart(
        tmp_path: Path) -> None:
    from signage.keys import SigningKey
    from signage.trust import parse_trust

    key = SigningKey.generate()
    trust = parse_trust({"version": 1, "site": [{"id": "s", "key": [{
        "public": key.public.text,
        "valid_from": __import__("datetime").datetime.fromisoformat(
            "2020-01-01T00:00:00+08:00")}]}]}, "test")
    clock = VirtualClock(1764547200.0)
    w = LogWriter(tmp_path / "box", None, ZoneInfo("Asia/Shanghai"), clock, run_id="a" * 12,
                  boot_id="b", signing=key, site_id="s")
    w.open()
    w.append("run_start", site={"id": "s"})
    for _ in range(20):
        w.append("heartbeat", screens={})
    assert w.path is not None

    def ship(st: SiteStore, off: int) -> tuple[list[bytes], int]:
        assert w.path is not None
        data = w.path.read_bytes()[off:]
        out = st.accept(p.Chunk(w.path.name, off, p.line_seq(data), data.count(b"\n"), data))
        assert out.rejected == 0, out.reason
        return out.verified, off + len(data)

    st = SiteStore(tmp_path / "hub", "s", Verifier("s", None, trust), lambda: "t")
    counted, off = ship(st, 0)
    assert counted == [] and len(st.pending) == 21  # chained, not yet signed
    st.close()
    st = SiteStore(tmp_path / "hub", "s", Verifier("s", None, trust), lambda: "t")  # restart
    assert len(st.pending) == 21
    w.checkpoint()
    w.append("heartbeat", screens={})
    counted, off = ship(st, off)
    assert len(counted) == 21 and len(st.pending) == 1
    w.close()
    st.close()


def test_hub_status_flags_sites_silent_in_opening_hours(tmp_path: Path) -> None:
    import json
    import os

    from signage.hub.config import HubConfig, LoadedHub
    from signage.hub.views import status_rows

    hub = LoadedHub(HubConfig(data_dir=str(tmp_path / "hd"), silent_after_s=600),
                    tmp_path / "hub.toml")
    for site, is_open, age in (("open-silent", True, 3600), ("closed-silent", False, 3600),
                               ("open-fresh", True, 10)):
        d = tmp_path / "hd" / site
        d.mkdir(parents=True)
        f = d / "status.json"
        f.write_text(json.dumps({"screens": {"a": {"up": True, "open": is_open,
                                                   "worst_gap_today_s": 3.0}}}))
        os.utime(f, (1000.0, 1000.0 + 3600 - age))
    rows = {r["site"]: r for r in status_rows(hub, now=1000.0 + 3600)}
    assert [rows[s]["silent_open"] for s in ("open-silent", "closed-silent", "open-fresh")] \
        == [True, False, False]
    assert rows["closed-silent"]["silent"] is True
    rows = {r["site"]: r for r in status_rows(hub, now=1000.0 + 3600, silent_after_s=7200)}
    assert not any(r["silent"] for r in rows.values())
