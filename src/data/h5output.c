/* HDF5 outputs: created collectively under a temporary name next to the target, renamed on commit, removed on
 * abort, so an output is never left looking complete when it is not; and the results table and failure
 * records that say what every item became. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/scratch.h"
#include "data/h5codecs.h"
#include "data/h5output.h"
#include "mpi/msg.h"

#define TABLE INB__H5_TABLE
#define ERRORS INB__H5_ERRORS

/* Rows of the table written at once when commit marks the rows no batch wrote as not run. */
enum { NOT_RUN_PIECE = 65536 };

/* Failure records are few; small chunks keep an extension per batch cheap. */
enum { ERRORS_CHUNK = 64 };

/* ---- The results table and the failure records: types ------------------------------------------------- */

static hid_t state_type(hid_t base) {
  hid_t t = H5Tenum_create(base);
  const int8_t not_run = INB_H5_NOT_RUN, done = INB_H5_DONE, failed = INB_H5_FAILED;
  H5Tenum_insert(t, "not_run", &not_run);
  H5Tenum_insert(t, "done", &done);
  H5Tenum_insert(t, "failed", &failed);
  return t;
}

/* A member of a record type: its place and type in the file (packed, little-endian) and in memory. */
typedef struct {
  const char *name;
  size_t file_offset, mem_offset;
  hid_t file_type, mem_type;
} member;

/* The compound type of a record, in the file (file_size bytes) or in memory (mem_size): the n members m[]. */
static hid_t compound_type(bool file, size_t file_size, size_t mem_size, const member *m, size_t n) {
  hid_t t = H5Tcreate(H5T_COMPOUND, file ? file_size : mem_size);
  for (size_t k = 0; k < n; k++)
    H5Tinsert(t, m[k].name, file ? m[k].file_offset : m[k].mem_offset, file ? m[k].file_type : m[k].mem_type);
  return t;
}

/* The table's row in memory, or in the file: packed, in the order h5.h documents (index, state, code, value). */
hid_t inb__h5_table_type(bool file) {
  hid_t st = state_type(file ? H5T_STD_I8LE : H5T_NATIVE_INT8);
  const member m[] = {
      {"index", 0, HOFFSET(inb__h5_tablerow, index), H5T_STD_I64LE, H5T_NATIVE_INT64},
      {"state", 8, HOFFSET(inb__h5_tablerow, state), st, st},
      {"code", 9, HOFFSET(inb__h5_tablerow, code), H5T_STD_I32LE, H5T_NATIVE_INT32},
      {"value", 13, HOFFSET(inb__h5_tablerow, value), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE},
  };
  hid_t t = compound_type(file, 8 + 1 + 4 + 8, sizeof(inb__h5_tablerow), m, sizeof m / sizeof m[0]);
  H5Tclose(st);
  return t;
}

/* A failure's record in memory, or in the file (packed, little-endian). */
static hid_t errors_type(bool file) {
  hid_t msg = H5Tcopy(H5T_C_S1);
  H5Tset_size(msg, INB__H5_MESSAGE_BYTES);
  H5Tset_strpad(msg, H5T_STR_NULLTERM);
  const member m[] = {
      {"index", 0, HOFFSET(inb__h5_errrow, index), H5T_STD_I64LE, H5T_NATIVE_INT64},
      {"code", 8, HOFFSET(inb__h5_errrow, code), H5T_STD_I32LE, H5T_NATIVE_INT32},
      {"rank", 12, HOFFSET(inb__h5_errrow, rank), H5T_STD_I32LE, H5T_NATIVE_INT32},
      {"message", 16, HOFFSET(inb__h5_errrow, message), msg, msg},
  };
  hid_t t =
      compound_type(file, 8 + 4 + 4 + INB__H5_MESSAGE_BYTES, sizeof(inb__h5_errrow), m, sizeof m / sizeof m[0]);
  H5Tclose(msg);
  return t;
}

static inb__h5_tablerow not_run_row(int64_t index) {
  return (inb__h5_tablerow){.index = index, .value = NAN, .code = 0, .state = INB_H5_NOT_RUN};
}

/* The rows of a chunk of spec s in a dataset of `length` items (chunks are clamped to the dataset), and the bytes
 * of a row (saturated: a row too large for memory is refused by HDF5 when the dataset is made). */
static int64_t chunk_rows(const inb_h5_output_spec *s, int64_t length) {
  return s->chunk_items > length && length > 0 ? length : s->chunk_items;
}
static size_t row_bytes(const inb_h5_output_spec *s) {
  size_t b = inb_dtype_size(s->dtype);
  for (int d = 0; d < s->ndim; d++)
    b = (uint64_t)s->shape[d] > SIZE_MAX / b ? SIZE_MAX : b * (size_t)s->shape[d];
  return b;
}

static int check_spec(const char *path, const inb_h5_output_spec *s, int64_t length, inb__h5_mode mode) {
  if (!s->name || !*s->name) return inb__err(INB_EINVAL, "output '%s': a dataset without a name", path);
  if ((unsigned)s->dtype > (unsigned)INB_F64)
    return inb__err(INB_EINVAL, "output '%s': dataset '%s': unknown dtype %d", path, s->name, (int)s->dtype);
  if (s->ndim < 0 || s->ndim >= INB_MAX_DIMS)
    return inb__err(INB_EINVAL, "output '%s': dataset '%s': an item has 0..%d dims; found %d", path, s->name,
                    INB_MAX_DIMS - 1, s->ndim);
  for (int d = 0; d < s->ndim; d++)
    if (s->shape[d] <= 0)
      return inb__err(INB_EINVAL, "output '%s': dataset '%s': shape[%d] is %lld", path, s->name, d,
                      (long long)s->shape[d]);
  if (s->chunk_items < 0)
    return inb__err(INB_EINVAL, "output '%s': dataset '%s': chunk_items must be >= 0 (0 = contiguous); found %lld",
                    path, s->name, (long long)s->chunk_items);
  inb__h5codec codec;
  int rc = inb__h5_codec_check(path, s, chunk_rows(s, length), row_bytes(s), &codec);
  if (rc || mode == INB__H5_NEW) return rc;
  /* a compressed dataset's chunk index changes with every write, and a scratch file is gone after a run */
  if (codec.codec != INB_H5_NONE)
    return inb__err(INB_EINVAL, "output '%s': dataset '%s' is compressed: not in a resumable output (its chunk index "
                                "changes with every write; leave codec and deflate unset)", path, s->name);
  if (s->scratch)
    return inb__err(INB_EINVAL, "output '%s': dataset '%s' is a scratch dataset: not in a resumable output (its rows "
                                "would not outlive the run)", path, s->name);
  return 0;
}

/* Rank 0's checks of the target: never an open input, refused if it exists (unless overwrite), its directory
 * must be writable. */
static int check_target(const char *path, bool overwrite) {
  struct stat st;
  char opened[1024];
  if (inb__h5_is_open_input(path, opened, sizeof opened))
    return inb__err(INB_EINVAL, "output '%s' is the file of input '%s', which is open: an output never replaces an "
                                "open input (choose another name, or close the input first)", path, opened);
  if (!overwrite && stat(path, &st) == 0)
    return inb__err(INB_EINVAL, "output '%s' already exists (ask to overwrite it, or choose another name)", path);
  char *copy = inb__strdup(path);
  if (!copy) return inb__err(INB_ENOMEM, "out of memory");
  const char *dir = dirname(copy);
  int rc = access(dir, W_OK) == 0 ? 0 : inb__err(INB_EIO, "output '%s': directory '%s' %s", path, dir,
                                                 errno == ENOENT ? "does not exist" : "is not writable");
  inb__free(copy);
  return rc;
}

/* "<dir>/.<name>.inbatch-<what>": a file beside the target that no reader takes for it. */
static char *hidden_name(const char *path, const char *what) {
  char *a = inb__strdup(path), *b = inb__strdup(path);
  char *out = NULL;
  if (a && b) {
    const char *dir = dirname(a), *base = basename(b);
    size_t n = strlen(dir) + strlen(base) + strlen(what) + 32;
    out = inb__malloc(n);
    if (out) snprintf(out, n, "%s/.%s.inbatch-%s", dir, base, what);
  }
  inb__free(a);
  inb__free(b);
  return out;
}

static int create_dataset(inb_h5_output *o, const inb_h5_output_spec *s, inb__h5out *d) {
  hid_t file = s->scratch ? o->scratch : o->file;
  hsize_t dims[INB_MAX_DIMS], chunk[INB_MAX_DIMS];
  hsize_t maxdims[INB_MAX_DIMS];
  dims[0] = (hsize_t)o->length;
  /* HDF5 wants chunks no larger than a fixed-size dataset: a chunk of more items than there are is clamped */
  chunk[0] = (hsize_t)(s->chunk_items ? s->chunk_items : 1);
  if (chunk[0] > dims[0] && dims[0] > 0) chunk[0] = dims[0];
  d->row = (inb_array){.dtype = s->dtype, .ndim = s->ndim};
  d->c = (inb__h5comp){.dtype = s->dtype, .ndim = s->ndim + 1, .dset = H5I_INVALID_HID};
  d->c.shape[0] = o->length;
  for (int k = 0; k < s->ndim; k++) {
    dims[k + 1] = chunk[k + 1] = (hsize_t)s->shape[k];
    d->row.shape[k] = d->c.shape[k + 1] = s->shape[k];
  }
  d->c.path = inb__strdup(s->name);
  inb__h5codec codec; /* the spec passed its check: this only resolves it again */
  inb__h5_codec_check(o->final_path, s, chunk_rows(s, o->length), row_bytes(s), &codec);
  d->compressed = codec.codec != INB_H5_NONE;
  /* a resumable output's datasets are contiguous and allocated now: writing rows later changes no metadata */
  bool chunked = s->chunk_items && !o->resumable;
  for (int k = 0; k <= s->ndim; k++) maxdims[k] = dims[k];
  if (!dims[0] && chunked) maxdims[0] = H5S_UNLIMITED; /* an empty chunked dataset: chunks exceed it */
  hid_t space = H5Screate_simple(s->ndim + 1, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every row is written: filling first would write twice */
  if (chunked) H5Pset_chunk(dcpl, s->ndim + 1, chunk);
  if (o->resumable) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  inb__h5_codec_apply(dcpl, &codec); /* a failure here fails the create below */
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  d->c.dset = H5Dcreate2(file, s->name, inb__h5_native(s->dtype), space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(space);
  if (!d->c.path) return inb__err(INB_ENOMEM, "out of memory");
  return d->c.dset < 0 ? inb__err(INB_EIO, "output '%s': cannot create dataset '%s'", o->final_path, s->name) : 0;
}

/* The table: one row per item, contiguous (every row is written once, by a batch or at commit: no fill). */
static int create_table(inb_h5_output *o) {
  hsize_t dims[1] = {(hsize_t)o->length};
  hid_t space = H5Screate_simple(1, dims, NULL), mem = inb__h5_table_type(false), file = inb__h5_table_type(true),
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
  inb__h5_tablerow fill = not_run_row(-1); /* what a reader of an unwritten row would see */
  H5Pset_fill_value(dcpl, mem, &fill);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  o->table = H5Dcreate2(o->file, TABLE, file, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Tclose(file);
  H5Tclose(mem);
  H5Sclose(space);
  return o->table < 0 ? inb__err(INB_EIO, "output '%s': cannot create the results table '%s'", o->final_path, TABLE)
                      : 0;
}

/* The failure records: none yet, extended per batch (a resumable output's: all of them, at commit). */
int inb__h5_create_errors(inb_h5_output *o, int64_t n) {
  hsize_t dims[1] = {(hsize_t)n}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {ERRORS_CHUNK};
  hid_t space = H5Screate_simple(1, dims, maxdims), file = errors_type(true), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  /* chunks allocated by the collective create or extension, so that rank 0 alone may write into them */
  if (o->hc.comm != MPI_COMM_NULL) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  o->errors = H5Dcreate2(o->file, ERRORS, file, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Tclose(file);
  H5Sclose(space);
  return o->errors < 0 ? inb__err(INB_EIO, "output '%s': cannot create the failure records '%s'", o->final_path,
                                  ERRORS)
                       : 0;
}

hid_t inb__h5_output_fapl(const inb_h5_output *o) {
  hid_t fapl = inb__h5_fapl(&o->hc);
  if (fapl >= 0 && o->resumable) H5Pset_sieve_buf_size(fapl, 0);
  return fapl;
}

static int create_file(inb_h5_output *o, const inb_h5_output_spec *specs) {
  if (o->hc.rank == 0) { /* the files of a run that died */
    unlink(o->tmp_path);
    unlink(o->errors_path);
    if (o->scratch_path) unlink(o->scratch_path);
  }
  inb__h5_barrier(&o->hc);
  hid_t fapl = inb__h5_output_fapl(o);
  o->file = H5Fcreate(o->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (o->file >= 0 && o->scratch_path) o->scratch = H5Fcreate(o->scratch_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (o->file < 0) return inb__err(INB_EIO, "output '%s': cannot create '%s'", o->final_path, o->tmp_path);
  if (o->scratch_path && o->scratch < 0)
    return inb__err(INB_EIO, "output '%s': cannot create its scratch file '%s'", o->final_path, o->scratch_path);
  /* Each create is collective: a rank whose earlier step failed here (its own memory) still makes the rest, so
   * the ranks stay paired; the failure is agreed after. */
  int rc = 0;
  for (size_t k = 0; k < o->n; k++) {
    int drc = create_dataset(o, &specs[k], &o->outs[k]);
    if (!rc) rc = drc;
  }
  int trc = create_table(o), erc = o->resumable ? 0 : inb__h5_create_errors(o, 0);
  rc = rc ? rc : trc ? trc : erc;
  /* the mark is collective too: made whatever the rank's status, agreed after */
  int mrc = o->resumable ? inb__h5_resume_mark(o) : 0;
  return rc ? rc : mrc;
}

/* Closes every dataset and the file (collective), reporting the first failure: a close that fails may have
 * lost the last writes. */
int inb__h5_close_all(inb_h5_output *o) {
  int rc = 0;
  for (size_t k = 0; o->outs && k < o->n; k++) {
    if (o->outs[k].c.dset >= 0 && INB__H5(H5Dclose(o->outs[k].c.dset)) < 0 && !rc)
      rc = inb__err(INB_EIO, "output '%s': dataset '%s': closing it failed", o->final_path, o->outs[k].c.path);
    o->outs[k].c.dset = H5I_INVALID_HID;
    inb__free(o->outs[k].c.path);
    o->outs[k].c.path = NULL;
    inb__free(o->outs[k].kept);
    o->outs[k].kept = NULL;
  }
  if (o->table >= 0 && INB__H5(H5Dclose(o->table)) < 0 && !rc)
    rc = inb__err(INB_EIO, "output '%s': dataset '%s': closing it failed", o->final_path, TABLE);
  if (o->errors >= 0 && INB__H5(H5Dclose(o->errors)) < 0 && !rc)
    rc = inb__err(INB_EIO, "output '%s': dataset '%s': closing it failed", o->final_path, ERRORS);
  if (o->file >= 0 && INB__H5(H5Fclose(o->file)) < 0 && !rc)
    rc = inb__err(INB_EIO, "output '%s': closing '%s' failed (its last writes may be lost)", o->final_path,
                  o->tmp_path);
  if (o->scratch >= 0 && INB__H5(H5Fclose(o->scratch)) < 0 && !rc)
    rc = inb__err(INB_EIO, "output '%s': closing its scratch file '%s' failed", o->final_path, o->scratch_path);
  o->file = o->table = o->errors = o->scratch = H5I_INVALID_HID;
  return rc;
}

/* Rank 0, when the output ends either way: the scratch file goes (nobody reads it after the run). */
void inb__h5_remove_scratch(const inb_h5_output *o) {
  if (o->hc.rank == 0 && o->scratch_path) unlink(o->scratch_path);
}

void inb__h5_output_free(inb_h5_output *o) {
  inb__free(o->outs);
  inb__free(o->active);
  inb__free(o->names);
  inb__free(o->kept_index);
  inb__free(o->written);
  inb__free(o->failed);
  inb__free(o->errors_path);
  inb__free(o->final_path);
  inb__free(o->tmp_path);
  inb__free(o->scratch_path);
  inb__free(o);
}

uint64_t inb__h5_create_digest(const char *call, const char *path, const inb_h5_output_spec *specs, size_t n,
                               int64_t length, bool overwrite) {
  uint64_t h = inb__digest_str(INB__DIGEST_START, call);
  h = inb__digest_str(h, path);
  h = inb__digest_i64(h, length);
  h = inb__digest_i64(h, overwrite);
  h = inb__digest_i64(h, (int64_t)n);
  for (size_t k = 0; specs && k < n; k++) {
    const inb_h5_output_spec *s = &specs[k];
    h = inb__digest_str(h, s->name);
    int64_t v[9] = {s->dtype, s->ndim, s->chunk_items, s->deflate, s->codec, s->level, s->shuffle,
                    s->blosc_compressor, s->scratch};
    h = inb__digest_bytes(h, v, sizeof v);
    for (int d = 0; d < s->ndim && d < INB_MAX_DIMS; d++) h = inb__digest_i64(h, s->shape[d]);
  }
  return h;
}

static const char *call_name(inb__h5_mode mode) {
  return mode == INB__H5_NEW ? "inb_h5_create" : mode == INB__H5_NEW_RESUMABLE ? "inb_h5_create_resumable"
                                                                               : "inb_h5_reopen";
}

/* Rank 0, to reopen: the partial must be there. */
static int check_partial(const inb_h5_output *o) {
  struct stat st;
  if (stat(o->tmp_path, &st) == 0) return 0;
  return inb__err(INB_ENOTFOUND, "output '%s': no partial '%s' to go on with (a resumable output that was kept or "
                                 "stopped leaves one; inb_h5_create_resumable starts a new one)", o->final_path,
                  o->tmp_path);
}

int inb__h5_prepare(inb_h5_output *o, const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length,
                    bool overwrite, inb__h5_mode mode) {
  o->file = o->table = o->errors = o->scratch = H5I_INVALID_HID;
  o->length = length;
  o->n = n;
  o->overwrite = overwrite;
  o->resumable = mode != INB__H5_NEW;
  o->final_path = inb__strdup(path ? path : "");
  o->tmp_path = path ? hidden_name(path, "partial") : NULL;
  o->errors_path = path ? hidden_name(path, "errors") : NULL;
  o->outs = inb__calloc(n + 1, sizeof *o->outs);
  o->names = inb__calloc(n + 1, sizeof *o->names);
  o->active = inb__calloc(n + 1, sizeof *o->active);
  for (size_t k = 0; o->outs && k < n; k++) o->outs[k].c.dset = H5I_INVALID_HID;
  for (size_t k = 0; o->active && k < n; k++) o->active[k] = true;
  bool any_scratch = false;
  for (size_t k = 0; specs && k < n; k++) any_scratch |= specs[k].scratch;
  if (path && any_scratch) o->scratch_path = hidden_name(path, "scratch");
  int rc = !path || !*path ? inb__err(INB_EINVAL, "%s: no file name", call_name(mode))
           : !o->final_path || !o->tmp_path || !o->errors_path || !o->outs || !o->names || !o->active ||
                     (any_scratch && !o->scratch_path)
               ? inb__err(INB_ENOMEM, "out of memory")
           : length < 0 ? inb__err(INB_EINVAL, "output '%s': negative length %lld", path, (long long)length) : 0;
  for (size_t k = 0; !rc && k < n; k++) {
    rc = check_spec(path, &specs[k], length, mode);
    o->names[k] = specs[k].name;
    for (size_t j = 0; !rc && j < k; j++)
      if (strcmp(specs[j].name, specs[k].name) == 0)
        rc = inb__err(INB_EINVAL, "output '%s': dataset '%s' named twice", path, specs[k].name);
  }
  if (!rc && o->hc.rank == 0 && mode == INB__H5_REOPEN) rc = check_partial(o);
  if (!rc && o->hc.rank == 0) rc = check_target(path, overwrite);
  if (!rc && o->hc.rank == 0 && !(o->written = inb__bits_new((size_t)length)))
    rc = inb__err(INB_ENOMEM, "output '%s': out of memory for the map of %lld rows", path, (long long)length);
  if (!rc && o->hc.rank == 0 && o->resumable && !(o->failed = inb__bits_new((size_t)length)))
    rc = inb__err(INB_ENOMEM, "output '%s': out of memory for the map of %lld rows", path, (long long)length);
  return rc;
}

int inb__h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                   void *comm, inb__h5_mode mode, inb_h5_output **out) {
  *out = NULL;
  inb__h5_quiet();
  inb__h5comm hc;
  inb__h5comm_resolve(&hc, comm);
  const char *call = call_name(mode);
  inb_h5_output *o = inb__calloc(1, sizeof *o);
  int rc = o ? (o->hc = hc, inb__h5_prepare(o, path, specs, n, length, overwrite, mode))
             : inb__err(INB_ENOMEM, "%s: out of memory", call);
  char what[1200];
  snprintf(what, sizeof what, "%s '%s' (rank 0's)", call, path ? path : "");
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&hc, rc, inb__h5_create_digest(call, path, specs, n, length, overwrite), what, &held);
  if (o) o->hc = hc;
  if (!rc) rc = inb__h5_agree(&o->hc, create_file(o, specs));
  if (rc && o && o->file >= 0) { /* every rank created the file: every rank closes it */
    inb__h5_close_all(o);
    if (o->hc.rank == 0) unlink(o->tmp_path);
    inb__h5_remove_scratch(o);
  }
  if (rc) {
    if (o) inb__h5_output_free(o);
    inb__h5_leave(held);
    return rc;
  }
  inb__h5_leave(held);
  *out = o;
  return 0;
}

int inb_h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out) {
  return inb__h5_create(path, specs, n, length, overwrite, comm, INB__H5_NEW, out);
}

/* Gives the partial file its final name. Without overwrite a file that appeared meanwhile is never replaced:
 * link() fails when the name exists, where rename() would replace it. */
static int publish(const inb_h5_output *o) {
  if (o->overwrite) return rename(o->tmp_path, o->final_path);
  if (link(o->tmp_path, o->final_path) != 0) return -1;
  unlink(o->tmp_path);
  return 0;
}

/* Rank 0: the table rows of [first, first + n), in memory order, as a hyperslab of the table. Independent. */
static int write_table_run(inb_h5_output *o, hid_t mem, int64_t first, size_t n, const inb__h5_tablerow *rows) {
  hsize_t start[1] = {(hsize_t)first}, count[1] = {n};
  hid_t fspace = H5Dget_space(o->table), mspace = H5Screate_simple(1, count, NULL);
  herr_t h = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
  if (h >= 0) h = INB__H5(H5Dwrite(o->table, mem, mspace, fspace, H5P_DEFAULT, rows));
  H5Sclose(mspace);
  H5Sclose(fspace);
  return h < 0 ? inb__err(INB_EIO, "output '%s': dataset '%s': writing %zu rows failed", o->final_path, TABLE, n)
               : 0;
}

/* Rank 0, at commit: every row no batch wrote becomes "not run" with its own index. */
static int write_not_run(inb_h5_output *o) {
  if (!o->written) return 0;
  inb__h5_tablerow *buf = NULL;
  hid_t mem = inb__h5_table_type(false);
  int rc = 0;
  for (int64_t i = 0; !rc && i < o->length;) {
    if ((i & 63) == 0 && o->written[i >> 6] == UINT64_MAX) { /* 64 rows written: the usual case */
      i += 64;
      continue;
    }
    if (inb__bit(o->written, (size_t)i)) {
      i++;
      continue;
    }
    int64_t j = i;
    while (j < o->length && j - i < NOT_RUN_PIECE && !inb__bit(o->written, (size_t)j)) j++;
    if (!buf && !(buf = inb__malloc(NOT_RUN_PIECE * sizeof *buf))) {
      rc = inb__err(INB_ENOMEM, "output '%s': out of memory for the rows of items not run", o->final_path);
      break;
    }
    for (int64_t k = i; k < j; k++) buf[k - i] = not_run_row(k);
    rc = write_table_run(o, mem, i, (size_t)(j - i), buf);
    i = j;
  }
  H5Tclose(mem);
  inb__free(buf);
  return rc;
}

int inb__h5_put_string(inb_h5_output *o, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
  H5Tset_size(type, strlen(value) + 1);
  H5Tset_strpad(type, H5T_STR_NULLTERM);
  if (H5Aexists(o->file, name) > 0) H5Adelete(o->file, name);
  hid_t attr = H5Acreate2(o->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t w = attr < 0 ? -1 : INB__H5(H5Awrite(attr, type, value));
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
  return w < 0 ? inb__err(INB_EIO, "output '%s': cannot write its attribute '%s'", o->final_path, name) : 0;
}

int inb_h5_annotate(inb_h5_output *o, const char *name, const char *value) {
  if (!o || !name) return inb__err(INB_EINVAL, "inb_h5_annotate: output or name is NULL");
  /* rank 0's words on every rank: HDF5 wants the same metadata from every rank of the file */
  uint8_t *buf = NULL;
  size_t n = 0, nlen = strlen(name);
  int rc = 0;
  if (o->hc.rank == 0) {
    n = nlen + 1 + (value ? strlen(value) : 0) + 1;
    if (!(buf = inb__malloc(n))) rc = inb__err(INB_ENOMEM, "out of memory");
    else snprintf((char *)buf, n, "%s%c%s", name, 0, value ? value : "");
  }
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_annotate '%s' (rank 0's)", o->final_path);
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&o->hc, rc, inb__digest_str(INB__DIGEST_START, "inb_h5_annotate"), what, &held);
  if (!rc && o->hc.comm != MPI_COMM_NULL) rc = inb__h5_agree(&o->hc, inb__msg_bcast(&buf, &n, o->hc.comm));
  if (rc) {
    inb__free(buf);
    inb__h5_leave(held);
    return rc;
  }
  const char *aname = (const char *)buf, *aval = aname + strlen(aname) + 1;
  rc = inb__h5_put_string(o, aname, aval);
  if (o->resumable) rc = inb__h5_resume_flush(o, rc); /* a kill later keeps it: the metadata is on the file */
  rc = inb__h5_agree(&o->hc, rc);
  inb__free(buf);
  inb__h5_leave(held);
  return rc;
}

int inb__h5_enter_end(inb_h5_output *o, const char *call, inb__ecomm **held) {
  char what[1200];
  snprintf(what, sizeof what, "%s '%s' (rank 0's)", call, o->final_path);
  uint64_t h = inb__digest_str(inb__digest_str(INB__DIGEST_START, call), o->final_path);
  return inb__h5_enter(&o->hc, 0, h, what, held);
}

int inb_h5_commit(inb_h5_output **op) {
  if (!op || !*op) return inb__err(INB_EINVAL, "inb_h5_commit: no output");
  inb_h5_output *o = *op;
  inb__ecomm *held = NULL;
  int rc = inb__h5_enter_end(o, "inb_h5_commit", &held);
  if (rc) return rc; /* the others are elsewhere: nothing collective, nothing committed; *op stays the caller's */
  *op = NULL;
  int lrc = o->hc.rank == 0 ? write_not_run(o) : 0;
  if (o->resumable && !(lrc = inb__h5_agree(&o->hc, lrc))) lrc = inb__h5_resume_commit(o);
  int crc = inb__h5_close_all(o); /* H5Fclose is collective: after it the file is complete on disk */
  rc = inb__h5_agree(&o->hc, lrc ? lrc : crc);
  if (!rc) {
    lrc = 0;
    char opened[1024];
    if (o->hc.rank == 0 && o->overwrite && inb__h5_is_open_input(o->final_path, opened, sizeof opened))
      lrc = inb__err(INB_EINVAL, "output '%s' is the file of input '%s', which is open: an output never replaces "
                                 "an open input (the output is removed)", o->final_path, opened);
    else if (o->hc.rank == 0 && publish(o) != 0)
      lrc = inb__err(INB_EIO, "output '%s': cannot rename '%s' to it: %s", o->final_path, o->tmp_path,
                     strerror(errno));
    rc = inb__h5_agree(&o->hc, lrc);
  }
  if (rc && o->hc.rank == 0) unlink(o->tmp_path);
  inb__h5_remove_scratch(o);
  if (o->resumable && o->hc.rank == 0) unlink(o->errors_path); /* after the rename: its records are in the file */
  inb__h5_barrier(&o->hc); /* no rank returns before the file has its final name, or is gone */
  inb__h5_output_free(o);
  inb__h5_leave(held);
  return rc;
}

void inb_h5_abort(inb_h5_output **op) {
  if (!op || !*op) return;
  inb_h5_output *o = *op;
  inb__ecomm *held = NULL;
  if (inb__h5_enter_end(o, "inb_h5_abort", &held)) return; /* the others are elsewhere (inb_errmsg() says): *op stays */
  *op = NULL;
  inb__h5_close_all(o);
  if (o->hc.rank == 0) unlink(o->tmp_path);
  if (o->hc.rank == 0 && o->resumable) unlink(o->errors_path);
  inb__h5_remove_scratch(o);
  inb__h5_barrier(&o->hc);
  inb__h5_output_free(o);
  inb__h5_leave(held);
}

/* ---- Rows of the outputs -------------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  void *q = inb__realloc(*p, c);
  if (!q) return INB_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

/* Writes rows index[0..n) (strictly increasing) of output d from buf, with dxpl (collective for compressed
 * outputs: then every rank calls, n == 0 with an empty selection). */
static int write_rows(inb_h5_output *o, inb__h5out *d, const int64_t *index, size_t n, const void *buf, hid_t dxpl) {
  hid_t fspace, mspace;
  herr_t h = -1;
  if (inb__h5_row_spaces(d->c.dset, &d->c, index, n, &fspace, &mspace) == 0) {
    h = INB__H5(H5Dwrite(d->c.dset, inb__h5_native(d->c.dtype), mspace, fspace, dxpl, buf));
    H5Sclose(mspace);
    H5Sclose(fspace);
  }
  return h < 0 ? inb__err(INB_EIO, "output '%s': dataset '%s': writing %zu rows failed", o->final_path, d->c.path, n)
               : 0;
}

/* Uncompressed outputs take independent writes: the rows go to the file at once, from the thread that ran the
 * chunk, with no copy and no wait for the batch's end. Only compressed outputs must be kept for the batch's
 * collective write (HDF5 1.10). */
static bool any_compressed(const inb_h5_output *o) {
  for (size_t k = 0; k < o->n; k++)
    if (o->active[k] && o->outs[k].compressed) return true;
  return false;
}

int inb__h5_activate(inb_h5_output *o, const char *const *names, size_t n) {
  for (size_t k = 0; k < o->n; k++) o->active[k] = !names;
  for (size_t j = 0; names && j < n; j++) {
    size_t k = 0;
    while (k < o->n && strcmp(o->names[k], names[j] ? names[j] : "") != 0) k++;
    if (k < o->n) {
      o->active[k] = true;
      continue;
    }
    char list[800] = "";
    for (size_t i = 0, used = 0; i < o->n && used < sizeof list; i++)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", o->names[i]);
    for (k = 0; k < o->n; k++) o->active[k] = true;
    return inb__err(INB_EINVAL, "output '%s': the plan names dataset '%s', which it does not have (it has: %s)",
                    o->final_path, names[j] ? names[j] : "(NULL)", list);
  }
  return 0;
}

size_t inb__h5_active(const inb_h5_output *o, const char **names, inb_array *rows) {
  size_t m = 0;
  for (size_t k = 0; k < o->n; k++)
    if (o->active[k]) {
      if (names) names[m] = o->names[k];
      if (rows) rows[m] = o->outs[k].row;
      m++;
    }
  return m;
}

static int write_now(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs) {
  int rc = 0;
  for (size_t k = 0, b = 0; k < o->n; k++) {
    if (!o->active[k]) continue;
    if (!rc && n) rc = write_rows(o, &o->outs[k], index, n, bufs[b], H5P_DEFAULT);
    inb__scratch_put(bufs[b++]);
  }
  return rc;
}

int inb__h5_keep(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs) {
  bool sorted = true;
  for (size_t i = 1; i < n && sorted; i++) sorted = index[i] > index[i - 1];
  if (sorted && !any_compressed(o)) return write_now(o, index, n, bufs);
  int rc = grow((void **)&o->kept_index, &o->kept_cap, (o->nkept + n) * sizeof *o->kept_index);
  if (!rc && n) memcpy(o->kept_index + o->nkept, index, n * sizeof *index); /* n == 0: nothing allocated yet */
  for (size_t k = 0, b = 0; k < o->n; k++) {
    if (!o->active[k]) continue;
    inb__h5out *d = &o->outs[k];
    size_t rb = inb__array_bytes(&d->row);
    if (!rc) rc = grow((void **)&d->kept, &d->kept_cap, (o->nkept + n) * rb + 1);
    if (!rc && n) memcpy(d->kept + o->nkept * rb, bufs[b], n * rb);
    inb__scratch_put(bufs[b++]);
  }
  if (!rc) o->nkept += n;
  return rc ? inb__err(INB_ENOMEM, "output '%s': out of memory keeping %zu rows", o->final_path, n) : 0;
}

typedef struct {
  int64_t index;
  size_t at;
} keyed;

static int by_index(const void *a, const void *b) {
  int64_t x = ((const keyed *)a)->index, y = ((const keyed *)b)->index;
  return (x > y) - (x < y);
}

/* Sorts the kept rows by item: HDF5 moves a selection's elements in file order. Rows usually arrive sorted
 * already (chunks are claimed in increasing order): then nothing is copied. */
static int sort_kept(inb_h5_output *o) {
  bool sorted = true;
  for (size_t i = 1; i < o->nkept && sorted; i++) sorted = o->kept_index[i] > o->kept_index[i - 1];
  if (sorted) return 0;
  keyed *k = inb__malloc((o->nkept + 1) * sizeof *k);
  if (!k) return INB_ENOMEM;
  for (size_t i = 0; i < o->nkept; i++) k[i] = (keyed){o->kept_index[i], i};
  qsort(k, o->nkept, sizeof *k, by_index);
  int rc = 0;
  for (size_t j = 0; !rc && j < o->n; j++) {
    if (!o->active[j]) continue;
    inb__h5out *d = &o->outs[j];
    size_t rb = inb__array_bytes(&d->row);
    uint8_t *sorted = inb__malloc(o->nkept * rb + 1);
    if (!sorted) rc = INB_ENOMEM;
    for (size_t i = 0; !rc && i < o->nkept; i++) memcpy(sorted + i * rb, d->kept + k[i].at * rb, rb);
    if (!rc) {
      inb__free(d->kept);
      d->kept = sorted;
      d->kept_cap = o->nkept * rb + 1;
    }
  }
  for (size_t i = 0; !rc && i < o->nkept; i++) o->kept_index[i] = k[i].index;
  inb__free(k);
  return rc;
}

int inb__h5_write_kept(inb_h5_output *o) {
  int rc = inb__h5_agree(&o->hc, sort_kept(o) ? inb__err(INB_ENOMEM, "out of memory sorting rows") : 0);
  hid_t coll = H5Pcreate(H5P_DATASET_XFER), indep = H5P_DEFAULT;
  if (o->hc.comm != MPI_COMM_NULL) H5Pset_dxpl_mpio(coll, H5FD_MPIO_COLLECTIVE);
  for (size_t j = 0; !rc && j < o->n; j++) {
    if (!o->active[j]) continue; /* the same on every rank: the run's plan is */
    inb__h5out *d = &o->outs[j];
    int lrc = 0;
    if (d->compressed || o->nkept) /* compressed: every rank joins, even with nothing to write */
      lrc = write_rows(o, d, o->kept_index, o->nkept, d->kept, d->compressed ? coll : indep);
    rc = inb__h5_agree(&o->hc, lrc);
  }
  H5Pclose(coll);
  o->nkept = 0;
  return rc;
}

/* ---- A batch's results ---------------------------------------------------------------------------------- */

static int by_row_index(const void *a, const void *b) {
  int64_t x = ((const inb__h5_tablerow *)a)->index, y = ((const inb__h5_tablerow *)b)->index;
  return (x > y) - (x < y);
}

static int by_err_index(const void *a, const void *b) {
  int64_t x = ((const inb__h5_errrow *)a)->index, y = ((const inb__h5_errrow *)b)->index;
  return (x > y) - (x < y);
}

/* Up to this many runs of consecutive items a selection is a union of hyperslabs; past it, a list of points
 * (building a union of many hyperslabs costs more than the write). */
enum { MAX_RUNS = 8 };

/* Rank 0: the batch's table rows (sorted here), each at its item's row, in one transfer. */
static int write_table(inb_h5_output *o, inb__h5_tablerow *rows, size_t n) {
  bool sorted = true;
  size_t runs = 1;
  for (size_t i = 1; i < n; i++) {
    sorted = sorted && rows[i].index > rows[i - 1].index;
    runs += rows[i].index != rows[i - 1].index + 1;
  }
  if (!sorted) {
    qsort(rows, n, sizeof *rows, by_row_index);
    runs = 1;
    for (size_t i = 1; i < n; i++) runs += rows[i].index != rows[i - 1].index + 1;
  }
  hid_t mem = inb__h5_table_type(false);
  int rc = 0;
  if (runs == 1) {
    rc = write_table_run(o, mem, rows[0].index, n, rows);
  } else {
    hsize_t count[1] = {n};
    hid_t fspace = H5Dget_space(o->table), mspace = H5Screate_simple(1, count, NULL);
    herr_t h = 0;
    hsize_t *points = NULL;
    if (runs <= MAX_RUNS) {
      H5Sselect_none(fspace);
      for (size_t i = 0; h >= 0 && i < n;) {
        size_t j = i + 1;
        while (j < n && rows[j].index == rows[j - 1].index + 1) j++;
        hsize_t start[1] = {(hsize_t)rows[i].index}, len[1] = {j - i};
        h = H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start, NULL, len, NULL);
        i = j;
      }
    } else if ((points = inb__malloc(n * sizeof *points))) {
      for (size_t i = 0; i < n; i++) points[i] = (hsize_t)rows[i].index;
      h = H5Sselect_elements(fspace, H5S_SELECT_SET, n, points);
    } else {
      h = -1;
    }
    if (h >= 0) h = INB__H5(H5Dwrite(o->table, mem, mspace, fspace, H5P_DEFAULT, rows));
    inb__free(points);
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (h < 0) rc = inb__err(INB_EIO, "output '%s': dataset '%s': writing %zu rows failed", o->final_path, TABLE, n);
  }
  H5Tclose(mem);
  for (size_t i = 0; !rc && i < n; i++) inb__bit_set(o->written, (size_t)rows[i].index);
  for (size_t i = 0; !rc && o->failed && i < n; i++) /* a later run's row replaces an earlier one's */
    (rows[i].state == INB_H5_FAILED ? inb__bit_set : inb__bit_clear)(o->failed, (size_t)rows[i].index);
  return rc;
}

int inb__h5_write_errors(inb_h5_output *o, const inb__h5_errrow *errs, size_t n, int64_t at) {
  hsize_t start[1] = {(hsize_t)at}, count[1] = {n};
  hid_t mem = errors_type(false), fspace = H5Dget_space(o->errors), mspace = H5Screate_simple(1, count, NULL);
  herr_t h = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
  if (h >= 0) h = INB__H5(H5Dwrite(o->errors, mem, mspace, fspace, H5P_DEFAULT, errs));
  H5Sclose(mspace);
  H5Sclose(fspace);
  H5Tclose(mem);
  return h < 0 ? inb__err(INB_EIO, "output '%s': dataset '%s': writing %zu records failed", o->final_path, ERRORS, n)
               : 0;
}

/* A resumable output's batch: the records first, so that a table row that says failed (in the file once written:
 * the sieve buffer is off) always has its record in the side file; then the table rows; then, now and then, a
 * flush. */
static int write_results_resumable(inb_h5_output *o, inb__h5_tablerow *rows, size_t nrows, inb__h5_errrow *errs,
                                   size_t nerrs) {
  bool writer = o->hc.rank == 0;
  int rc = writer && nerrs ? inb__h5_resume_append(o, errs, nerrs) : 0;
  if (!rc && writer && nrows) rc = write_table(o, rows, nrows);
  return inb__h5_agree(&o->hc, inb__h5_resume_batch_end(o, rc));
}

int inb__h5_write_results(inb_h5_output *o, inb__h5_tablerow *rows, size_t nrows, inb__h5_errrow *errs,
                          size_t nerrs) {
  bool writer = o->hc.rank == 0;
  if (writer && nerrs) qsort(errs, nerrs, sizeof *errs, by_err_index); /* by item within the batch */
  if (o->resumable) return write_results_resumable(o, rows, nrows, errs, nerrs);
  int rc = writer && nrows ? write_table(o, rows, nrows) : 0;
  int64_t add = writer && !rc ? (int64_t)nerrs : 0; /* rank 0's count, the same on every rank */
  if (o->hc.comm != MPI_COMM_NULL) MPI_Bcast(&add, 1, MPI_INT64_T, 0, o->hc.comm);
  if (add) {
    hsize_t size[1] = {(hsize_t)(o->nerrors + add)};
    if (INB__H5(H5Dset_extent(o->errors, size)) < 0) /* collective: every rank makes the call */
      rc = inb__err(INB_EIO, "output '%s': dataset '%s': extending it to %lld records failed", o->final_path, ERRORS,
                    (long long)size[0]);
    if (!rc && writer) rc = inb__h5_write_errors(o, errs, nerrs, o->nerrors);
    o->nerrors += add;
  }
  return inb__h5_agree(&o->hc, rc);
}
