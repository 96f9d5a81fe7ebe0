/* Memory of inb_h5_run (include/inbatch/h5.h) that does not grow with the plan: an unset batch_size means
 * bounded batches (INB_H5_BATCH_ITEMS items, fewer for large rows: INB_H5_BATCH_BYTES), rank 0's peak stays
 * flat over two million items, and the engine's block cache is empty when the call returns.
 *
 * Runs on 1, 2 and 4 ranks, target mpi. */
#include "h5test.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/scratch.h"

/* ---- inputs ---------------------------------------------------------------------------------------------- */

/* Rank 0 writes "<name>" with an int32 dataset "/x" of n items holding x[i] = i % 1000. */
static const char *make_input(const char *name, int64_t n, char *path) {
  h5t_path(path, name);
  int ok = 1;
  if (g_rank == 0 && !h5t_exists(path)) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t d = f >= 0 ? H5Dcreate2(f, "/x", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int32_t *buf = malloc((size_t)n * sizeof *buf + 1);
    for (int64_t i = 0; buf && i < n; i++) buf[i] = (int32_t)(i % 1000);
    ok = d >= 0 && buf && H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    free(buf);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  }
  expect_eq(rank0_int(ok), 1, "writing input '%s'", path);
  return path;
}

/* init "x": y = 2x + 1 when there is an output, the result x either way. */
static int affine(inb_item *it, const inb_args *a, inb_value *result) {
  const inb_value *v = inb_args_at(a, 0);
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != INB_I32) return inb_fail(it, 90, "no int32 row");
  int32_t x = *(const int32_t *)v->u.a.data;
  inb_array *y = inb_item_output(it, "/y");
  if (y && y->dtype == INB_I32) *(int32_t *)y->data = 2 * x + 1;
  *result = inb_int(x);
  return 0;
}

/* ---- batches -------------------------------------------------------------------------------------------- */

static atomic_long g_batches, g_largest, g_items;

static int count_batches(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                         inb_batch **out, void *data) {
  (void)r, (void)call, (void)extra, (void)out, (void)data;
  long n = (long)inb_batch_size(b);
  atomic_fetch_add(&g_batches, 1);
  atomic_fetch_add(&g_items, n);
  for (long cur = atomic_load(&g_largest); n > cur && !atomic_compare_exchange_weak(&g_largest, &cur, n);) {
  }
  return 0;
}

/* Runs init "x" over every item of `input` with batch_size 0 and a post that counts batches; with `spec`, into
 * a new output `output` (committed, then removed). Returns inb_h5_run's status. */
static int run_counted(const char *input, const char *output, const inb_h5_output_spec *spec, const char *what) {
  atomic_store(&g_batches, 0);
  atomic_store(&g_largest, 0);
  atomic_store(&g_items, 0);
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, comps, 1, NULL, &in);
  if (!rc && spec) rc = inb_h5_create(output, spec, 1, inb_h5_length(in), true, NULL, &out);
  expect_rc(rc, 0, "%s: open and create", what);
  if (!rc) {
    inb_action act = {.name = "counted", .fn = affine, .init = "x", .post = count_batches, .target = INB_MPI,
                      .local = INB_FOR};
    inb_h5_plan plan = {.batch_size = 0};
    rc = inb_h5_run(in, &plan, &act, NULL, NULL, out);
    expect_rc(rc, 0, "%s: inb_h5_run", what);
    if (out) expect_rc(rc ? (inb_h5_abort(&out), 0) : inb_h5_commit(&out), 0, "%s: commit", what);
  }
  inb_h5_close(&in);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0 && output) remove(output);
  MPI_Barrier(MPI_COMM_WORLD);
  return rc;
}

static void test_an_unset_batch_size_means_batches_of_at_most_INB_H5_BATCH_ITEMS(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX];
  const int64_t n = 2 * INB_H5_BATCH_ITEMS + 5;
  make_input("small_rows.h5", n, input);
  h5t_path(output, "small_rows_out.h5");
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I32, .ndim = 0};
  for (int with_output = 0; with_output < 2; with_output++) {
    const char *what = with_output ? "4-byte rows, an output" : "4-byte rows, no output";
    run_counted(input, output, with_output ? &spec : NULL, what);
    if (g_rank != 0) continue;
    expect_eq(atomic_load(&g_items), n, "%s: items posted", what);
    expect_eq(atomic_load(&g_batches), 3, "%s: batches of %lld items (2 full, 5 left)", what,
              (long long)INB_H5_BATCH_ITEMS);
    expect_eq(atomic_load(&g_largest), INB_H5_BATCH_ITEMS, "%s: the largest batch", what);
  }
  assert_checks();
}

static void test_an_unset_batch_size_keeps_a_batch_of_large_rows_within_INB_H5_BATCH_BYTES(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX];
  /* output rows of 1 MiB: 63 items a batch (63 MiB of rows and their 4-byte inputs) */
  const inb_h5_output_spec spec = {.name = "/big", .dtype = INB_U8, .ndim = 1, .shape = {1 << 20}};
  const long per = (long)(INB_H5_BATCH_BYTES / ((1 << 20) + 4));
  const int64_t n = per + 7;
  make_input("large_rows.h5", n, input);
  h5t_path(output, "large_rows_out.h5");
  run_counted(input, output, &spec, "1 MiB output rows");
  if (g_rank == 0) {
    expect_eq(atomic_load(&g_items), n, "1 MiB rows: items posted");
    expect_eq(atomic_load(&g_batches), 2, "1 MiB rows: batches of %ld items (1 full, 7 left)", per);
    expect_eq(atomic_load(&g_largest), per, "1 MiB rows: the largest batch (%ld items of 1 MiB)", per);
  }
  assert_checks();
}

/* ---- rank 0's peak -------------------------------------------------------------------------------------- */

/* A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); -1 when unreadable. */
static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

/* Resets this process's peak RSS to its current RSS (Linux: "5" into clear_refs). False when not supported. */
static bool reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  bool ok = f && fputs("5", f) >= 0;
  if (f && fclose(f) != 0) ok = false;
  return ok && status_kib("VmHWM") - status_kib("VmRSS") < 1024;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

enum { PEAK_ITEMS = 2000000, PEAK_LIMIT_MIB = 64 };

static void test_rank_0_peak_memory_does_not_grow_with_two_million_items(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX];
  make_input("two_million.h5", PEAK_ITEMS, input);
  h5t_path(output, "two_million_out.h5");
  /* the plan is the caller's memory (16 MB): allocated and touched before the measurement */
  int64_t *plan = malloc(PEAK_ITEMS * sizeof *plan);
  for (int64_t i = 0; plan && i < PEAK_ITEMS; i++) plan[i] = i;
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I32, .ndim = 0};
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = plan ? inb_h5_open(input, comps, 1, NULL, &in) : INB_ENOMEM;
  if (!rc) rc = inb_h5_create(output, &spec, 1, PEAK_ITEMS, true, NULL, &out);
  expect_rc(rc, 0, "open and create");
  bool measured = rc == 0 && g_rank == 0 && reset_peak();
  long before = status_kib("VmRSS");
  if (!rc) {
    inb_action act = {.name = "affine", .fn = affine, .init = "x", .target = INB_MPI};
    inb_h5_plan p = {.batch_size = 0, .index = plan, .nindex = PEAK_ITEMS};
    rc = inb_h5_run(in, &p, &act, NULL, NULL, out);
    expect_rc(rc, 0, "inb_h5_run over %d items", PEAK_ITEMS);
    int crc = rc ? (inb_h5_abort(&out), rc) : inb_h5_commit(&out);
    expect_rc(crc, 0, "inb_h5_commit");
  }
  long peak = status_kib("VmHWM"), after = status_kib("VmRSS");
  inb_h5_close(&in);
  free(plan);
  if (g_rank == 0 && !rc) { /* the last item's row and table row are there */
    hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5t_result *rows = malloc(PEAK_ITEMS * sizeof *rows);
    bool ok = f >= 0 && rows && h5t_read_table(f, rows, PEAK_ITEMS) == 0;
    long bad = -1;
    for (long i = 0; ok && i < PEAK_ITEMS && bad < 0; i++)
      if (rows[i].index != i || rows[i].state != INB_H5_DONE || rows[i].value != (double)(i % 1000)) bad = i;
    expect_eq(ok, 1, "the results table of %d rows reads", PEAK_ITEMS);
    expect_eq(bad, -1, "every row is done with its value (first wrong row)");
    free(rows);
    if (f >= 0) H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(output);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    print_message("  rank 0: RSS %ld MiB before inb_h5_run, peak %ld MiB (+%ld), %ld MiB after commit\n",
                  before / 1024, peak / 1024, (peak - before) / 1024, after / 1024);
    if (measured && !UNDER_ASAN)
      expect_eq((peak - before) / 1024 < PEAK_LIMIT_MIB, 1, "rank 0's peak grew by %ld MiB over %d items (limit "
                "%d MiB)", (peak - before) / 1024, PEAK_ITEMS, PEAK_LIMIT_MIB);
  }
  assert_checks();
  if (g_rank == 0 && (!measured || UNDER_ASAN)) {
    print_message("  peak not asserted: %s\n", UNDER_ASAN ? "AddressSanitizer keeps freed memory in quarantine"
                                                          : "this kernel cannot reset the peak (clear_refs)");
    skip();
  }
}

/* ---- the block cache ------------------------------------------------------------------------------------ */

static int keep(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra, inb_batch **out,
                void *data) {
  (void)b, (void)r, (void)call, (void)extra, (void)out, (void)data;
  return 0;
}

static int trivial(inb_item *it, const inb_args *a, inb_value *result) {
  (void)it, (void)a;
  *result = inb_int(1);
  return 0;
}

static void test_the_engines_block_cache_is_empty_when_inb_h5_run_returns(void **state) {
  (void)state;
  reset_checks();
  /* a plain call with a post fills the cache (200,000 result slots: a mapped block) and leaves it filled */
  inb_batch *b = inb_batch_new(NULL, 200000);
  inb_action plain = {.name = "plain", .fn = trivial, .init = "indices", .post = keep, .target = INB_FOR};
  expect_rc(inb_run(b, &plain, NULL, NULL, NULL), 0, "a plain inb_run");
  inb_batch_free(&b);
  expect_eq(inb__scratch_trim() > 0, 1, "after a plain inb_run the cache holds blocks (the measure works)");
  expect_rc(inb_run((b = inb_batch_new(NULL, 200000)), &plain, NULL, NULL, NULL), 0, "a plain inb_run again");
  inb_batch_free(&b);
  char input[PATH_MAX], output[PATH_MAX];
  make_input("cache.h5", 300000, input);
  h5t_path(output, "cache_out.h5");
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I32, .ndim = 0, .chunk_items = 1000, .deflate = 1};
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, comps, 1, NULL, &in);
  if (!rc) rc = inb_h5_create(output, &spec, 1, inb_h5_length(in), true, NULL, &out);
  expect_rc(rc, 0, "open and create");
  if (!rc) {
    inb_action act = {.name = "affine", .fn = affine, .init = "x", .target = INB_MPI};
    inb_h5_plan plan = {.batch_size = 100000};
    rc = inb_h5_run(in, &plan, &act, NULL, NULL, out);
    expect_rc(rc, 0, "inb_h5_run");
    size_t left = inb__scratch_trim();
    expect_eq((long)left, 0, "blocks left in the cache on rank %d when inb_h5_run returned", g_rank);
    expect_rc(rc ? (inb_h5_abort(&out), rc) : inb_h5_commit(&out), 0, "commit");
  }
  inb_h5_close(&in);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(output);
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_an_unset_batch_size_means_batches_of_at_most_INB_H5_BATCH_ITEMS),
      cmocka_unit_test(test_an_unset_batch_size_keeps_a_batch_of_large_rows_within_INB_H5_BATCH_BYTES),
      cmocka_unit_test(test_rank_0_peak_memory_does_not_grow_with_two_million_items),
      cmocka_unit_test(test_the_engines_block_cache_is_empty_when_inb_h5_run_returns),
  };
  return h5t_main(argc, argv, "h5.test_h5_memory", tests, sizeof tests / sizeof tests[0]);
}
