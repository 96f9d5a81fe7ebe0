/* Resumable outputs (include/inbatch/h5.h, "Resumable outputs"): a partial file that stays readable whatever kills
 * the processes writing it, and that a later run opens again to write the rows that are missing.
 *
 * What makes the partial safe: its datasets are contiguous and allocated at create, their metadata flushed then,
 * so that writing rows changes no metadata; HDF5's sieve buffer is off, so a row is in the file (the kernel's
 * page cache) once H5Dwrite returns; each batch ends with rank 0 appending its failure records to the side file,
 * then writing its table rows, then a flush of the file. So a table row that says done or failed has its output
 * rows and (failed) its record on the file: the table is the record of what is finished. A process that dies
 * loses nothing that is there; a machine that crashes may lose what the kernel had not written back.
 *
 * The side file holds inb__h5_errrow records as they are in memory (fixed size), appended in batch order. An
 * item run again after a stop may have several; commit keeps each failed item's last one. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "data/h5output.h"
#include "mpi/msg.h"

/* The root attribute that says a partial is a resumable output's (removed at commit). */
#define MARK "inbatch_resumable"

enum {
  RECORD = sizeof(inb__h5_errrow), /* bytes of a record in the side file */
  RECORD_PIECE = 4096,             /* records read at once at commit */
  TABLE_PIECE = 65536,             /* table rows read at once at reopen */
};

/* A system call on the side file that a test can make fail (as INB__H5): the call is made, then reported failed
 * with EIO. */
#define INB__SYS(call)                                                                                             \
  ({                                                                                                               \
    long inb__sr_ = (long)(call);                                                                                  \
    inb__fault(INB__SITE(#call)) ? (errno = EIO, -1L) : inb__sr_;                                                  \
  })

/* The side file opened with `flags`, or -1 with errno set (a fault site: the open is undone). */
static int open_side(const inb_h5_output *o, int flags) {
  int fd = open(o->errors_path, flags | O_CLOEXEC, 0644);
  if (fd >= 0 && inb__fault(INB__SITE("open"))) {
    close(fd);
    errno = EIO;
    fd = -1;
  }
  return fd;
}

static int side_error(const inb_h5_output *o, const char *doing) {
  return inb__err(INB_EIO, "output '%s': %s its side file of failure records '%s' failed: %s", o->final_path, doing,
                  o->errors_path, strerror(errno));
}

/* ---- the batch's end and create's mark ------------------------------------------------------------------- */

int inb__h5_resume_append(inb_h5_output *o, const inb__h5_errrow *errs, size_t n) {
  int fd = open_side(o, O_WRONLY | O_CREAT | O_APPEND);
  if (fd < 0) return side_error(o, "opening");
  const char *p = (const char *)errs;
  size_t left = n * RECORD;
  int rc = 0;
  while (!rc && left) { /* one write, unless the kernel takes less */
    long w = INB__SYS(write(fd, p, left));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) rc = side_error(o, "appending to");
    else p += w, left -= (size_t)w;
  }
  close(fd);
  return rc;
}

int inb__h5_resume_flush(inb_h5_output *o, int rc) {
  herr_t h = INB__H5(H5Fflush(o->file, H5F_SCOPE_LOCAL)); /* collective: made whatever rc is */
  if (h < 0 && !rc)
    rc = inb__err(INB_EIO, "output '%s': flushing '%s' failed (its last rows may not be on the file)", o->final_path,
                  o->tmp_path);
  o->flushed_ns = inb__now_ns();
  return rc;
}

/* INB_H5_FLUSH_MS in nanoseconds, or the variable of that name when set (0: every batch). */
static int64_t flush_interval_ns(void) {
  static int64_t ns = -1;
  if (ns < 0) {
    const char *env = getenv("INB_H5_FLUSH_MS");
    char *end = NULL;
    long long ms = env && *env ? strtoll(env, &end, 10) : -1;
    ns = (ms >= 0 && ms < (1LL << 40) && end && !*end ? ms : INB_H5_FLUSH_MS) * 1000000;
  }
  return ns;
}

int inb__h5_resume_batch_end(inb_h5_output *o, int rc) {
  /* With MPI-IO a flush syncs the file to disk: every batch, it doubled a 1 GiB run on a disk. A killed process
   * loses nothing without it (rows go to the file as they are written, and change no metadata). */
  int flush = o->hc.rank == 0 && inb__now_ns() - o->flushed_ns >= flush_interval_ns();
  if (o->hc.comm != MPI_COMM_NULL) MPI_Bcast(&flush, 1, MPI_INT, 0, o->hc.comm);
  return flush ? inb__h5_resume_flush(o, rc) : rc;
}

int inb__h5_resume_mark(inb_h5_output *o) { return inb__h5_resume_flush(o, inb__h5_put_string(o, MARK, "1")); }

/* ---- commit: "/inbatch_errors" from the side file --------------------------------------------------------- */

typedef struct {
  int fd;               /* the side file, -1 when there is none */
  int64_t nrec;         /* its records */
  uint64_t *keep;       /* bit r: record r is its item's last one, and the item failed */
  inb__h5_errrow *buf;  /* RECORD_PIECE records */
} side;

/* Records [first, first + n) of the side file into s->buf. */
static int read_records(const inb_h5_output *o, side *s, int64_t first, size_t n) {
  char *p = (char *)s->buf;
  size_t left = n * RECORD;
  off_t at = (off_t)first * RECORD;
  while (left) {
    long r = INB__SYS(pread(s->fd, p, left, at));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO; /* shorter than it was: someone else truncated it */
      return side_error(o, "reading");
    }
    p += r, at += r, left -= (size_t)r;
  }
  return 0;
}

/* Rank 0: which records commit keeps (read from the last one back: an item's first record seen is its last), and
 * how many. Memory: a bit per item and per record, and one piece of records. */
static int pick_records(const inb_h5_output *o, side *s, int64_t *count) {
  *count = 0;
  s->fd = open_side(o, O_RDONLY);
  if (s->fd < 0) return errno == ENOENT ? 0 : side_error(o, "opening"); /* no failure was ever recorded */
  struct stat st;
  if (fstat(s->fd, &st) != 0) return side_error(o, "reading the size of");
  s->nrec = (int64_t)st.st_size / (int64_t)RECORD;
  uint64_t *seen = inb__bits_new((size_t)o->length);
  s->keep = inb__bits_new((size_t)s->nrec);
  s->buf = inb__malloc(RECORD_PIECE * RECORD);
  int rc = seen && s->keep && s->buf ? 0
           : inb__err(INB_ENOMEM, "output '%s': out of memory for its %lld failure records", o->final_path,
                      (long long)s->nrec);
  for (int64_t end = s->nrec; !rc && end > 0;) {
    int64_t first = end > RECORD_PIECE ? end - RECORD_PIECE : 0;
    rc = read_records(o, s, first, (size_t)(end - first));
    for (int64_t r = end - 1; !rc && r >= first; r--) {
      int64_t item = s->buf[r - first].index;
      if (item < 0 || item >= o->length || inb__bit(seen, (size_t)item)) continue;
      inb__bit_set(seen, (size_t)item);
      if (inb__bit(o->failed, (size_t)item)) inb__bit_set(s->keep, (size_t)r), ++*count;
    }
    end = first;
  }
  inb__free(seen);
  return rc;
}

/* Rank 0: the kept records, in the side file's order, into "/inbatch_errors" (made with `count` rows). */
static int copy_records(inb_h5_output *o, side *s, int64_t count) {
  int rc = 0;
  int64_t at = 0;
  for (int64_t first = 0; !rc && first < s->nrec; first += RECORD_PIECE) {
    size_t n = (size_t)(s->nrec - first < RECORD_PIECE ? s->nrec - first : RECORD_PIECE), m = 0;
    rc = read_records(o, s, first, n);
    for (size_t i = 0; !rc && i < n; i++)
      if (inb__bit(s->keep, (size_t)first + i)) s->buf[m++] = s->buf[i];
    if (!rc && m) rc = inb__h5_write_errors(o, s->buf, m, at);
    at += (int64_t)m;
  }
  if (!rc && at != count)
    rc = inb__err(INB_EIO, "output '%s': its side file '%s' changed while it was read", o->final_path, o->errors_path);
  return rc;
}

int inb__h5_resume_commit(inb_h5_output *o) {
  side s = {.fd = -1};
  int64_t count = 0;
  int rc = inb__h5_agree(&o->hc, o->hc.rank == 0 ? pick_records(o, &s, &count) : 0);
  if (!rc && o->hc.comm != MPI_COMM_NULL) MPI_Bcast(&count, 1, MPI_INT64_T, 0, o->hc.comm);
  if (!rc) rc = inb__h5_agree(&o->hc, inb__h5_create_errors(o, count));
  if (!rc) rc = inb__h5_agree(&o->hc, o->hc.rank == 0 && count ? copy_records(o, &s, count) : 0);
  if (!rc) {
    herr_t h = INB__H5(H5Adelete(o->file, MARK)); /* the committed file is like any other */
    rc = inb__h5_agree(&o->hc, h < 0 ? inb__err(INB_EIO, "output '%s': removing its attribute '%s' failed",
                                                o->final_path, MARK) : 0);
  }
  if (s.fd >= 0) close(s.fd);
  inb__free(s.keep);
  inb__free(s.buf);
  return rc;
}

/* ---- create and keep --------------------------------------------------------------------------------------- */

int inb_h5_create_resumable(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length,
                            bool overwrite, void *comm, inb_h5_output **out) {
  return inb__h5_create(path, specs, n, length, overwrite, comm, INB__H5_NEW_RESUMABLE, out);
}

int inb_h5_keep(inb_h5_output **op) {
  if (!op || !*op) return inb__err(INB_EINVAL, "inb_h5_keep: no output");
  inb_h5_output *o = *op;
  inb__ecomm *held = NULL;
  int rc = inb__h5_enter_end(o, "inb_h5_keep", &held);
  if (rc) return rc; /* the others are elsewhere: nothing collective; *op stays the caller's */
  *op = NULL;
  rc = inb__h5_agree(&o->hc, inb__h5_close_all(o));
  inb__h5_remove_scratch(o); /* an output of inb_h5_create: nothing reads it again */
  inb__h5_barrier(&o->hc);
  inb__h5_output_free(o);
  inb__h5_leave(held);
  return rc;
}

/* ---- reopen -------------------------------------------------------------------------------------------------- */

/* INB_EINVAL: the partial cannot be gone on with, and why. */
static int mismatch(const inb_h5_output *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int mismatch(const inb_h5_output *o, const char *fmt, ...) {
  char why[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return inb__err(INB_EINVAL, "output '%s': cannot go on from its partial '%s': %s; start over "
                              "(inb_h5_create_resumable replaces the partial)", o->final_path, o->tmp_path, why);
}

static int open_partial(inb_h5_output *o) {
  hid_t fapl = inb__h5_output_fapl(o);
  o->file = H5Fopen(o->tmp_path, H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  return o->file < 0 ? mismatch(o, "it does not open as an HDF5 file (a run killed while it committed leaves one "
                                   "so)") : 0;
}

static const char *dtype_name(inb_dtype t) {
  static const char *const names[] = {"int8",  "uint8",  "int16",  "uint16",  "int32",
                                      "uint32", "int64", "uint64", "float32", "float64"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* "float32 [3, 2]" (an item of c's dims after the first from `from`), into buf. */
static const char *item_text(inb_dtype t, int ndim, const int64_t *shape, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "%s [", dtype_name(t));
  for (int d = 0; d < ndim && used < cap; d++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
  if (used < cap) snprintf(buf + used, cap - used, "]");
  return buf;
}

/* Spec s's dataset in the partial: there, of its dtype, item shape and length. */
static int open_dataset(inb_h5_output *o, const inb_h5_output_spec *s, inb__h5out *d) {
  d->row = (inb_array){.dtype = s->dtype, .ndim = s->ndim};
  for (int k = 0; k < s->ndim; k++) d->row.shape[k] = s->shape[k];
  d->c = (inb__h5comp){.dset = H5I_INVALID_HID};
  if (H5Lexists(o->file, s->name, H5P_DEFAULT) <= 0) {
    char list[800];
    inb__h5_list_datasets(o->file, list, sizeof list);
    return mismatch(o, "it has no dataset '%s' (it has: %s)", s->name, list);
  }
  char what[1200];
  snprintf(what, sizeof what, "output '%s': partial '%s': dataset '%s'", o->final_path, o->tmp_path, s->name);
  d->c.dset = H5Dopen2(o->file, s->name, H5P_DEFAULT);
  if (d->c.dset < 0) return mismatch(o, "'%s' is not a dataset", s->name);
  hid_t type = H5Dget_type(d->c.dset), space = H5Dget_space(d->c.dset);
  int rc = inb__h5_dtype_of(type, what, &d->c.dtype);
  int ndim = H5Sget_simple_extent_ndims(space);
  hsize_t dims[H5S_MAX_RANK] = {0};
  if (ndim > 0 && ndim <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Tclose(type);
  H5Sclose(space);
  bool same = !rc && ndim == s->ndim + 1 && d->c.dtype == s->dtype;
  for (int k = 0; same && k < s->ndim; k++) same = dims[k + 1] == (hsize_t)s->shape[k];
  char has[300], wants[300];
  int64_t shape[INB_MAX_DIMS] = {0};
  for (int k = 1; k < ndim && k <= INB_MAX_DIMS; k++) shape[k - 1] = (int64_t)dims[k];
  if (!rc && !same)
    rc = mismatch(o, "its dataset '%s' holds items of %s, this run makes %s", s->name,
                  ndim < 1 || ndim > INB_MAX_DIMS ? "another rank"
                                                   : item_text(d->c.dtype, ndim - 1, shape, has, sizeof has),
                  item_text(s->dtype, s->ndim, s->shape, wants, sizeof wants));
  if (!rc && dims[0] != (hsize_t)o->length)
    rc = mismatch(o, "its dataset '%s' has %llu items, this run has %lld", s->name, (unsigned long long)dims[0],
                  (long long)o->length);
  d->c.ndim = s->ndim + 1;
  d->c.shape[0] = o->length;
  for (int k = 0; k < s->ndim; k++) d->c.shape[k + 1] = s->shape[k];
  if (!rc && !(d->c.path = inb__strdup(s->name))) rc = inb__err(INB_ENOMEM, "out of memory");
  return rc;
}

typedef struct {
  const inb_h5_output *o;
  char extra[256]; /* the first dataset that no spec names */
} visit;

static herr_t find_extra(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
  (void)obj;
  visit *v = data;
  if (info->type != H5O_TYPE_DATASET || strcmp(name, inb__h5_component_name(INB__H5_TABLE)) == 0 ||
      strcmp(name, inb__h5_component_name(INB__H5_ERRORS)) == 0)
    return 0;
  for (size_t k = 0; k < v->o->n; k++)
    if (strcmp(inb__h5_component_name(v->o->names[k]), name) == 0) return 0;
  snprintf(v->extra, sizeof v->extra, "/%s", name);
  return 1;
}

/* Every rank: the partial is a resumable output's with exactly the specs' datasets and the table. Local. */
static int check_partial(inb_h5_output *o, const inb_h5_output_spec *specs) {
  if (H5Aexists(o->file, MARK) <= 0)
    return mismatch(o, "it is not a resumable output's (inb_h5_create made it: only inb_h5_create_resumable's can "
                       "be gone on with)");
  int rc = 0;
  for (size_t k = 0; !rc && k < o->n; k++) rc = open_dataset(o, &specs[k], &o->outs[k]);
  visit v = {.o = o};
  if (!rc && H5Ovisit(o->file, H5_INDEX_NAME, H5_ITER_NATIVE, find_extra, &v) < 0)
    rc = inb__err(INB_EIO, "output '%s': cannot list the datasets of its partial '%s'", o->final_path, o->tmp_path);
  if (!rc && v.extra[0]) rc = mismatch(o, "it has a dataset '%s' that this run does not make", v.extra);
  if (rc) return rc;
  o->table = H5Lexists(o->file, INB__H5_TABLE, H5P_DEFAULT) > 0 ? H5Dopen2(o->file, INB__H5_TABLE, H5P_DEFAULT)
                                                                  : H5I_INVALID_HID;
  if (o->table < 0) return mismatch(o, "it has no results table '%s'", INB__H5_TABLE);
  hid_t space = H5Dget_space(o->table);
  hsize_t dims[1] = {0};
  bool one = H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, dims, NULL) == 1;
  H5Sclose(space);
  if (!one || dims[0] != (hsize_t)o->length)
    return mismatch(o, "its results table '%s' has %llu rows, this run has %lld items", INB__H5_TABLE,
                    (unsigned long long)dims[0], (long long)o->length);
  return 0;
}

/* Rank 0: what the table says is finished (done or failed, in a row that a batch wrote: its index is its own; an
 * unwritten row holds whatever the file had there), into o->written and o->failed. */
static int read_table(inb_h5_output *o) {
  inb__h5_tablerow *buf = inb__malloc(TABLE_PIECE * sizeof *buf);
  if (!buf) return inb__err(INB_ENOMEM, "output '%s': out of memory reading its results table", o->final_path);
  hid_t mem = inb__h5_table_type(false), fspace = H5Dget_space(o->table);
  int rc = 0;
  for (int64_t first = 0; !rc && first < o->length; first += TABLE_PIECE) {
    hsize_t start[1] = {(hsize_t)first}, count[1] = {(hsize_t)(o->length - first < TABLE_PIECE ? o->length - first
                                                                                                  : TABLE_PIECE)};
    hid_t mspace = H5Screate_simple(1, count, NULL);
    herr_t h = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (h >= 0) h = INB__H5(H5Dread(o->table, mem, mspace, fspace, H5P_DEFAULT, buf));
    H5Sclose(mspace);
    if (h < 0) rc = inb__err(INB_EIO, "output '%s': reading the results table of its partial '%s' failed",
                             o->final_path, o->tmp_path);
    for (hsize_t i = 0; !rc && i < count[0]; i++) {
      const inb__h5_tablerow *r = &buf[i];
      if (r->index != first + (int64_t)i || (r->state != INB_H5_DONE && r->state != INB_H5_FAILED)) continue;
      inb__bit_set(o->written, (size_t)r->index);
      if (r->state == INB_H5_FAILED) inb__bit_set(o->failed, (size_t)r->index);
    }
  }
  H5Sclose(fspace);
  H5Tclose(mem);
  inb__free(buf);
  return rc;
}

/* Rank 0: the side file cut to whole records (a process killed while it appended leaves a part of one). */
static int trim_side(const inb_h5_output *o) {
  int fd = open_side(o, O_WRONLY);
  if (fd < 0) return errno == ENOENT ? 0 : side_error(o, "opening");
  struct stat st;
  int rc = fstat(fd, &st) != 0 ? side_error(o, "reading the size of") : 0;
  off_t torn = rc ? 0 : st.st_size % (off_t)RECORD;
  if (torn && INB__SYS(ftruncate(fd, st.st_size - torn)) != 0) rc = side_error(o, "truncating");
  close(fd);
  return rc;
}

/* Every rank: a "/inbatch_errors" that a commit killed before its rename made goes (the side file still has every
 * record; commit makes it again), and the file is flushed. Collective. */
static int drop_errors(inb_h5_output *o) {
  int rc = 0;
  if (H5Lexists(o->file, INB__H5_ERRORS, H5P_DEFAULT) > 0 &&
      INB__H5(H5Ldelete(o->file, INB__H5_ERRORS, H5P_DEFAULT)) < 0)
    rc = inb__err(INB_EIO, "output '%s': removing '%s' from its partial '%s' failed", o->final_path, INB__H5_ERRORS,
                  o->tmp_path);
  return inb__h5_resume_flush(o, rc);
}

int inb_h5_reopen(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out) {
  *out = NULL;
  inb__h5_quiet();
  inb__h5comm hc;
  inb__h5comm_resolve(&hc, comm);
  inb_h5_output *o = inb__calloc(1, sizeof *o);
  int rc = o ? (o->hc = hc, inb__h5_prepare(o, path, specs, n, length, overwrite, INB__H5_REOPEN))
             : inb__err(INB_ENOMEM, "inb_h5_reopen: out of memory");
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_reopen '%s' (rank 0's)", path ? path : "");
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&hc, rc, inb__h5_create_digest("inb_h5_reopen", path, specs, n, length, overwrite), what,
                     &held);
  if (o) o->hc = hc;
  if (!rc) rc = inb__h5_agree(&o->hc, open_partial(o));
  if (!rc) rc = inb__h5_agree(&o->hc, check_partial(o, specs));
  if (!rc) {
    int lrc = o->hc.rank == 0 ? read_table(o) : 0;
    if (!lrc && o->hc.rank == 0) lrc = trim_side(o);
    rc = inb__h5_agree(&o->hc, lrc);
  }
  if (!rc) rc = inb__h5_agree(&o->hc, drop_errors(o));
  if (rc && o && o->file >= 0) inb__h5_close_all(o); /* every rank opened it: every rank closes it; it stays */
  if (rc && o) inb__h5_output_free(o);
  inb__h5_leave(held);
  if (!rc) *out = o;
  return rc;
}

/* ---- what is finished, and the annotations ----------------------------------------------------------------- */

int inb_h5_finished(inb_h5_output *o, int64_t first, size_t n, uint64_t *bits) {
  if (!o || (n && !bits)) return inb__err(INB_EINVAL, "inb_h5_finished: no output, or no bits");
  int rc = first < 0 || first > o->length || (uint64_t)n > (uint64_t)(o->length - first)
               ? inb__err(INB_EINVAL, "inb_h5_finished: items %lld..%lld are outside output '%s' (%lld items)",
                          (long long)first, (long long)first + (long long)n - 1, o->final_path, (long long)o->length)
               : 0;
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_finished of '%s' (rank 0's)", o->final_path);
  uint64_t h = inb__digest_str(inb__digest_str(INB__DIGEST_START, "inb_h5_finished"), o->final_path);
  h = inb__digest_i64(inb__digest_i64(h, first), (int64_t)n);
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&o->hc, rc, h, what, &held);
  if (rc) return rc;
  size_t words = (n + 63) / 64;
  if (words) memset(bits, 0, words * sizeof *bits);
  /* rank 0's map of written rows is the table's: set from it at reopen, by every batch since */
  for (size_t i = 0; o->hc.rank == 0 && i < n; i++)
    if (inb__bit(o->written, (size_t)first + i)) inb__bit_set(bits, i);
  int mrc = 0;
  for (size_t w = 0; o->hc.comm != MPI_COMM_NULL && w < words;) {
    int piece = words - w < (size_t)1 << 24 ? (int)(words - w) : 1 << 24;
    int r = INB__MPI(MPI_Bcast(bits + w, piece, MPI_UINT64_T, 0, o->hc.comm)); /* every piece, even after a failure */
    if (r != MPI_SUCCESS && !mrc) mrc = inb__mpi_fail(r, "MPI_Bcast of the finished items");
    w += (size_t)piece;
  }
  rc = inb__h5_agree(&o->hc, mrc);
  inb__h5_leave(held);
  return rc;
}

/* Rank 0: the string attribute `name` of the root group, in a new string (*out, inb__free). */
static int read_annotation(const inb_h5_output *o, const char *name, char **out) {
  htri_t there = H5Aexists(o->file, name);
  if (there == 0) return inb__err(INB_ENOTFOUND, "output '%s' has no attribute '%s'", o->final_path, name);
  hid_t attr = there > 0 ? H5Aopen(o->file, name, H5P_DEFAULT) : H5I_INVALID_HID;
  hid_t type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID, mem = H5Tcopy(H5T_C_S1);
  bool string = type >= 0 && H5Tget_class(type) == H5T_STRING, vlen = string && H5Tis_variable_str(type) > 0;
  size_t size = string && !vlen ? H5Tget_size(type) + 1 : 0;
  int rc = type < 0 ? inb__err(INB_EIO, "output '%s': cannot read its attribute '%s'", o->final_path, name)
           : !string ? inb__err(INB_EINVAL, "output '%s': its attribute '%s' is not a string", o->final_path, name)
                     : 0;
  char *vs = NULL;
  if (!rc && vlen) {
    H5Tset_size(mem, H5T_VARIABLE);
    if (INB__H5(H5Aread(attr, mem, &vs)) < 0) rc = INB_EIO;
    else if (!(*out = inb__strdup(vs ? vs : ""))) rc = INB_ENOMEM;
    if (vs) H5free_memory(vs);
  } else if (!rc) {
    H5Tset_size(mem, size);
    H5Tset_strpad(mem, H5T_STR_NULLTERM);
    if (!(*out = inb__calloc(size, 1))) rc = INB_ENOMEM;
    else if (INB__H5(H5Aread(attr, mem, *out)) < 0) rc = INB_EIO;
  }
  if (rc == INB_EIO) rc = inb__err(INB_EIO, "output '%s': cannot read its attribute '%s'", o->final_path, name);
  if (rc == INB_ENOMEM) rc = inb__err(INB_ENOMEM, "out of memory");
  H5Tclose(mem);
  if (type >= 0) H5Tclose(type);
  if (attr >= 0) H5Aclose(attr);
  return rc;
}

int inb_h5_annotation(inb_h5_output *o, const char *name, char *buf, size_t cap) {
  if (!o || !name || (cap && !buf)) return inb__err(INB_EINVAL, "inb_h5_annotation: output, name or buffer is NULL");
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_annotation '%s' of '%s' (rank 0's)", name, o->final_path);
  uint64_t h = inb__digest_str(inb__digest_str(INB__DIGEST_START, "inb_h5_annotation"), name);
  inb__ecomm *held = NULL;
  int rc = inb__h5_enter(&o->hc, 0, inb__digest_str(h, o->final_path), what, &held);
  if (rc) return rc;
  char *value = NULL;
  rc = inb__h5_share(&o->hc, o->hc.rank == 0 ? read_annotation(o, name, &value) : 0);
  uint8_t *p = (uint8_t *)value;
  size_t len = value ? strlen(value) + 1 : 0;
  if (!rc && o->hc.comm != MPI_COMM_NULL) rc = inb__h5_agree(&o->hc, inb__msg_bcast(&p, &len, o->hc.comm));
  if (!rc && cap) snprintf(buf, cap, "%.*s", (int)(len ? len - 1 : 0), p ? (const char *)p : "");
  if ((char *)p != value) inb__free(p);
  inb__free(value);
  inb__h5_leave(held);
  return rc;
}
