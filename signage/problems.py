"""One problem with the user's input, and how to turn parser errors into such problems.

Every message names the file, the field (and the line where the file gives it) and what is
allowed. Nothing here raises on bad input: it only describes it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        fld = f" {self.field}:" if self.field else ""
        return f"{where}:{fld} {self.message}"


class InputError(Exception):
    """Raised by loaders with every problem found, never half a result."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file, or raise InputError with a precise problem."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(name, "", "file not found")]) from None
    except IsADirectoryError:
        raise InputError([Problem(name, "", "is a directory, expected a TOML file")]) from None
    except OSError as exc:
        raise InputError([Problem(name, "", f"cannot read: {exc.strerror}")]) from None
    if not raw.strip():
        raise InputError([Problem(name, "", "file is empty, expected TOML")])
    if b"\x00" in raw:
        raise InputError([Problem(name, "", "binary file (NUL bytes), expected UTF-8 TOML text")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(name, "", f"not UTF-8 text (bad byte at offset {exc.start}); save as UTF-8")]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise InputError([Problem(name, "", f"malformed TOML: {msg}", line)]) from None
    return data, text


def loc_str(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def find_line(text: str, loc: Sequence[int | str]) -> int | None:
    """Best-effort line of a key path in TOML text: follows [table] / [[array]] headers and
    the n-th occurrence of an array of tables, then the key. None when not found."""
    lines = text.splitlines()
    start = 0
    header = ""
    i = 0
    parts = list(loc)
    found: int | None = None
    while i < len(parts):
        part = parts[i]
        if isinstance(part, str):
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            header_name = f"{header}.{part}" if header else part
            if isinstance(nxt, int):
                pat = re.compile(r"^\s*\[\[\s*" + re.escape(header_name) + r"\s*\]\]")
                hits = [n for n in range(start, len(lines)) if pat.match(lines[n])]
                if nxt < len(hits):
                    start = hits[nxt]
                    found = start + 1
                    header = header_name
                    i += 2
                    continue
            pat_t = re.compile(r"^\s*\[\s*" + re.escape(header_name) + r"\s*\]")
            hit_t = next((n for n in range(start, len(lines)) if pat_t.match(lines[n])), None)
            if hit_t is not None:
                start, found, header = hit_t, hit_t + 1, header_name
                i += 1
                continue
            pat_k = re.compile(r"^\s*[\"']?" + re.escape(part) + r"[\"']?\s*=")
            for n in range(start, len(lines)):
                if n > start and re.match(r"^\s*\[", lines[n]):
                    break
                if pat_k.match(lines[n]):
                    found = n + 1
                    start = n
                    break
            i += 1
        else:
            i += 1
    return found


_ALLOWED: dict[str, str] = {
    "extra_forbidden": "unknown key; check the spelling against docs/playlists.md",
    "missing": "required but missing",
}


def from_validation(exc: ValidationError, file: str, text: str,
                    prefix: Sequence[int | str] = ()) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in err["loc"] if not str(p).startswith("function-"))]
        msg = _ALLOWED.get(err["type"], err["msg"])
        if err["type"] not in _ALLOWED and "input" in err and err["type"] != "value_error":
            shown = repr(err["input"])
            if len(shown) > 60:
                shown = shown[:57] + "..."
            msg = f"{msg} (got {shown})"
        msg = msg.removeprefix("Value error, ")
        out.append(Problem(file, loc_str(loc), msg, find_line(text, loc)))
    return out
