"""User-facing text: the message catalogue.

Every message a person reads (CLI help and output, validate problems, audit tables and pages,
the console's pages, errors) is written in English as a msgid and passed through ``_()``; the
catalogue supplies the translation. zh-CN is the default language; English is chosen by
``--lang en`` on the command line (see :func:`set_language`) or, without it, by the
environment: ``SIGNAGE_LANG`` when set (``en`` or ``zh_CN``; the test suite sets it), else the
first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set: English when it starts with ``en``.

The catalogue is stdlib :mod:`gettext`: ``signage/locale/zh_CN/LC_MESSAGES/signage.po`` is
the source (kept in git), its compiled ``signage.mo`` is built by ``scripts/setup``,
``scripts/i18n`` and the package build (setup.py). ``scripts/i18n`` extracts every ``_()`` and
``N_()`` msgid from signage/ and drivers/ with Babel and updates the .po; tests/test_i18n.py
fails when a msgid has no zh-CN translation or the .po is stale against the sources.

Rules for callers:

- ``_("English text {name}").format(name=...)``: placeholders are named; the translation keeps
  them (file, line and field names are data, never translated).
- Text fixed at import time (tables of messages, column names) is marked with ``N_()`` and
  translated with ``_()`` where it is shown, so that the language chosen later applies.
"""

from __future__ import annotations

import gettext
import os
import threading
from pathlib import Path

DOMAIN = "signage"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "zh_CN"
LANGUAGES = ("zh_CN", "en")

_lock = threading.Lock()
_chosen: str | None = None  # set by set_language(); None: from the environment
_cache: dict[str, gettext.NullTranslations] = {}


def normalize(lang: str) -> str:
    """'en', 'en_US.UTF-8', 'EN' -> 'en'; 'zh', 'zh-CN', 'zh_CN.UTF-8' -> 'zh_CN'.
    Raises ValueError for anything else."""
    low = lang.strip().lower().replace("-", "_")
    if low.startswith("en"):
        return "en"
    if low.startswith("zh"):
        return "zh_CN"
    raise ValueError(_("unknown language {lang}; use zh_CN or en").format(lang=repr(lang)))


def from_environment(env: dict[str, str] | None = None) -> str:
    """The language the environment asks for: SIGNAGE_LANG when set, else the first of
    LC_ALL, LC_MESSAGES, LANG that is set (POSIX order); English when it starts with 'en',
    else zh_CN."""
    e = os.environ if env is None else env
    own = e.get("SIGNAGE_LANG", "")
    if own:
        try:
            return normalize(own)
        except ValueError:
            return DEFAULT
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        val = e.get(var, "")
        if val:
            return "en" if val.lower().startswith("en") else DEFAULT
    return DEFAULT


def set_language(lang: str | None) -> None:
    """Choose the language for this process (None: back to the environment's)."""
    global _chosen
    with _lock:
        _chosen = normalize(lang) if lang is not None else None


def language() -> str:
    """The language in force: set_language()'s, else the environment's."""
    return _chosen if _chosen is not None else from_environment()


def take_lang_option(argv: list[str]) -> list[str]:
    """Remove ``--lang X`` / ``--lang=X`` from a command line (anywhere in it), apply the
    language and return the rest. Raises ValueError for an unknown language."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        if a == "--lang" and i + 1 < len(argv):
            set_language(argv[i + 1])
            i += 2
            continue
        if a.startswith("--lang="):
            set_language(a.split("=", 1)[1])
            i += 1
            continue
        out.append(a)
        i += 1
    return out


def translations(lang: str | None = None) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (default: the language in force). English is the msgids
    themselves; a missing compiled catalogue falls back to them too (tests/test_i18n.py fails
    on a checkout whose .mo is missing or stale)."""
    lang = lang or language()
    t = _cache.get(lang)
    if t is None:
        if lang == "en":
            t = gettext.NullTranslations()
        else:
            t = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)
        _cache[lang] = t
    return t


def _(message: str) -> str:
    """The translation of ``message`` in the current language."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The translation of a message that depends on a count."""
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks ``message`` for extraction without translating it (translate it where shown)."""
    return message


# What the command-line libraries (click, typer) print themselves: they look these up through
# stdlib gettext's global domain, which use_for_libraries() points at our catalogue. Only the
# messages people meet are listed; the msgids are theirs, verbatim. (Typer's vendored copy of
# click writes "Usage:", the --help line and parser errors as English f-strings without
# gettext: signage/clitext.py translates those.)
LIBRARY_MESSAGES = (
    N_("Options"), N_("Commands"), N_("Arguments"), N_("Error"), N_("Aborted."),
    N_("Aborted!"), N_("Try [blue]'{command_path} {help_option}'[/] for help."),
    N_("[default: {}]"), N_("[required]"), N_("default: {default}"), N_("required"),
    N_("(dynamic)"), N_("Missing command."), N_("No such command {name!r}."),
    N_("env var: {var}"), N_("[env var: {}]"), N_("(deprecated) "),
)


def use_for_libraries() -> None:
    """Have click's and typer's own messages (usage, help panels, errors) come from this
    catalogue in the language in force: stdlib gettext's global domain is ours, and its
    language (which it reads from LANGUAGE first) is the one chosen here. For the CLI process
    only (children inherit the choice)."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = language()


__all__ = ["DEFAULT", "LANGUAGES", "N_", "_", "language", "ngettext", "set_language",
           "take_lang_option", "translations", "use_for_libraries"]
