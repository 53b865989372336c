"""The message catalogue: complete, current, compiled; Chinese by default, English on request."""

from __future__ import annotations

import gettext
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from signage import i18n

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "signage/locale/zh_CN/LC_MESSAGES/signage.po"
MO = PO.with_suffix(".mo")
PYBABEL = Path(sys.executable).with_name("pybabel")
FIELD = re.compile(r"\{[^{}]*\}")


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _key(mid: str | tuple[str, ...]) -> str:
    return mid if isinstance(mid, str) else mid[0]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What scripts/i18n would extract from the sources now (same tool, same options)."""
    pot = tmp_path_factory.mktemp("pot") / "signage.pot"
    subprocess.run([str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "--no-location",
                    "--sort-output", "--no-wrap", "-k", "_", "-k", "N_", "-k", "ngettext:1,2",
                    "-o", str(pot), "signage", "drivers"], cwd=ROOT, check=True, timeout=120)
    return _read(pot)


def test_po_is_current_with_the_sources(extracted: Catalog) -> None:
    po = _read(PO)
    in_src = {_key(m.id) for m in extracted if m.id}
    in_po = {_key(m.id) for m in po if m.id}
    missing = sorted(in_src - in_po)
    stale = sorted(in_po - in_src)
    assert not missing, f"msgids in the sources but not in {PO.name} (run scripts/i18n): {missing}"
    assert not stale, f"msgids in {PO.name} that no source uses (run scripts/i18n): {stale}"


def test_every_msgid_has_a_chinese_translation() -> None:
    po = _read(PO)
    bad = []
    for m in po:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy or not all(strings):
            bad.append(_key(m.id))
    assert not bad, f"untranslated or fuzzy in {PO.name} (translate, then scripts/i18n): {bad}"


def test_translations_keep_every_placeholder() -> None:
    """{file}, {line}, {field}... are data: a translation has exactly the msgid's fields."""
    bad = []
    for m in _read(PO):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = sorted(set(FIELD.findall(ids[-1])))
        for s in strings:
            if sorted(set(FIELD.findall(s))) != want:
                bad.append((ids[0], s))
    assert not bad, bad


def test_compiled_catalogue_matches_the_po() -> None:
    assert MO.is_file(), f"{MO} missing: scripts/setup or scripts/i18n compiles it"
    with MO.open("rb") as f:
        mo = gettext.GNUTranslations(f)
    for m in _read(PO):
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            assert mo.ngettext(m.id[0], m.id[1], 1) == m.string[0], m.id
        else:
            assert mo.gettext(m.id) == m.string, f"{MO.name} is stale for {m.id!r}"


def test_language_choice() -> None:
    env = {"LANG": "en_US.UTF-8"}
    assert i18n.from_environment(env) == "en"
    assert i18n.from_environment({"LANG": "zh_CN.UTF-8"}) == "zh_CN"
    assert i18n.from_environment({"LANG": "C.UTF-8"}) == "zh_CN"
    assert i18n.from_environment({}) == "zh_CN"
    # POSIX order: LC_ALL over LC_MESSAGES over LANG
    assert i18n.from_environment({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh_CN"
    assert i18n.from_environment({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "zh_CN"}) == "en"
    assert i18n.from_environment({"SIGNAGE_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}) == "en"
    assert i18n.take_lang_option(["validate", "--lang", "en", "-c", "x"]) == [
        "validate", "-c", "x"]
    assert i18n.language() == "en"
    assert i18n.take_lang_option(["--lang=zh-CN", "plan"]) == ["plan"]
    assert i18n.language() == "zh_CN"
    assert i18n._("store share") == "商家内容占比"
    i18n.set_language("en")
    assert i18n._("store share") == "store share"
    i18n.set_language(None)
    with pytest.raises(ValueError, match="unknown language"):
        i18n.set_language("fr")


def _cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("SIGNAGE_LANG", "LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "signage.cli", *args], cwd=cwd,
                          env={**base, "COLUMNS": "200", "NO_COLOR": "1", **env},
                          capture_output=True, text=True, timeout=120)


def test_cli_is_chinese_by_default_and_english_on_request(tmp_path: Path) -> None:
    zh = _cli("--help", env={"LANG": "C.UTF-8"})
    assert "检查 config.toml 和所有节目单" in zh.stdout, zh.stdout
    en = _cli("--help", env={"LANG": "C.UTF-8"}, cwd=ROOT)
    en = _cli("--lang", "en", "--help", env={})
    assert "Check config.toml and every playlist" in en.stdout, en.stdout
    by_env = _cli("--help", env={"LANG": "en_US.UTF-8"})
    assert "Check config.toml and every playlist" in by_env.stdout
    bad = _cli("--lang", "fr", "--help", env={})
    assert bad.returncode == 3 and "--lang" in bad.stderr


def test_validate_problem_in_chinese_keeps_file_line_field(tmp_path: Path) -> None:
    from tests.conftest import copy_site

    cfg = copy_site(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    lines = text.splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.startswith("max_gap_s"))
    lines[n] = "max_gap_s = -5"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    zh = _cli("validate", "--config", str(cfg), env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 1
    first = zh.stderr.splitlines()[0]
    assert first.startswith(f"{cfg}:{n + 1}: rule.max_gap_s: "), zh.stderr
    assert "必须大于 0" in first, first
    assert "发现 1 个问题；未做任何更改。" in zh.stderr
    en = _cli("--lang", "en", "validate", "--config", str(cfg), env={})
    assert en.stderr.splitlines()[0] == f"{cfg}:{n + 1}: rule.max_gap_s: " \
        "must be more than 0 (got -5)", en.stderr


def test_no_message_call_inside_an_f_string() -> None:
    """Babel (on Python 3.11, where an f-string is one token) does not see a ``_('...')``
    written inside an f-string: its msgid never reaches the catalogue and the text stays
    English. Build the text outside the f-string (docs/i18n.md)."""
    import ast

    bad = []
    for path in sorted([*(ROOT / "signage").rglob("*.py"), *(ROOT / "drivers").rglob("*.py")]):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for c in ast.walk(node):
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and \
                        c.func.id in ("_", "N_", "ngettext") and c.args and \
                        isinstance(c.args[0], ast.Constant):  # _(a_variable): marked elsewhere
                    bad.append(f"{path.relative_to(ROOT)}:{c.lineno}")
    assert not bad, f"a message call inside an f-string is not extracted: {bad}"
