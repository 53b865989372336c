"""The hub's check page /v/<payload> on a real uvicorn server, read over HTTP and by a real
headless Chromium; scans recorded as witnesses; `signage inspect --hub` against it."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from starlette.applications import Starlette

from signage.driver import InspectionCode
from signage.inspection.picture import qr_modules, slide_with_code
from signage.inspection.statement import SignedStatement, Statement, sign
from signage.inspection.web import ScanDesk, routes
from signage.keys import SigningKey
from signage.playlog.writer import LogWriter
from signage.runtime.clock import RealClock
from signage.trust import load_trust

TZ = ZoneInfo("Asia/Shanghai")
BASE = "https://hub.example.cn"


@dataclasses.dataclass
class Hub:
    url: str
    key: SigningKey
    log: Path
    witness: Path
    trust: Path
    heads: dict[int, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    d = tmp_path_factory.mktemp("hub")
    log = d / "copy" / "demo-mall"
    w = LogWriter(log, b"k" * 32, TZ, RealClock(), run_id="r1", boot_id="b1")
    w.open()
    heads: dict[int, str] = {}
    for i in range(20):
        w.append("heartbeat", screens={"s": {"i": i}})
        heads[w.head.seq] = w.head.mac
    w.close()
    key = SigningKey.generate()
    trust = d / "keys.toml"
    trust.write_text(f'version = 1\n[[site]]\nid = "demo-mall"\n[[site.key]]\n'
                     f'public = "{key.public.text}"\nvalid_from = 2020-01-01T00:00:00+08:00\n',
                     "utf-8")
    desk = ScanDesk(trust=lambda: load_trust(trust),
                    log_dir_of=lambda site: d / "copy" / site,
                    scans_of=lambda site: d / "copy" / site / "inspection-scans.jsonl")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes(desk)), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Hub(f"http://127.0.0.1:{port}", key, log, log / "inspection-scans.jsonl", trust,
              heads)
    server.should_exit = True
    t.join(timeout=10)


def _code(hub: Hub, *, seq: int = 7, age: int = 5, head: bytes | None = None) -> SignedStatement:
    st = Statement("demo-mall", "checkout-hdmi", int(time.time()) - age, True, 12, 41_000, seq,
                   head if head is not None else bytes.fromhex(hub.heads[seq])[:16],
                   hub.key.key_id)
    return sign(st, hub.key)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:  # noqa: S310 (test server)
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _scans(hub: Hub) -> list[dict[str, object]]:
    if not hub.witness.exists():
        return []
    return [json.loads(x) for x in hub.witness.read_text("utf-8").splitlines()]


def test_green_page_and_one_witness_per_code(hub: Hub) -> None:
    signed = _code(hub)
    status, page = _get(f"{hub.url}/v/{signed.text()}")
    assert status == 200 and 'class="v ok"' in page and "GREEN" in page
    assert "checkout-hdmi" in page and "equals the code" in page
    before = len(_scans(hub))
    assert _get(f"{hub.url}/v/{signed.text()}")[0] == 200
    scans = _scans(hub)
    assert len(scans) == before  # the same code is one witness, however often scanned
    mine = [s for s in scans if s["payload"] == signed.text()]
    assert len(mine) == 1 and mine[0]["verdict"] == "ok" and mine[0]["seq"] == 7
    assert mine[0]["head"] == hub.heads[7][:32]


def test_red_pages_with_their_reasons(hub: Hub) -> None:
    good = _code(hub, seq=8)
    forged = SignedStatement(dataclasses.replace(good.statement, af_today=999), good.signature)
    status, page = _get(f"{hub.url}/v/{forged.text()}")
    assert status == 200 and 'class="v bad"' in page and "does not verify" in page
    assert not [s for s in _scans(hub) if s["payload"] == forged.text()]  # not recorded
    stale = _code(hub, seq=9, age=400)
    page = _get(f"{hub.url}/v/{stale.text()}")[1]
    assert 'class="v bad"' in page and "older than the photo" in page
    assert [s["verdict"] for s in _scans(hub) if s["payload"] == stale.text()] == ["stale"]
    rewritten = _code(hub, seq=10, head=bytes(16))
    page = _get(f"{hub.url}/v/{rewritten.text()}")[1]
    assert 'class="v bad"' in page and "rewritten after the inspection" in page
    status, page = _get(f"{hub.url}/v/not-a-code$")
    assert status == 400 and "not a valid inspection code" in page
    status, _page = _get(f"{hub.url}/v/" + "A" * 5000)
    assert status == 400


def test_a_seq_the_hub_has_not_received_yet_is_pending_not_red(hub: Hub) -> None:
    st = Statement("demo-mall", "checkout-hdmi", int(time.time()), True, 1, 0, 10_000,
                   bytes(16), hub.key.key_id)
    page = _get(f"{hub.url}/v/{sign(st, hub.key).text()}")[1]
    assert 'class="v ok"' in page and "not reached the hub yet" in page


def test_chromium_renders_the_page(hub: Hub) -> None:
    signed = _code(hub, seq=11)
    out = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", f"{hub.url}/v/{signed.text()}"],
                         capture_output=True, text=True, timeout=120)
    assert '<div id="verdict" class="v ok">' in out.stdout, out.stderr[-2000:]


def test_signage_inspect_with_the_hub(hub: Hub, tmp_path: Path) -> None:
    cmd_base = [sys.executable, "-m", "signage.cli", "inspect"]
    for seq, head, want in ((12, None, 0), (13, bytes(16), 1)):
        signed = _code(hub, seq=seq, head=head)
        url = signed.url(BASE)
        img = slide_with_code("凡是刷单返利的都是诈骗", 1280, 720,
                              InspectionCode(url, qr_modules(url)))
        photo = tmp_path / f"p{seq}.jpg"
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=70)
        photo.write_bytes(buf.getvalue())
        at = datetime.fromtimestamp(signed.statement.time + 30,
                                    timezone(timedelta(hours=8))).isoformat()
        r = subprocess.run([*cmd_base, str(photo), "--trust", str(hub.trust), "--hub", hub.url,
                            "--at", at], capture_output=True, text=True, timeout=60)
        assert r.returncode == want, r.stdout + r.stderr
        if want:
            assert "rewritten after the inspection" in r.stdout
        else:
            assert "equals the code" in r.stdout


def test_the_fleet_hub_serves_the_page_from_its_copy(tmp_path: Path) -> None:
    """The hub's own app (signage/hub/web.py create_app): trust file from hub.toml, the log
    copy under data_dir/<site>, scans recorded next to it."""
    from signage.hub.config import load_hub
    from signage.hub.ingest import HubService
    from signage.hub.web import create_app

    key = SigningKey.generate()
    (tmp_path / "keys.toml").write_text(
        f'version = 1\n[[site]]\nid = "demo-mall"\n[[site.key]]\npublic = "{key.public.text}"'
        '\nvalid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    (tmp_path / "hub.toml").write_text('data_dir = "data"\ntrust_file = "keys.toml"\n'
                                       '[[site]]\nid = "demo-mall"\n', "utf-8")
    copy = tmp_path / "data" / "demo-mall"
    w = LogWriter(copy, b"k" * 32, TZ, RealClock(), run_id="r", boot_id="b")
    w.open()
    for _ in range(5):
        w.append("heartbeat", screens={})
    head = w.head
    w.close()
    svc = HubService(load_hub(tmp_path / "hub.toml"), say=lambda _m: None)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(svc), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        st = Statement("demo-mall", "s1", int(time.time()), True, 3, 20_000, head.seq,
                       bytes.fromhex(head.mac)[:16], key.key_id)
        page = _get(f"http://127.0.0.1:{port}/v/{sign(st, key).text()}")[1]
        assert 'class="v ok"' in page and "equals the code" in page
        scans = (copy / "inspection-scans.jsonl").read_text("utf-8").splitlines()
        assert len(scans) == 1 and json.loads(scans[0])["seq"] == head.seq
        status, body = _get(f"http://127.0.0.1:{port}/api/head/demo-mall/{head.seq}")
        assert status == 200 and json.loads(body)["mac"] == head.mac
        assert _get(f"http://127.0.0.1:{port}/api/head/../1")[0] in (400, 404)
    finally:
        server.should_exit = True
        t.join(timeout=10)
