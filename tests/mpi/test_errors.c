/* MPI tests of failures: a task's failure comes back to rank 0 as
 * an error record naming its position, code, message and the rank that ran it, and the other tasks go on;
 * init, post and validation failures, and a rank calling with a different action, give every rank the same
 * status, with no rank left waiting in a collective.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. */
#include "mpitest.h"

#include "callbacks.h" /* post_every_task_ok */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long g_ran;   /* tasks run on this rank, all threads */
static size_t g_n;          /* the number of tasks of the current call, the same on every rank */
static bool g_static;       /* the current call's schedule is STATIC */
static int g_posts;         /* posts run on this rank */

static int post_count_only(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                           inb_batch **out, void *data) {
  (void)b, (void)r, (void)call, (void)extra, (void)out, (void)data;
  g_posts++;
  return 0;
}

/* Returns inb_int(index) after counting the run. */
static int index_task(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  *result = inb_int(inb_args_at(args, 0)->u.i);
  return 0;
}

/* Counts the post; every task is ok with its index (the batch's items are 0..n-1). */
static int post_index(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  g_posts++;
  return post_every_task_ok(b, r, call, extra, out, data);
}

/* A call that must succeed after a failed one: nothing of the failure is left in the engine's messages. */
static void expect_a_good_run_after(const char *what) {
  size_t n = 3 * (size_t)g_size + 1;
  inb_batch *b = rank0_batch(NULL, n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "good", .fn = index_task, .init = "indices", .post = post_index, .target = INB_MPI};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "a good %s call after %s", sched_name(s), what);
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "a good %s call after %s: tasks run", sched_name(s), what);
  }
  inb_batch_free(&b);
}

/* ---- task failures at chosen positions ------------------------------------------------------------------ */

enum { OK_TASK, FAIL_CODE, FAIL_ZERO, FAIL_NO_MESSAGE };

/* Which tasks fail: under STATIC, the first task of every rank's block (so each rank has one); the middle
 * task with inb_fail(it, 0, ...); the last one returning INB_EIO without inb_fail. */
static int failure_kind(size_t i, size_t n) {
  if (i == n - 1) return FAIL_NO_MESSAGE;
  if (i == n / 2) return FAIL_ZERO;
  for (int r = 0; r < g_size; r++)
    if (block_count(r, n) && i == block_first(r, n)) return FAIL_CODE;
  return OK_TASK;
}
static int failure_code(size_t i) { return i == 0 ? -77 : 1000 + (int)i; } /* any non-zero code travels */

static int fails_at_positions(inb_item *it, const inb_args *args, inb_value *result) {
  size_t i = inb_item_task(it);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_args_at(args, 0)->u.i != (int64_t)i) return inb_fail(it, 98, "task %zu got another item", i);
  switch (failure_kind(i, g_n)) {
  case FAIL_CODE: return inb_fail(it, failure_code(i), "task %zu failed on rank %d", i, inb_item_rank(it));
  case FAIL_ZERO: return inb_fail(it, 0, "task %zu failed on rank %d", i, inb_item_rank(it));
  case FAIL_NO_MESSAGE: return INB_EIO;
  }
  *result = inb_int((int64_t)i * 16 + inb_item_rank(it)); /* the rank that ran it, for post to check */
  return 0;
}

static int post_positions(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                          inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r), nfail = 0;
  if (n != g_n) return verdict("post got %zu results for %zu tasks", n, g_n);
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    int kind = failure_kind(i, n), owner = static_owner(i, n);
    if (kind == OK_TASK) {
      if (!inb_result_ok(r, i) || !v || e) return verdict("task %zu failed: %s", i, e ? e->message : "?");
      if (v->kind != INB_INT || v->u.i / 16 != (int64_t)i) return verdict("task %zu: wrong result", i);
      int rank = (int)(v->u.i % 16);
      if (rank < 0 || rank >= g_size) return verdict("task %zu ran on rank %d of %d", i, rank, g_size);
      if (g_static && rank != owner)
        return verdict("static: task %zu ran on rank %d; its block belongs to rank %d", i, rank, owner);
      continue;
    }
    nfail++;
    if (inb_result_ok(r, i) || v || !e) return verdict("task %zu should have failed", i);
    int want = kind == FAIL_CODE ? failure_code(i) : kind == FAIL_ZERO ? INB_EITEM : INB_EIO;
    if (e->task != i) return verdict("task %zu: error record names task %zu", i, e->task);
    if (e->code != want) return verdict("task %zu: code %d, expected %d", i, e->code, want);
    if (e->rank < 0 || e->rank >= g_size) return verdict("task %zu: error record names rank %d", i, e->rank);
    if (g_static && e->rank != owner)
      return verdict("static: task %zu: error record names rank %d; its block belongs to rank %d", i, e->rank, owner);
    if (!e->message) return verdict("task %zu: error record without a message", i);
    if (kind == FAIL_NO_MESSAGE) {
      if (!strstr(e->message, inb_strerror(INB_EIO)))
        return verdict("task %zu returned INB_EIO without inb_fail: message '%s' lacks '%s'", i, e->message,
                       inb_strerror(INB_EIO));
      continue;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "task %zu failed on rank %d", i, e->rank); /* the rank it said it ran on */
    if (strcmp(e->message, msg) != 0)
      return verdict("task %zu: message '%s' (error record rank %d), expected '%s'", i, e->message, e->rank, msg);
  }
  if (inb_failed_count(r) != nfail || !inb_any_failed(r))
    return verdict("inb_failed_count %zu, expected %zu", inb_failed_count(r), nfail);
  return 0;
}

static void test_task_failures_come_back_with_position_code_message_and_rank(void **state) {
  (void)state;
  reset_checks();
  g_n = 10 * (size_t)g_size + 3;
  inb_batch *b = rank0_batch(NULL, g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "positions", .fn = fails_at_positions, .init = "indices", .post = post_positions,
                      .target = INB_MPI};
    inb_opts o = {.schedule = s, .n_workers = 2};
    g_static = s == INB_STATIC;
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run (post accepts the failures)", sched_name(s));
    long ran = atomic_load(&g_ran);
    expect_eq(sum_ranks(ran), (long)g_n, "%s: every task ran, failing or not", sched_name(s));
    if (s == INB_STATIC) expect_eq(ran, (long)block_count(g_rank, g_n), "static: tasks run on this rank (its block)");
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- task failures on a chosen rank --------------------------------------------------------------------- */

static atomic_long g_refused; /* tasks this rank refused */
static size_t g_post_failed;  /* rank 0: inb_failed_count in the last post */

/* Fails every task that runs on the last rank; the others return the rank that ran them. */
static int fails_on_last_rank(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  int rank = inb_item_rank(it);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (rank == g_size - 1) {
    atomic_fetch_add(&g_refused, 1);
    return inb_fail(it, 7, "refused task %zu on rank %d", inb_item_task(it), rank);
  }
  *result = inb_int(rank);
  return 0;
}

static int post_last_rank(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                          inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r), nfail = 0;
  g_post_failed = inb_failed_count(r);
  if (n != g_n) return verdict("post got %zu results for %zu tasks", n, g_n);
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    int owner = static_owner(i, n);
    if (e) {
      char msg[64];
      snprintf(msg, sizeof msg, "refused task %zu on rank %d", i, g_size - 1);
      nfail++;
      if (inb_result_ok(r, i) || v) return verdict("task %zu has both an error record and a value", i);
      if (e->task != i || e->rank != g_size - 1 || e->code != 7 || strcmp(e->message, msg) != 0)
        return verdict("task %zu: error record task %zu rank %d code %d message '%s', expected rank %d code 7 '%s'", i,
                       e->task, e->rank, e->code, e->message, g_size - 1, msg);
      if (g_static && owner != g_size - 1) return verdict("static: task %zu of rank %d's block failed", i, owner);
      continue;
    }
    if (!inb_result_ok(r, i) || !v || v->kind != INB_INT) return verdict("task %zu: neither ok nor failed", i);
    if (v->u.i < 0 || v->u.i >= g_size - 1) return verdict("task %zu ran on rank %lld and did not fail", i, (long long)v->u.i);
    if (g_static && v->u.i != owner) return verdict("static: task %zu ran on rank %lld, not %d", i, (long long)v->u.i, owner);
  }
  if (nfail != g_post_failed) return verdict("inb_failed_count %zu but %zu error records", g_post_failed, nfail);
  return 0;
}

static void test_failures_on_a_chosen_rank_name_that_rank_and_spare_the_others(void **state) {
  (void)state;
  reset_checks();
  g_n = 10 * (size_t)g_size + 3;
  inb_batch *b = rank0_batch(NULL, g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "last rank", .fn = fails_on_last_rank, .init = "indices", .post = post_last_rank,
                      .target = INB_MPI};
    inb_opts o = {.schedule = s};
    g_static = s == INB_STATIC;
    g_post_failed = 0;
    atomic_store(&g_ran, 0);
    atomic_store(&g_refused, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run (post accepts the failures)", sched_name(s));
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)g_n, "%s: every task ran", sched_name(s));
    long refused = sum_ranks(atomic_load(&g_refused));
    if (g_rank == 0) expect_eq((long)g_post_failed, refused, "%s: error records = tasks the last rank refused", sched_name(s));
    if (g_static) expect_eq(refused, (long)block_count(g_size - 1, g_n), "static: the last rank refused its block");
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- init failure on rank 0 ----------------------------------------------------------------------------- */

static int g_inits; /* custom inits run on this rank */

static int refusing_init(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                         size_t *ntasks, void *data) {
  (void)b, (void)call, (void)extra, (void)tasks, (void)ntasks, (void)data;
  g_inits++;
  return -42;
}

static void test_init_failure_on_rank0_returns_its_code_and_message_on_every_rank_and_runs_nothing(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 5);
  g_inits = g_posts = 0;
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "bad init", .fn = index_task, .init_fn = refusing_init, .post = post_count_only,
                      .target = INB_MPI};
    inb_opts o = {.schedule = s};
    inb_batch *out = NULL;
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, &out);
    expect_rc(rc, -42, "%s: inb_run returns init's code", sched_name(s));
    expect_eq(inb_errmsg()[0] != '\0', 1, "%s: inb_errmsg() is set", sched_name(s));
    expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s: the same inb_errmsg() on every rank (here: '%s')",
              sched_name(s), inb_errmsg());
    expect_eq(sum_ranks(atomic_load(&g_ran)), 0, "%s: tasks run anywhere after a failed init", sched_name(s));
    expect_eq(out == b, 1, "%s: *out is b after a failed run", sched_name(s));
  }
  expect_eq(g_inits, g_rank == 0 ? 2 : 0, "inits run on this rank (rank 0 only, once per call)");
  expect_eq(sum_ranks(g_posts), 0, "posts run after a failed init");
  inb_batch_free(&b);
  assert_checks();
}

/* ---- post failure --------------------------------------------------------------------------------------- */

static int g_post_code;         /* what post_failing returns */
static bool g_post_new_batch;   /* post_failing sets *out to a new batch first */

static int post_failing(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)data;
  g_posts++;
  if (inb_results_count(r) != g_n || inb_any_failed(r)) verdict("post got %zu results, some failed", inb_results_count(r));
  if (g_post_new_batch) *out = inb_batch_new(NULL, 2); /* the run fails: the engine frees it */
  return g_post_code;
}

static void test_post_failure_returns_posts_code_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  g_n = 2 * (size_t)g_size + 1;
  inb_batch *b = rank0_batch(NULL, g_n);
  const int codes[] = {17, -1234};
  g_posts = 0;
  for (int k = 0; k < 2; k++) {
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      inb_action act = {.name = "bad post", .fn = index_task, .init = "indices", .post = post_failing,
                        .target = INB_MPI};
      inb_opts o = {.schedule = s};
      inb_batch *out = NULL;
      g_post_code = codes[k];
      g_post_new_batch = k == 1;
      atomic_store(&g_ran, 0);
      int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, &out);
      expect_rc(rc, codes[k], "%s: inb_run returns post's code", sched_name(s));
      expect_eq(inb_errmsg()[0] != '\0', 1, "%s: inb_errmsg() is set", sched_name(s));
      expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s: the same inb_errmsg() on every rank (here: '%s')",
                sched_name(s), inb_errmsg());
      expect_eq(sum_ranks(atomic_load(&g_ran)), (long)g_n, "%s: every task ran before post", sched_name(s));
      expect_eq(out == b, 1, "%s: *out is b after a failed post (even one that chose another batch)", sched_name(s));
    }
  }
  expect_eq(g_posts, g_rank == 0 ? 4 : 0, "posts run on this rank (rank 0 only, once per call)");
  inb_batch_free(&b);
  assert_checks();
}

/* ---- without post: INB_EITEM on every rank -------------------------------------------------------------- */

/* Task 2 fails late (after the others had their chance), tasks n-2 and n-1 early. */
static int fails_low_late(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t i = inb_item_task(it);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (i == 2) {
    sleep_us(5000);
    return inb_fail(it, 5, "low task %zu failed on rank %d", i, inb_item_rank(it));
  }
  if (i + 2 >= g_n) return inb_fail(it, 6, "high task %zu failed on rank %d", i, inb_item_rank(it));
  *result = inb_int((int64_t)i);
  return 0;
}

static void test_without_post_a_failure_gives_eitem_and_the_same_message_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    g_n = 6 * (size_t)g_size + 2;
    inb_batch *b = rank0_batch(NULL, g_n);
    inb_action act = {.name = "no post", .fn = fails_low_late, .init = "indices", .target = INB_MPI};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    const char *msg = inb_errmsg();
    expect_rc(rc, INB_EITEM, "%s: inb_run without post, 3 tasks failing", sched_name(s));
    expect_eq(same_string_on_all_ranks(msg), 1, "%s: the same inb_errmsg() on every rank (here: '%s')", sched_name(s), msg);
    expect_eq(strstr(msg, "low task 2 failed on rank") != NULL, 1, "%s: the message names the first failure: '%s'",
              sched_name(s), msg);
    expect_eq(strstr(msg, "high task") == NULL, 1, "%s: the message names only the first failure: '%s'", sched_name(s), msg);
    expect_eq(mentions_number(msg, 3), 1, "%s: the message says how many failed (3): '%s'", sched_name(s), msg);
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)g_n, "%s: every task ran", sched_name(s));
    inb_batch_free(&b);

    /* a successful call leaves inb_errmsg() as it was */
    char before[1024];
    snprintf(before, sizeof before, "%s", inb_errmsg());
    for (size_t n = 0; n < 3; n++) {
      b = rank0_batch(NULL, n * (size_t)g_size);
      act = (inb_action){.name = "no post ok", .fn = index_task, .init = "indices", .target = INB_MPI};
      rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "%s: inb_run without post, %zu tasks, none failing", sched_name(s), n * (size_t)g_size);
      expect_eq(strcmp(inb_errmsg(), before) == 0, 1, "%s: a successful call leaves inb_errmsg() alone ('%s')",
                sched_name(s), inb_errmsg());
      inb_batch_free(&b);
    }
  }
  assert_checks();
}

/* ---- a rank with a different action --------------------------------------------------------------------- */

static void test_a_rank_with_a_different_action_name_gives_einval_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 4 * (size_t)g_size);
  int want = g_size > 1 ? INB_EINVAL : 0; /* alone, the last rank is rank 0: nothing differs */
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = g_rank == g_size - 1 ? "impostor" : "genuine", .fn = index_task, .init = "indices",
                      .post = post_count_only, .target = INB_MPI};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, want, "%s: the last rank names its action 'impostor'", sched_name(s));
    if (want) {
      expect_eq(sum_ranks(atomic_load(&g_ran)), 0, "%s: tasks run after the mismatch", sched_name(s));
      expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s: the same inb_errmsg() on every rank (here: '%s')",
                sched_name(s), inb_errmsg());
    }
  }
  inb_batch_free(&b);
  expect_a_good_run_after("a mismatch");
  assert_checks();
}

/* ---- invalid options on one rank ------------------------------------------------------------------------ */

static void test_an_invalid_option_on_rank0_only_gives_einval_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 3 * (size_t)g_size);
  const char *cases[] = {"n_workers -1", "timeout_ms -5", "schedule 7", "init naming no component of rank 0's batch"};
  const char *named[] = {"n_workers", "timeout_ms", "schedule", "absent"}; /* what each message must name */
  for (int k = 0; k < 4; k++) {
    inb_action act = {.name = "opts", .fn = index_task, .init = k == 3 ? "absent" : "indices",
                      .post = post_count_only, .target = INB_MPI};
    inb_opts o = {.schedule = INB_DYNAMIC};
    if (k == 0) o.n_workers = -1;
    if (k == 1) o.timeout_ms = -5;
    if (k == 2) o.schedule = (inb_schedule)7;
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, INB_EINVAL, "%s on rank 0 (the others pass NULL opts)", cases[k]);
    expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s on rank 0: the same inb_errmsg() on every rank (here: "
              "'%s')", cases[k], inb_errmsg());
    expect_eq(strstr(inb_errmsg(), named[k]) != NULL, 1, "%s on rank 0: inb_errmsg() names '%s' (here: '%s')",
              cases[k], named[k], inb_errmsg());
    expect_eq(sum_ranks(atomic_load(&g_ran)), 0, "%s on rank 0: tasks run", cases[k]);
  }
  inb_batch_free(&b);
  expect_a_good_run_after("invalid options");
  assert_checks();
}

static void test_an_invalid_option_on_another_rank_gives_one_status_everywhere_and_no_hang(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 3 * (size_t)g_size);
  inb_action act = {.name = "remote opts", .fn = index_task, .init = "indices", .post = post_count_only,
                    .target = INB_MPI};
  inb_opts good = {.schedule = INB_STATIC}, bad = {.n_workers = -1};
  int rc = inb_run(b, &act, NULL, g_rank == g_size - 1 ? &bad : g_rank == 0 ? &good : NULL, NULL);
  /* rank 0's options apply: the last rank's may be ignored (0) or refused everywhere (INB_EINVAL) */
  int lo = rc, hi = rc;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  expect_eq(lo == hi, 1, "n_workers -1 on the last rank: the same status on every rank (here %d)", rc);
  expect_eq(rc == 0 || rc == INB_EINVAL, 1, "n_workers -1 on the last rank: status %d is 0 or INB_EINVAL", rc);
  if (g_size == 1) expect_rc(rc, INB_EINVAL, "n_workers -1 on rank 0 (alone)");
  if (hi != 0)
    expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "n_workers -1 on the last rank: the same inb_errmsg() on "
              "every rank (here: '%s')", inb_errmsg());
  inb_batch_free(&b);
  expect_a_good_run_after("invalid options on another rank");
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_failures_come_back_with_position_code_message_and_rank),
      cmocka_unit_test(test_failures_on_a_chosen_rank_name_that_rank_and_spare_the_others),
      cmocka_unit_test(test_init_failure_on_rank0_returns_its_code_and_message_on_every_rank_and_runs_nothing),
      cmocka_unit_test(test_post_failure_returns_posts_code_on_every_rank),
      cmocka_unit_test(test_without_post_a_failure_gives_eitem_and_the_same_message_on_every_rank),
      cmocka_unit_test(test_a_rank_with_a_different_action_name_gives_einval_on_every_rank),
      cmocka_unit_test(test_an_invalid_option_on_rank0_only_gives_einval_on_every_rank),
      cmocka_unit_test(test_an_invalid_option_on_another_rank_gives_one_status_everywhere_and_no_hang),
  };
  return mpitest_main(&argc, &argv, "mpi.test_errors", tests, sizeof tests / sizeof tests[0]);
}
