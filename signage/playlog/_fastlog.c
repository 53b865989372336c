/* The log writer's compiled encoder (see format.py: LineEncoder, which is the reference).
 *
 * Encoder.line() makes the line and mac of a `showing` or `showing_start` record exactly as
 * format.encode would (and LineEncoder's own templates do): the header, the fields in the
 * template's key order, UTF-8 with errors="backslashreplace", HMAC-SHA256 over prev_mac and
 * the prefix. It returns None, having done nothing, for anything it does not vouch for: other
 * record types, fields whose keys are not the template's in its order, a value of another
 * type than the template's (exact str, exact str or None, bool, exact finite float; an exact
 * int for seq), a prev_mac that is not bytes. LineEncoder then takes the Python path.
 *
 * Strings are written as json.encoder.encode_basestring writes them (ensure_ascii=False):
 * `"` `\` and \b \f \n \r \t escaped by letter, other code points below 0x20 as \u00xx, all
 * else as it is; then UTF-8, a lone surrogate (which UTF-8 cannot hold) as the six ASCII
 * characters \udcxx that backslashreplace gives. Floats are float.__repr__ (short decimals
 * directly, see put_float; the rest through PyOS_double_to_string 'r', which float.__repr__
 * is), ints int.__repr__.
 *
 * The HMAC-SHA256 is OpenSSL's SHA-256 with the key's pads hashed once per Encoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../hmac_sha256.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VERSION 1 /* format.VERSION; LineEncoder checks the module's VERSION against it */
#define VERSION_2 2 /* format 2 (key None: plain SHA-256 chain), the module's VERSION_2 */

/* ---- the templates -------------------------------------------------------------------------- */

enum { T_STR, T_NSTR, T_BOOL, T_FLOAT };

typedef struct {
    const char *key;
    int type;
    const char *head; /* what precedes the value: ,"key": */
    size_t head_len;
    PyObject *name; /* the interned key */
} Field;

#define F(k, t) {k, t, ",\"" k "\":", sizeof(",\"" k "\":") - 1, NULL}

static Field SHOWING[] = {
    F("screen", T_STR),     F("item", T_STR),      F("playlist", T_NSTR),
    F("kind", T_NSTR),      F("category", T_NSTR), F("anti_fraud", T_BOOL),
    F("planned", T_STR),    F("start", T_STR),     F("end", T_STR),
    F("start_mono", T_FLOAT), F("end_mono", T_FLOAT), F("outcome", T_STR),
    F("reason", T_STR),
};
static Field SHOWING_START[] = {
    F("screen", T_STR),     F("item", T_STR),        F("anti_fraud", T_BOOL),
    F("planned", T_STR),    F("planned_mono", T_FLOAT), F("start", T_STR),
    F("start_mono", T_FLOAT),
};
#undef F

#define NFIELDS_MAX 13
/* Longer strings are left to the Python path: with 15 strings of at most 6 bytes a character,
   every size sum below stays far under 2^31, also where Py_ssize_t is 32 bits (armhf). */
#define STR_MAX ((Py_ssize_t)1 << 20)
/* A larger scratch buffer (a long reason) is given back after the line instead of kept. */
#define BUF_KEEP ((Py_ssize_t)1 << 16)

typedef struct {
    const char *name;
    const char *json; /* the type as a JSON string: ,"type":"..." */
    size_t json_len;
    Field *fields;
    Py_ssize_t n;
    PyObject *pyname; /* interned */
} Template;

#define TYPE_JSON(t) ",\"type\":\"" t "\"", sizeof(",\"type\":\"" t "\"") - 1

static Template TEMPLATES[] = {
    {"showing", TYPE_JSON("showing"), SHOWING, sizeof(SHOWING) / sizeof(SHOWING[0]), NULL},
    {"showing_start", TYPE_JSON("showing_start"), SHOWING_START,
     sizeof(SHOWING_START) / sizeof(SHOWING_START[0]), NULL},
};
#define NTEMPLATES ((int)(sizeof(TEMPLATES) / sizeof(TEMPLATES[0])))

/* 1 if `o` is the exact str `want` (interned), 0 if not, -1 on error */
static inline int is_name(PyObject *o, PyObject *want)
{
    if (o == want)
        return 1;
    if (!PyUnicode_CheckExact(o))
        return 0;
    int c = PyUnicode_Compare(o, want);
    if (c == -1 && PyErr_Occurred())
        return -1;
    return c == 0;
}

/* ---- strings -------------------------------------------------------------------------------- */

/* 1 if `o` is an exact str (made ready), 0 if not, -1 on error */
static inline int ok_str(PyObject *o)
{
    if (!PyUnicode_CheckExact(o))
        return 0;
    return PyUnicode_READY(o) < 0 ? -1 : 1;
}

/* the most bytes a JSON string of `s` takes (quotes included): \u00xx and \udcxx are 6 */
static inline Py_ssize_t str_bound(PyObject *s) { return 6 * PyUnicode_GET_LENGTH(s) + 2; }

static inline char *put_escape(char *o, Py_UCS4 c)
{
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    default: /* below 0x20, or a surrogate (backslashreplace) */
        *o++ = 'u';
        *o++ = HEX[(c >> 12) & 0xf];
        *o++ = HEX[(c >> 8) & 0xf];
        *o++ = HEX[(c >> 4) & 0xf];
        *o++ = HEX[c & 0xf];
    }
    return o;
}

static inline int needs_escape(Py_UCS4 c) { return c < 0x20 || c == '"' || c == '\\'; }

/* a str (exact, ready) as a JSON string, UTF-8 with backslashreplace */
static char *put_str(char *o, PyObject *s)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    *o++ = '"';
    if (PyUnicode_IS_ASCII(s)) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(s), *end = p + n;
        while (p < end) {
            const unsigned char *q = p;
            while (q < end && !needs_escape(*q))
                q++;
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
            if (q < end)
                o = put_escape(o, *q++);
            p = q;
        }
    } else {
        const int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        for (Py_ssize_t i = 0; i < n; i++) {
            const Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c < 0x80) {
                if (needs_escape(c))
                    o = put_escape(o, c);
                else
                    *o++ = (char)c;
            } else if (c < 0x800) {
                *o++ = (char)(0xc0 | (c >> 6));
                *o++ = (char)(0x80 | (c & 0x3f));
            } else if (c >= 0xd800 && c <= 0xdfff) {
                o = put_escape(o, c);
            } else if (c < 0x10000) {
                *o++ = (char)(0xe0 | (c >> 12));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
                *o++ = (char)(0x80 | (c & 0x3f));
            } else {
                *o++ = (char)(0xf0 | (c >> 18));
                *o++ = (char)(0x80 | ((c >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
                *o++ = (char)(0x80 | (c & 0x3f));
            }
        }
    }
    *o++ = '"';
    return o;
}

static inline char *put_mem(char *o, const char *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}
#define put_lit(o, lit) put_mem((o), (lit), sizeof(lit) - 1) /* a string literal */

/* unsigned decimal digits of v */
static inline char *put_u64(char *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
static const uint64_t U10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
#define FRAC_MAX 6

/* float.__repr__ of a finite double; NULL on error.
 *
 * The common case directly: x = M / 10**k for the smallest k <= 6 with an integer M,
 * |M| < 2**50 and 1e-4 <= |x|. Then M and 10**k are exact doubles, so `M / 10**k == x` says
 * that the decimal M·10**-k reads back as x; no decimal with fewer digits does (a smaller k
 * would have been found: |x·10**k - M'| < 1/4 for such an M', so nearbyint finds it), and no
 * other one with as many (decimals 10**-k apart are further apart than x's ulp). So it is the
 * shortest round-tripping string repr writes, in fixed notation (1e-4 <= |x| < 1e16). Every
 * other double goes through PyOS_double_to_string, which is float.__repr__ itself. */
static char *put_float(char *o, double x)
{
    const double ax = fabs(x);
    if (ax >= 1e-4 && ax < 0x1p50) {
        for (int k = 0; k <= FRAC_MAX; k++) {
            const double m = nearbyint(ax * P10[k]);
            if (m >= 0x1p50)
                break;
            if (m / P10[k] != ax)
                continue;
            const uint64_t u = (uint64_t)m;
            if (signbit(x))
                *o++ = '-';
            o = put_u64(o, u / U10[k]);
            *o++ = '.';
            if (k == 0) {
                *o++ = '0';
                return o;
            }
            uint64_t f = u % U10[k];
            for (int j = k - 1; j >= 0; j--) {
                o[j] = (char)('0' + f % 10);
                f /= 10;
            }
            return o + k;
        }
    }
    char *r = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (r == NULL)
        return NULL;
    const size_t n = strlen(r);
    memcpy(o, r, n);
    PyMem_Free(r);
    return o + n;
}

#define FLOAT_MAX_LEN 32 /* "-2.2250738585072014e-308" is 24 */

/* ---- the encoder ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    HmacPads hmac;
    int version;      /* 1: HMAC under the key; 2: plain SHA-256 (key None) */
    char *head;       /* ,"run":"...","boot":"...","wall": */
    Py_ssize_t head_len;
    char *buf; /* scratch for the line */
    Py_ssize_t cap;
} Encoder;

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"key", "run", "boot", NULL};
    PyObject *key, *run, *boot;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OUU:Encoder", kwlist, &key, &run, &boot))
        return -1;
    if (key != Py_None && !PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "key: bytes (format 1) or None (format 2)");
        return -1;
    }
    if (!PyUnicode_CheckExact(run) || !PyUnicode_CheckExact(boot) || PyUnicode_READY(run) < 0 ||
        PyUnicode_READY(boot) < 0) {
        PyErr_SetString(PyExc_TypeError, "run and boot: str");
        return -1;
    }
    if (PyUnicode_GET_LENGTH(run) > STR_MAX || PyUnicode_GET_LENGTH(boot) > STR_MAX) {
        PyErr_SetString(PyExc_ValueError, "run and boot: at most 2**20 characters");
        return -1;
    }
    if (key == Py_None) {
        plain_init(&self->hmac);
        self->version = VERSION_2;
    } else {
        hmac_init(&self->hmac, PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key));
        self->version = VERSION;
    }

    char *head = PyMem_Malloc((size_t)(str_bound(run) + str_bound(boot) + 32));
    if (head == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    char *o = put_lit(head, ",\"run\":");
    o = put_str(o, run);
    o = put_lit(o, ",\"boot\":");
    o = put_str(o, boot);
    o = put_lit(o, ",\"wall\":");
    PyMem_Free(self->head);
    self->head = head;
    self->head_len = o - head;
    return 0;
}

static void Encoder_dealloc(Encoder *self)
{
    PyMem_Free(self->head);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* line(prev_mac, seq, rtype, wall, mono, fields) -> (line, mac) or None */
static PyObject *Encoder_line(Encoder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "line(prev_mac, seq, rtype, wall, mono, fields)");
        return NULL;
    }
    PyObject *prev = args[0], *seq = args[1], *rtype = args[2], *wall = args[3],
             *mono = args[4], *fields = args[5];
    if (self->head == NULL) {
        PyErr_SetString(PyExc_ValueError, "Encoder not initialised");
        return NULL;
    }
    if (!PyBytes_CheckExact(prev) || !PyLong_CheckExact(seq) || !PyFloat_CheckExact(mono) ||
        !PyDict_CheckExact(fields))
        Py_RETURN_NONE;
    const int wall_ok = ok_str(wall);
    if (wall_ok <= 0) {
        if (wall_ok < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (PyUnicode_GET_LENGTH(wall) > STR_MAX)
        Py_RETURN_NONE;
    const Template *t = NULL;
    for (int i = 0; i < NTEMPLATES && t == NULL; i++) {
        int is = is_name(rtype, TEMPLATES[i].pyname);
        if (is < 0)
            return NULL;
        if (is)
            t = &TEMPLATES[i];
    }
    if (t == NULL || PyDict_GET_SIZE(fields) != t->n)
        Py_RETURN_NONE;
    const double m = PyFloat_AS_DOUBLE(mono);
    if (!isfinite(m))
        Py_RETURN_NONE;

    /* the values, checked against the template; the bound of the line */
    PyObject *vals[NFIELDS_MAX];
    Py_ssize_t bound = self->head_len + str_bound(wall) + 128 + 2 * FLOAT_MAX_LEN;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(fields, &pos, &k, &v)) {
        const Field *f = &t->fields[i];
        int is = is_name(k, f->name);
        if (is < 0)
            return NULL;
        if (!is)
            Py_RETURN_NONE;
        switch (f->type) {
        case T_NSTR:
            if (v == Py_None) {
                bound += 4;
                break;
            }
            /* fall through */
        case T_STR:
            if ((is = ok_str(v)) <= 0) {
                if (is < 0)
                    return NULL;
                Py_RETURN_NONE;
            }
            if (PyUnicode_GET_LENGTH(v) > STR_MAX)
                Py_RETURN_NONE;
            bound += str_bound(v);
            break;
        case T_BOOL:
            if (v != Py_True && v != Py_False)
                Py_RETURN_NONE;
            bound += 5;
            break;
        case T_FLOAT:
            if (!PyFloat_CheckExact(v) || !isfinite(PyFloat_AS_DOUBLE(v)))
                Py_RETURN_NONE;
            bound += FLOAT_MAX_LEN;
            break;
        }
        bound += (Py_ssize_t)f->head_len;
        vals[i++] = v;
    }

    /* seq: int.__repr__ (a long one through int's own repr, which may refuse it) */
    char seqbuf[32];
    const char *seqs = seqbuf;
    Py_ssize_t seqn;
    PyObject *seqrepr = NULL;
    int overflow = 0;
    const long long sv = PyLong_AsLongLongAndOverflow(seq, &overflow);
    if (sv == -1 && PyErr_Occurred())
        return NULL;
    if (overflow) {
        seqrepr = PyLong_Type.tp_repr(seq);
        if (seqrepr == NULL)
            return NULL;
        seqs = PyUnicode_AsUTF8AndSize(seqrepr, &seqn);
        if (seqs == NULL) {
            Py_DECREF(seqrepr);
            return NULL;
        }
    } else {
        char *e = seqbuf;
        if (sv < 0)
            *e++ = '-';
        e = put_u64(e, sv < 0 ? -(uint64_t)sv : (uint64_t)sv);
        seqn = e - seqbuf;
    }
    bound += seqn;

    if (bound > self->cap) {
        char *nb = PyMem_Realloc(self->buf, (size_t)bound);
        if (nb == NULL) {
            Py_XDECREF(seqrepr);
            return PyErr_NoMemory();
        }
        self->buf = nb;
        self->cap = bound;
    }
    char *o = self->buf;
    if (self->version == VERSION_2)
        o = put_lit(o, "{\"v\":" Py_STRINGIFY(VERSION_2) ",\"seq\":");
    else
        o = put_lit(o, "{\"v\":" Py_STRINGIFY(VERSION) ",\"seq\":");
    memcpy(o, seqs, (size_t)seqn);
    o += seqn;
    Py_XDECREF(seqrepr);
    o = put_mem(o, t->json, t->json_len);
    memcpy(o, self->head, (size_t)self->head_len);
    o += self->head_len;
    o = put_str(o, wall);
    o = put_lit(o, ",\"mono\":");
    if ((o = put_float(o, m)) == NULL)
        return NULL;
    for (i = 0; i < t->n; i++) {
        const Field *f = &t->fields[i];
        v = vals[i];
        o = put_mem(o, f->head, f->head_len);
        switch (f->type) {
        case T_NSTR:
        case T_STR:
            o = v == Py_None ? put_lit(o, "null") : put_str(o, v);
            break;
        case T_BOOL:
            o = v == Py_True ? put_lit(o, "true") : put_lit(o, "false");
            break;
        case T_FLOAT:
            if ((o = put_float(o, PyFloat_AS_DOUBLE(v))) == NULL)
                return NULL;
            break;
        }
    }
    const Py_ssize_t plen = o - self->buf;

    /* the mac: HMAC-SHA256(key, prev_mac + prefix), lowercase hex */
    unsigned char d[SHA256_DIGEST_LENGTH];
    hmac_digest(&self->hmac, PyBytes_AS_STRING(prev), (size_t)PyBytes_GET_SIZE(prev), self->buf,
                (size_t)plen, d);

    static const char MAC_HEAD[] = ",\"mac\":\"";
    const Py_ssize_t mh = (Py_ssize_t)sizeof(MAC_HEAD) - 1;
    PyObject *line = PyBytes_FromStringAndSize(NULL, plen + mh + 64 + 3);
    PyObject *mac = PyBytes_FromStringAndSize(NULL, 64);
    if (line == NULL || mac == NULL) {
        Py_XDECREF(line);
        Py_XDECREF(mac);
        return NULL;
    }
    char *l = PyBytes_AS_STRING(line), *mh_ = PyBytes_AS_STRING(mac);
    for (int j = 0; j < SHA256_DIGEST_LENGTH; j++) {
        mh_[2 * j] = HEX[d[j] >> 4];
        mh_[2 * j + 1] = HEX[d[j] & 0xf];
    }
    memcpy(l, self->buf, (size_t)plen);
    l += plen;
    memcpy(l, MAC_HEAD, (size_t)mh);
    l += mh;
    memcpy(l, mh_, 64);
    memcpy(l + 64, "\"}\n", 3);
    if (self->cap > BUF_KEEP) {
        PyMem_Free(self->buf);
        self->buf = NULL;
        self->cap = 0;
    }
    PyObject *res = PyTuple_New(2);
    if (res == NULL) {
        Py_DECREF(line);
        Py_DECREF(mac);
        return NULL;
    }
    PyTuple_SET_ITEM(res, 0, line);
    PyTuple_SET_ITEM(res, 1, mac);
    return res;
}

static PyMethodDef Encoder_methods[] = {
    {"line", (PyCFunction)(void (*)(void))Encoder_line, METH_FASTCALL,
     "line(prev_mac, seq, rtype, wall, mono, fields): (line with its newline, mac) as "
     "format.encode makes them, or None for a record this encoder does not handle"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "signage.playlog._fastlog.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Encoder(key, run, boot): key bytes (format 1) or None (format 2)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastlog",
    "The log writer's compiled encoder (format.LineEncoder is the reference).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastlog(void)
{
    for (int i = 0; i < NTEMPLATES; i++) {
        Template *t = &TEMPLATES[i];
        if (t->pyname == NULL && (t->pyname = PyUnicode_InternFromString(t->name)) == NULL)
            return NULL;
        for (Py_ssize_t j = 0; j < t->n; j++) {
            Field *f = &t->fields[j];
            if (f->name == NULL && (f->name = PyUnicode_InternFromString(f->key)) == NULL)
                return NULL;
        }
    }
    if (PyType_Ready(&EncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Encoder", (PyObject *)&EncoderType) < 0 ||
        PyModule_AddIntConstant(m, "VERSION", VERSION) < 0 ||
        PyModule_AddIntConstant(m, "VERSION_2", VERSION_2) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
