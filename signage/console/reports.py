"""The console's 报告 page: audit runs, the campaign summary, logs and site photos, as files.

An audit run is the `signage audit` and `signage report` commands run as child processes (the
console's memory stays its own; the audit's answers are the inspector's), their outputs kept
under ``<console dir>/reports/<run id>/``. Names from the client never reach the file system
unchecked: every file served is looked up by a strict pattern inside its own directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import load_config, resolve
from ..i18n import N_, _, language
from ..keys import SigningKeyError
from ..summary.selftrust import self_trust_text

RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
RUN_FILES = ("audit.html", "audit.csv", "summary.html", "summary.pdf", "checkpoint.txt")
LOG_NAME = re.compile(r"^signage-[0-9A-Za-z._-]+\.jsonl(\.gz)?$")
PHOTO_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}\.(png|jpg|webp|gif|bmp)$")
MEDIA_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".mp4", ".mkv", ".webm",
             ".mov", ".avi", ".ts"}
TIMEOUT_S = 600


@dataclass
class RunResult:
    rid: str
    ok: bool
    exit_code: int
    verdict: str
    messages: list[str] = field(default_factory=list)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNAGE_LANG": language(), "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], capture_output=True,
                          text=True, timeout=TIMEOUT_S, env=env, check=False)


VERDICTS = {0: N_("compliant and intact"), 1: N_("violations found"),
            2: N_("integrity broken"), 3: N_("the log could not be read"),
            4: N_("simulated log (never proof of play)"),
            5: N_("partial log: not intact, verified from a later record on")}


def run_reports(config: Path, cdir: Path, from_: str, to: str) -> RunResult:
    """The audit (HTML and CSV) and the campaign summary for a period, kept as one run."""
    cfg = load_config(config)
    base = config.parent
    log_dir = resolve(base, cfg.log.dir)
    key = resolve(base, cfg.log.key_file)
    rid = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    out = cdir / "reports" / rid
    out.mkdir(parents=True)
    period: list[str] = []
    if from_.strip():
        period += ["--from", from_.strip()]
    if to.strip():
        period += ["--to", to.strip()]
    try:
        trust_text = self_trust_text(cfg, base)
    except SigningKeyError as exc:
        return RunResult(rid, False, 3, _(VERDICTS[3]), [str(exc)])
    if trust_text is None:
        verify = ["--key", str(key)]
    else:  # format 2: the box's own public key (a self-check, docs/report.md)
        (out / "self-trust.toml").write_text(trust_text, "utf-8")
        verify = ["--trust", str(out / "self-trust.toml")]
    audit = _cli("audit", str(log_dir), *verify, *period, "--format", "csv",
                 "--report", str(out / "audit.html"))
    if audit.stdout:
        (out / "audit.csv").write_text(audit.stdout, "utf-8")
    msgs = [ln for ln in audit.stderr.splitlines() if ln.strip()][:20]
    summary = _cli("report", "--config", str(config), *period, "--out",
                   str(out / "summary.html"), "--photos", str(cdir / "photos"),
                   "--pdf", str(out / "summary.pdf"))
    msgs += [ln for ln in summary.stderr.splitlines() if ln.strip()][:20]
    if cfg.log.format == 2:  # the latest signed checkpoint, for a witness to keep
        from ..keys_cli import latest_checkpoint

        found = latest_checkpoint(log_dir) if log_dir.is_dir() else None
        if found is not None:
            (out / "checkpoint.txt").write_bytes(found[0] + b"\n")
    meta = {"from": from_, "to": to, "exit_code": audit.returncode,
            "summary_code": summary.returncode, "created": time.time()}
    (out / "meta.json").write_text(json.dumps(meta), "utf-8")
    verdict = _(VERDICTS.get(audit.returncode, N_("error")))
    return RunResult(rid, audit.returncode in (0, 1, 5), audit.returncode, verdict, msgs)


def runs(cdir: Path) -> list[dict[str, Any]]:
    out = []
    root = cdir / "reports"
    for d in sorted(root.glob("*"), reverse=True)[:30] if root.is_dir() else []:
        if not RUN_ID.match(d.name):
            continue
        try:
            meta = json.loads((d / "meta.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        out.append({"rid": d.name, "from": meta.get("from") or "—", "to": meta.get("to") or "—",
                    "verdict": _(VERDICTS.get(int(meta.get("exit_code", 3)), N_("error"))),
                    "files": [f for f in RUN_FILES if (d / f).is_file()]})
    return out


def run_file(cdir: Path, rid: str, name: str) -> Path | None:
    if not RUN_ID.match(rid) or name not in RUN_FILES:
        return None
    p = cdir / "reports" / rid / name
    return p if p.is_file() else None


def log_files(config: Path) -> list[dict[str, Any]]:
    cfg = load_config(config)
    d = resolve(config.parent, cfg.log.dir)
    files = sorted(d.glob("signage-*.jsonl*")) if d.is_dir() else []
    return [{"name": p.name, "size": p.stat().st_size} for p in files if LOG_NAME.match(p.name)]


def log_file(config: Path, name: str) -> Path | None:
    if not LOG_NAME.match(name):
        return None
    cfg = load_config(config)
    p = resolve(config.parent, cfg.log.dir) / name
    return p if p.is_file() else None


def media_files(root: Path) -> list[dict[str, Any]]:
    out = []
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix.lower() in MEDIA_EXT and not p.name.startswith("."):
                out.append({"path": p.relative_to(root).as_posix(), "size": p.stat().st_size})
    return out[:500]


def store_photo(cdir: Path, name: str, data: bytes, ext: str, caption: str, user: str) -> str:
    """A checked site photo under <console dir>/photos/, with its caption beside it."""
    d = cdir / "photos"
    d.mkdir(parents=True, exist_ok=True)
    ext = ".jpg" if ext == ".jpeg" else ext
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{hashlib.sha256(data).hexdigest()[:8]}"
    p = d / f"{stem}{ext}"
    tmp = d / f".{p.name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, p)
    (d / f"{stem}.json").write_text(json.dumps(
        {"caption": caption, "by": user, "original": Path(name).name[:100]},
        ensure_ascii=False), "utf-8")
    return p.name


def photos(cdir: Path) -> list[dict[str, Any]]:
    d = cdir / "photos"
    out = []
    for p in sorted(d.glob("*")) if d.is_dir() else []:
        if PHOTO_NAME.match(p.name):
            try:
                meta = json.loads(p.with_suffix(".json").read_text("utf-8"))
            except (OSError, ValueError):
                meta = {}
            out.append({"name": p.name, "caption": str(meta.get("caption", ""))})
    return out


def photo_file(cdir: Path, name: str) -> Path | None:
    if not PHOTO_NAME.match(name):
        return None
    p = cdir / "photos" / name
    return p if p.is_file() else None
