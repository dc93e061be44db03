/*
 * cardscan candidate finder, C backend.
 *
 * find_chains(buf, start=0, end=len(buf), table=None, ids=None, keep=None) -> list[(start, end, flags)]
 *
 * Finds "digit chains" exactly as the pure-Python oracle in candidates.py
 * does (tests compare them on random and adversarial inputs):
 *
 *   ASCII:   [0-9]+(?:[ -][0-9]+)*                     flags bit 1 clear
 *   UTF-16:  [0-9](?:\x00(?:[ -]\x00)?[0-9])+           flags bit 1 set
 *
 * each found left to right, non-overlapping within its own kind.
 * flags bit 0 is set when the chain contains a separator; bit 2 (NORANGE)
 * marks a contiguous Luhn-valid chain outside every issuer range, returned
 * only when the ids mode asks (ID_CARD_WINDOW: a card word in the window
 * before it; ID_ALL_RANGES: every one), for a card field to name.
 *
 * A chain is returned only if it could hold a PAN:
 *   - without separators: 12..19 digits and a valid Luhn check digit
 *     (this is where most of the work is saved: ids and timestamps die here);
 *   - with separators: at least 12 digits, and a group that could start a
 *     printed PAN: a group of 12-19 digits, or a group of 4 followed by one
 *     of 3-6, a group of 6 followed by one of 13, or groups of 6, 2, 4 (every printed format in
 *     validate.FORMATS starts so), and then (sep_chain_holds) a group of
 *     12-19 digits or groups in a printed format joined by one separator
 *     that pass Luhn and the prefix table (the whole chain in a format:
 *     Luhn only). This drops the access-log tails ("200 47209 1393") that
 *     dominate logs, and the UUIDs and dates whose groups look printed.
 * With a prefix table (10000 bytes: for each 4-digit prefix a bit mask of
 * PAN lengths 12..19 some issuer allows), contiguous chains whose prefix
 * cannot start a PAN of their length are dropped too.
 *
 * With id-field words (ids = (negative, card words, window); see
 * context.id_field_words), contiguous ASCII chains that are the value of an
 * id field are dropped too ("order_id=...", "\"order_no\":\"...", "orders/..."):
 * the whole identifier just before the number, joined to it by 1+ of
 *  \t=:"'/ holding '=', '/' or a quote and ':', lies within the last
 * `window` bytes, has a token that is a negative word and no token that
 * contains a card word. The context scorer rejects every such chain at
 * thresholds above context.MAX_WITH_NEGATIVE (tests prove the scan finds the
 * same with and without this rule); it only saves the Python work. A chain
 * followed by '=' is kept: it may be track 2 data, which context never drops.
 *
 * keep (bytes "\nnumber\n...", the published test cards) lists numbers the
 * id rule never drops: issue 16 says test cards are always reported.
 *
 * An escape whose hex digits touch a chain is a boundary (escape_start):
 * in "%224111...", "%2522...", "\u00224111..." or "\x224111..." the chain
 * starts after the escape, unless the escape stands for a digit ("%34").
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
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
/* SSE2 is in every x86-64 CPU; SSSE3 and AVX2 are compiled for their own
 * functions only (target attributes) and used where the CPU has them. */
#include <immintrin.h>
#define CARDSCAN_X86 1
#endif

/* ---- SIMD level ------------------------------------------------------------
 * LEVEL_SCALAR: plain loops (every CPU; the compiler may vectorise them);
 * LEVEL_SSE2: 16-byte vectors (SSSE3 lookups for class_runs where present);
 * LEVEL_AVX2: 32-byte vectors, when the CPU has AVX2.
 * The best the CPU has is chosen at import; CARDSCAN_SIMD=scalar|sse2|avx2
 * or simd(name) lowers it, so tests run every path on one machine (the
 * results are identical by construction and by test). */
enum { LEVEL_SCALAR = 0, LEVEL_SSE2 = 1, LEVEL_AVX2 = 2 };
static const char *const LEVEL_NAMES[] = {"scalar", "sse2", "avx2"};
static int level_max = LEVEL_SCALAR; /* what this CPU and build can run */
static int level = LEVEL_SCALAR;     /* what runs */
static int have_ssse3 = 0;

static unsigned char IS_DIGIT[256];
static unsigned char IS_SEP[256];
static unsigned char IS_ALNUM[256];  /* [A-Za-z0-9]: word characters of the context scorer */
static unsigned char IS_IDENT[256];  /* [A-Za-z0-9_.-]: a field name */
static unsigned char IS_GAP[256];    /* between a field name and its value:  \t=:"'/ */
static unsigned char MAY_END_ESCAPE[256]; /* %, u, x, a-f, A-F: the byte before a chain an escape ends with */

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

#ifdef CARDSCAN_X86
static inline void masks_sse2(const unsigned char *p, Masks *m) {
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
}

__attribute__((target("avx2"))) static inline void masks_avx2(const unsigned char *p, Masks *m) {
    const __m256i c0 = _mm256_set1_epi8('0'), nine = _mm256_set1_epi8(9), sp = _mm256_set1_epi8(' '),
                  dash = _mm256_set1_epi8('-'), zero = _mm256_setzero_si256();
    __m256i x0 = _mm256_loadu_si256((const __m256i *)p), x1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i t0 = _mm256_sub_epi8(x0, c0), t1 = _mm256_sub_epi8(x1, c0);
    __m256i d0 = _mm256_cmpeq_epi8(_mm256_min_epu8(t0, nine), t0), d1 = _mm256_cmpeq_epi8(_mm256_min_epu8(t1, nine), t1);
    __m256i s0 = _mm256_or_si256(_mm256_cmpeq_epi8(x0, sp), _mm256_cmpeq_epi8(x0, dash));
    __m256i s1 = _mm256_or_si256(_mm256_cmpeq_epi8(x1, sp), _mm256_cmpeq_epi8(x1, dash));
    m->digit = (uint32_t)_mm256_movemask_epi8(d0) | (uint64_t)(uint32_t)_mm256_movemask_epi8(d1) << 32;
    m->sep = (uint32_t)_mm256_movemask_epi8(s0) | (uint64_t)(uint32_t)_mm256_movemask_epi8(s1) << 32;
    m->nul = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, zero)) |
             (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x1, zero)) << 32;
}
#endif

/* Masks of the 64-byte block at pos; bytes at or past end count as none.
 * lvl is a constant in each instantiation of the finder loop below. */
static inline __attribute__((always_inline)) void block_masks(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                                                              Masks *m, int lvl) {
    if (pos + 64 <= end) {
#ifdef CARDSCAN_X86
        if (lvl == LEVEL_AVX2) masks_avx2(b + pos, m);
        else if (lvl == LEVEL_SSE2) masks_sse2(b + pos, m);
        else masks_scalar(b + pos, 64, m);
#else
        (void)lvl;
        masks_scalar(b + pos, 64, m);
#endif
    }
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

/* run_starts(lo, hi, 12), spelled out: runs of 2, 4, 8, then 12. */
static inline uint64_t run12(uint64_t lo, uint64_t hi) {
    lo &= (lo >> 1) | (hi << 63), hi &= hi >> 1;
    lo &= (lo >> 2) | (hi << 62), hi &= hi >> 2;
    lo &= (lo >> 4) | (hi << 60), hi &= hi >> 4;
    return lo & ((lo >> 4) | (hi << 60));
}

/* Clear the bits of word w (block at base) for positions before limit. */
static inline uint64_t clear_before(uint64_t bits, Py_ssize_t base, Py_ssize_t limit) {
    if (limit <= base) return bits;
    Py_ssize_t k = limit - base;
    return k >= 64 ? 0 : bits & (~0ULL << k);
}

/* ---- judging one chain ---------------------------------------------------- */
/* Can a printed PAN start here: a contiguous group of 12-19 digits, or the
 * first groups of a format in validate.FORMATS (4 then 3-6, 6 then 13, 6-2-4)?
 * prev2_g, prev_g: the two groups before g (0 if none). */
static inline int group_ok(Py_ssize_t prev2_g, Py_ssize_t prev_g, Py_ssize_t g) {
    return (g >= 12 && g <= 19) || (prev_g == 4 && g >= 3 && g <= 6) || (prev_g == 6 && g == 13) ||
           (prev2_g == 6 && prev_g == 2 && g == 4);
}

static const unsigned char DOUBLED[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9}; /* digit sum of 2d */

static int luhn_ok(const unsigned char *d, Py_ssize_t n, Py_ssize_t stride) {
    /* d points at the first digit; digits are stride bytes apart, n digits.
     * From the check digit leftwards, a pair at a time: no branch per digit. */
    int sum = 0;
    Py_ssize_t k = n - 1;
    for (; k >= 1; k -= 2) sum += (d[k * stride] - '0') + DOUBLED[d[(k - 1) * stride] - '0'];
    if (k == 0) sum += d[0] - '0';
    return sum % 10 == 0;
}

static int prefix_ok(const unsigned char *table, const unsigned char *d, Py_ssize_t nd, Py_ssize_t stride) {
    if (!table) return 1;
    int p = (d[0] - '0') * 1000 + (d[stride] - '0') * 100 + (d[2 * stride] - '0') * 10 + (d[3 * stride] - '0');
    return (table[p] >> (nd - 12)) & 1;
}

/* Printed formats of validate.FORMATS (group sizes, 0-terminated); a test
 * compares this list with the Python one through the finder. */
static const unsigned char FORMATS[][6] = {
    {4, 4, 4, 0},    {4, 4, 5, 0},    {4, 3, 3, 3, 0}, {4, 6, 4, 0},    {4, 4, 4, 2, 0}, {4, 6, 5, 0},
    {4, 4, 4, 3, 0}, {4, 5, 6, 0},    {4, 4, 4, 4, 0}, {4, 6, 6, 0},    {6, 2, 4, 4, 0}, {4, 4, 4, 5, 0},
    {4, 4, 4, 6, 0}, {4, 4, 4, 4, 2, 0}, {4, 4, 4, 4, 3, 0}, {6, 13, 0},
};
#define SEP_MAX_GROUPS 64
#define SEP_MAX_DIGITS 256

/* Could the chain with separators whose characters are b[s], b[s + stride],
 * ... b[e - 1] hold a PAN validate.windows accepts, or be the printed number
 * outside every range that validate.printed_outside_ranges accepts? A group
 * of 12-19 digits, or groups in a printed format joined by one separator,
 * that pass the Luhn check and the prefix table (the whole chain in a
 * format: Luhn only). Mirrors candidates._sep_chain_holds. Chains of the
 * UUIDs and dates of a log ("2951-4304-a4c0" is 4-4-4) die here instead of
 * in Python (~25 us each). Too many groups or digits: kept (Python decides). */
static int sep_chain_holds(const unsigned char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t stride,
                           const unsigned char *table) {
    unsigned char d[SEP_MAX_DIGITS];
    int off[SEP_MAX_GROUPS], size[SEP_MAX_GROUPS];
    unsigned char sep[SEP_MAX_GROUPS];
    int m = 0, nd = 0, g = 0;
    for (Py_ssize_t i = s; i < e; i += stride) {
        unsigned char c = b[i];
        if (IS_DIGIT[c]) {
            if (nd == SEP_MAX_DIGITS) return 1;
            d[nd++] = c;
            g++;
        } else {
            if (m == SEP_MAX_GROUPS - 1) return 1;
            off[m] = nd - g;
            size[m] = g;
            sep[m] = c;
            m++;
            g = 0;
        }
    }
    off[m] = nd - g;
    size[m] = g;
    sep[m] = 0;
    m++;
    for (int i = 0; i < m; i++) {
        if (size[i] >= 12 && size[i] <= 19 && prefix_ok(table, d + off[i], size[i], 1) &&
            luhn_ok(d + off[i], size[i], 1))
            return 1;
        for (size_t f = 0; f < sizeof FORMATS / sizeof FORMATS[0]; f++) {
            const unsigned char *fm = FORMATS[f];
            int k = 0, len = 0;
            while (fm[k]) {
                if (i + k >= m || size[i + k] != fm[k] || (k && sep[i + k - 1] != sep[i])) break;
                len += fm[k];
                k++;
            }
            if (fm[k]) continue;
            if (luhn_ok(d + off[i], len, 1) && ((i == 0 && k == m) || prefix_ok(table, d + off[i], len, 1)))
                return 1;
        }
    }
    return 0;
}

static int emit(PyObject *out, Py_ssize_t s, Py_ssize_t e, int flags) {
    PyObject *t = Py_BuildValue("(nni)", s, e, flags);
    if (!t) return -1;
    int rc = PyList_Append(out, t);
    Py_DECREF(t);
    return rc;
}

/* ---- id field names ------------------------------------------------------ */

/* A word list ("\nword\nword\n", lowercase ASCII) and, built on its first
 * lookup in a find_chains call, a small hash set of its words: a linear
 * scan of the ~500-byte lists cost ~4,500 instructions per number looked
 * up. Lists too big for the set are scanned as before. */
#define WS_SLOTS 256
#define WS_MAX_WORD 38 /* longer tokens are never looked up (see in_words) */
typedef struct {
    const unsigned char *blob;
    Py_ssize_t len;
    int state; /* 0: not built; 1: built; -1: scan the blob */
    uint16_t off[WS_SLOTS];
    uint8_t wlen[WS_SLOTS]; /* 0: empty slot */
    int firsts;               /* first[], words[] built (has_word_inside); -1: too many words */
    unsigned char first[256]; /* how many words start with this byte */
    unsigned char from[256];  /* where they start in byfirst[] */
    int nwords;
    uint16_t woff[64];
    uint8_t wlens[64];
    uint8_t byfirst[64];      /* word indexes by first byte */
} WordSet;

typedef struct {
    WordSet *neg, *pos;
    Py_ssize_t window;
    long mode; /* ID_* bits */
} IdWords;

/* Built word sets, kept from one find_chains call to the next: every call
 * of a Detector passes the same two word lists (bytes objects), and building
 * the negative words' set again for each flagged file (a "card=" field asks
 * it) was ~7,000 of the finder's ~13,000 instructions per small file. An
 * entry holds a reference to its bytes object, so the object, immutable,
 * stays what it was while the entry names it; the GIL is held throughout. */
#define WS_CACHE 4
static struct {
    PyObject *blob; /* a bytes object (strong reference), NULL: free */
    WordSet ws;
} ws_cache[WS_CACHE];
static int ws_cache_next = 0;

/* ``in_use``: a set this call took already (its negative words), whose
 * slot must not be taken for another list: a known negative list passed
 * with a new card list would else read as the card words. */
static WordSet *wordset_for(PyObject *blob, const WordSet *in_use) {
    for (int i = 0; i < WS_CACHE; i++)
        if (ws_cache[i].blob == blob) return &ws_cache[i].ws;
    int i = ws_cache_next;
    if (&ws_cache[i].ws == in_use) i = (i + 1) % WS_CACHE;
    ws_cache_next = (i + 1) % WS_CACHE;
    Py_INCREF(blob);
    Py_XSETREF(ws_cache[i].blob, blob);
    WordSet *ws = &ws_cache[i].ws;
    ws->blob = (const unsigned char *)PyBytes_AS_STRING(blob);
    ws->len = PyBytes_GET_SIZE(blob);
    ws->state = 0; /* built on its first lookup, as before */
    ws->firsts = 0;
    return ws;
}

/* IdWords.mode bits (candidates.ID_DROP ...). */
#define ID_DROP 1        /* drop values of id fields */
#define ID_CARD_WINDOW 2 /* keep Luhn-valid chains outside every range with a card word in the window */
#define ID_ALL_RANGES 4  /* keep every Luhn-valid chain outside every range */
#define NORANGE 4        /* chain flag: outside every issuer range (candidates.NORANGE) */

static inline uint32_t word_hash(const unsigned char *p, Py_ssize_t n, int fold) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = p[k];
        if (fold && c >= 'A' && c <= 'Z') c |= 0x20;
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static void wordset_build(WordSet *ws) {
    ws->state = -1;
    if (ws->len > 65535) return;
    memset(ws->wlen, 0, sizeof ws->wlen);
    int words = 0;
    for (Py_ssize_t i = 0; i < ws->len;) {
        if (ws->blob[i] == '\n') { i++; continue; }
        Py_ssize_t j = i;
        while (j < ws->len && ws->blob[j] != '\n') j++;
        if (j - i <= WS_MAX_WORD) {
            if (++words > WS_SLOTS / 2) return;
            uint32_t slot = word_hash(ws->blob + i, j - i, 0) & (WS_SLOTS - 1);
            while (ws->wlen[slot]) slot = (slot + 1) & (WS_SLOTS - 1);
            ws->off[slot] = (uint16_t)i;
            ws->wlen[slot] = (uint8_t)(j - i);
        }
        i = j;
    }
    ws->state = 1;
}

/* Is the token tok[0:tlen] (any case) one of the words of ws? */
static int in_words(WordSet *ws, const unsigned char *tok, Py_ssize_t tlen) {
    unsigned char key[40];
    if (tlen + 2 > (Py_ssize_t)sizeof key) return 0;
    if (ws->state == 0) wordset_build(ws);
    for (Py_ssize_t k = 0; k < tlen; k++) key[k + 1] = (unsigned char)(tok[k] | (tok[k] >= 'A' && tok[k] <= 'Z' ? 0x20 : 0));
    if (ws->state == 1) {
        uint32_t slot = word_hash(key + 1, tlen, 0) & (WS_SLOTS - 1);
        while (ws->wlen[slot]) {
            if (ws->wlen[slot] == tlen && memcmp(ws->blob + ws->off[slot], key + 1, (size_t)tlen) == 0) return 1;
            slot = (slot + 1) & (WS_SLOTS - 1);
        }
        return 0;
    }
    key[0] = '\n';
    key[tlen + 1] = '\n';
    for (Py_ssize_t i = 0; i + tlen + 2 <= ws->len; i++)
        if (ws->blob[i] == '\n' && memcmp(ws->blob + i, key, (size_t)tlen + 2) == 0) return 1;
    return 0;
}

/* The numbers the id rule never drops (published test cards: issue 16 says
 * they are always reported), "\nnumber\nnumber\n": an open-addressing set
 * of their offsets, built on the first id-labelled chain of a call. */
#define KS_SLOTS 4096
typedef struct {
    const unsigned char *blob;
    Py_ssize_t len;
    int state;     /* 0: not built; 1: built; -1: scan the blob (too big, or no memory) */
    uint16_t *off; /* KS_SLOTS offsets, then KS_SLOTS lengths (0: empty slot) */
    uint8_t *nlen;
} KeepSet;

static void keepset_build(KeepSet *ks) {
    ks->state = -1;
    if (ks->len > 65535) return;
    ks->off = PyMem_Malloc(KS_SLOTS * (sizeof *ks->off + sizeof *ks->nlen));
    if (!ks->off) return;
    ks->nlen = (uint8_t *)(ks->off + KS_SLOTS);
    memset(ks->nlen, 0, KS_SLOTS);
    int n = 0;
    for (Py_ssize_t i = 0; i < ks->len;) {
        if (ks->blob[i] == '\n') { i++; continue; }
        Py_ssize_t j = i;
        while (j < ks->len && ks->blob[j] != '\n') j++;
        if (j - i > 19 || ++n > KS_SLOTS / 2) return;
        uint32_t slot = word_hash(ks->blob + i, j - i, 0) & (KS_SLOTS - 1);
        while (ks->nlen[slot]) slot = (slot + 1) & (KS_SLOTS - 1);
        ks->off[slot] = (uint16_t)i;
        ks->nlen[slot] = (uint8_t)(j - i);
        i = j;
    }
    ks->state = 1;
}

/* The published test cards' set, kept between calls as the word sets are
 * (one entry: a Detector passes one list): built on the first id-labelled
 * chain of the first call that meets one, then reused, where it was built
 * (a 12 KiB allocation and ~100 numbers hashed) for every such call. */
static PyObject *keep_cache_blob = NULL;
static KeepSet keep_cache;

static KeepSet *keepset_for(PyObject *blob) {
    if (keep_cache_blob != blob) {
        PyMem_Free(keep_cache.off);
        keep_cache.off = NULL;
        Py_INCREF(blob);
        Py_XSETREF(keep_cache_blob, blob);
        keep_cache.blob = (const unsigned char *)PyBytes_AS_STRING(blob);
        keep_cache.len = PyBytes_GET_SIZE(blob);
        keep_cache.state = 0; /* its slots are allocated on its first lookup */
    }
    return &keep_cache;
}

/* Is b[s:e] one of the numbers of ks? */
static int kept(KeepSet *ks, const unsigned char *b, Py_ssize_t s, Py_ssize_t e) {
    if (!ks) return 0;
    Py_ssize_t n = e - s;
    if (ks->state == 0) keepset_build(ks);
    if (ks->state == 1) {
        uint32_t slot = word_hash(b + s, n, 0) & (KS_SLOTS - 1);
        while (ks->nlen[slot]) {
            if (ks->nlen[slot] == n && memcmp(ks->blob + ks->off[slot], b + s, (size_t)n) == 0) return 1;
            slot = (slot + 1) & (KS_SLOTS - 1);
        }
        return 0;
    }
    for (Py_ssize_t i = 0; i + n + 2 <= ks->len; i++)
        if (ks->blob[i] == '\n' && ks->blob[i + n + 1] == '\n' && memcmp(ks->blob + i + 1, b + s, (size_t)n) == 0)
            return 1;
    return 0;
}

/* Does the token tok[0:tlen] (any case) contain one of the words of ws? */
static int has_word_inside(WordSet *ws, const unsigned char *tok, Py_ssize_t tlen) {
    unsigned char low[64];
    if (tlen > (Py_ssize_t)sizeof low) return 1; /* too long to look at: keep the number */
    if (!ws->firsts) {
        memset(ws->first, 0, sizeof ws->first);
        ws->nwords = 0;
        ws->firsts = 1;
        for (Py_ssize_t i = 0; i < ws->len;) {
            if (ws->blob[i] == '\n') { i++; continue; }
            Py_ssize_t j = i;
            while (j < ws->len && ws->blob[j] != '\n') j++;
            if (ws->nwords == 64 || i > 65535 || j - i > 255) { ws->firsts = -1; break; }
            ws->first[ws->blob[i]]++;
            ws->woff[ws->nwords] = (uint16_t)i;
            ws->wlens[ws->nwords++] = (uint8_t)(j - i);
            i = j;
        }
        if (ws->firsts > 0) { /* the words of each first byte together, in list order */
            int at = 0;
            for (int c = 0; c < 256; c++) {
                ws->from[c] = (unsigned char)at;
                for (int n = 0; n < ws->nwords; n++)
                    if (ws->blob[ws->woff[n]] == c) ws->byfirst[at++] = (uint8_t)n;
            }
        }
    }
    if (ws->firsts < 0) return 1; /* a list this function was not built for: keep the number */
    for (Py_ssize_t k = 0; k < tlen; k++) low[k] = (unsigned char)(tok[k] | (tok[k] >= 'A' && tok[k] <= 'Z' ? 0x20 : 0));
    /* Only where a word could start, and only the words that start there:
     * a Luhn-valid number outside every range asks this of the 32 bytes
     * before it (~1,500 instructions a call when every word was tried). */
    for (Py_ssize_t k = 0; k < tlen; k++) {
        int cnt = ws->first[low[k]];
        if (!cnt) continue;
        const uint8_t *idx = ws->byfirst + ws->from[low[k]];
        for (int q = 0; q < cnt; q++) {
            const unsigned char *w = ws->blob + ws->woff[idx[q]];
            Py_ssize_t wl = ws->wlens[idx[q]];
            if (k + wl <= tlen && (wl < 2 || low[k + 1] == w[1]) && memcmp(low + k, w, (size_t)wl) == 0) return 1;
        }
    }
    return 0;
}

/* Is the contiguous chain b[s:e] the value of an id field (see the top of
 * this file)? Mirrors candidates._id_field_before. */
static int id_field_before(const unsigned char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t end, IdWords *w) {
    if (e < end && b[e] == '=') return 0;
    Py_ssize_t lo = s > w->window ? s - w->window : 0, g = s;
    while (g > lo && IS_GAP[b[g - 1]]) g--;
    if (g == s || g == lo) return 0;
    /* Only a field: '=', a path '/', or a quoted key's ':' (context.structured_gap). */
    int eq = 0, slash = 0, colon = 0, quote = 0;
    for (Py_ssize_t k = g; k < s; k++) {
        unsigned char c = b[k];
        eq |= c == '='; slash |= c == '/'; colon |= c == ':'; quote |= c == '"' || c == '\'';
    }
    if (!(eq || slash || (colon && quote))) return 0;
    Py_ssize_t i0 = g;
    while (i0 > lo && IS_IDENT[b[i0 - 1]]) i0--;
    if (i0 == g || (i0 == lo && lo > 0 && IS_IDENT[b[lo - 1]])) return 0; /* none, or cut by the window's start */
    if ((b[g] == '"' || b[g] == '\'') && colon && (i0 == 0 || b[i0 - 1] != b[g])) return 0; /* a longer quoted key */
    int neg = 0;
    for (Py_ssize_t t1 = g; t1 > i0;) {
        while (t1 > i0 && !IS_ALNUM[b[t1 - 1]]) t1--;
        if (t1 == i0) break;
        Py_ssize_t t0 = t1;
        while (t0 > i0 && IS_ALNUM[b[t0 - 1]]) t0--;
        if (in_words(w->neg, b + t0, t1 - t0)) { neg = 1; break; }
        t1 = t0;
    }
    if (!neg) return 0;
    for (Py_ssize_t t1 = g; t1 > i0;) {
        while (t1 > i0 && !IS_ALNUM[b[t1 - 1]]) t1--;
        if (t1 == i0) break;
        Py_ssize_t t0 = t1;
        while (t0 > i0 && IS_ALNUM[b[t0 - 1]]) t0--;
        if (has_word_inside(w->pos, b + t0, t1 - t0)) return 0;
        t1 = t0;
    }
    return 1;
}

/* Is there a card word (ids->pos) in the window before b[s], any case? */
static int card_word_before(const unsigned char *b, Py_ssize_t s, IdWords *w) {
    Py_ssize_t lo = s > w->window ? s - w->window : 0;
    return has_word_inside(w->pos, b + lo, s - lo);
}

/* The contiguous chain b[s:e]: -1 to drop it, else its flags (0, or
 * NORANGE: Luhn-valid but outside every issuer range, kept for a card field
 * to name; context decides). Mirrors candidates._contiguous. */
static int contiguous(const unsigned char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t end,
                      const unsigned char *table, IdWords *ids, KeepSet *always) {
    Py_ssize_t nd = e - s;
    if (nd < 12 || nd > 19) return -1;
    if (prefix_ok(table, b + s, nd, 1)) {
        if (!luhn_ok(b + s, nd, 1)) return -1;
        return ids && (ids->mode & ID_DROP) && id_field_before(b, s, e, end, ids) && !kept(always, b, s, e) ? -1 : 0;
    }
    if (!ids || !(ids->mode & (ID_CARD_WINDOW | ID_ALL_RANGES)) || !luhn_ok(b + s, nd, 1)) return -1;
    return (ids->mode & ID_ALL_RANGES) || card_word_before(b, s, ids) ? NORANGE : -1;
}

/* ---- escapes that glue digits (issue 16 class 7) -------------------------- */

static inline int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Where the number in the chain starting at the digit b[s] starts when the
 * chain's first digits are the tail of an escape that stands for a
 * non-digit: %XY (and %25XY, double-encoded), %XX%AY, \uXXXX, \xXY. Mirrors
 * candidates.escape_start: the first digit after the escape (past a
 * separator that follows it), or s. Rare; called once per chain of 12+
 * bytes, and it reads at most 6 bytes before s. */
__attribute__((noinline, cold)) static Py_ssize_t escape_start(const unsigned char *b, Py_ssize_t s, Py_ssize_t end) {
    Py_ssize_t g = s, p = -1;
    int value = 0;
    if (s < 1 || (b[s - 1] != '%' && b[s - 1] != 'u' && b[s - 1] != 'x' && hexval(b[s - 1]) < 0)) return s;
    while (g < end && IS_DIGIT[b[g]]) g++;
    if (s >= 1 && b[s - 1] == '%') {
        if (s + 2 <= g) {
            value = (b[s] - '0') * 16 + (b[s + 1] - '0');
            p = s + 2;
            while (value == 0x25 && p + 2 <= g) {
                value = (b[p] - '0') * 16 + (b[p + 1] - '0');
                p += 2;
            }
        }
    } else if (s >= 5 && b[s - 2] == '%' && hexval(b[s - 1]) >= 10 && b[s - 5] == '%' && hexval(b[s - 4]) >= 0 &&
               hexval(b[s - 3]) >= 0) { /* a UTF-8 continuation (%C2%A0); "%B" alone starts track 1 */
        value = 0xA0;
        p = s + 1;
    } else {
        static const unsigned char markers[2] = {'u', 'x'};
        static const int widths[2] = {4, 2};
        for (int m = 0; m < 2 && p < 0; m++) {
            int width = widths[m];
            for (int k = 0; k < width; k++) {
                if (s - k - 2 < 0 || (k && hexval(b[s - k]) < 0)) break;
                if (b[s - k - 1] == markers[m] && b[s - k - 2] == '\\') {
                    if (s + width - k <= g) {
                        value = 0;
                        for (Py_ssize_t q = s - k; q < s + width - k; q++) value = value * 16 + hexval(b[q]);
                        if (value < 0x100) p = s + width - k; /* "SHOP\u4167..." is a user name */
                    }
                    break;
                }
            }
        }
    }
    if (p < 0 || (value >= 0x30 && value <= 0x39)) return s;
    if (p == g) {
        if (p + 1 < end && IS_SEP[b[p]] && IS_DIGIT[b[p + 1]]) return p + 1;
        return s;
    }
    return p;
}

/* Does the chain at b[s] read as it stands, escape digits and all, where
 * escape_start would start it at s2 (mirrors candidates._whole_reading)? A
 * contiguous run that is itself a candidate ("LIKE '%2223000010309703%'":
 * a SQL wildcard), or printed groups whose first group has four digits, not
 * all of them the escape's. */
__attribute__((noinline, cold)) static int whole_reading(const unsigned char *b, Py_ssize_t s, Py_ssize_t s2,
                                                         Py_ssize_t end, const unsigned char *table) {
    Py_ssize_t g = s;
    while (g < end && IS_DIGIT[b[g]]) g++;
    if (g + 1 < end && IS_SEP[b[g]] && IS_DIGIT[b[g + 1]]) return g - s == 4 && s2 - s < 4;
    Py_ssize_t nd = g - s;
    return nd >= 12 && nd <= 19 && prefix_ok(table, b + s, nd, 1) && luhn_ok(b + s, nd, 1);
}

/* The ASCII chain starting at the digit b[s]: appends it to out if it could
 * hold a PAN; returns its end (or -1 on error). */
static Py_ssize_t ascii_chain(const unsigned char *b, Py_ssize_t s, Py_ssize_t end, const unsigned char *table,
                              IdWords *ids, KeepSet *always, PyObject *out) {
    Py_ssize_t i = s, nd = 0, prev_g = 0, prev2_g = 0;
    int sep = 0, plausible = 0;
    for (;;) {
        Py_ssize_t g0 = i;
        while (i < end && IS_DIGIT[b[i]]) i++;
        Py_ssize_t g = i - g0;
        nd += g;
        plausible |= group_ok(prev2_g, prev_g, g);
        prev2_g = prev_g;
        prev_g = g;
        if (i + 1 < end && IS_SEP[b[i]] && IS_DIGIT[b[i + 1]]) { sep = 1; i++; continue; }
        break;
    }
    int flags = sep ? (nd >= 12 && plausible && sep_chain_holds(b, s, i, 1, table) ? 1 : -1)
                    : contiguous(b, s, i, end, table, ids, always);
    if (flags >= 0 && emit(out, s, i, flags) < 0) return -1;
    return i;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

/* The ASCII chain starting at the digit b[s], judged from the masks of the
 * two blocks from base (bit k: byte base + k; D digits, C chain bytes) when
 * it ends inside them (else by walking, ascii_chain): a contiguous one by
 * its length (then prefix, Luhn, id field), one with separators by the
 * groups between its separator bits. A log's timestamps ("2026-11-28 01",
 * 10 digits in 13 chain bytes) and access-log tails die here unwalked.
 * Same results as ascii_chain by construction; the tests compare both
 * paths with the oracle. */
static Py_ssize_t ascii_chain_masked(const unsigned char *b, Py_ssize_t s, Py_ssize_t base, Py_ssize_t end,
                                     u128 D, u128 C, const unsigned char *table, IdWords *ids, KeepSet *always,
                                     PyObject *out) {
    int p = (int)(s - base);
    u128 rest = ~C >> p; /* bit 0: byte s; zeros shifted in from the top */
    uint64_t r0 = (uint64_t)rest, r1 = (uint64_t)(rest >> 64);
    int len = r0 ? __builtin_ctzll(r0) : r1 ? 64 + __builtin_ctzll(r1) : 128;
    /* Bit 127 of C is not known (it needs the byte after the window). */
    if (p + len >= 127) return ascii_chain(b, s, end, table, ids, always, out);
    Py_ssize_t e = s + len;
    u128 seps = C & ~D & (((((u128)1) << len) - 1) << p);
    if (!seps) {
        int flags = contiguous(b, s, e, end, table, ids, always);
        if (flags >= 0 && emit(out, s, e, flags) < 0) return -1;
        return e;
    }
    /* Groups between the separator bits, as ascii_chain counts them. */
    int nd = 0, prev_g = 0, prev2_g = 0, plausible = 0, from = p;
    while (seps) {
        uint64_t s0 = (uint64_t)seps;
        int q = s0 ? __builtin_ctzll(s0) : 64 + __builtin_ctzll((uint64_t)(seps >> 64));
        int g = q - from;
        nd += g;
        plausible |= group_ok(prev2_g, prev_g, g);
        prev2_g = prev_g;
        prev_g = g;
        from = q + 1;
        seps &= seps - 1;
    }
    int g = p + len - from;
    nd += g;
    plausible |= group_ok(prev2_g, prev_g, g);
    if (nd >= 12 && plausible && sep_chain_holds(b, s, e, 1, table) && emit(out, s, e, 1) < 0) return -1;
    return e;
}
#endif

/* The UTF-16 chain starting at the digit b[j] (followed by a NUL): appends
 * it to out if it could hold a PAN; returns its end, j + 1 if it is no
 * chain (a lone digit), or -1 on error. */
static Py_ssize_t utf16_chain(const unsigned char *b, Py_ssize_t j, Py_ssize_t end, const unsigned char *table,
                              PyObject *out) {
    Py_ssize_t q = j, last = j, nd = 1, g = 1, prev_g = 0, prev2_g = 0;
    int sep = 0, plausible = 0;
    for (;;) {
        /* q is a digit; next unit is NUL digit, or NUL sep NUL digit */
        if (q + 2 < end && b[q + 1] == 0 && IS_DIGIT[b[q + 2]]) { q += 2; nd++; g++; last = q; continue; }
        if (q + 4 < end && b[q + 1] == 0 && IS_SEP[b[q + 2]] && b[q + 3] == 0 && IS_DIGIT[b[q + 4]]) {
            plausible |= group_ok(prev2_g, prev_g, g);
            prev2_g = prev_g;
            prev_g = g;
            g = 1;
            q += 4; nd++; last = q; sep = 1; continue;
        }
        break;
    }
    plausible |= group_ok(prev2_g, prev_g, g);
    if (nd < 2) return j + 1;
    Py_ssize_t e = last + 1;
    int keep = sep ? (nd >= 12 && plausible && sep_chain_holds(b, j, e, 2, table))
                   : (nd >= 12 && nd <= 19 && prefix_ok(table, b + j, nd, 2) && luhn_ok(b + j, nd, 2));
    if (keep && emit(out, j, e, 2 | sep) < 0) return -1;
    return e;
}

/* The block loop of find_chains, for one SIMD level (a constant in each
 * instantiation below, so the mask code is inlined). 0, or -1 on error. */
static inline __attribute__((always_inline)) int find_loop(const unsigned char *b, Py_ssize_t start, Py_ssize_t end,
                                                           const unsigned char *table, IdWords *ids,
                                                           KeepSet *always, PyObject *out, PyObject *wide, int lvl) {
    Masks cur, nxt;
    uint64_t prev_digit = 0;
    Py_ssize_t ascii_done = start, utf16_done = start;
    block_masks(b, start, end, &cur, lvl);
    for (Py_ssize_t base = start; base < end; base += 64) {
        block_masks(b, base + 64, end, &nxt, lvl);
        /* Chain bytes: digits, and separators between two digits. Bit 63 of
         * the next block's word is not needed (only its low 11 bits are). */
        uint64_t chain = cur.digit | (cur.sep & ((cur.digit << 1) | (prev_digit >> 63))
                                               & ((cur.digit >> 1) | (nxt.digit << 63)));
        uint64_t chain_next = nxt.digit | (nxt.sep & ((nxt.digit << 1) | (cur.digit >> 63)) & (nxt.digit >> 1));
        uint64_t starts = clear_before(run12(chain, chain_next), base, ascii_done);
        while (starts) {
            /* The first 12-byte window at or after the last chain's end is
             * the start of the next chain of 12 bytes or more. */
            Py_ssize_t s = base + __builtin_ctzll(starts);
            /* Escapes are rare: a table look-up guards the call, and both
             * helpers are cold, out of line, so the hot loop keeps its shape
             * (measured: inline, they cost the finder ~12% on the CSV). */
            Py_ssize_t s2 = __builtin_expect(s > 0 && MAY_END_ESCAPE[b[s - 1]], 0) ? escape_start(b, s, end) : s;
            if (__builtin_expect(s2 != s, 0) && !whole_reading(b, s, s2, end, table)) ascii_done = ascii_chain(b, s2, end, table, ids, always, out);
            else
#ifdef __SIZEOF_INT128__
            ascii_done = ascii_chain_masked(b, s, base, end, (u128)nxt.digit << 64 | cur.digit,
                                            (u128)chain_next << 64 | chain, table, ids, always, out);
#else
            ascii_done = ascii_chain(b, s, end, table, ids, always, out);
#endif
            if (ascii_done < 0) return -1;
            starts = clear_before(starts, base, ascii_done);
        }
        /* UTF-16 chains start at a digit followed by a NUL. */
        uint64_t digit_nul = clear_before(cur.digit & ((cur.nul >> 1) | (nxt.nul << 63)), base, utf16_done);
        while (digit_nul) {
            Py_ssize_t j = base + __builtin_ctzll(digit_nul);
            utf16_done = utf16_chain(b, j, end, table, wide);
            if (utf16_done < 0) return -1;
            digit_nul = clear_before(digit_nul, base, utf16_done);
        }
        prev_digit = cur.digit;
        cur = nxt;
    }
    return 0;
}

#define FIND_ARGS const unsigned char *b, Py_ssize_t start, Py_ssize_t end, const unsigned char *table, \
                  IdWords *ids, KeepSet *always, PyObject *out, PyObject *wide
static int find_loop_scalar(FIND_ARGS) { return find_loop(b, start, end, table, ids, always, out, wide, LEVEL_SCALAR); }
#ifdef CARDSCAN_X86
static int find_loop_sse2(FIND_ARGS) { return find_loop(b, start, end, table, ids, always, out, wide, LEVEL_SSE2); }
__attribute__((target("avx2"))) static int find_loop_avx2(FIND_ARGS) {
    return find_loop(b, start, end, table, ids, always, out, wide, LEVEL_AVX2);
}
#endif
#undef FIND_ARGS

static PyObject *find_chains(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_buffer tview = {0};
    Py_ssize_t start = 0, end = -1;
    PyObject *table_obj = Py_None, *ids_obj = Py_None, *keep_obj = Py_None;
    IdWords ids_words, *ids = NULL;
    KeepSet *keep = NULL;
    if (!PyArg_ParseTuple(args, "y*|nnOOO", &view, &start, &end, &table_obj, &ids_obj, &keep_obj)) return NULL;
    if (keep_obj != Py_None && !PyBytes_Check(keep_obj)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "keep must be bytes");
        return NULL;
    }
    if (ids_obj != Py_None) {
        /* (negative blob, card-word blob, window[, mode]): bytes objects the caller keeps alive. */
        PyObject *neg, *pos;
        ids_words.mode = ID_DROP;
        if (!PyArg_ParseTuple(ids_obj, "SSn|l", &neg, &pos, &ids_words.window, &ids_words.mode)) {
            PyBuffer_Release(&view);
            return NULL;
        }
        ids_words.neg = wordset_for(neg, NULL);
        ids_words.pos = wordset_for(pos, ids_words.neg);
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
    if (keep_obj != Py_None && ids) keep = keepset_for(keep_obj);
    int rc;
#ifdef CARDSCAN_X86
    if (level == LEVEL_AVX2) rc = find_loop_avx2(b, start, end, table, ids, keep, out, wide);
    else if (level == LEVEL_SSE2) rc = find_loop_sse2(b, start, end, table, ids, keep, out, wide);
    else
#endif
        rc = find_loop_scalar(b, start, end, table, ids, keep, out, wide);
    if (rc < 0) goto fail;
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

/* ---- newlines ------------------------------------------------------------- */

/* Newlines in p[0:n]. The vector versions compare 64 or 128 bytes per step
 * and subtract the 0/-1 results into byte counters, folded with psadbw
 * every 63 steps (a counter gains at most 4 per step: no overflow): no
 * branch per line, unlike memchr hops, so long and short lines cost alike. */
static Py_ssize_t count_nl_scalar(const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t c = 0;
    for (Py_ssize_t i = 0; i < n; i++) c += p[i] == '\n';
    return c;
}

#ifdef CARDSCAN_X86
static Py_ssize_t count_nl_sse2(const unsigned char *p, Py_ssize_t n) {
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    Py_ssize_t c = 0, i = 0;
    while (n - i >= 64) {
        Py_ssize_t steps = (n - i) / 64;
        if (steps > 63) steps = 63;
        __m128i acc = zero;
        for (Py_ssize_t k = 0; k < steps; k++, i += 64) {
            __m128i e0 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), nl);
            __m128i e1 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16)), nl);
            __m128i e2 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 32)), nl);
            __m128i e3 = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 48)), nl);
            acc = _mm_sub_epi8(acc, _mm_add_epi8(_mm_add_epi8(e0, e1), _mm_add_epi8(e2, e3)));
        }
        __m128i sums = _mm_sad_epu8(acc, zero);
        c += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
    }
    return c + count_nl_scalar(p + i, n - i);
}

__attribute__((target("avx2"))) static Py_ssize_t count_nl_avx2(const unsigned char *p, Py_ssize_t n) {
    const __m256i nl = _mm256_set1_epi8('\n'), zero = _mm256_setzero_si256();
    Py_ssize_t c = 0, i = 0;
    while (n - i >= 128) {
        Py_ssize_t steps = (n - i) / 128;
        if (steps > 63) steps = 63;
        __m256i acc = zero;
        for (Py_ssize_t k = 0; k < steps; k++, i += 128) {
            __m256i e0 = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i)), nl);
            __m256i e1 = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 32)), nl);
            __m256i e2 = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 64)), nl);
            __m256i e3 = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 96)), nl);
            acc = _mm256_sub_epi8(acc, _mm256_add_epi8(_mm256_add_epi8(e0, e1), _mm256_add_epi8(e2, e3)));
        }
        __m256i sums = _mm256_sad_epu8(acc, zero);
        c += _mm256_extract_epi64(sums, 0) + _mm256_extract_epi64(sums, 1) + _mm256_extract_epi64(sums, 2) +
             _mm256_extract_epi64(sums, 3);
    }
    return c + count_nl_sse2(p + i, n - i);
}
#endif

static Py_ssize_t count_nl(const unsigned char *p, Py_ssize_t n) {
#ifdef CARDSCAN_X86
    if (level == LEVEL_AVX2) return count_nl_avx2(p, n);
    if (level == LEVEL_SSE2) return count_nl_sse2(p, n);
#endif
    return count_nl_scalar(p, n);
}

/* Offset of the last newline in b[start:end], or -1. */
static Py_ssize_t last_nl(const unsigned char *b, Py_ssize_t start, Py_ssize_t end) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    if (level != LEVEL_SCALAR) {
        /* glibc's memrchr is vectorised; the last newline is usually a line away. */
        const unsigned char *p = end > start ? memrchr(b + start, '\n', (size_t)(end - start)) : NULL;
        return p ? p - b : -1;
    }
#endif
    for (Py_ssize_t i = end - 1; i >= start; i--)
        if (b[i] == '\n') return i;
    return -1;
}

/* newlines(buf, start, end) -> (count, offset of the last one or -1). */
static PyObject *newlines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start = 0, end = -1;
    if (!PyArg_ParseTuple(args, "y*|nn", &view, &start, &end)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    if (end < 0 || end > view.len) end = view.len;
    if (start < 0) start = 0;
    Py_ssize_t count = 0, last = -1;
    if (end > start) {
        count = count_nl(b + start, end - start);
        if (count) last = last_nl(b, start, end);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nn)", count, last);
}

/* lines_at(buf, offsets, start=0) -> [(count, last), ...]: for each offset,
 * in non-decreasing order, the newlines in buf[start:offset] and the offset
 * of the last of them (or -1): what newlines(buf, start, offset) returns,
 * in one pass that stops at the last offset. Line numbers are then paid
 * only up to where a hit needs one. Offsets past the end count as the end;
 * before start, as start. */
static PyObject *lines_at(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"buf", "offsets", "start", NULL};
    Py_buffer view;
    PyObject *offsets;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*O|n", kwlist, &view, &offsets, &start)) return NULL;
    PyObject *seq = PySequence_Fast(offsets, "offsets must be a sequence of integers");
    PyObject *out = NULL;
    if (!seq) goto done;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, m = PySequence_Fast_GET_SIZE(seq);
    if (start < 0) start = 0;
    if (start > n) start = n;
    out = PyList_New(m);
    if (!out) goto done;
    Py_ssize_t pos = start, count = 0, last = -1, prev = PY_SSIZE_T_MIN;
    for (Py_ssize_t k = 0; k < m; k++) {
        Py_ssize_t o = PyNumber_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k), PyExc_OverflowError);
        if (o == -1 && PyErr_Occurred()) { Py_CLEAR(out); goto done; }
        if (o < prev) {
            PyErr_SetString(PyExc_ValueError, "offsets must be in non-decreasing order");
            Py_CLEAR(out);
            goto done;
        }
        prev = o;
        if (o > n) o = n;
        if (o > pos) {
            Py_ssize_t c = count_nl(b + pos, o - pos);
            if (c) {
                count += c;
                last = last_nl(b, pos, o);
            }
            pos = o;
        }
        PyObject *t = Py_BuildValue("(nn)", count, last);
        if (!t) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, k, t);
    }
done:
    Py_XDECREF(seq);
    PyBuffer_Release(&view);
    return out;
}

/* has_entity(buf) -> bool: b"&#" in buf or b"&nbsp;" in buf, in one pass
 * (memchr from '&' to '&'; the inline pre-check asks it of every buffer). */
static PyObject *has_entity(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf, *p = b, *e = b + view.len;
    int found = 0, hops = 0;
    while (p < e && (p = memchr(p, '&', (size_t)(e - p))) != NULL) {
        if (e - p >= 2 && p[1] == '#') { found = 1; break; }
        if (e - p >= 6 && memcmp(p + 1, "nbsp;", 5) == 0) { found = 1; break; }
        p++;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
        /* '&' everywhere (HTML): two substring searches are cheaper now. */
        if (++hops > 2000) {
            found = memmem(p, (size_t)(e - p), "&#", 2) != NULL || memmem(p, (size_t)(e - p), "&nbsp;", 6) != NULL;
            break;
        }
#else
        (void)hops;
#endif
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

/* ---- class_runs ----------------------------------------------------------- */

/* Class mask of 64 bytes through a 256-entry table. */
static inline uint64_t class_mask_scalar(const unsigned char *p, Py_ssize_t len, const unsigned char *t) {
    uint64_t m = 0;
    for (Py_ssize_t k = 0; k < len; k++) m |= (uint64_t)t[p[k]] << k;
    return m;
}

#ifdef CARDSCAN_X86
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

/* And 32 at a time (vpshufb looks up within each 16-byte lane: the tables
 * are in both). */
__attribute__((target("avx2"))) static inline uint64_t class_mask_avx2(const unsigned char *p, __m128i lo128,
                                                                       __m128i hi128) {
    const __m256i nib = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    const __m256i lo = _mm256_broadcastsi128_si256(lo128), hi = _mm256_broadcastsi128_si256(hi128);
    uint64_t m = 0;
    for (int k = 0; k < 2; k++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * k));
        __m256i a = _mm256_shuffle_epi8(lo, _mm256_and_si256(x, nib));
        __m256i c = _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(x, 4), nib));
        __m256i out = _mm256_cmpeq_epi8(_mm256_and_si256(a, c), zero);
        m |= (uint64_t)(uint32_t)~_mm256_movemask_epi8(out) << (32 * k);
    }
    return m;
}
#endif

/* Runs of class bytes of at least min_len (<= 64) in b[0:n], word by word.
 * lvl: LEVEL_SCALAR (table loop), LEVEL_SSE2 (SSSE3 lookups) or LEVEL_AVX2,
 * a constant in each instantiation; the vector ones need an ASCII class. */
static inline __attribute__((always_inline)) int class_runs_loop(const unsigned char *b, Py_ssize_t n,
                                                                 const unsigned char *t, int min_len, PyObject *out,
                                                                 const unsigned char *lo_tab, int lvl) {
#ifdef CARDSCAN_X86
    static const unsigned char hi_tab[16] = {1, 2, 4, 8, 16, 32, 64, 128};
    __m128i lo = _mm_loadu_si128((const __m128i *)lo_tab), hi = _mm_loadu_si128((const __m128i *)hi_tab);
#define FULL_MASK(p) \
    (lvl == LEVEL_AVX2 ? class_mask_avx2((p), lo, hi) \
                       : lvl == LEVEL_SSE2 ? class_mask_ssse3((p), lo, hi) : class_mask_scalar((p), 64, t))
#else
    (void)lvl;
    (void)lo_tab;
#define FULL_MASK(p) class_mask_scalar((p), 64, t)
#endif
#define CLASS_MASK(pos) \
    ((pos) + 64 <= n ? FULL_MASK(b + (pos)) : ((pos) < n ? class_mask_scalar(b + (pos), n - (pos), t) : 0))
    Py_ssize_t done = 0;
    uint64_t cur = CLASS_MASK(0);
    for (Py_ssize_t base = 0; base < n; base += 64) {
        uint64_t nxt = CLASS_MASK(base + 64);
        /* 12 (the base64 pre-check's) unrolled; other lengths loop. */
        uint64_t runs = min_len == 12 ? run12(cur, nxt) : run_starts(cur, nxt, min_len);
        uint64_t starts = clear_before(runs, base, done);
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
#undef FULL_MASK
    return 0;
}

#define RUNS_ARGS \
    const unsigned char *b, Py_ssize_t n, const unsigned char *t, int min_len, PyObject *out, const unsigned char *lo_tab
static int class_runs_scalar(RUNS_ARGS) { return class_runs_loop(b, n, t, min_len, out, lo_tab, LEVEL_SCALAR); }
#ifdef CARDSCAN_X86
__attribute__((target("ssse3"))) static int class_runs_ssse3(RUNS_ARGS) {
    return class_runs_loop(b, n, t, min_len, out, lo_tab, LEVEL_SSE2);
}
__attribute__((target("avx2"))) static int class_runs_avx2(RUNS_ARGS) {
    return class_runs_loop(b, n, t, min_len, out, lo_tab, LEVEL_AVX2);
}
#endif
#undef RUNS_ARGS

/* class_runs(buf, table, min_len) -> list[(start, end)]: maximal runs of
 * bytes whose table entry is non-zero, at least min_len long. The inline
 * base64 pre-check uses it instead of bytes.translate + find. */
/* The last table checked (a bytes object, held: immutable while held) and
 * what was learnt from it: each file's inline pre-check passes the same
 * one, and checking it again cost ~2,000 instructions a call. */
static PyObject *runs_table_obj = NULL;
static int runs_table_ascii = 0;
static unsigned char runs_table_lo[16];

/* Checks table (256 entries of 0 or 1; ValueError else) and what the
 * vector loops need of it: whether its class is ASCII only, and lo (the
 * nibble table, in lo_local unless the table is the one kept). -1 on error. */
static int runs_table(PyObject *tobj, const Py_buffer *tview, int *ascii_only, unsigned char *lo_local,
                      const unsigned char **lo_tab) {
    const unsigned char *t = (const unsigned char *)tview->buf;
    if (tobj == runs_table_obj) {
        *ascii_only = runs_table_ascii;
        *lo_tab = runs_table_lo;
        return 0;
    }
    if (tview->len != 256) {
        PyErr_SetString(PyExc_ValueError, "table must be 256 bytes");
        return -1;
    }
    *ascii_only = 1;
    for (int c = 0; c < 256; c++) {
        if (t[c] > 1) {
            PyErr_SetString(PyExc_ValueError, "table entries must be 0 or 1");
            return -1;
        }
        if (c >= 128 && t[c]) *ascii_only = 0;
    }
    /* lo[low nibble] has the bit of each high nibble (0-7) in the class: class_mask_ssse3. */
    memset(lo_local, 0, 16);
    for (int c = 0; c < 128; c++)
        if (t[c]) lo_local[c & 15] |= (unsigned char)(1 << (c >> 4));
    *lo_tab = lo_local;
    if (PyBytes_CheckExact(tobj)) {
        Py_INCREF(tobj);
        Py_XSETREF(runs_table_obj, tobj);
        runs_table_ascii = *ascii_only;
        memcpy(runs_table_lo, lo_local, sizeof runs_table_lo);
    }
    return 0;
}

/* The runs of at least min_len (1-64) class bytes, appended to out. */
static int class_runs_into(const unsigned char *b, Py_ssize_t n, const unsigned char *t, int min_len, PyObject *out,
                           int ascii_only, const unsigned char *lo_tab) {
#ifdef CARDSCAN_X86
    if (ascii_only && level == LEVEL_AVX2) return class_runs_avx2(b, n, t, min_len, out, lo_tab);
    if (ascii_only && level >= LEVEL_SSE2 && have_ssse3) return class_runs_ssse3(b, n, t, min_len, out, lo_tab);
#else
    (void)ascii_only;
#endif
    return class_runs_scalar(b, n, t, min_len, out, lo_tab);
}

static PyObject *class_runs(PyObject *self, PyObject *args) {
    Py_buffer view, tview;
    Py_ssize_t min_len;
    if (!PyArg_ParseTuple(args, "y*y*n", &view, &tview, &min_len)) return NULL;
    PyObject *out = NULL;
    const unsigned char *t = (const unsigned char *)tview.buf;
    int ascii_only;
    unsigned char lo_local[16];
    const unsigned char *lo_tab;
    if (runs_table(PyTuple_GET_ITEM(args, 1), &tview, &ascii_only, lo_local, &lo_tab) < 0) goto done;
    if (min_len < 1) min_len = 1;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    out = PyList_New(0);
    if (!out) goto done;
    if (min_len <= 64) {
        if (class_runs_into(b, n, t, (int)min_len, out, ascii_only, lo_tab) < 0) Py_CLEAR(out);
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

/* ---- SIMD level ----------------------------------------------------------- */

static int level_from_name(const char *name) {
    for (int k = 0; k <= LEVEL_AVX2; k++)
        if (strcmp(name, LEVEL_NAMES[k]) == 0) return k;
    return -1;
}

/* simd(name=None) -> str: the level in use; with a name, use that level
 * from now on (every kernel of this module), and return the one before. */
static PyObject *simd(PyObject *self, PyObject *args) {
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    int before = level;
    if (name) {
        int k = level_from_name(name);
        if (k < 0) return PyErr_Format(PyExc_ValueError, "unknown SIMD level %R (scalar, sse2, avx2)", PyTuple_GET_ITEM(args, 0));
        if (k > level_max)
            return PyErr_Format(PyExc_ValueError, "this CPU cannot run SIMD level %s (best: %s)", name,
                                LEVEL_NAMES[level_max]);
        level = k;
    }
    return PyUnicode_FromString(LEVEL_NAMES[before]);
}

/* simd_levels() -> tuple[str, ...]: the levels this CPU can run, best first. */
static PyObject *simd_levels(PyObject *self, PyObject *noargs) {
    PyObject *t = PyTuple_New(level_max + 1);
    if (!t) return NULL;
    for (int k = level_max; k >= 0; k--) {
        PyObject *s = PyUnicode_FromString(LEVEL_NAMES[k]);
        if (!s) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, level_max - k, s);
    }
    return t;
}

static PyObject *inline_bytes(PyObject *self, PyObject *args); /* defined at the end */
static PyObject *inline_gate(PyObject *self, PyObject *args);

/* ---- low entropy (filters.is_low_entropy) ---------------------------------- */

/* low_entropy(digits: str) -> bool: one ASCII digit more than 7 times, or
 * 8 ASCII digits in a row each one more (or each one less) than the one
 * before, mod 10. The Python twin is filters.is_low_entropy_python (tests
 * compare them); this one is ~15x cheaper per valid number (ten str.count
 * calls and a regex there). Other characters count as nothing and break
 * runs, as there. */
static PyObject *low_entropy(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "low_entropy() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t count[10] = {0};
    int up = 0, down = 0, prev = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < '0' || ch > '9') {
            prev = -1;
            up = down = 0;
            continue;
        }
        int d = (int)(ch - '0');
        if (++count[d] > 7) Py_RETURN_TRUE;
        if (prev >= 0) {
            up = d == (prev + 1) % 10 ? up + 1 : 1;
            down = d == (prev + 9) % 10 ? down + 1 : 1;
        } else {
            up = down = 1;
        }
        if (up >= 8 || down >= 8) Py_RETURN_TRUE;
        prev = d;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"find_chains", find_chains, METH_VARARGS, "Find digit chains that may hold a PAN."},
    {"newlines", newlines, METH_VARARGS, "Count newlines in buf[start:end]; return (count, last offset)."},
    {"lines_at", (PyCFunction)(void (*)(void))lines_at, METH_VARARGS | METH_KEYWORDS,
     "For each offset (non-decreasing), (newlines in buf[start:offset], offset of the last one or -1)."},
    {"has_entity", has_entity, METH_VARARGS, "Whether buf holds b'&#' or b'&nbsp;'."},
    {"class_runs", class_runs, METH_VARARGS, "Maximal runs of bytes in a class, at least min_len long."},
    {"simd", simd, METH_VARARGS, "The SIMD level in use; simd(name) switches to name and returns the previous."},
    {"simd_levels", simd_levels, METH_NOARGS, "The SIMD levels this CPU can run, best first."},
    {"inline_bytes", inline_bytes, METH_VARARGS, "(mask of inline pre-check bytes present, offsets of '+' between digits)."},
    {"inline_gate", inline_gate, METH_VARARGS, "Whether inline.find_encoded could find anything in buf (table: base64 union class)."},
    {"low_entropy", low_entropy, METH_O, "filters.is_low_entropy of a str, in C."},
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
        MAY_END_ESCAPE[c] = c == '%' || c == 'u' || c == 'x' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
#ifdef CARDSCAN_X86
    __builtin_cpu_init();
    level_max = __builtin_cpu_supports("avx2") ? LEVEL_AVX2 : LEVEL_SSE2;
    have_ssse3 = __builtin_cpu_supports("ssse3");
#endif
    level = level_max;
    /* A lower level on request (tests, comparisons); an unknown name or one
     * above what the CPU has leaves the best level in use. */
    const char *want = getenv("CARDSCAN_SIMD");
    if (want && *want) {
        int k = level_from_name(want);
        if (k >= 0 && k < level) level = k;
    }
    return PyModule_Create(&module);
}

/* ---- inline_bytes: the inline decoders' pre-checks in one pass --------------
 * inline_bytes(buf) -> (mask, plus): which bytes an inline decoder starts
 * from occur in buf (INLINE_PERCENT '%', INLINE_NBSP 0xA0 or 0xAF,
 * INLINE_BACKSLASH '\\', INLINE_AMP '&'), and the offsets, in order, of each
 * '+' with an ASCII digit on both sides (inline._plus_digits, its Python
 * twin; tests compare them). One pass instead of a memchr per byte and a
 * Python loop per '+': log lines hold many '+' (timestamps, "+00:00"). */
enum { INLINE_PERCENT = 1, INLINE_NBSP = 2, INLINE_BACKSLASH = 4, INLINE_AMP = 8 };
static const unsigned char INLINE_BITS[256] = {
    ['%'] = INLINE_PERCENT, [0xA0] = INLINE_NBSP, [0xAF] = INLINE_NBSP, ['\\'] = INLINE_BACKSLASH, ['&'] = INLINE_AMP,
};

static inline int inline_plus_at(const unsigned char *b, Py_ssize_t n, Py_ssize_t i, PyObject *out) {
    if (i < 1 || i + 1 >= n || !IS_DIGIT[b[i - 1]] || !IS_DIGIT[b[i + 1]]) return 0;
    PyObject *v = PyLong_FromSsize_t(i);
    if (!v) return -1;
    int rc = PyList_Append(out, v);
    Py_DECREF(v);
    return rc;
}

#ifdef CARDSCAN_X86
/* The mask of b[0:i], 32 bytes at a time; returns i (the caller finishes the
 * tail). Each class's matches are OR-ed across the buffer and read once at
 * the end, and no call is made in the loop (a call there kept the vectors
 * on the stack): ~0.3 instead of ~1.4 instructions a byte on the log. */
__attribute__((target("avx2"))) static Py_ssize_t inline_mask_avx2(const unsigned char *b, Py_ssize_t n, int *mask) {
    const __m256i pct = _mm256_set1_epi8('%'), a0 = _mm256_set1_epi8((char)0xA0), af = _mm256_set1_epi8((char)0xAF),
                  bs = _mm256_set1_epi8('\\'), amp = _mm256_set1_epi8('&');
    __m256i seen_pct = _mm256_setzero_si256(), seen_nbsp = seen_pct, seen_bs = seen_pct, seen_amp = seen_pct;
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(b + i));
        seen_pct = _mm256_or_si256(seen_pct, _mm256_cmpeq_epi8(x, pct));
        seen_nbsp = _mm256_or_si256(seen_nbsp, _mm256_or_si256(_mm256_cmpeq_epi8(x, a0), _mm256_cmpeq_epi8(x, af)));
        seen_bs = _mm256_or_si256(seen_bs, _mm256_cmpeq_epi8(x, bs));
        seen_amp = _mm256_or_si256(seen_amp, _mm256_cmpeq_epi8(x, amp));
    }
    *mask |= (_mm256_movemask_epi8(seen_pct) ? INLINE_PERCENT : 0) | (_mm256_movemask_epi8(seen_nbsp) ? INLINE_NBSP : 0)
             | (_mm256_movemask_epi8(seen_bs) ? INLINE_BACKSLASH : 0) | (_mm256_movemask_epi8(seen_amp) ? INLINE_AMP : 0);
    return i;
}

/* The same, 16 bytes at a time. */
static Py_ssize_t inline_mask_sse2(const unsigned char *b, Py_ssize_t n, int *mask) {
    const __m128i pct = _mm_set1_epi8('%'), a0 = _mm_set1_epi8((char)0xA0), af = _mm_set1_epi8((char)0xAF),
                  bs = _mm_set1_epi8('\\'), amp = _mm_set1_epi8('&');
    __m128i seen_pct = _mm_setzero_si128(), seen_nbsp = seen_pct, seen_bs = seen_pct, seen_amp = seen_pct;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(b + i));
        seen_pct = _mm_or_si128(seen_pct, _mm_cmpeq_epi8(x, pct));
        seen_nbsp = _mm_or_si128(seen_nbsp, _mm_or_si128(_mm_cmpeq_epi8(x, a0), _mm_cmpeq_epi8(x, af)));
        seen_bs = _mm_or_si128(seen_bs, _mm_cmpeq_epi8(x, bs));
        seen_amp = _mm_or_si128(seen_amp, _mm_cmpeq_epi8(x, amp));
    }
    *mask |= (_mm_movemask_epi8(seen_pct) ? INLINE_PERCENT : 0) | (_mm_movemask_epi8(seen_nbsp) ? INLINE_NBSP : 0)
             | (_mm_movemask_epi8(seen_bs) ? INLINE_BACKSLASH : 0) | (_mm_movemask_epi8(seen_amp) ? INLINE_AMP : 0);
    return i;
}
#endif

/* The mask of inline_bytes (without the '+' list). */
static int inline_mask(const unsigned char *b, Py_ssize_t n) {
    int mask = 0;
    Py_ssize_t i = 0;
#ifdef CARDSCAN_X86
    if (level >= LEVEL_SSE2) i = level == LEVEL_AVX2 ? inline_mask_avx2(b, n, &mask) : inline_mask_sse2(b, n, &mask);
#endif
    for (; i < n; i++) mask |= INLINE_BITS[b[i]];
    return mask;
}

/* inline_gate(buf, table) -> bool: could inline.find_encoded find anything
 * in buf? False only where none of its decoders has a place to start: no
 * byte of inline_bytes' mask, no '+' between two ASCII digits, and no run
 * of 12 bytes of table (the base64 quads' union class, as class_runs finds
 * with min_len 12). One call where the engine made ~8,000 instructions of
 * Python calls to learn that of a small file; inline.may_hold_encoded_python
 * is its twin (tests compare them, and find_encoded with it). */
static PyObject *inline_gate(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view, tview;
    if (!PyArg_ParseTuple(args, "y*y*", &view, &tview)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf, *t = (const unsigned char *)tview.buf;
    Py_ssize_t n = view.len;
    int found = inline_mask(b, n) != 0, ascii_only;
    for (const unsigned char *p = b; !found && n > 0 && (p = memchr(p, '+', (size_t)(b + n - p))) != NULL; p++) {
        Py_ssize_t i = p - b;
        found = i >= 1 && i + 1 < n && IS_DIGIT[b[i - 1]] && IS_DIGIT[b[i + 1]];
    }
    PyObject *res = NULL;
    if (!found) {
        unsigned char lo_local[16];
        const unsigned char *lo_tab;
        if (runs_table(PyTuple_GET_ITEM(args, 1), &tview, &ascii_only, lo_local, &lo_tab) < 0) goto done;
        PyObject *runs = PyList_New(0);
        if (!runs) goto done;
        if (class_runs_into(b, n, t, 12, runs, ascii_only, lo_tab) < 0) {
            Py_DECREF(runs);
            goto done;
        }
        found = PyList_GET_SIZE(runs) > 0;
        Py_DECREF(runs);
    }
    res = PyBool_FromLong(found);
done:
    PyBuffer_Release(&tview);
    PyBuffer_Release(&view);
    return res;
}

static PyObject *inline_bytes(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, i = 0;
    int mask = 0;
    PyObject *plus = PyList_New(0);
    if (!plus) goto fail;
#ifdef CARDSCAN_X86
    if (level >= LEVEL_SSE2) {
        i = level == LEVEL_AVX2 ? inline_mask_avx2(b, n, &mask) : inline_mask_sse2(b, n, &mask);
        for (Py_ssize_t k = i; k < n; k++) mask |= INLINE_BITS[b[k]];
        /* Then each '+' (memchr hops), in order. */
        for (const unsigned char *p = b; n > 0 && (p = memchr(p, '+', (size_t)(b + n - p))) != NULL; p++)
            if (inline_plus_at(b, n, p - b, plus) < 0) goto fail;
        i = n;
    }
#endif
    for (; i < n; i++) {
        mask |= INLINE_BITS[b[i]];
        if (b[i] == '+' && inline_plus_at(b, n, i, plus) < 0) goto fail;
    }
    PyBuffer_Release(&view);
    PyObject *res = Py_BuildValue("(iN)", mask, plus);
    return res;
fail:
    Py_XDECREF(plus);
    PyBuffer_Release(&view);
    return NULL;
}
