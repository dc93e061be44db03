/*
 * cardscan candidate finder, C backend.
 *
 * find_chains(buf, start=0, end=len(buf), table=None) -> list[(start, end, flags)]
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
 * With id-field words (ids = (negative, positive, window); see
 * context.id_field_words), contiguous ASCII chains right behind an id field
 * name are dropped too ("order_id=...", "\"order_no\":\"...", "orders/..."):
 * the identifier just before the number (after 1+ of  \t=:"'/) holds a
 * negative token, within the last `window` bytes, and no token after it
 * starts a positive word. The context scorer rejects every such chain at
 * thresholds above context.MAX_WITH_NEGATIVE (tests prove the scan finds the
 * same with and without this rule); it only saves the Python work. A chain
 * followed by '=' is kept: it may be track 2 data, which context never drops.
 *
 * It may over-report (Python confirms), it must never miss.
 *
 * How it is fast: the buffer is classified 64 bytes at a time into bit masks
 * (digit, separator, NUL; SSE2 on x86-64, a plain loop elsewhere). An ASCII
 * chain is a run of "chain bytes" (digits, and separators with a digit on
 * both sides), and one with 12 digits spans at least 12 bytes, so shifted
 * ANDs of the chain mask mark where 12 chain bytes stand in a row; only
 * there is a chain walked byte by byte. Timestamps, IPs and short numbers,
 * most of the digits in a log, are never looked at one by one. A UTF-16
 * chain starts at a digit followed by a NUL; only those bits are walked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <tmmintrin.h>
#define CARDSCAN_SSSE3 1
#endif

static unsigned char IS_DIGIT[256];
static unsigned char IS_SEP[256];
static unsigned char IS_ALNUM[256];  /* [A-Za-z0-9]: word characters of the context scorer */
static unsigned char IS_IDENT[256];  /* [A-Za-z0-9_.-]: a field name */
static unsigned char IS_GAP[256];    /* between a field name and its value:  \t=:"'/ */

/* ---- bit masks, 64 bytes per word (bit k = byte k of the block) ---------- */

typedef struct {
    uint64_t digit, sep, nul;
} Masks;

static inline void masks_scalar(const unsigned char *p, Py_ssize_t len, Masks *m) {
    uint64_t d = 0, s = 0, z = 0;
    for (Py_ssize_t k = 0; k < len; k++) {
        unsigned char c = p[k];
        d |= (uint64_t)IS_DIGIT[c] << k;
        s |= (uint64_t)IS_SEP[c] << k;
        z |= (uint64_t)(c == 0) << k;
    }
    m->digit = d, m->sep = s, m->nul = z;
}

static inline void masks_full(const unsigned char *p, Masks *m) {
#if defined(__SSE2__)
    const __m128i c0 = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9), sp = _mm_set1_epi8(' '),
                  dash = _mm_set1_epi8('-'), zero = _mm_setzero_si128();
    uint64_t d = 0, s = 0, z = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        __m128i t = _mm_sub_epi8(x, c0); /* '0'..'9' -> 0..9; all else > 9 unsigned */
        __m128i isd = _mm_cmpeq_epi8(_mm_min_epu8(t, nine), t);
        __m128i iss = _mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, dash));
        d |= (uint64_t)(uint16_t)_mm_movemask_epi8(isd) << (16 * k);
        s |= (uint64_t)(uint16_t)_mm_movemask_epi8(iss) << (16 * k);
        z |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, zero)) << (16 * k);
    }
    m->digit = d, m->sep = s, m->nul = z;
#else
    masks_scalar(p, 64, m);
#endif
}

/* Masks of the 64-byte block at pos; bytes at or past end count as none. */
static inline void block_masks(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, Masks *m) {
    if (pos + 64 <= end) masks_full(b + pos, m);
    else if (pos < end) masks_scalar(b + pos, end - pos, m);
    else m->digit = m->sep = m->nul = 0;
}

/* Bit i of the result is set iff bits i .. i+len-1 of the 128-bit value
 * hi:lo are all set (1 <= len <= 65): shifted ANDs, doubling the window. */
static inline uint64_t run_starts(uint64_t lo, uint64_t hi, int len) {
    int k = 1;
    while (2 * k <= len) {
        lo &= (lo >> k) | (hi << (64 - k));
        hi &= hi >> k;
        k *= 2;
    }
    if (k < len) {
        int r = len - k;
        lo &= (lo >> r) | (hi << (64 - r));
    }
    return lo;
}

/* Clear the bits of word w (block at base) for positions before limit. */
static inline uint64_t clear_before(uint64_t bits, Py_ssize_t base, Py_ssize_t limit) {
    if (limit <= base) return bits;
    Py_ssize_t k = limit - base;
    return k >= 64 ? 0 : bits & (~0ULL << k);
}

/* ---- judging one chain ---------------------------------------------------- */
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

static int prefix_ok(const unsigned char *table, const unsigned char *d, Py_ssize_t nd, Py_ssize_t stride) {
    if (!table) return 1;
    int p = (d[0] - '0') * 1000 + (d[stride] - '0') * 100 + (d[2 * stride] - '0') * 10 + (d[3 * stride] - '0');
    return (table[p] >> (nd - 12)) & 1;
}

static int emit(PyObject *out, Py_ssize_t s, Py_ssize_t e, int flags) {
    PyObject *t = Py_BuildValue("(nni)", s, e, flags);
    if (!t) return -1;
    int rc = PyList_Append(out, t);
    Py_DECREF(t);
    return rc;
}

/* ---- id field names ------------------------------------------------------ */

typedef struct {
    const unsigned char *neg, *pos; /* "\nword\nword\n", lowercase ASCII */
    Py_ssize_t neg_len, pos_len, window;
} IdWords;

/* Is the token b[t0:t1] (any case) one of the words in blob? */
static int in_words(const unsigned char *blob, Py_ssize_t blen, const unsigned char *tok, Py_ssize_t tlen) {
    unsigned char key[40];
    if (tlen + 2 > (Py_ssize_t)sizeof key) return 0;
    key[0] = '\n';
    for (Py_ssize_t k = 0; k < tlen; k++) key[k + 1] = (unsigned char)(tok[k] | (tok[k] >= 'A' && tok[k] <= 'Z' ? 0x20 : 0));
    key[tlen + 1] = '\n';
    for (Py_ssize_t i = 0; i + tlen + 2 <= blen; i++)
        if (blob[i] == '\n' && memcmp(blob + i, key, (size_t)tlen + 2) == 0) return 1;
    return 0;
}

/* Is the contiguous chain b[s:e] right behind an id field name (see the
 * top of this file)? Mirrors candidates._id_field_before. */
static int id_field_before(const unsigned char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t end, const IdWords *w) {
    if (e < end && b[e] == '=') return 0;
    Py_ssize_t lo = s > w->window ? s - w->window : 0, g = s;
    while (g > lo && IS_GAP[b[g - 1]]) g--;
    if (g == s || g == lo) return 0;
    Py_ssize_t i0 = g;
    while (i0 > lo && IS_IDENT[b[i0 - 1]]) i0--;
    int pos_after = 0;
    Py_ssize_t t1 = g;
    for (;;) {
        while (t1 > i0 && !IS_ALNUM[b[t1 - 1]]) t1--;
        if (t1 == i0) return 0;
        Py_ssize_t t0 = t1;
        while (t0 > i0 && IS_ALNUM[b[t0 - 1]]) t0--;
        if (t0 == lo && t0 > 0 && IS_ALNUM[b[t0 - 1]]) return 0; /* cut by the window's start */
        if (in_words(w->neg, w->neg_len, b + t0, t1 - t0)) return !pos_after;
        if (in_words(w->pos, w->pos_len, b + t0, t1 - t0)) pos_after = 1;
        t1 = t0;
    }
}

/* The ASCII chain starting at the digit b[s]: appends it to out if it could
 * hold a PAN; returns its end (or -1 on error). */
static Py_ssize_t ascii_chain(const unsigned char *b, Py_ssize_t s, Py_ssize_t end, const unsigned char *table,
                              const IdWords *ids, PyObject *out) {
    Py_ssize_t i = s, nd = 0, prev_g = 0;
    int sep = 0, plausible = 0;
    for (;;) {
        Py_ssize_t g0 = i;
        while (i < end && IS_DIGIT[b[i]]) i++;
        Py_ssize_t g = i - g0;
        nd += g;
        plausible |= group_ok(prev_g, g);
        prev_g = g;
        if (i + 1 < end && IS_SEP[b[i]] && IS_DIGIT[b[i + 1]]) { sep = 1; i++; continue; }
        break;
    }
    int keep = sep ? (nd >= 12 && plausible)
                   : (nd >= 12 && nd <= 19 && prefix_ok(table, b + s, nd, 1) && luhn_ok(b + s, nd, 1) &&
                      !(ids && id_field_before(b, s, i, end, ids)));
    if (keep && emit(out, s, i, sep) < 0) return -1;
    return i;
}

/* The UTF-16 chain starting at the digit b[j] (followed by a NUL): appends
 * it to out if it could hold a PAN; returns its end, j + 1 if it is no
 * chain (a lone digit), or -1 on error. */
static Py_ssize_t utf16_chain(const unsigned char *b, Py_ssize_t j, Py_ssize_t end, const unsigned char *table,
                              PyObject *out) {
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
    if (nd < 2) return j + 1;
    Py_ssize_t e = last + 1;
    int keep = sep ? (nd >= 12 && plausible)
                   : (nd >= 12 && nd <= 19 && prefix_ok(table, b + j, nd, 2) && luhn_ok(b + j, nd, 2));
    if (keep && emit(out, j, e, 2 | sep) < 0) return -1;
    return e;
}

static PyObject *find_chains(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_buffer tview = {0};
    Py_ssize_t start = 0, end = -1;
    PyObject *table_obj = Py_None, *ids_obj = Py_None;
    IdWords ids_words, *ids = NULL;
    if (!PyArg_ParseTuple(args, "y*|nnOO", &view, &start, &end, &table_obj, &ids_obj)) return NULL;
    if (ids_obj != Py_None) {
        /* (negative blob, positive blob, window): bytes objects the caller keeps alive. */
        PyObject *neg, *pos;
        if (!PyArg_ParseTuple(ids_obj, "SSn", &neg, &pos, &ids_words.window)) { PyBuffer_Release(&view); return NULL; }
        ids_words.neg = (const unsigned char *)PyBytes_AS_STRING(neg);
        ids_words.neg_len = PyBytes_GET_SIZE(neg);
        ids_words.pos = (const unsigned char *)PyBytes_AS_STRING(pos);
        ids_words.pos_len = PyBytes_GET_SIZE(pos);
        ids = &ids_words;
    }
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
    PyObject *out = PyList_New(0), *wide = PyList_New(0);
    if (!out || !wide) goto fail;

    Masks cur, nxt;
    uint64_t prev_digit = 0;
    Py_ssize_t ascii_done = start, utf16_done = start;
    block_masks(b, start, end, &cur);
    for (Py_ssize_t base = start; base < end; base += 64) {
        block_masks(b, base + 64, end, &nxt);
        /* Chain bytes: digits, and separators between two digits. Bit 63 of
         * the next block's word is not needed (only its low 11 bits are). */
        uint64_t chain = cur.digit | (cur.sep & ((cur.digit << 1) | (prev_digit >> 63))
                                               & ((cur.digit >> 1) | (nxt.digit << 63)));
        uint64_t chain_next = nxt.digit | (nxt.sep & ((nxt.digit << 1) | (cur.digit >> 63)) & (nxt.digit >> 1));
        uint64_t starts = clear_before(run_starts(chain, chain_next, 12), base, ascii_done);
        while (starts) {
            /* The first 12-byte window at or after the last chain's end is
             * the start of the next chain of 12 bytes or more. */
            Py_ssize_t s = base + __builtin_ctzll(starts);
            ascii_done = ascii_chain(b, s, end, table, ids, out);
            if (ascii_done < 0) goto fail;
            starts = clear_before(starts, base, ascii_done);
        }
        /* UTF-16 chains start at a digit followed by a NUL. */
        uint64_t digit_nul = clear_before(cur.digit & ((cur.nul >> 1) | (nxt.nul << 63)), base, utf16_done);
        while (digit_nul) {
            Py_ssize_t j = base + __builtin_ctzll(digit_nul);
            utf16_done = utf16_chain(b, j, end, table, wide);
            if (utf16_done < 0) goto fail;
            digit_nul = clear_before(digit_nul, base, utf16_done);
        }
        prev_digit = cur.digit;
        cur = nxt;
    }
    /* ASCII chains first, then UTF-16 ones, as the oracle lists them. */
    if (PyList_SetSlice(out, PyList_GET_SIZE(out), PyList_GET_SIZE(out), wide) < 0) goto fail;
    Py_DECREF(wide);
    if (table) PyBuffer_Release(&tview);
    PyBuffer_Release(&view);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(wide);
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

/* ---- class_runs ----------------------------------------------------------- */

/* Class mask of 64 bytes through a 256-entry table. */
static inline uint64_t class_mask_scalar(const unsigned char *p, Py_ssize_t len, const unsigned char *t) {
    uint64_t m = 0;
    for (Py_ssize_t k = 0; k < len; k++) m |= (uint64_t)t[p[k]] << k;
    return m;
}

#ifdef CARDSCAN_SSSE3
/* The same for a class of ASCII bytes, 16 at a time: a byte is in the class
 * iff lo[its low nibble] has the bit of its high nibble (pshufb lookups). */
__attribute__((target("ssse3"))) static inline uint64_t class_mask_ssse3(const unsigned char *p, __m128i lo,
                                                                         __m128i hi) {
    const __m128i nib = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    uint64_t m = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        __m128i a = _mm_shuffle_epi8(lo, _mm_and_si128(x, nib));
        __m128i c = _mm_shuffle_epi8(hi, _mm_and_si128(_mm_srli_epi16(x, 4), nib));
        __m128i out = _mm_cmpeq_epi8(_mm_and_si128(a, c), zero);
        m |= (uint64_t)(uint16_t)~_mm_movemask_epi8(out) << (16 * k);
    }
    return m;
}
#endif

/* Runs of class bytes of at least min_len (<= 64) in b[0:n], word by word. */
static int class_runs_words(const unsigned char *b, Py_ssize_t n, const unsigned char *t, int min_len, int simd,
                            PyObject *out) {
#ifdef CARDSCAN_SSSE3
    unsigned char lo_tab[16] = {0}, hi_tab[16] = {0};
    for (int c = 0; c < 128; c++)
        if (t[c]) lo_tab[c & 15] |= (unsigned char)(1 << (c >> 4));
    for (int h = 0; h < 8; h++) hi_tab[h] = (unsigned char)(1 << h);
    __m128i lo = _mm_loadu_si128((const __m128i *)lo_tab), hi = _mm_loadu_si128((const __m128i *)hi_tab);
#define CLASS_MASK(pos) \
    ((pos) + 64 <= n ? (simd ? class_mask_ssse3(b + (pos), lo, hi) : class_mask_scalar(b + (pos), 64, t)) \
                     : ((pos) < n ? class_mask_scalar(b + (pos), n - (pos), t) : 0))
#else
    (void)simd;
#define CLASS_MASK(pos) \
    ((pos) + 64 <= n ? class_mask_scalar(b + (pos), 64, t) : ((pos) < n ? class_mask_scalar(b + (pos), n - (pos), t) : 0))
#endif
    Py_ssize_t done = 0;
    uint64_t cur = CLASS_MASK(0);
    for (Py_ssize_t base = 0; base < n; base += 64) {
        uint64_t nxt = CLASS_MASK(base + 64);
        uint64_t starts = clear_before(run_starts(cur, nxt, min_len), base, done);
        while (starts) {
            Py_ssize_t s = base + __builtin_ctzll(starts), e = s + min_len;
            while (e < n && t[b[e]]) e++;
            PyObject *pair = Py_BuildValue("(nn)", s, e);
            if (!pair || PyList_Append(out, pair) < 0) { Py_XDECREF(pair); return -1; }
            Py_DECREF(pair);
            done = e;
            starts = clear_before(starts, base, done);
        }
        cur = nxt;
    }
#undef CLASS_MASK
    return 0;
}

/* class_runs(buf, table, min_len) -> list[(start, end)]: maximal runs of
 * bytes whose table entry is non-zero, at least min_len long. The inline
 * base64 pre-check uses it instead of bytes.translate + find. */
static PyObject *class_runs(PyObject *self, PyObject *args) {
    Py_buffer view, tview;
    Py_ssize_t min_len;
    if (!PyArg_ParseTuple(args, "y*y*n", &view, &tview, &min_len)) return NULL;
    PyObject *out = NULL;
    if (tview.len != 256) {
        PyErr_SetString(PyExc_ValueError, "table must be 256 bytes");
        goto done;
    }
    const unsigned char *t = (const unsigned char *)tview.buf;
    int ascii_only = 1;
    for (int c = 0; c < 256; c++) {
        if (t[c] > 1) {
            PyErr_SetString(PyExc_ValueError, "table entries must be 0 or 1");
            goto done;
        }
        if (c >= 128 && t[c]) ascii_only = 0;
    }
    if (min_len < 1) min_len = 1;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    out = PyList_New(0);
    if (!out) goto done;
    if (min_len <= 64) {
#ifdef CARDSCAN_SSSE3
        int simd = ascii_only && __builtin_cpu_supports("ssse3");
#else
        int simd = 0;
#endif
        if (class_runs_words(b, n, t, (int)min_len, simd, out) < 0) Py_CLEAR(out);
        goto done;
    }
    /* Longer minimum: measure every run (rare; no caller needs it today). */
    for (Py_ssize_t i = 0; i < n;) {
        if (!t[b[i]]) { i++; continue; }
        Py_ssize_t s = i;
        while (i < n && t[b[i]]) i++;
        if (i - s >= min_len) {
            PyObject *pair = Py_BuildValue("(nn)", s, i);
            if (!pair || PyList_Append(out, pair) < 0) { Py_XDECREF(pair); Py_CLEAR(out); goto done; }
            Py_DECREF(pair);
        }
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
        IS_ALNUM[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        IS_IDENT[c] = IS_ALNUM[c] || c == '_' || c == '.' || c == '-';
        IS_GAP[c] = c != 0 && strchr(" \t=:\"'/", c) != NULL;
    }
    return PyModule_Create(&module);
}
