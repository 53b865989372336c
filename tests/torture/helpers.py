"""Shared tools of the torture suite: real `signage` processes, the audit (as a process and
in-process through its Python entry point), and a plain, independent reading of log files.

The independent reader here never trusts signage.audit: it splits files into lines and parses
JSON, so the suite can compare what the audit says with what is on disk.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
#: a clean environment for child processes: no colour, no terminal, no debug re-raise
CHILD_ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
CHILD_ENV.pop("SIGNAGE_DEBUG", None)


# ---- processes ---------------------------------------------------------------------------
def signage_popen(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`python -m signage.cli ARGS` as a real process (stdout/stderr piped)."""
    return subprocess.Popen([PY, "-m", "signage.cli", *args], cwd=cwd, env=CHILD_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def signage_run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "signage.cli", *args], cwd=cwd, env=CHILD_ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


def kill9(p: subprocess.Popen[str]) -> None:
    """SIGKILL the process (only ours, by pid) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)


def stop(p: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, wait, and return (stdout, stderr); SIGKILL if it does not stop."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGTERM)
    try:
        return p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill9(p)
        raise


# ---- the audit -----------------------------------------------------------------------------
@dataclass
class AuditOut:
    code: int
    out: str
    err: str

    @property
    def doc(self) -> dict[str, Any]:
        assert self.out.strip(), f"audit printed nothing (exit {self.code}): {self.err}"
        return json.loads(self.out)  # type: ignore[no-any-return]

    def breaking(self) -> set[str]:
        return {f["kind"] for f in self.doc["integrity"]["findings"] if f["breaks"]}


def audit_cli(paths: Sequence[Path], key: Path, *extra: str, cwd: Path | None = None,
              timeout: float = 120) -> AuditOut:
    """`python -m signage.cli audit` as a real process."""
    # the torture logs are mostly made on the virtual clock (mode = simulate): they are judged
    # by their figures (--simulated); tests/audit/test_simulated.py covers exit 4 itself
    p = subprocess.run([PY, "-m", "signage.cli", "audit", *map(str, paths), "--key", str(key),
                        *extra, "--simulated"], cwd=cwd or ROOT, env=CHILD_ENV, capture_output=True,
                       text=True, timeout=timeout, check=False)
    return AuditOut(p.returncode, p.stdout, p.stderr)


def audit_here(paths: Sequence[Path], key: Path, *extra: str,
               timeout: float = 300) -> AuditOut:
    """`signage audit` as a real process, run from the first path's directory (not the source
    tree, so PYTHONPATH can point the children at an older tree to show a test fails there),
    with exactly the options given (a simulated log needs --simulated)."""
    p = subprocess.run([PY, "-m", "signage.cli", "audit", *map(str, paths), "--key", str(key),
                        *extra], cwd=paths[0].parent, env=CHILD_ENV, capture_output=True,
                       text=True, timeout=timeout, check=False)
    return AuditOut(p.returncode, p.stdout, p.stderr)


def audit_api(paths: Sequence[Path], key: Path, *, fmt: str = "json", anchor: bool = False,
              expect_anchor: str | None = None, jobs: str = "1",
              simulated: bool = True) -> AuditOut:
    """The audit's own entry point (signage.audit.cli.main) in this process: the same code
    as the command, without the start-up cost. It never raises (it maps every exception to
    exit 3 unless SIGNAGE_DEBUG is set); output is captured."""
    from signage.audit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(paths), key=key, format_=fmt, anchor=anchor,
                    expect_anchor=expect_anchor, jobs=jobs, simulated=simulated)
    return AuditOut(code, out.getvalue(), err.getvalue())


# ---- reading logs independently ------------------------------------------------------------
#: a log directory's files as data: (file name, lines with their newline)
Files = list[tuple[str, list[bytes]]]


def line_places(files: Files) -> list[tuple[int, int]]:
    """Every line's (file index, line index)."""
    return [(fi, li) for fi, (_n, lines) in enumerate(files) for li in range(len(lines))]


def copy_files(files: Files) -> Files:
    """A copy whose line lists can be edited without touching ``files``."""
    return [(n, list(lines)) for n, lines in files]


def log_files(log_dir: Path) -> list[Path]:
    from signage.playlog.writer import log_files as lf

    return lf(log_dir)


@dataclass
class Line:
    file: str
    index: int  # 0-based line number in its file
    offset: int  # byte offset of the line in its file
    raw: bytes  # without the newline
    rec: dict[str, Any] | None  # parsed JSON, or None when it does not parse


def read_lines(log_dir: Path) -> Iterator[Line]:
    """Every complete line (ending in a newline) of every log file, in write order."""
    for path in log_files(log_dir):
        data = path.read_bytes()
        pos = 0
        idx = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            raw = data[pos:nl]
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = None
            yield Line(path.name, idx, pos, raw, rec)
            pos = nl + 1
            idx += 1


def torn_tails(log_dir: Path) -> dict[str, bytes]:
    """Per file, the bytes after its last newline (a torn last line), if any."""
    out = {}
    for path in log_files(log_dir):
        data = path.read_bytes()
        tail = data[data.rfind(b"\n") + 1:]
        if tail:
            out[path.name] = tail
    return out


def parse_wall(text: str) -> datetime:
    return datetime.fromisoformat(text)


def copy_dir(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def key_file(path: Path, key: bytes) -> Path:
    path.write_bytes(key + b"\n")
    path.chmod(0o600)
    return path


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.monotonic() - self.t0


#: figures of this session's torture tests, printed in pytest's terminal summary
FIGURES: dict[str, dict[str, object]] = {}


def report(name: str, **figures: object) -> None:
    """Keep one line of figures for the summary (docs/reliability.md quotes them)."""
    FIGURES.setdefault(name, {}).update(figures)
