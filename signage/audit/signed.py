"""Format 2: who vouched for the log. Checkpoint signatures against the inspector's trust
file, key rotations, witnesses, and what part of the audited time rests on a signature and on
a witness. Pure: checkpoint events in log order in, findings and coverage out.

Which signatures are computed. A checkpoint's signature over the head at seq N vouches for
every record of its unbroken stretch of chain up to N (SHA-256: changing any record changes the
head). So, along a stretch, the signature of a checkpoint is verified when it is a rotation,
when its key differs from the last verified one, when a day of log time (``VERIFY_EVERY_MS``)
has passed since the last verified one, and when it is the last checkpoint before a break of
the chain or the end of the log; the checkpoints in between are vouched for by the next
verified one. When a verification fails, every checkpoint since the last verified one is
verified, so each bad one is named. The cheap checks (head = previous digest, key registered
for the site at the checkpoint's time or introduced by a verified rotation, not retired) run on
every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..i18n import _
from ..keys import PublicKey, SigningKeyError
from ..playlog.v2 import Checkpoint, CheckpointError, parse_checkpoint
from ..trust import Trust

if TYPE_CHECKING:
    from ..inspection.witness import CodeWitness

#: verify a signature at least once per this much log time (see the module docstring)
VERIFY_EVERY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Witness:
    """A checkpoint kept outside the box: where it came from, and the checkpoint."""

    source: str  # FILE:LINE
    #: a checkpoint, or an on-screen inspection code (signage/inspection/witness.py), whose
    #: 16-byte head prefix the log's digest at its seq must begin with
    cp: Checkpoint | CodeWitness


@dataclass(slots=True)
class Pending:
    file: str
    line: int
    seq: int
    wall: int
    raw: bytes


@dataclass(slots=True)
class SignedReport:
    """What the audit says about signatures and witnesses (JSON: integrity.signatures)."""

    checkpoints: int = 0
    verified: int = 0  # signatures computed and good
    keys: list[str] = field(default_factory=list)  # key ids seen, in order
    rotations: list[dict[str, Any]] = field(default_factory=list)
    #: (seq, wall ms, file) of the last checkpoint vouched for on an unbroken chain
    last_signed: tuple[int, int, str] | None = None
    #: the log time spans vouched for by a signature / by a witness: [from, to] epoch ms
    signed_spans: list[tuple[int, int]] = field(default_factory=list)
    witnessed_spans: list[tuple[int, int]] = field(default_factory=list)
    unsigned_tail: int = 0  # records after the last good checkpoint
    unsigned_from: int | None = None  # wall ms of the first of them
    witnesses: list[dict[str, Any]] = field(default_factory=list)


Add = Any  # Stitcher.add: (kind, file, line, seq, message, breaks=None)


class Signatures:
    def __init__(self, trust: Trust, witnesses: list[Witness], add: Add, *,
                 log_site: str | None = None) -> None:
        """``log_site``: the site id of the log's configuration (run_start): a checkpoint must
        speak for that site, not for another whose key the signer may hold."""
        self.trust = trust
        self.add = add
        self.r = SignedReport()
        self.pending: list[Pending] = []  # vouched for only once a later one verifies
        self.last_verified_wall: int | None = None
        self.last_key: str | None = None
        self.rotated_in: dict[str, tuple[PublicKey, int]] = {}  # key id -> key, since wall
        #: key id -> (seq of the rotation that retired it, the key id it rotated to)
        self.retired: dict[str, tuple[int, str]] = {}
        self.signers: set[str] = set()  # key ids of the checkpoints accepted so far
        self.broken = False  # the chain broke: nothing after is covered
        self.start_wall: int | None = None  # the first record of the log
        self.good: tuple[int, int, str] | None = None  # (seq, wall, file) vouched
        self.last_seq: int | None = None
        self.witnesses = witnesses
        self.site: str | None = log_site
        self.seen_checkpoint = False
        #: (site, key id) -> the key's validity in epoch ms (None, None: not registered)
        self._valid: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        #: the common case, decided once: (key id, valid from, valid to or None, verify by)
        #: after a checkpoint of the log's site by a registered key that no rotation touched;
        #: a next checkpoint by that key inside that validity, before ``verify by`` (wall ms)
        #: and not a rotation, is only counted and held (see ``checkpoint``)
        self._same: tuple[str, int, int | None, int] | None = None

    # ---- the log, in order -----------------------------------------------------------------
    def records(self, first_wall: int, last_seq: int) -> None:
        """A chunk of records was read: the first one's wall time, the last one's seq."""
        if self.start_wall is None:
            self.start_wall = first_wall
        self.last_seq = last_seq

    def chain_break(self) -> None:
        """A break of the chain (digest, sequence, missing, malformed): what follows is not
        vouched for by what precedes; settle the checkpoints before it now."""
        if not self.broken:
            self._settle()
            self.broken = True

    def checkpoint(self, file: str, line: int, seq: int, wall: int, head_ok: bool,
                   site: str, key: str, next_key: str | None, raw: bytes) -> None:
        """One checkpoint event, in log order (its line is parsed only to verify it)."""
        same = self._same
        if same is not None and head_ok and next_key is None and key == same[0] \
                and site == self.site and same[1] <= wall < same[3] \
                and (same[2] is None or wall < same[2]) and len(self.pending) < 4096:
            # the common case: what the general path below would do for it, without asking
            # again what the last checkpoint's answers already tell
            self.r.checkpoints += 1
            self.pending.append(Pending(file, line, seq, wall, raw))
            return
        self._same = None
        self.r.checkpoints += 1
        self.seen_checkpoint = True
        if not head_ok:
            self.add("checkpoint", file, line, seq, _("the checkpoint's head is not the digest of "
                                                      "the record before it: records were changed "
                                                      "after it was signed"))
            self.chain_break()
        if key not in self.r.keys:
            self.r.keys.append(key)
        if self.site is None:
            self.site = site
        if site != self.site:
            self.add("signature", file, line, seq,
                     _("checkpoint signed for site {site!r}, but this log is site {site2!r}'s: a "
                       "signature for another site vouches for nothing "
                       "here").format(site=site, site2=self.site))
            self.chain_break()
            return
        why = self._key_problem(site, key, next_key, wall)
        if why is not None:
            self.add("signature", file, line, seq, why)
            self.chain_break()
            return
        self.signers.add(key)
        p = Pending(file, line, seq, wall, raw)
        self.pending.append(p)
        if next_key is not None or key != self.last_key or self.last_verified_wall is None \
                or wall - self.last_verified_wall >= VERIFY_EVERY_MS:
            try:
                cp = parse_checkpoint(raw)
            except CheckpointError as exc:  # (the scanner parsed it: not expected here)
                self.add("checkpoint", file, line, seq, _("checkpoint cannot be read: "
                                                          "{exc}").format(exc=exc))
                return
            ok = self._verify_now(cp, p)
            if next_key is not None:
                self._rotation(cp, p, ok)
        elif len(self.pending) > 4096:  # bound the memory: settle now
            self._settle()
        self.last_key = key
        valid = self._valid.get((site, key))
        if next_key is None and head_ok and self.last_verified_wall is not None \
                and key not in self.retired and key not in self.rotated_in \
                and valid is not None and valid[0] is not None:
            self._same = (key, valid[0], valid[1], self.last_verified_wall + VERIFY_EVERY_MS)

    def _key_problem(self, site: str, key: str, next_key: str | None,
                     wall: int) -> str | None:
        """Whether ``key`` may sign for ``site`` at ``wall`` (no cryptography here)."""
        if key in self.retired:
            at_seq, to = self.retired[key]
            try:
                repeat = PublicKey.from_text(next_key) if next_key else None
            except SigningKeyError:
                repeat = None
            # a repeated rotation is accepted for a crash between the rotation checkpoint and
            # the key swap: only before the new key signs anything, and within the old key's
            # validity like any checkpoint
            if repeat is None or repeat.key_id != to or to in self.signers:
                return (_("checkpoint signed by key {key}, which a rotation at seq {at_seq} "
                          "retired").format(key=key, at_seq=at_seq))
        if key in self.rotated_in and site == self.site \
                and self.trust.key_for(site, key) is None:
            return None  # (a key the trust file lists keeps the validity it gives there)
        got = self._valid.get((site, key))
        if got is None:
            tk = self.trust.key_for(site, key)
            got = self._valid[(site, key)] = (None, None) if tk is None else (
                int(tk.valid_from.timestamp() * 1000),
                None if tk.valid_to is None else int(tk.valid_to.timestamp() * 1000))
        lo, hi = got
        if lo is None:
            if self.trust.site(site) is None:
                return (_("site {site!r} is not in the trust file: nothing vouches for this "
                          "log").format(site=site))
            return (_("checkpoint signed by key {key}, which is not registered for site {site!r} "
                      "in the trust file nor introduced by a rotation").format(key=key, site=site))
        if wall < lo or (hi is not None and wall >= hi):
            at = datetime.fromtimestamp(wall / 1000, UTC).isoformat(timespec="seconds")
            return (_("checkpoint signed by key {key} at {at}, outside the key's validity period "
                      "in the trust file").format(key=key, at=at))
        return None

    def _public(self, key: str, site: str) -> PublicKey | None:
        if key in self.rotated_in:
            return self.rotated_in[key][0]
        tk = self.trust.key_for(site, key)
        return tk.public if tk is not None else None

    def _verify_now(self, cp: Checkpoint, p: Pending) -> bool:
        pub = self._public(cp.key, cp.site)
        if pub is not None and cp.verify(pub):
            self.r.verified += 1
            self._vouched(p)
            return True
        self._fail_pending()
        return False

    def _vouched(self, p: Pending) -> None:
        """``p`` verified: it and every pending one before it are vouched for."""
        self.pending.clear()
        self.last_verified_wall = p.wall
        if not self.broken:
            self.good = (p.seq, p.wall, p.file)

    def _fail_pending(self) -> None:
        """A verification failed: verify each pending one to name the bad ones; the last
        good one is vouched for, the coverage stops there."""
        good: Pending | None = None
        for q in self.pending:
            try:
                cp = parse_checkpoint(q.raw)
            except CheckpointError:
                continue
            pub = self._public(cp.key, cp.site)
            if pub is not None and cp.verify(pub):
                self.r.verified += 1
                if not self.broken:
                    good = q  # the last good one before the first bad one
            else:
                self.add("signature", q.file, q.line, q.seq,
                         _("the checkpoint's signature does not verify with key {key}: it was not "
                           "made by that key over this checkpoint (forged or "
                           "edited)").format(key=cp.key))
                if not self.broken:
                    self.broken = True
        if good is not None:
            self.good = (good.seq, good.wall, good.file)
        self.pending.clear()

    def _settle(self) -> None:
        """Verify the last pending checkpoint (it vouches for the rest)."""
        if not self.pending:
            return
        last = self.pending[-1]
        try:
            cp = parse_checkpoint(last.raw)
        except CheckpointError:
            self._fail_pending()
            return
        pub = self._public(cp.key, cp.site)
        if pub is not None and cp.verify(pub):
            self.r.verified += 1
            self._vouched(last)
        else:
            self._fail_pending()

    def _rotation(self, cp: Checkpoint, p: Pending, ok: bool) -> None:
        try:
            new = cp.next_public()
        except CheckpointError as exc:
            self.add("signature", p.file, p.line, p.seq, f"rotation: {exc}")
            return
        assert new is not None
        entry = {"seq": p.seq, "wall": cp.wall, "from_key": cp.key, "to_key": new.key_id,
                 "verified": ok}
        self.r.rotations.append(entry)
        if not ok:
            self.add("signature", p.file, p.line, p.seq,
                     _("a key rotation to {key_id} whose signature by key {key} does not verify: a "
                       "forged rotation; the new key is not "
                       "trusted").format(key_id=new.key_id, key=cp.key))
            return
        if new.key_id not in self.rotated_in and new.key_id != cp.key:
            self.rotated_in[new.key_id] = (new, p.wall)
            self.retired[cp.key] = (p.seq, new.key_id)

    # ---- the end -------------------------------------------------------------------------
    def finish(self, captured: dict[int, tuple[str, bytes]], first_seq: int | None,
               site: str | None) -> SignedReport:
        self._settle()
        r = self.r
        if self.site is None:
            self.site = site
        start = self.start_wall
        if self.good is not None and start is not None:
            r.last_signed = self.good
            r.signed_spans.append((start, self.good[1]))
        if not self.seen_checkpoint:
            self.add("unsigned", "", None, None,
                     _("no checkpoint in this format-2 log: no record is signed, anyone could have "
                       "written it"))
        elif self.good is None:
            self.add("unsigned", "", None, None, _("no checkpoint of this log verifies with a key "
                                                   "of the trust file: nothing vouches for it"))
        if self.last_seq is not None:
            if self.good is None:
                r.unsigned_tail = self.last_seq - (first_seq or 0) + 1
                r.unsigned_from = start
            else:
                r.unsigned_tail = max(0, self.last_seq - self.good[0])
                r.unsigned_from = self.good[1] if r.unsigned_tail else None
        self._witnesses(captured, first_seq)
        return r

    def _witnesses(self, captured: dict[int, tuple[str, bytes]], first_seq: int | None) -> None:
        best: tuple[int, int] | None = None  # (seq, wall) of the latest agreeing witness
        for w in self.witnesses:
            cp = w.cp
            entry: dict[str, Any] = {"source": w.source, "seq": cp.seq, "wall": cp.wall,
                                     "mac": cp.mac, "status": ""}
            self.r.witnesses.append(entry)
            if self.site is not None and cp.site != self.site:
                entry["status"] = "other_site"
                self.add("witness_ignored", w.source, None, cp.seq,
                         _("witness of site {site!r}, not this log's {site2!r}: "
                           "ignored").format(site=cp.site, site2=self.site),
                         breaks=False)
                continue
            pub = self._public(cp.key, cp.site)
            tk = self.trust.key_for(cp.site, cp.key)
            at = _wall_ms(cp.wall)
            valid = (cp.key in self.rotated_in) if tk is None else (
                at is not None and tk.valid_at(datetime.fromtimestamp(at / 1000, UTC)))
            if pub is None or not valid or not cp.verify(pub):
                entry["status"] = "not_signed"
                self.add("witness_ignored", w.source, None, cp.seq,
                         _("witness whose signature does not verify with a key trusted for the "
                           "site: it proves nothing and is ignored"), breaks=False)
                continue
            got = captured.get(cp.seq)
            if got is None:
                if first_seq is not None and cp.seq < first_seq:
                    entry["status"] = "before_log"
                    self.add("witness_ignored", w.source, None, cp.seq,
                             _("witnessed checkpoint seq {seq} is before the first record given "
                               "(seq {first_seq}): not "
                               "checked").format(seq=cp.seq, first_seq=first_seq), breaks=False)
                    continue
                entry["status"] = "missing"
                end = self.last_seq
                self.add("witness", w.source, None, cp.seq,
                         _("the log ends at seq {end}, before the witnessed checkpoint seq {seq} "
                           "(head {head}, digest {mac}): its tail was cut off or rewritten after "
                           "the witness was "
                           "taken").format(end=end, seq=cp.seq, head=cp.head, mac=cp.mac))
                continue
            file, mac = got
            log_mac = mac.decode("ascii", "replace")
            if log_mac[:len(cp.mac)] != cp.mac:  # a code holds a 32-digit prefix
                entry["status"] = "disagrees"
                entry["log_mac"] = log_mac
                self.add("witness", file, None, cp.seq,
                         _("the log disagrees with the witnessed checkpoint seq {seq} ({source}): "
                           "the log's record there has digest {log_mac}, the witness {mac}: the "
                           "log was rewritten after the witness was "
                           "taken").format(seq=cp.seq, source=w.source, log_mac=log_mac,
                                         mac=cp.mac))
                continue
            entry["status"] = "agrees"
            if at is not None and (best is None or cp.seq > best[0]):
                best = (cp.seq, at)
        if best is not None and self.start_wall is not None:
            # a witness vouches for its chain up to its seq; after a break only up to the
            # last vouched checkpoint
            to = best[1]
            if self.good is not None and self.broken:
                to = min(to, self.good[1])
            self.r.witnessed_spans.append((self.start_wall, to))


def _wall_ms(text: str) -> int | None:
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def covered_ms(spans: list[tuple[int, int]], a: int, b: int) -> int:
    """How much of [a, b) the spans cover."""
    return sum(max(0, min(b, y) - max(a, x)) for x, y in spans)
