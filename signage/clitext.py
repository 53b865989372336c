"""Typer's own English, from our catalogue.

Typer (≥ 0.25) ships its own copy of click (``typer._click``) whose usage line, ``--help``
help text and parser errors are English f-strings, not gettext lookups (typer's own panels and
a few errors do use stdlib gettext: :func:`signage.i18n.use_for_libraries` covers those). For
the ``signage`` program only, :func:`install` has those texts come from the catalogue in the
language in force:

- the usage prefix and the help option's text: their defaults are replaced;
- usage errors: the exception classes format their message through :func:`translate`, which
  matches the library's English message against the templates below (their msgids, with the
  library's own values as named fields) and returns the translation with the same values.
  A message that matches no template is shown as the library wrote it.

The templates are the library's texts verbatim: tests/test_cli_chinese.py runs real commands
and fails when an English sentence gets through, so a typer release that rewords one shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from .i18n import N_, _

#: the library's messages (msgids are its English; {fields} are its values, kept as data)
TEMPLATES = (
    N_("Got unexpected extra argument ({args})"),
    N_("Got unexpected extra arguments ({args})"),
    N_("Got unexpected extra argument(s) ({args})"),
    N_("No such option: {name}"),
    N_("Option {name} requires an argument."),
    N_("Option {name} requires {n} arguments."),
    N_("Option {name} does not take a value."),
    N_("Argument {name} takes {n} values."),
    N_("Value {value} is not a valid {label}."),
    N_("{value} is not one of {choices}."),
    N_("{label} {path} does not exist."),
    N_("{label} {path} is a file."),
    N_("{label} {path} is a directory."),
    N_("{label} {path} is not readable."),
    N_("{label} {path} is not writable."),
    N_("{message}. Did you mean {suggestions}?"),
    N_("Choose from:\n\t{choices}"),
)
#: words the library puts into a template (the parameter kinds and path labels)
WORDS = {"argument": N_("argument"), "option": N_("option"), "parameter": N_("parameter"),
         "File": N_("File"), "Directory": N_("Directory"), "Path": N_("Path")}


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for t in TEMPLATES:
        rx = "".join(f"(?P<{p[1:-1]}>.+?)" if p.startswith("{") else re.escape(p)
                     for p in re.split(r"(\{\w+\})", t) if p)
        out.append((re.compile(rx, re.S), t))
    return tuple(out)


def translate(message: str) -> str:
    """The translation of one of the library's messages (as it wrote it, values filled in);
    the message itself when it matches no template."""
    for rx, msgid in _patterns():
        m = rx.fullmatch(message)
        if m is None:
            continue
        vals = {k: _(WORDS[v]) if v in WORDS else v for k, v in m.groupdict().items()}
        if "message" in vals:
            vals["message"] = translate(vals["message"] + ".").rstrip(".。")
        return _(msgid).format(**vals)
    return message


def _hint(param_hint: Sequence[str] | str | None) -> str | None:
    if param_hint is not None and not isinstance(param_hint, str):
        return " / ".join(repr(x) for x in param_hint)
    return param_hint


def install() -> None:
    """Replace the library's English defaults and error formatting (the CLI process only)."""
    from typer._click import decorators, exceptions, formatting

    write_usage = formatting.HelpFormatter.write_usage

    def usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, _("Usage: ") if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = usage  # type: ignore[method-assign]

    help_option = decorators.help_option

    def own_help(param_decls: list[str]) -> Callable[[Any], Any]:
        add = help_option(param_decls)

        def deco(cmd: Any) -> Any:
            out = add(cmd)
            cmd.params[-1].help = _("Show this message and exit.")
            return out

        return deco

    decorators.help_option = own_help

    def usage_message(self: Any) -> str:
        return translate(self.message)

    def bad_parameter(self: Any) -> str:
        hint = self.param_hint if self.param_hint is not None else (
            self.param.get_error_hint() if self.param is not None else None)
        if hint is None:
            return _("Invalid value: {message}").format(message=translate(self.message))
        return _("Invalid value for {hint}: {message}").format(
            hint=_hint(hint), message=translate(self.message))

    def missing(self: Any) -> str:
        hint = self.param_hint if self.param_hint is not None else (
            self.param.get_error_hint() if self.param is not None else None)
        kind = self.param_type or (self.param.param_type_name if self.param is not None
                                   else "parameter")
        text = _("Missing {kind} {hint}.").format(kind=_(WORDS.get(kind, kind)),
                                                  hint=_hint(hint) or "")
        extra = self.param.get_missing_message(ctx=self.ctx) if self.param is not None else None
        more = " ".join(translate(x) for x in (self.message, extra) if x)
        return f"{text} {more}" if more else text

    def no_such_option(self: Any) -> str:
        text = translate(self.message)
        if not self.possibilities:
            return text
        return _("{message} (Possible options: {options})").format(
            message=text, options=", ".join(sorted(self.possibilities)))

    exceptions.UsageError.format_message = usage_message  # type: ignore[method-assign]
    exceptions.BadParameter.format_message = bad_parameter  # type: ignore[method-assign]
    exceptions.MissingParameter.format_message = missing  # type: ignore[method-assign]
    exceptions.NoSuchOption.format_message = no_such_option  # type: ignore[method-assign]


__all__ = ["TEMPLATES", "install", "translate"]
