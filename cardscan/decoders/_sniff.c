/* Where any of a few byte strings occurs in a buffer, in one pass (decoders/expand.py containers).
 *
 * find_all(data, needles, nocase=False, first=False) -> list of (pos, k)
 *
 *   data:    a bytes-like buffer (a batch of small files, sources.fs.read_files)
 *   needles: a tuple of at most 64 non-empty bytes
 *   nocase:  match as ``needle in data.lower()`` (ASCII letters only, as bytes.lower)
 *   first:   stop at the first occurrence (at most one pair)
 *
 * Every occurrence, overlapping ones too, of every needle: (its offset, the
 * needle's index), by offset then index. What a loop of ``data.find(needle,
 * p + 1)`` per needle finds, in one pass instead of one per needle (a
 * bytes.find over a batch of logs runs at ~2 GB/s: the magic searched and the
 * mail headers' words were ~11 passes over every byte of the sweep).
 *
 * Pure-Python twin: decoders/expand.py _find_all_python (the tests compare them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_NEEDLES 64

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Is needle n (len L) at d, as found in data.lower() with nocase? */
static int same(const unsigned char *d, const unsigned char *n, Py_ssize_t L, int nocase) {
    if (!nocase) return memcmp(d, n, (size_t)L) == 0;
    for (Py_ssize_t j = 0; j < L; j++)
        if (lower(d[j]) != n[j]) return 0;
    return 1;
}

typedef struct {
    Py_ssize_t pos;
    Py_ssize_t k;
} Hit;

typedef struct {
    Hit *at;
    Py_ssize_t n, cap;
} Hits;

static int add(Hits *h, Py_ssize_t pos, Py_ssize_t k) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? h->cap * 2 : 16;
        Hit *p = realloc(h->at, sizeof(Hit) * (size_t)cap);
        if (p == NULL) return -1;
        h->at = p;
        h->cap = cap;
    }
    h->at[h->n].pos = pos;
    h->at[h->n].k = k;
    h->n++;
    return 0;
}

/* The two forms a data byte may take to be needle byte c (nocase: as lowered);
 * 0 if none can (an upper-case letter of a needle is never in data.lower()). */
static int forms(unsigned char c, int nocase, unsigned char *a, unsigned char *b) {
    *a = *b = c;
    if (!nocase) return 1;
    if (c >= 'A' && c <= 'Z') return 0;
    if (c >= 'a' && c <= 'z') *b = (unsigned char)(c - 32);
    return 1;
}

/* Every offset i < stop where needle k is (first: the first one alone), added to h.
 * Candidates: where its first and its last byte are (16 offsets at a time with
 * SSE2), then the whole needle compared. -1: out of memory. */
static int scan(const unsigned char *d, Py_ssize_t len, const unsigned char *n, Py_ssize_t L, Py_ssize_t k, int nocase,
                int first, Py_ssize_t stop, Hits *h) {
    unsigned char f1, f2, l1, l2;
    if (!forms(n[0], nocase, &f1, &f2) || !forms(n[L - 1], nocase, &l1, &l2)) return 0;
    Py_ssize_t end = len - L + 1; /* offsets i < end hold the needle's length */
    if (end > stop) end = stop;
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    /* Blocks whose loads (at i and i + L - 1, 16 bytes each) stay inside data. */
    const __m128i F1 = _mm_set1_epi8((char)f1), F2 = _mm_set1_epi8((char)f2);
    const __m128i L1 = _mm_set1_epi8((char)l1), L2 = _mm_set1_epi8((char)l2);
    for (; i + 16 <= end && i + L - 1 + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(d + i + L - 1));
        __m128i m = _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(a, F1), _mm_cmpeq_epi8(a, F2)),
                                  _mm_or_si128(_mm_cmpeq_epi8(b, L1), _mm_cmpeq_epi8(b, L2)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        while (bits) {
            int j = __builtin_ctz(bits);
            bits &= bits - 1;
            if (same(d + i + j, n, L, nocase)) {
                if (add(h, i + j, k) < 0) return -1;
                if (first) return 0;
            }
        }
    }
#endif
    for (; i < end; i++) {
        unsigned char c = d[i], e = d[i + L - 1];
        if ((c == f1 || c == f2) && (e == l1 || e == l2) && same(d + i, n, L, nocase)) {
            if (add(h, i, k) < 0) return -1;
            if (first) return 0;
        }
    }
    return 0;
}

static int by_place(const void *x, const void *y) {
    const Hit *a = x, *b = y;
    if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

static PyObject *find_all(PyObject *self, PyObject *args, PyObject *kwargs) {
    Py_buffer buf;
    PyObject *needles;
    int nocase = 0, first = 0;
    static char *kwlist[] = {"data", "needles", "nocase", "first", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*O!|pp", kwlist, &buf, &PyTuple_Type, &needles, &nocase, &first))
        return NULL;
    Py_ssize_t nn = PyTuple_GET_SIZE(needles);
    if (nn > MAX_NEEDLES) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "at most 64 needles");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nn; k++) {
        PyObject *n = PyTuple_GET_ITEM(needles, k);
        if (!PyBytes_Check(n) || PyBytes_GET_SIZE(n) == 0) {
            PyBuffer_Release(&buf);
            PyErr_SetString(PyExc_ValueError, "needles must be non-empty bytes");
            return NULL;
        }
    }
    const unsigned char *d = buf.buf;
    Py_ssize_t len = buf.len;
    Hits h = {NULL, 0, 0};
    int nomem = 0;
    /* One needle at a time (the tuple holds its bytes, immutable, with the GIL
     * held as here); with first, each needle only before the best so far. */
    for (Py_ssize_t k = 0; k < nn && !nomem; k++) {
        PyObject *n = PyTuple_GET_ITEM(needles, k);
        Py_ssize_t stop = (first && h.n) ? h.at[0].pos + 1 : len;
        Py_ssize_t before = h.n;
        if (scan(d, len, (const unsigned char *)PyBytes_AS_STRING(n), PyBytes_GET_SIZE(n), k, nocase, first, stop, &h) < 0)
            nomem = 1;
        else if (first && h.n > before) {
            Hit got = h.at[h.n - 1];
            /* (at the best's offset, a later needle's index is bigger: the best stays) */
            if (before == 0 || got.pos < h.at[0].pos) h.at[0] = got;
            h.n = 1;
        }
    }
    PyBuffer_Release(&buf);
    if (nomem) {
        free(h.at);
        return PyErr_NoMemory();
    }
    if (h.n > 1) qsort(h.at, (size_t)h.n, sizeof(Hit), by_place);
    PyObject *out = PyList_New(h.n);
    for (Py_ssize_t i = 0; out != NULL && i < h.n; i++) {
        PyObject *pair = Py_BuildValue("(nn)", h.at[i].pos, h.at[i].k);
        if (pair == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    free(h.at);
    return out;
}

static PyMethodDef methods[] = {
    {"find_all", (PyCFunction)(void (*)(void))find_all, METH_VARARGS | METH_KEYWORDS,
     "find_all(data, needles, nocase=False, first=False) -> [(pos, k)]: every occurrence of each needle, one pass."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sniff", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sniff(void) { return PyModule_Create(&module); }
