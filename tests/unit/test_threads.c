/* Unit tests of the threads target: result order, the worker bound, the calling thread
 * as a worker, nested and concurrent inb_run, chunking, and every task running exactly once.
 * Tasks never call cmocka asserts (they run on pool threads); they count with C11 atomics or write their own
 * slot, and the test asserts after inb_run returns. Sleeps only make overlap likely; nothing waits on them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static inb_opts threads_opts(int n_workers, size_t chunk) {
  return (inb_opts){.target = INB_THREADS, .n_workers = n_workers, .chunk = chunk};
}

/* ---- result order --------------------------------------------------------------------------------- */

static long g_max_delay_us;  /* set before a run; tasks only read it */

/* Sleeps a pseudo-random 0..g_max_delay_us (rand_r seeded by the task position), returns 7 * task + 1. */
static int fn_random_delay(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t t = inb_item_task(it);
  unsigned seed = (unsigned)(t * 2654435761u + 12345u);
  sleep_us(rand_r(&seed) % (g_max_delay_us + 1));
  *result = inb_int(7 * (int64_t)t + 1);
  return 0;
}

static size_t g_order_count;
static size_t g_order_wrong;  /* results not in their task's position */

static int post_check_order(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  g_order_count = inb_results_count(r);
  g_order_wrong = 0;
  for (size_t i = 0; i < g_order_count; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT || v->u.i != 7 * (int64_t)i + 1) g_order_wrong++;
  }
  return 0;
}

static void check_order(int n_workers, size_t chunk, size_t ntasks, long max_delay_us) {
  g_max_delay_us = max_delay_us;
  g_order_count = 0;
  g_order_wrong = ntasks;
  inb_batch *b = inb_batch_new(NULL, ntasks);
  inb_action act = {.name = "order", .fn = fn_random_delay, .init = "indices", .post = post_check_order,
                    .target = INB_THREADS};
  inb_opts o = threads_opts(n_workers, chunk);
  print_message("  n_workers %d chunk %zu\n", n_workers, chunk);
  assert_int_equal(inb_run(b, &act, NULL, &o, NULL), 0);
  assert_int_equal(g_order_count, ntasks);
  assert_int_equal(g_order_wrong, 0);
  inb_batch_free(&b);
}

static void test_results_arrive_in_task_order_under_random_delays(void **state) {
  (void)state;
  check_order(2, 0, 48, 2000);
  check_order(4, 0, 48, 2000);
}

static void test_results_arrive_in_task_order_with_a_fixed_chunk(void **state) {
  (void)state;
  check_order(2, 7, 60, 300);
  check_order(4, 1, 60, 300);
}

/* ---- the worker bound and the calling thread ------------------------------------------------------ */

static atomic_int g_inflight, g_peak, g_calls, g_on_caller;
static pthread_t g_caller;  /* written before a run; tasks only read it */
static long g_task_sleep_us;

static int fn_track_overlap(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it, (void)args, (void)result;
  int now = atomic_fetch_add(&g_inflight, 1) + 1;
  int peak = atomic_load(&g_peak);
  while (now > peak && !atomic_compare_exchange_weak(&g_peak, &peak, now)) {
  }
  if (pthread_equal(pthread_self(), g_caller)) atomic_fetch_add(&g_on_caller, 1);
  sleep_us(g_task_sleep_us);
  atomic_fetch_sub(&g_inflight, 1);
  atomic_fetch_add(&g_calls, 1);
  return 0;
}

/* Runs ntasks overlap-tracking tasks; returns inb_run's status. */
static int run_tracked(const inb_opts *o, size_t ntasks, long sleep_each_us) {
  atomic_store(&g_inflight, 0);
  atomic_store(&g_peak, 0);
  atomic_store(&g_calls, 0);
  atomic_store(&g_on_caller, 0);
  g_caller = pthread_self();
  g_task_sleep_us = sleep_each_us;
  inb_batch *b = inb_batch_new(NULL, ntasks);
  inb_action act = {.name = "tracked", .fn = fn_track_overlap, .init = "indices", .target = INB_THREADS};
  int rc = inb_run(b, &act, NULL, o, NULL);
  inb_batch_free(&b);
  return rc;
}

static void test_n_workers_one_never_overlaps_tasks(void **state) {
  (void)state;
  inb_opts o = threads_opts(1, 0);
  assert_int_equal(run_tracked(&o, 20, 1000), 0);
  assert_int_equal(atomic_load(&g_calls), 20);
  assert_int_equal(atomic_load(&g_peak), 1);
}

static void test_n_workers_one_runs_every_task_on_the_calling_thread(void **state) {
  (void)state;
  inb_opts o = threads_opts(1, 0);
  assert_int_equal(run_tracked(&o, 20, 100), 0);
  assert_int_equal(atomic_load(&g_calls), 20);
  assert_int_equal(atomic_load(&g_on_caller), 20);
}

static void test_n_workers_two_never_runs_more_than_two_tasks_at_once(void **state) {
  (void)state;
  inb_opts o = threads_opts(2, 0);
  assert_int_equal(run_tracked(&o, 30, 1000), 0);
  assert_int_equal(atomic_load(&g_calls), 30);
  assert_true(atomic_load(&g_peak) >= 1);
  assert_true(atomic_load(&g_peak) <= 2);
}

static void test_n_workers_three_never_runs_more_than_three_tasks_at_once(void **state) {
  (void)state;
  inb_opts o = threads_opts(3, 1);
  assert_int_equal(run_tracked(&o, 30, 1000), 0);
  assert_int_equal(atomic_load(&g_calls), 30);
  assert_true(atomic_load(&g_peak) <= 3);
}

static void test_calling_thread_works_as_one_of_the_workers(void **state) {
  (void)state;
  inb_opts o = threads_opts(2, 0);
  assert_int_equal(run_tracked(&o, 40, 500), 0);
  assert_int_equal(atomic_load(&g_calls), 40);
  assert_true(atomic_load(&g_on_caller) >= 1);
}

static void test_default_n_workers_runs_every_task(void **state) {
  (void)state;
  inb_opts o = threads_opts(0, 0);
  assert_int_equal(run_tracked(&o, 200, 0), 0);
  assert_int_equal(atomic_load(&g_calls), 200);
  assert_true(atomic_load(&g_peak) >= 1);

  assert_int_equal(run_tracked(NULL, 200, 0), 0);  /* no opts at all: the action's target, default workers */
  assert_int_equal(atomic_load(&g_calls), 200);
}

static void test_more_workers_than_tasks_runs_every_task_once(void **state) {
  (void)state;
  inb_opts o = threads_opts(8, 0);
  assert_int_equal(run_tracked(&o, 3, 200), 0);
  assert_int_equal(atomic_load(&g_calls), 3);
  assert_true(atomic_load(&g_peak) <= 3);
}

/* ---- every task exactly once ---------------------------------------------------------------------- */

#define MANY 100000
static atomic_uchar g_ran[MANY];
static atomic_int g_wrong_arg;
static int g_plain[MANY]; /* plain writes: TSan checks they happen-before inb_run returns */

static int fn_mark(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  size_t t = inb_item_task(it);
  if (t >= MANY) {
    atomic_fetch_add(&g_wrong_arg, 1);
    return 0;
  }
  const inb_value *v = inb_args_at(args, 0);
  if (!v || v->kind != INB_INT || v->u.i != (int64_t)t) atomic_fetch_add(&g_wrong_arg, 1);
  atomic_fetch_add(&g_ran[t], 1);
  g_plain[t] = (int)t + 1;
  return 0;
}

static void check_each_task_runs_once(size_t ntasks, int n_workers, size_t chunk) {
  for (size_t i = 0; i < MANY; i++) atomic_store(&g_ran[i], 0);
  memset(g_plain, 0, sizeof g_plain);
  atomic_store(&g_wrong_arg, 0);
  inb_batch *b = inb_batch_new(NULL, ntasks);
  inb_action act = {.name = "mark", .fn = fn_mark, .init = "indices", .target = INB_THREADS};
  inb_opts o = threads_opts(n_workers, chunk);
  print_message("  tasks %zu n_workers %d chunk %zu\n", ntasks, n_workers, chunk);
  assert_int_equal(inb_run(b, &act, NULL, &o, NULL), 0);

  size_t not_once = 0, plain_wrong = 0;
  for (size_t i = 0; i < ntasks; i++) {
    if (atomic_load(&g_ran[i]) != 1) not_once++;
    if (g_plain[i] != (int)i + 1) plain_wrong++;
  }
  assert_int_equal(not_once, 0);
  assert_int_equal(plain_wrong, 0);
  assert_int_equal(atomic_load(&g_wrong_arg), 0);
  inb_batch_free(&b);
}

static void test_hundred_thousand_tasks_each_run_exactly_once_with_automatic_chunks(void **state) {
  (void)state;
  check_each_task_runs_once(MANY, 2, 0);
}

static void test_hundred_thousand_tasks_each_run_exactly_once_with_chunk_7(void **state) {
  (void)state;
  check_each_task_runs_once(MANY, 2, 7);
}

static void test_a_chunk_larger_than_the_task_count_runs_every_task_once(void **state) {
  (void)state;
  check_each_task_runs_once(10, 2, 100);
  check_each_task_runs_once(1, 4, 0);
}

/* ---- nested inb_run ------------------------------------------------------------------------------- */

#define OUTER 1000
#define INNER 10
static atomic_int g_inner_calls, g_inner_posts, g_inner_bad;

static int fn_inner(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  const inb_value *j = inb_args_at(args, 0), *outer = inb_args_get(args, "outer");
  atomic_fetch_add(&g_inner_calls, 1);
  if (!j || !outer || j->kind != INB_INT || outer->kind != INB_INT) return inb_fail(it, -70, "bad inner args");
  *result = inb_int(100 * outer->u.i + j->u.i);
  return 0;
}

static int post_inner(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  (void)b, (void)extra, (void)out, (void)data;
  atomic_fetch_add(&g_inner_posts, 1);
  const inb_value *outer = inb_args_get(call, "outer");
  if (!outer || inb_results_count(r) != INNER) goto bad;
  for (size_t i = 0; i < INNER; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT || v->u.i != 100 * outer->u.i + (int64_t)i) goto bad;
  }
  return 0;
bad:
  atomic_fetch_add(&g_inner_bad, 1);
  return -77;
}

static int fn_outer(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t t = inb_item_task(it);
  inb_batch *ib = inb_batch_new(NULL, INNER);
  inb_args *call = inb_args_new();
  inb_args_put(call, "outer", inb_int((int64_t)t));
  inb_action act = {.name = "inner", .fn = fn_inner, .init = "indices", .post = post_inner, .target = INB_THREADS};
  inb_opts o = threads_opts(2, 0);
  int rc = inb_run(ib, &act, call, &o, NULL);
  inb_args_free(&call);
  inb_batch_free(&ib);
  if (rc != 0) return inb_fail(it, rc, "inner run returned %d: %s", rc, inb_errmsg());
  *result = inb_int((int64_t)t);
  return 0;
}

static void test_a_task_may_call_inb_run_without_deadlocking(void **state) {
  (void)state;
  atomic_store(&g_inner_calls, 0);
  atomic_store(&g_inner_posts, 0);
  atomic_store(&g_inner_bad, 0);
  inb_batch *b = inb_batch_new(NULL, OUTER);
  inb_action act = {.name = "outer", .fn = fn_outer, .init = "indices", .target = INB_THREADS};
  inb_opts o = threads_opts(2, 0);
  int rc = inb_run(b, &act, NULL, &o, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_int_equal(atomic_load(&g_inner_calls), OUTER * INNER);
  assert_int_equal(atomic_load(&g_inner_posts), OUTER);
  assert_int_equal(atomic_load(&g_inner_bad), 0);
  inb_batch_free(&b);
}

/* ---- several user threads at once ----------------------------------------------------------------- */

#define USERS 4
#define USER_RUNS 10
#define USER_TASKS 100

typedef struct {
  int slot;
  int rc;          /* first non-zero status, else 0 */
  char msg[256];   /* its inb_errmsg() */
} user_ctx;

static int fn_user(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_value *slot = inb_args_get(args, "slot");
  if (!slot || slot->kind != INB_INT) return inb_fail(it, -60, "no slot");
  *result = inb_int(slot->u.i * 1000000 + (int64_t)inb_item_task(it));
  return 0;
}

static int post_user(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                     inb_batch **out, void *data) {
  (void)b, (void)extra, (void)out, (void)data;
  const inb_value *slot = inb_args_get(call, "slot");
  if (!slot || inb_results_count(r) != USER_TASKS) return -61;
  for (size_t i = 0; i < USER_TASKS; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT || v->u.i != slot->u.i * 1000000 + (int64_t)i) return -62;
  }
  return 0;
}

static void *user_thread(void *arg) {
  user_ctx *u = arg;
  inb_batch *b = inb_batch_new(NULL, USER_TASKS);
  inb_args *call = inb_args_new();
  inb_args_put(call, "slot", inb_int(u->slot));
  inb_action act = {.name = "user", .fn = fn_user, .init = "indices", .post = post_user, .target = INB_THREADS};
  inb_opts o = threads_opts(2, 0);
  for (int k = 0; k < USER_RUNS && u->rc == 0; k++) {
    u->rc = inb_run(b, &act, call, &o, NULL);
    if (u->rc) snprintf(u->msg, sizeof u->msg, "%s", inb_errmsg());
  }
  inb_args_free(&call);
  inb_batch_free(&b);
  return NULL;
}

static void test_several_user_threads_may_call_inb_run_at_once(void **state) {
  (void)state;
  user_ctx users[USERS];
  pthread_t th[USERS];
  for (int i = 0; i < USERS; i++) {
    users[i] = (user_ctx){.slot = i + 1};
    assert_int_equal(pthread_create(&th[i], NULL, user_thread, &users[i]), 0);
  }
  for (int i = 0; i < USERS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < USERS; i++) {
    if (users[i].rc) print_message("  user %d: %d %s\n", i, users[i].rc, users[i].msg);
    assert_int_equal(users[i].rc, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_results_arrive_in_task_order_under_random_delays),
      cmocka_unit_test(test_results_arrive_in_task_order_with_a_fixed_chunk),
      cmocka_unit_test(test_n_workers_one_never_overlaps_tasks),
      cmocka_unit_test(test_n_workers_one_runs_every_task_on_the_calling_thread),
      cmocka_unit_test(test_n_workers_two_never_runs_more_than_two_tasks_at_once),
      cmocka_unit_test(test_n_workers_three_never_runs_more_than_three_tasks_at_once),
      cmocka_unit_test(test_calling_thread_works_as_one_of_the_workers),
      cmocka_unit_test(test_default_n_workers_runs_every_task),
      cmocka_unit_test(test_more_workers_than_tasks_runs_every_task_once),
      cmocka_unit_test(test_hundred_thousand_tasks_each_run_exactly_once_with_automatic_chunks),
      cmocka_unit_test(test_hundred_thousand_tasks_each_run_exactly_once_with_chunk_7),
      cmocka_unit_test(test_a_chunk_larger_than_the_task_count_runs_every_task_once),
      cmocka_unit_test(test_a_task_may_call_inb_run_without_deadlocking),
      cmocka_unit_test(test_several_user_threads_may_call_inb_run_at_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
