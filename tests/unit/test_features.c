/* Unit tests of the per-call controls and the action's own pointer (run.h: inb_opts.retries, max_failures,
 * max_in_flight; inb_action.data; inb_item_expired; inb_set_error) on the local targets for, threads and async.
 * tests/mpi/test_stop.c checks the same under mpi.
 *
 * Tasks never call cmocka asserts (they may run on pool threads, or inside the libuv loop that an assert would
 * longjmp out of): they report what is wrong with inb_fail or count what they saw in globals, post reports its
 * first mismatch with verdict() (tests/common/checks.h), and the test asserts after inb_run returns, when
 * everything a task did happened before. Timers stand in for slow async work; no test sleeps to synchronise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>
#include <uv.h>

#include "callbacks.h" /* counting runs, and the tasks, inits and posts tests/mpi/test_stop shares */
#include "checks.h"    /* verdict(), and assert_checks() to assert it */

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *target_name(inb_target t) {
  return t == INB_FOR ? "for" : t == INB_THREADS ? "threads" : t == INB_ASYNC ? "async" : "?";
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* inb_run of `act` on target t over a batch of items 0..n-1; returns its status. */
static int run_n(const inb_action *act_in, inb_target t, size_t n, inb_opts o) {
  inb_action act = *act_in;
  act.target = t;
  print_message("  target %s, %zu tasks\n", target_name(t), n); /* shown by ctest --output-on-failure */
  inb_batch *b = inb_batch_new(NULL, n);
  assert_non_null(b);
  int rc = inb_run(b, &act, NULL, &o, NULL);
  if (rc) print_message("  inb_run: %d: %s\n", rc, inb_errmsg());
  inb_batch_free(&b);
  return rc;
}

/* run_n for an action whose post judges the results: post's verdict, if any, is reported first. */
static int run_judged(const inb_action *act, inb_target t, size_t n, inb_opts o) {
  int rc = run_n(act, t, n, o);
  assert_checks();
  return rc;
}

/* What every test starts from. */
static int reset(void **state) {
  (void)state;
  reset_counts();
  reset_checks();
  return 0;
}

/* ---- an async attempt that ends on a timer ------------------------------------------------------------- */

typedef struct {
  uv_timer_t timer;
  inb_item *it;
  int code;
  int64_t value;
} later_t;

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fired(uv_timer_t *t) {
  later_t *l = t->data;
  inb_done(l->it, l->code, l->code ? inb_none() : inb_int(l->value));
  uv_close((uv_handle_t *)&l->timer, later_closed);
}

/* Finishes this attempt of `it` after ms milliseconds with `code` (its inb_fail message, if any, already set)
 * or, with code 0, with INT `value`. */
static int finish_later(inb_item *it, uint64_t ms, int code, int64_t value) {
  uv_loop_t *loop = inb_item_loop(it);
  if (!loop) return inb_fail(it, INB_EINVAL, "task %zu: inb_item_loop is NULL", inb_item_task(it));
  later_t *l = malloc(sizeof *l);
  if (!l) return inb_fail(it, INB_ENOMEM, "task %zu: out of memory for a timer", inb_item_task(it));
  *l = (later_t){.it = it, .code = code, .value = value};
  l->timer.data = l;
  int rc = uv_timer_init(loop, &l->timer);
  if (rc) {
    free(l);
    return inb_fail(it, INB_EIO, "uv_timer_init: %s", uv_strerror(rc));
  }
  if ((rc = uv_timer_start(&l->timer, later_fired, ms, 0))) {
    uv_close((uv_handle_t *)&l->timer, later_closed);
    return inb_fail(it, INB_EIO, "uv_timer_start: %s", uv_strerror(rc));
  }
  return 0;
}

/* ---- retries ------------------------------------------------------------------------------------------ */

static int g_retries; /* the call's retries, for post */

/* Task i fails its first i % 3 runs, then succeeds with 10 * i + the run that succeeded. */
static int runs_to_fail(size_t i) { return (int)(i % 3); }

static int fn_flaky(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t i = inb_item_task(it);
  int run = count_run(i);
  if (run <= runs_to_fail(i)) return inb_fail(it, INB_EIO, "task %zu: run %d failed", i, run);
  *result = inb_int((int64_t)i * 10 + run);
  return 0;
}

/* The async form: even tasks end inside start, odd ones on a 1 ms timer (a retry then starts from the loop). */
static int start_flaky(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  int run = count_run(i);
  int code = run <= runs_to_fail(i) ? inb_fail(it, INB_EIO, "task %zu: run %d failed", i, run) : 0;
  int64_t value = (int64_t)i * 10 + run;
  if (i % 2) return finish_later(it, 1, code, value);
  inb_done(it, code, code ? inb_none() : inb_int(value));
  return 0;
}

/* Every task that needed at most `retries` retries is ok with the value of its last run; the others failed
 * with their last run's code and message and attempts = retries + 1. */
static int post_retries(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r), nfail = 0;
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu tasks", n, inb_batch_size(b));
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
    char msg[64];
    snprintf(msg, sizeof msg, "task %zu: run %d failed", i, g_retries + 1);
    if (inb_result_ok(r, i) || v || !e) return verdict("retries %d: task %zu should have failed", g_retries, i);
    if (e->task != i || e->code != INB_EIO || e->attempts != g_retries + 1 || strcmp(e->message, msg) != 0)
      return verdict("retries %d: task %zu: record task %zu code %d attempts %d message '%s'; expected code %d, "
                     "attempts %d, '%s'", g_retries, i, e->task, e->code, e->attempts, e->message, INB_EIO,
                     g_retries + 1, msg);
  }
  if (inb_failed_count(r) != nfail) return verdict("inb_failed_count %zu, expected %zu", inb_failed_count(r), nfail);
  return 0;
}

static void check_retries(inb_target t) {
  const size_t n = 30;
  bool async = t == INB_ASYNC;
  inb_action act = {.name = "flaky", .fn = async ? NULL : fn_flaky, .start = async ? start_flaky : NULL,
                    .init = "indices", .post = post_retries};
  for (g_retries = 0; g_retries <= 3; g_retries++) {
    reset(NULL);
    inb_opts o = {.n_workers = t == INB_THREADS ? 2 : 0, .retries = g_retries};
    print_message("  retries %d\n", g_retries);
    assert_int_equal(run_judged(&act, t, n, o), 0);
    for (size_t i = 0; i < n; i++) {
      int need = runs_to_fail(i), want = (need < g_retries ? need : g_retries) + 1;
      if (runs_of(i) != want)
        fail_msg("retries %d: task %zu (fails %d runs) ran %d times, expected %d", g_retries, i, need,
                 runs_of(i), want);
    }
  }
}

static void test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_for(void **state) {
  (void)state;
  check_retries(INB_FOR);
}

static void test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_threads(void **state) {
  (void)state;
  check_retries(INB_THREADS);
}

static void test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_async(void **state) {
  (void)state;
  check_retries(INB_ASYNC);
}

/* ---- max_failures ------------------------------------------------------------------------------------- */

/* Fails every time, after g_work_us of work (0: at once). */
static long g_work_us;

static int fn_always_fails(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  size_t i = inb_item_task(it);
  count_run(i);
  if (g_work_us) sleep_us(g_work_us);
  return inb_fail(it, INB_EIO, "task %zu failed", i);
}

static int start_always_fails(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  count_run(i);
  inb_done(it, inb_fail(it, INB_EIO, "task %zu failed", i), inb_none());
  return 0;
}

/* Every task has a record: one that ran (attempts 1, its own message), or one never started (INB_ECANCELED,
 * attempts 0, a message naming max_failures); the ones that ran are exactly those count_run counted. */
static int post_all_failed(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                           inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu tasks", n, inb_batch_size(b));
  if (inb_failed_count(r) != n) return verdict("inb_failed_count %zu of %zu tasks", inb_failed_count(r), n);
  for (size_t i = 0; i < n; i++) {
    const inb_error *e = inb_result_error(r, i);
    if (inb_result_ok(r, i) || !e) return verdict("task %zu has no error record", i);
    if (e->task != i) return verdict("task %zu: record names task %zu", i, e->task);
    bool ran = runs_of(i) > 0;
    if (ran) {
      char msg[64];
      snprintf(msg, sizeof msg, "task %zu failed", i);
      if (e->code != INB_EIO || e->attempts != 1 || strcmp(e->message, msg) != 0)
        return verdict("task %zu ran: record code %d attempts %d '%s'", i, e->code, e->attempts, e->message);
    } else if (e->code != INB_ECANCELED || e->attempts != 0 || !strstr(e->message, "max_failures")) {
      return verdict("task %zu never ran: record code %d attempts %d '%s'; expected INB_ECANCELED, attempts 0, a "
                     "message naming max_failures", i, e->code, e->attempts, e->message);
    }
  }
  return 0;
}

static void test_for_runs_exactly_max_failures_tasks_when_every_task_fails(void **state) {
  (void)state;
  inb_action act = {.name = "doomed", .fn = fn_always_fails, .init = "indices", .post = post_all_failed};
  inb_opts o = {.max_failures = 3};
  assert_int_equal(run_judged(&act, INB_FOR, 20, o), 0);
  assert_int_equal(tasks_ran(), 3);
  for (size_t i = 0; i < 3; i++) assert_int_equal(runs_of(i), 1); /* in order: the first three */
}

/* Each of the W workers starts a task only while the stop is down; when the max_failures-th failure raises it,
 * at most W - 1 other tasks are running. A millisecond of work per task keeps several running at that moment. */
static void test_threads_run_between_max_failures_and_max_failures_plus_workers_minus_one_tasks(void **state) {
  (void)state;
  const int W = 4;
  const int64_t M = 5;
  inb_action act = {.name = "doomed", .fn = fn_always_fails, .init = "indices", .post = post_all_failed};
  inb_opts o = {.n_workers = W, .max_failures = M};
  g_work_us = 1000;
  for (int k = 0; k < 10; k++) {
    reset(NULL);
    assert_int_equal(run_judged(&act, INB_THREADS, 200, o), 0);
    long ran = tasks_ran();
    if (ran < M || ran > M + W - 1) fail_msg("round %d: %ld tasks ran; expected %lld..%lld", k, ran, (long long)M,
                                             (long long)(M + W - 1));
  }
  g_work_us = 0;
}

/* Tasks that fail inside start are done before the next one starts: exactly max_failures run. */
static void test_async_starts_exactly_max_failures_tasks_when_each_fails_inside_start(void **state) {
  (void)state;
  inb_action act = {.name = "doomed", .start = start_always_fails, .init = "indices", .post = post_all_failed};
  inb_opts o = {.max_failures = 4};
  assert_int_equal(run_judged(&act, INB_ASYNC, 50, o), 0);
  assert_int_equal(tasks_ran(), 4);
}

static void test_max_failures_zero_lets_every_failing_task_run(void **state) {
  (void)state;
  const inb_target targets[] = {INB_FOR, INB_THREADS, INB_ASYNC};
  for (size_t k = 0; k < 3; k++) {
    reset(NULL);
    inb_action act = {.name = "doomed", .fn = targets[k] == INB_ASYNC ? NULL : fn_always_fails,
                      .start = targets[k] == INB_ASYNC ? start_always_fails : NULL, .init = "indices",
                      .post = post_all_failed};
    inb_opts o = {.n_workers = targets[k] == INB_THREADS ? 2 : 0, .max_failures = 0};
    assert_int_equal(run_judged(&act, targets[k], 40, o), 0);
    assert_int_equal(tasks_ran(), 40);
  }
}

/* Without post the run fails with INB_EITEM, naming how many failed: the never-started tasks count too. */
static void test_without_post_max_failures_gives_eitem_counting_every_task(void **state) {
  (void)state;
  inb_action act = {.name = "doomed", .fn = fn_always_fails, .init = "indices"};
  inb_opts o = {.max_failures = 2};
  assert_int_equal(run_n(&act, INB_FOR, 12, o), INB_EITEM);
  if (!mentions_number(inb_errmsg(), 12)) fail_msg("the message does not say 12 tasks failed: '%s'", inb_errmsg());
  assert_non_null(strstr(inb_errmsg(), "task 0 failed"));
  assert_int_equal(tasks_ran(), 2);
}

/* ---- max_in_flight ------------------------------------------------------------------------------------ */

static long g_in_flight, g_max_in_flight; /* the loop runs in one thread: no atomics needed */

static void in_flight_fired(uv_timer_t *t) {
  later_t *l = t->data;
  g_in_flight--; /* before inb_done, which may start the next task at once */
  inb_done(l->it, 0, inb_int(l->value));
  uv_close((uv_handle_t *)&l->timer, later_closed);
}

static int start_counted(inb_item *it, const inb_args *args) {
  (void)args;
  if (++g_in_flight > g_max_in_flight) g_max_in_flight = g_in_flight;
  uv_loop_t *loop = inb_item_loop(it);
  later_t *l = malloc(sizeof *l);
  if (!l) return inb_fail(it, INB_ENOMEM, "out of memory for a timer");
  *l = (later_t){.it = it, .value = (int64_t)inb_item_task(it)};
  l->timer.data = l;
  int rc = uv_timer_init(loop, &l->timer);
  if (rc) {
    free(l);
    g_in_flight--;
    return inb_fail(it, INB_EIO, "uv_timer_init: %s", uv_strerror(rc));
  }
  if ((rc = uv_timer_start(&l->timer, in_flight_fired, 1, 0))) {
    uv_close((uv_handle_t *)&l->timer, later_closed);
    g_in_flight--;
    return inb_fail(it, INB_EIO, "uv_timer_start: %s", uv_strerror(rc));
  }
  return 0;
}

static void check_in_flight(int max_in_flight, size_t n, long want_max) {
  inb_action act = {.name = "counted", .start = start_counted, .init = "indices", .post = post_every_task_ok};
  inb_opts o = {.max_in_flight = max_in_flight};
  g_in_flight = g_max_in_flight = 0;
  assert_int_equal(run_judged(&act, INB_ASYNC, n, o), 0);
  assert_int_equal(g_in_flight, 0);
  /* never more than the bound, and the bound reached: tasks are not serialised either */
  assert_int_equal(g_max_in_flight, want_max);
}

static void test_async_never_has_more_than_max_in_flight_tasks_started_and_not_done(void **state) {
  (void)state;
  check_in_flight(4, 100, 4);
}

static void test_async_in_flight_defaults_to_inb_async_in_flight(void **state) {
  (void)state;
  check_in_flight(0, INB_ASYNC_IN_FLIGHT + 44, INB_ASYNC_IN_FLIGHT);
}

/* A task that holds a descriptor: it opens a scratch file, keeps it across another trip through libuv's thread
 * pool (fstat), closes it, and only then finishes. Every open is queued before any fstat, so without a bound
 * every task would hold its descriptor at once. */
static const char *g_scratch;

typedef struct {
  uv_fs_t req;
  inb_item *it;
  uv_file fd;
  ssize_t stat_result; /* fstat's: a failure is reported once the descriptor is closed */
} held_t;

static void held_end(held_t *h, int code, const char *what, ssize_t err) {
  inb_item *it = h->it;
  free(h);
  if (code) inb_fail(it, code, "task %zu: %s: %s", inb_item_task(it), what, uv_strerror((int)err));
  inb_done(it, code, code ? inb_none() : inb_int((int64_t)inb_item_task(it)));
}

static void held_closed(uv_fs_t *req) {
  held_t *h = req->data;
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  if (r < 0)
    held_end(h, INB_EIO, "close", r);
  else if (h->stat_result < 0)
    held_end(h, INB_EIO, "fstat", h->stat_result);
  else
    held_end(h, 0, NULL, 0);
}

/* Closes the descriptor at once (no callback: synchronous), when a request could not be queued. */
static void held_abort(held_t *h, uv_loop_t *loop, const char *what, int rc) {
  uv_fs_close(loop, &h->req, h->fd, NULL);
  uv_fs_req_cleanup(&h->req);
  held_end(h, INB_EIO, what, rc);
}

static void held_statted(uv_fs_t *req) {
  held_t *h = req->data;
  h->stat_result = req->result;
  uv_fs_req_cleanup(req);
  int rc = uv_fs_close(req->loop, &h->req, h->fd, held_closed);
  if (rc) held_abort(h, req->loop, "uv_fs_close", rc);
}

static void held_opened(uv_fs_t *req) {
  held_t *h = req->data;
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  if (r < 0) {
    held_end(h, INB_EIO, "open", r);
    return;
  }
  h->fd = (uv_file)r;
  int rc = uv_fs_fstat(req->loop, &h->req, h->fd, held_statted);
  if (rc) held_abort(h, req->loop, "uv_fs_fstat", rc);
}

static int start_holding_a_file(inb_item *it, const inb_args *args) {
  (void)args;
  held_t *h = malloc(sizeof *h);
  if (!h) return inb_fail(it, INB_ENOMEM, "out of memory");
  *h = (held_t){.it = it, .fd = -1};
  h->req.data = h;
  int rc = uv_fs_open(inb_item_loop(it), &h->req, g_scratch, O_RDONLY, 0, held_opened);
  if (rc) {
    free(h);
    return inb_fail(it, INB_EIO, "uv_fs_open: %s", uv_strerror(rc));
  }
  return 0;
}

static size_t g_open_failures; /* post: tasks that failed */

static int post_count_failures(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                               inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  g_open_failures = inb_failed_count(r);
  return 0;
}

static size_t open_descriptors(void) {
  size_t n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  while (readdir(d)) n++;
  closedir(d);
  return n > 3 ? n - 3 : 0; /* not ., .., nor the directory's own descriptor */
}

static void test_async_default_bound_keeps_two_thousand_file_tasks_under_a_300_descriptor_limit(void **state) {
  (void)state;
  enum { LIMIT = 300, TASKS = 2000 };
  char path[] = "/tmp/inb_test_features_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  g_scratch = path;
  size_t open_now = open_descriptors();
  print_message("  %zu descriptors open before the run; soft limit %d\n", open_now, LIMIT);
  assert_true(open_now + INB_ASYNC_IN_FLIGHT + 16 < LIMIT); /* room for the bound and the loop's own */

  struct rlimit saved;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
  assert_true(saved.rlim_max >= LIMIT);
  struct rlimit low = {.rlim_cur = LIMIT, .rlim_max = saved.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

  inb_action act = {.name = "hold", .start = start_holding_a_file, .init = "indices", .post = post_count_failures};
  /* the premise: with every task in flight at once, the limit is hit */
  g_open_failures = 0;
  inb_opts unbounded = {.max_in_flight = TASKS};
  int rc_unbounded = run_n(&act, INB_ASYNC, TASKS, unbounded);
  size_t failures_unbounded = g_open_failures;
  /* the default bound */
  g_open_failures = 0;
  act.post = post_every_task_ok;
  int rc = run_n(&act, INB_ASYNC, TASKS, (inb_opts){0});

  assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
  unlink(path);
  assert_int_equal(rc_unbounded, 0);
  print_message("  max_in_flight %d: %zu of %d tasks failed to open\n", TASKS, failures_unbounded, TASKS);
  assert_true(failures_unbounded > 0);
  assert_checks();
  assert_int_equal(rc, 0);
}

static void test_negative_max_in_flight_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "counted", .start = start_counted, .init = "indices"};
  inb_opts o = {.max_in_flight = -1};
  assert_int_equal(run_n(&act, INB_ASYNC, 3, o), INB_EINVAL);
  assert_non_null(strstr(inb_errmsg(), "max_in_flight"));
  inb_opts r = {.retries = -1};
  assert_int_equal(run_n(&act, INB_ASYNC, 3, r), INB_EINVAL);
  assert_non_null(strstr(inb_errmsg(), "retries"));
  inb_opts m = {.max_failures = -1};
  assert_int_equal(run_n(&act, INB_ASYNC, 3, m), INB_EINVAL);
  assert_non_null(strstr(inb_errmsg(), "max_failures"));
}

/* ---- the action's data -------------------------------------------------------------------------------- */

static int g_marker; /* the action's data points here */

static int fn_data(inb_item *it, const inb_args *args, inb_value *result) {
  if (inb_item_data(it) != &g_marker)
    return inb_fail(it, INB_EINVAL, "task %zu: inb_item_data %p, expected %p", inb_item_task(it), inb_item_data(it),
                    (void *)&g_marker);
  *result = *inb_args_at(args, 0);
  return 0;
}

static int start_data(inb_item *it, const inb_args *args) { return done_in_start(it, args, fn_data); }

static void test_the_actions_data_reaches_init_every_task_and_post(void **state) {
  (void)state;
  const inb_target targets[] = {INB_FOR, INB_THREADS, INB_ASYNC};
  for (size_t k = 0; k < 3; k++) {
    inb_target t = targets[k];
    bool async = t == INB_ASYNC;
    inb_action act = {.name = "data", .fn = async ? NULL : fn_data, .start = async ? start_data : NULL,
                      .init_fn = init_index_lists, .post = post_every_task_ok, .data = &g_marker};
    g_init_data = g_post_data = NULL;
    reset(NULL);
    assert_int_equal(run_judged(&act, t, 9, (inb_opts){.n_workers = t == INB_THREADS ? 2 : 0}), 0);
    assert_ptr_equal(g_init_data, &g_marker);
    assert_ptr_equal(g_post_data, &g_marker);
  }
}

/* ---- inb_item_expired --------------------------------------------------------------------------------- */

/* Works until the call's timeout has passed, then gives up as a long task should. Ten seconds is the bound of
 * the test, not of the engine: a task still not expired then says so. */
static int fn_until_expired(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  size_t i = inb_item_task(it);
  count_run(i);
  double t0 = now_s();
  while (!inb_item_expired(it)) {
    if (now_s() - t0 > 10.0) return inb_fail(it, INB_EIO, "task %zu: inb_item_expired still false after 10 s", i);
    sleep_us(500); /* the work a real task would do between two checks */
  }
  return inb_fail(it, INB_ECANCELED, "task %zu gave up: expired", i);
}

/* Every task gave up by itself: its own INB_ECANCELED record after one attempt. */
static int post_gave_up(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  for (size_t i = 0; i < inb_results_count(r); i++) {
    const inb_error *e = inb_result_error(r, i);
    char msg[64];
    snprintf(msg, sizeof msg, "task %zu gave up: expired", i);
    if (!e) return verdict("task %zu succeeded", i);
    if (e->code != INB_ECANCELED || e->attempts != 1 || strcmp(e->message, msg) != 0)
      return verdict("task %zu: record code %d attempts %d '%s'; expected its own INB_ECANCELED '%s'", i, e->code,
                     e->attempts, e->message, msg);
  }
  return 0;
}

static void test_a_task_that_polls_inb_item_expired_ends_after_the_timeout_and_records_ecanceled(void **state) {
  (void)state;
  const inb_target targets[] = {INB_FOR, INB_THREADS};
  for (size_t k = 0; k < 2; k++) {
    reset(NULL);
    inb_action act = {.name = "long", .fn = fn_until_expired, .init = "indices", .post = post_gave_up};
    inb_opts o = {.n_workers = 2, .timeout_ms = 50};
    double t0 = now_s();
    /* for: one task (a second would not start before the timeout); threads: one per worker */
    size_t n = targets[k] == INB_FOR ? 1 : 2;
    int rc = run_judged(&act, targets[k], n, o);
    double took = now_s() - t0;
    print_message("  ended after %.3f s\n", took);
    assert_int_equal(rc, 0);
    assert_int_equal(tasks_ran(), (long)n);
    assert_true(took < 10.0);
  }
}

static atomic_int g_expired_seen; /* tasks that saw inb_item_expired true */

static int fn_checks_not_expired(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  bool before = inb_item_expired(it);
  sleep_us(60000); /* longer than the 50 ms timeout of the test above */
  if (before || inb_item_expired(it)) atomic_fetch_add(&g_expired_seen, 1);
  *result = inb_int((int64_t)inb_item_task(it));
  return 0;
}

static void test_without_a_timeout_inb_item_expired_stays_false(void **state) {
  (void)state;
  const inb_target targets[] = {INB_FOR, INB_THREADS};
  for (size_t k = 0; k < 2; k++) {
    atomic_store(&g_expired_seen, 0);
    inb_action act = {.name = "patient", .fn = fn_checks_not_expired, .init = "indices", .post = post_every_task_ok};
    assert_int_equal(run_judged(&act, targets[k], 2, (inb_opts){.n_workers = 2}), 0);
    assert_int_equal(atomic_load(&g_expired_seen), 0);
  }
}

/* ---- inb_set_error ------------------------------------------------------------------------------------ */

/* fn_count, init_no_column, post_no_column and post_code_17: callbacks.h. */

static void expect_errmsg(const char *a, const char *b) {
  if (!strstr(inb_errmsg(), a) || !strstr(inb_errmsg(), b))
    fail_msg("inb_errmsg() '%s' lacks '%s' or '%s'", inb_errmsg(), a, b);
}

static void test_an_init_that_says_why_with_inb_set_error_fails_the_run_with_its_code_and_words(void **state) {
  (void)state;
  inb_action act = {.name = "needs x", .fn = fn_count, .init_fn = init_no_column};
  assert_int_equal(run_n(&act, INB_THREADS, 4, (inb_opts){0}), INB_EINVAL);
  expect_errmsg("init failed", "no column x");
  assert_int_equal(tasks_ran(), 0);
}

static void test_a_post_that_says_why_with_inb_set_error_fails_the_run_with_its_code_and_words(void **state) {
  (void)state;
  inb_action act = {.name = "needs x", .fn = fn_count, .init = "indices", .post = post_no_column};
  assert_int_equal(run_n(&act, INB_THREADS, 4, (inb_opts){0}), INB_EINVAL);
  expect_errmsg("post failed", "no column x");
  assert_int_equal(tasks_ran(), 4);
}

/* A post that returns a code and says nothing gets a message naming the code, not the words of an earlier
 * inb_set_error in the same thread. */
static void test_a_post_that_returns_a_code_without_words_gets_a_message_naming_the_code(void **state) {
  (void)state;
  inb_action said = {.name = "needs x", .fn = fn_count, .init = "indices", .post = post_no_column};
  assert_int_equal(run_n(&said, INB_FOR, 2, (inb_opts){0}), INB_EINVAL);
  inb_action silent = {.name = "silent", .fn = fn_count, .init = "indices", .post = post_code_17};
  assert_int_equal(run_n(&silent, INB_FOR, 2, (inb_opts){0}), 17);
  assert_non_null(strstr(inb_errmsg(), "post failed"));
  if (!mentions_number(inb_errmsg(), 17)) fail_msg("inb_errmsg() '%s' does not name code 17", inb_errmsg());
  if (strstr(inb_errmsg(), "no column")) fail_msg("inb_errmsg() '%s' kept an earlier post's words", inb_errmsg());
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_for),
      T(test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_threads),
      T(test_a_failed_task_runs_again_up_to_retries_times_and_its_record_counts_attempts_async),
      T(test_for_runs_exactly_max_failures_tasks_when_every_task_fails),
      T(test_threads_run_between_max_failures_and_max_failures_plus_workers_minus_one_tasks),
      T(test_async_starts_exactly_max_failures_tasks_when_each_fails_inside_start),
      T(test_max_failures_zero_lets_every_failing_task_run),
      T(test_without_post_max_failures_gives_eitem_counting_every_task),
      T(test_async_never_has_more_than_max_in_flight_tasks_started_and_not_done),
      T(test_async_in_flight_defaults_to_inb_async_in_flight),
      T(test_async_default_bound_keeps_two_thousand_file_tasks_under_a_300_descriptor_limit),
      T(test_negative_max_in_flight_is_einval),
      T(test_the_actions_data_reaches_init_every_task_and_post),
      T(test_a_task_that_polls_inb_item_expired_ends_after_the_timeout_and_records_ecanceled),
      T(test_without_a_timeout_inb_item_expired_stays_false),
      T(test_an_init_that_says_why_with_inb_set_error_fails_the_run_with_its_code_and_words),
      T(test_a_post_that_says_why_with_inb_set_error_fails_the_run_with_its_code_and_words),
      T(test_a_post_that_returns_a_code_without_words_gets_a_message_naming_the_code),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
