"""The Parquet dataset after a hub crash: a real `signage hub run` process is killed with
SIGKILL while it ingests (its rows of the last 10 s not yet written); on restart it restores
them from its byte-identical copy, and `signage hub rebuild` regenerates the same dataset
from the copies: no row missing, none twice."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from signage.keys import load_signing_key

from .conftest import Broker, Pki
from .fleetkit import acked, files_of, hub_toml, shipper, simulate, wait_until
from .test_v2 import _trust, _v2_site

SITE = "hz-wensan-0001"


def _table(data: Path) -> pa.Table:
    t = ds.dataset(data / "showings", format="parquet", partitioning="hive").to_table()
    return t.sort_by([("seq", "ascending")])


def _hub(cfg: Path, err: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "signage.cli", "hub", "run", "-c", str(cfg)],
                            stderr=open(err, "ab"))  # noqa: SIM115


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signage.cli", "hub", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_sigkill_mid_ingest_then_restart_and_rebuild(tmp_path: Path, site_dir: Path,
                                                     broker: Broker, pki: Pki) -> None:
    full = tmp_path / "full-log"
    simulate(_v2_site(site_dir), full, start="2026-12-01 06:00", for_="36h")
    files = sorted(files_of(full))
    assert len(files) >= 2
    trust = _trust(tmp_path / "trust.toml", SITE,
                   load_signing_key(full / "simulate-signing.key"))
    # rows written only at the stop: the crash window spans the whole kill, however slow
    # the machine
    cfg = hub_toml(tmp_path, broker, pki, {},
                   top=f'trust_file = "{trust}"\nparquet_flush_s = 3600')
    data = tmp_path / "hub-data"
    err = tmp_path / "hub.err"
    box = tmp_path / "box-log"
    box.mkdir()
    for name in ("simulate-signing.key", "simulate.key"):
        if (full / name).exists():
            shutil.copy2(full / name, box / name)
    shutil.copy2(full / files[0], box / files[0])

    hub = _hub(cfg, err)
    sh = shipper(box, SITE, broker, pki, resend_s=2.0)
    sh.start()
    try:
        wait_until(lambda: acked(sh, box), 300, "the first file acknowledged")
        for name in files[1:]:  # the rest of the log arrives: kill the hub while it ingests
            shutil.copy2(full / name, box / name)
        wait_until(lambda: (data / SITE / files[1]).exists(), 300, "the second file to arrive")
        hub.send_signal(signal.SIGKILL)
        hub.wait(30)
        copy = files_of(data / SITE)
        counted = sum(v.count(b'"type":"showing",') for v in copy.values())
        held = _table(data).num_rows if list(data.glob("showings/*/*/*.parquet")) else 0
        assert held < counted  # the crash window: rows counted and not written
        hub = _hub(cfg, err)  # restart: the missing rows come back from the copy
        wait_until(lambda: acked(sh, box), 300, "the whole log acknowledged after restart")
    finally:
        sh.stop()
        hub.terminate()
        hub.wait(120)  # a hang only: the stop writes the rows held
    assert files_of(data / SITE) == files_of(full)
    text = err.read_text()
    assert "Traceback" not in text and "rows restored to the dataset from the copy" in text, text
    showings = sum(v.count(b'"type":"showing",') for v in files_of(full).values())
    after_restart = _table(data)
    seqs = after_restart.column("seq").to_pylist()
    assert len(seqs) == len(set(seqs)) == showings > 1000

    # a rebuild from the copies gives the same dataset
    r = _cli("rebuild", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert _table(data).equals(after_restart)
    # idempotent, one day and one site at a time too
    day = sorted(p.name[5:] for p in (data / "showings").glob("date=*"))[0]
    r = _cli("rebuild", "-c", str(cfg), "--site", SITE, "--date", day)
    assert r.returncode == 0, r.stderr
    assert _table(data).equals(after_restart)

    # the marks lost (as after a crash between a flush's rows and its marks): the next start
    # counts the whole copy again and writes only the seqs the dataset lacks
    (data / "showings" / "_marks.json").unlink()
    hub = _hub(cfg, err)
    try:
        wait_until(lambda: (data / "showings" / "_marks.json").exists(), 300,
                   "the restarted hub to write its marks")
        r = _cli("rebuild", "-c", str(cfg))  # refused while a hub runs
        assert r.returncode == 3 and "stop it first" in r.stderr, r.stderr
    finally:
        hub.terminate()
        hub.wait(120)  # a hang only: the stop writes the rows held
    assert _table(data).equals(after_restart)
