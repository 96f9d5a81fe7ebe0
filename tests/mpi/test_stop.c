/* MPI tests of the per-call controls (run.h: inb_opts.retries, max_failures; inb_action.data; inb_set_error)
 * and of the messages a failure carries to every rank:
 *  - a failed task runs again on its rank, and its record, counting attempts, reaches rank 0 through the wire;
 *  - max_failures counts failures across every rank: once reached, no rank starts a new task, the tasks never
 *    started become INB_ECANCELED records, and post still lists every task;
 *  - each rank's tasks see that rank's own action data, init and post rank 0's;
 *  - what init or post says with inb_set_error, and why a task list cannot be packed, reach every rank intact.
 * tests/unit/test_features.c checks the same controls on the local targets.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. Options are rank 0's alone: the other
 * ranks pass none, so every control here is also seen to travel. */
#include "mpitest.h"

#include "callbacks.h" /* counting runs (on this rank), and the tasks, inits and posts tests/unit shares */

#include <stdio.h>
#include <string.h>

static size_t g_n; /* the current call's task count, the same on every rank */

/* The same status on every rank. */
static void expect_same_status(int rc, const char *what) {
  expect_eq(rank0_int(rc), rc, "%s: rank 0's status is this rank's", what);
  if (rc) expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s: the same inb_errmsg() on every rank (here: '%s')",
                    what, inb_errmsg());
}

/* ---- retries -------------------------------------------------------------------------------------------- */

static int g_retries; /* the call's retries, for post */

/* Task i fails its first i % 3 runs, then succeeds with 10 * i + the run that succeeded. */
static int runs_to_fail(size_t i) { return (int)(i % 3); }

static int fn_flaky(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t i = inb_item_task(it);
  int run = count_run(i);
  if (run <= runs_to_fail(i))
    return inb_fail(it, INB_EIO, "task %zu: run %d failed on rank %d", i, run, inb_item_rank(it));
  *result = inb_int((int64_t)i * 10 + run);
  return 0;
}

/* The async form, finishing inside start. */
static int start_flaky(inb_item *it, const inb_args *args) { return done_in_start(it, args, fn_flaky); }

static int post_retries(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r), nfail = 0;
  if (n != g_n) return verdict("post got %zu results for %zu tasks", n, g_n);
  for (size_t i = 0; i < n; i++) {
    const inb_error *e = inb_result_error(r, i);
    const inb_value *v = inb_result_value(r, i);
    int need = runs_to_fail(i);
    if (need <= g_retries) {
      if (!inb_result_ok(r, i) || e)
        return verdict("retries %d: task %zu (fails %d runs) failed: %s", g_retries, i, need, e ? e->message : "?");
      if (!v || v->kind != INB_INT || v->u.i != (int64_t)i * 10 + need + 1)
        return verdict("retries %d: task %zu: not the value of run %d", g_retries, i, need + 1);
      continue;
    }
    nfail++;
    if (inb_result_ok(r, i) || v || !e) return verdict("retries %d: task %zu should have failed", g_retries, i);
    char msg[80];
    snprintf(msg, sizeof msg, "task %zu: run %d failed on rank %d", i, g_retries + 1, e->rank);
    if (e->rank < 0 || e->rank >= g_size) return verdict("task %zu: record names rank %d", i, e->rank);
    if (e->task != i || e->code != INB_EIO || e->attempts != g_retries + 1 || strcmp(e->message, msg) != 0)
      return verdict("retries %d: task %zu: record task %zu code %d attempts %d message '%s'; expected code %d, "
                     "attempts %d, '%s'", g_retries, i, e->task, e->code, e->attempts, e->message, INB_EIO,
                     g_retries + 1, msg);
  }
  if (inb_failed_count(r) != nfail) return verdict("inb_failed_count %zu, expected %zu", inb_failed_count(r), nfail);
  return 0;
}

static const char *local_name(inb_target t) { return t == INB_FOR ? "for" : t == INB_ASYNC ? "async" : "threads"; }

/* One call with rank 0's retries g_retries; every run of a task is on one rank, which counts them all. */
static void run_flaky(inb_batch *b, inb_target local, inb_schedule s) {
  bool async = local == INB_ASYNC;
  inb_action act = {.name = "flaky", .fn = async ? NULL : fn_flaky, .start = async ? start_flaky : NULL,
                    .init = "indices", .post = post_retries, .target = INB_MPI, .local = local};
  inb_opts o = {.schedule = s, .n_workers = local == INB_THREADS ? 2 : 0, .retries = g_retries};
  reset_counts();
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  const char *l = local_name(local), *sn = sched_name(s);
  expect_rc(rc, 0, "%s local %s retries %d: inb_run", sn, l, g_retries);
  long runs = 0, wrong = 0, want_runs = 0;
  for (size_t i = 0; i < g_n; i++) {
    int need = runs_to_fail(i), want = (need < g_retries ? need : g_retries) + 1, got = runs_of(i);
    runs += got;
    want_runs += want;
    wrong += got != 0 && got != want;
  }
  expect_eq(wrong, 0, "%s local %s retries %d: tasks of this rank run another number of times", sn, l, g_retries);
  expect_eq(sum_ranks(runs), want_runs, "%s local %s retries %d: runs on all ranks", sn, l, g_retries);
  expect_eq(sum_ranks(tasks_ran()), (long)g_n, "%s local %s retries %d: tasks run", sn, l, g_retries);
}

static void test_a_failed_task_runs_again_on_its_rank_and_its_record_brings_attempts_to_rank0(void **state) {
  (void)state;
  reset_checks();
  g_n = 30 * (size_t)g_size + 2;
  inb_batch *b = rank0_batch(NULL, g_n);
  const inb_target locals[] = {INB_THREADS, INB_FOR, INB_ASYNC};
  for (size_t k = 0; k < 3; k++)
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++)
      for (g_retries = 0; g_retries <= 2; g_retries++) run_flaky(b, locals[k], s);
  inb_batch_free(&b);
  assert_checks();
}

/* ---- max_failures across ranks -------------------------------------------------------------------------- */

/* The stop tests: tasks of about 1 ms on 2 threads per rank, and a limit of 5 failures. */
enum { STOP_TASKS = 4000, STOP_WORKERS = 2, STOP_AFTER = 5, TASK_US = 1000 };

/* How many tasks may run in all when the run stops at STOP_AFTER failures. Each worker checks its rank's stop
 * before it starts a task, so once STOP_AFTER tasks have failed, a worker that has not yet seen the stop starts
 * at most one ~1 ms task per millisecond until it does. Seeing it takes a few small messages (under the dynamic
 * schedule a chunk's request and reply, then a failure notice to rank 0 and a stop notice back) and, on each
 * side, a thread waiting for a core: on loaded, oversubscribed cores under a sanitizer, tens of milliseconds.
 * IN_FLIGHT lets every worker start IN_FLIGHT tasks meanwhile, i.e. gives the stop ~IN_FLIGHT ms to arrive,
 * and the bound stays at most a fifth of the STOP_TASKS (on 4 ranks) that would run without a stop across ranks. */
enum { IN_FLIGHT = 100 };
static long stop_bound(void) { return STOP_AFTER + (long)g_size * STOP_WORKERS * IN_FLIGHT; }

static int g_failing_rank; /* -1: every task fails; else only the tasks that run on this rank do */
static long g_post_ran;    /* post: tasks that ran (a result, or a record with attempts > 0) */
static long g_post_ran_failed;

/* A task that fails on g_failing_rank (at once) or everywhere (after ~1 ms), else succeeds after ~1 ms with
 * its rank. */
static int fn_fails_by_rank(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t i = inb_item_task(it);
  int rank = inb_item_rank(it);
  count_run(i);
  if (g_failing_rank == rank) return inb_fail(it, INB_EIO, "task %zu failed on rank %d", i, rank);
  sleep_us(TASK_US); /* the task's work */
  if (g_failing_rank < 0) return inb_fail(it, INB_EIO, "task %zu failed on rank %d", i, rank);
  *result = inb_int(rank);
  return 0;
}

/* Every task has a result or a record: a result from a rank that does not fail, the record of a run that failed
 * (attempts 1, its own words), or the record of a task never started (INB_ECANCELED, attempts 0, a message
 * naming max_failures). */
static int post_stopped(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r), canceled = 0;
  g_post_ran = g_post_ran_failed = 0;
  if (n != g_n) return verdict("post got %zu results for %zu tasks", n, g_n);
  for (size_t i = 0; i < n; i++) {
    const inb_error *e = inb_result_error(r, i);
    const inb_value *v = inb_result_value(r, i);
    if (inb_result_ok(r, i)) {
      if (e || !v || v->kind != INB_INT) return verdict("task %zu: ok without its value", i);
      if (g_failing_rank < 0 || v->u.i == g_failing_rank || v->u.i < 0 || v->u.i >= g_size)
        return verdict("task %zu succeeded on rank %lld, which fails every task", i, (long long)v->u.i);
      g_post_ran++;
      continue;
    }
    if (!e || v) return verdict("task %zu: neither a result nor a record", i);
    if (e->task != i) return verdict("task %zu: record names task %zu", i, e->task);
    if (e->attempts == 0) {
      if (e->code != INB_ECANCELED || !strstr(e->message, "max_failures"))
        return verdict("task %zu never started: code %d '%s'; expected INB_ECANCELED naming max_failures", i, e->code,
                       e->message);
      canceled++;
      continue;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "task %zu failed on rank %d", i, e->rank);
    if (e->attempts != 1 || e->code != INB_EIO || strcmp(e->message, msg) != 0 ||
        (g_failing_rank >= 0 && e->rank != g_failing_rank))
      return verdict("task %zu ran: record rank %d code %d attempts %d '%s'", i, e->rank, e->code, e->attempts,
                     e->message);
    g_post_ran++;
    g_post_ran_failed++;
  }
  if (!canceled) return verdict("every task ran: nothing was canceled");
  if (inb_failed_count(r) != n - (size_t)(g_post_ran - g_post_ran_failed))
    return verdict("inb_failed_count %zu of %zu tasks, %ld ok", inb_failed_count(r), n, g_post_ran - g_post_ran_failed);
  return 0;
}

/* One stop run on every rank with rank 0's options; checks what every rank can. */
static void run_until_stopped(inb_schedule s, bool with_post) {
  const char *how = with_post ? "post" : "no post";
  g_n = STOP_TASKS;
  inb_batch *b = rank0_batch(NULL, g_n);
  inb_action act = {.name = "stopping", .fn = fn_fails_by_rank, .init = "indices",
                    .post = with_post ? post_stopped : NULL, .target = INB_MPI, .local = INB_THREADS};
  inb_opts o = {.schedule = s, .n_workers = STOP_WORKERS, .max_failures = STOP_AFTER};
  reset_counts();
  g_post_ran = g_post_ran_failed = -1;
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  inb_batch_free(&b);

  expect_rc(rc, with_post ? 0 : INB_EITEM, "%s %s: inb_run", sched_name(s), how);
  expect_same_status(rc, sched_name(s));
  if (!with_post) expect_errmsg_has("failed", "%s %s", sched_name(s), how);
  long ran = sum_ranks(tasks_ran());
  long failing_ran = sum_ranks(g_rank == g_failing_rank || g_failing_rank < 0 ? tasks_ran() : 0);
  if (g_rank == 0) print_message("  %s %s: %ld of %d tasks ran (bound %ld)\n", sched_name(s), how, ran, STOP_TASKS,
                                 stop_bound());
  expect_eq(failing_ran >= STOP_AFTER, 1, "%s %s: tasks that ran on the failing rank(s) (%ld) reach max_failures",
            sched_name(s), how, failing_ran);
  expect_eq(ran <= stop_bound(), 1, "%s %s: tasks run on all ranks (%ld) within max_failures + workers * %d",
            sched_name(s), how, ran, IN_FLIGHT);
  if (with_post) {
    expect_eq(rank0_int((int)g_post_ran), ran, "%s: tasks with a result or a run's record, against tasks run",
              sched_name(s));
    expect_eq(rank0_int((int)g_post_ran_failed) >= STOP_AFTER, 1, "%s: records of failed runs (%ld) reach max_failures",
              sched_name(s), g_post_ran_failed);
  }
}

static void test_max_failures_stops_every_rank_soon_when_every_task_fails(void **state) {
  (void)state;
  reset_checks();
  g_failing_rank = -1;
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    run_until_stopped(s, true);
    run_until_stopped(s, false);
  }
  assert_checks();
}

/* The tasks of the last rank fail at once, the others' succeed: the other ranks stop as well, and fewer tasks
 * run than the other ranks alone would have run without the stop. */
static void test_failures_on_one_rank_stop_the_other_ranks_at_max_failures(void **state) {
  (void)state;
  reset_checks();
  g_failing_rank = g_size - 1;
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    run_until_stopped(s, true);
    run_until_stopped(s, false);
  }
  assert_checks();
}

static void test_max_failures_zero_lets_every_failing_task_run_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  g_failing_rank = -1;
  g_n = 10 * (size_t)g_size + 1;
  inb_batch *b = rank0_batch(NULL, g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "unlimited", .fn = fn_fails_by_rank, .init = "indices", .target = INB_MPI,
                      .local = INB_THREADS};
    inb_opts o = {.schedule = s, .n_workers = 2, .max_failures = 0};
    reset_counts();
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, INB_EITEM, "%s: inb_run", sched_name(s));
    expect_same_status(rc, sched_name(s));
    expect_eq(mentions_number(inb_errmsg(), (long)g_n), 1, "%s: the message says %zu failed: '%s'", sched_name(s), g_n,
              inb_errmsg());
    expect_eq(sum_ranks(tasks_ran()), (long)g_n, "%s: tasks run on all ranks", sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

static int fn_every_third_fails(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t i = inb_item_task(it);
  count_run(i);
  if (i % 3 == 0) return inb_fail(it, INB_EIO, "task %zu failed on rank %d", i, inb_item_rank(it));
  *result = inb_int(inb_item_rank(it));
  return 0;
}

static long g_post_failed;

static int post_count_failed(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                             inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  g_post_failed = (long)inb_failed_count(r);
  if (inb_results_count(r) != g_n) return verdict("post got %zu results for %zu tasks", inb_results_count(r), g_n);
  for (size_t i = 0; i < g_n; i++) {
    const inb_error *e = inb_result_error(r, i);
    if ((i % 3 == 0) != (e != NULL)) return verdict("task %zu: %s", i, e ? e->message : "did not fail");
    if (e && (e->code != INB_EIO || e->attempts != 1))
      return verdict("task %zu: code %d attempts %d", i, e->code, e->attempts);
  }
  return 0;
}

/* A limit the call never reaches changes nothing, also for the calls after it (every notice of the stop between
 * the ranks belongs to its call); no tasks at all too. */
static void test_a_max_failures_never_reached_changes_nothing_in_this_call_or_the_next(void **state) {
  (void)state;
  reset_checks();
  const size_t ns[] = {0, 12 * (size_t)g_size + 1, 12 * (size_t)g_size + 1};
  for (size_t k = 0; k < 3; k++) {
    g_n = ns[k];
    inb_batch *b = rank0_batch(NULL, g_n);
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      inb_action act = {.name = "some fail", .fn = fn_every_third_fails, .init = "indices", .post = post_count_failed,
                        .target = INB_MPI, .local = INB_THREADS};
      inb_opts o = {.schedule = s, .n_workers = 2, .max_failures = (int64_t)g_n / 3 + 2};
      reset_counts();
      g_post_failed = -1;
      int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "%s n=%zu: inb_run", sched_name(s), g_n);
      expect_same_status(rc, sched_name(s));
      expect_eq(sum_ranks(tasks_ran()), (long)g_n, "%s n=%zu: tasks run", sched_name(s), g_n);
      expect_eq(rank0_int((int)g_post_failed), (long)(g_n + 2) / 3, "%s n=%zu: failed tasks", sched_name(s), g_n);
    }
    inb_batch_free(&b);
  }
  assert_checks();
}

/* ---- the action's data ---------------------------------------------------------------------------------- */

static int g_markers[64]; /* rank r's action data is &g_markers[r]: another address on every rank */

static void *my_marker(void) { return &g_markers[g_rank % 64]; }

static int fn_data(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  void *want = &g_markers[inb_item_rank(it) % 64];
  if (inb_item_data(it) != want)
    return inb_fail(it, INB_EINVAL, "task %zu on rank %d: inb_item_data %p, expected this rank's %p", inb_item_task(it),
                    inb_item_rank(it), inb_item_data(it), want);
  *result = inb_int((int64_t)inb_item_task(it));
  return 0;
}

static int start_data(inb_item *it, const inb_args *args) { return done_in_start(it, args, fn_data); }

static void test_tasks_see_their_ranks_action_data_and_init_and_post_see_rank0s(void **state) {
  (void)state;
  reset_checks();
  g_n = 8 * (size_t)g_size + 3;
  inb_batch *b = rank0_batch(NULL, g_n);
  const inb_target locals[] = {INB_THREADS, INB_FOR, INB_ASYNC};
  for (size_t k = 0; k < 3; k++) {
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      bool async = locals[k] == INB_ASYNC;
      inb_action act = {.name = "data", .fn = async ? NULL : fn_data, .start = async ? start_data : NULL,
                        .init_fn = init_index_lists, .post = post_every_task_ok, .target = INB_MPI, .local = locals[k],
                        .data = my_marker()};
      inb_opts o = {.schedule = s, .n_workers = locals[k] == INB_THREADS ? 2 : 0};
      g_init_data = g_post_data = NULL;
      int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
      const char *local = local_name(locals[k]);
      expect_rc(rc, 0, "%s local %s: inb_run", sched_name(s), local);
      expect_eq(g_init_data == (g_rank == 0 ? my_marker() : NULL), 1, "%s local %s: init's data", sched_name(s), local);
      expect_eq(g_post_data == (g_rank == 0 ? my_marker() : NULL), 1, "%s local %s: post's data", sched_name(s), local);
    }
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- messages of init and post -------------------------------------------------------------------------- */

/* fn_count, init_no_column, post_no_column and post_code_17: callbacks.h. */

static void test_what_init_and_post_say_with_inb_set_error_reaches_every_rank(void **state) {
  (void)state;
  reset_checks();
  g_n = 3 * (size_t)g_size;
  inb_batch *b = rank0_batch(NULL, g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_opts o = {.schedule = s};
    inb_action init = {.name = "needs x", .fn = fn_count, .init_fn = init_no_column, .target = INB_MPI};
    reset_counts();
    int rc = inb_run(b, &init, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, INB_EINVAL, "%s: init with inb_set_error", sched_name(s));
    expect_errmsg_has("init failed", "%s: init with inb_set_error", sched_name(s));
    expect_errmsg_has("no column x", "%s: init with inb_set_error", sched_name(s));
    expect_same_status(rc, sched_name(s));
    expect_eq(sum_ranks(tasks_ran()), 0, "%s: tasks run after init failed", sched_name(s));

    inb_action post = {.name = "needs x", .fn = fn_count, .init = "indices", .post = post_no_column, .target = INB_MPI};
    rc = inb_run(b, &post, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, INB_EINVAL, "%s: post with inb_set_error", sched_name(s));
    expect_errmsg_has("post failed", "%s: post with inb_set_error", sched_name(s));
    expect_errmsg_has("no column x", "%s: post with inb_set_error", sched_name(s));
    expect_same_status(rc, sched_name(s));

    /* a code without words: the message names the code, and nothing of the words before */
    inb_action silent = {.name = "silent", .fn = fn_count, .init = "indices", .post = post_code_17, .target = INB_MPI};
    rc = inb_run(b, &silent, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 17, "%s: post returning 17 without words", sched_name(s));
    expect_errmsg_has("post failed", "%s: post returning 17", sched_name(s));
    expect_eq(mentions_number(inb_errmsg(), 17), 1, "%s: the message names code 17: '%s'", sched_name(s), inb_errmsg());
    expect_eq(strstr(inb_errmsg(), "no column") == NULL, 1, "%s: the message keeps no earlier words: '%s'",
              sched_name(s), inb_errmsg());
    expect_same_status(rc, sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- a task list that cannot be packed ------------------------------------------------------------------ */

/* An array of 3 doubles at NULL: a value the wire format refuses to pack. */
static inb_value hollow_array(size_t i) {
  (void)i;
  return inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {3}, .data = NULL});
}

/* Every task's list holds a hollow array. */
static int init_null_arrays(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                            size_t *ntasks, void *data) {
  (void)call, (void)extra, (void)data;
  return one_value_lists(inb_batch_size(b), hollow_array, tasks, ntasks);
}

static void test_tasks_that_cannot_be_packed_fail_every_rank_with_the_wire_formats_reason(void **state) {
  (void)state;
  reset_checks();
  g_n = 5;
  inb_batch *b = rank0_batch(NULL, g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "hollow", .fn = fn_count, .init_fn = init_null_arrays, .target = INB_MPI};
    inb_opts o = {.schedule = s};
    reset_counts();
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, INB_EINVAL, "%s: inb_run", sched_name(s));
    expect_errmsg_has("cannot pack tasks", "%s", sched_name(s));
    expect_errmsg_has("NULL data with a non-zero size", "%s: the wire format's reason", sched_name(s));
    expect_same_status(rc, sched_name(s));
    expect_eq(sum_ranks(tasks_ran()), 0, "%s: tasks run", sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_failed_task_runs_again_on_its_rank_and_its_record_brings_attempts_to_rank0),
      cmocka_unit_test(test_max_failures_stops_every_rank_soon_when_every_task_fails),
      cmocka_unit_test(test_failures_on_one_rank_stop_the_other_ranks_at_max_failures),
      cmocka_unit_test(test_max_failures_zero_lets_every_failing_task_run_on_every_rank),
      cmocka_unit_test(test_a_max_failures_never_reached_changes_nothing_in_this_call_or_the_next),
      cmocka_unit_test(test_tasks_see_their_ranks_action_data_and_init_and_post_see_rank0s),
      cmocka_unit_test(test_what_init_and_post_say_with_inb_set_error_reaches_every_rank),
      cmocka_unit_test(test_tasks_that_cannot_be_packed_fail_every_rank_with_the_wire_formats_reason),
  };
  return mpitest_main(&argc, &argv, "mpi.test_stop", tests, sizeof tests / sizeof tests[0]);
}
