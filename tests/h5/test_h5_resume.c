/* Resumable outputs (include/inbatch/h5.h, "Resumable outputs"): a run that stops keeps its partial
 * (inb_h5_keep), a later one opens it again (inb_h5_reopen), learns which items are finished (inb_h5_finished),
 * runs the others and commits: the committed file must be the one an uninterrupted run makes, and the records of
 * "/inbatch_errors", kept in a side file until commit, the failed items' last ones.
 *
 * The input holds "/idx" (each item's index) and "/x" (float64 items of 2 elements, h5t_value of component 0).
 * The outputs: "/y" = 2x + 1 (float64 [2]), "/g/s" = 3i (int32 scalars, in a group) and "/c" = x0 - i (float32,
 * chunk_items 5 without compression: contiguous in a resumable output). Items i % 7 == 3 always fail; in a "flaky"
 * run items i % 5 == 1 fail too. Every committed file is read back with the HDF5 C API on rank 0.
 *
 * Runs on 1, 2 and 4 ranks: with one, targets threads and mpi (POSIX files); with more, target mpi, static and
 * dynamic (MPI-IO). */
#include "h5test.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { N = 41, PER = 2, FIRST_PART = 17 };

static const char *const g_components[] = {"/idx", "/x"};
static const char *const g_datasets[] = {"/y", "/g/s", "/c"};
enum { NSPECS = 3 };

static void make_specs(inb_h5_output_spec *s) {
  s[0] = (inb_h5_output_spec){.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {PER}};
  s[1] = (inb_h5_output_spec){.name = "/g/s", .dtype = INB_I32, .ndim = 0};
  s[2] = (inb_h5_output_spec){.name = "/c", .dtype = INB_F32, .ndim = 0, .chunk_items = 5};
}

/* "resume_in.h5": /idx and /x of N items, written once by rank 0. */
static const char *input_path(char *path) { return h5t_idx_x_input(path, "resume_in.h5", N, PER); }

/* After an output ended (commit or abort): neither its partial nor its side file is left. Collective. */
static void expect_no_leftovers(const char *output, const char *what) {
  char partial[PATH_MAX], side[PATH_MAX];
  expect_eq(h5t_seen_anywhere(h5t_partial(partial, output)), 0, "%s: the partial '%s' is gone", what, partial);
  expect_eq(h5t_seen_anywhere(h5t_side_file(side, output)), 0, "%s: the side file '%s' is gone", what, side);
}

/* Records that rc is `want` on every rank and that the message has each of needles (NULL-ended). */
static void expect_refused(int rc, int want, const char *const *needles, const char *what) {
  expect_rc(rc, want, "%s", what);
  expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
  for (size_t k = 0; rc && needles[k]; k++) expect_errmsg_has(needles[k], "%s: the message names it", what);
}

/* ---- the task -------------------------------------------------------------------------------------------- */

static atomic_long g_ran;    /* tasks run on this rank in the current run */
static int g_run_no;         /* the run's number, in the failures' messages: which record commit kept */
static bool g_flaky;         /* items i % 5 == 1 fail too */

static bool always_fails(int64_t i) { return i % 7 == 3; }
static bool flaky_fails(int64_t i) { return i % 5 == 1; }

static int work(inb_item *it, const inb_args *a, inb_value *result) {
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  int64_t i = inb_item_index(it);
  if (always_fails(i) || (g_flaky && flaky_fails(i)))
    return inb_fail(it, 40 + (int)(i % 3), "item %lld refused (run %d)", (long long)i, g_run_no);
  const inb_value *x = inb_args_get(a, "x");
  inb_array *y = inb_item_output(it, "/y"), *s = inb_item_output(it, "/g/s"), *c = inb_item_output(it, "/c");
  if (!x || x->kind != INB_ARRAY || !y || !s || !c)
    return inb_fail(it, 50, "item %lld: no x or no outputs", (long long)i);
  const double *xv = x->u.a.data;
  for (size_t e = 0; e < PER; e++) ((double *)y->data)[e] = 2 * xv[e] + 1;
  *(int32_t *)s->data = (int32_t)(3 * i);
  *(float *)c->data = (float)(xv[0] - (double)i);
  *result = inb_real((double)i / 2);
  return 0;
}

typedef struct {
  inb_target target, local;
  inb_schedule schedule;
  int64_t batch_size;
  const char *name;
} config_t;

static size_t configs(const config_t **out) {
  static const config_t one[] = {{INB_THREADS, 0, 0, 5, "threads batch 5"},
                                 {INB_MPI, INB_FOR, INB_STATIC, 0, "mpi static default batches"}};
  static const config_t many[] = {{INB_MPI, INB_THREADS, INB_STATIC, 5, "mpi static batch 5"},
                                  {INB_MPI, INB_FOR, INB_DYNAMIC, 4, "mpi dynamic batch 4"}};
  *out = g_size == 1 ? one : many;
  return 2;
}

/* One run of `work` over the plan index[0..n) (NULL: every item); counts every rank's tasks into *ran. */
static int run_plan(inb_h5_input *in, inb_h5_output *out, const config_t *cf, const int64_t *index, size_t n,
                    int run_no, bool flaky, long *ran) {
  inb_action act = {.name = "work", .fn = work, .init = "items", .target = cf->target, .local = cf->local};
  inb_opts o = {.schedule = cf->schedule, .n_workers = 2};
  inb_h5_plan plan = {.batch_size = cf->batch_size, .index = index, .nindex = n};
  g_run_no = run_no;
  g_flaky = flaky;
  atomic_store(&g_ran, 0);
  int rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
  *ran = sum_ranks((long)atomic_load(&g_ran));
  return rc;
}

/* What a test's runs share: the specs, the input open, the output, the tasks counted. */
typedef struct {
  inb_h5_output_spec specs[NSPECS];
  inb_h5_input *in;
  inb_h5_output *out;
  long ran;
} session;

/* Opens the input into a new session; returns inb_h5_open's status. */
static int start(session *s, const char *input) {
  *s = (session){0};
  make_specs(s->specs);
  return inb_h5_open(input, g_components, 2, NULL, &s->in);
}

/* Ends a session: an output still open is aborted, the input closed. */
static void end(session *s) {
  inb_h5_abort(&s->out);
  inb_h5_close(&s->in);
}

/* The status a run over `plan` returns: INB_EITEM when an item of it fails. */
static int expected_rc(const int64_t *plan, size_t n, bool flaky) {
  for (size_t k = 0; k < n; k++)
    if (always_fails(plan[k]) || (flaky && flaky_fails(plan[k]))) return INB_EITEM;
  return 0;
}

/* The items that inb_h5_finished says are not finished, in order, into plan (room for N); their number. */
static size_t unfinished(const uint64_t *bits, int64_t *plan) {
  size_t m = 0;
  for (int64_t i = 0; i < N; i++)
    if (!((bits[i / 64] >> (i % 64)) & 1)) plan[m++] = i;
  return m;
}

/* The uninterrupted run: inb_h5_create, one run over every item, commit. */
static int uninterrupted(const char *input, const char *output, const config_t *cf) {
  session s;
  int rc = start(&s, input);
  if (!rc) rc = inb_h5_create(output, s.specs, NSPECS, N, true, NULL, &s.out);
  if (!rc) rc = run_plan(s.in, s.out, cf, NULL, 0, 1, false, &s.ran);
  if (rc == INB_EITEM) rc = inb_h5_commit(&s.out);
  end(&s);
  return rc;
}

/* Rank 0: the committed `output` equals `whole` (h5t_same_outputs) and has no resumable mark. */
static void expect_same_as(const char *output, const char *whole, const char *what) {
  if (g_rank != 0) return;
  char why[600];
  expect_eq(h5t_same_outputs(output, whole, g_datasets, NSPECS, why, sizeof why), 0,
            "%s: the committed output equals the uninterrupted run's (%s)", what, why);
  hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
  expect_eq(f >= 0 && H5Aexists(f, "inbatch_resumable") == 0, 1, "%s: the committed file has no resumable mark", what);
  if (f >= 0) H5Fclose(f);
}

/* Rank 0: the records of "/inbatch_errors" of `output`: exactly the items i with want(i), once each, in increasing
 * order, each with message "run <run_no>". */
static void expect_records(const char *output, bool (*want)(int64_t), int run_no, const char *what) {
  if (g_rank != 0) return;
  hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
  h5t_error *e = NULL;
  size_t n = 0;
  expect_eq(f >= 0 && h5t_read_errors(f, &e, &n) == 0, 1, "%s: /inbatch_errors reads", what);
  size_t k = 0;
  long bad = -1;
  char tail[32];
  snprintf(tail, sizeof tail, "(run %d)", run_no);
  for (int64_t i = 0; i < N && bad < 0; i++) {
    if (!want(i)) continue;
    if (k >= n || e[k].index != i || !strstr(e[k].message, tail)) bad = (long)i;
    k++;
  }
  expect_eq(bad, -1, "%s: the record of every failed item, its last one ('%s'), in order (first wrong item)", what,
            tail);
  expect_eq((long)n, (long)k, "%s: no other record", what);
  free(e);
  if (f >= 0) H5Fclose(f);
}

/* ---- tests ------------------------------------------------------------------------------------------------ */

static void test_a_run_stopped_and_resumed_commits_what_an_uninterrupted_run_would(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], whole[PATH_MAX], partial[PATH_MAX], side[PATH_MAX], what[200];
  input_path(input);
  h5t_path(output, "resumed.h5");
  h5t_path(whole, "whole.h5");
  h5t_partial(partial, output);
  h5t_side_file(side, output);
  const config_t *cfs;
  size_t ncf = configs(&cfs);
  for (size_t k = 0; k < ncf; k++) {
    const config_t *cf = &cfs[k];
    snprintf(what, sizeof what, "stopped and resumed, %s", cf->name);
    expect_rc(uninterrupted(input, whole, cf), 0, "%s: the uninterrupted run", what);
    int64_t first[FIRST_PART], rest[N];
    for (int64_t i = 0; i < FIRST_PART; i++) first[i] = i;
    session s;
  int rc = start(&s, input);
    if (!rc) expect_rc(rc = inb_h5_create_resumable(output, s.specs, NSPECS, N, false, NULL, &s.out), 0,
                       "%s: inb_h5_create_resumable", what);
    if (!rc) {
      expect_rc(run_plan(s.in, s.out, cf, first, FIRST_PART, 1, false, &s.ran), INB_EITEM, "%s: the first part", what);
      expect_eq(s.ran, FIRST_PART, "%s: the first part's tasks", what);
      expect_rc(inb_h5_annotate(s.out, "job", "resume test"), 0, "%s: inb_h5_annotate", what);
      expect_rc(rc = inb_h5_keep(&s.out), 0, "%s: inb_h5_keep", what);
      expect_eq(s.out == NULL, 1, "%s: inb_h5_keep took the output", what);
    }
    expect_eq(h5t_seen_anywhere(partial) && h5t_seen_anywhere(side), 1, "%s: the partial and the side file are kept",
              what);
    expect_eq(h5t_seen_anywhere(output), 0, "%s: no output before commit", what);
    if (!rc)
      expect_rc(rc = inb_h5_reopen(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "%s: inb_h5_reopen", what);
    size_t nrest = 0;
    if (!rc) {
      uint64_t bits[(N + 63) / 64 + 1];
      memset(bits, 0xa5, sizeof bits);
      expect_rc(inb_h5_finished(s.out, 0, N, bits), 0, "%s: inb_h5_finished", what);
      nrest = unfinished(bits, rest);
      long bad = -1;
      for (int64_t i = 0; i < N && bad < 0; i++)
        if ((int)((bits[i / 64] >> (i % 64)) & 1) != (i < FIRST_PART)) bad = (long)i;
      expect_eq(bad, -1, "%s: inb_h5_finished says the first part's items are finished, the others not (first wrong "
                "item)", what);
      long word = (long)bits[0]; /* N < 64: one word */
      expect_eq(max_ranks(word) == word && -max_ranks(-word) == word, 1, "%s: the bits are the same on every rank",
                what);
      memset(bits, 0xff, sizeof bits);
      expect_rc(inb_h5_finished(s.out, 15, 4, bits), 0, "%s: inb_h5_finished of items 15..18", what);
      expect_eq((long)bits[0], 0x3, "%s: items 15..18: 15 and 16 finished, 17 and 18 not, no other bit", what);
      char note[64] = "x";
      expect_rc(inb_h5_annotation(s.out, "job", note, sizeof note), 0, "%s: inb_h5_annotation", what);
      expect_eq(strcmp(note, "resume test"), 0, "%s: the annotation kept in the partial ('%s')", what, note);
      expect_rc(run_plan(s.in, s.out, cf, rest, nrest, 1, false, &s.ran), expected_rc(rest, nrest, false),
                "%s: the rest", what);
      expect_eq(s.ran, (long)nrest, "%s: the rest's tasks: only the unfinished items ran", what);
      expect_rc(rc = inb_h5_commit(&s.out), 0, "%s: inb_h5_commit", what);
    }
    end(&s);
    expect_eq((long)nrest, N - FIRST_PART, "%s: the unfinished items", what);
    if (!rc) expect_same_as(output, whole, what);
    if (!rc) expect_records(output, always_fails, 1, what);
    expect_no_leftovers(output, what);
    h5t_remove(output);
    h5t_remove(whole);
  }
  assert_checks();
}

static bool failed_in_run_2(int64_t i) { return always_fails(i); }

/* Run 1 (flaky) fails items i % 7 == 3 and i % 5 == 1; after keep and reopen, run 2 (not flaky) runs the failed
 * ones again: the flaky ones are done now and have no record, the others failed again and keep run 2's only. */
static void test_an_item_that_failed_and_ran_again_keeps_only_its_last_record(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], whole[PATH_MAX], what[200];
  input_path(input);
  h5t_path(output, "again.h5");
  h5t_path(whole, "again_whole.h5");
  const config_t *cfs;
  configs(&cfs);
  const config_t *cf = &cfs[1];
  snprintf(what, sizeof what, "failed items run again, %s", cf->name);
  expect_rc(uninterrupted(input, whole, cf), 0, "%s: the uninterrupted run", what);
  session s;
  int rc = start(&s, input);
  if (!rc)
    expect_rc(rc = inb_h5_create_resumable(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "%s: create", what);
  if (!rc) {
    expect_rc(run_plan(s.in, s.out, cf, NULL, 0, 1, true, &s.ran), INB_EITEM, "%s: run 1 (flaky)", what);
    expect_rc(rc = inb_h5_keep(&s.out), 0, "%s: keep after run 1", what);
  }
  if (!rc) expect_rc(rc = inb_h5_reopen(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "%s: reopen", what);
  if (!rc) {
    uint64_t bits[(N + 63) / 64];
    int64_t plan[N];
    expect_rc(inb_h5_finished(s.out, 0, N, bits), 0, "%s: inb_h5_finished", what);
    expect_eq((long)unfinished(bits, plan), 0, "%s: every item is finished after run 1 (failed ones too)", what);
    size_t m = 0;
    for (int64_t i = 0; i < N; i++)
      if (always_fails(i) || flaky_fails(i)) plan[m++] = i;
    expect_rc(run_plan(s.in, s.out, cf, plan, m, 2, false, &s.ran), INB_EITEM, "%s: run 2 over the failed items", what);
    expect_eq(s.ran, (long)m, "%s: run 2's tasks", what);
    expect_rc(rc = inb_h5_keep(&s.out), 0, "%s: keep after run 2", what);
  }
  /* reopened a second time, with nothing left to run */
  if (!rc) expect_rc(rc = inb_h5_reopen(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "%s: reopen again", what);
  if (!rc) expect_rc(rc = inb_h5_commit(&s.out), 0, "%s: commit", what);
  end(&s);
  if (!rc) {
    expect_records(output, failed_in_run_2, 2, what);
    if (g_rank == 0) { /* the records aside (run 2's messages), the file is the uninterrupted run's */
      char why[600];
      hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
      h5t_result rows[N];
      expect_eq(f >= 0 && h5t_read_table(f, rows, N) == 0, 1, "%s: the table reads", what);
      long bad = -1;
      for (int64_t i = 0; i < N && bad < 0; i++)
        if (rows[i].index != i || rows[i].state != (always_fails(i) ? INB_H5_FAILED : INB_H5_DONE)) bad = (long)i;
      expect_eq(bad, -1, "%s: the table says failed for i %% 7 == 3 only (first wrong row)", what);
      if (f >= 0) H5Fclose(f);
      int same = h5t_same_outputs(output, whole, g_datasets, NSPECS, why, sizeof why);
      expect_eq(same == 0 || strstr(why, "/inbatch_errors record") != NULL, 1, "%s: the datasets and the table equal "
                "the uninterrupted run's (%s)", what, why);
    }
  }
  expect_no_leftovers(output, what);
  h5t_remove(output);
  h5t_remove(whole);
  assert_checks();
}

/* A resumable output of specs, kept after a run over its first part: its partial and side file are there. */
static int kept_partial(const char *input, const char *output, const inb_h5_output_spec *specs, size_t n) {
  const config_t *cfs;
  configs(&cfs);
  int64_t first[FIRST_PART];
  for (int64_t i = 0; i < FIRST_PART; i++) first[i] = i;
  session s;
  int rc = start(&s, input);
  if (!rc) rc = inb_h5_create_resumable(output, specs, n, N, false, NULL, &s.out);
  if (!rc && (rc = run_plan(s.in, s.out, &cfs[0], first, FIRST_PART, 1, false, &s.ran)) == INB_EITEM) rc = 0;
  if (!rc) rc = inb_h5_keep(&s.out);
  end(&s);
  return rc;
}

static void test_reopen_refuses_a_partial_that_does_not_match_or_is_not_there(void **state) {
  (void)state;
  reset_checks();
  char input[PATH_MAX], output[PATH_MAX], partial[PATH_MAX], side[PATH_MAX];
  input_path(input);
  h5t_path(output, "refused.h5");
  h5t_partial(partial, output);
  h5t_side_file(side, output);
  int before = h5t_count_entries();
  inb_h5_output_spec specs[NSPECS + 1];
  make_specs(specs);
  inb_h5_output *out = NULL;
  {
    const char *const needles[] = {"no partial", "refused.h5", NULL};
    out = (inb_h5_output *)&out;
    expect_refused(inb_h5_reopen(output, specs, NSPECS, N, false, NULL, &out), INB_ENOTFOUND, needles,
                   "reopen without a partial");
    expect_eq(out == NULL, 1, "reopen without a partial: *out is NULL");
  }
  expect_rc(kept_partial(input, output, specs, NSPECS), 0, "a kept partial");
  struct {
    const char *what;
    int spec, change;
    const char *needles[3];
  } bad[] = {
      {"another dtype", 0, 0, {"'/y'", "float32", NULL}},
      {"another item shape", 0, 1, {"'/y'", "[3]", NULL}},
      {"another rank of item", 1, 2, {"'/g/s'", "int32 [2]", NULL}},
      {"another length", -1, 0, {"'/y'", "42", NULL}},
      {"a dataset the partial lacks", 3, 0, {"no dataset '/w'", NULL}},
      {"a dataset the run does not make", -2, 0, {"'/c'", "does not make", NULL}},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    inb_h5_output_spec s[NSPECS + 1];
    make_specs(s);
    size_t n = NSPECS;
    int64_t length = N;
    if (bad[k].spec == 0 && bad[k].change == 0) s[0].dtype = INB_F32;
    if (bad[k].spec == 0 && bad[k].change == 1) s[0].shape[0] = 3;
    if (bad[k].spec == 1) s[1].ndim = 1, s[1].shape[0] = 2;
    if (bad[k].spec == -1) length = N + 1;
    if (bad[k].spec == 3) s[NSPECS] = (inb_h5_output_spec){.name = "/w", .dtype = INB_U8}, n = NSPECS + 1;
    if (bad[k].spec == -2) n = NSPECS - 1;
    out = (inb_h5_output *)&out;
    char what[120];
    snprintf(what, sizeof what, "reopen with %s", bad[k].what);
    int rc = inb_h5_reopen(output, s, n, length, false, NULL, &out);
    expect_refused(rc, INB_EINVAL, bad[k].needles, what);
    expect_errmsg_has("start over", "%s: the message says to start over", what);
    expect_eq(out == NULL, 1, "%s: *out is NULL", what);
    if (!rc && out != (inb_h5_output *)&out) inb_h5_abort(&out);
    out = NULL;
    expect_eq(h5t_seen_anywhere(partial), 1, "%s: the partial stays", what);
  }
  /* the partial still opens with the run's own specs; an abort removes it and its side file */
  expect_rc(inb_h5_reopen(output, specs, NSPECS, N, false, NULL, &out), 0, "reopen with the partial's specs");
  inb_h5_abort(&out);
  expect_no_leftovers(output, "abort after reopen");
  /* a partial that inb_h5_create made */
  inb_h5_output *plain = NULL;
  int rc = inb_h5_create(output, specs, NSPECS, N, false, NULL, &plain);
  expect_rc(rc, 0, "inb_h5_create");
  if (!rc) expect_rc(inb_h5_keep(&plain), 0, "inb_h5_keep of an output of inb_h5_create");
  {
    const char *const needles[] = {"not a resumable output", "start over", NULL};
    out = (inb_h5_output *)&out;
    expect_refused(inb_h5_reopen(output, specs, NSPECS, N, false, NULL, &out), INB_EINVAL, needles,
                   "reopen of inb_h5_create's partial");
    expect_eq(out == NULL, 1, "reopen of inb_h5_create's partial: *out is NULL");
  }
  /* a partial that is not HDF5 (a run killed while it committed) */
  expect_eq(h5t_write_text(partial, "not an HDF5 file\n"), 0, "a partial of text");
  {
    const char *const needles[] = {"does not open", "start over", NULL};
    out = (inb_h5_output *)&out;
    expect_refused(inb_h5_reopen(output, specs, NSPECS, N, false, NULL, &out), INB_EINVAL, needles,
                   "reopen of a partial that is not HDF5");
    expect_eq(out == NULL, 1, "reopen of a partial that is not HDF5: *out is NULL");
  }
  /* inb_h5_create_resumable replaces it */
  expect_rc(inb_h5_create_resumable(output, specs, NSPECS, N, false, NULL, &out), 0,
            "inb_h5_create_resumable over a broken partial");
  inb_h5_abort(&out);
  expect_no_leftovers(output, "abort");
  char now[1200];
  expect_eq(h5t_count_entries(), before, "nothing new in the directory (it has: %s)",
            h5t_list_entries(now, sizeof now));
  assert_checks();
}

static void test_compressed_and_scratch_datasets_are_refused_in_a_resumable_output(void **state) {
  (void)state;
  reset_checks();
  char output[PATH_MAX];
  h5t_path(output, "compressed.h5");
  int before = h5t_count_entries();
  const struct {
    const char *what;
    inb_h5_output_spec spec;
    const char *needles[3];
  } bad[] = {
      {"deflate", {.name = "/d", .dtype = INB_F32, .chunk_items = 4, .deflate = 3},
       {"'/d'", "not in a resumable", NULL}},
      {"Zstd", {.name = "/z", .dtype = INB_F32, .chunk_items = 4, .codec = INB_H5_ZSTD}, {"'/z'", "compressed", NULL}},
      {"scratch", {.name = "/s", .dtype = INB_F64, .scratch = true}, {"'/s'", "not in a resumable", NULL}},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    inb_h5_output_spec specs[2] = {{.name = "/ok", .dtype = INB_I8}, bad[k].spec};
    inb_h5_output *out = (inb_h5_output *)&out;
    char what[120];
    snprintf(what, sizeof what, "inb_h5_create_resumable with a %s dataset", bad[k].what);
    expect_refused(inb_h5_create_resumable(output, specs, 2, N, false, NULL, &out), INB_EINVAL, bad[k].needles, what);
    expect_eq(out == NULL, 1, "%s: *out is NULL", what);
    out = (inb_h5_output *)&out;
    snprintf(what, sizeof what, "inb_h5_reopen with a %s dataset", bad[k].what);
    expect_refused(inb_h5_reopen(output, specs, 2, N, false, NULL, &out), INB_EINVAL, bad[k].needles, what);
    expect_eq(out == NULL, 1, "%s: *out is NULL", what);
  }
  char now[1200];
  expect_eq(h5t_count_entries(), before, "nothing left behind (the directory has: %s)",
            h5t_list_entries(now, sizeof now));
  assert_checks();
}

/* A session of the output "<dir>/<name>" (its path into output), kept after a run over its first part. */
static int start_kept(session *s, char *output, const char *name) {
  char input[PATH_MAX];
  input_path(input);
  h5t_path(output, name);
  int rc = start(s, input);
  expect_rc(kept_partial(input, output, s->specs, NSPECS), 0, "a kept partial '%s'", name);
  return rc;
}

/* The end of a kept_partial reopened into s (rc: how that went): the items not finished run, commit; the committed
 * file has the failed items' records; nothing is left; the output is removed. */
static void commit_the_rest(session *s, const char *output, int rc, const char *what) {
  const config_t *cfs;
  configs(&cfs);
  int64_t rest[N];
  if (!rc) {
    uint64_t bits[(N + 63) / 64];
    expect_rc(inb_h5_finished(s->out, 0, N, bits), 0, "%s: inb_h5_finished", what);
    size_t nrest = unfinished(bits, rest);
    expect_eq((long)nrest, N - FIRST_PART, "%s: the unfinished items", what);
    expect_rc(run_plan(s->in, s->out, &cfs[0], rest, nrest, 1, false, &s->ran), INB_EITEM, "%s: the rest", what);
    expect_rc(rc = inb_h5_commit(&s->out), 0, "%s: commit", what);
  }
  end(s);
  if (!rc) expect_records(output, always_fails, 1, what);
  expect_no_leftovers(output, what);
  h5t_remove(output);
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A process killed while it appended to the side file leaves a part of a record: reopen cuts it off. */
static void test_a_torn_side_file_is_cut_to_whole_records_and_commit_works(void **state) {
  (void)state;
  reset_checks();
  char output[PATH_MAX], side[PATH_MAX];
  session s;
  int rc = start_kept(&s, output, "torn.h5");
  h5t_side_file(side, output);
  long whole = rank0_int((int)file_size(side)), record = 0;
  int failed = 0;
  for (int64_t i = 0; i < FIRST_PART; i++) failed += always_fails(i);
  record = failed ? whole / failed : 0;
  expect_eq(whole > 0 && whole == record * failed, 1, "the side file holds %d records (%ld bytes)", failed, whole);
  if (g_rank == 0) {
    int fd = open(side, O_WRONLY | O_APPEND);
    char junk[100];
    memset(junk, 'j', sizeof junk);
    expect_eq(fd >= 0 && write(fd, junk, sizeof junk) == (ssize_t)sizeof junk, 1, "a torn record appended");
    if (fd >= 0) close(fd);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (!rc) expect_rc(rc = inb_h5_reopen(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "reopen");
  expect_eq(rank0_int((int)file_size(side)), whole, "the side file is cut to its whole records");
  commit_the_rest(&s, output, rc, "after a torn record");
  assert_checks();
}

static void test_finished_and_annotation_refuse_what_is_not_there(void **state) {
  (void)state;
  reset_checks();
  char output[PATH_MAX];
  h5t_path(output, "ranges.h5");
  inb_h5_output_spec specs[NSPECS];
  make_specs(specs);
  inb_h5_output *out = NULL;
  int rc = inb_h5_create_resumable(output, specs, NSPECS, N, false, NULL, &out);
  expect_rc(rc, 0, "create");
  if (!rc) {
    uint64_t bits[2] = {~0ull, ~0ull};
    const char *const needles[] = {"outside", "ranges.h5", NULL};
    expect_refused(inb_h5_finished(out, 40, 2, bits), INB_EINVAL, needles, "inb_h5_finished past the end");
    expect_refused(inb_h5_finished(out, -1, 1, bits), INB_EINVAL, needles, "inb_h5_finished before the start");
    expect_rc(inb_h5_finished(out, N, 0, NULL), 0, "inb_h5_finished of no item");
    expect_rc(inb_h5_finished(out, 0, N, bits), 0, "inb_h5_finished of a new output");
    expect_eq(bits[0] == 0 && bits[1] == ~0ull, 1,
              "nothing is finished in a new output, and the word past n is untouched");
    char buf[8] = "x";
    const char *const none[] = {"'job'", NULL};
    expect_refused(inb_h5_annotation(out, "job", buf, sizeof buf), INB_ENOTFOUND, none, "an annotation not made");
    expect_rc(inb_h5_annotate(out, "job", g_rank == 0 ? "a rather long value" : "ignored"), 0, "inb_h5_annotate");
    expect_rc(inb_h5_annotation(out, "job", buf, sizeof buf), 0, "inb_h5_annotation");
    expect_eq(strcmp(buf, "a rathe"), 0, "rank 0's value, cut to the buffer ('%s')", buf);
    expect_rc(inb_h5_annotation(out, "job", NULL, 0), 0, "inb_h5_annotation without a buffer");
    inb_h5_abort(&out);
  }
  expect_no_leftovers(output, "abort");
  assert_checks();
}

/* A commit killed after it made "/inbatch_errors" (before the rename) leaves a partial that has it: reopen removes it
 * (the side file still has every record) and the next commit makes it again. */
static void test_a_partial_whose_commit_was_killed_after_making_its_records_goes_on(void **state) {
  (void)state;
  reset_checks();
  char output[PATH_MAX], partial[PATH_MAX];
  session s;
  int rc = start_kept(&s, output, "half_committed.h5");
  h5t_partial(partial, output);
  if (g_rank == 0) { /* what the killed commit made: a dataset of that name, with other records */
    hid_t f = H5Fopen(partial, H5F_ACC_RDWR, H5P_DEFAULT);
    expect_eq(f >= 0 && h5t_write_index(f, "/inbatch_errors", 3) == 0, 1, "a stale /inbatch_errors in the partial");
    if (f >= 0) H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (!rc) expect_rc(rc = inb_h5_reopen(output, s.specs, NSPECS, N, false, NULL, &s.out), 0, "reopen");
  commit_the_rest(&s, output, rc, "after a half-made commit");
  assert_checks();
}

/* An output of no items is resumable too: created, kept, reopened (nothing to run), committed. */
static void test_an_empty_resumable_output_is_kept_reopened_and_committed(void **state) {
  (void)state;
  reset_checks();
  char output[PATH_MAX];
  h5t_path(output, "empty.h5");
  inb_h5_output_spec specs[NSPECS];
  make_specs(specs);
  inb_h5_output *out = NULL;
  int rc = inb_h5_create_resumable(output, specs, NSPECS, 0, false, NULL, &out);
  expect_rc(rc, 0, "create with 0 items");
  if (!rc) expect_rc(rc = inb_h5_keep(&out), 0, "keep");
  if (!rc) expect_rc(rc = inb_h5_reopen(output, specs, NSPECS, 0, false, NULL, &out), 0, "reopen");
  if (!rc) expect_rc(inb_h5_finished(out, 0, 0, NULL), 0, "inb_h5_finished of no item");
  if (!rc) expect_rc(rc = inb_h5_commit(&out), 0, "commit");
  inb_h5_abort(&out);
  if (g_rank == 0 && !rc) {
    hid_t f = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5t_error *e = NULL;
    size_t n = 1;
    expect_eq(f >= 0 && h5t_read_errors(f, &e, &n) == 0 && n == 0, 1, "the committed file has no failure record");
    free(e);
    if (f >= 0) H5Fclose(f);
  }
  expect_no_leftovers(output, "an empty output");
  h5t_remove(output);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_run_stopped_and_resumed_commits_what_an_uninterrupted_run_would),
      cmocka_unit_test(test_an_item_that_failed_and_ran_again_keeps_only_its_last_record),
      cmocka_unit_test(test_reopen_refuses_a_partial_that_does_not_match_or_is_not_there),
      cmocka_unit_test(test_compressed_and_scratch_datasets_are_refused_in_a_resumable_output),
      cmocka_unit_test(test_a_torn_side_file_is_cut_to_whole_records_and_commit_works),
      cmocka_unit_test(test_finished_and_annotation_refuse_what_is_not_there),
      cmocka_unit_test(test_a_partial_whose_commit_was_killed_after_making_its_records_goes_on),
      cmocka_unit_test(test_an_empty_resumable_output_is_kept_reopened_and_committed),
  };
  return h5t_main(argc, argv, "h5.test_h5_resume", tests, sizeof tests / sizeof tests[0]);
}
