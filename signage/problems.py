"""One problem with the user's input, and how to turn parser errors into such problems.

Every message names the file, the field (and the line where the file gives it) and what is
allowed. Nothing here raises on bad input: it only describes it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .i18n import N_, _


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


#: the largest config or playlist file read (a playlist of 10,000 items is about 2 MB)
MAX_TOML_BYTES = 8 << 20


class NotRegular(OSError):
    """The path is not a regular file (a FIFO, a device, a socket) or is too large."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Opened without blocking (a
    FIFO never hangs the caller) and checked on the open file (a symlink to /dev/zero is a
    device, not read); raises NotRegular, or OSError as open() does."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            kind = (_("a FIFO (named pipe)") if stat.S_ISFIFO(st.st_mode) else
                    _("a device") if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    _("a socket") if stat.S_ISSOCK(st.st_mode) else _("not a regular file"))
            raise NotRegular(_("is {kind}, not a regular file; give a TOML file").format(
                kind=kind))
        if st.st_size > limit:
            raise NotRegular(_("{size} bytes; a file here may hold at most {mib} MiB").format(
                size=st.st_size, mib=limit >> 20))
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - got))
            if not b:
                break
            chunks.append(b)
            got += len(b)
        if got > limit:
            raise NotRegular(_("grew past {mib} MiB while being read").format(mib=limit >> 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file, or raise InputError with a precise problem."""
    name = str(path)
    try:
        raw = read_regular(path, MAX_TOML_BYTES)
    except FileNotFoundError:
        raise InputError([Problem(name, "", _("file not found"))]) from None
    except IsADirectoryError:
        raise InputError([Problem(name, "", _("is a directory, expected a TOML file"))]) from None
    except NotRegular as exc:
        raise InputError([Problem(name, "", str(exc))]) from None
    except OSError as exc:
        raise InputError([Problem(name, "", _("cannot read: {error}").format(
            error=exc.strerror))]) from None
    if not raw.strip():
        raise InputError([Problem(name, "", _("file is empty, expected TOML"))])
    if b"\x00" in raw:
        raise InputError([Problem(name, "", _("binary file (NUL bytes), expected UTF-8 TOML "
                                              "text"))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(name, "", _("not UTF-8 text (bad byte at offset {offset}); "
                                              "save as UTF-8").format(offset=exc.start))]
                         ) from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise InputError([Problem(name, "", _("malformed TOML: arrays or tables nested too "
                                    "deeply"))]) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise InputError([Problem(name, "", _("malformed TOML: {error}").format(error=msg),
                                  line)]) from None
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


def _field(loc: Sequence[int | str]) -> str:
    return next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml(value: Any) -> str:
    """A value as the user should have written it in TOML (for "write it as" hints)."""
    if isinstance(value, str):
        return value.strip()
    return _shown(value)


_KIND = {"float_type": N_("number"), "int_type": N_("whole number"),
         "bool_type": N_("true or false"), "int_from_float": N_("whole number"),
         "float_parsing": N_("number"), "int_parsing": N_("whole number"),
         "bool_parsing": N_("true or false")}


def friendly(err: Mapping[str, Any]) -> str:
    """A pydantic error in words a shop manager understands: what is wrong with the value
    and how to write it (TOML), never pydantic's own phrasing."""
    kind = str(err.get("type", ""))
    loc = err.get("loc", ())
    fld = _field(loc)
    ctx = err.get("ctx") or {}
    has_input = "input" in err
    value = err.get("input")
    if kind == "missing":
        return _("required but missing: add {field} = ...").format(field=fld)
    if kind == "extra_forbidden":
        return _("unknown key; check the spelling against docs/playlists.md")
    if kind == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ")
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing",
                "date_from_datetime_inexact"):
        if isinstance(value, str):
            try:
                dt.date.fromisoformat(value.strip())
            except ValueError:
                return _("not a date ({got}): write dates as YYYY-MM-DD without quotes, e.g. "
                         "{field} = 2027-04-05").format(got=_shown(value), field=fld)
            return _("write dates without quotes: {field} = {value}").format(
                field=fld, value=value.strip())
        return _("not a date ({got}): write dates as YYYY-MM-DD without quotes, e.g. "
                 "{field} = 2027-04-05").format(got=_shown(value), field=fld)
    if kind in _KIND:
        what = _(_KIND[kind])
        if isinstance(value, str):
            return _("must be a {what}, written without quotes: {field} = {value}").format(
                what=what, field=fld, value=_toml(value) if value.strip() else "...")
        return _("must be a {what} (got {got})").format(what=what, got=_shown(value))
    if kind in ("string_type", "str_type"):
        if loc and isinstance(loc[-1], int):  # an element of a list: show the list
            return _('must be text in quotes, e.g. {field} = ["..."] (got {got})').format(
                field=fld, got=_shown(value))
        return _('must be text in quotes, e.g. {field} = "..." (got {got})').format(
            field=fld, got=_shown(value))
    if kind in ("list_type", "tuple_type"):
        return _('must be a list in square brackets, e.g. {field} = ["..."] (got {got})'
                 ).format(field=fld, got=_shown(value))
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("must be a table, e.g. {field} = {{ key = value }} or a [{field}] section "
                 "(got {got})").format(field=fld, got=_shown(value))
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return _("must not be empty") if n <= 1 else _(
            "too short: at least {n} characters").format(n=n)
    if kind == "string_too_long":
        return _("too long: at most {n} characters (this one has {got})").format(
            n=ctx.get("max_length"), got=len(value) if isinstance(value, str) else "?")
    if kind == "too_short":
        n = int(ctx.get("min_length", 1))
        return _("needs at least one entry") if n == 1 else _(
            "needs at least {n} entries").format(n=n)
    if kind == "too_long":
        return _("too many entries: at most {n}").format(n=ctx.get("max_length"))
    if kind == "greater_than":
        return _("must be more than {n} (got {got})").format(n=_num(ctx.get("gt")),
                                                             got=_shown(value))
    if kind == "greater_than_equal":
        return _("must be {n} or more (got {got})").format(n=_num(ctx.get("ge")),
                                                           got=_shown(value))
    if kind == "less_than":
        return _("must be less than {n} (got {got})").format(n=_num(ctx.get("lt")),
                                                             got=_shown(value))
    if kind == "less_than_equal":
        return _("must be at most {n} (got {got})").format(n=_num(ctx.get("le")),
                                                           got=_shown(value))
    if kind == "literal_error":
        return _("must be one of {allowed} (got {got})").format(
            allowed=str(ctx.get("expected", "")).replace("'", '"'), got=_shown(value))
    if kind == "finite_number":
        return _("must be an ordinary number (not inf or nan)")
    if kind == "string_pattern_mismatch":
        return _("{got} is not in the allowed form").format(got=_shown(value))
    # a kind not listed above: still say what the value was
    msg = _("this value is not allowed here")
    return f"{msg} (got {_shown(value)})" if has_input else msg


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any], file: Path, text: str) -> M:
    """``data`` (read by read_toml from ``file``, whose text is ``text``) as a ``model``, or
    InputError with one Problem per mistake."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(from_validation(exc, str(file), text)) from None


def from_validation(exc: ValidationError, file: str, text: str,
                    prefix: Sequence[int | str] = ()) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in err["loc"] if not str(p).startswith("function-"))]
        msg = friendly(err)
        if err["type"] == "value_error" and loc and loc[-1] == "hours":
            # overlapping exceptions: give each one's line too, so both can be found
            msg = _exception_lines(msg, text, list(loc))
        out.append(Problem(file, loc_str(loc), msg, find_line(text, loc)))
    return out


def _exception_lines(msg: str, text: str, loc: list[int | str]) -> str:
    """"hours.exceptions[2]" in ``msg`` -> "hours.exceptions[2] (line 31)"."""
    def sub(m: re.Match[str]) -> str:
        line = find_line(text, [*loc, "exceptions", int(m.group(1))])
        return f"{m.group(0)} (line {line})" if line else m.group(0)
    return re.sub(r"hours\.exceptions\[(\d+)\]", sub, msg)
