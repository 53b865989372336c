"""Integrity: stitch the chunk scans, in log order, into one verdict. Pure.

Each chunk was verified inside (every line against the claimed digest of the line before it);
here each chunk's first line is verified against the previous chunk's last digest, sequence
numbers must continue across chunks and files, monotonic time must not go back within a boot
(across chunks too), a ``seal`` must be its file's last record and name the next file, a file
that does not follow a seal must begin with ``run_start`` (the daemon restarted), torn tails
(a last line without newline) are tolerated and matched with the ``torn_tail`` records that
announce them, and an expected anchor must be found with its digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import N_, _
from ..playlog import format as fmt
from ..playlog.v2 import CheckpointError, parse_checkpoint
from .events import CHECKPOINT, MONO_SLACK_S, SEAL, TORN_NOTE, ChunkScan
from .model import FileInfo, Finding, Integrity
from .signed import Signatures

BREAKING = frozenset({"digest", "sequence", "mono", "malformed", "seal", "missing", "anchor",
                      "wrong_key", "checkpoint", "signature", "witness", "unsigned"})
#: findings after which the chain no longer vouches for what follows (format 2 coverage)
CHAIN_BREAKS = frozenset({"digest", "sequence", "missing", "malformed", "wrong_key"})
MAX_FINDINGS = 200
EDIT_HINT = N_("the record was edited, or records before it were deleted, inserted or reordered")


@dataclass(frozen=True, slots=True)
class Anchor:
    file: str
    seq: int
    mac: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        parts = text.strip().rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 64:
            raise ValueError(_("not an anchor {text!r}: expected FILE:SEQ:MAC as printed by "
                               "--anchor, e.g. signage-2026-11-28.jsonl:1234:<64 hex "
                               "digits>").format(text=text))
        return cls(parts[0], int(parts[1]), parts[2].lower())


def plain_name(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


class Stitcher:
    def __init__(self, key: bytes | None, anchor: Anchor | None = None, *,
                 complete_dir: bool = True, signatures: Signatures | None = None,
                 capture: frozenset[int] = frozenset()) -> None:
        self.v1_key = key
        self.key: bytes | None = key  # of the current file: None for format 2
        self.version = fmt.VERSION
        self.versions: list[int] = []  # the format versions read, in order
        self.anchor = anchor
        self.sig = signatures
        self.capture = capture
        #: seq -> (file, claimed digest) of the records asked for (witnesses)
        self.captured: dict[int, tuple[str, bytes]] = {}
        self.complete_dir = complete_dir  # inputs are whole directories (a missing file is
        # then a break; with files named one by one, the log may be a part of a longer one)
        self.r = Integrity()
        self.prev_mac: bytes | None = None
        self.prev_seq: int | None = None
        self.boot_mono: dict[str, int] = {}
        self.file: FileInfo | None = None
        self.file_lines = 0
        self.seal: tuple[str, int] | None = None  # next_file, line of the seal in this file
        self.after_seal: str | None = None  # next_file named by the previous file's seal
        self.torn: list[tuple[str, int, int, str]] = []
        self.notes: set[tuple[str, int, int, str]] = set()
        self.key_checked = False
        self.expect_run_start = False
        self.last_type = ""

    def add(self, kind: str, file: str, line: int | None, seq: int | None, message: str,
            breaks: bool | None = None) -> None:
        brk = kind in BREAKING if breaks is None else breaks
        self.r.counts[kind] = self.r.counts.get(kind, 0) + 1
        if brk:
            self.r.unbroken = False
        if len(self.r.findings) < MAX_FINDINGS:
            self.r.findings.append(Finding(kind, file, line, seq, message, brk))

    # ---- files -----------------------------------------------------------------------------
    def begin_file(self, info: FileInfo, version: int = fmt.VERSION) -> None:
        self.version = version
        self.key = self.v1_key if version == fmt.VERSION else None
        if version not in self.versions:
            self.versions.append(version)
        self.r.files.append(info)
        self.file = info
        self.file_lines = 0
        self.seal = None
        if self.after_seal is not None and self.after_seal != plain_name(info.name):
            self.add("seal", info.name, None, None,
                     _("the previous file's seal names {after_seal} as the next file, not {name}: "
                       "a file is missing or "
                       "misplaced").format(after_seal=self.after_seal, name=plain_name(info.name)))
        self.expect_run_start = self.prev_seq is not None and self.after_seal is None
        self.after_seal = None

    def end_file(self) -> None:
        f = self.file
        assert f is not None
        if self.seal is not None:
            nxt, line = self.seal
            if line != self.file_lines:
                self.add("seal", f.name, line, None,
                         _("records follow the seal (naming {nxt}) in the same "
                           "file").format(nxt=nxt))
            f.sealed = True
            self.after_seal = nxt
            if f.torn is not None:  # the writer never writes after a seal: damage
                self.add("seal", f.name, None, None,
                         _("{n} bytes follow the seal (naming {next}) at offset {offset}: the "
                           "writer never writes after a seal").format(
                               n=f.torn["length"], next=nxt, offset=f.torn["offset"]))
                self.torn = [t for t in self.torn if t[0] != plain_name(f.name)]

    def seed(self, seq: int, mac: bytes, rtype: str) -> None:
        """The log given starts at ``seq`` > 0 (older files removed or not given): its first
        record's digest cannot be checked (the record before it is not there). It is not
        scanned: its claimed digest only starts the chain, which verifies every later
        record, and nothing in it (its type, times or content) is used. Call after
        ``begin_file`` of the first file."""
        f = self.file
        assert f is not None
        self.prev_seq, self.prev_mac = seq, mac
        self.expect_run_start = False
        f.first_seq = f.last_seq = seq
        f.records += 1
        self.r.records += 1
        self.file_lines = 1
        self.last_type = rtype
        self.r.head = (plain_name(f.name), seq, mac.decode("ascii", "replace"))
        self.r.unverified.append({"file": plain_name(f.name), "line": 1, "seq": seq,
                                  "type": rtype})
        self.add("partial_start", f.name, 1, seq,
                 _("the log given starts at seq {seq}, not 0 (older files were removed or not "
                   "given): this first record (a {type}) cannot be verified, so nothing in it "
                   "is used (not its configuration, times or showings); the chain is verified "
                   "from the next record on").format(seq=seq, type=rtype), breaks=False)

    # ---- chunks ----------------------------------------------------------------------------
    def feed(self, c: ChunkScan, offset: int) -> None:
        """One chunk's scan, ``offset`` = the byte offset of its first line in the file."""
        f = self.file
        assert f is not None
        base = self.file_lines
        if not self.key_checked and c.lines > 1:
            self.key_checked = True
            if c.bad_macs >= 0.9 * (c.lines - 1):
                self._wrong_key(f, base)
        if c.first_seq is not None and c.first_hdr is not None:
            self._join(f, c, base)
        breaks = sorted(p[1] for p in c.problems if p[0] in CHAIN_BREAKS)
        if any(n > 0 for k, n in c.problem_counts.items() if k in CHAIN_BREAKS) and not breaks:
            breaks = [c.lines]
        for kind, idx, seq, msg in c.problems:
            if kind == "digest" and self.r.wrong_key:
                continue
            if kind == "digest":
                msg = _("{message}: {hint}").format(message=msg, hint=_(EDIT_HINT))
            if kind == "mono_jitter":
                self.add(kind, f.name, base + idx + 1, seq, _("{message} (tolerated: see "
                         "docs/log-format.md)").format(message=msg), breaks=False)
            else:
                self.add(kind, f.name, base + idx + 1, seq, msg,
                         breaks=None if kind != "unreadable" else False)
        for kind, n in c.problem_counts.items():
            shown = sum(1 for p in c.problems if p[0] == kind)
            if n > shown:
                self.r.counts[kind] = self.r.counts.get(kind, 0) + n - shown
                if kind in BREAKING:
                    self.r.unbroken = False
        for boot, first, last in c.boots:
            seen = self.boot_mono.get(boot)
            if seen is not None and first < seen - MONO_SLACK_S * 1000:
                self.add("mono", f.name, base + 1, c.first_seq,
                         _("monotonic time goes back {seconds:.3f} s within boot "
                           "{boot}").format(seconds=(seen - first) / 1000, boot=boot))
            self.boot_mono[boot] = max(last, seen if seen is not None else last)
        sig = self.sig
        if sig is not None and c.last_seq is not None:
            hdr = c.first_hdr or c.last_hdr
            if hdr is not None:
                sig.records(hdr[2], c.last_seq)
        bi = 0
        for ev in c.events:
            if ev[0] == SEAL:
                self.seal = (ev[3], base + ev[1] + 1)
            elif ev[0] == TORN_NOTE:
                self.notes.add((plain_name(ev[2]), ev[3], ev[4], ev[5]))
            elif ev[0] == CHECKPOINT and sig is not None:
                _k, idx, seq, wall, _mono, head_ok, site, key, next_key, raw = ev
                while bi < len(breaks) and breaks[bi] < idx:
                    sig.chain_break()
                    bi += 1
                if head_ok is None:  # the chunk's first line: its head is the last chunk's
                    try:
                        head_ok = self.prev_mac is not None and \
                            parse_checkpoint(raw).head.encode() == self.prev_mac
                    except CheckpointError:
                        head_ok = False
                sig.checkpoint(f.name, base + idx + 1, seq, wall, head_ok, site, key,
                               next_key, raw)
        if sig is not None and bi < len(breaks):
            sig.chain_break()
        for seq, mac in c.captured.items():
            self.captured[seq] = (plain_name(f.name), mac)
            if self.anchor is not None and seq == self.anchor.seq:
                self._anchor_seen(f, mac)
        if c.torn is not None:
            pos, length, sha = c.torn
            f.torn = {"offset": offset + pos, "length": length, "sha256": sha}
            self.torn.append((plain_name(f.name), offset + pos, length, sha))
        f.records += c.lines
        self.r.records += c.lines
        self.file_lines += c.lines
        if c.last_plain_type is not None:
            self.last_type = c.last_plain_type
        if c.last_seq is not None:
            if f.first_seq is None:
                f.first_seq = c.first_seq
            f.last_seq = c.last_seq
            self.prev_seq = c.last_seq
            self.prev_mac = c.last_mac
            self.r.head = (plain_name(f.name), c.last_seq, c.last_mac.decode("ascii", "replace"))

    def _join(self, f: FileInfo, c: ChunkScan, base: int) -> None:
        assert c.first_seq is not None and c.first_hdr is not None
        line = base + 1
        new_file = base == 0
        if new_file and self.expect_run_start:
            self.expect_run_start = False
            if c.first_hdr[4] != "run_start":
                self.add("missing", f.name, 1, c.first_seq,
                         _("the previous file was not sealed and this one does not begin with "
                           "run_start: a file is missing before it, or files are out of order"))
        if self.prev_mac is None:
            if c.first_seq == 0:
                self.key_checked = True
                if fmt.verify(self.key, fmt.GENESIS, c.first_line) is None:
                    if c.lines == 1 or c.bad_macs >= 0.9 * (c.lines - 1):
                        self._wrong_key(f, base)
                    else:
                        self.add("digest", f.name, line, 0,
                                 _("the first record (seq 0) does not verify: it was edited"))
                    if self.sig is not None:
                        self.sig.chain_break()
            else:
                self.add("partial_start", f.name, line, c.first_seq,
                         _("the log given starts at seq {first_seq}, not 0 (older files were "
                           "removed or not given); this first record's own digest cannot be "
                           "checked").format(first_seq=c.first_seq), breaks=False)
            return
        assert self.prev_seq is not None
        if c.first_seq != self.prev_seq + 1:
            if c.first_seq > self.prev_seq + 1:
                what = (_("records {first}..{last} are "
                          "missing").format(first=self.prev_seq + 1, last=c.first_seq - 1)
                        + (_(" (a file is missing before this one)") if new_file else ""))
            else:
                what = _("seq {first_seq} after seq {prev_seq}: repeated or "
                         "reordered").format(first_seq=c.first_seq, prev_seq=self.prev_seq)
            self.add("missing" if new_file else "sequence", f.name, line, c.first_seq, what)
            if self.sig is not None:
                self.sig.chain_break()
        if not self.r.wrong_key and fmt.verify(self.key, self.prev_mac, c.first_line) is None:
            self.add("digest", f.name, line, c.first_seq,
                     _("the digest does not verify: {hint}").format(hint=_(EDIT_HINT)))
            if self.sig is not None:
                self.sig.chain_break()

    def _wrong_key(self, f: FileInfo, base: int) -> None:
        self.key_checked = True
        if not self.r.wrong_key:
            self.r.wrong_key = True
            if self.key is None:
                self.add("wrong_key", f.name, base + 1, None,
                         _("the chain does not verify (not one record's SHA-256 digest matches): "
                           "not a log written by signage, or rewritten throughout"))
            else:
                self.add("wrong_key", f.name, base + 1, None,
                         _("the key does not verify this log (not one record's digest matches): "
                           "wrong key file, or not this site's log"))
            if self.sig is not None:
                self.sig.chain_break()

    def _anchor_seen(self, f: FileInfo, mac: bytes) -> None:
        a = self.anchor
        assert a is not None
        ok = mac.decode("ascii", "replace") == a.mac and plain_name(a.file) == plain_name(f.name)
        self.r.anchor = {"file": a.file, "seq": a.seq, "mac": a.mac, "found": ok,
                         "message": _("the log still holds the anchor") if ok else
                         _("the record with seq {seq} differs from the anchor: the log was "
                           "rewritten after the anchor was taken").format(seq=a.seq)}
        if not ok:
            self.add("anchor", f.name, None, a.seq, self.r.anchor["message"])

    # ---- the end -----------------------------------------------------------------------------
    def finish(self) -> Integrity:
        r = self.r
        if self.after_seal is not None and r.files and r.files[-1].sealed:
            self.add("missing", r.files[-1].name, None, self.prev_seq,
                     _("the log ends with a seal naming {after_seal}, which is missing: the log "
                       "was cut short").format(after_seal=self.after_seal) if self.complete_dir else
                     _("the last file given is sealed; its successor {after_seal} was not "
                       "given").format(after_seal=self.after_seal), breaks=self.complete_dir)
        last_file = plain_name(r.files[-1].name) if r.files else ""
        for name, off, length, sha in self.torn:
            if name == last_file:
                self.add("torn_tail", name, None, None,
                         _("ends in a torn line ({length} bytes at offset {off}): a power cut "
                           "while writing; tolerated").format(length=length, off=off), breaks=False)
            elif (name, off, length, sha) not in self.notes:
                self.add("torn_tail", name, None, None,
                         _("torn line ({length} bytes at offset {off}) not announced by a "
                           "torn_tail record of the next run; "
                           "tolerated").format(length=length, off=off), breaks=False)
        if self.last_type not in ("run_stop", "") and self.anchor is None:
            self.add("open_end", r.files[-1].name if r.files else "", None, self.prev_seq,
                     _("the log ends with a {last_type} record, not run_stop: the daemon was still "
                       "running, stopped abruptly, or the tail was cut off (only an anchor taken "
                       "earlier can tell: "
                       "--expect-anchor)").format(last_type=self.last_type), breaks=False)
        a = self.anchor
        if a is not None and r.anchor is None:
            first = r.files[0].first_seq if r.files else None
            if self.prev_seq is None or a.seq > self.prev_seq:
                msg = (_("the log ends at seq {prev_seq}, before the anchor's seq {seq}: its tail "
                         "was cut off or rewritten").format(prev_seq=self.prev_seq, seq=a.seq))
            else:
                msg = (_("the anchor's seq {seq} is not in the files given (they start at seq "
                         "{first})").format(seq=a.seq, first=first))
            r.anchor = {"file": a.file, "seq": a.seq, "mac": a.mac, "found": False,
                        "message": msg}
            self.add("anchor", a.file, None, a.seq, msg)
        if r.records == 0:
            self.add("missing", "", None, None, _("the log holds no records"))
        return r
