"""Writing test logs the way the daemon does: through the real LogWriter, on a virtual clock.

``Daemon`` appends the records the runtime appends (run_start, showing_start, showing, ...),
with the same fields, at instants the test chooses.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from typer.testing import CliRunner

from signage.audit.cli import audit_command
from signage.keys import PublicKey, SigningKey
from signage.playlog.writer import LogWriter

KEY = b"0123456789abcdef" * 4
TZ = "Asia/Shanghai"
#: 2026-11-30 00:00 +08:00 (a Monday)
DAY0 = 1_795_968_000.0


class FakeClock:
    """monotonic/time/sleep_until, moved by the test. Wall = mono + offset."""

    def __init__(self, wall: float, mono: float = 5000.0) -> None:
        self.mono = mono
        self.offset = wall - mono

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.mono + self.offset

    def sleep_until(self, monotonic_deadline: float) -> None:
        self.mono = max(self.mono, monotonic_deadline)

    def at(self, mono: float) -> None:
        assert mono >= self.mono - 1e-9, "the virtual clock only moves forward"
        self.mono = mono

    def wall_of(self, mono: float) -> float:
        return mono + self.offset


def site(screens: list[tuple[str, int, int]] | None = None, *,
         hours: list[str] | None = None, max_gap_s: float = 60.0,
         measure: str = "end-to-start", exceptions: list[dict[str, Any]] | None = None,
         items: dict[str, Any] | None = None) -> dict[str, Any]:
    """The site fields of run_start (as runtime.daemon.site_record makes them)."""
    scr = screens or [("s1", 128, 16)]
    return {
        "site": {"id": "shop-7", "name": "便民超市 7 号店", "tz": TZ,
                 "contact": {"name": "李娜", "phone": "+86 21 5555 0101"}},
        "rule": {"max_gap_s": max_gap_s, "margin_s": min(5.0, max_gap_s / 2),
                 "measure": measure},
        "hours": {"default": hours or ["00:00-24:00"], "mon": None, "tue": None,
                  "wed": None, "thu": None, "fri": None, "sat": None, "sun": None,
                  "exceptions": exceptions or []},
        "screens": [{"id": i, "label": f"screen {i}", "driver": "simulator", "width": w,
                     "height": h} for i, w, h in scr],
        "config_sha256": "c" * 64, "playlists_sha256": {"af.toml": "a" * 64},
        "items": items if items is not None else {
            "af1": {"playlist": "af", "kind": "text", "anti_fraud": True,
                    "category": "冒充客服", "text": "陌生来电要警惕", "path": None},
            "af2": {"playlist": "af", "kind": "text", "anti_fraud": True,
                    "category": "刷单返利", "text": "刷单就是诈骗", "path": None},
            "ad": {"playlist": "store", "kind": "image", "anti_fraud": False,
                   "category": None, "text": None, "path": "ad.png"},
        },
    }


class Daemon:
    """One run of the daemon, writing through the real LogWriter."""

    def __init__(self, log_dir: Path, clock: FakeClock, fields: dict[str, Any], *,
                 boot: str = "boot-a", key: bytes = KEY, start: float | None = None,
                 signing: SigningKey | None = None, mode: str = "run") -> None:
        """``signing``: write log format 2 (checkpoints signed by this key) instead of 1."""
        if start is not None:
            clock.at(start)
        self.clock = clock
        self.w = LogWriter(log_dir, None if signing is not None else key, ZoneInfo(TZ), clock,
                           run_id=secrets.token_hex(6), boot_id=boot, fsync="batch",
                           batch_ms=10**9,  # no fsync: tests
                           signing=signing, site_id=str(fields["site"]["id"]))
        notes = self.w.open()
        self.w.append("run_start", version="0.1.0", mode=mode, **fields)
        for n in notes:
            rtype = n.pop("type")
            self.w.append(rtype, **n)

    def iso(self, mono: float) -> str:
        from datetime import datetime

        return datetime.fromtimestamp(self.clock.wall_of(mono), ZoneInfo(TZ)).isoformat(
            timespec="milliseconds")

    def append(self, mono: float, rtype: str, **fields: Any) -> None:
        self.clock.at(mono)
        self.w.append(rtype, **fields)

    def showing_start(self, screen: str, item: str, af: bool, start: float) -> None:
        self.append(start, "showing_start", screen=screen, item=item, anti_fraud=af,
                    planned=self.iso(start), planned_mono=round(start, 3),
                    start=self.iso(start), start_mono=round(start, 3))

    def showing(self, screen: str, item: str, af: bool, start: float, end: float,
                outcome: str = "completed", category: str | None = None,
                reason: str = "") -> None:
        """The ``showing`` record, written at ``end`` (as the runtime does)."""
        self.append(end, "showing", screen=screen, item=item,
                    playlist="af" if af else "store", kind="text" if af else "image",
                    category=category if category is not None else ("冒充客服" if af else None),
                    anti_fraud=af, planned=self.iso(start), start=self.iso(start),
                    end=self.iso(end), start_mono=round(start, 3), end_mono=round(end, 3),
                    outcome=outcome, reason=reason)

    def heartbeat(self, mono: float) -> None:
        self.append(mono, "heartbeat", screens={})

    def stop(self, mono: float, reason: str = "signal SIGTERM") -> None:
        self.append(mono, "run_stop", reason=reason)
        self.w.close()

    def crash(self) -> None:
        self.w.close()


def audit(*args: str | Path, key: bytes | None = KEY,
          tmp: Path | None = None) -> tuple[int, str, str]:
    """Run `signage audit` through typer's CliRunner: (exit code, stdout, stderr)."""
    app = typer.Typer()
    app.command()(audit_command)
    argv = [str(a) for a in args]
    if key is not None:
        assert tmp is not None
        kf = tmp / "site.key"
        kf.write_bytes(key + b"\n")
        kf.chmod(0o600)
        argv += ["--key", str(kf)]
    res = CliRunner().invoke(app, argv)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def audit_json(*args: str | Path, tmp: Path, key: bytes = KEY) -> tuple[int, dict[str, Any]]:
    code, out, err = audit(*args, "--format", "json", key=key, tmp=tmp)
    assert out, f"no output (exit {code}): {err}"
    return code, json.loads(out)


def trust_file(path: Path, site_id: str, *keys: PublicKey | tuple[PublicKey, str, str | None],
               ) -> Path:
    """A trust file listing ``keys`` for ``site_id``: a key, or (key, valid_from, valid_to)."""
    out = ["version = 1", "", "[[site]]", f'id = "{site_id}"']
    for k in keys:
        pub, vf, vt = k if isinstance(k, tuple) else (k, "2020-01-01T00:00:00+08:00", None)
        out += ["  [[site.key]]", f'  public = "{pub.text}"', f"  valid_from = {vf}"]
        if vt is not None:
            out.append(f"  valid_to = {vt}")
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, content: list[bytes]) -> None:
    path.write_bytes(b"".join(content))
