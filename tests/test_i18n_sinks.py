"""No English sentence reaches a person without going through the catalogue.

An AST sweep of signage/ and drivers/: a string literal or f-string holding English words
(two words in a row, after rich markup and `signage <command>` paths are taken out) that is
passed straight to a user-facing sink fails the test, with file:line. The sinks:

- an exception's constructor (any name ending in Error/Exception, `ContentRejected`,
  `ScreenUnavailable`, typer's `BadParameter`): what the CLI, validate, the console and the
  hub show of a failure, positional arguments and keywords alike (``EnvelopeError(reason,
  f"...")`` too);
- output: ``print``, ``echo``/``secho``, ``con.print``/``console.print``, ``_say``/``say``;
- verdicts and problems: ``PushVerdict``/``verdict`` (refusals the hub's publications table
  and `signage push add` show), ``Problem``, ``Health``; a ``reason=``/``detail=``/``message=``
  ... keyword anywhere; ``.append``/``.extend`` on a list named for problems or refusals;
- functions whose returned text is a refusal or problem shown to people (REASON_FUNCS);
- the console's and the summary's Jinja2 templates: text between tags outside ``{{ _() }}``.

What passes through ``_("...").format(...)`` is a Call, not a literal, so it is never flagged.
Texts that stay English on purpose are listed in ALLOWED with the reason (documented log or
wire contracts, developer-only tools): each entry must still match something, so the list
cannot rot.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: English words: two words of two or more letters with a space (or ", ") between
WORDS = re.compile(r"[A-Za-z]{2,}[,;:]? +[A-Za-z]{2,}")
#: rich markup ([bold red], [/]) and command paths are not words a person reads as English
MARKUP = re.compile(r"\[/?[a-z #0-9]*\]")
COMMAND = re.compile(r"\bsignage(?: [a-z][a-z-]*)*")

ERRORS = {"ContentRejected", "ScreenUnavailable", "BadParameter", "IpcClosed", "IpcTimeout",
          "NoReply", "LinkDown", "Nacked", "NotRegular", "Refused", "UnknownDriver",
          "TextDoesNotFit"}
OUTPUT = {"print", "echo", "secho", "_say", "say", "_fail", "fail", "_note", "exit", "write"}
VERDICTS = {"PushVerdict", "verdict", "Verdict", "_refuse", "Problem", "Health", "_go_down",
            "_down", "_mark_closed"}
KEYWORDS = {"reason", "detail", "message", "why", "problem", "problems", "error", "title",
            "note"}
LISTS = ("problem", "bad", "refus", "why")
#: (file, function): its returned text is a refusal or a problem a person reads
REASON_FUNCS = {("signage/alerts/pubstate.py", "replay")}

#: (file, enclosing function or class, sink name; "*": any) -> why it stays English
ALLOWED: dict[tuple[str, str, str], str] = {
    ("signage/hub/store.py", "*", "*"):
        "the hub's stored reject reasons: data kept in the hub's store (docs/i18n.md)",
    ("drivers/led/codec.py", "*", "*"): "the LED board's wire protocol: byte-level decoding "
        "diagnostics for the driver's developer (offsets, CRC, DataLen), logged as data",
    ("drivers/led/area.py", "*", "*"): "the LED board's wire protocol (see codec.py)",
    ("drivers/led/bitmap.py", "*", "*"): "the LED board's wire protocol (see codec.py)",
    ("drivers/led/link.py", "*", "*"): "the LED board's wire protocol: the replies of each "
        "attempt, kept as data in the log's message",
    ("drivers/led/fakeboard.py", "*", "*"): "the fake LED board: a test and development tool "
        "that stands in for the hardware, not used by shop staff",
    ("signage/fleet/protocol.py", "*", "*"): "fleet protocol v1 decoding diagnostics between box "
        "and hub (docs/fleet.md), kept as data",
    ("signage/playlog/format.py", "*", "*"): "the record codec imports nothing of signage: "
        "its parser details ('not a JSON object', 'nested too deeply') appear only as the "
        "detail inside a translated message; the RuntimeError is a setup (build) error",
    ("signage/playlog/writer.py", "*", "*"): "programmer errors (a writer built wrong) and "
        "OSError(ENOSPC) whose strerror is the system's",
    ("signage/alerts/envelope.py", "seal", "*"): "programmer error: an unknown envelope kind "
        "asked for by our own code",
    ("signage/inspection/picture.py", "*", "*"): "programmer error: zxing-cpp's image shape",
    ("signage/hub/ingest.py", "*", "ProtocolError"): "a box's report or checkpoint the hub "
        "refuses: becomes the stored reject reason (as store.py), data",
    ("signage/inspection/web.py", "head", "dict[error]"): "the JSON of GET /api/head "
        "(docs/inspection-code.md), read by `signage inspect --hub` by its HTTP status",
}


def _english_text(node: ast.AST) -> bool:
    """English literal text that reaches this expression directly (not through _())."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORDS.search(COMMAND.sub("", MARKUP.sub("", node.value))))
    if isinstance(node, ast.JoinedStr):
        return any(_english_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _english_text(node.left) or _english_text(node.right)
    if isinstance(node, ast.IfExp):
        return _english_text(node.body) or _english_text(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_english_text(e) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "format":  # "...".format(): not through _()
        return _english_text(node.func.value)
    return False


def _name(f: ast.AST) -> str:
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def _sink_args(call: ast.Call) -> list[ast.AST]:
    """The arguments of ``call`` that a person reads, or [] when it is not a sink."""
    name = _name(call.func)
    everything = [*call.args, *(k.value for k in call.keywords)]
    if name.endswith(("Error", "Exception")) or name in ERRORS or name in VERDICTS:
        return everything
    if name in OUTPUT:
        return [*call.args]
    if name in ("append", "extend") and isinstance(call.func, ast.Attribute):
        target = ast.unparse(call.func.value).lower()
        if any(w in target for w in LISTS):
            return [*call.args]
    return [k.value for k in call.keywords if k.arg in KEYWORDS]


def _offenders(rel: str, source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function or class, sink) of every English literal reaching a sink."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, owner: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owner = node.name
        if isinstance(node, ast.Call) and any(_english_text(a) for a in _sink_args(node)):
            found.append((node.lineno, owner, _name(node.func)))
        if isinstance(node, ast.Dict):  # {"error": "..."}: a JSON answer, a page's context
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value in KEYWORDS and _english_text(v):
                    found.append((v.lineno, owner, f"dict[{k.value}]"))
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and \
                _english_text(node.value):  # why = f"...", then shown
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                name = t.id if isinstance(t, ast.Name) else \
                    t.attr if isinstance(t, ast.Attribute) else ""
                if name in KEYWORDS:
                    found.append((node.lineno, owner, f"{name} ="))
        if isinstance(node, ast.Call) and _name(node.func) in ("add_column", "Table") and \
                any(_english_text(a) for a in [*node.args, *(k.value for k in node.keywords)]):
            found.append((node.lineno, owner, _name(node.func)))
        if isinstance(node, ast.Return) and node.value is not None and \
                (rel, owner) in REASON_FUNCS and _english_text(node.value):
            found.append((node.lineno, owner, "return"))
        for child in ast.iter_child_nodes(node):
            visit(child, owner)

    visit(ast.parse(source), "<module>")
    return found


def test_no_english_literal_reaches_a_user_facing_sink() -> None:
    bad: list[str] = []
    used: set[tuple[str, str]] = set()
    for path in sorted([*(ROOT / "signage").rglob("*.py"), *(ROOT / "drivers").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        for line, owner, sink in _offenders(rel, path.read_text("utf-8")):
            for key in ((rel, owner, sink), (rel, owner, "*"), (rel, "*", sink),
                        (rel, "*", "*")):
                if key in ALLOWED:
                    used.add(key)
                    break
            else:
                bad.append(f"{rel}:{line} ({sink} in {owner})")
    assert not bad, "English text reaches a person without _(): write " \
        "_(\"English {name}\").format(name=...) (docs/i18n.md): " + ", ".join(bad)
    assert not set(ALLOWED) - used, f"ALLOWED entries that match nothing: " \
        f"{sorted(set(ALLOWED) - used)}"


#: Jinja2: {{ ... }}, {% ... %}, {# ... #}, tags, entities, <style>/<script> bodies
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TAG = re.compile(r"<(style|script)\b.*?</\1>|<[^>]*>|&[a-z]+;|&#\d+;", re.S | re.I)


def _template_english(text: str) -> list[str]:
    return WORDS.findall(_TAG.sub(" ", _JINJA.sub(" ", text)))


def test_templates_have_no_english_outside_the_catalogue() -> None:
    paths = sorted((ROOT / "signage").rglob("templates/*.html"))
    assert len(paths) >= 10, paths  # the console's pages and the summary
    bad = [f"{p.relative_to(ROOT)}: {w!r}" for p in paths
           for w in _template_english(p.read_text("utf-8"))]
    assert not bad, bad
    assert _template_english("<p title='a b'>{{ _('Log in now') }}</p><style>a b{}</style>"
                             "<h1>Log in</h1>") == ["Log in"]


def test_the_sweep_finds_what_it_should() -> None:
    """The check itself: each sink shape is caught, _() is not."""
    src = '''
def f(m, x):
    raise EnvelopeError("forged", f"bundle {m} is for somebody else")
def g(m):
    return PushVerdict(False, "other_region", [f"withdrawal of {m} is refused"])
def h(problems, m):
    problems.append(f"media {m} cannot be read")
def i(log):
    log.append("x", reason="screen went down")
def j(con):
    con.print("[bold]all good here[/]")
def k(m):
    raise EnvelopeError("forged", _("bundle {m} is for somebody else").format(m=m))
def l(con):
    con.print("[bold red]" + "[/]")
'''
    owners = [o for _line, o, _sink in _offenders("probe.py", src)]
    assert owners == ["f", "g", "h", "i", "j"], owners


def test_every_documented_refusal_code_has_a_label() -> None:
    """The refusal codes of alert_received and publication (docs/log-format.md) stay codes in
    the log; people read a label: the code in English, a phrase in zh-CN."""
    from signage import i18n
    from signage.alerts.reasons import CODES, label

    doc = (ROOT / "docs" / "log-format.md").read_text("utf-8")
    documented: set[str] = set()
    for kind in ("alert_received", "publication"):
        row = next(ln for ln in doc.splitlines() if ln.startswith(f"| `{kind}` |"))
        reasons = row.split("`reason` (", 1)[1].split(")", 1)[0]
        documented |= set(re.findall(r"`([a-z_]+)`", reasons))
    assert {"accepted", "other_region", "replay", "forged"} <= documented, documented
    assert documented <= CODES, sorted(documented - CODES)
    try:
        i18n.set_language("en")
        assert [label(c) for c in sorted(documented)] == sorted(documented)
        i18n.set_language("zh_CN")
        assert label("other_region") == "不是发给本场所或本区域的"
        assert all(not re.search("[a-z]{3}", label(c)) for c in documented), \
            [label(c) for c in documented]
        assert label("no_such_code") == "no_such_code"
    finally:
        i18n.set_language(None)
