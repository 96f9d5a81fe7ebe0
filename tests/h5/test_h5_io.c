/* HDF5 inputs and outputs (include/inbatch/h5.h): inb_h5_open / inb_h5_read / inb_h5_close, and inb_h5_create /
 * inb_h5_commit / inb_h5_abort. Bad inputs each give a clear error naming the file and dataset, the same status
 * on every rank, and leave nothing behind; an output appears under its name only at commit.
 *
 * Runs on 1, 2 and 4 ranks: with one, files go through POSIX; with more, through MPI-IO. Inputs are written
 * by rank 0 with the HDF5 C API into the program's scratch directory. */
#include "h5test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { N_GOOD = 23 };

/* The components of good.h5 that tests read, their h5t_value component number and item shapes. */
typedef struct {
  const char *path, *name;
  inb_dtype dtype;
  int item_ndim;
  int64_t item[3];
} comp_t;
static const comp_t g_good[] = {
    {"/x", "x", INB_F32, 1, {3}},
    {"/y", "y", INB_I32, 0, {0}},
    {"/grp/z", "grp/z", INB_U8, 2, {2, 2}},
    {"/w", "w", INB_F64, 3, {2, 3, 2}},
};
enum { N_COMPS = sizeof g_good / sizeof g_good[0] };

static char g_good_h5[PATH_MAX], g_text[PATH_MAX];

/* good.h5: the components above (23 items), "/short" (22 items), and datasets of unsupported dtypes: a
 * fixed-length string, a variable-length string and a compound. notes.txt: a plain text file. */
static int write_inputs(void) {
  hid_t f = H5Fcreate(g_good_h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return -1;
  int rc = 0;
  for (int c = 0; c < N_COMPS; c++)
    rc |= h5t_write_values(f, g_good[c].path, g_good[c].dtype, N_GOOD, g_good[c].item_ndim, g_good[c].item, c);
  int64_t none[1] = {0};
  rc |= h5t_write_values(f, "/short", INB_F64, N_GOOD - 1, 0, none, 9);
  hsize_t dims[1] = {N_GOOD};
  hid_t space = H5Screate_simple(1, dims, NULL);
  /* a fixed-length string of 8 bytes per item */
  char fixed[N_GOOD][8];
  for (int i = 0; i < N_GOOD; i++) snprintf(fixed[i], sizeof fixed[i], "s%d", i);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, 8);
  hid_t d = H5Dcreate2(f, "/str", st, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  rc |= d < 0 || H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed) < 0;
  if (d >= 0) H5Dclose(d);
  H5Tclose(st);
  /* a variable-length string */
  const char *vs[N_GOOD];
  for (int i = 0; i < N_GOOD; i++) vs[i] = fixed[i];
  hid_t vt = H5Tcopy(H5T_C_S1);
  H5Tset_size(vt, H5T_VARIABLE);
  d = H5Dcreate2(f, "/vstr", vt, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  rc |= d < 0 || H5Dwrite(d, vt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vs) < 0;
  if (d >= 0) H5Dclose(d);
  H5Tclose(vt);
  /* a compound {int32 a; float b} */
  typedef struct {
    int32_t a;
    float b;
  } pair;
  pair pairs[N_GOOD];
  for (int i = 0; i < N_GOOD; i++) pairs[i] = (pair){i, (float)i / 2};
  hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(pair));
  H5Tinsert(ct, "a", HOFFSET(pair, a), H5T_NATIVE_INT32);
  H5Tinsert(ct, "b", HOFFSET(pair, b), H5T_NATIVE_FLOAT);
  d = H5Dcreate2(f, "/cmp", ct, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  rc |= d < 0 || H5Dwrite(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, pairs) < 0;
  if (d >= 0) H5Dclose(d);
  H5Tclose(ct);
  H5Sclose(space);
  rc |= H5Fclose(f) < 0;
  return rc ? -1 : 0;
}

/* Every test starts here: the inputs exist (written once, by rank 0) before any rank opens them. */
static void ensure_inputs(void) {
  static int made;
  reset_checks();
  if (made) return;
  h5t_path(g_good_h5, "good.h5");
  h5t_path(g_text, "notes.txt");
  int rc = g_rank == 0 ? write_inputs() : 0;
  rc = rank0_int(rc);
  expect_eq(rc, 0, "writing the input good.h5");
  expect_eq(h5t_write_text(g_text, "this is a plain text file, not HDF5\n"), 0, "writing notes.txt");
  made = 1;
}

static const char *const g_all_paths[] = {"/x", "/y", "/grp/z", "/w"};

/* ---- inputs: open and read ----------------------------------------------------------------------------- */

/* Checks batch b against rows index[0..n) of good.h5; records one check per component. */
static void check_batch(inb_batch *b, const int64_t *index, size_t n, const char *what) {
  expect_eq(b != NULL, 1, "%s: a batch", what);
  if (!b) return;
  expect_eq((long)inb_batch_size(b), (long)n, "%s: batch size", what);
  long wrong_index = -1;
  for (size_t k = 0; k < n && k < inb_batch_size(b); k++)
    if (inb_batch_index(b, k) != index[k] && wrong_index < 0) wrong_index = (long)k;
  expect_eq(wrong_index, -1, "%s: the batch's item indices are the ones asked for (first wrong position)", what);
  expect_eq((long)inb_batch_ncomponents(b), N_COMPS, "%s: components", what);
  for (int c = 0; c < N_COMPS; c++) {
    const comp_t *cp = &g_good[c];
    inb_array *a = inb_batch_get(b, cp->name);
    expect_eq(a != NULL, 1, "%s: component '%s' (dataset '%s' without its '/')", what, cp->name, cp->path);
    if (!a) continue;
    bool shape_ok = a->dtype == cp->dtype && a->ndim == cp->item_ndim + 1 && a->shape[0] == (int64_t)n;
    size_t per = 1;
    for (int d = 0; d < cp->item_ndim; d++) {
      shape_ok = shape_ok && a->shape[d + 1] == cp->item[d];
      per *= (size_t)cp->item[d];
    }
    expect_eq(shape_ok, 1, "%s: '%s' has dtype %d and %d dims [%lld, ...]", what, cp->name, (int)a->dtype, a->ndim,
              (long long)a->shape[0]);
    if (!shape_ok) continue;
    long bad = -1;
    double got = 0, want = 0;
    for (size_t k = 0; k < n && bad < 0; k++)
      for (size_t e = 0; e < per && bad < 0; e++) {
        got = h5t_get(a->data, cp->dtype, k * per + e);
        want = h5t_value(c, index[k], e, cp->dtype);
        if (got != want) bad = (long)(k * per + e);
      }
    expect_eq(bad, -1, "%s: '%s' values (first wrong element; got %g, expected %g)", what, cp->name, got, want);
  }
}

/* The start of a test that reads good.h5: the inputs written, then every rank opens good.h5 with the first
 * ncomps of x, y, grp/z, w. NULL (the failure recorded) when it does not open. */
static inb_h5_input *open_good(size_t ncomps) {
  ensure_inputs();
  inb_h5_input *in = NULL;
  int rc = inb_h5_open(g_good_h5, g_all_paths, ncomps, NULL, &in);
  expect_rc(rc, 0, "inb_h5_open(good.h5, the first %zu of x y grp/z w)", ncomps);
  return in;
}

/* inb_h5_read of rows index[0..n) (index NULL: items 0..n-1) must succeed with good.h5's rows want[0..n). */
static void expect_read(inb_h5_input *in, const int64_t *index, const int64_t *want, size_t n, const char *what) {
  inb_batch *b = NULL;
  int rc = inb_h5_read(in, index, n, &b);
  expect_rc(rc, 0, "inb_h5_read %s", what);
  if (!rc) check_batch(b, want, n, what);
  inb_batch_free(&b);
}

static void test_open_reports_the_length_and_read_returns_rows_in_any_order_with_repeats(void **state) {
  (void)state;
  inb_h5_input *in = open_good(N_COMPS);
  if (in) {
    expect_eq((long)inb_h5_length(in), N_GOOD, "inb_h5_length");
    /* every rank reads on its own (inb_h5_read is independent), each a different list */
    const int64_t unsorted[] = {22, 0, 5, 5, 22, g_rank % N_GOOD, 13, 0};
    const int64_t runs[] = {1, 2, 3, 10, 11, 12, 20};
    int64_t reversed[N_GOOD];
    for (int i = 0; i < N_GOOD; i++) reversed[i] = N_GOOD - 1 - i;
    const struct {
      const char *what;
      const int64_t *index;
      size_t n;
    } reads[] = {{"unsorted with repeats", unsorted, 8}, {"sorted runs", runs, 7}, {"every item reversed", reversed, N_GOOD},
                 {"no items", runs, 0}};
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++)
      expect_read(in, reads[k].index, reads[k].index, reads[k].n, reads[k].what);
    /* the last rank reads once more while the others do not */
    if (g_rank == g_size - 1) {
      const int64_t one[] = {7, 7, 7};
      expect_read(in, one, one, 3, "on the last rank alone");
    }
  }
  inb_h5_close(&in);
  expect_eq(in == NULL, 1, "inb_h5_close sets the pointer to NULL");
  inb_h5_close(&in); /* NULL-safe */
  inb_h5_close(NULL);
  assert_checks();
}

static void test_read_of_an_index_out_of_range_is_einval_and_gives_no_batch(void **state) {
  (void)state;
  int rc = 0;
  inb_h5_input *in = open_good(2);
  if (in) {
    const int64_t past[] = {3, N_GOOD}, negative[] = {-1, 2};
    inb_batch *b = (inb_batch *)&rc; /* a non-NULL pointer, never used */
    expect_rc(inb_h5_read(in, past, 2, &b), INB_EINVAL, "inb_h5_read of item %d of %d", N_GOOD, N_GOOD);
    expect_eq(b == NULL, 1, "no batch after a failed read (past the end)");
    b = (inb_batch *)&rc;
    expect_rc(inb_h5_read(in, negative, 2, &b), INB_EINVAL, "inb_h5_read of item -1");
    expect_eq(b == NULL, 1, "no batch after a failed read (negative)");
    /* the input is still usable */
    const int64_t ok[] = {4};
    b = NULL;
    expect_rc(inb_h5_read(in, ok, 1, &b), 0, "inb_h5_read after failed reads");
    inb_batch_free(&b);
  }
  inb_h5_close(&in);
  assert_checks();
}

/* An inb_h5_open that must fail with `want` on every rank, give no input, name each of needles[] in its
 * message, and leave the scratch directory as it was. */
static void expect_open_fails(const char *path, const char *const *comps, size_t n, int want, const char *what,
                              const char *const *needles) {
  int before = h5t_count_entries();
  char dummy;
  inb_h5_input *in = (inb_h5_input *)&dummy; /* non-NULL: the call must set it to NULL */
  int rc = inb_h5_open(path, comps, n, NULL, &in);
  expect_rc(rc, want, "%s: inb_h5_open", what);
  expect_eq(in == NULL, 1, "%s: *out is NULL on failure", what);
  if (rc == 0 && in) inb_h5_close(&in);
  for (size_t k = 0; rc != 0 && needles[k]; k++) expect_errmsg_has(needles[k], "%s", what);
  expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_count_entries(), before, "%s: nothing new in the directory", what);
}

static void test_missing_file_is_enotfound_naming_the_file(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX];
  h5t_path(path, "no-such-file.h5");
  const char *comps[] = {"/x"};
  const char *needles[] = {path, NULL};
  expect_open_fails(path, comps, 1, INB_ENOTFOUND, "missing file", needles);
  assert_checks();
}

static void test_missing_dataset_is_enotfound_naming_the_file_the_dataset_and_the_datasets_it_has(void **state) {
  (void)state;
  ensure_inputs();
  const char *comps[] = {"/x", "/nope"};
  const char *needles[] = {g_good_h5, "/nope", "/x", "/y", "/grp/z", "/short", NULL};
  expect_open_fails(g_good_h5, comps, 2, INB_ENOTFOUND, "missing dataset", needles);
  assert_checks();
}

static void test_components_of_different_lengths_are_einval_naming_both(void **state) {
  (void)state;
  ensure_inputs();
  const char *comps[] = {"/x", "/y", "/short"};
  const char *needles[] = {g_good_h5, "/short", "/x", NULL};
  expect_open_fails(g_good_h5, comps, 3, INB_EINVAL, "lengths 23 and 22", needles);
  assert_checks();
}

static void test_string_and_compound_datasets_are_einval_naming_the_dataset(void **state) {
  (void)state;
  ensure_inputs();
  const char *fixed[] = {"/x", "/str"}, *vlen[] = {"/vstr"}, *compound[] = {"/y", "/cmp"};
  const char *n_fixed[] = {g_good_h5, "/str", "string", NULL};
  const char *n_vlen[] = {g_good_h5, "/vstr", "string", NULL};
  const char *n_compound[] = {g_good_h5, "/cmp", "compound", NULL};
  expect_open_fails(g_good_h5, fixed, 2, INB_EINVAL, "fixed-length string dataset", n_fixed);
  expect_open_fails(g_good_h5, vlen, 1, INB_EINVAL, "variable-length string dataset", n_vlen);
  expect_open_fails(g_good_h5, compound, 2, INB_EINVAL, "compound dataset", n_compound);
  assert_checks();
}

static void test_a_file_that_is_not_hdf5_is_einval_naming_the_file(void **state) {
  (void)state;
  ensure_inputs();
  const char *comps[] = {"/x"};
  const char *needles[] = {g_text, NULL};
  expect_open_fails(g_text, comps, 1, INB_EINVAL, "plain text file", needles);
  assert_checks();
}

static void test_open_without_components_is_einval(void **state) {
  (void)state;
  ensure_inputs();
  const char *comps[] = {"/x"};
  const char *needles[] = {NULL};
  expect_open_fails(g_good_h5, comps, 0, INB_EINVAL, "no components", needles);
  assert_checks();
}

/* ---- outputs: create, commit, abort ----------------------------------------------------------------- */

static const inb_h5_output_spec g_specs[] = {
    {.name = "/scaled", .dtype = INB_F32, .ndim = 2, .shape = {2, 3}},
    {.name = "/deep/er/label", .dtype = INB_U8, .ndim = 0, .chunk_items = 4, .deflate = 3},
};
enum { N_SPECS = 2, N_OUT = 10 };

/* Rank 0: the file at path holds the datasets of g_specs with n items each and a results table of n rows
 * whose compound has the header's columns. Records checks. */
static void check_output_file(const char *path, int64_t n, const char *what) {
  if (g_rank != 0) return;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  expect_eq(f >= 0, 1, "%s: '%s' opens as HDF5", what, path);
  if (f < 0) return;
  for (int k = 0; k < N_SPECS; k++) {
    const inb_h5_output_spec *s = &g_specs[k];
    hid_t d = H5Dopen2(f, s->name, H5P_DEFAULT);
    expect_eq(d >= 0, 1, "%s: dataset '%s' exists", what, s->name);
    if (d < 0) continue;
    hid_t space = H5Dget_space(d), type = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[H5S_MAX_RANK];
    int nd = H5Sget_simple_extent_dims(space, dims, NULL);
    bool dims_ok = nd == s->ndim + 1 && dims[0] == (hsize_t)n;
    for (int j = 0; dims_ok && j < s->ndim; j++) dims_ok = dims[j + 1] == (hsize_t)s->shape[j];
    expect_eq(dims_ok, 1, "%s: '%s' has %lld items of the spec's shape (rank %d)", what, s->name, (long long)dims[0], nd);
    H5T_class_t cls = H5Tget_class(type);
    bool type_ok = s->dtype == INB_F32 ? cls == H5T_FLOAT && H5Tget_size(type) == 4
                                       : cls == H5T_INTEGER && H5Tget_size(type) == 1 && H5Tget_sign(type) == H5T_SGN_NONE;
    expect_eq(type_ok, 1, "%s: '%s' has the spec's dtype", what, s->name);
    if (s->deflate) {
      hsize_t chunk[H5S_MAX_RANK] = {0};
      bool chunked = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) >= 1;
      expect_eq(chunked && chunk[0] == (hsize_t)s->chunk_items, 1, "%s: '%s' is chunked by %lld items", what, s->name,
                (long long)s->chunk_items);
      bool deflate = false;
      for (int j = 0; j < H5Pget_nfilters(dcpl); j++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        if (H5Pget_filter2(dcpl, (unsigned)j, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE) deflate = true;
      }
      expect_eq(deflate, 1, "%s: '%s' is deflate-compressed", what, s->name);
    }
    H5Pclose(dcpl);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(d);
  }
  hid_t t = H5Dopen2(f, "/inbatch_results", H5P_DEFAULT);
  expect_eq(t >= 0, 1, "%s: the results table '/inbatch_results' exists", what);
  if (t >= 0) {
    hid_t space = H5Dget_space(t), type = H5Dget_type(t);
    hsize_t dims[1] = {0};
    expect_eq(H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, dims, NULL) == 1 &&
                  dims[0] == (hsize_t)n, 1, "%s: the results table has one row per item", what);
    expect_eq(H5Tget_class(type), H5T_COMPOUND, "%s: the results table is a compound", what);
    const char *cols[] = {"index", "state", "code", "value"};
    for (int j = 0; j < 4; j++)
      expect_eq(H5Tget_member_index(type, cols[j]) >= 0, 1, "%s: the results table has a column '%s'", what, cols[j]);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(t);
  }
  hid_t e = H5Dopen2(f, "/inbatch_errors", H5P_DEFAULT);
  expect_eq(e >= 0, 1, "%s: the failure records '/inbatch_errors' exist", what);
  if (e >= 0) {
    hid_t type = H5Dget_type(e);
    const char *cols[] = {"index", "code", "rank", "message"};
    for (int j = 0; j < 4; j++)
      expect_eq(H5Tget_member_index(type, cols[j]) >= 0, 1, "%s: the failure records have a column '%s'", what,
                cols[j]);
    H5Tclose(type);
    H5Dclose(e);
  }
  H5Fclose(f);
}

static void test_read_with_a_null_index_reads_items_0_to_n_minus_1(void **state) {
  (void)state;
  int rc = 0;
  inb_h5_input *in = open_good(N_COMPS);
  if (in) {
    int64_t first[N_GOOD];
    for (int i = 0; i < N_GOOD; i++) first[i] = i;
    const size_t counts[] = {5, N_GOOD, 0};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
      char what[64];
      snprintf(what, sizeof what, "index NULL, n %zu", counts[k]);
      expect_read(in, NULL, first, counts[k], what);
    }
    inb_batch *b = (inb_batch *)&rc;
    expect_rc(inb_h5_read(in, NULL, N_GOOD + 1, &b), INB_EINVAL, "inb_h5_read index NULL, n %d of %d items",
              N_GOOD + 1, N_GOOD);
    expect_eq(b == NULL, 1, "no batch after reading past the end");
  }
  inb_h5_close(&in);
  assert_checks();
}

static void test_component_tells_an_items_dtype_and_shape_without_reading_a_row(void **state) {
  (void)state;
  int rc = 0;
  inb_h5_input *in = open_good(N_COMPS);
  if (in) {
    for (int c = 0; c < N_COMPS; c++) {
      const comp_t *cp = &g_good[c];
      for (int by_path = 0; by_path < 2; by_path++) {
        const char *name = by_path ? cp->path : cp->name;
        inb_array item = {.data = &rc}; /* non-NULL: the call must set it to NULL */
        rc = inb_h5_component(in, name, &item);
        expect_rc(rc, 0, "inb_h5_component(%s)", name);
        bool ok = item.dtype == cp->dtype && item.ndim == cp->item_ndim && item.data == NULL;
        for (int d = 0; ok && d < cp->item_ndim; d++) ok = item.shape[d] == cp->item[d];
        expect_eq(ok, 1, "inb_h5_component(%s): dtype %d, ndim %d, shape [%lld, ...], data %s", name, (int)item.dtype,
                  item.ndim, (long long)item.shape[0], item.data ? "set" : "NULL");
      }
    }
    inb_array item;
    rc = inb_h5_component(in, "nope", &item);
    expect_rc(rc, INB_ENOTFOUND, "inb_h5_component(nope)");
    const char *needles[] = {"nope", g_good_h5, "x, y, grp/z, w", NULL};
    for (size_t k = 0; rc && needles[k]; k++) expect_errmsg_has(needles[k], "inb_h5_component(nope)");
    expect_rc(inb_h5_component(in, NULL, &item), INB_EINVAL, "inb_h5_component with no name");
    expect_rc(inb_h5_component(in, "x", NULL), INB_EINVAL, "inb_h5_component with no item");
    expect_rc(inb_h5_component(NULL, "x", &item), INB_EINVAL, "inb_h5_component with no input");
  }
  inb_h5_close(&in);
  assert_checks();
}

static int never(inb_item *it, const inb_args *a, inb_value *result) {
  (void)a, (void)result;
  return inb_fail(it, 90, "a task ran although the init names no component");
}

static void test_an_init_that_names_no_component_lists_the_inputs_components(void **state) {
  (void)state;
  int rc = 0;
  inb_h5_input *in = open_good(N_COMPS);
  const inb_target targets[] = {INB_MPI, INB_THREADS, INB_FOR};
  for (size_t k = 0; in && k < (g_size == 1 ? 3u : 1u); k++) {
    inb_action act = {.name = "typo", .fn = never, .init = "grp/zz", .target = targets[k]};
    rc = inb_h5_run(in, NULL, &act, NULL, NULL, NULL);
    expect_rc(rc, INB_EINVAL, "init 'grp/zz', target %d: inb_h5_run", (int)targets[k]);
    const char *needles[] = {"typo", "grp/zz", g_good_h5, "components: x, y, grp/z, w", NULL};
    for (size_t j = 0; rc && needles[j]; j++) expect_errmsg_has(needles[j], "init 'grp/zz', target %d", (int)targets[k]);
    expect_eq(strstr(inb_errmsg(), "none") == NULL, 1, "init 'grp/zz': the message does not say 'none': %s",
              inb_errmsg());
    expect_eq(max_ranks(rc), -max_ranks(-rc), "init 'grp/zz': the same status on every rank");
  }
  inb_h5_close(&in);
  assert_checks();
}

static void test_a_variable_length_string_dataset_is_named_as_such(void **state) {
  (void)state;
  ensure_inputs();
  const char *vlen[] = {"/vstr"};
  const char *needles[] = {g_good_h5, "/vstr", "variable-length string", NULL};
  expect_open_fails(g_good_h5, vlen, 1, INB_EINVAL, "variable-length string dataset", needles);
  inb_h5_input *in = NULL;
  if (inb_h5_open(g_good_h5, vlen, 1, NULL, &in) != 0)
    expect_eq(strstr(inb_errmsg(), "string of") == NULL, 1, "no size for a variable-length string (a pointer's): %s",
              inb_errmsg());
  inb_h5_close(&in);
  assert_checks();
}

/* ---- an output never replaces an open input ------------------------------------------------------------- */

static void test_an_output_over_an_open_input_is_refused_naming_both_and_the_input_survives(void **state) {
  (void)state;
  ensure_inputs();
  char victim[PATH_MAX], dotted[PATH_MAX + 8], alias[PATH_MAX], partial[PATH_MAX];
  h5t_path(victim, "victim.h5");
  h5t_path(alias, "alias.h5");
  snprintf(dotted, sizeof dotted, "%s/./victim.h5", h5t_dir());
  int ok = 1;
  if (g_rank == 0) {
    hid_t f = H5Fcreate(victim, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0 && h5t_write_values(f, "/x", INB_F32, N_GOOD, 1, g_good[0].item, 0) == 0;
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
    ok = ok && link(victim, alias) == 0; /* another name of the same file */
  }
  expect_eq(rank0_int(ok), 1, "writing victim.h5 and its hard link alias.h5");
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  int rc = inb_h5_open(victim, comps, 1, NULL, &in);
  expect_rc(rc, 0, "inb_h5_open(victim.h5)");
  const struct {
    const char *path;
    bool overwrite;
  } targets[] = {{victim, true}, {victim, false}, {dotted, true}, {alias, true}};
  for (size_t k = 0; in && k < sizeof targets / sizeof targets[0]; k++) {
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "output '%s'%s over the open input", targets[k].path,
             targets[k].overwrite ? " with overwrite" : "");
    char dummy;
    inb_h5_output *o = (inb_h5_output *)&dummy;
    rc = inb_h5_create(targets[k].path, g_specs, N_SPECS, N_GOOD, targets[k].overwrite, NULL, &o);
    expect_rc(rc, INB_EINVAL, "%s: inb_h5_create", what);
    expect_eq(o == NULL, 1, "%s: *out is NULL on failure", what);
    if (rc == 0 && o) inb_h5_commit(&o); /* what a program would do next: the input's file is replaced */
    if (rc) {
      expect_errmsg_has(targets[k].path, "%s: names the output", what);
      expect_errmsg_has(victim, "%s: names the input", what);
      expect_errmsg_has("open", "%s: says the input is open", what);
    }
    expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_eq(h5t_exists(h5t_partial(partial, targets[k].path)), 0, "%s: no partial file", what);
  }
  /* the input is intact: it still reads, and the file on disk is still the input */
  const int64_t rows[] = {0, 7, N_GOOD - 1};
  inb_batch *b = NULL;
  rc = in ? inb_h5_read(in, rows, 3, &b) : -1;
  expect_rc(rc, 0, "the open input still reads");
  inb_array *x = b ? inb_batch_get(b, "x") : NULL;
  expect_eq(x && h5t_get(x->data, INB_F32, 3 * 2 + 1) == h5t_value(0, N_GOOD - 1, 1, INB_F32), 1,
            "the rows read are the input's");
  inb_batch_free(&b);
  inb_h5_close(&in);
  inb_h5_input *again = NULL;
  expect_rc(inb_h5_open(victim, comps, 1, NULL, &again), 0, "victim.h5 opens again as the input it was");
  inb_h5_close(&again);
  /* an input opened at the output's name after create (overwrite): commit refuses to replace it */
  char later[PATH_MAX];
  h5t_path(later, "later.h5");
  inb_h5_output *pending = NULL;
  rc = inb_h5_create(later, g_specs, N_SPECS, N_GOOD, true, NULL, &pending);
  expect_rc(rc, 0, "inb_h5_create later.h5 with overwrite (absent)");
  ok = 1;
  if (g_rank == 0) {
    hid_t f = H5Fcreate(later, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0 && h5t_write_values(f, "/x", INB_F32, N_GOOD, 1, g_good[0].item, 0) == 0;
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  }
  expect_eq(rank0_int(ok), 1, "another program writes later.h5");
  inb_h5_input *late = NULL;
  expect_rc(inb_h5_open(later, comps, 1, NULL, &late), 0, "later.h5 opened as an input");
  if (pending) {
    rc = inb_h5_commit(&pending);
    expect_rc(rc, INB_EINVAL, "inb_h5_commit onto the open input later.h5");
    if (rc) expect_errmsg_has(later, "the failed commit names the file");
  }
  b = NULL;
  expect_rc(late ? inb_h5_read(late, rows, 3, &b) : -1, 0, "later.h5 still reads as the input");
  inb_batch_free(&b);
  inb_h5_close(&late);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(h5t_partial(partial, later)), 0, "the refused commit removed its partial file");
  if (g_rank == 0) remove(later);
  /* once closed it is an ordinary file: overwriting it is allowed (and aborted here) */
  inb_h5_output *o = NULL;
  rc = inb_h5_create(victim, g_specs, N_SPECS, N_GOOD, true, NULL, &o);
  expect_rc(rc, 0, "after inb_h5_close, an output with overwrite over victim.h5");
  inb_h5_abort(&o);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    remove(victim);
    remove(alias);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

static void test_an_output_appears_under_its_name_only_at_commit(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX];
  h5t_path(path, "out.h5");
  h5t_partial(partial, path);
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create out.h5");
  expect_eq(h5t_exists(partial), 1, "after create: the partial file '%s' exists", partial);
  expect_eq(h5t_exists(path), 0, "after create: out.h5 does not exist yet");
  if (o) {
    rc = inb_h5_commit(&o);
    expect_rc(rc, 0, "inb_h5_commit");
  }
  expect_eq(o == NULL, 1, "commit sets the pointer to NULL");
  expect_eq(h5t_exists(path), 1, "after commit: out.h5 exists");
  expect_eq(h5t_exists(partial), 0, "after commit: the partial file is gone");
  check_output_file(path, N_OUT, "committed out.h5");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

static void test_abort_removes_the_partial_file_and_leaves_no_output(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX];
  h5t_path(path, "aborted.h5");
  h5t_partial(partial, path);
  int before = h5t_count_entries();
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create aborted.h5");
  expect_eq(h5t_exists(partial), 1, "after create: the partial file exists");
  inb_h5_abort(&o);
  expect_eq(o == NULL, 1, "abort sets the pointer to NULL");
  expect_eq(h5t_exists(partial), 0, "after abort: the partial file is gone");
  expect_eq(h5t_exists(path), 0, "after abort: no aborted.h5");
  expect_eq(h5t_count_entries(), before, "after abort: nothing new in the directory");
  inb_h5_abort(&o); /* NULL-safe */
  inb_h5_abort(NULL);
  assert_checks();
}

/* Reads the string attribute `name` of the file's root into buf ("" when missing). Rank-local. */
static const char *read_attribute(const char *path, const char *name, char *buf, size_t cap) {
  buf[0] = '\0';
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = f < 0 || H5Aexists(f, name) <= 0 ? -1 : H5Aopen(f, name, H5P_DEFAULT);
  hid_t t = a < 0 ? -1 : H5Aget_type(a);
  if (t >= 0 && H5Tget_size(t) <= cap) H5Aread(a, t, buf);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  if (f >= 0) H5Fclose(f);
  return buf;
}

static void test_annotations_are_rank0s_strings_on_the_committed_file(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], got[256];
  h5t_path(path, "annotated.h5");
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create annotated.h5");
  char mine[64];
  snprintf(mine, sizeof mine, "from rank %d", g_rank); /* only rank 0's is written */
  expect_rc(inb_h5_annotate(o, "made_by", mine), 0, "inb_h5_annotate made_by");
  expect_rc(inb_h5_annotate(o, "made_by", "replaced"), 0, "inb_h5_annotate made_by again: it replaces");
  expect_rc(inb_h5_annotate(o, "note", "job text\nwith a second line"), 0, "inb_h5_annotate note");
  expect_rc(inb_h5_annotate(o, NULL, "x"), INB_EINVAL, "a NULL name");
  expect_rc(inb_h5_commit(&o), 0, "inb_h5_commit");
  if (g_rank == 0) {
    expect_eq(strcmp(read_attribute(path, "made_by", got, sizeof got), "replaced"), 0, "made_by is '%s'", got);
    expect_eq(strcmp(read_attribute(path, "note", got, sizeof got), "job text\nwith a second line"), 0,
              "note is '%s'", got);
  }
  assert_checks();
}

static void test_an_existing_output_is_refused_without_overwrite_and_left_intact(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX], text[64];
  h5t_path(path, "exists.h5");
  h5t_partial(partial, path);
  expect_eq(h5t_write_text(path, "OLD"), 0, "writing exists.h5");
  int before = h5t_count_entries();
  char dummy;
  inb_h5_output *o = (inb_h5_output *)&dummy;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, INB_EINVAL, "inb_h5_create over an existing file without overwrite");
  expect_eq(o == NULL, 1, "*out is NULL on failure");
  if (rc == 0 && o) inb_h5_abort(&o);
  if (rc) expect_errmsg_has(path, "output exists");
  expect_eq(strcmp(h5t_read_text(path, text, sizeof text), "OLD"), 0, "the existing file is untouched (holds '%s')",
            text);
  expect_eq(h5t_exists(partial), 0, "no partial file");
  expect_eq(h5t_count_entries(), before, "nothing new in the directory");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

static void test_overwrite_replaces_the_old_file_at_commit_and_not_before(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX], text[64];
  h5t_path(path, "replaced.h5");
  h5t_partial(partial, path);
  expect_eq(h5t_write_text(path, "OLD"), 0, "writing replaced.h5");
  /* overwrite, then abort: the old file stays */
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, true, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create with overwrite (to abort)");
  expect_eq(strcmp(h5t_read_text(path, text, sizeof text), "OLD"), 0, "before abort the old file is still there");
  inb_h5_abort(&o);
  expect_eq(strcmp(h5t_read_text(path, text, sizeof text), "OLD"), 0, "after abort the old file is still there");
  expect_eq(h5t_exists(partial), 0, "after abort no partial file");
  /* overwrite, then commit: replaced at commit */
  rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, true, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create with overwrite (to commit)");
  expect_eq(strcmp(h5t_read_text(path, text, sizeof text), "OLD"), 0, "before commit the old file is still there");
  if (o) expect_rc(inb_h5_commit(&o), 0, "inb_h5_commit with overwrite");
  expect_eq(h5t_exists(partial), 0, "after commit no partial file");
  check_output_file(path, N_OUT, "replaced.h5 after commit");
  /* and now that file exists, a create without overwrite is refused again */
  char dummy;
  o = (inb_h5_output *)&dummy;
  rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, INB_EINVAL, "inb_h5_create over a committed output without overwrite");
  expect_eq(o == NULL, 1, "*out is NULL on failure");
  if (rc == 0 && o) inb_h5_abort(&o);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

/* h5.h, inb_h5_commit: "renames it to its final name (replacing an older file only if overwrite was given)". */
static void test_commit_without_overwrite_does_not_replace_a_file_that_appeared_since_create(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX], text[64];
  h5t_path(path, "appeared.h5");
  h5t_partial(partial, path);
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, false, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create appeared.h5 (absent, no overwrite)");
  expect_eq(h5t_write_text(path, "SOMEONE ELSE'S"), 0, "another program writes appeared.h5");
  if (o) {
    rc = inb_h5_commit(&o);
    expect_rc(rc, INB_EIO, "inb_h5_commit without overwrite onto a file that appeared");
  }
  expect_eq(o == NULL, 1, "commit sets the pointer to NULL");
  bool kept = strcmp(h5t_read_text(path, text, sizeof text), "SOMEONE ELSE'S") == 0;
  expect_eq(kept, 1, "the file that appeared is not replaced (it is now %s)",
            kept ? "the same" : H5Fis_hdf5(path) > 0 ? "the HDF5 output" : "something else");
  expect_eq(h5t_exists(partial), 0, "the partial file is removed");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

static void test_a_commit_that_cannot_rename_is_eio_on_every_rank_and_removes_the_partial_file(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX], partial[PATH_MAX], inside[PATH_MAX + 16];
  h5t_path(path, "blocked.h5");
  h5t_partial(partial, path);
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, g_specs, N_SPECS, N_OUT, true, NULL, &o);
  expect_rc(rc, 0, "inb_h5_create blocked.h5");
  /* the target becomes a non-empty directory: no rename can replace it */
  int made = 1;
  if (g_rank == 0) {
    snprintf(inside, sizeof inside, "%s/keep.txt", path);
    FILE *f = mkdir(path, 0755) == 0 ? fopen(inside, "w") : NULL;
    made = f != NULL;
    if (f) fclose(f);
  }
  expect_eq(rank0_int(made), 1, "making blocked.h5 a non-empty directory");
  if (o) {
    rc = inb_h5_commit(&o);
    expect_rc(rc, INB_EIO, "inb_h5_commit onto a non-empty directory");
    if (rc) expect_errmsg_has(path, "failed commit");
  }
  expect_eq(o == NULL, 1, "a failed commit sets the pointer to NULL");
  expect_eq(h5t_exists(partial), 0, "a failed commit removes the partial file");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) h5t_remove_tree(path);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

/* An inb_h5_create that must fail with `want` on every rank, give no output, name `needle` (if any) and leave
 * neither the target nor its partial file (nor anything else) behind. */
static void expect_create_fails(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, int want,
                                const char *what, const char *needle) {
  char partial[PATH_MAX];
  h5t_partial(partial, path);
  int before = h5t_count_entries();
  char dummy;
  inb_h5_output *o = (inb_h5_output *)&dummy;
  int rc = inb_h5_create(path, specs, n, length, false, NULL, &o);
  if (want) expect_rc(rc, want, "%s: inb_h5_create", what);
  else expect_eq(rc != 0, 1, "%s: inb_h5_create fails", what);
  expect_eq(o == NULL, 1, "%s: *out is NULL on failure", what);
  if (rc == 0 && o) inb_h5_abort(&o);
  if (rc && needle) expect_errmsg_has(needle, "%s", what);
  expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(path), 0, "%s: no output '%s'", what, path);
  expect_eq(h5t_exists(partial), 0, "%s: no partial file '%s'", what, partial);
  expect_eq(h5t_count_entries(), before, "%s: nothing new in the directory", what);
}

static void test_an_output_in_a_missing_directory_is_eio_naming_the_directory(void **state) {
  (void)state;
  ensure_inputs();
  char dir[PATH_MAX], path[PATH_MAX + 16];
  h5t_path(dir, "no/such/dir");
  snprintf(path, sizeof path, "%s/out.h5", dir);
  expect_create_fails(path, g_specs, N_SPECS, N_OUT, INB_EIO, "missing directory", dir);
  assert_checks();
}

/* Makes dir unwritable for this process: mode 0555, and as root (who ignores modes) the immutable attribute.
 * Returns true when that worked; *immutable says whether to clear the attribute afterwards. */
static bool make_unwritable(const char *dir, bool *immutable) {
  *immutable = false;
  if (chmod(dir, 0555) != 0) return false;
  if (access(dir, W_OK) != 0) return true;
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  int flags = 0;
  if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    flags |= FS_IMMUTABLE_FL;
    *immutable = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  if (fd >= 0) close(fd);
  return access(dir, W_OK) != 0;
}

static void make_writable(const char *dir, bool immutable) {
  if (immutable) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int flags = 0;
    if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      flags &= ~FS_IMMUTABLE_FL;
      ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    if (fd >= 0) close(fd);
  }
  chmod(dir, 0755);
}

static void test_an_output_in_a_directory_that_is_not_writable_is_eio_naming_the_directory(void **state) {
  (void)state;
  ensure_inputs();
  char dir[PATH_MAX], path[PATH_MAX + 16];
  h5t_path(dir, "readonly");
  snprintf(path, sizeof path, "%s/out.h5", dir);
  bool immutable = false;
  int usable = 1;
  if (g_rank == 0) usable = mkdir(dir, 0755) == 0 && make_unwritable(dir, &immutable);
  usable = rank0_int(usable);
  if (usable) expect_create_fails(path, g_specs, N_SPECS, N_OUT, INB_EIO, "directory not writable", dir);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    make_writable(dir, immutable);
    h5t_remove_tree(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (!usable) {
    print_message("  skipped: cannot make a directory unwritable here (root without CAP_LINUX_IMMUTABLE?)\n");
    skip();
  }
  assert_checks();
}

static void test_bad_output_specs_are_einval_and_leave_nothing_behind(void **state) {
  (void)state;
  ensure_inputs();
  char path[PATH_MAX];
  h5t_path(path, "badspec.h5");
  const inb_h5_output_spec ok = {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {4}, .chunk_items = 4, .deflate = 1};
  const struct {
    const char *what;
    inb_h5_output_spec s;
  } bad[] = {
      {"deflate without chunks", {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {4}, .deflate = 1}},
      {"deflate level 10", {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {4}, .chunk_items = 4, .deflate = 10}},
      {"deflate level -1", {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {4}, .chunk_items = 4, .deflate = -1}},
      {"negative chunk_items", {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {4}, .chunk_items = -1}},
      {"negative ndim", {.name = "/y", .dtype = INB_F64, .ndim = -1}},
      {"a zero dimension", {.name = "/y", .dtype = INB_F64, .ndim = 2, .shape = {4, 0}}},
      {"a negative dimension", {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {-3}}},
      {"no name", {.name = NULL, .dtype = INB_F64}},
      {"an empty name", {.name = "", .dtype = INB_F64}},
      {"an unknown dtype", {.name = "/y", .dtype = (inb_dtype)42}},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    inb_h5_output_spec two[2] = {ok, bad[k].s};
    two[0].name = "/fine";
    expect_create_fails(path, two, 2, N_OUT, INB_EINVAL, bad[k].what, NULL);
  }
  inb_h5_output_spec dup[2] = {ok, ok};
  expect_create_fails(path, dup, 2, N_OUT, INB_EINVAL, "a dataset named twice", "/y");
  expect_create_fails(path, &ok, 1, -1, INB_EINVAL, "a negative length", NULL);
  inb_h5_output_spec clash = ok;
  clash.name = "/inbatch_results";
  expect_create_fails(path, &clash, 1, N_OUT, 0, "a dataset named like the results table", NULL);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_reports_the_length_and_read_returns_rows_in_any_order_with_repeats),
      cmocka_unit_test(test_read_of_an_index_out_of_range_is_einval_and_gives_no_batch),
      cmocka_unit_test(test_missing_file_is_enotfound_naming_the_file),
      cmocka_unit_test(test_missing_dataset_is_enotfound_naming_the_file_the_dataset_and_the_datasets_it_has),
      cmocka_unit_test(test_components_of_different_lengths_are_einval_naming_both),
      cmocka_unit_test(test_string_and_compound_datasets_are_einval_naming_the_dataset),
      cmocka_unit_test(test_a_file_that_is_not_hdf5_is_einval_naming_the_file),
      cmocka_unit_test(test_open_without_components_is_einval),
      cmocka_unit_test(test_read_with_a_null_index_reads_items_0_to_n_minus_1),
      cmocka_unit_test(test_component_tells_an_items_dtype_and_shape_without_reading_a_row),
      cmocka_unit_test(test_an_init_that_names_no_component_lists_the_inputs_components),
      cmocka_unit_test(test_a_variable_length_string_dataset_is_named_as_such),
      cmocka_unit_test(test_an_output_over_an_open_input_is_refused_naming_both_and_the_input_survives),
      cmocka_unit_test(test_an_output_appears_under_its_name_only_at_commit),
      cmocka_unit_test(test_abort_removes_the_partial_file_and_leaves_no_output),
      cmocka_unit_test(test_annotations_are_rank0s_strings_on_the_committed_file),
      cmocka_unit_test(test_an_existing_output_is_refused_without_overwrite_and_left_intact),
      cmocka_unit_test(test_overwrite_replaces_the_old_file_at_commit_and_not_before),
      cmocka_unit_test(test_commit_without_overwrite_does_not_replace_a_file_that_appeared_since_create),
      cmocka_unit_test(test_a_commit_that_cannot_rename_is_eio_on_every_rank_and_removes_the_partial_file),
      cmocka_unit_test(test_an_output_in_a_missing_directory_is_eio_naming_the_directory),
      cmocka_unit_test(test_an_output_in_a_directory_that_is_not_writable_is_eio_naming_the_directory),
      cmocka_unit_test(test_bad_output_specs_are_einval_and_leave_nothing_behind),
  };
  return h5t_main(argc, argv, "h5.test_h5_io", tests, sizeof tests / sizeof tests[0]);
}
