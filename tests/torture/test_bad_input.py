"""Bad input: hypothesis-generated config and playlist files (malformed TOML, wrong types,
huge numbers, empty strings, control characters and ANSI escapes in slogans, paths with `..`,
absolute paths, symlinks out of the media root, characters the LED font cannot draw).

`signage validate` never raises (exit 0 or 1, no traceback, no ESC byte in its output) and
every problem line names the file and the field (or, for a file that is not TOML at all, the
line). A running daemon handed such an edit rejects the reload, logs it, and keeps its
schedule."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from signage.cli import app
from tests.e2e.e2etools import wait_for
from tests.logtools import af_gaps, planned_af_gaps, records

from .helpers import report, signage_popen

# ---- a small TOML writer (enough for config and playlists) ----------------------------------
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _str(k)


def _str(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    # TOML basic strings also forbid a raw DEL; JSON leaves it alone
    return out.replace("\x7f", "\\u007f")


def _val(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_val(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for k, v in doc.items():
        if isinstance(v, dict) and k != "contact":
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_val(v)}")
    for k, t in tables:
        lines.append(f"\n[{_key(k)}]")
        sub_arrays = []
        for k2, v2 in t.items():
            if isinstance(v2, list) and v2 and all(isinstance(x, dict) for x in v2):
                sub_arrays.append((k2, v2))
            else:
                lines.append(f"{_key(k2)} = {_val(v2)}")
        for k2, arr in sub_arrays:
            for x in arr:
                lines.append(f"\n[[{_key(k)}.{_key(k2)}]]")
                lines.extend(f"{_key(a)} = {_val(b)}" for a, b in x.items())
    for k, arr in arrays:
        for x in arr:
            lines.append(f"\n[[{_key(k)}]]")
            lines.extend(f"{_key(a)} = {_val(b)}" for a, b in x.items())
    return "\n".join(lines) + "\n"


# ---- the base site ---------------------------------------------------------------------------
CONFIG: dict[str, Any] = {
    "site": {"id": "fuzz-1", "name": "测试超市", "timezone": "Asia/Shanghai",
             "contact": {"name": "张三", "phone": "13800000000"}},
    "rule": {"max_gap_s": 60, "margin_s": 5, "measure": "end-to-start", "text_default_s": 8},
    "hours": {"default": ["08:00-22:00"], "sun": ["09:00-21:00"],
              "exceptions": [{"date": dt.date(2027, 2, 7), "closed": True, "note": "春节"}]},
    "log": {"dir": "log", "key_file": "site.key", "fsync": "every", "heartbeat_s": 30,
            "buffer_records": 1000},
    "media": {"root": "media"},
    "playlists": {"dir": "playlists", "reload_check_s": 2},
    "screens": [
        {"id": "hdmi", "label": "收银台", "driver": "simulator", "width": 320, "height": 180,
         "playlists": ["af", "store"], "options": {"kind": "hdmi"}},
        {"id": "led", "label": "门头", "driver": "simulator", "width": 128, "height": 16,
         "playlists": ["af", "store"], "options": {"kind": "led", "scroll_px_per_s": 32}},
    ],
}
AF: dict[str, Any] = {
    "name": "反诈", "content": "anti-fraud",
    "items": [
        {"id": "af0", "type": "text", "text": "凡是刷单就是诈骗", "duration_s": 8,
         "category": "刷单返利", "weight": 2},
        {"id": "af1", "type": "image", "path": "posters/p.png", "duration_s": 8},
    ],
}
STORE: dict[str, Any] = {
    "name": "促销", "content": "store", "dayparts": ["08:00-22:00"],
    "items": [{"id": "st0", "type": "text", "text": "今日特价", "duration_s": 10}],
}
DOCS = {"config.toml": CONFIG, "playlists/af.toml": AF, "playlists/store.toml": STORE}


def make_site(root: Path, docs: dict[str, Any], raw: dict[str, bytes] | None = None) -> Path:
    (root / "playlists").mkdir(exist_ok=True)
    media = root / "media"
    (media / "posters").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 18), (200, 0, 0)).save(media / "posters" / "p.png")
    outside = root / "outside.png"
    Image.new("RGB", (32, 18), (0, 200, 0)).save(outside)
    for name, target in (("out.png", outside), ("etc", Path("/etc")),
                         ("up.png", Path("../outside.png")), ("loop.png", Path("loop.png"))):
        link = media / name
        if not link.is_symlink():
            link.symlink_to(target)
    for name, doc in docs.items():
        data = raw[name] if raw and name in raw else to_toml(doc).encode("utf-8", "replace")
        (root / name).write_bytes(data)
    return root / "config.toml"


# ---- strategies ------------------------------------------------------------------------------
def leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*path, k))
            out.extend(leaves(v, (*path, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*path, i))
            out.extend(leaves(v, (*path, i)))
    return out


def get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def loc(path: tuple[Any, ...]) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else ("." if s else "") + str(p)
    return s


ANSI = ["\x1b[31m", "\x1b[2J", "\x1b]0;owned\x07", "\x1b[6n", "\x9b31m", "\u202e", "\u200b",
        "\x00", "\r", "\x08", "\x7f", "\ufeff"]
EMOJI = ["😀", "🚨", "👍🏽", "🇨🇳", "\U0010fffd", "\u0378", "𝕏"]
PATHS = ["../outside.png", "posters/../../outside.png", "/etc/passwd", "/", "out.png",
         "etc/hostname", "up.png", "", " ", "posters", "posters/p.png\x00.png",
         "loop.png", "C:\\\\x.png", "~/x.png", "posters/missing.png", "." * 300]

weird = st.one_of(
    st.text(max_size=40), st.just(""), st.just(" " * 3),
    st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([0, -1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -0.0, 5e-324]),
    st.booleans(), st.dates(),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
)
nasty_text = st.builds(
    lambda a, b, c: a + b + c,
    st.text(max_size=10), st.sampled_from(ANSI + EMOJI + ["[/]", "[red]", "%s", "{0}"]),
    st.text(max_size=10))


class Case:
    """One generated site: the documents, the mutation, and what a problem line must name."""

    def __init__(self) -> None:
        self.docs = copy.deepcopy(DOCS)
        self.raw: dict[str, bytes] = {}
        self.what: list[str] = []
        #: (file, field, stage) some problem line must name; stage "schema" (checked when the
        #: files before it load) or "semantic" (checked when this was the only mutation)
        self.expect: list[tuple[str, str, str]] = []
        #: per expectation, (path in the document, the value put there): a later mutation may
        #: have replaced or deleted it
        self.put: list[tuple[tuple[Any, ...], Any]] = []

    def still(self, i: int) -> bool:
        fname = self.expect[i][0]
        path, value = self.put[i]
        try:
            if get(self.docs[fname], path) is not value:
                return False
            # and it still sits where the base document had a table or array of that kind
            for k in range(len(path)):
                if type(get(DOCS[fname], path[:k])) is not type(get(self.docs[fname], path[:k])):
                    return False
        except (KeyError, IndexError, TypeError):
            return False
        return True


@st.composite
def cases(draw: st.DrawFn) -> Case:
    c = Case()
    for _ in range(draw(st.integers(1, 3))):
        fname = draw(st.sampled_from(sorted(DOCS)))
        doc = c.docs[fname]
        kind = draw(st.sampled_from(["value", "value", "delete", "unknown", "text", "path",
                                     "raw"]))
        paths = leaves(doc)
        if kind == "value":
            p = draw(st.sampled_from(paths))
            parent, key = get(doc, p[:-1]), p[-1]
            new = draw(weird)
            parent[key] = new
            c.what.append(f"{fname}: {loc(p)} = {new!r}")
            try:
                orig = get(DOCS[fname], p)  # the type the field really has
            except (KeyError, IndexError, TypeError):
                orig = new  # not a field of the base: no expectation
            if _wrong_type(orig, new) and not _nested_in_options(p):
                c.expect.append((fname, loc(p), "schema"))
                c.put.append((p, new))
        elif kind == "delete":
            p = draw(st.sampled_from(paths))
            parent = get(doc, p[:-1])
            if isinstance(parent, list):
                if len(parent) > 1:
                    del parent[p[-1]]
            else:
                del parent[p[-1]]
            c.what.append(f"{fname}: delete {loc(p)}")
        elif kind == "unknown":
            tables = [(), *[p for p in paths if isinstance(get(doc, p), dict)
                            and not _nested_in_options(p) and p[-1] != "options"]]
            p = draw(st.sampled_from(tables))
            name = draw(st.sampled_from(["colour", "maxgap", "path_", "Name", "typo"]))
            value = draw(weird)
            get(doc, p)[name] = value
            c.what.append(f"{fname}: unknown key {loc((*p, name))}")
            c.expect.append((fname, loc((*p, name)), "schema"))
            c.put.append(((*p, name), value))
        elif kind == "text":
            i = draw(st.integers(0, 1))
            target = draw(st.sampled_from(["slogan", "name", "site"]))
            t = draw(nasty_text)
            if target == "slogan":
                AFd = c.docs["playlists/af.toml"]
                if isinstance(AFd.get("items"), list) and AFd["items"] and \
                        isinstance(AFd["items"][0], dict):
                    AFd["items"][0].update(type="text", text=t)
                    AFd["items"][0].pop("path", None)
                    c.what.append(f"slogan {t!r}")
                    if any(ch in t for ch in ANSI) or any(ch in t for ch in EMOJI[:4]):
                        c.expect.append(("playlists/af.toml", "items[0].text",
                                         "schema" if any(ch in t for ch in ANSI) else "semantic"))
                        c.put.append((("items", 0, "text"), t))
            elif target == "name":
                c.docs["playlists/af.toml"]["name"] = t
                c.what.append(f"playlist name {t!r}")
            else:
                site = c.docs["config.toml"].get("site")
                if isinstance(site, dict):
                    site["name" if i else "id"] = t
                    c.what.append(f"site {'name' if i else 'id'} {t!r}")
        elif kind == "path":
            AFd = c.docs["playlists/af.toml"]
            its = AFd.get("items")
            if isinstance(its, list) and len(its) > 1 and isinstance(its[1], dict):
                bad = draw(st.sampled_from(PATHS))
                its[1].update(type="image", path=bad)
                its[1].pop("text", None)
                c.what.append(f"media path {bad!r}")
                c.expect.append(("playlists/af.toml", "items[1].path", "semantic"))
                c.put.append((("items", 1, "path"), bad))
        else:
            data = bytearray(to_toml(doc).encode("utf-8", "replace"))
            how = draw(st.sampled_from(["cut", "insert", "bytes"]))
            at = draw(st.integers(0, max(0, len(data) - 1)))
            if how == "cut":
                data = data[:at]
            elif how == "insert":
                data[at:at] = draw(st.sampled_from(
                    [b"[[", b"=", b'"', b"\n[site]\n", b"\xff\xfe", b"\x00", b"= =", b"}"]))
            else:
                data[at:at + 1] = bytes([draw(st.integers(0, 255))])
            c.raw[fname] = bytes(data)
            c.what.append(f"{fname}: raw {how} at {at}")
    return c


def _wrong_type(old: Any, new: Any) -> bool:
    """``new`` is certainly of the wrong TOML type where ``old`` was right."""
    def cls(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__
    if isinstance(old, dict | list):
        return not isinstance(new, type(old))
    return cls(old) != cls(new)


def _nested_in_options(p: tuple[Any, ...]) -> bool:
    return "options" in p[:-1] or ("exceptions" in p[:-1] and p[-1] == "note")


# ---- the property ----------------------------------------------------------------------------
PROBLEM = re.compile(r"^(?P<file>/\S+?\.toml|/\S+?)(?::(?P<line>\d+))?: (?:(?P<field>\S+): )?")
FUZZED = {"inputs": 0, "valid": 0, "invalid": 0, "problem_lines": 0}


def check_validate(root: Path, c: Case) -> None:
    cfg = make_site(root, c.docs, c.raw)
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    out, err = res.stdout, res.stderr
    ctx = f"{c.what}\nexit {res.exit_code}\nstderr: {err[-800:]}"
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"validate raised {res.exception!r}: {ctx}")
    assert res.exit_code in (0, 1), ctx
    assert "Traceback" not in out + err and "internal error" not in out + err, ctx
    assert "\x1b" not in out + err and "\x9b" not in out + err, f"an escape in the output {ctx}"
    FUZZED["inputs"] += 1
    if res.exit_code == 0:
        FUZZED["valid"] += 1
        stale = [e for i, e in enumerate(c.expect) if c.still(i) and e[0] not in c.raw]
        assert not stale, f"accepted although it must name {stale}: {ctx}"
        return
    FUZZED["invalid"] += 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and re.match(r"^\d+ problems? found; nothing was changed\.$", lines[-1]), ctx
    files = {str(root / n) for n in DOCS} | {str(root / "playlists")}
    for ln in lines[:-1]:
        FUZZED["problem_lines"] += 1
        m = PROBLEM.match(ln)
        assert m is not None and m["file"] in files, f"no file named in {ln!r}: {ctx}"
        assert m["field"] or m["line"] or _file_level(ln), f"no field (nor line) in {ln!r}: {ctx}"
    cfg_failed = any(ln.startswith(str(cfg)) for ln in lines[:-1])
    for i, (fname, fld, stage) in enumerate(c.expect):
        if not c.still(i):
            continue  # replaced or deleted by a later mutation
        if c.raw:
            continue  # a file that is not TOML any more: its parse error may come first
        if fname != "config.toml" and cfg_failed:
            continue  # the config did not load: playlists are not read (by design)
        if stage == "semantic" and len(c.what) > 1:
            continue  # another mutation may stop loading before this check
        path = str(root / fname)
        parent, _, leaf = fld.rpartition(".")
        leaf = leaf.split("[")[0]
        named = [ln for ln in lines if ln.startswith(path)
                 and (f" {fld}:" in ln or f" {fld}[" in ln
                      or (parent and f" {parent}:" in ln and leaf in ln)
                      or (not parent and f" {fld}" in ln))]
        assert named, f"no problem line names {fname} {fld}: {ctx}"


def _file_level(line: str) -> bool:
    return any(w in line for w in ("(at end of document)", "file is empty", "not UTF-8",
                                   "binary file", "file name:",
                                   "is a directory", "file not found", "playlist directory"))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_validate_never_raises_and_names_file_and_field(c: Case) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        check_validate(root, c)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report("bad input: validate", **FUZZED)


def test_the_base_site_is_valid(tmp_path: Path) -> None:
    """The fuzz starts from a valid site (else every case would be trivially invalid)."""
    cfg = make_site(tmp_path, copy.deepcopy(DOCS))
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 0, res.stderr


# ---- the same edits, to a running daemon ------------------------------------------------------
BAD_RELOADS: list[tuple[str, Callable[[str], str], str]] = [
    ("malformed TOML", lambda t: t + "\n[[items]\n", "malformed TOML"),
    ("wrong type", lambda t: t.replace("duration_s = 0.5", 'duration_s = "0.5"', 1),
     "items[0].duration_s"),
    ("huge number", lambda t: t.replace("duration_s = 0.5", "duration_s = 1e308", 1),
     "items[0].duration_s"),
    ("empty slogan", lambda t: t.replace("凡是刷单返利就是诈骗0", "", 1), "items[0]"),
    ("ANSI escape in a slogan", lambda t: t.replace("诈骗0", "诈骗\\u001b[2J\\u001b[31m", 1),
     "items[0].text"),
    ("path with ..", lambda t: t.replace('type = "text"\ntext = "凡是刷单返利就是诈骗0"',
                                         'type = "image"\npath = "../site.key"', 1),
     "items[0].path"),
    ("absolute path", lambda t: t.replace('type = "text"\ntext = "凡是刷单返利就是诈骗0"',
                                          'type = "image"\npath = "/etc/passwd"', 1),
     "items[0].path"),
    ("symlink out of the media root",
     lambda t: t.replace('type = "text"\ntext = "凡是刷单返利就是诈骗0"',
                         'type = "image"\npath = "out.png"', 1), "items[0].path"),
    ("unknown key", lambda t: t + '\ncolour = "red"\n', "colour"),
]


def test_a_running_daemon_rejects_bad_edits_and_keeps_its_schedule(
        site: Callable[..., Path]) -> None:
    cfg = site()
    base = cfg.parent
    outside = base / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    (base / "media" / "out.png").symlink_to(outside)
    af = base / "playlists" / "af.toml"
    good = af.read_text("utf-8")
    hold = 0.9
    # the daemon runs until the test stops it; each edit waits for the daemon's verdict on the
    # one before (a busy machine must not merge two edits into one reload), and at least
    # ``hold`` seconds of play between edits; 120 s bounds only a hang
    p = signage_popen("run", "--config", str(cfg), "--for", "10m", cwd=base)
    try:
        wait_for(base / "log", p, "two showings", lambda rs: sum(
            r["type"] == "showing" for r in rs) >= 2, timeout_s=120)
        for k, (_name, edit, _field) in enumerate(BAD_RELOADS):
            bad = edit(good)
            assert bad != good
            tmp = af.with_suffix(".tmp")  # saved as an editor does: never read half-written
            tmp.write_text(bad, "utf-8")
            os.replace(tmp, af)
            time.sleep(hold)
            wait_for(base / "log", p, f"the verdict on edit {k + 1}", lambda rs, n=k + 1: sum(
                r["type"] == "reload" for r in rs) >= n, timeout_s=120)
        af.write_text(good, "utf-8")  # back to the original: nothing new to apply
    finally:
        p.terminate()
    _out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "Traceback" not in err and "\x1b" not in err
    recs = records(base / "log", base / "site.key")
    reloads = [r for r in recs if r["type"] == "reload"]
    rejected = [r for r in reloads if not r["accepted"]]
    assert len(rejected) == len(BAD_RELOADS), [r["problems"] for r in reloads]
    assert all(not r["accepted"] for r in reloads[:len(BAD_RELOADS)])
    for (name, _edit, fld), r in zip(BAD_RELOADS, rejected, strict=True):
        assert any(str(af) in pr and fld in pr for pr in r["problems"]), (name, r["problems"])
        assert not any("\x1b" in pr for pr in r["problems"]), name
    assert err.count("reload rejected") == len(BAD_RELOADS)
    first, last = recs.index(rejected[0]), recs.index(rejected[-1])
    shown = {r["item"] for r in recs[first:] if r["type"] == "showing_start"}
    assert shown <= {"af0", "af1", "af2", "st0", "st1"}, shown  # the old items, only
    assert sum(r["type"] == "showing_start" and r["anti_fraud"] for r in recs[first:last]) >= 2
    # the gaps held throughout: as planned (budget 3 - 0.5 s, reloads included: a re-plan
    # counts it from the last anti-fraud showing's planned instants); the real ones catch a
    # hang
    assert max(planned_af_gaps(recs, "s1")) <= 2.5 + 0.001
    assert max(af_gaps(recs)["s1"]) <= 3.0 + 10
    report("bad input: reload", bad_reloads=len(BAD_RELOADS), rejected=len(rejected),
           showings_during=sum(r["type"] == "showing_start" for r in recs[first:last]),
           max_gap_s=round(max(af_gaps(recs)["s1"]), 3))


def test_a_missing_playlist_directory_is_named_by_its_config_field(tmp_path: Path) -> None:
    """`[playlists] dir` pointing nowhere is a mistake in config.toml: the problem line names
    config.toml and the field `playlists.dir` (as `media.root` does), not only the path."""
    docs = copy.deepcopy(DOCS)
    docs["config.toml"]["playlists"]["dir"] = "playlsts"
    cfg = make_site(tmp_path, docs)
    res = CliRunner().invoke(app, ["validate", "--config", str(cfg), "--days", "1"])
    assert res.exit_code == 1, res.stderr
    line = res.stderr.splitlines()[0]
    assert line.startswith(f"{cfg}:") and "playlists.dir" in line, line
