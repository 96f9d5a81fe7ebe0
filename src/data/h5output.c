/* HDF5 outputs: created collectively under a temporary name next to the target, renamed on commit, removed on
 * abort, so an output is never left looking complete when it is not. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/scratch.h"
#include "data/h5output.h"

#define TABLE "/inbatch_results"

static hid_t table_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(inb__h5_tablerow));
  hid_t msg = H5Tcopy(H5T_C_S1);
  H5Tset_size(msg, sizeof(((inb__h5_tablerow *)0)->message));
  H5Tset_strpad(msg, H5T_STR_NULLTERM);
  H5Tinsert(t, "index", HOFFSET(inb__h5_tablerow, index), H5T_NATIVE_INT64);
  H5Tinsert(t, "ok", HOFFSET(inb__h5_tablerow, ok), H5T_NATIVE_INT8);
  H5Tinsert(t, "code", HOFFSET(inb__h5_tablerow, code), H5T_NATIVE_INT32);
  H5Tinsert(t, "value", HOFFSET(inb__h5_tablerow, value), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "message", HOFFSET(inb__h5_tablerow, message), msg);
  H5Tclose(msg);
  return t;
}

static int check_spec(const char *path, const inb_h5_output_spec *s) {
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
  if (s->chunk_items < 0 || s->deflate < 0 || s->deflate > 9 || (s->deflate && !s->chunk_items))
    return inb__err(INB_EINVAL, "output '%s': dataset '%s': deflate must be 0..9 and needs chunk_items > 0", path,
                    s->name);
  return 0;
}

/* Rank 0's checks of the target: refused if it exists (unless overwrite), its directory must be writable. */
static int check_target(const char *path, bool overwrite) {
  struct stat st;
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

static char *partial_name(const char *path) {
  char *a = inb__strdup(path), *b = inb__strdup(path);
  char *out = NULL;
  if (a && b) {
    const char *dir = dirname(a), *base = basename(b);
    size_t n = strlen(dir) + strlen(base) + 32;
    out = inb__malloc(n);
    if (out) snprintf(out, n, "%s/.%s.inbatch-partial", dir, base);
  }
  inb__free(a);
  inb__free(b);
  return out;
}

static int create_dataset(inb_h5_output *o, const inb_h5_output_spec *s, inb__h5out *d) {
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
  d->compressed = s->deflate > 0;
  for (int k = 0; k <= s->ndim; k++) maxdims[k] = dims[k];
  if (!dims[0] && s->chunk_items) maxdims[0] = H5S_UNLIMITED; /* an empty chunked dataset: chunks exceed it */
  hid_t space = H5Screate_simple(s->ndim + 1, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every row is written: filling first would write twice */
  if (s->chunk_items) H5Pset_chunk(dcpl, s->ndim + 1, chunk);
  if (s->deflate) H5Pset_deflate(dcpl, (unsigned)s->deflate);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  d->c.dset = H5Dcreate2(o->file, s->name, inb__h5_native(s->dtype), space, lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(space);
  if (!d->c.path) return inb__err(INB_ENOMEM, "out of memory");
  return d->c.dset < 0 ? inb__err(INB_EIO, "output '%s': cannot create dataset '%s'", o->final_path, s->name) : 0;
}

static int create_table(inb_h5_output *o) {
  hsize_t dims[1] = {(hsize_t)o->length};
  hid_t space = H5Screate_simple(1, dims, NULL), type = table_type(), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  o->table = H5Dcreate2(o->file, TABLE, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Tclose(type);
  H5Sclose(space);
  return o->table < 0 ? inb__err(INB_EIO, "output '%s': cannot create the results table", o->final_path) : 0;
}

static int create_file(inb_h5_output *o, const inb_h5_output_spec *specs) {
  if (o->hc.rank == 0) unlink(o->tmp_path); /* a partial file from a run that died */
  if (o->hc.comm != MPI_COMM_NULL) MPI_Barrier(o->hc.comm);
  hid_t fapl = inb__h5_fapl(&o->hc);
  o->file = H5Fcreate(o->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  int rc = o->file < 0 ? inb__err(INB_EIO, "output '%s': cannot create '%s'", o->final_path, o->tmp_path) : 0;
  for (size_t k = 0; !rc && k < o->n; k++) rc = create_dataset(o, &specs[k], &o->outs[k]);
  if (!rc) rc = create_table(o);
  return rc;
}

static void close_all(inb_h5_output *o) {
  for (size_t k = 0; o->outs && k < o->n; k++) {
    if (o->outs[k].c.dset >= 0) H5Dclose(o->outs[k].c.dset);
    inb__free(o->outs[k].c.path);
    inb__free(o->outs[k].kept);
  }
  if (o->table >= 0) H5Dclose(o->table);
  if (o->file >= 0) H5Fclose(o->file);
  o->file = o->table = H5I_INVALID_HID;
}

static void free_output(inb_h5_output *o) {
  inb__free(o->outs);
  inb__free(o->names);
  inb__free(o->kept_index);
  inb__free(o->final_path);
  inb__free(o->tmp_path);
  inb__free(o);
}

int inb_h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out) {
  *out = NULL;
  inb__h5_quiet();
  inb_h5_output *o = inb__calloc(1, sizeof *o);
  if (!o) return inb__err(INB_ENOMEM, "out of memory");
  inb__h5comm_init(&o->hc, comm);
  o->file = o->table = H5I_INVALID_HID;
  o->length = length;
  o->n = n;
  o->overwrite = overwrite;
  o->final_path = inb__strdup(path ? path : "");
  o->tmp_path = path ? partial_name(path) : NULL;
  o->outs = inb__calloc(n + 1, sizeof *o->outs);
  o->names = inb__calloc(n + 1, sizeof *o->names);
  int rc = !path || !*path ? inb__err(INB_EINVAL, "inb_h5_create: no file name")
           : !o->final_path || !o->tmp_path || !o->outs || !o->names ? inb__err(INB_ENOMEM, "out of memory")
           : length < 0 ? inb__err(INB_EINVAL, "output '%s': negative length %lld", path, (long long)length) : 0;
  for (size_t k = 0; !rc && k < n; k++) {
    rc = check_spec(path, &specs[k]);
    o->names[k] = specs[k].name;
    for (size_t j = 0; !rc && j < k; j++)
      if (strcmp(specs[j].name, specs[k].name) == 0)
        rc = inb__err(INB_EINVAL, "output '%s': dataset '%s' named twice", path, specs[k].name);
  }
  if (!rc && o->hc.rank == 0) rc = check_target(path, overwrite);
  rc = inb__h5_agree(&o->hc, rc);
  for (size_t k = 0; o->outs && k < n; k++) o->outs[k].c.dset = H5I_INVALID_HID;
  if (!rc) rc = inb__h5_agree(&o->hc, create_file(o, specs));
  if (rc) {
    close_all(o);
    if (o->hc.rank == 0 && o->tmp_path) unlink(o->tmp_path);
    free_output(o);
    return rc;
  }
  *out = o;
  return 0;
}

/* Gives the partial file its final name. Without overwrite a file that appeared meanwhile is never replaced:
 * link() fails when the name exists, where rename() would replace it. */
static int publish(const inb_h5_output *o) {
  if (o->overwrite) return rename(o->tmp_path, o->final_path);
  if (link(o->tmp_path, o->final_path) != 0) return -1;
  unlink(o->tmp_path);
  return 0;
}

int inb_h5_commit(inb_h5_output **op) {
  if (!op || !*op) return inb__err(INB_EINVAL, "inb_h5_commit: no output");
  inb_h5_output *o = *op;
  close_all(o); /* H5Fclose is collective: after it the file is complete on disk */
  int rc = 0;
  if (o->hc.rank == 0 && publish(o) != 0) {
    rc = inb__err(INB_EIO, "output '%s': cannot rename '%s' to it: %s", o->final_path, o->tmp_path, strerror(errno));
    unlink(o->tmp_path);
  }
  rc = inb__h5_agree(&o->hc, rc);
  free_output(o);
  *op = NULL;
  return rc;
}

void inb_h5_abort(inb_h5_output **op) {
  if (!op || !*op) return;
  inb_h5_output *o = *op;
  close_all(o);
  if (o->hc.rank == 0) unlink(o->tmp_path);
  if (o->hc.comm != MPI_COMM_NULL) MPI_Barrier(o->hc.comm);
  free_output(o);
  *op = NULL;
}

/* ---- Rows kept per batch ------------------------------------------------------------------------------- */

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

/* Uncompressed outputs take independent writes: the rows go to the file at once, from the thread that ran the
 * chunk, with no copy and no wait for the batch's end. Only compressed outputs must be kept for the batch's
 * collective write (HDF5 1.10). */
static bool any_compressed(const inb_h5_output *o) {
  for (size_t k = 0; k < o->n; k++)
    if (o->outs[k].compressed) return true;
  return false;
}

static int write_now(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs) {
  int rc = 0;
  for (size_t k = 0; k < o->n; k++) {
    if (!rc && n && inb__h5_rows(o->outs[k].c.dset, &o->outs[k].c, index, n, bufs[k], true, H5P_DEFAULT))
      rc = inb__err(INB_EIO, "output '%s': writing %zu rows of '%s' failed", o->final_path, n, o->outs[k].c.path);
    inb__scratch_put(bufs[k]);
  }
  return rc;
}

int inb__h5_keep(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs) {
  bool sorted = true;
  for (size_t i = 1; i < n && sorted; i++) sorted = index[i] > index[i - 1];
  if (sorted && !any_compressed(o)) return write_now(o, index, n, bufs);
  int rc = grow((void **)&o->kept_index, &o->kept_cap, (o->nkept + n) * sizeof *o->kept_index);
  if (!rc && n) memcpy(o->kept_index + o->nkept, index, n * sizeof *index); /* n == 0: nothing allocated yet */
  for (size_t k = 0; k < o->n; k++) {
    inb__h5out *d = &o->outs[k];
    size_t rb = inb__array_bytes(&d->row);
    if (!rc) rc = grow((void **)&d->kept, &d->kept_cap, (o->nkept + n) * rb + 1);
    if (!rc && n) memcpy(d->kept + o->nkept * rb, bufs[k], n * rb);
    inb__scratch_put(bufs[k]);
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
    inb__h5out *d = &o->outs[j];
    int lrc = 0;
    if (d->compressed || o->nkept) /* compressed: every rank joins, even with nothing to write */
      lrc = inb__h5_rows(d->c.dset, &d->c, o->kept_index, o->nkept, d->kept, true, d->compressed ? coll : indep);
    if (lrc) lrc = inb__err(INB_EIO, "output '%s': writing %zu rows of '%s' failed", o->final_path, o->nkept, d->c.path);
    rc = inb__h5_agree(&o->hc, lrc);
  }
  H5Pclose(coll);
  o->nkept = 0;
  return rc;
}

int inb__h5_write_table(inb_h5_output *o, const inb__h5_tablerow *rows, size_t n) {
  if (!n) return 0;
  hid_t type = table_type(), fspace = H5Dget_space(o->table);
  hsize_t mdims[1] = {n};
  hid_t mspace = H5Screate_simple(1, mdims, NULL);
  H5Sselect_none(fspace);
  hsize_t start[1], count[1] = {1};
  for (size_t i = 0; i < n; i++) {
    start[0] = (hsize_t)rows[i].index;
    H5Sselect_hyperslab(fspace, H5S_SELECT_OR, start, NULL, count, NULL);
  }
  herr_t h = H5Dwrite(o->table, type, mspace, fspace, H5P_DEFAULT, rows);
  H5Sclose(mspace);
  H5Sclose(fspace);
  H5Tclose(type);
  return h < 0 ? inb__err(INB_EIO, "output '%s': writing %zu rows of the results table failed", o->final_path, n) : 0;
}
