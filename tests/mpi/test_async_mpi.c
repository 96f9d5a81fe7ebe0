/* MPI tests of async as the local target of mpi: each rank runs its share
 * of the tasks on its own libuv loop; results and error records (a failed start, a second inb_done, a task
 * canceled at the timeout) come back to rank 0 in task order, each with the rank that ran it.
 * Registered for 2 ranks only (tests/mpi/CMakeLists.txt), but written for any number.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. What a task allocates is freed in its
 * handle's close callback; the one handle the engine closes itself (with a NULL callback) is static. */
#include "mpitest.h"
#include <uv.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- a task that finishes on a timer ------------------------------------------------------------------- */

static long g_started; /* starts on this rank (the loop runs in one thread: no atomics needed) */

typedef struct {
  uv_timer_t timer;
  inb_item *it;
  int64_t value;
} timer_task;

static void free_timer_task(uv_handle_t *h) { free(h->data); }

static void timer_task_fired(uv_timer_t *t) {
  timer_task *tt = t->data;
  inb_done(tt->it, 0, inb_int(tt->value));
  uv_close((uv_handle_t *)&tt->timer, free_timer_task);
}

/* Finishes `it` with INT `value` after delay_ms, on the loop inb_item_loop gives. */
static int start_timer_task(inb_item *it, uint64_t delay_ms, int64_t value) {
  uv_loop_t *loop = inb_item_loop(it);
  if (!loop) return inb_fail(it, INB_EINVAL, "task %zu: inb_item_loop is NULL", inb_item_task(it));
  timer_task *tt = malloc(sizeof *tt);
  if (!tt) return INB_ENOMEM;
  tt->it = it;
  tt->value = value;
  tt->timer.data = tt;
  int rc = uv_timer_init(loop, &tt->timer);
  if (rc) {
    free(tt);
    return inb_fail(it, INB_EIO, "uv_timer_init: %s", uv_strerror(rc));
  }
  rc = uv_timer_start(&tt->timer, timer_task_fired, delay_ms, 0);
  if (rc) {
    uv_close((uv_handle_t *)&tt->timer, free_timer_task);
    return inb_fail(it, INB_EIO, "uv_timer_start: %s", uv_strerror(rc));
  }
  return 0;
}

/* ---- every task once, in task order, on every rank's loop ---------------------------------------------- */

/* Waits a pseudo-random 0..20 ms (by position), then returns index * 1000 + the rank that ran it. */
static int start_random_delay(inb_item *it, const inb_args *args) {
  g_started++;
  int64_t index = inb_args_at(args, 0)->u.i;
  unsigned seed = (unsigned)(inb_item_task(it) * 2654435761u + 12345u);
  if (inb_item_rank(it) != g_rank)
    return inb_fail(it, -60, "task %zu: inb_item_rank %d on rank %d", inb_item_task(it), inb_item_rank(it), g_rank);
  return start_timer_task(it, (uint64_t)(rand_r(&seed) % 21), index * 1000 + g_rank);
}

static inb_schedule g_sched; /* the schedule of the current run, for post */

static int post_check_order(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  int ranks_seen[64] = {0};
  for (size_t i = 0; i < n; i++) {
    if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    const inb_value *v = inb_result_value(r, i);
    if (v->kind != INB_INT || v->u.i / 1000 != inb_batch_index(b, i))
      return verdict("%s: task %zu holds %lld, expected index %lld", sched_name(g_sched), i, (long long)v->u.i,
                     (long long)inb_batch_index(b, i));
    int rank = (int)(v->u.i % 1000);
    if (rank < 0 || rank >= g_size) return verdict("task %zu: ran on rank %d of %d", i, rank, g_size);
    if (g_sched == INB_STATIC && rank != static_owner(i, n))
      return verdict("static: task %zu ran on rank %d, expected %d", i, rank, static_owner(i, n));
    if (rank < 64) ranks_seen[rank] = 1;
  }
  if (g_sched == INB_STATIC && n >= (size_t)g_size)
    for (int k = 0; k < g_size && k < 64; k++)
      if (!ranks_seen[k]) return verdict("static: rank %d ran none of the %zu tasks", k, n);
  return 0;
}

static void test_local_async_runs_every_task_once_and_results_reach_rank0_in_task_order(void **state) {
  (void)state;
  reset_checks();
  enum { N = 60 };
  int64_t index[N];
  for (size_t i = 0; i < N; i++) index[i] = 3 * (int64_t)i + 1; /* indices differ from positions */
  inb_batch *b = rank0_batch(index, N);
  for (int implied = 0; implied <= 1; implied++) {   /* local = ASYNC, or implied by an action with only .start */
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      inb_action act = {.name = "random_delay", .start = start_random_delay, .init = "indices",
                        .post = post_check_order, .target = INB_MPI, .local = implied ? INB_DEFAULT : INB_ASYNC};
      inb_opts o = {.schedule = s};
      g_sched = s;
      g_started = 0;
      int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "%s %s: inb_run", implied ? "implied" : "local async", sched_name(s));
      expect_eq(sum_ranks(g_started), N, "%s %s: starts on all ranks", implied ? "implied" : "local async",
                sched_name(s));
      if (s == INB_STATIC) {
        long mine = 0;
        for (size_t i = 0; i < N; i++) mine += static_owner(i, N) == g_rank;
        expect_eq(g_started, mine, "static: starts on rank %d", g_rank);
      }
    }
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- concurrency on every rank ------------------------------------------------------------------------- */

static int start_wait_100ms(inb_item *it, const inb_args *args) {
  g_started++;
  return start_timer_task(it, 100, inb_args_at(args, 0)->u.i);
}

static int post_check_index(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT || v->u.i != inb_batch_index(b, i))
      return verdict("task %zu: %s", i, v ? "wrong value" : inb_result_error(r, i)->message);
  }
  return 0;
}

/* 200 tasks of 100 ms: one loop per rank runs its whole share at once (20 s if they ran one by one). */
static void test_two_hundred_100ms_tasks_finish_together_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 200);
  inb_action act = {.name = "wait_100ms", .start = start_wait_100ms, .init = "indices", .post = post_check_index,
                    .target = INB_MPI, .local = INB_ASYNC};
  const struct { inb_schedule s; size_t chunk; double limit_s; } cases[] = {
      {INB_STATIC, 0, 2.0},     /* one block per rank, one loop each */
      {INB_DYNAMIC, 100, 2.0},  /* two chunks of 100 */
      {INB_DYNAMIC, 0, 10.0},   /* guided chunks: each its own loop, one after another on a rank */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    inb_opts o = {.schedule = cases[k].s, .chunk = cases[k].chunk};
    g_started = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    double took = now_s() - t0;
    if (g_rank == 0)
      print_message("  %s chunk %zu: 200 tasks x 100 ms in %.3f s\n", sched_name(cases[k].s), cases[k].chunk, took);
    expect_rc(rc, 0, "%s chunk %zu: inb_run", sched_name(cases[k].s), cases[k].chunk);
    expect_eq(sum_ranks(g_started), 200, "%s chunk %zu: starts", sched_name(cases[k].s), cases[k].chunk);
    expect_eq(took < cases[k].limit_s, 1, "%s chunk %zu: %.3f s < %.0f s", sched_name(cases[k].s), cases[k].chunk,
              took, cases[k].limit_s);
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- failures on any rank ------------------------------------------------------------------------------ */

/* Of 10 tasks: task 3's start fails; task 6 calls inb_done twice; task 8 never calls inb_done and keeps its
 * loop busy with a repeating timer (the engine closes it, with a NULL callback: it is static), so only the
 * timeout ends it. The others succeed with their index. */
enum { NFAIL = 10 };
static uv_timer_t g_keepalive;

static void keepalive_tick(uv_timer_t *t) { (void)t; }

static int start_failures(inb_item *it, const inb_args *args) {
  g_started++;
  size_t i = inb_item_task(it);
  int64_t index = inb_args_at(args, 0)->u.i;
  switch (i) {
  case 3: return inb_fail(it, -42, "task %zu could not start on rank %d", i, g_rank);
  case 6:
    inb_done(it, 0, inb_int(index));
    inb_done(it, 0, inb_int(index));
    return 0;
  case 8: {
    memset(&g_keepalive, 0, sizeof g_keepalive);
    int rc = uv_timer_init(inb_item_loop(it), &g_keepalive);
    if (!rc) rc = uv_timer_start(&g_keepalive, keepalive_tick, 5, 5);
    return rc ? inb_fail(it, INB_EIO, "keepalive: %s", uv_strerror(rc)) : 0;
  }
  default: return start_timer_task(it, 2, index);
  }
}

static int post_check_failures(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                               inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != NFAIL) return verdict("post got %zu results for %d items", n, NFAIL);
  if (inb_failed_count(r) != 3) return verdict("%zu failures, expected 3", inb_failed_count(r));
  for (size_t i = 0; i < n; i++) {
    const inb_error *e = inb_result_error(r, i);
    bool should_fail = i == 3 || i == 6 || i == 8;
    if (!should_fail) {
      const inb_value *v = inb_result_value(r, i);
      if (e) return verdict("task %zu failed: %s", i, e->message);
      if (!v || v->kind != INB_INT || v->u.i != inb_batch_index(b, i)) return verdict("task %zu: wrong value", i);
      continue;
    }
    if (!e) return verdict("task %zu succeeded; it should have failed", i);
    if (e->task != i) return verdict("task %zu: its record says task %zu", i, e->task);
    if (e->rank != static_owner(i, n))
      return verdict("task %zu: record says rank %d, static blocks put it on rank %d", i, e->rank, static_owner(i, n));
    char want[80];
    snprintf(want, sizeof want, "task 3 could not start on rank %d", static_owner(3, n));
    if (i == 3 && (e->code != -42 || strcmp(e->message, want) != 0))
      return verdict("task 3: code %d '%s', expected -42 '%s'", e->code, e->message, want);
    if (i == 6 && (e->code == 0 || !strstr(e->message, "twice")))
      return verdict("task 6: code %d '%s', expected a done-twice record", e->code, e->message);
    if (i == 8 && e->code != INB_ECANCELED)
      return verdict("task 8: code %d '%s', expected INB_ECANCELED", e->code, e->message);
  }
  return 0;
}

static void test_failed_start_done_twice_and_timeout_reach_rank0_with_the_rank_that_ran_them(void **state) {
  (void)state;
  reset_checks();
  int64_t index[NFAIL];
  for (size_t i = 0; i < NFAIL; i++) index[i] = 100 + (int64_t)i;
  inb_batch *b = rank0_batch(index, NFAIL);
  inb_action act = {.name = "failures", .start = start_failures, .init = "indices", .post = post_check_failures,
                    .target = INB_MPI, .local = INB_ASYNC};
  inb_opts o = {.schedule = INB_STATIC, .timeout_ms = 300};
  g_started = 0;
  double t0 = now_s();
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  double took = now_s() - t0;
  expect_rc(rc, 0, "inb_run");
  expect_eq(sum_ranks(g_started), NFAIL, "starts on all ranks");
  expect_eq(took < 10.0, 1, "returned after %.3f s, not hanging", took);
  if (static_owner(8, NFAIL) == g_rank)
    expect_eq(uv_is_closing((uv_handle_t *)&g_keepalive) != 0, 1, "the engine closed task 8's timer");

  /* Without post: INB_EITEM on every rank, naming the first failure. */
  act.post = NULL;
  act.name = "failures_no_post";
  rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  expect_rc(rc, INB_EITEM, "no post: inb_run");
  expect_eq(strstr(inb_errmsg(), "could not start") != NULL, 1, "no post: errmsg names task 3's failure: %s",
            inb_errmsg());
  inb_batch_free(&b);
  assert_checks();
}

/* ---- n_workers --------------------------------------------------------------------------------------- */

static void test_n_workers_with_local_async_is_einval_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 8);
  inb_action act = {.name = "pool_async", .start = start_wait_100ms, .init = "indices", .target = INB_MPI,
                    .local = INB_ASYNC};
  inb_opts o = {.n_workers = 2};
  g_started = 0;
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL); /* rank 0's opts apply */
  expect_rc(rc, INB_EINVAL, "inb_run");
  expect_eq(strstr(inb_errmsg(), "n_workers") != NULL, 1, "errmsg says n_workers: %s", inb_errmsg());
  expect_eq(sum_ranks(g_started), 0, "no task started");
  inb_batch_free(&b);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_async_runs_every_task_once_and_results_reach_rank0_in_task_order),
      cmocka_unit_test(test_two_hundred_100ms_tasks_finish_together_on_every_rank),
      cmocka_unit_test(test_failed_start_done_twice_and_timeout_reach_rank0_with_the_rank_that_ran_them),
      cmocka_unit_test(test_n_workers_with_local_async_is_einval_on_every_rank),
  };
  return mpitest_main(&argc, &argv, "mpi.test_async_mpi", tests, sizeof tests / sizeof tests[0]);
}
