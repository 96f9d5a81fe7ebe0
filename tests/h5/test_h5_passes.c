/* Runs in several passes (include/inbatch/h5.h): scratch datasets (inb_h5_output_spec.scratch, kept in a companion
 * file "<dir>/.<name>.inbatch-scratch" until commit or abort), the datasets one run writes (inb_h5_plan.outputs;
 * inb_item_output is NULL for the others, which keep what earlier runs wrote) and inb_h5_view, an input that reads
 * back, in a later run, the rows an earlier run wrote into the output being made.
 *
 * The input holds "/idx" (each item's index) and "/x" (float64 items of 2 elements, h5t_value of component 0).
 * The usual shape of a run in passes: pass 1 writes y = 2x into the scratch dataset "/tmp_y", pass 2 reads y
 * through a view and writes "/z" = y + 1; "/a" = 3x, written by an earlier pass, must come out of the later ones
 * unchanged. Every committed file is read back with the HDF5 C API (rank 0): the values, no scratch dataset in
 * it, no scratch or partial file left in the directory.
 *
 * Runs on 1, 2 and 4 ranks: with one, targets threads and mpi (POSIX files); with more, target mpi, static and
 * dynamic (MPI-IO), where rows one rank wrote are read by another in the next pass. */
#include "h5test.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 29, PER = 2 }; /* items, elements per item */

static double x_of(int64_t i, size_t e) { return h5t_value(0, i, e, INB_F64); }

/* ---- files ------------------------------------------------------------------------------------------------ */

/* "passes_in.h5": /idx and /x of N items, written once by rank 0. */
static const char *input_path(char *path) { return h5t_idx_x_input(path, "passes_in.h5", N, PER); }

static const char *const g_components[] = {"/idx", "/x"};

/* "<dir>/.<base>.inbatch-scratch" for the output `path` (as h5t_partial for the partial file). */
static char *scratch_of(char *buf, const char *path) {
  const char *slash = strrchr(path, '/');
  snprintf(buf, PATH_MAX, "%.*s/.%s.inbatch-scratch", (int)(slash - path), path, slash + 1);
  return buf;
}

/* After an output ended (commit or abort): neither its partial nor its scratch file is left, and nothing in the
 * directory is called ".inbatch-something". Collective. */
static void expect_no_leftovers(const char *output, const char *what) {
  char partial[PATH_MAX], scratch[PATH_MAX], list[1200];
  h5t_partial(partial, output);
  scratch_of(scratch, output);
  expect_eq(h5t_seen_anywhere(partial), 0, "%s: the partial file '%s' is gone", what, partial);
  expect_eq(h5t_seen_anywhere(scratch), 0, "%s: the scratch file '%s' is gone", what, scratch);
  h5t_list_entries(list, sizeof list);
  expect_eq(strstr(list, ".inbatch-") != NULL, 0, "%s: no '.inbatch-' file in the directory (it has: %s)", what, list);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* Rank 0, on an open file: dataset `name` (float64 or float32, N items of PER elements) whole as doubles, into
 * buf (N * PER); false (and a failed check) when it is missing or of another shape. */
static bool read_rows(hid_t f, const char *name, double *buf, const char *what) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t space = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hsize_t dims[2] = {0, 0};
  bool ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 2 && H5Sget_simple_extent_dims(space, dims, NULL) == 2 &&
            dims[0] == N && dims[1] == PER;
  ok = ok && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  expect_eq(ok, 1, "%s: '%s' exists with %d items of %d elements and reads", what, name, N, PER);
  return ok;
}

/* Rank 0, on an open file: dataset `name` holds want(i, e) for every item (first wrong item, got, want). */
static void expect_rows(hid_t f, const char *name, double (*want)(int64_t, size_t), const char *what) {
  double buf[N * PER];
  if (!read_rows(f, name, buf, what)) return;
  long bad = -1;
  double got = 0, w = 0;
  for (int64_t i = 0; i < N && bad < 0; i++)
    for (size_t e = 0; e < PER && bad < 0; e++)
      if ((got = buf[i * PER + e]) != (w = want(i, e))) bad = (long)i;
  expect_eq(bad, -1, "%s: '%s' holds what its pass wrote (first wrong item; got %g, expected %g)", what, name, got, w);
}

/* Rank 0, on an open file: every row of the results table is done with its own index. */
static void expect_all_done(hid_t f, const char *what) {
  h5t_result rows[N];
  bool ok = h5t_read_table(f, rows, N) == 0;
  expect_eq(ok, 1, "%s: the results table has %d rows", what, N);
  long bad = -1;
  for (int64_t i = 0; ok && i < N && bad < 0; i++)
    if (rows[i].index != i || rows[i].state != INB_H5_DONE || rows[i].code != 0) bad = (long)i;
  expect_eq(bad, -1, "%s: every row of the table is done (first wrong row)", what);
}

/* Rank 0, on an open file: whether the file has a link `name`. */
static bool has_link(hid_t f, const char *name) { return H5Lexists(f, name, H5P_DEFAULT) > 0; }

/* ---- the passes' tasks ------------------------------------------------------------------------------------ */

static atomic_long g_ran; /* tasks run on this rank in the current pass */

/* The outputs of the three-dataset runs: which ones a task sees is the run's plan.outputs. */
static const char *const g_outs[] = {"/a", "/tmp_y", "/z"};

/* The item's row of `name` as a checked array argument (PER float64 or float32 elements), or NULL. */
static const inb_array *row_arg(const inb_value *v, inb_dtype t) {
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != t || v->u.a.ndim != 1 || v->u.a.shape[0] != PER) return NULL;
  return &v->u.a;
}

/* 0 when exactly `active` of g_outs is a writable row of PER float64 (the others NULL), else the task's failure. */
static int only_output(inb_item *it, const char *active, inb_array **out) {
  for (size_t k = 0; k < sizeof g_outs / sizeof g_outs[0]; k++) {
    inb_array *o = inb_item_output(it, g_outs[k]);
    bool want = strcmp(g_outs[k], active) == 0;
    if (!want && o)
      return inb_fail(it, 81, "item %lld: output '%s' is not in plan.outputs but inb_item_output gave a row",
                      (long long)inb_item_index(it), g_outs[k]);
    if (want && (!o || o->dtype != INB_F64 || o->ndim != 1 || o->shape[0] != PER))
      return inb_fail(it, 82, "item %lld: output '%s' of plan.outputs %s", (long long)inb_item_index(it), g_outs[k],
                      o ? "has the wrong dtype or shape" : "is NULL");
    if (want) *out = o;
  }
  return 0;
}

/* The checks of x (the input's row) every pass makes: code 83 when it is not what the input holds. */
static int check_x(inb_item *it, const inb_args *a) {
  int64_t i = inb_item_index(it);
  const inb_array *x = row_arg(inb_args_get(a, "x"), INB_F64);
  if (!x) return inb_fail(it, 83, "item %lld: no argument 'x' of %d float64", (long long)i, PER);
  for (size_t e = 0; e < PER; e++)
    if (((const double *)x->data)[e] != x_of(i, e))
      return inb_fail(it, 83, "item %lld: x[%zu] is %g, expected %g", (long long)i, e, ((const double *)x->data)[e],
                      x_of(i, e));
  return 0;
}

static double three_x(int64_t i, size_t e) { return 3 * x_of(i, e); }
static double two_x(int64_t i, size_t e) { return 2 * x_of(i, e); }
static double two_x_plus_1(int64_t i, size_t e) { return 2 * x_of(i, e) + 1; }

/* An earlier pass, plan.outputs {"/a"}: a = 3x. */
static int pass_a(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  inb_array *o = NULL;
  int rc = check_x(it, a);
  if (!rc) rc = only_output(it, "/a", &o);
  for (size_t e = 0; !rc && e < PER; e++) ((double *)o->data)[e] = three_x(inb_item_index(it), e);
  return rc;
}

/* Pass 1, plan.outputs {"/tmp_y"} (scratch): y = 2x, and nothing else. */
static int pass_y(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  inb_array *o = NULL;
  int rc = check_x(it, a);
  if (!rc) rc = only_output(it, "/tmp_y", &o);
  for (size_t e = 0; !rc && e < PER; e++) ((double *)o->data)[e] = two_x(inb_item_index(it), e);
  return rc;
}

/* Pass 2, init "y" (the view's name for "/tmp_y"), plan.outputs {"/z"}: z = y + 1. */
static int pass_z(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  int64_t i = inb_item_index(it);
  const inb_array *y = row_arg(inb_args_at(a, 0), INB_F64);
  if (!y) return inb_fail(it, 84, "item %lld: no row of component 'y' (%d float64)", (long long)i, PER);
  const double *yv = y->data;
  for (size_t e = 0; e < PER; e++)
    if (yv[e] != two_x(i, e))
      return inb_fail(it, 85, "item %lld: y[%zu] read back through the view is %g, pass 1 wrote %g", (long long)i, e,
                      yv[e], two_x(i, e));
  inb_array *o = NULL;
  int rc = only_output(it, "/z", &o);
  for (size_t e = 0; !rc && e < PER; e++) ((double *)o->data)[e] = yv[e] + 1;
  return rc;
}

/* ---- running ----------------------------------------------------------------------------------------------- */

typedef struct {
  inb_target target, local;
  inb_schedule schedule;
  int64_t batch_size;
} config_t;

static const char *config_name(const config_t *cf, char *buf, size_t cap) {
  snprintf(buf, cap, "target %s%s batch_size %lld", cf->target == INB_MPI ? "mpi" : "threads",
           cf->target != INB_MPI ? "" : cf->schedule == INB_STATIC ? " static" : " dynamic", (long long)cf->batch_size);
  return buf;
}

/* With one rank threads and mpi; with more, mpi static and dynamic. Batch sizes that do not divide N. */
static size_t configs(const config_t **out) {
  static const config_t one[] = {
      {INB_THREADS, 0, 0, 7}, {INB_MPI, INB_THREADS, INB_STATIC, 0}, {INB_MPI, INB_FOR, INB_DYNAMIC, 5}};
  static const config_t many[] = {
      {INB_MPI, INB_THREADS, INB_STATIC, 7}, {INB_MPI, INB_FOR, INB_DYNAMIC, 5},
      {INB_MPI, INB_THREADS, INB_DYNAMIC, 0}};
  *out = g_size == 1 ? one : many;
  return g_size == 1 ? sizeof one / sizeof one[0] : sizeof many / sizeof many[0];
}

/* One pass: `fn` with `init` over `in` (plan: `index` or every item), writing outputs[0..nout) of `out`. Counts
 * the tasks of every rank; returns inb_h5_run's status. */
static int run_pass(inb_h5_input *in, inb_h5_output *out, inb_item_fn fn, const char *init,
                    const char *const *outputs, size_t nout, const config_t *cf, const int64_t *index, size_t nindex,
                    long *ran) {
  inb_action act = {.name = "pass", .fn = fn, .init = init, .target = cf->target, .local = cf->local};
  inb_opts o = {.schedule = cf->schedule, .n_workers = 2};
  inb_h5_plan plan = {.batch_size = cf->batch_size, .index = index, .nindex = nindex, .outputs = outputs,
                      .noutputs = nout};
  atomic_store(&g_ran, 0);
  int rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
  *ran = sum_ranks((long)atomic_load(&g_ran));
  return rc;
}

/* The three datasets: "/a" contiguous, "/tmp_y" scratch (chunked and deflated when `variant` is odd), "/z"
 * (chunked and deflated when variant is 2). */
static void three_specs(inb_h5_output_spec *s, int variant) {
  s[0] = (inb_h5_output_spec){.name = "/a", .dtype = INB_F64, .ndim = 1, .shape = {PER}};
  s[1] = (inb_h5_output_spec){.name = "/tmp_y", .dtype = INB_F64, .ndim = 1, .shape = {PER}, .scratch = true};
  s[2] = (inb_h5_output_spec){.name = "/z", .dtype = INB_F64, .ndim = 1, .shape = {PER}};
  if (variant % 2) s[1].chunk_items = 4, s[1].deflate = 2;
  if (variant == 2) s[2].chunk_items = 6, s[2].deflate = 3;
}

/* ---- tests ------------------------------------------------------------------------------------------------ */

/* pass 0 writes /a, pass 1 the scratch /tmp_y only, pass 2 reads y through a view and writes /z only. */
static void test_a_second_pass_reads_through_a_view_what_the_first_wrote_into_a_scratch_dataset(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], scratch[PATH_MAX], what[160], name[96];
  input_path(input);
  h5t_path(output, "two.h5");
  scratch_of(scratch, output);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k++) {
    snprintf(what, sizeof what, "two passes, %s", config_name(&cfs[k], name, sizeof name));
    inb_h5_output_spec specs[3];
    three_specs(specs, (int)k);
    inb_h5_input *in = NULL, *view = NULL;
    inb_h5_output *out = NULL;
    int rc = inb_h5_open(input, g_components, 2, NULL, &in);
    expect_rc(rc, 0, "%s: inb_h5_open", what);
    if (!rc) {
      rc = inb_h5_create(output, specs, 3, N, true, NULL, &out);
      expect_rc(rc, 0, "%s: inb_h5_create", what);
    }
    if (!rc) expect_eq(h5t_seen_anywhere(scratch) && h5t_exists(scratch), 1, "%s: the scratch file '%s' exists while "
                       "the output is made", what, scratch);
    long ran = 0;
    if (!rc) {
      const char *const o0[] = {"/a"};
      rc = run_pass(in, out, pass_a, "items", o0, 1, &cfs[k], NULL, 0, &ran);
      expect_rc(rc, 0, "%s: pass 0 (plan.outputs {/a})", what);
      expect_eq(ran, N, "%s: pass 0: tasks of every rank", what);
    }
    if (!rc) {
      const char *const o1[] = {"/tmp_y"};
      rc = run_pass(in, out, pass_y, "items", o1, 1, &cfs[k], NULL, 0, &ran);
      expect_rc(rc, 0, "%s: pass 1 (plan.outputs {/tmp_y})", what);
      expect_eq(ran, N, "%s: pass 1: tasks of every rank", what);
    }
    if (!rc) {
      const char *const names[] = {"/tmp_y", "/a"}, *const as[] = {"y", NULL};
      rc = inb_h5_view(in, out, names, as, 2, &view);
      expect_rc(rc, 0, "%s: inb_h5_view of /tmp_y as y and /a", what);
    }
    if (!rc) {
      expect_eq(inb_h5_length(view), N, "%s: the view's length", what);
      const char *const comps[] = {"idx", "x", "y", "a", "/y"};
      for (size_t j = 0; j < sizeof comps / sizeof comps[0]; j++) {
        inb_array item;
        int crc = inb_h5_component(view, comps[j], &item);
        expect_rc(crc, 0, "%s: the view has component '%s'", what, comps[j]);
        if (!crc && j >= 2)
          expect_eq(item.dtype == INB_F64 && item.ndim == 1 && item.shape[0] == PER, 1, "%s: the view's '%s' is "
                    "float64 [%d] (dtype %d ndim %d)", what, comps[j], PER, (int)item.dtype, item.ndim);
      }
      inb_array item;
      expect_rc(inb_h5_component(view, "tmp_y", &item), INB_ENOTFOUND, "%s: 'tmp_y' is called y in the view", what);
      const char *const o2[] = {"/z"};
      rc = run_pass(view, out, pass_z, "y", o2, 1, &cfs[k], NULL, 0, &ran);
      expect_rc(rc, 0, "%s: pass 2 over the view (init y, plan.outputs {/z})", what);
      expect_eq(ran, N, "%s: pass 2: tasks of every rank", what);
    }
    inb_h5_close(&view);
    if (out && !rc) expect_rc(rc = inb_h5_commit(&out), 0, "%s: inb_h5_commit", what);
    inb_h5_abort(&out);
    inb_h5_close(&in);
    if (g_rank == 0 && !rc) {
      hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
      expect_eq(f >= 0, 1, "%s: the committed output opens", what);
      if (f >= 0) {
        expect_rows(f, "/z", two_x_plus_1, what);
        expect_rows(f, "/a", three_x, what); /* written by pass 0, untouched by passes 1 and 2 */
        expect_eq(has_link(f, "/tmp_y"), 0, "%s: the scratch dataset is not in the committed file", what);
        expect_all_done(f, what);
        H5Fclose(f);
      }
    }
    expect_eq(max_ranks(h5t_exists(output)), !rc, "%s: the output is there after commit", what);
    expect_no_leftovers(output, what);
    h5t_remove(output);
  }
  assert_checks();
}

/* "/c" (kept) and "/s" (scratch), chunked and compressed: written collectively at each batch's end by the ranks
 * that computed the rows; a chunk of 5 or 4 items spans batches of 7 and ranks. Pass 2 reads them back, through a
 * view, in a shuffled order: rows written by every rank must be visible to every rank. */
static int pass_cs(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  int rc = check_x(it, a);
  if (rc) return rc;
  int64_t i = inb_item_index(it);
  const double *x = inb_args_get(a, "x")->u.a.data;
  inb_array *c = inb_item_output(it, "/c"), *s = inb_item_output(it, "/s");
  if (!c || !s || inb_item_output(it, "/z"))
    return inb_fail(it, 86, "item %lld: pass 1 sees /c %s, /s %s, /z %s", (long long)i, c ? "set" : "NULL",
                    s ? "set" : "NULL", inb_item_output(it, "/z") ? "set" : "NULL");
  for (size_t e = 0; e < PER; e++) {
    ((float *)c->data)[e] = (float)(2 * x[e]);
    ((double *)s->data)[e] = x[e] - 1;
  }
  return 0;
}

static double three_x_minus_1(int64_t i, size_t e) { return 3 * x_of(i, e) - 1; }

static int pass_sum(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  int rc = check_x(it, a);
  if (rc) return rc;
  int64_t i = inb_item_index(it);
  const inb_array *c = row_arg(inb_args_get(a, "c2"), INB_F32), *s = row_arg(inb_args_get(a, "s"), INB_F64);
  if (!c || !s)
    return inb_fail(it, 87, "item %lld: the view's components 'c2' (float32) or 's' (float64)", (long long)i);
  inb_array *z = inb_item_output(it, "/z");
  if (!z || inb_item_output(it, "/c") || inb_item_output(it, "/s"))
    return inb_fail(it, 88, "item %lld: pass 2 should see /z only", (long long)i);
  for (size_t e = 0; e < PER; e++) {
    double cv = ((const float *)c->data)[e], sv = ((const double *)s->data)[e];
    if (cv != 2 * x_of(i, e) || sv != x_of(i, e) - 1)
      return inb_fail(it, 89, "item %lld element %zu: read back c = %g, s = %g; pass 1 wrote %g and %g (rank %d)",
                      (long long)i, e, cv, sv, 2 * x_of(i, e), x_of(i, e) - 1, inb_item_rank(it));
    ((double *)z->data)[e] = cv + sv;
  }
  return 0;
}

static void test_compressed_rows_written_by_every_rank_are_read_back_through_a_view(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], what[160], name[96];
  input_path(input);
  h5t_path(output, "compressed.h5");
  const inb_h5_output_spec specs[] = {
      {.name = "/c", .dtype = INB_F32, .ndim = 1, .shape = {PER}, .chunk_items = 5, .deflate = 6},
      {.name = "/s", .dtype = INB_F64, .ndim = 1, .shape = {PER}, .chunk_items = 4, .codec = INB_H5_DEFLATE,
       .shuffle = INB_H5_SHUFFLE_BYTE, .scratch = true},
      {.name = "/z", .dtype = INB_F64, .ndim = 1, .shape = {PER}, .chunk_items = 3, .codec = INB_H5_ZSTD}};
  int64_t shuffled[N];
  for (int i = 0; i < N; i++) shuffled[i] = (int64_t)i * 11 % N; /* 11 and 29 are coprime */
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k++) {
    config_t cf = cfs[k];
    if (!cf.batch_size) cf.batch_size = 7;
    snprintf(what, sizeof what, "compressed passes, %s", config_name(&cf, name, sizeof name));
    inb_h5_input *in = NULL, *view = NULL;
    inb_h5_output *out = NULL;
    long ran = 0;
    int rc = inb_h5_open(input, g_components, 2, NULL, &in);
    if (!rc) rc = inb_h5_create(output, specs, 3, N, true, NULL, &out);
    expect_rc(rc, 0, "%s: open and create", what);
    if (!rc) {
      const char *const o1[] = {"/c", "/s"};
      rc = run_pass(in, out, pass_cs, "items", o1, 2, &cf, NULL, 0, &ran);
      expect_rc(rc, 0, "%s: pass 1 (plan.outputs {/c, /s})", what);
      expect_eq(ran, N, "%s: pass 1: tasks of every rank", what);
    }
    if (!rc) {
      const char *const names[] = {"/c", "/s"}, *const as[] = {"c2", NULL};
      rc = inb_h5_view(in, out, names, as, 2, &view);
      expect_rc(rc, 0, "%s: inb_h5_view of /c as c2 and /s", what);
    }
    if (!rc) {
      const char *const o2[] = {"/z"};
      cf.batch_size = 6;
      rc = run_pass(view, out, pass_sum, "items", o2, 1, &cf, shuffled, N, &ran);
      expect_rc(rc, 0, "%s: pass 2 over the view, shuffled plan (plan.outputs {/z})", what);
      expect_eq(ran, N, "%s: pass 2: tasks of every rank", what);
    }
    inb_h5_close(&view);
    if (out && !rc) expect_rc(rc = inb_h5_commit(&out), 0, "%s: inb_h5_commit", what);
    inb_h5_abort(&out);
    inb_h5_close(&in);
    if (g_rank == 0 && !rc) {
      hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
      expect_eq(f >= 0, 1, "%s: the committed output opens", what);
      if (f >= 0) {
        expect_rows(f, "/z", three_x_minus_1, what);
        expect_rows(f, "/c", two_x, what);
        expect_eq(has_link(f, "/s"), 0, "%s: the scratch dataset is not in the committed file", what);
        hid_t d = H5Dopen2(f, "/c", H5P_DEFAULT);
        hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
        int deflated = 0;
        for (int j = 0; dcpl >= 0 && j < H5Pget_nfilters(dcpl); j++) {
          unsigned flags, cd[8];
          size_t ncd = 8;
          deflated += H5Pget_filter2(dcpl, (unsigned)j, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE;
        }
        expect_eq(deflated, 1, "%s: /c is deflate-compressed", what);
        if (dcpl >= 0) H5Pclose(dcpl);
        if (d >= 0) H5Dclose(d);
        expect_all_done(f, what);
        H5Fclose(f);
      }
    }
    expect_no_leftovers(output, what);
    h5t_remove(output);
  }
  assert_checks();
}

static void test_abort_after_two_passes_removes_the_partial_and_the_scratch_file(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], partial[PATH_MAX], scratch[PATH_MAX], list[1200];
  input_path(input);
  h5t_path(output, "aborted.h5");
  h5t_partial(partial, output);
  scratch_of(scratch, output);
  int before = h5t_count_entries();
  const config_t *cfs;
  configs(&cfs);
  const config_t *cf = &cfs[g_size == 1 ? 1 : 0];
  inb_h5_output_spec specs[3];
  three_specs(specs, 1); /* a compressed scratch dataset */
  inb_h5_input *in = NULL, *view = NULL;
  inb_h5_output *out = NULL;
  long ran = 0;
  int rc = inb_h5_open(input, g_components, 2, NULL, &in);
  if (!rc) rc = inb_h5_create(output, specs, 3, N, false, NULL, &out);
  expect_rc(rc, 0, "open and create");
  const char *const o1[] = {"/tmp_y"}, *const o2[] = {"/z"}, *const names[] = {"/tmp_y"}, *const as[] = {"y"};
  if (!rc) expect_rc(rc = run_pass(in, out, pass_y, "items", o1, 1, cf, NULL, 0, &ran), 0, "pass 1");
  if (!rc) expect_rc(rc = inb_h5_view(in, out, names, as, 1, &view), 0, "inb_h5_view");
  if (!rc) expect_rc(rc = run_pass(view, out, pass_z, "y", o2, 1, cf, NULL, 0, &ran), 0, "pass 2");
  expect_eq(h5t_seen_anywhere(partial) && h5t_seen_anywhere(scratch), 1,
            "before abort: the partial and the scratch file are there (the directory has: %s)",
            h5t_list_entries(list, sizeof list));
  inb_h5_close(&view);
  inb_h5_abort(&out);
  expect_eq(out == NULL, 1, "inb_h5_abort took the output");
  inb_h5_close(&in);
  expect_eq(h5t_seen_anywhere(output), 0, "after abort: no output");
  expect_no_leftovers(output, "after abort");
  char now[1200];
  expect_eq(h5t_count_entries(), before, "after abort: nothing new in the directory (it has: %s)",
            h5t_list_entries(now, sizeof now));
  assert_checks();
}

/* Records that rc is INB_EINVAL on every rank and that the message has each of needles (NULL-ended). */
static void expect_einval(int rc, const char *const *needles, const char *what) {
  expect_rc(rc, INB_EINVAL, "%s", what);
  expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
  for (size_t k = 0; rc && needles[k]; k++) expect_errmsg_has(needles[k], "%s: the message names it", what);
}

/* Every output dataset is a task's in a run without plan.outputs, whatever the runs before it wrote. */
static int all_outputs(inb_item *it, const inb_args *a, inb_value *result) {
  (void)a, (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  for (size_t k = 0; k < sizeof g_outs / sizeof g_outs[0]; k++)
    if (!inb_item_output(it, g_outs[k]))
      return inb_fail(it, 90, "item %lld: output '%s' is NULL in a run without plan.outputs",
                      (long long)inb_item_index(it), g_outs[k]);
  return 0;
}

static int no_outputs(inb_item *it, const inb_args *a, inb_value *result) {
  (void)a, (void)result;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  for (size_t k = 0; k < sizeof g_outs / sizeof g_outs[0]; k++)
    if (inb_item_output(it, g_outs[k]))
      return inb_fail(it, 91, "item %lld: output '%s' is a row in a run whose plan.outputs is empty",
                      (long long)inb_item_index(it), g_outs[k]);
  return 0;
}

static void test_views_and_plans_that_name_what_is_not_there_are_einval_and_the_output_still_aborts(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], longer[PATH_MAX], what[200];
  input_path(input);
  h5t_path(output, "errors.h5");
  h5t_path(longer, "longer.h5");
  int before = h5t_count_entries();
  const config_t *cfs;
  configs(&cfs);
  const config_t *cf = &cfs[0];
  inb_h5_output_spec specs[4];
  three_specs(specs, 1);
  specs[3] = (inb_h5_output_spec){.name = "/x", .dtype = INB_I32, .ndim = 0}; /* named like an input component */
  inb_h5_input *in = NULL, *view = NULL;
  inb_h5_output *out = NULL, *out2 = NULL;
  long ran = 0;
  int rc = inb_h5_open(input, g_components, 2, NULL, &in);
  if (!rc) rc = inb_h5_create(output, specs, 4, N, false, NULL, &out);
  expect_rc(rc, 0, "open and create");
  if (!rc) {
    /* views */
    const struct {
      const char *what;
      const char *names[2], *as[2];
      size_t n;
      const char *needles[3];
    } bad[] = {
        {"a view of a dataset the output does not have", {"/nope"}, {NULL}, 1, {"'/nope'", "errors.h5", NULL}},
        {"a view of a dataset the output does not have, after one it has", {"/a", "/tmp_y_"}, {NULL, NULL}, 2,
         {"'/tmp_y_'", NULL}},
        {"a view of a dataset by its component name (no '/')", {"tmp_y"}, {NULL}, 1, {"'tmp_y'", NULL}},
        {"an alias that is an input component's name", {"/tmp_y"}, {"x"}, 1, {"'x'", NULL}},
        {"an alias that is the other input component's name", {"/a"}, {"idx"}, 1, {"'idx'", NULL}},
        {"a dataset whose own name is an input component's", {"/x"}, {NULL}, 1, {"'x'", NULL}},
        {"two datasets under one alias", {"/a", "/tmp_y"}, {"same", "same"}, 2, {"'same'", NULL}},
        {"one dataset twice", {"/a", "/a"}, {NULL, NULL}, 2, {"'a'", NULL}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      view = (inb_h5_input *)&view; /* not NULL: the call must set it */
      int vrc = inb_h5_view(in, out, bad[k].names, bad[k].as, bad[k].n, &view);
      expect_einval(vrc, bad[k].needles, bad[k].what);
      expect_eq(view == NULL, 1, "%s: *view is NULL", bad[k].what);
      if (vrc == 0 && view != (inb_h5_input *)&view) inb_h5_close(&view);
      view = NULL;
    }
    /* the same dataset under another name is fine */
    const char *const xs[] = {"/x"}, *const xas[] = {"x_out"};
    int vrc = inb_h5_view(in, out, xs, xas, 1, &view);
    expect_rc(vrc, 0, "a view of /x as x_out");
    if (!vrc) { /* a view of a view is refused: it has no file of its own to open the input's datasets in */
      inb_h5_input *again = (inb_h5_input *)&again;
      const char *const as2[] = {"x_out2"}, *const needles[] = {"is a view itself", NULL};
      expect_einval(inb_h5_view(view, out, xs, as2, 1, &again), needles, "a view made from a view");
      expect_eq(again == NULL, 1, "a view from a view: *view is NULL");
    }
    inb_h5_close(&view);
    /* an input and an output of different lengths */
    vrc = inb_h5_create(longer, specs, 3, N + 1, true, NULL, &out2);
    expect_rc(vrc, 0, "inb_h5_create of an output of %d items", N + 1);
    if (!vrc) {
      const char *const a[] = {"/a"};
      view = (inb_h5_input *)&view;
      vrc = inb_h5_view(in, out2, a, NULL, 1, &view);
      const char *const needles[] = {"longer.h5", NULL};
      expect_einval(vrc, needles, "a view over an output of another length");
      expect_eq(view == NULL, 1, "another length: *view is NULL");
      view = NULL;
      inb_h5_abort(&out2);
    }
    /* plans */
    const char *const nope[] = {"/z", "/nope"}, *const bare[] = {"z"};
    snprintf(what, sizeof what, "plan.outputs naming '/nope', %s", cf->target == INB_MPI ? "target mpi" : "threads");
    const char *const n1[] = {"'/nope'", "errors.h5", NULL}, *const n2[] = {"'z'", NULL};
    expect_einval(run_pass(in, out, pass_y, "items", nope, 2, cf, NULL, 0, &ran), n1, what);
    expect_eq(ran, 0, "%s: no task ran", what);
    expect_einval(run_pass(in, out, pass_y, "items", bare, 1, cf, NULL, 0, &ran), n2,
                  "plan.outputs naming 'z' without its '/'");
    /* the output is whole again after a refused plan: a run without plan.outputs has every dataset, one with an
     * empty list none */
    expect_rc(run_pass(in, out, all_outputs, "items", NULL, 0, cf, NULL, 0, &ran), 0,
              "after refused plans, a run without plan.outputs sees every output");
    expect_eq(ran, N, "a run without plan.outputs: tasks of every rank");
    expect_rc(run_pass(in, out, no_outputs, "items", nope, 0, cf, NULL, 0, &ran), 0,
              "a run with an empty plan.outputs sees none");
    expect_eq(ran, N, "a run with an empty plan.outputs: tasks of every rank");
    expect_rc(run_pass(in, out, all_outputs, "items", NULL, 0, cf, NULL, 0, &ran), 0,
              "after a run with an empty plan.outputs, a run without sees every output");
    inb_h5_abort(&out);
    expect_eq(out == NULL, 1, "the output aborts after the refused calls");
  }
  inb_h5_close(&in);
  expect_eq(h5t_seen_anywhere(output) || h5t_seen_anywhere(longer), 0, "after abort: no output");
  expect_no_leftovers(output, "after abort");
  expect_no_leftovers(longer, "the longer output, after abort");
  char now[1200];
  expect_eq(h5t_count_entries(), before, "nothing new in the directory (it has: %s)",
            h5t_list_entries(now, sizeof now));
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_second_pass_reads_through_a_view_what_the_first_wrote_into_a_scratch_dataset),
      cmocka_unit_test(test_compressed_rows_written_by_every_rank_are_read_back_through_a_view),
      cmocka_unit_test(test_abort_after_two_passes_removes_the_partial_and_the_scratch_file),
      cmocka_unit_test(test_views_and_plans_that_name_what_is_not_there_are_einval_and_the_output_still_aborts),
  };
  return h5t_main(argc, argv, "h5.test_h5_passes", tests, sizeof tests / sizeof tests[0]);
}
