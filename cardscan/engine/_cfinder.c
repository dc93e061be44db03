/*
 * cardscan candidate finder, C backend.
 *
 * find_chains(buf, start=0, end=len(buf)) -> list[(start, end, flags)]
 *
 * Finds "digit chains" exactly as the pure-Python oracle in candidates.py
 * does (tests compare them on random and adversarial inputs):
 *
 *   ASCII:   [0-9]+(?:[ -][0-9]+)*                     flags bit 1 clear
 *   UTF-16:  [0-9](?:\x00(?:[ -]\x00)?[0-9])+           flags bit 1 set
 *
 * each found left to right, non-overlapping within its own kind.
 * flags bit 0 is set when the chain contains a separator.
 *
 * A chain is returned only if it could hold a PAN:
 *   - without separators: 12..19 digits and a valid Luhn check digit
 *     (this is where most of the work is saved: ids and timestamps die here);
 *   - with separators: at least 12 digits, and a group that could start a
 *     printed PAN: a group of 12-19 digits, or a group of 4 followed by one
 *     of 3-6, or a group of 6 followed by one of 13 (every printed format in
 *     validate.FORMATS starts so). Groupings are judged fully in Python; this
 *     drops the access-log tails ("200 47209 1393") that dominate logs.
 * With a prefix table (10000 bytes: for each 4-digit prefix a bit mask of
 * PAN lengths 12..19 some issuer allows), contiguous chains whose prefix
 * cannot start a PAN of their length are dropped too.
 *
 * It may over-report (Python confirms), it must never miss.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static unsigned char IS_DIGIT[256];
static unsigned char IS_SEP[256];

/* Index of the first digit at or after i (end if none). Eight bytes at a
 * time: a SWAR test flags words that may hold a byte in '0'..'9' (exact for
 * ASCII bytes, high bytes excluded), then the bytes are checked one by one. */
static inline Py_ssize_t next_digit(const unsigned char *b, Py_ssize_t i, Py_ssize_t end) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    while (i + 8 <= end) {
        uint64_t x;
        memcpy(&x, b + i, 8);
        uint64_t low7 = x & (ones * 127);
        uint64_t t = ((ones * (127 + 0x3A)) - low7) & ~x & (low7 + ones * (127 - 0x2F)) & high;
        if (t) break;
        i += 8;
    }
    while (i < end && !IS_DIGIT[b[i]]) i++;
    return i;
}

/* Can a printed PAN start here: a contiguous group of 12-19 digits, or the
 * first two groups of a format in validate.FORMATS (4 then 3-6, 6 then 13)? */
static inline int group_ok(Py_ssize_t prev_g, Py_ssize_t g) {
    return (g >= 12 && g <= 19) || (prev_g == 4 && g >= 3 && g <= 6) || (prev_g == 6 && g == 13);
}

static int luhn_ok(const unsigned char *d, Py_ssize_t n, Py_ssize_t stride) {
    /* d points at the first digit; digits are stride bytes apart, n digits. */
    int sum = 0, dbl = 0;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        int v = d[k * stride] - '0';
        if (dbl) { v *= 2; if (v > 9) v -= 9; }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

static int emit(PyObject *out, Py_ssize_t s, Py_ssize_t e, int flags) {
    PyObject *t = Py_BuildValue("(nni)", s, e, flags);
    if (!t) return -1;
    int rc = PyList_Append(out, t);
    Py_DECREF(t);
    return rc;
}

static int prefix_ok(const unsigned char *table, const unsigned char *d, Py_ssize_t nd, Py_ssize_t stride) {
    if (!table) return 1;
    int p = (d[0] - '0') * 1000 + (d[stride] - '0') * 100 + (d[2 * stride] - '0') * 10 + (d[3 * stride] - '0');
    return (table[p] >> (nd - 12)) & 1;
}

static PyObject *find_chains(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_buffer tview = {0};
    Py_ssize_t start = 0, end = -1;
    PyObject *table_obj = Py_None;
    if (!PyArg_ParseTuple(args, "y*|nnO", &view, &start, &end, &table_obj)) return NULL;
    const unsigned char *table = NULL;
    if (table_obj != Py_None) {
        if (PyObject_GetBuffer(table_obj, &tview, PyBUF_SIMPLE) < 0) { PyBuffer_Release(&view); return NULL; }
        if (tview.len != 10000) {
            PyBuffer_Release(&tview);
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "prefix table must be 10000 bytes");
            return NULL;
        }
        table = (const unsigned char *)tview.buf;
    }
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    if (end < 0 || end > n) end = n;
    if (start < 0) start = 0;
    PyObject *out = PyList_New(0);
    if (!out) { PyBuffer_Release(&view); return NULL; }

    /* Pass 1: ASCII chains. */
    Py_ssize_t i = start;
    while (i < end) {
        i = next_digit(b, i, end);
        if (i >= end) break;
        Py_ssize_t s = i, nd = 0, prev_g = 0;
        int sep = 0, plausible = 0;
        for (;;) {
            Py_ssize_t g0 = i;
            while (i < end && IS_DIGIT[b[i]]) { i++; nd++; }
            Py_ssize_t g = i - g0;
            plausible |= group_ok(prev_g, g);
            prev_g = g;
            if (i + 1 < end && IS_SEP[b[i]] && IS_DIGIT[b[i + 1]]) { sep = 1; i++; continue; }
            break;
        }
        if (sep) {
            if (nd >= 12 && plausible && emit(out, s, i, 1) < 0) goto fail;
        } else if (nd >= 12 && nd <= 19 && prefix_ok(table, b + s, nd, 1) && luhn_ok(b + s, nd, 1)) {
            if (emit(out, s, i, 0) < 0) goto fail;
        }
    }

    /* Pass 2: UTF-16 chains (digits with NUL bytes between them). A chain
     * starts at a digit followed by NUL, so search for NULs with memchr. */
    i = start;
    while (i + 1 < end) {
        const unsigned char *p = memchr(b + i + 1, 0, (size_t)(end - i - 1));
        if (!p) break;
        Py_ssize_t j = (p - b) - 1;
        if (!IS_DIGIT[b[j]]) {
            /* Skip NUL-heavy stretches (zero pages) fast: the next start is
             * a digit followed by NUL, so jump to the next digit. */
            Py_ssize_t d = next_digit(b, j + 1, end);
            if (d + 1 >= end) break;
            if (b[d + 1] != 0) { i = d + 1; continue; }
            j = d;
        }
        Py_ssize_t q = j, last = j, nd = 1, g = 1, prev_g = 0;
        int sep = 0, plausible = 0;
        for (;;) {
            /* q is a digit; next unit is NUL digit, or NUL sep NUL digit */
            if (q + 2 < end && b[q + 1] == 0 && IS_DIGIT[b[q + 2]]) { q += 2; nd++; g++; last = q; continue; }
            if (q + 4 < end && b[q + 1] == 0 && IS_SEP[b[q + 2]] && b[q + 3] == 0 && IS_DIGIT[b[q + 4]]) {
                plausible |= group_ok(prev_g, g);
                prev_g = g;
                g = 1;
                q += 4; nd++; last = q; sep = 1; continue;
            }
            break;
        }
        plausible |= group_ok(prev_g, g);
        if (nd < 2) { i = j + 1; continue; }
        Py_ssize_t e = last + 1;
        if (sep) {
            if (nd >= 12 && plausible && emit(out, j, e, 3) < 0) goto fail;
        } else if (nd >= 12 && nd <= 19 && prefix_ok(table, b + j, nd, 2) && luhn_ok(b + j, nd, 2)) {
            if (emit(out, j, e, 2) < 0) goto fail;
        }
        i = e;
    }
    if (table) PyBuffer_Release(&tview);
    PyBuffer_Release(&view);
    return out;
fail:
    Py_DECREF(out);
    if (table) PyBuffer_Release(&tview);
    PyBuffer_Release(&view);
    return NULL;
}

/* newlines(buf, start, end) -> (count, offset of the last one or -1).
 * memchr hops from line to line: several times faster than bytes.count
 * plus rfind on log-like text, and one pass instead of two. */
static PyObject *newlines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start = 0, end = -1;
    if (!PyArg_ParseTuple(args, "y*|nn", &view, &start, &end)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    if (end < 0 || end > view.len) end = view.len;
    if (start < 0) start = 0;
    Py_ssize_t count = 0, last = -1, i = start;
    while (i < end) {
        const unsigned char *p = memchr(b + i, '\n', (size_t)(end - i));
        if (!p) break;
        last = p - b;
        count++;
        i = last + 1;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nn)", count, last);
}

/* class_runs(buf, table, min_len) -> list[(start, end)]: maximal runs of
 * bytes whose table entry is non-zero, at least min_len long. The inline
 * base64 pre-check uses it instead of bytes.translate + find. */
static PyObject *class_runs(PyObject *self, PyObject *args) {
    Py_buffer view, tview;
    Py_ssize_t min_len;
    if (!PyArg_ParseTuple(args, "y*y*n", &view, &tview, &min_len)) return NULL;
    if (tview.len != 256) {
        PyBuffer_Release(&tview);
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "table must be 256 bytes");
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)view.buf;
    const unsigned char *t = (const unsigned char *)tview.buf;
    for (int c = 0; c < 256; c++) {
        if (t[c] > 1) {
            PyBuffer_Release(&tview);
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "table entries must be 0 or 1");
            return NULL;
        }
    }
    Py_ssize_t n = view.len;
    PyObject *out = PyList_New(0);
    if (!out) goto done;
    /* Probe every (min_len / 2)-th byte: a run of min_len class bytes always
     * covers two consecutive probes, so only where two probes in a row hit
     * is the run measured byte by byte. Most bytes are never looked at. */
    Py_ssize_t step = min_len / 2 > 0 ? min_len / 2 : 1, p = 0, last_end = 0;
    while (p + step < n) {
        if (!(t[b[p]] && t[b[p + step]])) { p += step; continue; }
        Py_ssize_t s = p, e = p + 1;
        while (s > last_end && t[b[s - 1]]) s--;
        while (e < n && t[b[e]]) e++;
        if (e - s >= min_len) {
            PyObject *pair = Py_BuildValue("(nn)", s, e);
            if (!pair || PyList_Append(out, pair) < 0) { Py_XDECREF(pair); Py_CLEAR(out); goto done; }
            Py_DECREF(pair);
        }
        last_end = e;
        p = (e / step + 1) * step;
    }
done:
    PyBuffer_Release(&tview);
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"find_chains", find_chains, METH_VARARGS, "Find digit chains that may hold a PAN."},
    {"newlines", newlines, METH_VARARGS, "Count newlines in buf[start:end]; return (count, last offset)."},
    {"class_runs", class_runs, METH_VARARGS, "Maximal runs of bytes in a class, at least min_len long."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cfinder", NULL, -1, methods};

PyMODINIT_FUNC PyInit__cfinder(void) {
    for (int c = 0; c < 256; c++) {
        IS_DIGIT[c] = (c >= '0' && c <= '9');
        IS_SEP[c] = (c == ' ' || c == '-');
    }
    return PyModule_Create(&module);
}
