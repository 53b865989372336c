"""playlists/*.toml: one playlist per file, anti-fraud or store content.

The playlist's id is its file name without ``.toml``; screens list playlists by that id.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .config import Spans, Strict, check_id, check_spans
from .i18n import _
from .problems import InputError, Problem, find_line, read_toml, validated

#: explicit lines of one slogan (a line break in the text starts a new line)
MAX_LINES = 4


class Window(Strict):
    """Dates (inclusive, site timezone) on which a playlist plays: a campaign phase."""

    start: date
    end: date

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end < self.start:
            raise ValueError(_("date window ends ({end}) before it starts ({start})").format(
                end=self.end, start=self.start))
        return self


class ItemConfig(Strict):
    id: str
    type: Literal["text", "image", "clip"]
    text: str = Field(default="", max_length=500)
    path: str = ""
    weight: float = Field(default=1.0, gt=0, le=1000)
    category: str | None = Field(default=None, max_length=32)
    #: seconds on screen. Optional for text (the screen's driver may derive it, e.g. LED
    #: scroll time, else rule.text_default_s); required for images; for clips until probed.
    duration_s: float | None = Field(default=None, gt=0, le=3600)

    _id = field_validator("id")(check_id)

    @field_validator("text")
    @classmethod
    def _printable(cls, v: str) -> str:
        v = v.replace("\r\n", "\n")  # a line break, as a Windows editor writes it
        bad = sorted({ch for ch in v if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")
                      and ch not in " \n"})
        if bad:
            shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:6])
            raise ValueError(_("text contains control or format characters ({chars}); only "
                               "printable characters and line breaks may be shown on a "
                               "screen").format(chars=shown))
        if v.count("\n") >= MAX_LINES:
            raise ValueError(_("text has {n} lines; at most {most}").format(
                n=v.count("\n") + 1, most=MAX_LINES))
        return v

    @model_validator(mode="after")
    def _shape(self) -> ItemConfig:
        if self.type == "text":
            if not self.text.strip():
                raise ValueError(_("a text item needs text = \"...\" (not empty)"))
            if self.path:
                raise ValueError(_("a text item has no path; use type = \"image\" for "
                                   "pictures"))
        else:
            if not self.path:
                raise ValueError(_("a {type} item needs path = \"...\" under the media root"
                                   ).format(type=self.type))
            if self.text:
                raise ValueError(_("a {type} item has no text; use type = \"text\"").format(
                    type=self.type))
            if self.type == "image" and self.duration_s is None:
                raise ValueError(_("an image item needs duration_s (seconds on screen)"))
        return self


class PlaylistConfig(Strict):
    name: str = Field(min_length=1, max_length=128)
    #: "anti-fraud" content counts for the rule; "store" content fills the time between
    content: Literal["anti-fraud", "store"]
    window: Window | None = None
    #: times of day this playlist plays, e.g. ["07:00-09:00", "17:00-19:00"]; all day if empty
    dayparts: Spans = []
    items: list[ItemConfig] = Field(min_length=1, max_length=10000)

    @field_validator("dayparts")
    @classmethod
    def _dayparts(cls, v: list[str]) -> list[str]:
        return check_spans(v)

    @property
    def anti_fraud(self) -> bool:
        return self.content == "anti-fraud"


def load_playlist(path: Path) -> PlaylistConfig:
    data, text = read_toml(path)
    pl = validated(PlaylistConfig, data, path, text)
    seen: dict[str, int] = {}
    dups: list[Problem] = []
    for i, it in enumerate(pl.items):
        if it.id in seen:
            dups.append(Problem(str(path), f"items[{i}].id",
                                _("duplicate item id {id} (also items[{other}]): item ids "
                                  "must be unique").format(id=repr(it.id), other=seen[it.id]),
                                find_line(text, ["items", i, "id"])))
        seen.setdefault(it.id, i)
    if dups:
        raise InputError(dups)
    return pl


def load_playlists(directory: Path) -> dict[str, PlaylistConfig]:
    """Every ``*.toml`` in ``directory``, keyed by file stem. Raises InputError with all
    problems of all files (nothing is half-loaded)."""
    out, problems, _broken = read_playlists(directory)
    if problems:
        raise InputError(problems)
    return out


def read_playlists(directory: Path) -> tuple[dict[str, PlaylistConfig], list[Problem], set[str]]:
    """Every ``*.toml`` in ``directory``: the playlists that load, the problems of those that
    do not, and the ids of those (so that a check of the rest can go on: validate reports
    every independent problem in one run)."""
    if not directory.is_dir():
        return {}, [Problem(str(directory), "", _("playlist directory not found"))], set()
    out: dict[str, PlaylistConfig] = {}
    problems: list[Problem] = []
    broken: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        try:
            check_id(path.stem)
        except ValueError as exc:
            problems.append(Problem(str(path), "", _("file name: {error}").format(error=exc)))
            continue
        try:
            out[path.stem] = load_playlist(path)
        except InputError as exc:
            problems.extend(exc.problems)
            broken.add(path.stem)
    return out, problems, broken
