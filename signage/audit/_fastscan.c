/* The audit scanner's compiled fast path (see scan.py, which is the reference).
 *
 * Scanner.run() walks consecutive lines of a chunk as long as each one is the exact common
 * case that scan.py's own fast path handles: the expected seq, the current run and boot, a
 * digest frame that is well formed and a digest that verifies, monotonic time forward and
 * not after a silence, times in the writer's exact shape. For those lines it does the header,
 * digest and time work that scan.py would do, with the same results, and for showing_start,
 * driver_event and the common showing records also the content work (store spans, AF
 * events). It returns to Python:
 *
 *   - before the first line it cannot vouch for (mode 0): nothing of that line has been
 *     done, scan.py handles it whole, so every problem and message stays scan.py's;
 *   - after the header, digest and time of a line whose content scan.py must read (mode 1):
 *     rare record types, showings off the common shape.
 *
 * Heartbeats are walked here too (their content is not read: only their monotonic times, for
 * the smallest interval between two heartbeats of a run): the run is the same for every line
 * of one call, so the call returns (first, last, smallest positive interval or -1) of the
 * heartbeats it walked, and scan.py joins them to what it knows of the run.
 *
 * The HMAC-SHA256 is OpenSSL's SHA-256 with the key's pads hashed once per Scanner; a
 * Scanner made with key None reads log format 2 (plain SHA-256 chain, "v":2), and its
 * checkpoint records in the writer's exact shape whose head is the digest of the line before
 * (scan.py's _CP fast path; any other checkpoint is handed back before it is touched).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../hmac_sha256.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define AF_EVENT 1     /* events.AF */
#define CHECKPOINT_EVENT 11 /* events.CHECKPOINT (the module's CHECKPOINT; a test compares) */
#define SILENCE_S 45.0 /* events.SILENCE_MS / 1000 */
#define SEQ_LIMIT (INT64_C(1) << 60)

typedef struct {
    PyObject_HEAD
    HmacPads hmac;
    PyObject *screens; /* frozenset or None */
    PyObject *names;   /* dict: raw bytes -> decoded str (shared with scan.py) */
    PyObject *store;   /* dict: screen -> [first start, last end] (shared with scan.py) */
    PyObject *events;  /* list (shared with scan.py) */
    PyObject *af;      /* the int events.AF */
    int version;       /* log format: 1 or 2 */
    Py_ssize_t ncap;   /* seqs whose digest scan.py notes (sorted) */
    long long *cap;
} Scanner;

/* whether seq is one of the sorted capture seqs */
static int captured(const Scanner *self, long long seq)
{
    Py_ssize_t lo = 0, hi = self->ncap;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (self->cap[mid] == seq)
            return 1;
        if (self->cap[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- small byte helpers ------------------------------------------------------------------- */

static inline int starts(const char *p, const char *end, const char *lit, Py_ssize_t n)
{
    return end - p >= n && memcmp(p, lit, (size_t)n) == 0;
}
#define STARTS(p, end, lit) starts((p), (end), (lit), (Py_ssize_t)sizeof(lit) - 1)

static inline const char *find(const char *p, const char *end, const char *lit, size_t n)
{
    if (end - p < (Py_ssize_t)n)
        return NULL;
    return memmem(p, (size_t)(end - p), lit, n);
}
#define FIND(p, end, lit) find((p), (end), (lit), sizeof(lit) - 1)

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int d2(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

/* ---- times ----------------------------------------------------------------------------------
 * Only the exact shape the writer produces (YYYY-MM-DDTHH:MM:SS.mmm+HH:MM) with fields in
 * range is accepted; for it timeparse.wall_ms gives the same epoch milliseconds. Anything
 * else returns 0 and the line goes to Python. */

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int wall_ms(const char *t, Py_ssize_t len, int64_t *out)
{
    static const int dpos[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 24,
                               25, 27, 28};
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 29 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[19] != '.' || (t[23] != '+' && t[23] != '-') || t[26] != ':')
        return 0;
    for (size_t i = 0; i < sizeof(dpos) / sizeof(dpos[0]); i++)
        if (!is_digit(t[dpos[i]]))
            return 0;
    const int y = d2(t) * 100 + d2(t + 2), mo = d2(t + 5), d = d2(t + 8);
    const int hh = d2(t + 11), mi = d2(t + 14), ss = d2(t + 17);
    const int ms = (t[20] - '0') * 100 + d2(t + 21);
    const int oh = d2(t + 24), om = d2(t + 27);
    /* (years 1 and 9999 are left to Python: an offset can take them out of range) */
    if (y < 2 || y > 9998 || mo < 1 || mo > 12 || d < 1 || hh > 23 || mi > 59 || oh > 23 || om > 59)
        return 0;
    const int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return 0;
    int64_t off = (int64_t)(oh * 3600 + om * 60) * 1000;
    if (t[23] == '-')
        off = -off;
    /* the seconds are not range-checked: timeparse adds them to the minute as they are */
    *out = days_from_civil(y, mo, d) * 86400000 + (int64_t)(hh * 3600 + mi * 60) * 1000 - off +
           ss * 1000 + ms;
    return 1;
}

/* A monotonic number: -?D+(.D+)? with at most 15 digits in all. M / 10**k is then correctly
 * rounded (M and 10**k are exact doubles), the same double as Python's float(). */
static int mono_num(const char *p, const char *end, double *out)
{
    static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    int neg = 0, nd = 0, frac = -1;
    int64_t m = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *s = p;
    for (; p < end && is_digit(*p); p++) {
        if (++nd > 15)
            return 0;
        m = m * 10 + (*p - '0');
    }
    if (p == s)
        return 0;
    if (p < end && *p == '.') {
        const char *f = ++p;
        for (; p < end && is_digit(*p); p++) {
            if (++nd > 15)
                return 0;
            m = m * 10 + (*p - '0');
        }
        frac = (int)(p - f);
        if (frac == 0)
            return 0;
    }
    if (p != end)
        return 0;
    double v = frac > 0 ? (double)m / P10[frac] : (double)m;
    *out = neg ? -v : v;
    return 1;
}

/* timeparse.mono_ms: round(x * 1000), half to even */
static int mono_ms(double x, int64_t *out)
{
    const double r = nearbyint(x * 1000.0);
    if (!(r > -9e15 && r < 9e15))
        return 0;
    *out = (int64_t)r;
    return 1;
}

/* ---- strings ------------------------------------------------------------------------------ */

/* scan.py's `cached`: the decoded (errors="replace") str of raw bytes, shared. New ref. */
static PyObject *name_of(Scanner *self, const char *p, Py_ssize_t n)
{
    PyObject *raw = PyBytes_FromStringAndSize(p, n);
    if (raw == NULL)
        return NULL;
    PyObject *got = PyDict_GetItemWithError(self->names, raw);
    if (got != NULL) {
        Py_INCREF(got);
        Py_DECREF(raw);
        return got;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(raw);
        return NULL;
    }
    got = PyUnicode_DecodeUTF8(p, n, "replace");
    if (got == NULL || PyDict_SetItem(self->names, raw, got) < 0) {
        Py_XDECREF(got);
        Py_DECREF(raw);
        return NULL;
    }
    Py_DECREF(raw);
    return got;
}

/* `data[a:a + 29]` as Python slices it (shorter at the end of the data). */
static PyObject *slice29(const char *a, const char *dend)
{
    Py_ssize_t n = dend - a < 29 ? dend - a : 29;
    return PyBytes_FromStringAndSize(a, n < 0 ? 0 : n);
}

/* a JSON string without escapes at p ('"' expected): its content [*s, *e), p past it */
static inline const char *plain_str(const char *p, const char *end, const char **s,
                                    const char **e)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *q = ++p;
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q >= end || *q != '"')
        return NULL;
    *s = p;
    *e = q;
    return q + 1;
}

/* null or a plain string; *s = NULL for null */
static inline const char *null_or_str(const char *p, const char *end, const char **s,
                                      const char **e)
{
    if (STARTS(p, end, "null")) {
        *s = *e = NULL;
        return p + 4;
    }
    return plain_str(p, end, s, e);
}

static inline const char *num_run(const char *p, const char *end)
{
    while (p < end && (is_digit(*p) || *p == '-' || *p == '.' || *p == 'e' || *p == 'E' ||
                       *p == '+'))
        p++;
    return p;
}

/* ---- checkpoint content (format 2) --------------------------------------------------------
 * scan.py's _CP shape from the comma after mono up to the digest frame at nl - 74, with
 * head_seq = the previous seq (no leading zeros) and head = the previous line's claimed
 * digest. Returns the CHECKPOINT event (new ref); NULL without an error when the line is off
 * that shape (scan.py reads it whole; nothing changed), NULL with an error on a Python error. */
static inline int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static inline int is_b64u(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
}

static PyObject *checkpoint_event(Scanner *self, const char *line, const char *me,
                                  const char *nl, const char *prev_mac, long long head_seq,
                                  Py_ssize_t idx, int64_t wall, int64_t mono)
{
    const char *p = me, *end = nl - 74, *ss, *se;
    if (!STARTS(p, end, ",\"site\":"))
        return NULL;
    p = plain_str(p + 8, end, &ss, &se);
    if (p == NULL || !STARTS(p, end, ",\"head_seq\":"))
        return NULL;
    p += 12;
    const char *ds = p;
    long long v = 0;
    while (p < end && is_digit(*p) && p - ds < 18)
        v = v * 10 + (*p++ - '0');
    if (p == ds || (*ds == '0' && p - ds > 1) || v != head_seq || (p < end && is_digit(*p)))
        return NULL;
    if (!STARTS(p, end, ",\"head\":\"") || end - (p + 9) < 65 ||
        memcmp(p + 9, prev_mac, 64) != 0 || p[9 + 64] != '"')
        return NULL;
    p += 9 + 65;
    if (!STARTS(p, end, ",\"key\":\"") || end - (p + 8) < 17)
        return NULL;
    const char *ks = p + 8;
    for (int i = 0; i < 16; i++)
        if (!is_hex(ks[i]))
            return NULL;
    if (ks[16] != '"')
        return NULL;
    p = ks + 17;
    if (!STARTS(p, end, ",\"next_key\":null,\"reason\":\""))
        return NULL; /* a rotation (rare) goes to scan.py */
    p += 29;
    while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
        p++;
    if (!STARTS(p, end, "\",\"sig\":\"") || end - (p + 9) != 87)
        return NULL;
    p += 9;
    for (int i = 0; i < 86; i++)
        if (!is_b64u(p[i]))
            return NULL;
    if (p[86] != '"')
        return NULL;
    PyObject *site = name_of(self, ss, se - ss);
    if (site == NULL)
        return NULL;
    return Py_BuildValue("(inLLLONs#Oy#)", CHECKPOINT_EVENT, idx, head_seq + 1,
                         (long long)wall, (long long)mono, Py_True, site, ks, (Py_ssize_t)16,
                         Py_None, line, (Py_ssize_t)(nl - line));
}

/* ---- showing content ----------------------------------------------------------------------
 * scan.py's showing fast path, for the shapes it reads without format.decode. Returns 1 when
 * done, 0 when scan.py must read the content (nothing changed then), -1 on a Python error. */
static int showing(Scanner *self, const char *dend, const char *pend,
                   const char *nl, PyObject *boot)
{
    const char *af = FIND(pend, nl, ",\"anti_fraud\":");
    if (!STARTS(pend, nl, ",\"screen\":\"") || af == NULL)
        return 0;
    const char *af_i = af + 14;
    const char *se = memchr(pend + 11, '"', (size_t)(nl - (pend + 11)));
    if (se == NULL || se[-1] == '\\')
        return 0;
    PyObject *sid = name_of(self, pend + 11, se - (pend + 11));
    if (sid == NULL)
        return -1;
    int rc = 0;
    if (self->screens != Py_None) {
        int in = PySet_Contains(self->screens, sid);
        if (in < 0)
            goto error;
        if (!in) {
            rc = 1;
            goto done;
        }
    }
    if (STARTS(af_i, nl, "false,")) {
        const char *e = FIND(af_i, nl, ",\"end\":\"");
        if (e == NULL)
            goto done;
        e += 8;
        PyObject *sp = PyDict_GetItemWithError(self->store, sid);
        if (sp == NULL && PyErr_Occurred())
            goto error;
        if (sp != NULL) {
            PyObject *end = slice29(e, dend);
            if (end == NULL || PySequence_SetItem(sp, 1, end) < 0) {
                Py_XDECREF(end);
                goto error;
            }
            Py_DECREF(end);
            rc = 1;
            goto done;
        }
        const char *b = FIND(af_i, nl, ",\"start\":\"");
        if (b == NULL)
            goto done;
        PyObject *pair = Py_BuildValue("[NN]", slice29(b + 10, dend), slice29(e, dend));
        if (pair == NULL || PyDict_SetItem(self->store, sid, pair) < 0) {
            Py_XDECREF(pair);
            goto error;
        }
        Py_DECREF(pair);
        rc = 1;
        goto done;
    }
    if (!STARTS(af_i, nl, "true,"))
        goto done;
    /* scan.py's _AF pattern, anchored at the screen id's closing quote */
    const char *p = se, *is, *ie, *cs, *ce, *ss, *sse, *es, *ee, *x, *y;
    if (!STARTS(p, nl, "\",\"item\":"))
        goto done;
    if ((p = plain_str(p + 9, nl, &is, &ie)) == NULL || !STARTS(p, nl, ",\"playlist\":") ||
        (p = null_or_str(p + 12, nl, &x, &y)) == NULL || !STARTS(p, nl, ",\"kind\":") ||
        (p = null_or_str(p + 8, nl, &x, &y)) == NULL || !STARTS(p, nl, ",\"category\":") ||
        (p = null_or_str(p + 12, nl, &cs, &ce)) == NULL ||
        !STARTS(p, nl, ",\"anti_fraud\":true,\"planned\":") ||
        (p = null_or_str(p + 29, nl, &x, &y)) == NULL || !STARTS(p, nl, ",\"start\":") ||
        (p = plain_str(p + 9, nl, &ss, &sse)) == NULL || !STARTS(p, nl, ",\"end\":") ||
        (p = plain_str(p + 7, nl, &es, &ee)) == NULL || !STARTS(p, nl, ",\"start_mono\":"))
        goto done;
    const char *m1 = p + 14, *m1e = num_run(m1, nl);
    if (m1e == m1 || !STARTS(m1e, nl, ",\"end_mono\":"))
        goto done;
    const char *m2 = m1e + 12, *m2e = num_run(m2, nl);
    if (m2e == m2 || !STARTS(m2e, nl, ",\"outcome\":\""))
        goto done;
    p = m2e + 12;
    int completed;
    if (STARTS(p, nl, "completed\"")) {
        completed = 1;
        p += 10;
    } else if (STARTS(p, nl, "cut_short\"")) {
        completed = 0;
        p += 10;
    } else {
        goto done; /* failed (a MARK), or no match: scan.py */
    }
    if (p >= nl || (*p != ',' && *p != '}'))
        goto done;
    int64_t ws, we, ms, me;
    double v1, v2;
    if (!wall_ms(ss, sse - ss, &ws) || !wall_ms(es, ee - es, &we) || !mono_num(m1, m1e, &v1) ||
        !mono_num(m2, m2e, &v2) || !mono_ms(v1, &ms) || !mono_ms(v2, &me))
        goto done;
    PyObject *item = name_of(self, is, ie - is);
    if (item == NULL)
        goto error;
    PyObject *cat = cs == NULL ? Py_NewRef(Py_None) : name_of(self, cs, ce - cs);
    if (cat == NULL) {
        Py_DECREF(item);
        goto error;
    }
    PyObject *sp = PyDict_GetItemWithError(self->store, sid);
    PyObject *span = NULL;
    if (sp == NULL && PyErr_Occurred()) {
        Py_DECREF(item);
        Py_DECREF(cat);
        goto error;
    }
    if (sp != NULL) {
        span = PySequence_Tuple(sp);
        if (span == NULL || PyDict_DelItem(self->store, sid) < 0) {
            Py_XDECREF(span);
            Py_DECREF(item);
            Py_DECREF(cat);
            goto error;
        }
    } else {
        span = Py_NewRef(Py_None);
    }
    PyObject *ev = Py_BuildValue("(OONNLLLLOON)", self->af, sid, item, cat, (long long)ws,
                                 (long long)we, (long long)ms, (long long)me, boot,
                                 completed ? Py_True : Py_False, span);
    if (ev == NULL || PyList_Append(self->events, ev) < 0) {
        Py_XDECREF(ev);
        goto error;
    }
    Py_DECREF(ev);
    rc = 1;
done:
    Py_DECREF(sid);
    return rc;
error:
    Py_DECREF(sid);
    return -1;
}

/* ---- the walk ----------------------------------------------------------------------------- */

static int put_seq_head(char *buf, long long next, int version)
{
    /* {"v":<version>,"seq":<next>,"type":" */
    char dig[24];
    int nd = 0;
    unsigned long long u = next < 0 ? 0ULL - (unsigned long long)next : (unsigned long long)next;
    do {
        dig[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int n = 0;
    memcpy(buf, "{\"v\":1,\"seq\":", 13);
    buf[5] = (char)('0' + version);
    n = 13;
    if (next < 0)
        buf[n++] = '-';
    while (nd)
        buf[n++] = dig[--nd];
    memcpy(buf + n, ",\"type\":\"", 9);
    return n + 9;
}

static PyObject *Scanner_run(Scanner *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* run(data, pos, seq, prev_mac, run_boot, last_mono, prev_mono, boot, idx) */
    if (nargs != 9 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[3]) ||
        !PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "run(data: bytes, pos, seq, prev_mac: bytes, run_boot: bytes, "
                        "last_mono, prev_mono, boot, idx)");
        return NULL;
    }
    const Py_ssize_t idx0 = PyLong_AsSsize_t(args[8]);
    if (idx0 == -1 && PyErr_Occurred())
        return NULL;
    const char *data = PyBytes_AS_STRING(args[0]);
    const Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos0 = PyLong_AsSsize_t(args[1]);
    if (pos0 == -1 && PyErr_Occurred())
        return NULL;
    int overflow = 0;
    long long seq = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    if (overflow || seq >= SEQ_LIMIT || seq <= -SEQ_LIMIT || pos0 < 0 || pos0 >= n)
        Py_RETURN_NONE;
    const char *run_boot = PyBytes_AS_STRING(args[4]);
    const Py_ssize_t lrb = PyBytes_GET_SIZE(args[4]);
    double last_mono = PyFloat_AsDouble(args[5]);
    double prev_mono = PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *boot = args[7];
    if (PyBytes_GET_SIZE(args[3]) != 64)
        Py_RETURN_NONE;

    char mac[64]; /* the claimed digest of the line before */
    memcpy(mac, PyBytes_AS_STRING(args[3]), 64);
    const char *dend = data + n;
    const char *pos = data + pos0;
    char head[48];
    int lsn = put_seq_head(head, seq + 1, self->version);
    Py_ssize_t lines = 0;
    int mode = 0;
    int64_t last_wall = 0;
    const char *last_type = NULL, *last_type_end = NULL;
    const char *last_plain = NULL, *last_plain_end = NULL; /* not a checkpoint */
    const char *pend = NULL;
    int64_t hb_first = 0, hb_last = 0, hb_min = -1; /* heartbeats walked (mono ms) */
    int have_hb = 0;

    while (pos < dend) {
        const char *nl = memchr(pos, '\n', (size_t)(dend - pos));
        if (nl == NULL)
            break; /* a torn tail (or a chunk without its newline): scan.py */
        /* header: {"v":1,"seq":<seq+1>,"type":"…","run":"…","boot":"…","wall":"…","mono":… */
        if (nl - pos < lsn || memcmp(pos, head, (size_t)lsn) != 0)
            break;
        const char *ts = pos + lsn;
        const char *te = memchr(ts, '"', (size_t)(nl - ts));
        if (te == NULL || nl - te < lrb + 29 + 9 || memcmp(te, run_boot, (size_t)lrb) != 0 ||
            memcmp(te + lrb + 29, "\",\"mono\":", 9) != 0)
            break;
        const char *w = te + lrb;
        const char *me = memchr(w + 38, ',', (size_t)(nl - (w + 38)));
        double m;
        int64_t wall;
        if (me == NULL || !mono_num(w + 38, me, &m) || !wall_ms(w, 29, &wall))
            break;
        const int is_cp = self->version == 2 && te - ts == 10 &&
                          memcmp(ts, "checkpoint", 10) == 0;
        /* the digest frame ,"mac":"<64 hex>"} and the digest */
        if (nl - pos <= 74 || memcmp(nl - 74, ",\"mac\":\"", 8) != 0 ||
            memcmp(nl - 2, "\"}", 2) != 0)
            break;
        unsigned char dg[32];
        hmac_digest(&self->hmac, mac, 64, pos, (size_t)(nl - 74 - pos), dg);
        const char *claimed = nl - 66;
        int ok = 1;
        for (int i = 0; i < 32; i++) {
            if (claimed[2 * i] != HEX[dg[i] >> 4] || claimed[2 * i + 1] != HEX[dg[i] & 15]) {
                ok = 0;
                break;
            }
        }
        if (!ok)
            break;
        if (self->ncap && captured(self, seq + 1))
            break; /* scan.py notes the digest (an anchor, a witness) */
        /* time: forward, and not after a silence */
        if (!(last_mono <= m && m <= prev_mono + SILENCE_S))
            break;
        if (is_cp) {
            int64_t mms;
            if (!mono_ms(m, &mms))
                break;
            PyObject *ev = checkpoint_event(self, pos, me, nl, mac, seq, idx0 + lines + 1,
                                            wall, mms);
            if (ev == NULL) {
                if (PyErr_Occurred())
                    return NULL;
                break; /* scan.py reads it whole */
            }
            int err = PyList_Append(self->events, ev);
            Py_DECREF(ev);
            if (err < 0)
                return NULL;
        }
        /* the line's header, digest and time are done */
        seq += 1;
        memcpy(mac, claimed, 64);
        last_mono = prev_mono = m;
        last_wall = wall;
        last_type = ts;
        last_type_end = te;
        lsn = put_seq_head(head, seq + 1, self->version);
        if (is_cp) {
            lines++;
            pos = nl + 1;
            continue;
        }
        last_plain = ts;
        last_plain_end = te;
        const Py_ssize_t tl = te - ts;
        if ((tl == 13 && memcmp(ts, "showing_start", 13) == 0) ||
            (tl == 12 && memcmp(ts, "driver_event", 12) == 0)) {
            lines++;
            pos = nl + 1;
            continue;
        }
        if (tl == 9 && memcmp(ts, "heartbeat", 9) == 0) {
            int64_t t;
            if (mono_ms(m, &t)) {
                if (!have_hb) {
                    hb_first = t;
                    have_hb = 1;
                } else if (t > hb_last && (hb_min < 0 || t - hb_last < hb_min)) {
                    hb_min = t - hb_last;
                }
                hb_last = t;
                lines++;
                pos = nl + 1;
                continue;
            }
        }
        if (tl == 7 && memcmp(ts, "showing", 7) == 0) {
            int r = showing(self, dend, me, nl, boot);
            if (r < 0)
                return NULL;
            if (r) {
                lines++;
                pos = nl + 1;
                continue;
            }
        }
        mode = 1; /* scan.py reads the content */
        pend = me;
        break;
    }
    if (lines == 0 && mode == 0)
        Py_RETURN_NONE;
    /* (pos, lines, seq, prev_mac, mono, wall, type, pend, last type that is not a checkpoint
     * or None, heartbeats or None): the state after the last line done (last and previous mono
     * are both that line's); pend >= 0 for mode 1; heartbeats: (first mono ms, last mono ms,
     * smallest positive interval between two of them or -1) */
    PyObject *lp = last_plain == NULL ? Py_NewRef(Py_None)
                   : PyBytes_FromStringAndSize(last_plain, last_plain_end - last_plain);
    if (lp == NULL)
        return NULL;
    PyObject *hb = have_hb ? Py_BuildValue("(LLL)", (long long)hb_first, (long long)hb_last,
                                           (long long)hb_min)
                           : Py_NewRef(Py_None);
    if (hb == NULL) {
        Py_DECREF(lp);
        return NULL;
    }
    return Py_BuildValue("(nnLy#dLy#nNN)", (Py_ssize_t)(pos - data), lines, seq, mac,
                         (Py_ssize_t)64, last_mono, (long long)last_wall, last_type,
                         (Py_ssize_t)(last_type_end - last_type),
                         (Py_ssize_t)(mode ? pend - data : -1), lp, hb);
}

/* find(data, needle, start, end): bytes.find with glibc's memmem (2-3x faster on log text:
 * the clock_step pre-scan reads the whole log with it) */
static PyObject *fast_find(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "find(data: bytes, needle: bytes, start, end)");
        return NULL;
    }
    const Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t a = PyLong_AsSsize_t(args[2]), b = PyLong_AsSsize_t(args[3]);
    if ((a == -1 || b == -1) && PyErr_Occurred())
        return NULL;
    if (a < 0 || b > n || a > b) {
        PyErr_SetString(PyExc_ValueError, "find: 0 <= start <= end <= len(data)");
        return NULL;
    }
    const char *d = PyBytes_AS_STRING(args[0]);
    const char *hit = memmem(d + a, (size_t)(b - a), PyBytes_AS_STRING(args[1]),
                             (size_t)PyBytes_GET_SIZE(args[1]));
    return PyLong_FromSsize_t(hit == NULL ? -1 : hit - d);
}

static PyMethodDef module_methods[] = {
    {"find", (PyCFunction)(void (*)(void))fast_find, METH_FASTCALL,
     "find(data, needle, start, end): the index of needle in data[start:end], or -1"},
    {NULL, NULL, 0, NULL},
};

/* ---- the type ----------------------------------------------------------------------------- */

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    static char *kw[] = {"key", "screens", "names", "store", "events", "capture", "af",
                         NULL};
    PyObject *key, *screens, *names, *store, *events, *capture, *af;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO!O!O!O!O", kw, &key, &screens,
                                     &PyDict_Type, &names, &PyDict_Type, &store, &PyList_Type,
                                     &events, &PyTuple_Type, &capture, &af))
        return -1;
    if (key == Py_None) {
        plain_init(&self->hmac);
        self->version = 2;
    } else if (PyBytes_Check(key)) {
        hmac_init(&self->hmac, PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key));
        self->version = 1;
    } else {
        PyErr_SetString(PyExc_TypeError, "key: bytes (format 1) or None (format 2)");
        return -1;
    }
    PyMem_Free(self->cap);
    self->cap = NULL;
    self->ncap = 0;
    Py_ssize_t nc = PyTuple_GET_SIZE(capture);
    if (nc > 0) {
        self->cap = PyMem_New(long long, (size_t)nc);
        if (self->cap == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < nc; i++) {
            int overflow = 0;
            long long v = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(capture, i), &overflow);
            if (v == -1 && PyErr_Occurred())
                return -1;
            if (overflow || (i > 0 && v < self->cap[self->ncap - 1])) {
                PyErr_SetString(PyExc_ValueError, "capture: sorted seqs that fit 64 bits");
                return -1;
            }
            self->cap[self->ncap++] = v;
        }
    }
    if (screens != Py_None && !PyAnySet_Check(screens)) {
        PyErr_SetString(PyExc_TypeError, "screens: a frozenset or None");
        return -1;
    }
    Py_XSETREF(self->screens, Py_NewRef(screens));
    Py_XSETREF(self->names, Py_NewRef(names));
    Py_XSETREF(self->store, Py_NewRef(store));
    Py_XSETREF(self->events, Py_NewRef(events));
    Py_XSETREF(self->af, Py_NewRef(af));
    return 0;
}

static int Scanner_traverse(Scanner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->screens);
    Py_VISIT(self->names);
    Py_VISIT(self->store);
    Py_VISIT(self->events);
    Py_VISIT(self->af);
    return 0;
}

static int Scanner_clear(Scanner *self)
{
    Py_CLEAR(self->screens);
    Py_CLEAR(self->names);
    Py_CLEAR(self->store);
    Py_CLEAR(self->events);
    Py_CLEAR(self->af);
    return 0;
}

static void Scanner_dealloc(Scanner *self)
{
    PyObject_GC_UnTrack(self);
    Scanner_clear(self);
    PyMem_Free(self->cap);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Scanner_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Scanner_run, METH_FASTCALL,
     "run(data, pos, seq, prev_mac, run_boot, last_mono, prev_mono, boot, idx): walk the common "
     "lines from pos; None when the line at pos is not one, else (pos, lines, seq, prev_mac, "
     "mono, wall, type, pend, last non-checkpoint type or None, (first, last, smallest "
     "interval) of the heartbeats walked or None)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "signage.audit._fastscan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Scanner(key, screens, names, store, events, capture, af)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan",
    "The audit scanner's compiled fast path (scan.py is the reference).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastscan(void)
{
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddIntConstant(m, "CHECKPOINT", CHECKPOINT_EVENT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
