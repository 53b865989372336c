"""`signage checkpoint`: the latest signed checkpoint is verified before it is printed (the
box's own key, retired keys for a rotation, --trust), and a tampered one is reported as bad,
never printed on stdout as a good witness. Real processes on a real format-2 log."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from signage.keys import SigningKey, write_new_key
from signage.playlog import v2
from signage.playlog.writer import LogWriter, log_files
from signage.runtime.clock import VirtualClock

PY = sys.executable
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp()


def _log(tmp: Path) -> tuple[Path, Path, SigningKey]:
    key_path = tmp / "signing.key"
    key = write_new_key(key_path)
    log = tmp / "log"
    clock = VirtualClock(T0)
    w = LogWriter(log, None, TZ, clock, run_id="r" * 12, boot_id="boot-1", signing=key,
                  site_id="demo-mall")
    w.open()
    w.append("run_start")
    for _ in range(70):
        clock.advance_to(clock.monotonic() + 1)
        w.append("heartbeat", screens={})
    w.close()
    return log, key_path, key


def _trust(tmp: Path, key: SigningKey, site: str = "demo-mall") -> Path:
    p = tmp / "trust.toml"
    p.write_text(f'version = 1\n[[site]]\nid = "{site}"\n  [[site.key]]\n  public = '
                 f'"{key.public.text}"\n  valid_from = 2020-01-01T00:00:00+08:00\n', "utf-8")
    return p


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "signage.cli", "checkpoint", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def _last(log: Path) -> tuple[Path, list[bytes]]:
    path = log_files(log)[-1]
    return path, path.read_bytes().splitlines()


def _rechain(prev: bytes, body: dict[str, object]) -> bytes:
    """A line with ``body``'s fields, chained on the previous line as the writer would."""
    prefix = json.dumps({k: v for k, v in body.items() if k != "mac"}, ensure_ascii=False,
                        separators=(",", ":")).encode()[:-1]  # without its "}"
    prev_mac = json.loads(prev)["mac"].encode()
    mac = hashlib.sha256(prev_mac + prefix).hexdigest()
    return prefix + b',"mac":"' + mac.encode() + b'"}'


def test_good_checkpoint_is_verified_and_printed(tmp_path: Path) -> None:
    log, key_path, key = _log(tmp_path)
    _path, lines = _last(log)
    res = _run("--log", str(log), "--key", str(key_path), "--trust",
               str(_trust(tmp_path, key)))
    assert res.returncode == 0, res.stderr
    assert res.stdout.encode().strip() == lines[-1]
    assert res.stderr.count(key.key_id) >= 2 and "trust.toml" in res.stderr
    # no key at hand: printed, but the exit says it was not verified
    res = _run("--log", str(log), "--key", str(tmp_path / "absent.key"))
    assert res.returncode == 1 and res.stdout.encode().strip() == lines[-1]


def test_tampered_checkpoints_are_reported_not_printed(tmp_path: Path) -> None:
    log, key_path, key = _log(tmp_path)
    path, lines = _last(log)
    good = lines[-1]
    rec = json.loads(good)
    assert rec["type"] == "checkpoint"
    other = SigningKey.generate()
    other_fields = v2.checkpoint_fields(
        other, site=rec["site"], head_seq=rec["head_seq"], head=rec["head"], wall=rec["wall"],
        mono=rec["mono"], boot=rec["boot"], reason=rec["reason"])
    forged = {**rec, **other_fields}
    cases = {
        # an edited field, its line's digest left as it was
        "edited": good.replace(b'"wall":"2026', b'"wall":"2027'),
        # an edited field, the line re-chained: only the signature tells
        "rechained": _rechain(lines[-2], {**rec, "wall": rec["wall"].replace("2026", "2027")}),
        # a head that is not the previous record's digest, re-chained
        "head": _rechain(lines[-2], {**rec, "head": "0" * 64}),
        # re-signed by another key, re-chained
        "other key": _rechain(lines[-2], forged),
    }
    trust = str(_trust(tmp_path, key))
    for name, bad in cases.items():
        assert bad != good, name
        if name != "edited":  # well-formed: only the verification can tell
            v2.parse_checkpoint(bad)
        path.write_bytes(b"\n".join([*lines[:-1], bad]) + b"\n")
        for extra in ((), ("--trust", trust)):
            res = _run("--log", str(log), "--key", str(key_path), *extra)
            assert res.returncode == 2, (name, extra, res.stdout, res.stderr)
            assert res.stdout == "", (name, extra)
            assert str(path) in res.stderr, (name, res.stderr)
        # with the trust file alone (an inspector without the box's key) too
        res = _run("--log", str(log), "--key", str(tmp_path / "absent.key"), "--trust", trust)
        assert res.returncode == 2 and res.stdout == "", (name, res.stderr)
    # the other key's checkpoint is named by its key id
    path.write_bytes(b"\n".join([*lines[:-1], cases["other key"]]) + b"\n")
    res = _run("--log", str(log), "--key", str(key_path))
    assert other.key_id in res.stderr and key.key_id in res.stderr


def test_a_rotation_checkpoint_verifies_with_the_retired_key(tmp_path: Path) -> None:
    """The rotation checkpoint is signed by the key it retires, which the box keeps as
    <key>.retired-<id>: verified with it, not reported as another box's key."""
    key_path = tmp_path / "signing.key"
    old = write_new_key(key_path)
    log = tmp_path / "log"
    clock = VirtualClock(T0)
    w = LogWriter(log, None, TZ, clock, run_id="r" * 12, boot_id="boot-1", signing=old,
                  site_id="demo-mall")
    w.open()
    w.append("run_start")
    new = SigningKey.generate()
    # the writer's rotation: a checkpoint signed by the old key naming the new one
    w.rotate_key(new)
    w.close()
    cps = [v2.parse_checkpoint(ln) for p in log_files(log) for ln in p.read_bytes().splitlines()
           if b'"type":"checkpoint"' in ln]
    assert any(c.next_key == new.public.text and c.key == old.key_id for c in cps)
    # keep only up to the rotation checkpoint: the latest is signed by the old key
    path = log_files(log)[-1]
    lines = path.read_bytes().splitlines()
    cut = next(i for i, ln in enumerate(lines) if b'"next_key":"ed25519:' in ln)
    path.write_bytes(b"\n".join(lines[:cut + 1]) + b"\n")
    key_path.rename(tmp_path / f"signing.key.retired-{old.key_id}")
    (tmp_path / "signing.key").write_bytes(new.pem())
    (tmp_path / "signing.key").chmod(0o600)
    res = _run("--log", str(log), "--key", str(key_path))
    assert res.returncode == 0, res.stderr
    assert old.key_id in res.stderr
