"""Scan one chunk of a log file: check every line's shape, header and digest, and pull out the
compact events the compliance engine needs. Pure (bytes in, ``ChunkScan`` out); it runs in
worker processes, one chunk at a time, so it is the hot loop of the audit.

Each line is verified against the *claimed* digest of the line before it; the first line of a
chunk is returned whole and verified by the caller against the previous chunk's last digest
(see integrity.py). Together that verifies the whole chain, in parallel.

Parsing is done on bytes without building a dict per record: the common header is checked
against what the writer must have produced (``{"v":1,"seq":<expected>,"type":"…","run":…``),
``showing`` records are read with one anchored regular expression in the writer's key order,
and rare record types go through ``format.decode``. Any line that does not take the fast path
is re-read with ``format.split``/``format.verify``/``format.decode`` to say what is wrong.

The events are described in events.py.

The compiled fast path (``_fastscan.c``, when it is built) walks the common lines the same
way and hands back to this loop every line it cannot vouch for (before touching it) and the
lines whose content this loop must read (after their header, digest and time): its results
are identical, this module is the reference. ``SIGNAGE_PURE_PYTHON=1`` (or ``compiled=False``)
scans without it.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import re
from collections.abc import Callable

from ..i18n import _
from ..playlog import format as fmt
from ..playlog.format import Hmac
from ..playlog.v2 import CheckpointError, parse_checkpoint
from .events import (
    AF,
    CHECKPOINT,
    MARK,
    MONO_SLACK_S,
    RUN_END,
    SHOW_FAILED,
    SILENCE,
    SILENCE_MS,
    STORE,
    ChunkScan,
)
from .records import json_str, rare, showing_slow, slow_header, utf8
from .timeparse import mono_ms, mono_s, wall_ms

try:
    from . import _fastscan as _fast
except ImportError:  # not built (no compiler where it was installed): the pure-Python path
    _fast = None  # type: ignore[assignment]

_SILENCE_S = SILENCE_MS / 1000
#: what timeline.clock_steps searches the log for (ChunkScan.clock_step)
CLOCK_STEP_NEEDLE = b'"type":"clock_step"'
_MAC_HEAD = b',"mac":"'
_MONO_KEY = b'","mono":'
_S = rb'"([^"\\]*)"'  # a string without escapes (the fast case)
_SE = rb'"([^"\\]*(?:\\.[^"\\]*)*)"'  # any JSON string
_NUM = rb'([-0-9.eE+]+)'
_AF_TAIL = (rb',"anti_fraud":true,"planned":(?:null|"[^"\\]*"),"start":"([^"\\]*)"'
            rb',"end":"([^"\\]*)","start_mono":' + _NUM + rb',"end_mono":' + _NUM +
            rb',"outcome":"(completed|cut_short|failed)"[,}]')
#: an anti-fraud showing from the end of its screen id on, in the writer's key order
_AF = re.compile(rb'","item":' + _S + rb',"playlist":(?:null|"[^"\\]*"),"kind":(?:null|"[^"\\]*")'
                 rb',"category":(?:null|' + _S + rb')' + _AF_TAIL)
_SN = rb'"[^"\\]*(?:\\.[^"\\]*)*"'  # any JSON string, not captured
_AF_ESC = re.compile(rb'","item":' + _SE + rb',"playlist":(?:null|' + _SN + rb'),"kind":(?:null|'
                     + _SN + rb'),"category":(?:null|' + _SE + rb')' + _AF_TAIL)


def compiled_available() -> bool:
    """Whether the compiled fast path is built and not switched off (SIGNAGE_PURE_PYTHON)."""
    return _fast is not None and os.environ.get("SIGNAGE_PURE_PYTHON", "") in ("", "0")


def finder() -> Callable[[bytes, bytes, int, int], int]:
    """``bytes.find(data, needle, start, end)``, compiled (memmem) when available."""
    return _fast.find if compiled_available() and _fast is not None else bytes.find


def scan_chunk(data: bytes, key: bytes | None, *, final: bool,
               screens: frozenset[str] | None = None,
               capture: tuple[int, ...] = (), compiled: bool | None = None) -> ChunkScan:
    """Scan ``data``: whole lines from a line start. When ``final`` (the file's last chunk), a
    last line without newline is a torn tail; otherwise ``data`` should end with a newline.
    ``key``: the site key of a format-1 file, or None for a format-2 file (plain SHA-256
    chain, checkpoints). ``capture``: the seqs whose claimed digest to note (sorted).
    ``compiled``: use the compiled fast path (None: when ``compiled_available()``)."""
    out = ChunkScan()
    out.clock_step = finder()(data, CLOCK_STEP_NEEDLE, 0, len(data)) >= 0
    ver = fmt.VERSION if key is not None else fmt.VERSION_2
    plain = key is None
    hm = Hmac(key if key is not None else b"")
    icopy, ocopy = hm._inner.copy, hm._outer.copy
    if plain:
        icopy = hashlib.sha256().copy
    capture_set = frozenset(capture)
    vtag = b"v%d" % ver
    last_plain = b""
    hexlify = binascii.hexlify
    view = memoryview(data)
    find = data.find
    startswith = data.startswith
    events = out.events
    problem = out.problem
    n = len(data)
    pos = 0
    idx = -1
    prev_mac: bytes | None = None
    seq_next = b"\0"  # b'{"v":<ver>,"seq":N,"type":"' expected next
    lsn = 0
    seq = -1
    run_boot = b"\0"  # b'","run":"…","boot":"…","wall":"' of the current stretch
    lrb = 0
    run = boot = ""
    seg_first = 0  # first mono (ms) of the current boot stretch
    last_mono_f = -1e300  # greatest mono so far in this boot
    prev_mono_f = -1e300  # mono of the previous record of this run (for silences)
    last_wall = 0  # wall (ms) of the last record read whole
    have_last = False
    last_type_b = b""
    last_hb: dict[str, int] = {}
    store: dict[str, list[bytes]] = {}  # screen -> [first start, last end] since its last AF
    names: dict[bytes, str] = {}  # decoded screen ids, items, categories (shared strings)

    def cached(raw: bytes) -> str:
        got = names.get(raw)
        if got is None:
            got = names[raw] = utf8(raw)
        return got

    if compiled is None:
        compiled = compiled_available()
    elif compiled and _fast is None:
        raise RuntimeError(_("the compiled scanner (signage.audit._fastscan) is not built"))
    fast = (_fast.Scanner(key, screens, names, store, events, capture, AF)
            if compiled and _fast is not None and n else None)
    content_only = False  # the compiled path did the header, digest and time of this line
    while pos < n:
        if fast is not None and prev_mac is not None and seq_next != b"\0":
            got = fast.run(data, pos, seq, prev_mac, run_boot, last_mono_f, prev_mono_f, boot,
                           idx)
            if got is not None:
                pos, k, seq, prev_mac, last_mono_f, last_wall, last_type_b, pend, lp, hb = got
                prev_mono_f = last_mono_f
                if hb is not None:  # the heartbeats walked in C, all of run ``run``
                    h0, h1, hmin = hb
                    lh = last_hb.get(run)
                    if lh is not None and h0 > lh and (hmin < 0 or h0 - lh < hmin):
                        hmin = h0 - lh
                    if hmin >= 0:
                        out.hb_min_ms[run] = min(out.hb_min_ms.get(run, hmin), hmin)
                    last_hb[run] = h1
                rtype_b = last_type_b
                if lp is not None:
                    last_plain = lp
                idx += k
                have_last = True
                seq_next = b'{"v":%d,"seq":%d,"type":"' % (ver, seq + 1)
                lsn = len(seq_next)
                if pos >= n:
                    break
                if pend >= 0:
                    content_only = True
                    mono_f, wall_i = last_mono_f, last_wall
        nl = find(b"\n", pos)
        if nl < 0:
            if final and n - pos <= fmt.MAX_LINE:
                tail = data[pos:]
                out.torn = (pos, len(tail), hashlib.sha256(tail).hexdigest())
                break
            nl = n  # not expected from the reader: treat the rest as a line
        idx += 1
        try:
            if content_only:
                content_only = False
                prior = None  # (the compiled path hands back no checkpoint: see _fastscan.c)
            else:
                if nl - pos > fmt.MAX_LINE:
                    raise _Bad(_("a line of more than {mib} MiB: longer than any record "
                                 "(docs/log-format.md)").format(mib=fmt.MAX_LINE >> 20))
                # ---- header: the fast path checks what the writer must have written --------------
                pend = -1
                if startswith(seq_next, pos):
                    te = find(b'"', pos + lsn, nl)
                    if startswith(run_boot, te) and startswith(_MONO_KEY, te + lrb + 29):
                        w = te + lrb
                        pend = find(b",", w + 38, nl)
                        mono_f = mono_s(data[w + 38:pend])
                        rtype_b = data[pos + lsn:te]
                        wall_i = wall_ms(data[w:w + 29])  # ValueError: malformed
                        seq += 1
                if pend < 0:
                    line = data[pos:nl]
                    if fmt.split(line) is None:
                        raise _Bad(_("not a log record (not shaped like a line of log format "
                                     "{vtag})").format(vtag=vtag.decode()))
                    hdr = slow_header(line, ver)
                    if isinstance(hdr, str):
                        if hdr.startswith("v="):
                            other = hdr[2:]
                            if out.bad_version is None:
                                out.bad_version = (int(other) if other.lstrip("-").isdigit()
                                                   else -1, idx)
                            raise _Bad(_("format version {other}").format(other=other))
                        raise _Bad(_("not a log record: {hdr}").format(hdr=hdr))
                    v, rseq, rtype, rrun, rboot, wall_b, mono_b = hdr
                    if v != ver:
                        if out.bad_version is None:
                            out.bad_version = (v, idx)
                        raise _Bad(_("format version {v}").format(v=v))
                    wall_i = wall_ms(wall_b)  # ValueError: malformed
                    mono_f = mono_s(mono_b)
                    if idx > 0 and seq_next != b"\0" and rseq != seq + 1:
                        what = _("repeats or goes back") if rseq <= seq else _("skips")
                        problem("sequence", idx, rseq,
                                _("sequence {what}: seq {rseq} after seq "
                                  "{seq}").format(what=what, rseq=rseq, seq=seq))
                    seq = rseq
                    rtype_b = rtype.encode()
                    if idx > 0 and (rrun != run or rboot != boot) and have_last:
                        events.append((RUN_END, last_wall, mono_ms(prev_mono_f), boot,
                                       run, utf8(last_type_b)))
                        prev_mono_f = -1e300
                    if rboot != boot:
                        if idx > 0 and last_mono_f > -1e299:
                            out.boots.append((boot, seg_first, mono_ms(last_mono_f)))
                        seg_first = mono_ms(mono_f)
                        last_mono_f = -1e300
                    run, boot = rrun, rboot
                    run_boot = f'","run":"{run}","boot":"{boot}","wall":"'.encode()
                    lrb = len(run_boot)
                    k = find(_MONO_KEY, pos, nl)
                    pend = find(b",", k + 9, nl + 1) if k >= 0 else pos
                seq_next = b'{"v":%d,"seq":%d,"type":"' % (ver, seq + 1)
                lsn = len(seq_next)
                # ---- digest --------------------------------------------------------------------
                # the fixed frame around the digest: ,"mac":"<64 hex>"} (else the line is not JSON)
                if nl - pos <= fmt.SUFFIX_LEN or not (startswith(_MAC_HEAD, nl - fmt.SUFFIX_LEN)
                                                      and startswith(b'"}', nl - 2)):
                    raise _Bad(_("not a log record (the frame around its digest is damaged)"))
                claimed = data[nl - 66:nl - 2]
                prior = prev_mac
                if prev_mac is not None:
                    h = icopy()
                    h.update(prev_mac)
                    h.update(view[pos:nl - 74])
                    if plain:
                        dg = h.digest()
                    else:
                        o = ocopy()
                        o.update(h.digest())
                        dg = o.digest()
                    if hexlify(dg) != claimed:
                        if fmt.split(data[pos:nl]) is None:
                            raise _Bad(_("not a log record (not shaped like a line of log format "
                                         "{vtag})").format(vtag=vtag.decode()))
                        out.bad_macs += 1
                        problem("digest", idx, seq, _("the digest does not verify"))
                elif idx == 0:
                    out.first_line = data[pos:nl]
                    out.first_seq = seq
                    out.first_hdr = (run, boot, wall_i, mono_ms(mono_f), utf8(rtype_b))
                prev_mac = claimed
                if seq in capture_set:
                    out.captured[seq] = claimed
                # ---- time ----------------------------------------------------------------------
                if last_mono_f <= mono_f <= prev_mono_f + _SILENCE_S:
                    last_mono_f = mono_f  # the common case: forward, not after a silence
                elif mono_f < last_mono_f:
                    back = last_mono_f - mono_f
                    problem("mono" if back > MONO_SLACK_S else "mono_jitter", idx, seq,
                            _("monotonic time goes back {back:.3f} s within boot "
                              "{boot}").format(back=back, boot=boot))
                else:
                    if prev_mono_f > -1e299:
                        events.append((SILENCE, last_wall, wall_i,
                                       mono_ms(prev_mono_f), mono_ms(mono_f), boot, run))
                    last_mono_f = mono_f
                prev_mono_f = mono_f
                last_wall = wall_i
                have_last = True
                last_type_b = rtype_b
                if rtype_b != b"checkpoint" or not plain:
                    last_plain = rtype_b
            # ---- content -----------------------------------------------------------------------
            if rtype_b == b"showing_start":
                continue
            if rtype_b == b"checkpoint" and plain:
                m = _CP.match(data, pend, nl)
                if m is not None and int(m.group(2)) == seq - 1:  # the writer's exact shape
                    site_b, _hs, head, key_b, nk = m.groups()
                    events.append((CHECKPOINT, idx, seq, wall_i, mono_ms(mono_f),
                                   None if prior is None else head == prior, cached(site_b),
                                   key_b.decode(), None if nk == b"null" else utf8(nk[1:-1]),
                                   data[pos:nl]))
                else:
                    checkpoint(out, data[pos:nl], idx, seq, wall_i, mono_ms(mono_f), prior)
                continue
            if rtype_b == b"showing":
                af_i = find(b',"anti_fraud":', pend, nl) + 14
                se = find(b'"', pend + 11, nl)
                if startswith(b',"screen":"', pend) and af_i > 14 and data[se - 1] != 92:
                    sid_b = data[pend + 11:se]
                    sid = names.get(sid_b)
                    if sid is None:
                        sid = names[sid_b] = utf8(sid_b)
                    if screens is not None and sid not in screens:
                        continue
                    if startswith(b'false,', af_i):
                        # store content: when it ran (a planned gap). A failed one counts too:
                        # it lasted no time, and its driver_error record says what happened
                        e = find(b',"end":"', af_i, nl) + 8
                        sp = store.get(sid)
                        if sp is not None and e > 8:
                            sp[1] = data[e:e + 29]
                            continue
                        b = find(b',"start":"', af_i, nl) + 10
                        if b > 10 and e > 8:
                            store[sid] = [data[b:b + 29], data[e:e + 29]]
                            continue
                    elif startswith(b'true,', af_i):
                        m = _AF.match(data, se, nl)
                        dec = cached if m is not None else json_str
                        if m is None:
                            m = _AF_ESC.match(data, se, nl)
                        if m is not None:
                            item, cat, start, end, smono, emono, outcome = m.groups()
                            if outcome == b"failed":
                                events.append((MARK, SHOW_FAILED, sid, wall_ms(end),
                                               mono_ms(emono), boot, dec(item)))
                                continue
                            sp = store.pop(sid, None)
                            events.append((
                                AF, sid, dec(item), None if cat is None else dec(cat),
                                wall_ms(start), wall_ms(end), mono_ms(smono), mono_ms(emono),
                                boot, outcome == b"completed", None if sp is None else tuple(sp)))
                            continue
                showing_slow(out, events, store, data[pos:nl], idx, seq, boot, screens)
            elif rtype_b == b"heartbeat":
                t = mono_ms(mono_f)
                lh = last_hb.get(run)
                if lh is not None and t > lh:
                    out.hb_min_ms[run] = min(out.hb_min_ms.get(run, t - lh), t - lh)
                last_hb[run] = t
            elif rtype_b != b"driver_event":
                rare(out, events, data[pos:nl], idx, seq, utf8(rtype_b), run, boot,
                      wall_i, mono_ms(mono_f), screens)
        except (_Bad, ValueError, IndexError) as exc:
            line = data[pos:nl]
            if idx == 0:
                out.first_line = line
                out.not_a_record = fmt.split(line) is None or out.bad_version is not None
            msg = str(exc) if isinstance(exc, _Bad) else _("not a log record "
                                                           "({exc})").format(exc=exc)
            problem("malformed", idx, None, msg)
            prev_mac = None
            seq_next = b"\0"
        finally:
            pos = nl + 1
    if last_plain:
        out.last_plain_type = utf8(last_plain)
    if have_last:
        out.boots.append((boot, seg_first, mono_ms(max(last_mono_f, prev_mono_f))))
        out.last_hdr = (run, boot, last_wall, mono_ms(prev_mono_f), utf8(last_type_b))
    out.lines = idx + 1
    out.last_seq = seq if have_last else None
    out.last_mac = prev_mac or b""
    for sid, (s0, s1) in store.items():
        events.append((STORE, sid, (s0, s1)))
    return out


#: a checkpoint's fields after its mono, in the writer's exact shape (others: _checkpoint)
_CP = re.compile(rb',"site":"([^"\\]*)","head_seq":(\d+),"head":"([0-9a-f]{64})"'
                 rb',"key":"([0-9a-f]{16})","next_key":(null|"[^"\\]*"),"reason":"[a-z_]*"'
                 rb',"sig":"[A-Za-z0-9_-]{86}","mac":"')


def checkpoint(out: ChunkScan, line: bytes, idx: int, seq: int, wall: int, mono: int,
               prior: bytes | None) -> None:
    """A format-2 checkpoint off the writer's exact shape: its shape now, its head against
    the line before (when in this chunk), its signature later (the stitcher's Signatures,
    which knows the trusted keys)."""
    try:
        cp = parse_checkpoint(line)
    except CheckpointError as exc:
        out.problem("checkpoint", idx, seq, _("a checkpoint record that cannot be read: "
                                              "{exc}").format(exc=exc))
        return
    head_ok = None if prior is None else cp.head.encode("ascii") == prior
    out.events.append((CHECKPOINT, idx, seq, wall, mono, head_ok, cp.site, cp.key,
                       cp.next_key, line))


class _Bad(Exception):
    pass
