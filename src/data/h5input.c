/* HDF5 inputs: named components whose first dimension is the item count, and reads of their rows. */
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/scratch.h"
#include "data/h5common.h"
#include "data/h5input.h"

static void free_components(inb_h5_input *in) {
  for (size_t j = 0; in->comps && j < in->n; j++) {
    if (in->comps[j].dset >= 0) (void)INB__H5(H5Dclose(in->comps[j].dset)); /* read-only: nothing is lost */
    inb__free(in->comps[j].path);
    if (in->aliases) inb__free(in->aliases[j]);
  }
  inb__free(in->aliases);
  inb__free(in->comps);
  inb__free(in->names);
}

/* ---- The inputs open in this process, so that an output never replaces one (inb_h5_create) ----------- */

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static inb_h5_input **open_inputs;
static size_t n_open, open_cap;

static void register_input(inb_h5_input *in) {
  struct stat st;
  if (stat(in->file_path, &st) != 0) return;
  in->dev = st.st_dev;
  in->ino = st.st_ino;
  pthread_mutex_lock(&open_mu);
  if (n_open == open_cap) {
    size_t cap = open_cap ? 2 * open_cap : 8;
    inb_h5_input **p = inb__realloc(open_inputs, cap * sizeof *p);
    if (p) open_inputs = p, open_cap = cap;
  }
  if (n_open < open_cap) { /* out of memory: the input opens anyway, only unguarded */
    open_inputs[n_open++] = in;
    in->registered = true;
  }
  pthread_mutex_unlock(&open_mu);
}

static void unregister_input(inb_h5_input *in) {
  if (!in->registered) return;
  pthread_mutex_lock(&open_mu);
  for (size_t k = 0; k < n_open; k++)
    if (open_inputs[k] == in) {
      open_inputs[k] = open_inputs[--n_open];
      break;
    }
  if (!n_open) { /* the last one: the registry holds no memory between uses */
    inb__free(open_inputs);
    open_inputs = NULL;
    open_cap = 0;
  }
  pthread_mutex_unlock(&open_mu);
  in->registered = false;
}

bool inb__h5_is_open_input(const char *path, char *opened, size_t cap) {
  struct stat st;
  if (!path || stat(path, &st) != 0) return false;
  bool found = false;
  pthread_mutex_lock(&open_mu);
  for (size_t k = 0; k < n_open && !found; k++)
    if (open_inputs[k]->dev == st.st_dev && open_inputs[k]->ino == st.st_ino) {
      found = true;
      snprintf(opened, cap, "%s", open_inputs[k]->file_path);
    }
  pthread_mutex_unlock(&open_mu);
  return found;
}

int inb__h5_open_component(hid_t file, const char *file_path, const char *path, inb__h5comp *c) {
  char what[1200];
  snprintf(what, sizeof what, "input '%s': dataset '%s'", file_path, path);
  c->dset = H5I_INVALID_HID;
  if (!path || !*path) return inb__err(INB_EINVAL, "input '%s': empty dataset name", file_path);
  if (H5Lexists(file, path, H5P_DEFAULT) <= 0) {
    char list[800];
    inb__h5_list_datasets(file, list, sizeof list);
    return inb__err(INB_ENOTFOUND, "%s not found (the file has: %s)", what, list);
  }
  c->dset = H5Dopen2(file, path, H5P_DEFAULT);
  if (c->dset < 0) return inb__err(INB_EINVAL, "%s is not a dataset", what);
  hid_t type = H5Dget_type(c->dset), space = H5Dget_space(c->dset);
  int rc = inb__h5_dtype_of(type, what, &c->dtype);
  int ndim = H5Sget_simple_extent_ndims(space);
  hsize_t dims[H5S_MAX_RANK];
  if (!rc && (ndim < 1 || ndim > INB_MAX_DIMS))
    rc = inb__err(INB_EINVAL, "%s has %d dimensions; expected 1..%d (the first is the items)", what, ndim, INB_MAX_DIMS);
  if (!rc) H5Sget_simple_extent_dims(space, dims, NULL);
  c->ndim = ndim;
  for (int d = 0; !rc && d < ndim; d++) c->shape[d] = (int64_t)dims[d];
  H5Tclose(type);
  H5Sclose(space);
  c->path = rc ? NULL : inb__strdup(path);
  if (!rc && !c->path) rc = inb__err(INB_ENOMEM, "out of memory");
  return rc;
}

static int check_lengths(const inb_h5_input *in) {
  for (size_t j = 1; j < in->n; j++)
    if (in->comps[j].shape[0] != in->comps[0].shape[0])
      return inb__err(INB_EINVAL, "input '%s': components have different lengths: '%s' has %lld items, '%s' has %lld",
                      in->file_path, in->comps[0].path, (long long)in->comps[0].shape[0], in->comps[j].path,
                      (long long)in->comps[j].shape[0]);
  return 0;
}

static int open_file(inb_h5_input *in) {
  if (access(in->file_path, R_OK) != 0)
    return inb__err(INB_ENOTFOUND, "input '%s': no such file, or it is not readable", in->file_path);
  if (H5Fis_hdf5(in->file_path) <= 0) /* H5Fis_accessible in HDF5 1.12; this is 1.10 */
    return inb__err(INB_EINVAL, "input '%s': not an HDF5 file", in->file_path);
  hid_t fapl = inb__h5_fapl(&in->hc);
  in->file = H5Fopen(in->file_path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  return in->file < 0 ? inb__err(INB_EIO, "input '%s': HDF5 cannot open it", in->file_path) : 0;
}

/* Frees an input whose file and datasets are closed or were never opened. Local. */
static void free_input(inb_h5_input *in) {
  if (!in) return;
  inb__free(in->file_path);
  inb__free(in);
}

/* Closes what `in` has open and frees it. Every rank of the input calls it at the same point (H5Fclose is
 * collective). */
static void close_input(inb_h5_input *in) {
  unregister_input(in);
  free_components(in);
  if (in->file >= 0) (void)INB__H5(H5Fclose(in->file));
  in->file = H5I_INVALID_HID;
  free_input(in);
}

static uint64_t open_digest(const char *path, const char *const *components, size_t n) {
  uint64_t h = inb__digest_str(INB__DIGEST_START, "inb_h5_open");
  h = inb__digest_str(h, path);
  h = inb__digest_i64(h, (int64_t)n);
  for (size_t j = 0; components && j < n; j++) h = inb__digest_str(h, components[j]);
  return h;
}

/* The datasets of an open file, each checked; then their common length. Local; agreed by the caller. */
static int open_components(inb_h5_input *in, const char *const *components, size_t n) {
  in->comps = inb__calloc(n, sizeof *in->comps);
  in->names = inb__calloc(n, sizeof *in->names);
  if (!in->comps || !in->names) return inb__err(INB_ENOMEM, "input '%s': out of memory", in->file_path);
  in->n = n;
  for (size_t j = 0; j < n; j++) in->comps[j].dset = H5I_INVALID_HID;
  int rc = 0;
  for (size_t j = 0; !rc && j < n; j++)
    rc = inb__h5_open_component(in->file, in->file_path, components[j], &in->comps[j]);
  for (size_t j = 0; !rc && j < n; j++) in->names[j] = inb__h5_component_name(in->comps[j].path);
  return rc ? rc : check_lengths(in);
}

int inb_h5_open(const char *path, const char *const *components, size_t n, void *comm, inb_h5_input **out) {
  *out = NULL;
  inb__h5_quiet();
  inb__h5comm hc;
  inb__h5comm_resolve(&hc, comm);
  inb_h5_input *in = inb__calloc(1, sizeof *in);
  if (in) in->file = H5I_INVALID_HID;
  if (in) in->file_path = inb__strdup(path ? path : "");
  int rc = !in || !in->file_path ? inb__err(INB_ENOMEM, "inb_h5_open: out of memory")
           : !path || !*path ? inb__err(INB_EINVAL, "inb_h5_open: no file name")
           : (!components || !n) ? inb__err(INB_EINVAL, "input '%s': no components named", path) : 0;
  if (!rc) rc = inb_h5_register_codecs(); /* inputs compressed with LZ4, Zstd or Blosc read like any other */
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_open '%s' (rank 0's)", path ? path : "");
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&hc, rc, open_digest(path, components, n), what, &held);
  if (rc) { /* no rank goes on: nothing was opened anywhere */
    free_input(in);
    return rc;
  }
  in->hc = hc;
  rc = inb__h5_agree(&in->hc, open_file(in)); /* H5Fopen is collective: every rank or none goes on */
  if (!rc) rc = inb__h5_agree(&in->hc, open_components(in, components, n));
  if (rc) {
    close_input(in); /* every rank is here: the file's collective close pairs up */
    inb__h5_leave(held);
    return rc;
  }
  register_input(in);
  inb__h5_leave(held);
  *out = in;
  return 0;
}

void inb_h5_close(inb_h5_input **inp) {
  if (!inp || !*inp) return;
  inb_h5_input *in = *inp;
  *inp = NULL;
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_close '%s' (rank 0's)", in->file_path);
  inb__ecomm *held = NULL;
  uint64_t h = inb__digest_str(inb__digest_str(INB__DIGEST_START, "inb_h5_close"), in->file_path);
  if (inb__h5_enter(&in->hc, 0, h, what, &held)) {
    /* the other ranks are in another call: a collective close would wait for them forever. The input stays
     * open (and its memory held); inb_errmsg() says why. */
    return;
  }
  close_input(in);
  inb__h5_leave(held);
}

int64_t inb_h5_length(const inb_h5_input *in) { return in && in->n ? in->comps[0].shape[0] : 0; }

/* The input's component names, ", "-separated, into buf. */
static void list_components(const inb_h5_input *in, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t j = 0; j < in->n && used < cap; j++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", j ? ", " : "", in->names[j]);
  if (!in->n) snprintf(buf, cap, "none");
}

int inb_h5_component(const inb_h5_input *in, const char *name, inb_array *item) {
  if (item) *item = (inb_array){0};
  if (!in || !name || !item) return inb__err(INB_EINVAL, "inb_h5_component: input, name and item must be set");
  const char *want = inb__h5_component_name(name); /* "/images" and "images" name the same component */
  for (size_t j = 0; j < in->n; j++) {
    const inb__h5comp *c = &in->comps[j];
    if (strcmp(in->names[j], want) != 0) continue;
    item->dtype = c->dtype;
    item->ndim = c->ndim - 1;
    for (int d = 1; d < c->ndim; d++) item->shape[d - 1] = c->shape[d];
    return 0;
  }
  char list[1024];
  list_components(in, list, sizeof list);
  return inb__err(INB_ENOTFOUND, "input '%s': no component '%s' (components: %s)", in->file_path, name, list);
}

int inb__h5_check_init(const inb_h5_input *in, const char *action, const char *init) {
  for (size_t j = 0; j < in->n; j++)
    if (strcmp(in->names[j], init) == 0) return 0;
  char list[1024];
  list_components(in, list, sizeof list);
  return inb__err(INB_EINVAL, "action '%s': init '%s' is neither indices, items, run_once nor a component of input "
                              "'%s' (components: %s)", action, init, in->file_path, list);
}

size_t inb__h5_row_bytes(const inb__h5comp *c) {
  size_t b = inb_dtype_size(c->dtype);
  for (int d = 1; d < c->ndim; d++) b *= (size_t)c->shape[d];
  return b;
}

/* Selects the rows index[0..n) in the file: runs of consecutive indices become one hyperslab each, so a
 * contiguous batch is one chunk-sized read. Rows must be given in increasing order (HDF5 transfers a selection
 * in file order); inb__h5_read_rows sorts for that. */
static int select_rows(hid_t space, const inb__h5comp *c, const int64_t *index, size_t n) {
  hsize_t start[INB_MAX_DIMS] = {0}, count[INB_MAX_DIMS];
  for (int d = 0; d < c->ndim; d++) count[d] = (hsize_t)c->shape[d];
  H5Sselect_none(space);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && index[j] == index[j - 1] + 1) j++;
    start[0] = (hsize_t)index[i];
    count[0] = (hsize_t)(j - i);
    if (H5Sselect_hyperslab(space, H5S_SELECT_OR, start, NULL, count, NULL) < 0) return INB_EIO;
    i = j;
  }
  return 0;
}

int inb__h5_row_spaces(hid_t dset, const inb__h5comp *c, const int64_t *index, size_t n, hid_t *fspace,
                       hid_t *mspace) {
  *fspace = H5Dget_space(dset);
  /* The memory space has the file's rank ([n, item shape...]): with a flat one, HDF5 1.10 maps chunked
   * selections element by element (a quarter of a deflate write's time went there). */
  hsize_t mdims[INB_MAX_DIMS];
  mdims[0] = n ? (hsize_t)n : 1;
  for (int d = 1; d < c->ndim; d++) mdims[d] = (hsize_t)c->shape[d] ? (hsize_t)c->shape[d] : 1;
  *mspace = H5Screate_simple(c->ndim, mdims, NULL);
  int rc = *fspace < 0 || *mspace < 0 ? INB_EIO : select_rows(*fspace, c, index, n);
  if (!rc && (!n || inb__h5_row_bytes(c) == 0)) H5Sselect_none(*mspace); /* a rank with no rows still joins */
  if (rc) {
    if (*fspace >= 0) H5Sclose(*fspace);
    if (*mspace >= 0) H5Sclose(*mspace);
    *fspace = *mspace = H5I_INVALID_HID;
  }
  return rc;
}

/* Reads rows index[0..n) (strictly increasing) of component c into buf. Independent. */
static int read_rows(const inb__h5comp *c, const int64_t *index, size_t n, void *buf) {
  hid_t fspace, mspace;
  if (inb__h5_row_spaces(c->dset, c, index, n, &fspace, &mspace)) return INB_EIO;
  herr_t h = INB__H5(H5Dread(c->dset, inb__h5_native(c->dtype), mspace, fspace, H5P_DEFAULT, buf));
  H5Sclose(mspace);
  H5Sclose(fspace);
  return h < 0 ? INB_EIO : 0;
}

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Reads rows index[0..n) of component c into buf in the order given (sorting for HDF5, then permuting). */
static int read_component(inb_h5_input *in, const inb__h5comp *c, const int64_t *index, size_t n, uint8_t *buf) {
  size_t rb = inb__h5_row_bytes(c);
  bool sorted = true;
  for (size_t i = 1; i < n && sorted; i++) sorted = index[i] > index[i - 1];
  if (sorted) return read_rows(c, index, n, buf);
  int64_t *order = inb__malloc(n * sizeof *order);
  uint8_t *tmp = inb__malloc(n * rb);
  int rc = order && tmp ? 0 : INB_ENOMEM;
  if (!rc) {
    memcpy(order, index, n * sizeof *order);
    qsort(order, n, sizeof *order, by_value);
    size_t u = 0; /* unique, increasing */
    for (size_t i = 0; i < n; i++)
      if (!u || order[i] != order[u - 1]) order[u++] = order[i];
    rc = read_rows(c, order, u, tmp);
    for (size_t i = 0; !rc && i < n; i++) {
      int64_t *at = bsearch(&index[i], order, u, sizeof *order, by_value);
      memcpy(buf + i * rb, tmp + (size_t)(at - order) * rb, rb);
    }
  }
  inb__free(order);
  inb__free(tmp);
  (void)in;
  return rc;
}

int inb__h5_load(inb_h5_input *in, const int64_t *index, size_t n, const bool *want, inb_array *comps,
                 bool scratch) {
  int64_t len = inb_h5_length(in);
  for (size_t i = 0; i < n; i++)
    if (index[i] < 0 || index[i] >= len)
      return inb__err(INB_EINVAL, "input '%s': item %lld is out of range (the file has %lld items)", in->file_path,
                      (long long)index[i], (long long)len);
  int rc = 0;
  for (size_t j = 0; j < in->n; j++) comps[j] = (inb_array){0};
  for (size_t j = 0; !rc && j < in->n; j++) {
    if (want && !want[j]) continue;
    const inb__h5comp *c = &in->comps[j];
    inb_array a = {.dtype = c->dtype, .ndim = c->ndim, .shape = {(int64_t)n}};
    for (int d = 1; d < c->ndim; d++) a.shape[d] = c->shape[d];
    a.data = scratch ? inb__scratch_get(n * inb__h5_row_bytes(c) + 1, 0) : inb__malloc(n * inb__h5_row_bytes(c) + 1);
    rc = a.data ? read_component(in, c, index, n, a.data) : INB_ENOMEM;
    comps[j] = a;
    if (rc) rc = inb__err(rc, "input '%s': dataset '%s': reading %zu rows failed", in->file_path, c->path, n);
  }
  if (rc)
    for (size_t j = 0; j < in->n; j++) {
      if (scratch)
        inb__scratch_put(comps[j].data);
      else
        inb__free(comps[j].data);
      comps[j].data = NULL;
    }
  return rc;
}

int inb_h5_read(inb_h5_input *in, const int64_t *index, size_t n, inb_batch **out) {
  *out = NULL;
  if (!in) return inb__err(INB_EINVAL, "inb_h5_read: input is NULL");
  inb_array *comps = inb__calloc(in->n, sizeof *comps);
  inb_batch *b = inb_batch_new(index, n); /* index NULL: items 0..n-1, which the batch then holds */
  int rc = comps && b ? inb__h5_load(in, index ? index : inb__batch_indices(b), n, NULL, comps, false)
                      : inb__err(INB_ENOMEM, "out of memory");
  for (size_t j = 0; !rc && j < in->n; j++) {
    rc = inb_batch_set(b, in->names[j], comps[j], true);
    if (!rc) inb__alloc_disown(comps[j].data); /* the batch took it: freed with free() */
    if (!rc) comps[j].data = NULL;
  }
  for (size_t j = 0; comps && j < in->n; j++) inb__free(comps[j].data);
  inb__free(comps);
  if (rc) inb_batch_free(&b);
  *out = b;
  return rc;
}
