/* Kernels (src/jobs/kernels.h): a step's C code compiled for this machine, cached, loaded on every rank and run
 * as an action on items' rows, under a real mpiexec (1 and 2 ranks).
 *
 * The compiler is `cc` behind a wrapper script (CC) that counts the calls that link a kernel, so a test can tell
 * whether a build compiled or found its object in the cache; the cache is a scratch directory (INBATCH_CACHE).
 * Every test is collective and asserts at its end (tests/common/checks.h): tasks report a wrong number with
 * inb_fail, post with verdict(). */

#define _GNU_SOURCE /* nftw */

/* cmocka.h needs these first (runner.h includes it). */
#include "runner.h"

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <inbatch.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "collective.h"
#include "jobs/kernels.h"

static char g_dir[1024];   /* the scratch directory: the cache, the wrapper, the job file */
static char g_cache[1100]; /* INBATCH_CACHE/kernels */
static char g_job[1100];   /* a job file whose lines the compiler can quote */

enum { ITEMS = 37, H = 12, W = 25, ROW = H * W };

/* ---- set-up ------------------------------------------------------------------------------------------------- */

/* The wrapper: counts the calls that make a shared object (one line each in DIR/compiles) and, with
 * INB_TEST_OTHER_CPU set, reports another CPU model for -march=native, as a node of another kind would. */
static void write_wrapper(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/cc", g_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\n"
             "case \" $* \" in *\" -shared \"*) echo compile >> '%s/compiles';; esac\n"
             "if [ -n \"$INB_TEST_OTHER_CPU\" ]; then\n"
             "  case \" $* \" in *\" -### \"*)\n"
             "    cc \"$@\" 2>&1 | sed -e 's/\"-march=[^\"]*\"/\"-march=x86-64-v2\"/' "
             "-e 's/\"-target-cpu\" \"[^\"]*\"/\"-target-cpu\" \"x86-64-v2\"/' >&2\n"
             "    exit 0;;\n"
             "  esac\n"
             "fi\n"
             "exec cc \"$@\"\n",
          g_dir);
  fclose(f);
  chmod(path, 0755);
}

/* The job file the failing tests name: its lines 4-5 hold the bad kernel, at column 7. */
static void write_job(void) {
  FILE *f = fopen(g_job, "w");
  assert_non_null(f);
  fputs("pipeline:\n"
        "  - kernel: |\n"
        "      /* line 3 */\n"
        "      for (size_t i = 0; i < n; i++)\n"
        "      y[i] = 2 * x[i] + zz;\n",
        f);
  fclose(f);
}

static long count_compiles(void) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/compiles", g_dir);
  FILE *f = fopen(path, "r");
  long n = 0;
  for (int c; f && (c = fgetc(f)) != EOF;) n += c == '\n';
  if (f) fclose(f);
  return rank0_int((int)n);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- kernels and rows ----------------------------------------------------------------------------------------- */

static inb__kernel_src body(const char *code, inb_dtype t, inb_dtype u) {
  return (inb__kernel_src){.code = code, .job_path = "tests/kernels.yaml", .line = 10, .col = 7, .src = t, .dst = u};
}

static inb__kernel_src expression(const char *expr, inb_dtype t, inb_dtype u) {
  return (inb__kernel_src){.expr = expr, .job_path = "tests/kernels.yaml", .line = 20, .col = 13, .src = t, .dst = u};
}

/* Element e of item i: smooth values in [-4, 4]; with `negatives`, items 3, 8, 13, ... have -1-i at element 2. */
static double value(size_t i, size_t e, bool negatives) {
  if (negatives) return i % 5 == 3 && e == 2 ? -1.0 - (double)i : 1.0 + (double)((i * ROW + e) % 17);
  return 4.0 * sin(0.013 * (double)(i * ROW + e));
}

static double get(const void *p, inb_dtype t, size_t i) {
  switch (t) {
  case INB_F32: return ((const float *)p)[i];
  case INB_F64: return ((const double *)p)[i];
  case INB_U8: return ((const uint8_t *)p)[i];
  default: return NAN;
  }
}

/* What a dst element holds for the value v (the conversions kernels.h promises). */
static double as_dtype(double v, inb_dtype t) {
  if (t == INB_F32) return (double)(float)v;
  if (t == INB_U8) return v <= 0 ? 0 : v >= 255 ? 255 : round(v);
  return v;
}

typedef double (*ref_fn)(double x, const double *args, int64_t index);

/* One run of a kernel over rank 0's rows: the action, its argument values, and what each element must become. */
typedef struct {
  const inb__action_spec *act;
  inb__argvals args;
  double vals[INB__KERNEL_MAX_ARGS];
  ref_fn ref;
  inb_dtype src, dst;
  bool negatives;             /* the rows with negative elements: their items must fail with `fail_words` */
  const char *fail_words;     /* "... %g at element 2" with the item's negative value */
} rows_run;

static atomic_long g_ran; /* items run on this rank */

/* A task: the kernel's action on the item's row, then every element compared with the C computation. */
static int run_row(inb_item *it, const inb_args *args, inb_value *result) {
  rows_run *c = inb_item_data(it);
  atomic_fetch_add(&g_ran, 1);
  const inb_value *v = inb_args_get(args, "x");
  if (!v || v->kind != INB_ARRAY) return inb_fail(it, 98, "no row 'x'");
  inb_array x = v->u.a, y = x;
  y.dtype = c->dst;
  y.data = malloc(inb_array_count(&x) * inb_dtype_size(c->dst));
  if (!y.data) return inb_fail(it, INB_ENOMEM, "out of memory");
  inb__rows rows = {.src = &x, .nsrc = 1, .dst = &y, .ndst = 1};
  int rc = c->act->run(&rows, &c->args, it, result);
  for (size_t e = 0; !rc && e < inb_array_count(&x); e++) {
    double want = as_dtype(c->ref(get(x.data, x.dtype, e), c->vals, inb_item_index(it)), c->dst);
    double got = get(y.data, c->dst, e);
    if (got != want && !(got != got && want != want))
      rc = inb_fail(it, 98, "item %lld element %zu: the kernel gives %.17g, C gives %.17g",
                    (long long)inb_item_index(it), e, got, want);
  }
  free(y.data);
  return rc;
}

/* Post: every item done, or, with negatives, exactly the items with a negative element failed with the kernel's
 * own words. */
static int check_outcomes(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                          inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out;
  const rows_run *c = data;
  if (inb_results_count(r) != ITEMS) return verdict("%zu results, expected %d", inb_results_count(r), ITEMS);
  for (size_t i = 0; i < ITEMS; i++) {
    const inb_error *e = inb_result_error(r, i);
    bool should_fail = c->negatives && i % 5 == 3;
    if (!should_fail && e) return verdict("item %zu failed: %s", i, e->message);
    if (should_fail && !e) return verdict("item %zu has a negative element but did not fail", i);
    if (!should_fail) continue;
    char want[256];
    snprintf(want, sizeof want, c->fail_words, -1.0 - (double)i);
    if (strcmp(e->message, want) != 0) return verdict("item %zu failed with '%s', expected '%s'", i, e->message, want);
  }
  return 0;
}

/* Runs the kernel on ITEMS rows of H x W (rank 0's batch), spread over the ranks in blocks (every rank runs some),
 * on 2 threads each. Collective. */
static int run_rows(rows_run *c) {
  inb_batch *b = inb_batch_new(NULL, g_rank == 0 ? ITEMS : 0);
  if (g_rank == 0) {
    inb_array a = {.dtype = c->src, .ndim = 3, .shape = {ITEMS, H, W}};
    a.data = malloc((size_t)ITEMS * ROW * inb_dtype_size(c->src));
    for (size_t i = 0; i < ITEMS; i++)
      for (size_t e = 0; e < ROW; e++) {
        double v = value(i, e, c->negatives);
        if (c->src == INB_F32) ((float *)a.data)[i * ROW + e] = (float)v;
        else ((double *)a.data)[i * ROW + e] = v;
      }
    inb_batch_set(b, "x", a, true);
  }
  c->args = (inb__argvals){.n = c->act->nargs, .spec = c->act->args, .ext = c->act->ext};
  for (size_t k = 0; k < c->act->nargs; k++) c->args.v[k].r = c->vals[k];
  inb_action act = {.name = "kernel", .fn = run_row, .init = "items", .post = check_outcomes, .target = INB_MPI,
                    .data = c};
  inb_opts o = {.schedule = INB_STATIC, .n_workers = 2};
  atomic_store(&g_ran, 0);
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  inb_batch_free(&b);
  return rc;
}

static double two_x_plus_1(double x, const double *a, int64_t index) { return (void)a, (void)index, 2 * x + 1; }
static double gumbel(double x, const double *a, int64_t index) { return (void)a, (void)index, -exp(-exp(x)); }
static double k_x_plus_b(double x, const double *a, int64_t index) { return a[0] * x + a[1] + (double)index + W; }
static double square_root(double x, const double *a, int64_t index) { return (void)a, (void)index, sqrt(x); }
static double times_100(double x, const double *a, int64_t index) { return (void)a, (void)index, x * 100; }

/* ---- the tests ------------------------------------------------------------------------------------------------ */

static void test_kernel_2x_plus_1_on_float32_rows_gives_cs_numbers_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = body("for (size_t i = 0; i < n; i++)\n  y[i] = 2 * x[i] + 1;\n", INB_F32, INB_F32);
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "build");
  if (!rc) {
    rows_run c = {.act = inb__kernel_action(k), .ref = two_x_plus_1, .src = INB_F32, .dst = INB_F32};
    expect_rc(run_rows(&c), 0, "the kernel on %d rows", ITEMS);
    expect_eq(sum_ranks(atomic_load(&g_ran)), ITEMS, "items run over all ranks");
    expect_eq(atomic_load(&g_ran) > 0, 1, "rank %d ran items with its own copy of the kernel", g_rank);
    expect_eq(strcmp(c.act->name, "kernel"), 0, "the action's name");
    expect_eq(c.act->nsrc, 1, "one source per call");
  }
  inb__kernel_free(&k);
  expect_eq(k == NULL, 1, "free sets the pointer to NULL");
  assert_checks();
}

static void test_expr_gumbel_equals_the_c_librarys_computation(void **state) {
  (void)state;
  reset_checks();
  for (inb_dtype t = INB_F32; t <= INB_F64; t++) {
    inb__kernel_src s = expression("-exp(-exp(x))", t, t);
    inb__kernel *k = NULL;
    int rc = inb__kernel_build(&s, NULL, &k);
    expect_rc(rc, 0, "build the expression for %s", t == INB_F32 ? "float32" : "float64");
    if (!rc) {
      rows_run c = {.act = inb__kernel_action(k), .ref = gumbel, .src = t, .dst = t};
      expect_rc(run_rows(&c), 0, "-exp(-exp(x)) on %s rows", t == INB_F32 ? "float32" : "float64");
      expect_eq(strcmp(c.act->name, "expr"), 0, "the action's name");
    }
    inb__kernel_free(&k);
  }
  assert_checks();
}

static void test_expr_into_uint8_rounds_and_saturates(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = expression("x * 100", INB_F64, INB_U8); /* [-400, 400]: both ends saturate */
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "build");
  if (!rc) {
    rows_run c = {.act = inb__kernel_action(k), .ref = times_100, .src = INB_F64, .dst = INB_U8};
    expect_rc(run_rows(&c), 0, "x * 100 into uint8");
  }
  inb__kernel_free(&k);
  assert_checks();
}

static void test_arguments_index_and_shape_reach_the_code(void **state) {
  (void)state;
  reset_checks();
  const char *names[] = {"k", "b"};
  inb__kernel_src s = body("for (size_t i = 0; i < n; i++)\n"
                           "  y[i] = k * x[i] + b + index + (ndim == 2 ? shape[1] : -1);\n",
                           INB_F64, INB_F64);
  s.arg_names = names;
  s.nargs = 2;
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "build");
  if (!rc) {
    const inb__action_spec *a = inb__kernel_action(k);
    expect_eq(a->nargs, 2, "the action takes the two arguments");
    expect_eq(strcmp(a->args[0].name, "k") == 0 && strcmp(a->args[1].name, "b") == 0, 1, "in their order");
    expect_eq(a->args[0].type == INB_ARG_REAL && !a->args[0].dflt, 1, "numbers, required");
    rows_run c = {.act = a, .vals = {2.5, -0.75}, .ref = k_x_plus_b, .src = INB_F64, .dst = INB_F64};
    expect_rc(run_rows(&c), 0, "k * x + b + index + shape[1] with k = 2.5, b = -0.75");
    c.vals[0] = -3;
    expect_rc(run_rows(&c), 0, "the same kernel with k = -3: values are read per call, not compiled in");
  }
  inb__kernel_free(&k);
  assert_checks();
}

static void test_shape_is_the_source_row_in_the_destination_dtype(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = expression("x / 2", INB_U8, INB_F32);
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "build");
  if (!rc) {
    const inb__action_spec *a = inb__kernel_action(k);
    inb__argvals v = {.n = a->nargs, .spec = a->args, .ext = a->ext};
    inb_array row = {.dtype = INB_U8, .ndim = 2, .shape = {64, 48}}, out = {0};
    expect_rc(a->shape(&row, &v, &out), 0, "shape of a uint8 row");
    expect_eq(out.dtype == INB_F32 && out.ndim == 2 && out.shape[0] == 64 && out.shape[1] == 48, 1,
              "float32, the row's shape");
    inb__argvals unbound = {.n = a->nargs, .spec = a->args};
    expect_rc(a->shape(&row, &unbound, &out), INB_EINVAL, "arguments bound without the action's ext");
    row.dtype = INB_I16;
    expect_rc(a->shape(&row, &v, &out), INB_EINVAL, "an int16 row for a kernel compiled for uint8");
    expect_errmsg_has("compiled for uint8 rows; this src has int16 rows", "the message says which dtypes");
  }
  inb__kernel_free(&k);
  assert_checks();
}

static void test_code_that_does_not_compile_fails_on_every_rank_naming_the_jobs_line(void **state) {
  (void)state;
  reset_checks();
  /* the job file's lines 4 and 5 (write_job), at column 7: 'zz' is at line 5, column 25 */
  inb__kernel_src s = {.code = "for (size_t i = 0; i < n; i++)\ny[i] = 2 * x[i] + zz;\n", .job_path = g_job,
                       .line = 4, .col = 7, .src = INB_F32, .dst = INB_F32};
  inb__kernel *k = (inb__kernel *)&s; /* not NULL: the call must clear it */
  long before = count_compiles();
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, INB_EINVAL, "a kernel that does not compile");
  expect_eq(k == NULL, 1, "*out is NULL after a failure");
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "job '%s' line 4: the kernel does not compile:", g_job);
  expect_errmsg_has(want, "the message names the job and where the code starts");
  snprintf(want, sizeof want, "%s:5:25: error:", g_job);
  expect_errmsg_has(want, "the compiler's message names the job file's line and column of the bad code");
  expect_errmsg_has("zz", "and what is wrong");
  expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "every rank has the same message");
  expect_eq(count_compiles() - before, 1, "one compile: the node's lowest rank's");
  if (g_size > 1) expect_errmsg_has("rank 0: ", "the message says which rank failed");
  assert_checks();
}

static void test_second_build_finds_the_cache_and_runs_no_compiler(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = body("for (size_t i = 0; i < n; i++) y[i] = 2 * x[i] + 1; /* cache */\n", INB_F32, INB_F32);
  inb__kernel *k = NULL;
  long before = count_compiles();
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now_s();
  int rc = inb__kernel_build(&s, NULL, &k);
  double first = now_s() - t0;
  expect_rc(rc, 0, "first build");
  expect_eq(count_compiles() - before, 1, "the first build compiles once (on the node's lowest rank)");
  expect_eq(k && inb__kernel_compiled(k), 1, "every rank knows it was compiled");
  char key[40] = "", so[PATH_MAX] = "";
  struct stat st1 = {0}, st2 = {0};
  if (k) {
    snprintf(key, sizeof key, "%s", inb__kernel_key(k));
    snprintf(so, sizeof so, "%s", inb__kernel_path(k));
    expect_eq(strlen(key), 32, "the key: 32 hex digits");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/%s.so", g_cache, key);
    expect_eq(strcmp(so, want), 0, "the object is INBATCH_CACHE/kernels/KEY.so");
    snprintf(want, sizeof want, "%s/%s.c", g_cache, key);
    expect_eq(access(want, R_OK), 0, "its generated source is kept beside it");
    stat(so, &st1);
  }
  inb__kernel_free(&k);
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = now_s();
  rc = inb__kernel_build(&s, NULL, &k);
  double cached = now_s() - t0;
  expect_rc(rc, 0, "second build");
  expect_eq(count_compiles() - before, 1, "the second build runs no compiler");
  expect_eq(k && !inb__kernel_compiled(k), 1, "every rank knows it came from the cache");
  expect_eq(k && strcmp(inb__kernel_key(k), key) == 0, 1, "the same key");
  stat(so, &st2);
  expect_eq(st1.st_ino == st2.st_ino && st1.st_mtime == st2.st_mtime, 1, "the same file, untouched");
  if (k) {
    rows_run c = {.act = inb__kernel_action(k), .ref = two_x_plus_1, .src = INB_F32, .dst = INB_F32};
    expect_rc(run_rows(&c), 0, "the cached kernel computes");
  }
  inb__kernel_free(&k);
  double slowest_first = (double)max_ranks((long)(first * 1e6)) / 1e6;
  double slowest_cached = (double)max_ranks((long)(cached * 1e6)) / 1e6;
  if (g_rank == 0)
    printf("kernel build on %d rank%s: first %.3f s (compiled), cached %.4f s\n", g_size, g_size == 1 ? "" : "s",
           slowest_first, slowest_cached);
  assert_checks();
}

static void test_the_key_changes_with_the_code_the_dtypes_and_the_cpu(void **state) {
  (void)state;
  reset_checks();
  const char *codes[] = {"for (size_t i = 0; i < n; i++) y[i] = x[i] + 1; /* key */\n",
                         "for (size_t i = 0; i < n; i++) y[i] = x[i] + 2; /* key */\n"};
  char keys[4][40] = {{0}};
  for (int v = 0; v < 4; v++) {
    inb__kernel_src s = body(codes[v == 1], INB_F64, v == 2 ? INB_F32 : INB_F64);
    if (v == 3) setenv("INB_TEST_OTHER_CPU", "1", 1); /* another CPU model for -march=native: another node */
    inb__kernel *k = NULL;
    int rc = inb__kernel_build(&s, NULL, &k);
    unsetenv("INB_TEST_OTHER_CPU");
    expect_rc(rc, 0, "build %d", v);
    if (k) snprintf(keys[v], sizeof keys[v], "%s", inb__kernel_key(k));
    inb__kernel_free(&k);
  }
  expect_eq(strcmp(keys[0], keys[1]) != 0, 1, "other code, another key");
  expect_eq(strcmp(keys[0], keys[2]) != 0, 1, "another dst dtype, another key");
  expect_eq(strcmp(keys[0], keys[3]) != 0, 1, "another CPU model, another key (a shared home holds both)");
  assert_checks();
}

static void test_a_failing_item_reports_the_kernels_message(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = body("for (size_t i = 0; i < n; i++) {\n"
                           "  if (x[i] < 0) fail(\"negative value %g at element %zu\", x[i], i);\n"
                           "  y[i] = sqrt(x[i]);\n"
                           "}\n",
                           INB_F64, INB_F64);
  s.job_path = "jobs/roots.yaml";
  s.line = 30;
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "build");
  if (!rc) {
    rows_run c = {.act = inb__kernel_action(k), .ref = square_root, .src = INB_F64, .dst = INB_F64,
                  .negatives = true, .fail_words = "kernel at roots.yaml line 30: negative value %g at element 2"};
    expect_rc(run_rows(&c), 0, "the items without negatives are done, the others failed with the kernel's words");
  }
  inb__kernel_free(&k);
  assert_checks();
}

static void test_a_stray_temporary_or_a_damaged_object_does_not_confuse_the_next_build(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = body("for (size_t i = 0; i < n; i++) y[i] = 2 * x[i] + 1; /* stray */\n", INB_F32, INB_F32);
  inb__kernel *k = NULL;
  expect_rc(inb__kernel_build(&s, NULL, &k), 0, "first build");
  char key[40] = "", so[PATH_MAX] = "", fresh[PATH_MAX] = "", old[PATH_MAX] = "";
  if (k) {
    snprintf(key, sizeof key, "%s", inb__kernel_key(k));
    snprintf(so, sizeof so, "%s", inb__kernel_path(k));
  }
  inb__kernel_free(&k);
  /* what a compile killed half-way leaves: temporaries of this key, one fresh (another node's, maybe at work),
   * one from two hours ago; and the object itself gone */
  snprintf(fresh, sizeof fresh, "%s/.%s.a1b2c3.so", g_cache, key);
  snprintf(old, sizeof old, "%s/.%s.d4e5f6.so", g_cache, key);
  if (g_rank == 0) {
    unlink(so);
    FILE *f = fopen(fresh, "w");
    if (f) fputs("\177ELF half", f), fclose(f);
    f = fopen(old, "w");
    if (f) fputs("\177ELF half", f), fclose(f);
    struct timeval tv[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    utimes(old, tv);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  long before = count_compiles();
  int rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "a build beside the temporaries");
  expect_eq(count_compiles() - before, 1, "it compiles (a temporary is never taken for the object)");
  expect_eq(k && strcmp(inb__kernel_key(k), key) == 0, 1, "under the same key");
  if (k) {
    rows_run c = {.act = inb__kernel_action(k), .ref = two_x_plus_1, .src = INB_F32, .dst = INB_F32};
    expect_rc(run_rows(&c), 0, "and computes");
  }
  inb__kernel_free(&k);
  expect_eq(rank0_int(access(fresh, F_OK) == 0), 1, "the fresh temporary is left to its owner");
  expect_eq(rank0_int(access(old, F_OK) != 0), 1, "the old one is removed");

  /* a KEY.so that is not a whole object (cut short by something else, written as any writer of the cache writes:
   * a new file renamed into place, never the loaded one changed in place): made again. Checked only when no rank
   * maps the old object still (dlclose may keep it, e.g. under ASan): dlopen of the name would find that one */
  void *still = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  int mapped = still != NULL, anywhere = 0;
  if (still) dlclose(still);
  MPI_Allreduce(&mapped, &anywhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (anywhere) {
    if (g_rank == 0) fprintf(stderr, "note: the object is still loaded after dlclose: the damaged-object case is skipped\n");
    assert_checks();
    return;
  }
  if (g_rank == 0) {
    char cut[PATH_MAX + 8];
    snprintf(cut, sizeof cut, "%s.cut", so);
    FILE *from = fopen(so, "rb"), *to = fopen(cut, "wb");
    char head[100];
    size_t got = from ? fread(head, 1, sizeof head, from) : 0;
    if (to) fwrite(head, 1, got, to), fclose(to);
    if (from) fclose(from);
    if (rename(cut, so) != 0) perror("rename");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  before = count_compiles();
  rc = inb__kernel_build(&s, NULL, &k);
  expect_rc(rc, 0, "a build over a damaged object");
  expect_eq(count_compiles() - before, 1, "it compiles again");
  if (k) {
    rows_run c = {.act = inb__kernel_action(k), .ref = two_x_plus_1, .src = INB_F32, .dst = INB_F32};
    expect_rc(run_rows(&c), 0, "and computes");
  }
  inb__kernel_free(&k);
  assert_checks();
}

static void test_bad_sources_are_refused_on_every_rank_before_any_compile(void **state) {
  (void)state;
  reset_checks();
  long before = count_compiles();
  const char *x_name[] = {"x"}, *bad_name[] = {"2k"}, *twice[] = {"k", "k"};
  struct {
    inb__kernel_src s;
    const char *words;
  } cases[] = {
      {{.code = "", .job_path = "j.yaml", .line = 3, .src = INB_F32, .dst = INB_F32}, "job 'j.yaml' line 3: the kernel's code is empty"},
      {{.code = "y[0] = 1;", .expr = "x", .job_path = "j.yaml", .line = 3, .src = INB_F32, .dst = INB_F32}, "one of them"},
      {{.expr = "x", .line = 3, .src = INB_F32, .dst = INB_F32, .arg_names = x_name, .nargs = 1}, "'x' is a name the kernel has already"},
      {{.expr = "x", .line = 3, .src = INB_F32, .dst = INB_F32, .arg_names = bad_name, .nargs = 1}, "'2k' is not a C name"},
      {{.expr = "x", .line = 3, .src = INB_F32, .dst = INB_F32, .arg_names = twice, .nargs = 2}, "'k' is named twice"},
      {{.expr = "x", .line = 3, .src = INB_F32, .dst = INB_F32, .nargs = 9}, "at most 8 arguments"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    inb__kernel *k = NULL;
    expect_rc(inb__kernel_build(&cases[c].s, NULL, &k), INB_EINVAL, "case %zu", c);
    expect_errmsg_has(cases[c].words, "case %zu's message", c);
    expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "case %zu: the same message on every rank", c);
  }
  expect_eq(count_compiles() - before, 0, "nothing compiled");
  assert_checks();
}

static void test_ranks_that_pass_different_code_fail_together(void **state) {
  (void)state;
  reset_checks();
  inb__kernel_src s = expression(g_rank == 0 ? "x + 1" : "x + 2", INB_F64, INB_F64);
  inb__kernel *k = NULL;
  int rc = inb__kernel_build(&s, NULL, &k);
  if (g_size == 1) {
    expect_rc(rc, 0, "alone, any code is the code");
  } else {
    expect_rc(rc, INB_EINVAL, "ranks with different code");
    expect_errmsg_has("building a kernel: the ranks were called with different arguments", "the message");
  }
  inb__kernel_free(&k);
  assert_checks();
}

int main(int argc, char **argv) {
  if (start_ranks(&argc, &argv) != 0) return 1;
  char tmpl[] = "/tmp/inb-kernels-XXXXXX";
  const char *made = g_rank == 0 ? mkdtemp(tmpl) : "";
  char *dir = rank0_string(made ? made : "");
  snprintf(g_dir, sizeof g_dir, "%s", dir ? dir : "");
  free(dir);
  snprintf(g_cache, sizeof g_cache, "%s/cache/kernels", g_dir);
  snprintf(g_job, sizeof g_job, "%s/kernels.yaml", g_dir);
  char cache[PATH_MAX], cc[PATH_MAX];
  snprintf(cache, sizeof cache, "%s/cache", g_dir);
  snprintf(cc, sizeof cc, "%s/cc", g_dir);
  setenv("INBATCH_CACHE", cache, 1);
  setenv("CC", cc, 1);
  if (g_rank == 0) write_wrapper(), write_job();
  MPI_Barrier(MPI_COMM_WORLD);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_2x_plus_1_on_float32_rows_gives_cs_numbers_on_every_rank),
      cmocka_unit_test(test_expr_gumbel_equals_the_c_librarys_computation),
      cmocka_unit_test(test_expr_into_uint8_rounds_and_saturates),
      cmocka_unit_test(test_arguments_index_and_shape_reach_the_code),
      cmocka_unit_test(test_shape_is_the_source_row_in_the_destination_dtype),
      cmocka_unit_test(test_code_that_does_not_compile_fails_on_every_rank_naming_the_jobs_line),
      cmocka_unit_test(test_second_build_finds_the_cache_and_runs_no_compiler),
      cmocka_unit_test(test_the_key_changes_with_the_code_the_dtypes_and_the_cpu),
      cmocka_unit_test(test_a_failing_item_reports_the_kernels_message),
      cmocka_unit_test(test_a_stray_temporary_or_a_damaged_object_does_not_confuse_the_next_build),
      cmocka_unit_test(test_bad_sources_are_refused_on_every_rank_before_any_compile),
      cmocka_unit_test(test_ranks_that_pass_different_code_fail_together),
  };
  int status = run_group("kernels", tests, sizeof tests / sizeof tests[0], QUIET_STDOUT | QUIET_STDERR);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0 && g_dir[0]) nftw(g_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  inb_mpi_finalize();
  return status;
}
