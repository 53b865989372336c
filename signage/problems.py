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


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file, or raise InputError with a precise problem."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(name, "", _("file not found"))]) from None
    except IsADirectoryError:
        raise InputError([Problem(name, "", _("is a directory, expected a TOML file"))]) from None
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


_ALLOWED: dict[str, str] = {
    "extra_forbidden": N_("unknown key; check the spelling against docs/playlists.md"),
    "missing": N_("required but missing"),
}

# pydantic's messages for the checks our models use, as msgids (pydantic's own English text,
# so English output is unchanged), filled from the error's ctx. A type not listed here keeps
# pydantic's English message.
_PYDANTIC: dict[str, str] = {
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "string_too_short": N_("String should have at least {min_length} characters"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "too_short": N_("List should have at least {min_length} items after validation, "
                    "not {actual_length}"),
    "too_long": N_("List should have at most {max_length} items after validation, "
                   "not {actual_length}"),
    "literal_error": N_("Input should be {expected}"),
    "enum": N_("Input should be {expected}"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "string_type": N_("Input should be a valid string"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "model_attributes_type": N_("Input should be a valid dictionary or object to extract "
                                "fields from"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "date_from_datetime_inexact": N_("Datetimes provided to dates should have zero time - "
                                     "e.g. be exact dates"),
    "time_type": N_("Input should be a valid time"),
    "time_parsing": N_("Input should be in a valid time format, {error}"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "finite_number": N_("Input should be a finite number"),
    "multiple_of": N_("Input should be a multiple of {multiple_of}"),
    "union_tag_invalid": N_("Input tag '{tag}' found using {discriminator} does not match any "
                            "of the expected tags: {expected_tags}"),
}


def _ctx(v: Any) -> Any:
    """A ctx value as pydantic shows it: 0.0 as 0; "'a' or 'b'" with "or" translated."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and " or " in v:
        return v.replace(" or ", " " + _("or") + " ")
    return v


def _message(err: Any) -> str:
    """One pydantic error in the current language."""
    typ = err["type"]
    if typ in _ALLOWED:
        return _(_ALLOWED[typ])
    if typ == "value_error":  # our validators raise ValueError(_("...")): already translated
        return str(err["msg"]).removeprefix("Value error, ")
    tmpl = _PYDANTIC.get(typ)
    if tmpl is not None:
        try:
            return _(tmpl).format(**{k: _ctx(v) for k, v in (err.get("ctx") or {}).items()})
        except (KeyError, IndexError, ValueError):
            pass
    return str(err["msg"])


def from_validation(exc: ValidationError, file: str, text: str,
                    prefix: Sequence[int | str] = ()) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in err["loc"] if not str(p).startswith("function-"))]
        msg = _message(err)
        if err["type"] not in _ALLOWED and "input" in err and err["type"] != "value_error":
            shown = repr(err["input"])
            if len(shown) > 60:
                shown = shown[:57] + "..."
            msg = _("{message} (got {value})").format(message=msg, value=shown)
        out.append(Problem(file, loc_str(loc), msg, find_line(text, loc)))
    return out
