/* inb_h5_run (include/inbatch/h5.h): an action over the items of an HDF5 input, writing outputs where they were
 * computed and every item's outcome into the results table "/inbatch_results".
 *
 * The input holds "/idx" (each item's own index) and 16 components "/x_<dtype>_<k>d": float32, float64, int32
 * and uint8 datasets of rank k = 1..4 (scalar items, and 1-D, 2-D and 3-D items). The task checks every row it
 * gets against the values written and writes 2x+1 into "/y_<dtype>_<k>d" (contiguous, chunked, or chunked and
 * deflate-compressed). Each output is read back with the HDF5 C API after commit (rank 0), with the table.
 *
 * Runs on 1, 2 and 4 ranks: with one, targets threads, for and mpi; with more, target mpi (the others are
 * INB_EINVAL). A chunked+deflate output written in parallel is compared with the serial one by h5diff. */
#include "h5test.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef H5DIFF_PATH
#define H5DIFF_PATH ""
#endif
#ifndef H5DUMP_PATH
#define H5DUMP_PATH ""
#endif

enum { N_MAIN = 37, N_COMPS = 16 };

/* ---- the components, the task and what it writes -------------------------------------------------------- */

typedef struct {
  inb_dtype dtype;
  int rank;            /* of the dataset: items have rank - 1 dims */
  int64_t item[3];
  size_t per;          /* elements per item */
  char in[24], out[24];
  int layout;          /* 0 contiguous, 1 chunked, 2 chunked + deflate */
} comp_t;
static comp_t g_comps[N_COMPS];

static void init_comps(void) {
  static const int64_t shapes[4][3] = {{0}, {3}, {2, 3}, {2, 3, 2}};
  for (int t = 0; t < H5T_NTYPES; t++)
    for (int k = 1; k <= 4; k++) {
      comp_t *c = &g_comps[t * 4 + k - 1];
      c->dtype = h5t_types[t];
      c->rank = k;
      c->per = 1;
      for (int d = 0; d < k - 1; d++) c->item[d] = shapes[k - 1][d], c->per *= (size_t)shapes[k - 1][d];
      snprintf(c->in, sizeof c->in, "/x_%s_%dd", h5t_type_names[t], k);
      snprintf(c->out, sizeof c->out, "/y_%s_%dd", h5t_type_names[t], k);
      c->layout = (t + k) % 3;
    }
}

/* What the task does, set the same on every rank before a run (tasks only read it). */
static struct {
  int fail_every, fail_at; /* items with i % fail_every == fail_at fail (fail_every 0: none) */
  bool outputs;            /* the run has outputs: write every "/y_..." */
} g_task;

static atomic_long g_ran; /* tasks run on this rank */
static inb_post_fn g_post; /* the affine action's post (NULL: none), set the same on every rank */

static bool fails(int64_t i) { return g_task.fail_every && i % g_task.fail_every == g_task.fail_at; }
static int fail_code(int64_t i) { return 40 + (int)(i % 7); }

/* Item 8's failure message is 400 bytes (the table keeps 255); the others are short. */
static const char *fail_message(int64_t i, char *buf, size_t cap) {
  if (i != 8) {
    snprintf(buf, cap, "item %lld refused on purpose", (long long)i);
    return buf;
  }
  size_t n = snprintf(buf, cap, "item 8 has a long story: ");
  while (n + 1 < cap && n < 400) buf[n] = (char)('a' + n % 26), n++;
  buf[n] = '\0';
  return buf;
}

/* The task's result, of every kind: the table's value column holds numeric scalars, NaN for the others. */
static inb_value result_for(int64_t i) {
  switch (i % 4) {
  case 0: return inb_int(i * 10);
  case 1: return inb_real((double)i + 0.5);
  case 2: return inb_none();
  default: return inb_str("not a number");
  }
}
static double table_value_for(int64_t i) { return i % 4 == 0 ? (double)(i * 10) : i % 4 == 1 ? (double)i + 0.5 : NAN; }

static bool same_shape(const inb_array *a, const comp_t *c) {
  if (a->dtype != c->dtype || a->ndim != c->rank - 1) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != c->item[d]) return false;
  return true;
}

/* init "items": checks the item's rows of every component, writes 2x+1 into every output. */
static int affine(inb_item *it, const inb_args *a, inb_value *result) {
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  const inb_value *iv = inb_args_get(a, "idx");
  if (!iv || iv->kind != INB_ARRAY || iv->u.a.dtype != INB_I64 || iv->u.a.ndim != 0)
    return inb_fail(it, 90, "task %zu: no scalar int64 argument 'idx'", inb_item_task(it));
  int64_t i = *(const int64_t *)iv->u.a.data;
  for (int k = 0; k < N_COMPS; k++) {
    const comp_t *c = &g_comps[k];
    const inb_value *v = inb_args_get(a, c->in + 1); /* named like the dataset without its '/' */
    if (!v || v->kind != INB_ARRAY || !same_shape(&v->u.a, c))
      return inb_fail(it, 91, "item %lld: argument '%s' missing or of the wrong dtype/shape", (long long)i, c->in + 1);
    inb_array *o = inb_item_output(it, c->out);
    if (g_task.outputs && (!o || !same_shape(o, c)))
      return inb_fail(it, 92, "item %lld: output '%s' %s", (long long)i, c->out, o ? "of the wrong shape" : "is NULL");
    if (!g_task.outputs && o) return inb_fail(it, 92, "item %lld: output '%s' without outputs", (long long)i, c->out);
    for (size_t e = 0; e < c->per; e++) {
      double x = h5t_get(v->u.a.data, c->dtype, e), want = h5t_value(k, i, e, c->dtype);
      if (x != want)
        return inb_fail(it, 93, "item %lld: '%s' element %zu is %g, expected %g", (long long)i, c->in, e, x, want);
      if (!o) continue;
      if (h5t_get(o->data, c->dtype, e) != 0)
        return inb_fail(it, 94, "item %lld: output '%s' element %zu does not start zeroed", (long long)i, c->out, e);
      h5t_set(o->data, c->dtype, e, 2 * x + 1);
    }
  }
  if (inb_item_output(it, "/no_such_output")) return inb_fail(it, 95, "an output that is not in the specs");
  if (fails(i)) {
    char msg[512];
    return inb_fail(it, fail_code(i), "%s", fail_message(i, msg, sizeof msg));
  }
  *result = result_for(i);
  return 0;
}

/* ---- files ------------------------------------------------------------------------------------------------ */

/* "in<n>.h5": /idx and the 16 components with n items; written once by rank 0. */
static const char *input_for(int64_t n, char *path) {
  char name[32];
  snprintf(name, sizeof name, "in%lld.h5", (long long)n);
  h5t_path(path, name);
  int ok = 1;
  if (g_rank == 0 && !h5t_exists(path)) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0 && h5t_write_index(f, "/idx", n) == 0;
    for (int k = 0; ok && k < N_COMPS; k++)
      ok = h5t_write_values(f, g_comps[k].in, g_comps[k].dtype, n, g_comps[k].rank - 1, g_comps[k].item, k) == 0;
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  }
  expect_eq(rank0_int(ok), 1, "writing input '%s'", path);
  return path;
}

static const char *const *component_paths(void) {
  static const char *paths[N_COMPS + 1];
  paths[0] = "/idx";
  for (int k = 0; k < N_COMPS; k++) paths[k + 1] = g_comps[k].in;
  return paths;
}

/* The output specs: every component's "/y_..." in its layout; chunks hold at most max_chunk items
 * (0: no limit); n == 0 makes every output contiguous. */
static void make_specs(inb_h5_output_spec *s, int64_t n, int64_t max_chunk, int force_layout) {
  for (int k = 0; k < N_COMPS; k++) {
    const comp_t *c = &g_comps[k];
    int layout = force_layout >= 0 ? force_layout : c->layout;
    s[k] = (inb_h5_output_spec){.name = c->out, .dtype = c->dtype, .ndim = c->rank - 1};
    for (int d = 0; d < c->rank - 1; d++) s[k].shape[d] = c->item[d];
    if (n == 0 || layout == 0) continue;
    s[k].chunk_items = layout == 1 ? 4 : 5;
    if (max_chunk && s[k].chunk_items > max_chunk) s[k].chunk_items = max_chunk;
    s[k].deflate = layout == 2 ? 1 + k % 9 : 0;
  }
}

/* ---- reading outputs back ----------------------------------------------------------------------------- */

static hid_t native(inb_dtype t) {
  return t == INB_F32 ? H5T_NATIVE_FLOAT : t == INB_F64 ? H5T_NATIVE_DOUBLE : t == INB_I32 ? H5T_NATIVE_INT32
         : t == INB_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_INT64;
}

/* Reads dataset `name` of file f (dtype t, dims dims[0..rank)) whole; NULL (and a failed check) otherwise. */
static void *read_all(hid_t f, const char *name, inb_dtype t, int rank, const hsize_t *dims, const char *what) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  expect_eq(d >= 0, 1, "%s: dataset '%s' exists", what, name);
  if (d < 0) return NULL;
  hid_t space = H5Dget_space(d);
  hsize_t got[H5S_MAX_RANK] = {0};
  int r = H5Sget_simple_extent_dims(space, got, NULL);
  bool ok = r == rank;
  size_t count = 1;
  for (int j = 0; ok && j < rank; j++) ok = got[j] == dims[j], count *= (size_t)dims[j];
  expect_eq(ok, 1, "%s: '%s' has rank %d and dims [%llu, ...] (expected rank %d, %llu items)", what, name, r,
            (unsigned long long)got[0], rank, (unsigned long long)dims[0]);
  void *buf = ok ? calloc(count + 1, inb_dtype_size(t) ? inb_dtype_size(t) : 8) : NULL;
  if (buf && H5Dread(d, native(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    expect_eq(0, 1, "%s: reading '%s'", what, name);
    free(buf);
    buf = NULL;
  }
  H5Sclose(space);
  H5Dclose(d);
  return buf;
}

/* Rank 0: the committed output `path` of n items holds 2x+1 for every item in `planned` (NULL: all) that did
 * not fail, and the results table lists those items' outcomes. Records one check per dataset and column. */
static void verify(const char *path, int64_t n, const bool *planned, const char *what) {
  if (g_rank != 0) return;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  expect_eq(f >= 0, 1, "%s: the output '%s' exists and opens as HDF5", what, path);
  if (f < 0) return;
  for (int k = 0; k < N_COMPS; k++) {
    const comp_t *c = &g_comps[k];
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)c->item[0], (hsize_t)c->item[1], (hsize_t)c->item[2]};
    void *buf = read_all(f, c->out, c->dtype, c->rank, dims, what);
    if (!buf) continue;
    long bad = -1;
    double got = 0, want = 0;
    for (int64_t i = 0; i < n && bad < 0; i++) {
      if ((planned && !planned[i]) || fails(i)) continue;
      for (size_t e = 0; e < c->per && bad < 0; e++) {
        got = h5t_get(buf, c->dtype, (size_t)i * c->per + e);
        want = 2 * h5t_value(k, i, e, c->dtype) + 1;
        if (got != want) bad = (long)i;
      }
    }
    expect_eq(bad, -1, "%s: '%s' holds 2x+1 (first wrong item; got %g, expected %g)", what, c->out, got, want);
    free(buf);
  }
  h5t_result *rows = calloc((size_t)n + 1, sizeof *rows);
  h5t_error *errs = NULL;
  size_t nerrs = 0;
  bool table_ok = rows && h5t_read_table(f, rows, (size_t)n) == 0;
  bool errors_ok = h5t_read_errors(f, &errs, &nerrs) == 0;
  H5Fclose(f);
  expect_eq(table_ok, 1, "%s: the results table has %lld rows of index, state, code, value", what, (long long)n);
  expect_eq(errors_ok, 1, "%s: the failure records /inbatch_errors (index, code, rank, message) read", what);
  long bad_index = -1, bad_state = -1, bad_code = -1, bad_value = -1, nfailed = 0;
  for (int64_t i = 0; table_ok && i < n; i++) {
    bool run = !planned || planned[i];
    const h5t_result *r = &rows[i];
    int state = !run ? INB_H5_NOT_RUN : fails(i) ? INB_H5_FAILED : INB_H5_DONE;
    if (r->index != i && bad_index < 0) bad_index = (long)i;
    if (r->state != state && bad_state < 0) bad_state = (long)i;
    if (r->code != (state == INB_H5_FAILED ? fail_code(i) : 0) && bad_code < 0) bad_code = (long)i;
    double v = state == INB_H5_DONE ? table_value_for(i) : NAN;
    if ((isnan(v) ? !isnan(r->value) : r->value != v) && bad_value < 0) bad_value = (long)i;
    nfailed += state == INB_H5_FAILED;
  }
  const h5t_result *z = NULL;
#define ROW(b) (z = &rows[(b) < 0 ? 0 : (b)])
  if (table_ok) {
    ROW(bad_index);
    expect_eq(bad_index, -1, "%s: table row i has index i, planned or not (first wrong row; its index is %lld)", what,
              (long long)z->index);
    ROW(bad_state);
    expect_eq(bad_state, -1, "%s: table column state: done, failed, or not_run when not planned (first wrong row; "
              "state = %d)", what, z->state);
    ROW(bad_code);
    expect_eq(bad_code, -1, "%s: table column code: the task's code, 0 when done or not run (first wrong row; code = "
              "%d)", what, z->code);
    ROW(bad_value);
    expect_eq(bad_value, -1, "%s: table column value: numeric results, else NaN (first wrong row; value = %g)", what,
              z->value);
  }
#undef ROW
  /* the records: one per failed item, nothing else, each with its code, a rank that exists and its message */
  if (errors_ok) {
    expect_eq((long)nerrs, nfailed, "%s: /inbatch_errors has one record per failed item", what);
    long bad_rec = -1;
    char msg[512];
    int64_t prev = -1;
    bool sorted = true;
    for (size_t k = 0; k < nerrs; k++) {
      const h5t_error *e = &errs[k];
      bool ok = e->index >= 0 && e->index < n && fails(e->index) && (!planned || planned[e->index]) &&
                e->code == fail_code(e->index) && e->rank >= 0 && e->rank < g_size;
      if (ok) {
        fail_message(e->index, msg, sizeof msg);
        msg[255] = '\0'; /* the records keep 255 bytes */
        ok = strcmp(e->message, msg) == 0;
      }
      if (!ok && bad_rec < 0) bad_rec = (long)k;
      sorted = sorted && e->index > prev;
      prev = e->index;
    }
    const h5t_error *ze = nerrs ? &errs[bad_rec < 0 ? 0 : bad_rec] : NULL;
    expect_eq(bad_rec, -1, "%s: /inbatch_errors records: a failed item, its code, rank and message (first wrong "
              "record: item %lld code %d rank %d '%.60s')", what, ze ? (long long)ze->index : -1LL, ze ? ze->code : 0,
              ze ? ze->rank : 0, ze ? ze->message : "");
    if (!planned) /* the plan 0..n-1: batches in order, records by item within each */
      expect_eq(sorted, 1, "%s: /inbatch_errors records are in item order for a plan in item order", what);
  }
  free(errs);
  free(rows);
}

/* ---- running ----------------------------------------------------------------------------------------------- */

typedef struct {
  inb_target target, local;
  inb_schedule schedule;
  int64_t batch_size;
} config_t;

static const char *config_name(const config_t *cf, char *buf, size_t cap) {
  static const char *const names[] = {"default", "threads", "for", "async", "mpi"};
  snprintf(buf, cap, "target %s%s%s%s batch_size %lld", names[cf->target], cf->target == INB_MPI ? " local " : "",
           cf->target == INB_MPI ? names[cf->local] : "",
           cf->target != INB_MPI ? "" : cf->schedule == INB_STATIC ? " static" : " dynamic", (long long)cf->batch_size);
  return buf;
}

/* The configurations a rank count allows: with one rank every target, with more only mpi. */
static size_t configs(const config_t **out) {
  static const config_t one[] = {
      {INB_THREADS, 0, 0, 0}, {INB_THREADS, 0, 0, 7}, {INB_FOR, 0, 0, 10},
      {INB_MPI, INB_THREADS, INB_DYNAMIC, 7}, {INB_MPI, INB_FOR, INB_STATIC, 64}, {INB_MPI, INB_THREADS, INB_STATIC, 1},
  };
  static const config_t many[] = {
      {INB_MPI, INB_THREADS, INB_DYNAMIC, 7}, {INB_MPI, INB_FOR, INB_STATIC, 10}, {INB_MPI, INB_THREADS, INB_STATIC, 0},
      {INB_MPI, INB_FOR, INB_DYNAMIC, 64}, {INB_MPI, INB_THREADS, INB_DYNAMIC, 1},
  };
  *out = g_size == 1 ? one : many;
  return g_size == 1 ? sizeof one / sizeof one[0] : sizeof many / sizeof many[0];
}

/* Opens `input` (collective over comm), creates `output` (if not NULL) with specs, runs the affine action
 * with cf and the plan's index, commits (or aborts when the run failed otherwise than INB_EITEM). Returns
 * inb_h5_run's status (or the first failing call's). */
static int run_affine(const char *input, const char *output, const inb_h5_output_spec *specs, size_t nspecs,
                      const config_t *cf, const int64_t *index, size_t nindex, void *comm, const char *what) {
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, component_paths(), N_COMPS + 1, comm, &in);
  expect_rc(rc, 0, "%s: inb_h5_open", what);
  if (rc) return rc;
  if (output) {
    rc = inb_h5_create(output, specs, nspecs, inb_h5_length(in), true, comm, &out);
    expect_rc(rc, 0, "%s: inb_h5_create", what);
  }
  if (!rc) {
    g_task.outputs = output != NULL;
    inb_action act = {.name = "affine", .fn = affine, .init = "items", .post = g_post, .target = cf->target,
                      .local = cf->local};
    inb_opts o = {.schedule = cf->schedule, .n_workers = 2, .comm = comm};
    inb_h5_plan plan = {.batch_size = cf->batch_size, .index = index, .nindex = nindex};
    atomic_store(&g_ran, 0);
    rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
    if (rc == 0 || rc == INB_EITEM) {
      int crc = out ? inb_h5_commit(&out) : 0;
      expect_rc(crc, 0, "%s: inb_h5_commit", what);
    } else {
      inb_h5_abort(&out);
    }
  }
  inb_h5_close(&in);
  return rc;
}

static bool g_planned[N_MAIN];

static void remove_output(const char *path) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* ---- tests ------------------------------------------------------------------------------------------------ */

static void test_every_dtype_and_item_rank_is_written_as_2x_plus_1_with_batch_sizes_that_do_not_divide_n(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "all.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k++) {
    snprintf(what, sizeof what, "N=%d %s", N_MAIN, config_name(&cfs[k], name, sizeof name));
    int rc = run_affine(input, output, specs, N_COMPS, &cfs[k], NULL, 0, NULL, what);
    expect_rc(rc, 0, "%s: inb_h5_run", what);
    expect_eq(sum_ranks((long)atomic_load(&g_ran)), N_MAIN, "%s: tasks run on all ranks", what);
    verify(output, N_MAIN, NULL, what);
    remove_output(output);
  }
  assert_checks();
}

static void test_a_plan_in_any_order_or_of_some_items_writes_the_rows_of_its_items(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "plan.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  int64_t shuffled[N_MAIN], some[N_MAIN];
  size_t nsome = 0;
  for (int i = 0; i < N_MAIN; i++) shuffled[i] = (int64_t)i * 11 % N_MAIN; /* 11 and 37 are coprime */
  for (int i = N_MAIN - 1; i >= 0; i--)
    if (i % 4 != 0) some[nsome++] = i; /* descending, without the multiples of 4 */
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k += 3) {
    config_t cf = cfs[k];
    cf.batch_size = 5;
    config_name(&cf, name, sizeof name);
    snprintf(what, sizeof what, "shuffled plan, %s", name);
    expect_rc(run_affine(input, output, specs, N_COMPS, &cf, shuffled, N_MAIN, NULL, what), 0, "%s: inb_h5_run", what);
    verify(output, N_MAIN, NULL, what);
    remove_output(output);
    cf.batch_size = 6;
    config_name(&cf, name, sizeof name);
    snprintf(what, sizeof what, "plan of %zu items, %s", nsome, name);
    expect_rc(run_affine(input, output, specs, N_COMPS, &cf, some, nsome, NULL, what), 0, "%s: inb_h5_run", what);
    for (int i = 0; i < N_MAIN; i++) g_planned[i] = i % 4 != 0;
    verify(output, N_MAIN, g_planned, what);
    remove_output(output);
  }
  assert_checks();
}

static void test_failed_items_are_listed_in_the_results_table_and_every_other_row_is_written(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 5, g_task.fail_at = 3; /* items 3, 8 (a 400-byte message), 13, ... */
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "failed.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k += 2) { /* with one rank threads, for and mpi; with more batch sizes 7, 0, 1 */
    snprintf(what, sizeof what, "failing items, %s", config_name(&cfs[k], name, sizeof name));
    int rc = run_affine(input, output, specs, N_COMPS, &cfs[k], NULL, 0, NULL, what);
    expect_rc(rc, INB_EITEM, "%s: inb_h5_run", what);
    verify(output, N_MAIN, NULL, what);
    remove_output(output);
  }
  /* without outputs: the same status, nothing written */
  config_t cf = cfs[0];
  int before = h5t_count_entries();
  expect_rc(run_affine(input, NULL, NULL, 0, &cf, NULL, 0, NULL, "failing items, no outputs"), INB_EITEM,
            "failing items without outputs: inb_h5_run");
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_count_entries(), before, "failing items without outputs: nothing new in the directory");
  g_task.fail_every = 0;
  assert_checks();
}

/* batchflow's usual post: a batch with a failed item is an error (INB_EITEM). */
static atomic_long g_strict_posts;
static int strict_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  atomic_fetch_add(&g_strict_posts, 1);
  return inb_any_failed(r) ? INB_EITEM : 0;
}

/* h5.h: INB_EITEM means "the rest of their batch and every other batch was still written, and the table lists
 * them", and the action's post "runs per batch on rank 0 as usual": a post that returns INB_EITEM for the
 * batches with failures changes neither. */
static void test_a_post_that_returns_eitem_for_failed_batches_still_gets_every_batch_written(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 5, g_task.fail_at = 3; /* failures in batches 0-4 of 7 items; batch 5 has none */
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "strict.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  const config_t *cfs;
  configs(&cfs);
  config_t cf = cfs[g_size == 1 ? 1 : 0]; /* batches of 7 */
  snprintf(what, sizeof what, "post returning INB_EITEM, %s", config_name(&cf, name, sizeof name));
  g_post = strict_post;
  atomic_store(&g_strict_posts, 0);
  expect_rc(run_affine(input, output, specs, N_COMPS, &cf, NULL, 0, NULL, what), INB_EITEM, "%s: inb_h5_run", what);
  g_post = NULL;
  expect_eq(atomic_load(&g_strict_posts), g_rank == 0 ? (N_MAIN + 6) / 7 : 0, "%s: posts run on this rank", what);
  verify(output, N_MAIN, NULL, what);
  remove_output(output);
  g_task.fail_every = 0;
  assert_checks();
}

static void test_without_outputs_every_task_reads_its_rows_and_nothing_is_written(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  int before = h5t_count_entries();
  for (size_t k = 0; k < ncf; k++) {
    snprintf(what, sizeof what, "no outputs, %s", config_name(&cfs[k], name, sizeof name));
    expect_rc(run_affine(input, NULL, NULL, 0, &cfs[k], NULL, 0, NULL, what), 0, "%s: inb_h5_run", what);
    expect_eq(sum_ranks((long)atomic_load(&g_ran)), N_MAIN, "%s: tasks run on all ranks", what);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  char list[400];
  expect_eq(h5t_count_entries(), before, "no outputs: nothing new in the directory (it has: %s)",
            h5t_list_entries(list, sizeof list));
  assert_checks();
}

static void test_n_smaller_than_the_number_of_ranks_is_written_correctly(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  h5t_path(output, "small.h5");
  const int64_t ns[] = {1, 2, 3};
  const int64_t batches[] = {0, 1, 7};
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
    input_for(ns[j], input);
    inb_h5_output_spec specs[N_COMPS];
    make_specs(specs, ns[j], ns[j], -1); /* chunks of at most N items */
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
      config_t cf = cfs[(j + b) % ncf];
      cf.batch_size = batches[b];
      snprintf(what, sizeof what, "N=%lld on %d ranks, %s", (long long)ns[j], g_size, config_name(&cf, name, sizeof name));
      expect_rc(run_affine(input, output, specs, N_COMPS, &cf, NULL, 0, NULL, what), 0, "%s: inb_h5_run", what);
      verify(output, ns[j], NULL, what);
      remove_output(output);
    }
  }
  assert_checks();
}

/* h5.h does not bound chunk_items by the length: a chunk larger than the whole dataset (3 items, or none) is a
 * valid spec. */
static void test_chunks_larger_than_the_dataset_are_accepted(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  h5t_path(output, "bigchunk.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, 3, 0, -1); /* chunk_items 4 and 5, deflate on a third of them */
  const config_t *cfs;
  configs(&cfs);
  const int64_t ns[] = {3, 0};
  for (size_t j = 0; j < 2; j++) {
    input_for(ns[j], input);
    snprintf(what, sizeof what, "N=%lld with chunks of 4 and 5 items, %s", (long long)ns[j],
             config_name(&cfs[0], name, sizeof name));
    expect_rc(run_affine(input, output, specs, N_COMPS, &cfs[0], NULL, 0, NULL, what), 0, "%s: open, create, run",
              what);
    verify(output, ns[j], NULL, what);
    remove_output(output);
  }
  assert_checks();
}

static void test_an_input_of_zero_items_gives_an_empty_output(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(0, input);
  h5t_path(output, "empty.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, 0, 0, -1);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k += 3) {
    snprintf(what, sizeof what, "N=0, %s", config_name(&cfs[k], name, sizeof name));
    expect_rc(run_affine(input, output, specs, N_COMPS, &cfs[k], NULL, 0, NULL, what), 0, "%s: inb_h5_run", what);
    verify(output, 0, NULL, what);
    remove_output(output);
  }
  assert_checks();
}

/* Rank 0: h5diff's exit status for a and b (0 = equal, 1 = different); prints its report when they differ and
 * `report` is set. */
static int h5diff(const char *a, const char *b, bool report) {
  char log[PATH_MAX], cmd[4 * PATH_MAX];
  h5t_path(log, "h5diff.log");
  /* the failure records say which rank ran each failed task: they differ between runs on other rank counts
   * (verify checks them) */
  snprintf(cmd, sizeof cmd, "'%s' -r --exclude-path /inbatch_errors '%s' '%s' > '%s' 2>&1", H5DIFF_PATH, a, b, log);
  int st = system(cmd);
  int code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (code != 0 && report) {
    FILE *f = fopen(log, "r");
    char line[512];
    int lines = 0;
    print_message("  h5diff %s %s: exit %d\n", a, b, code);
    while (f && fgets(line, sizeof line, f) && lines++ < 40) print_message("    %s", line);
    if (f) fclose(f);
  }
  remove(log);
  return code;
}

static void test_a_deflate_output_written_in_parallel_equals_the_serial_one(void **state) {
  (void)state;
  reset_checks();
  if (!H5DIFF_PATH[0]) {
    print_message("  skipped: h5diff was not found at configure time\n");
    skip();
  }
  g_task.fail_every = 5, g_task.fail_at = 3; /* the table has failures, NaNs and messages too */
  char input[PATH_MAX], serial[PATH_MAX], parallel[PATH_MAX];
  input_for(N_MAIN, input);
  h5t_path(serial, "serial.h5");
  h5t_path(parallel, "parallel.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, 2); /* every output chunked (5 items) and deflate-compressed */
  /* rank 0 alone: its own communicator (POSIX files), target threads, one batch */
  if (g_rank == 0) {
    MPI_Comm self = MPI_COMM_SELF;
    config_t cf = {INB_THREADS, 0, 0, 0};
    expect_rc(run_affine(input, serial, specs, N_COMPS, &cf, NULL, 0, &self, "serial"), INB_EITEM,
              "serial: inb_h5_run");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* every rank: target mpi, batches of 7 (chunks of 5 span batches) */
  config_t cf = {INB_MPI, INB_THREADS, INB_DYNAMIC, 7};
  expect_rc(run_affine(input, parallel, specs, N_COMPS, &cf, NULL, 0, NULL, "parallel"), INB_EITEM,
            "parallel: inb_h5_run");
  verify(parallel, N_MAIN, NULL, "parallel deflate output");
  if (g_rank == 0) {
    /* compressed for real: every output dataset carries the deflate filter */
    hid_t f = H5Fopen(parallel, H5F_ACC_RDONLY, H5P_DEFAULT);
    int compressed = 0;
    for (int k = 0; f >= 0 && k < N_COMPS; k++) {
      hid_t d = H5Dopen2(f, g_comps[k].out, H5P_DEFAULT);
      hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
      for (int j = 0; dcpl >= 0 && j < H5Pget_nfilters(dcpl); j++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        if (H5Pget_filter2(dcpl, (unsigned)j, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE) compressed++;
      }
      if (dcpl >= 0) H5Pclose(dcpl);
      if (d >= 0) H5Dclose(d);
    }
    if (f >= 0) H5Fclose(f);
    expect_eq(compressed, N_COMPS, "outputs of the parallel file with the deflate filter");
  }
  int code = g_rank == 0 ? h5diff(serial, parallel, true) : 0;
  expect_eq(rank0_int(code), 0, "h5diff of the serial and the %d-rank outputs", g_size);
  /* and h5diff does see a difference: the same run where no item fails (the table and failed rows differ) */
  g_task.fail_every = 0;
  expect_rc(run_affine(input, parallel, specs, N_COMPS, &cf, NULL, 0, NULL, "parallel, no failures"), 0,
            "parallel, no failures: inb_h5_run");
  code = g_rank == 0 ? h5diff(serial, parallel, false) : 1;
  expect_eq(rank0_int(code), 1, "h5diff of the serial output and one without failures (they differ)");
  remove_output(serial);
  remove_output(parallel);
  g_task.fail_every = 0;
  assert_checks();
}

/* Rank 0: what `h5dump -d /inbatch_results` prints, into buf. */
static const char *h5dump_table(const char *path, char *buf, size_t cap) {
  char log[PATH_MAX], cmd[3 * PATH_MAX];
  h5t_path(log, "h5dump.log");
  snprintf(cmd, sizeof cmd, "'%s' -d /inbatch_results '%s' > '%s' 2>&1", H5DUMP_PATH, path, log);
  buf[0] = '\0';
  if (system(cmd) == 0) h5t_read_text(log, buf, cap);
  remove(log);
  return buf;
}

/* h5.h, "The results of a run": a row per item of index, state (an enum h5dump shows by name), code and value,
 * a few dozen bytes each; the failures' messages apart, in "/inbatch_errors"; the items of no plan not_run with
 * their own index. */
static void test_the_results_table_gives_every_item_a_state_by_name_and_keeps_messages_apart(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 5, g_task.fail_at = 3;
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "states.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  int64_t some[N_MAIN];
  size_t nsome = 0;
  for (int i = 0; i < N_MAIN; i++)
    if (i * 11 % N_MAIN % 4 != 0) some[nsome++] = i * 11 % N_MAIN; /* shuffled, without the multiples of 4 */
  for (int i = 0; i < N_MAIN; i++) g_planned[i] = i % 4 != 0;
  const config_t *cfs;
  configs(&cfs);
  config_t cf = cfs[0];
  cf.batch_size = 0; /* one batch: the table's rows of many runs of items in one write */
  snprintf(what, sizeof what, "states, shuffled plan of %zu items, %s", nsome, config_name(&cf, name, sizeof name));
  expect_rc(run_affine(input, output, specs, N_COMPS, &cf, some, nsome, NULL, what), INB_EITEM, "%s: inb_h5_run", what);
  verify(output, N_MAIN, g_planned, what);
  if (g_rank == 0) {
    hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t t = f >= 0 ? H5Dopen2(f, "/inbatch_results", H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t type = t >= 0 ? H5Dget_type(t) : H5I_INVALID_HID;
    size_t row = type >= 0 ? H5Tget_size(type) : 0;
    expect_eq(row > 0 && row <= 24, 1, "%s: a table row takes %zu bytes in the file (a few dozen at most)", what, row);
    expect_eq(type >= 0 && H5Tget_member_index(type, "message") < 0, 1, "%s: the table has no message column", what);
    int st = type >= 0 ? H5Tget_member_index(type, "state") : -1;
    hid_t et = st >= 0 ? H5Tget_member_type(type, (unsigned)st) : H5I_INVALID_HID;
    expect_eq(et >= 0 && H5Tget_class(et) == H5T_ENUM, 1, "%s: the state column is an HDF5 enum", what);
    const char *names[] = {"not_run", "done", "failed"};
    for (int k = 0; et >= 0 && k < 3; k++) {
      int8_t v = (int8_t)k;
      char got[16] = "";
      hid_t native = H5Tcopy(et);
      H5Tconvert(et, native, 1, &v, NULL, H5P_DEFAULT);
      bool ok = H5Tenum_nameof(et, &v, got, sizeof got) >= 0 && strcmp(got, names[k]) == 0;
      H5Tclose(native);
      expect_eq(ok, 1, "%s: state %d is named '%s' (it is '%s')", what, k, names[k], got);
    }
    if (et >= 0) H5Tclose(et);
    if (type >= 0) H5Tclose(type);
    if (t >= 0) H5Dclose(t);
    if (f >= 0) H5Fclose(f);
    if (H5DUMP_PATH[0]) {
      static char dump[1 << 16];
      h5dump_table(output, dump, sizeof dump);
      for (int k = 0; k < 3; k++)
        expect_eq(strstr(dump, names[k]) != NULL, 1, "%s: h5dump shows the state '%s' by name", what, names[k]);
    }
  }
  remove_output(output);
  /* an output committed without a run: every row not run, with its own index; no failure records */
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(output, specs, N_COMPS, N_MAIN, true, NULL, &out);
  expect_rc(rc, 0, "create, to commit without a run");
  if (!rc) expect_rc(inb_h5_commit(&out), 0, "commit without a run");
  for (int i = 0; i < N_MAIN; i++) g_planned[i] = false;
  if (!rc) verify(output, N_MAIN, g_planned, "committed without a run");
  remove_output(output);
  g_task.fail_every = 0;
  assert_checks();
}

static void test_targets_other_than_mpi_are_einval_with_more_than_one_rank(void **state) {
  (void)state;
  reset_checks();
  if (g_size == 1) {
    print_message("  skipped: one rank (threads and for are tested as targets above)\n");
    skip();
  }
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX], partial[PATH_MAX];
  input_for(N_MAIN, input);
  h5t_path(output, "refused.h5");
  h5t_partial(partial, output);
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  const struct {
    const char *what;
    inb_target act, opt;
    bool outputs;
  } cases[] = {
      {"action target threads", INB_THREADS, INB_DEFAULT, true},
      {"action target for", INB_FOR, INB_DEFAULT, true},
      {"action target default", INB_DEFAULT, INB_DEFAULT, true},
      {"opts target threads over action mpi", INB_MPI, INB_THREADS, true},
      {"action target threads, no outputs", INB_THREADS, INB_DEFAULT, false},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    inb_h5_input *in = NULL;
    inb_h5_output *out = NULL;
    int rc = inb_h5_open(input, component_paths(), N_COMPS + 1, NULL, &in);
    expect_rc(rc, 0, "%s: inb_h5_open", cases[k].what);
    if (!rc && cases[k].outputs) {
      rc = inb_h5_create(output, specs, N_COMPS, N_MAIN, true, NULL, &out);
      expect_rc(rc, 0, "%s: inb_h5_create", cases[k].what);
    }
    if (!rc) {
      g_task.outputs = cases[k].outputs;
      inb_action act = {.name = "affine", .fn = affine, .init = "items", .target = cases[k].act};
      inb_opts o = {.target = cases[k].opt, .n_workers = 2};
      inb_h5_plan plan = {.batch_size = 7};
      rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
      expect_rc(rc, INB_EINVAL, "%s on %d ranks: inb_h5_run", cases[k].what, g_size);
      expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", cases[k].what);
      inb_h5_abort(&out);
    }
    inb_h5_close(&in);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_eq(h5t_exists(output) || h5t_exists(partial), 0, "%s: after abort, no output and no partial file",
              cases[k].what);
  }
  assert_checks();
}

/* init "indices": the task gets the item's index and writes 3i and (i, -i), one output after the other. */
static int by_index(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  const inb_value *v = inb_args_at(a, 0);
  if (!v || v->kind != INB_INT) return inb_fail(it, 90, "no index");
  inb_array *t = inb_item_output(it, "/tripled");
  if (!t || t->dtype != INB_I64 || t->ndim != 0) return inb_fail(it, 92, "item %lld: /tripled", (long long)v->u.i);
  *(int64_t *)t->data = 3 * v->u.i;
  inb_array *p = inb_item_output(it, "/pair");
  if (!p || p->dtype != INB_F32 || p->ndim != 1 || p->shape[0] != 2)
    return inb_fail(it, 92, "item %lld: /pair", (long long)v->u.i);
  ((float *)p->data)[0] = (float)v->u.i;
  ((float *)p->data)[1] = -(float)v->u.i;
  return 0;
}

/* The same, holding both views at once: h5.h says each is "a writable view valid until the task returns". */
static int by_index_both_views(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  const inb_value *v = inb_args_at(a, 0);
  if (!v || v->kind != INB_INT) return inb_fail(it, 90, "no index");
  inb_array *t = inb_item_output(it, "/tripled"), *p = inb_item_output(it, "/pair");
  if (!t || t->dtype != INB_I64 || t->ndim != 0 || !p || p->dtype != INB_F32 || p->ndim != 1 || p->shape[0] != 2)
    return inb_fail(it, 92, "item %lld: the view of /tripled changed when /pair was asked for (it is %s: dtype %d, "
                    "ndim %d%s)", (long long)v->u.i, t ? "found" : "NULL", t ? (int)t->dtype : -1,
                    t ? t->ndim : -1, t && t == p ? ", the same pointer as /pair's" : "");
  *(int64_t *)t->data = 3 * v->u.i;
  ((float *)p->data)[0] = (float)v->u.i;
  ((float *)p->data)[1] = -(float)v->u.i;
  return 0;
}

/* init "x_f64_3d" (a component): the task gets that row only and writes 2x+1. */
static int by_component(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  const inb_value *v = inb_args_at(a, 0);
  inb_array *o = inb_item_output(it, "/twice");
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.ndim != 2 || inb_array_count(&v->u.a) != 6)
    return inb_fail(it, 91, "the component's row is missing or of the wrong shape");
  if (!o || o->dtype != INB_F64 || inb_array_count(o) != 6) return inb_fail(it, 92, "output /twice missing");
  for (size_t e = 0; e < 6; e++) ((double *)o->data)[e] = 2 * ((const double *)v->u.a.data)[e] + 1;
  return 0;
}

/* The small-init runs: INIT_INDICES (by_index), INIT_BOTH_VIEWS (by_index_both_views), INIT_COMPONENT
 * (by_component over "x_f64_3d"), over every k-th configuration; each output is read back. */
enum { INIT_INDICES, INIT_BOTH_VIEWS, INIT_COMPONENT };

static void run_small_inits(int mode, size_t step) {
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_for(N_MAIN, input);
  h5t_path(output, "inits.h5");
  const inb_h5_output_spec idx_specs[] = {{.name = "/tripled", .dtype = INB_I64, .ndim = 0},
                                          {.name = "/pair", .dtype = INB_F32, .ndim = 1, .shape = {2}, .chunk_items = 4,
                                           .deflate = 2}};
  const inb_h5_output_spec comp_specs[] = {{.name = "/twice", .dtype = INB_F64, .ndim = 2, .shape = {2, 3}}};
  const int f64_3d = 1 * 4 + 2; /* g_comps index of /x_f64_3d */
  static const char *const mode_names[] = {"indices", "indices holding both views", "x_f64_3d"};
  const bool comp = mode == INIT_COMPONENT;
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k += step) {
    snprintf(what, sizeof what, "init %s, %s", mode_names[mode], config_name(&cfs[k], name, sizeof name));
    inb_h5_input *in = NULL;
    inb_h5_output *out = NULL;
    const char *paths[] = {"/idx", g_comps[f64_3d].in};
    int rc = inb_h5_open(input, paths, 2, NULL, &in);
    expect_rc(rc, 0, "%s: inb_h5_open", what);
    if (!rc) {
      rc = inb_h5_create(output, comp ? comp_specs : idx_specs, comp ? 1 : 2, N_MAIN, true, NULL, &out);
      expect_rc(rc, 0, "%s: inb_h5_create", what);
    }
    if (!rc) {
      inb_action act = {.name = mode_names[mode], .init = comp ? "x_f64_3d" : "indices", .target = cfs[k].target,
                        .local = cfs[k].local,
                        .fn = mode == INIT_INDICES ? by_index : mode == INIT_BOTH_VIEWS ? by_index_both_views : by_component};
      inb_opts o = {.schedule = cfs[k].schedule, .n_workers = 2};
      inb_h5_plan plan = {.batch_size = cfs[k].batch_size};
      rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
      expect_rc(rc, 0, "%s: inb_h5_run", what);
      if (rc) inb_h5_abort(&out);
      else expect_rc(inb_h5_commit(&out), 0, "%s: inb_h5_commit", what);
    }
    inb_h5_close(&in);
    if (g_rank == 0 && !rc) {
      hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
      expect_eq(f >= 0, 1, "%s: the output opens", what);
      long bad = -1;
      if (f >= 0 && !comp) {
        hsize_t d1[1] = {N_MAIN}, d2[2] = {N_MAIN, 2};
        int64_t *t = read_all(f, "/tripled", INB_I64, 1, d1, what);
        float *p = read_all(f, "/pair", INB_F32, 2, d2, what);
        for (int i = 0; t && p && i < N_MAIN && bad < 0; i++)
          if (t[i] != 3 * i || p[2 * i] != (float)i || p[2 * i + 1] != -(float)i) bad = i;
        expect_eq(bad, -1, "%s: /tripled and /pair hold 3i and (i, -i) (first wrong item)", what);
        free(t);
        free(p);
      } else if (f >= 0) {
        hsize_t d3[3] = {N_MAIN, 2, 3};
        double *y = read_all(f, "/twice", INB_F64, 3, d3, what);
        for (int i = 0; y && i < N_MAIN && bad < 0; i++)
          for (size_t e = 0; e < 6; e++)
            if (y[i * 6 + e] != 2 * h5t_value(f64_3d, i, e, INB_F64) + 1) bad = i;
        expect_eq(bad, -1, "%s: /twice holds 2x+1 (first wrong item)", what);
        free(y);
      }
      if (f >= 0) H5Fclose(f);
    }
    remove_output(output);
  }
}

static void test_indices_and_component_inits_write_their_rows(void **state) {
  (void)state;
  reset_checks();
  run_small_inits(INIT_INDICES, 2);
  run_small_inits(INIT_COMPONENT, 2);
  assert_checks();
}

static void test_a_task_may_hold_the_views_of_two_outputs_at_once(void **state) {
  (void)state;
  reset_checks();
  run_small_inits(INIT_BOTH_VIEWS, 3);
  assert_checks();
}

static int custom_init(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks, size_t *n, void *data) {
  (void)b, (void)call, (void)extra, (void)data;
  *tasks = NULL;
  *n = 0;
  return 0;
}

static void test_run_once_and_custom_inits_are_refused_with_outputs(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX];
  input_for(N_MAIN, input);
  h5t_path(output, "once.h5");
  const inb_h5_output_spec spec = {.name = "/tripled", .dtype = INB_I64, .ndim = 0};
  inb_target target = g_size == 1 ? INB_THREADS : INB_MPI;
  for (int which = 0; which < 2; which++) {
    const char *what = which ? "a custom init" : "init run_once";
    inb_h5_input *in = NULL;
    inb_h5_output *out = NULL;
    int rc = inb_h5_open(input, component_paths(), 1, NULL, &in);
    if (!rc) rc = inb_h5_create(output, &spec, 1, N_MAIN, true, NULL, &out);
    expect_rc(rc, 0, "%s: open and create", what);
    if (!rc) {
      inb_action act = {.name = "once", .fn = by_index, .target = target};
      if (which) act.init_fn = custom_init;
      else act.init = "run_once";
      rc = inb_h5_run(in, NULL, &act, NULL, NULL, out);
      expect_rc(rc, INB_EINVAL, "%s with outputs: inb_h5_run", what);
      inb_h5_abort(&out);
    }
    inb_h5_close(&in);
  }
  assert_checks();
}

static void test_a_plan_item_out_of_range_is_einval_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], partial[PATH_MAX];
  input_for(N_MAIN, input);
  h5t_path(output, "range.h5");
  h5t_partial(partial, output);
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  const config_t *cfs;
  configs(&cfs);
  const int64_t plan[] = {0, 5, N_MAIN};
  int rc = run_affine(input, output, specs, N_COMPS, &cfs[0], plan, 3, NULL, "item N in the plan");
  expect_rc(rc, INB_EINVAL, "a plan with item %d of %d: inb_h5_run", N_MAIN, N_MAIN);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(output) || h5t_exists(partial), 0, "after abort, no output and no partial file");
  assert_checks();
}

/* A user post runs on rank 0 once per batch, with that batch's results. */
static atomic_long g_posts, g_posted;
static int count_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra, inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  atomic_fetch_add(&g_posts, 1);
  atomic_fetch_add(&g_posted, (long)inb_results_count(r));
  return inb_results_count(r) == inb_batch_size(b) ? 0 : INB_EINVAL;
}

static void test_the_actions_post_runs_per_batch_on_rank_0(void **state) {
  (void)state;
  reset_checks();
  g_task.fail_every = 0;
  char input[PATH_MAX], output[PATH_MAX];
  input_for(N_MAIN, input);
  h5t_path(output, "post.h5");
  inb_h5_output_spec specs[N_COMPS];
  make_specs(specs, N_MAIN, 0, -1);
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, component_paths(), N_COMPS + 1, NULL, &in);
  if (!rc) rc = inb_h5_create(output, specs, N_COMPS, N_MAIN, true, NULL, &out);
  expect_rc(rc, 0, "open and create");
  if (!rc) {
    g_task.outputs = true;
    atomic_store(&g_posts, 0);
    atomic_store(&g_posted, 0);
    inb_action act = {.name = "posted", .fn = affine, .init = "items", .post = count_post,
                      .target = g_size == 1 ? INB_THREADS : INB_MPI};
    inb_h5_plan plan = {.batch_size = 8};
    rc = inb_h5_run(in, &plan, &act, NULL, NULL, out);
    expect_rc(rc, 0, "inb_h5_run with a post");
    expect_eq(atomic_load(&g_posts), g_rank == 0 ? (N_MAIN + 7) / 8 : 0, "posts run on this rank (batches of 8)");
    expect_eq(atomic_load(&g_posted), g_rank == 0 ? N_MAIN : 0, "results seen by posts on this rank");
    if (rc) inb_h5_abort(&out);
    else expect_rc(inb_h5_commit(&out), 0, "inb_h5_commit");
  }
  inb_h5_close(&in);
  if (!rc) verify(output, N_MAIN, NULL, "with a post");
  remove_output(output);
  assert_checks();
}

static int output_outside(inb_item *it, const inb_args *a, inb_value *result) {
  (void)a, (void)result;
  return inb_item_output(it, "/y_f32_1d") ? inb_fail(it, 96, "inb_item_output outside inb_h5_run is not NULL") : 0;
}

static void test_item_output_is_null_outside_inb_h5_run(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = inb_batch_new(NULL, 5);
  inb_action act = {.name = "outside", .fn = output_outside, .init = "indices", .target = INB_FOR};
  expect_rc(inb_run(b, &act, NULL, NULL, NULL), 0, "inb_run (target for) of tasks asking for an output");
  inb_batch_free(&b);
  assert_checks();
}

int main(int argc, char **argv) {
  init_comps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_dtype_and_item_rank_is_written_as_2x_plus_1_with_batch_sizes_that_do_not_divide_n),
      cmocka_unit_test(test_a_plan_in_any_order_or_of_some_items_writes_the_rows_of_its_items),
      cmocka_unit_test(test_failed_items_are_listed_in_the_results_table_and_every_other_row_is_written),
      cmocka_unit_test(test_a_post_that_returns_eitem_for_failed_batches_still_gets_every_batch_written),
      cmocka_unit_test(test_without_outputs_every_task_reads_its_rows_and_nothing_is_written),
      cmocka_unit_test(test_n_smaller_than_the_number_of_ranks_is_written_correctly),
      cmocka_unit_test(test_chunks_larger_than_the_dataset_are_accepted),
      cmocka_unit_test(test_an_input_of_zero_items_gives_an_empty_output),
      cmocka_unit_test(test_a_deflate_output_written_in_parallel_equals_the_serial_one),
      cmocka_unit_test(test_the_results_table_gives_every_item_a_state_by_name_and_keeps_messages_apart),
      cmocka_unit_test(test_targets_other_than_mpi_are_einval_with_more_than_one_rank),
      cmocka_unit_test(test_indices_and_component_inits_write_their_rows),
      cmocka_unit_test(test_a_task_may_hold_the_views_of_two_outputs_at_once),
      cmocka_unit_test(test_run_once_and_custom_inits_are_refused_with_outputs),
      cmocka_unit_test(test_a_plan_item_out_of_range_is_einval_on_every_rank),
      cmocka_unit_test(test_the_actions_post_runs_per_batch_on_rank_0),
      cmocka_unit_test(test_item_output_is_null_outside_inb_h5_run),
  };
  return h5t_main(argc, argv, "h5.test_h5_run", tests, sizeof tests / sizeof tests[0]);
}
