/* Reads many small files of one directory in one call, without the GIL.
 *
 * read_files(dir, names, limit, stats=False) -> (data, ends, status[, stats])
 *
 *   dir:    the directory's path (bytes, os.fsencode'd)
 *   names:  the file names in it, os.fsencode'd and joined by NUL bytes
 *   limit:  the biggest file read here (pipeline.SMALL_FILE)
 *
 * Each file is opened as FileSource.read_small opens one (O_RDONLY |
 * O_NONBLOCK | O_CLOEXEC, O_NOATIME where the kernel allows it, else
 * without it on EPERM), plus O_NOFOLLOW: a name listed as a regular file
 * that is a link by now is not followed (the walk does not follow links).
 * fstat, refuse what is not a regular file, read up to limit + 1 bytes the
 * way read_small reads, fstat again, close.
 *
 * data:   the contents of the files read, one after another, each followed
 *         by one b"\n" (a byte no digit chain, base64 run or escape spans,
 *         so a pass over all of data sees each file as it would alone);
 * ends:   list of n + 1 ints: file i is data[ends[i] : ends[i + 1] - 1]
 *         (ends[0] == 0); an empty slice for a file not read;
 * status: bytes, one per file: 0 read whole and unchanged, else why not
 *         (the caller then takes the file through the general path, which
 *         reports whatever the problem is as it always did);
 * stats:  (only when asked) bytes, STAT_FIELDS native 64-bit ints per file:
 *         the fstat taken before reading a file read whole (status 0), as
 *         os.stat_result's mode, ino, dev, nlink, uid, gid, size, then
 *         seconds and nanoseconds of atime, mtime, ctime; zeros for the
 *         others. The sweep scans a flagged file from data with it
 *         (fs.batch_stat), instead of opening it again: an fstat per file
 *         copied here costs next to nothing, a stat per flagged file later
 *         costs a path walk, and this one is of the very bytes read.
 *
 * Pure-Python twin: sources/fs.py _read_files_python (the tests compare them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <time.h>

#ifndef O_NOATIME
#define O_NOATIME 0
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Fields per file in stats; fs.py _STAT_FIELDS says the same. */
#define STAT_FIELDS 13

enum { OK = 0, E_OPEN = 1, E_NOTREG = 2, E_BIG = 3, E_CHANGED = 4, E_READ = 5, E_DIR = 6 };

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1 << 16;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (p == NULL) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static void put_stat(int64_t *out, const struct stat *s) {
    int64_t v[STAT_FIELDS] = {
        (int64_t)s->st_mode, (int64_t)s->st_ino, (int64_t)s->st_dev, (int64_t)s->st_nlink,
        (int64_t)s->st_uid, (int64_t)s->st_gid, (int64_t)s->st_size,
        (int64_t)s->st_atim.tv_sec, (int64_t)s->st_atim.tv_nsec,
        (int64_t)s->st_mtim.tv_sec, (int64_t)s->st_mtim.tv_nsec,
        (int64_t)s->st_ctim.tv_sec, (int64_t)s->st_ctim.tv_nsec,
    };
    memcpy(out, v, sizeof v);  /* ino and dev are unsigned: fs.py reads those two as such */
}

static int read_one(int dfd, const char *name, Py_ssize_t limit, char **buf, size_t *cap, size_t *pos,
                    int64_t *stat_out) {
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW;
    int fd = openat(dfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM && O_NOATIME) fd = openat(dfd, name, flags);
    if (fd < 0) return E_OPEN;
    struct stat a, b;
    int st = OK;
    if (fstat(fd, &a) != 0) {
        st = E_READ;
    } else if (!S_ISREG(a.st_mode)) {
        st = E_NOTREG;
    } else if (a.st_size > limit) {
        st = E_BIG;
    } else if (grow(buf, cap, *pos + (size_t)limit + 2) != 0) {
        st = E_READ;
    } else {
        /* read_small: one read of limit + 1; more only while short of the size fstat gave. */
        char *at = *buf + *pos;
        size_t got = 0;
        for (;;) {
            ssize_t r = read(fd, at + got, (size_t)limit + 1 - got);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) { st = E_READ; break; }
            got += (size_t)r;
            if (r == 0 || got >= (size_t)a.st_size || got > (size_t)limit) break;
        }
        if (st == OK && got > (size_t)limit) st = E_BIG;
        if (st == OK) {
            if (fstat(fd, &b) != 0) st = E_READ;
            else if (a.st_size != b.st_size || a.st_ino != b.st_ino || a.st_mtim.tv_sec != b.st_mtim.tv_sec
                     || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec) st = E_CHANGED;
        }
        if (st == OK) {
            *pos += got;
            if (stat_out != NULL) put_stat(stat_out, &a);
        }
    }
    close(fd);
    return st;
}

static PyObject *read_files(PyObject *self, PyObject *args, PyObject *kwargs) {
    const char *dir;
    Py_buffer names;
    Py_ssize_t limit;
    int want_stats = 0;
    static char *kwlist[] = {"dir", "names", "limit", "stats", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "yy*n|p", kwlist, &dir, &names, &limit, &want_stats)) return NULL;
    if (limit < 0) {
        PyBuffer_Release(&names);
        PyErr_SetString(PyExc_ValueError, "limit must not be negative");
        return NULL;
    }
    const char *blob = names.buf;
    Py_ssize_t blen = names.len;
    Py_ssize_t n = 0;
    if (blen > 0) {
        n = 1;
        for (Py_ssize_t i = 0; i < blen; i++) n += blob[i] == '\0';
    }
    size_t *ends = malloc(sizeof(size_t) * (size_t)(n + 1));
    char *status = malloc((size_t)n + 1);
    /* zeroed: a file not read whole has a record of zeros */
    int64_t *stats = want_stats ? calloc((size_t)n + 1, sizeof(int64_t) * STAT_FIELDS) : NULL;
    char *buf = NULL;
    size_t cap = 0, pos = 0;
    int failed = ends == NULL || status == NULL || (want_stats && stats == NULL);
    /* The names blob is copied: its buffer stays ours while the GIL is let go. */
    char *copy = failed ? NULL : malloc((size_t)blen + 1);
    if (copy == NULL) failed = 1;
    if (failed) {
        free(ends);
        free(status);
        free(stats);
        free(copy);
        PyBuffer_Release(&names);
        return PyErr_NoMemory();
    }
    memcpy(copy, blob, (size_t)blen);
    copy[blen] = '\0';
    PyBuffer_Release(&names);
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *name = copy;
    ends[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t len = strlen(name);
        int st = E_DIR;
        if (dfd >= 0 && len > 0) st = read_one(dfd, name, limit, &buf, &cap, &pos,
                                                  stats != NULL ? stats + (size_t)i * STAT_FIELDS : NULL);
        if (grow(&buf, &cap, pos + 1) != 0) { nomem = 1; break; }
        buf[pos++] = '\n';
        status[i] = (char)st;
        ends[i + 1] = pos;
        name += len + 1;
    }
    if (dfd >= 0) close(dfd);
    Py_END_ALLOW_THREADS
    free(copy);
    PyObject *data = NULL, *endlist = NULL, *stat = NULL, *statlist = NULL, *out = NULL;
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    data = PyBytes_FromStringAndSize(buf ? buf : "", (Py_ssize_t)pos);
    endlist = PyList_New(n + 1);
    stat = PyBytes_FromStringAndSize(status, n);
    if (data == NULL || endlist == NULL || stat == NULL) goto done;
    for (Py_ssize_t i = 0; i <= n; i++) {
        PyObject *v = PyLong_FromSize_t(ends[i]);
        if (v == NULL) goto done;
        PyList_SET_ITEM(endlist, i, v);
    }
    if (stats != NULL) {
        statlist = PyBytes_FromStringAndSize((const char *)stats, n * (Py_ssize_t)(sizeof(int64_t) * STAT_FIELDS));
        if (statlist == NULL) goto done;
        out = PyTuple_Pack(4, data, endlist, stat, statlist);
    } else {
        out = PyTuple_Pack(3, data, endlist, stat);
    }
done:
    Py_XDECREF(data);
    Py_XDECREF(endlist);
    Py_XDECREF(stat);
    Py_XDECREF(statlist);
    free(buf);
    free(ends);
    free(status);
    free(stats);
    return out;
}

/* batch_stat(stat_result, stats, i) -> os.stat_result: fs.batch_stat in C, for batch_stat_key
 * (the same tuple of 16 handed to the same type; ~11k instructions of each
 * flagged file in Python: an unpack of 13 ints, float and int arithmetic).
 * The float times as CPython's fill_time makes them (sec + nsec * 1e-9, in
 * doubles: what Python's int + int * float computes, exactly for the
 * values a stat gives), the ns times sec * 10**9 + nsec (in Python ints
 * past what 64 bits hold). */
/* os.stat_result (posix.stat_result) and its n_fields, looked up when the module is made. */
static PyTypeObject *stat_result_type = NULL;
static Py_ssize_t stat_n_fields = 0;

static PyObject *ns_of(int64_t sec, int64_t nsec) {
    if (sec > -9000000000LL && sec < 9000000000LL) return PyLong_FromLongLong(sec * 1000000000LL + nsec);
    PyObject *s = PyLong_FromLongLong(sec), *g = PyLong_FromLongLong(1000000000LL), *n = PyLong_FromLongLong(nsec);
    PyObject *m = NULL, *out = NULL;
    if (s && g && n && (m = PyNumber_Multiply(s, g)) != NULL) out = PyNumber_Add(m, n);
    Py_XDECREF(s); Py_XDECREF(g); Py_XDECREF(n); Py_XDECREF(m);
    return out;
}

static PyObject *batch_stat(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "batch_stat(stat_result, stats, i)");
        return NULL;
    }
    Py_ssize_t i = PyLong_AsSsize_t(args[2]);
    if (i == -1 && PyErr_Occurred()) return NULL;
    Py_buffer b;
    if (PyObject_GetBuffer(args[1], &b, PyBUF_SIMPLE) != 0) return NULL;
    if (i < 0 || (i + 1) * (Py_ssize_t)(STAT_FIELDS * sizeof(int64_t)) > b.len) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_IndexError, "batch_stat: no such file in stats");
        return NULL;
    }
    int64_t v[STAT_FIELDS];
    memcpy(v, (const char *)b.buf + i * (Py_ssize_t)sizeof v, sizeof v);
    PyBuffer_Release(&b);
    PyObject *items[16] = {
        PyLong_FromLongLong(v[0]), PyLong_FromUnsignedLongLong((uint64_t)v[1]),
        PyLong_FromUnsignedLongLong((uint64_t)v[2]), PyLong_FromLongLong(v[3]), PyLong_FromLongLong(v[4]),
        PyLong_FromLongLong(v[5]), PyLong_FromLongLong(v[6]),
        PyLong_FromLongLong(v[7]), PyLong_FromLongLong(v[9]), PyLong_FromLongLong(v[11]),
        PyFloat_FromDouble((double)v[7] + (double)v[8] * 1e-9), PyFloat_FromDouble((double)v[9] + (double)v[10] * 1e-9),
        PyFloat_FromDouble((double)v[11] + (double)v[12] * 1e-9),
        ns_of(v[7], v[8]), ns_of(v[9], v[10]), ns_of(v[11], v[12]),
    };
    int failed = 0;
    for (int k = 0; k < 16; k++)
        if (items[k] == NULL) failed = 1;
    if (!failed && args[0] == (PyObject *)stat_result_type && stat_n_fields >= 16) {
        /* What os.stat_result(tuple of 16) makes (structseq_new: the 16
         * given, None for the fields past them), without the tuple and
         * the call's argument parsing. */
        PyObject *out = PyStructSequence_New(stat_result_type);
        if (out == NULL) {
            for (int k = 0; k < 16; k++) Py_DECREF(items[k]);
            return NULL;
        }
        for (int k = 0; k < 16; k++) PyStructSequence_SetItem(out, k, items[k]);
        for (Py_ssize_t k = 16; k < stat_n_fields; k++) PyStructSequence_SetItem(out, k, Py_NewRef(Py_None));
        return out;
    }
    PyObject *t = PyTuple_New(16);
    if (t == NULL) failed = 1;
    for (int k = 0; k < 16; k++) {
        if (t != NULL) PyTuple_SET_ITEM(t, k, items[k] ? items[k] : Py_NewRef(Py_None));
        else Py_XDECREF(items[k]);
    }
    if (failed) {
        Py_XDECREF(t);
        return NULL;
    }
    PyObject *out = PyObject_CallOneArg(args[0], t);
    Py_DECREF(t);
    return out;
}

/* still(path, st) -> bool: fs._still in C: is path (lstat, not followed)
 * the file of the stat_result st, unchanged (inode, device, mode, size,
 * mtime and ctime in ns)? False when it cannot be lstat'ed. No stat_result
 * is built for the lstat (~5k instructions of each flagged file). */
static int same_field(PyObject *st, Py_ssize_t i, unsigned long long want, int is_signed) {
    PyObject *v = PyStructSequence_GetItem(st, i);  /* borrowed */
    if (v == NULL || !PyLong_Check(v)) return -1;
    if (is_signed) {
        long long got = PyLong_AsLongLong(v);
        if (got == -1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        return got == (long long)want;
    }
    unsigned long long got = PyLong_AsUnsignedLongLong(v);
    if (got == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    return got == want;
}

static PyObject *ns_field_equal(PyObject *st, Py_ssize_t i, struct timespec t) {
    PyObject *want = ns_of((int64_t)t.tv_sec, (int64_t)t.tv_nsec);
    if (want == NULL) return NULL;
    PyObject *got = PyStructSequence_GetItem(st, i);
    int r = got == NULL ? -1 : PyObject_RichCompareBool(got, want, Py_EQ);
    Py_DECREF(want);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

static PyObject *still(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || stat_result_type == NULL || Py_TYPE(args[1]) != stat_result_type) {
        PyErr_SetString(PyExc_TypeError, "still(path, stat_result)");
        return NULL;
    }
    PyObject *st = args[1];
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(args[0], &path)) return NULL;
    struct stat now;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lstat(PyBytes_AS_STRING(path), &now);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != 0) Py_RETURN_FALSE;
    /* os.stat_result: 0 mode, 1 ino, 2 dev, 6 size, 14 mtime_ns, 15 ctime_ns */
    int r;
    if ((r = same_field(st, 1, (unsigned long long)now.st_ino, 0)) <= 0
        || (r = same_field(st, 2, (unsigned long long)now.st_dev, 0)) <= 0
        || (r = same_field(st, 0, (unsigned long long)now.st_mode, 1)) <= 0
        || (r = same_field(st, 6, (unsigned long long)now.st_size, 1)) <= 0) {
        if (r < 0) {
            PyErr_SetString(PyExc_TypeError, "still: not a stat_result");
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    PyObject *m = ns_field_equal(st, 14, now.st_mtim);
    if (m == NULL || m == Py_False) return m;
    Py_DECREF(m);
    return ns_field_equal(st, 15, now.st_ctim);
}

/* batch_stat_key(stat_result, stats, i) -> (os.stat_result, ukey): batch_stat
 * and fs.ukey of it ("size:mtime_ns:dev:ino") in one call. */
static PyObject *batch_stat_key(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *st = batch_stat(self, args, nargs);
    if (st == NULL) return NULL;
    PyObject *key;
    int64_t v[STAT_FIELDS];
    Py_buffer b;
    Py_ssize_t i = PyLong_AsSsize_t(args[2]);  /* (batch_stat checked both) */
    if (PyObject_GetBuffer(args[1], &b, PyBUF_SIMPLE) != 0) {
        Py_DECREF(st);
        return NULL;
    }
    memcpy(v, (const char *)b.buf + i * (Py_ssize_t)sizeof v, sizeof v);
    PyBuffer_Release(&b);
    if (v[9] > -9000000000LL && v[9] < 9000000000LL) {
        /* "size:mtime_ns:dev:ino" as ukey's f-string writes the four ints. */
        char buf[96];
        int n = snprintf(buf, sizeof buf, "%lld:%lld:%llu:%llu", (long long)v[6],
                         (long long)(v[9] * 1000000000LL + v[10]), (unsigned long long)(uint64_t)v[2],
                         (unsigned long long)(uint64_t)v[1]);
        key = PyUnicode_FromStringAndSize(buf, n);
    } else {
        PyObject *size = PyStructSequence_GetItem(st, 6), *mns = PyStructSequence_GetItem(st, 14);
        PyObject *dev = PyStructSequence_GetItem(st, 2), *ino = PyStructSequence_GetItem(st, 1);
        key = PyUnicode_FromFormat("%S:%S:%S:%S", size, mns, dev, ino);
    }
    if (key == NULL) {
        Py_DECREF(st);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, st, key);
    Py_DECREF(st);
    Py_DECREF(key);
    return out;
}

/* iso(ns) -> str: fs._iso in C for 0 <= ns / 1e9 < 253402300799.0 (the
 * caller checks): the same doubles (ns / 1e9; the fraction times 1e6
 * rounded half to even, as Python's round() of a float), the date and
 * time of day from gmtime as datetime writes them for these years.
 * Tests compare it with datetime's text. */
static PyObject *iso(PyObject *self, PyObject *arg) {
    long long ns = PyLong_AsLongLong(arg);
    if (ns == -1 && PyErr_Occurred()) return NULL;
    double t = (double)ns / 1e9;
    if (!(t >= 0.0 && t < 253402300799.0)) {
        PyErr_SetString(PyExc_ValueError, "iso: out of range");
        return NULL;
    }
    long long sec = (long long)t;
    double us = nearbyint((t - (double)sec) * 1e6);
    if (us >= 1000000.0) {
        sec += 1;
        us -= 1000000.0;
    }
    /* The date and time of day of the last second formatted (the GIL
     * guards these; files written together share their second). */
    static long long last_sec = -1;
    static char head[20];
    if (sec != last_sec) {
        time_t tt = (time_t)sec;
        struct tm tm;
        if (gmtime_r(&tt, &tm) == NULL) {
            PyErr_SetString(PyExc_ValueError, "iso: gmtime failed");
            return NULL;
        }
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec > 59 ? 59 : tm.tm_sec);
        if (n != 19) {
            PyErr_SetString(PyExc_ValueError, "iso: unexpected date");
            return NULL;
        }
        memcpy(head, tmp, 19);
        last_sec = sec;
    }
    char buf[27];
    memcpy(buf, head, 19);
    buf[19] = '.';
    int u = (int)us;
    for (int k = 25; k >= 20; k--) {
        buf[k] = (char)('0' + u % 10);
        u /= 10;
    }
    buf[26] = 'Z';
    return PyUnicode_FromStringAndSize(buf, 27);
}

static PyMethodDef methods[] = {
    {"iso", (PyCFunction)iso, METH_O, "iso(ns) -> str: fs._iso of an mtime in ns (0 <= ns / 1e9 < 253402300799.0)."},
    {"batch_stat_key", (PyCFunction)(void (*)(void))batch_stat_key, METH_FASTCALL,
     "batch_stat_key(stat_result, stats, i) -> (os.stat_result, ukey) of file i of read_files' stats."},
    {"still", (PyCFunction)(void (*)(void))still, METH_FASTCALL,
     "still(path, stat_result) -> bool: path (not followed) is that file, unchanged (fs._still)."},
    {"read_files", (PyCFunction)(void (*)(void))read_files, METH_VARARGS | METH_KEYWORDS,
     "read_files(dir, names, limit, stats=False) -> (data, ends, status[, stats]): small files of one directory"
     " in one call."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fsbatch", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fsbatch(void) {
    PyObject *posix = PyImport_ImportModule("posix");
    if (posix == NULL) return NULL;
    PyObject *t = PyObject_GetAttrString(posix, "stat_result");
    Py_DECREF(posix);
    if (t == NULL) return NULL;
    if (!PyType_Check(t)) {
        Py_DECREF(t);
        PyErr_SetString(PyExc_ImportError, "posix.stat_result is not a type");
        return NULL;
    }
    PyObject *nf = PyObject_GetAttrString(t, "n_fields");
    Py_ssize_t n = nf == NULL ? -1 : PyLong_AsSsize_t(nf);
    Py_XDECREF(nf);
    if (n < 0) PyErr_Clear();  /* (unknown: batch_stat calls the type with its tuple) */
    stat_n_fields = n < 0 ? 0 : n;
    Py_XSETREF(stat_result_type, (PyTypeObject *)t);
    return PyModule_Create(&module);
}
