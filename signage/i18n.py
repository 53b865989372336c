"""User-facing text: the message catalogue.

Every message a person reads (CLI help and output, validate problems, audit tables and pages,
errors) is written in English as a msgid and passed through ``_()``; the catalogue supplies the
translation. zh-CN is the default language; English is chosen by ``LANG``/``LC_ALL``/
``LC_MESSAGES`` starting with ``en`` or by ``--lang en``.

This first version only routes the text; the catalogue (gettext .po/.mo under
``signage/locale/``, built with Babel) is added by the i18n work (issue 16).
"""

from __future__ import annotations


def _(message: str) -> str:
    """The translation of ``message`` in the current language."""
    return message


__all__ = ["_"]
