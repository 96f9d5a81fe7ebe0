/* MPI tests of collective calls made wrongly, and of calls made by several threads: ranks called with
 * different arguments fail together with a message instead of hanging or computing garbage; a rank that never
 * makes the MPI call (target for) leaves the others an error within their timeout; calls of several threads of
 * one process on one communicator are serialised; calls that pair up wrongly across ranks fail on every rank.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, each test asserts its checks at its end)
 * is in mpitest.h. */
#include "mpitest.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long g_ran;

static int plus_one(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  atomic_fetch_add(&g_ran, 1);
  *result = inb_int(inb_args_at(args, 0)->u.i + 1);
  return 0;
}

/* The same as plus_one, compiled apart: another function, which a rank may pass under the same action name. */
static int plus_two(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  atomic_fetch_add(&g_ran, 1);
  *result = inb_int(inb_args_at(args, 0)->u.i + 2);
  return 0;
}

/* Sums the results into *(long *)data (the action's data pointer, rank 0). */
static int post_sum(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out;
  long sum = 0;
  for (size_t i = 0; i < inb_results_count(r); i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v) return inb_set_error(CHECK_FAILED, "task %zu failed: %s", i, inb_result_error(r, i)->message);
    sum += v->u.i;
  }
  *(long *)data = sum;
  return 0;
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the same name, another function ---------------------------------------------------------------------- */

static void test_the_same_action_name_with_another_function_fails_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  size_t n = 4 * (size_t)g_size;
  inb_batch *b = rank0_batch(NULL, n);
  int want = g_size > 1 ? INB_EINVAL : 0;
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    long sum = -1;
    inb_action act = {.name = "add", .fn = g_rank == g_size - 1 ? plus_two : plus_one, .init = "indices",
                      .post = post_sum, .target = INB_MPI, .data = &sum};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, want, "%s: the last rank passes another function under the name 'add'", sched_name(s));
    if (want) {
      expect_errmsg_has("different arguments", "%s: the message says the calls differ", sched_name(s));
      expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "%s: the same message on every rank (here: '%s')",
                sched_name(s), inb_errmsg());
      expect_eq(sum_ranks(atomic_load(&g_ran)), 0, "%s: no task ran", sched_name(s));
    }
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- calls that pair up wrongly ------------------------------------------------------------------------------ */

/* Rank 0 calls 'first' then 'second'; the other ranks the other way round: both pairs differ on every rank. */
static void test_calls_that_pair_up_wrongly_across_ranks_fail_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  if (g_size < 2) return;
  inb_batch *b = rank0_batch(NULL, 8);
  const char *order[2] = {"first", "second"};
  for (int k = 0; k < 2; k++) {
    long sum = -1;
    inb_action act = {.name = order[g_rank == 0 ? k : 1 - k], .fn = plus_one, .init = "indices", .post = post_sum,
                      .target = INB_MPI, .data = &sum};
    int rc = inb_run(b, &act, NULL, NULL, NULL);
    expect_rc(rc, INB_EINVAL, "call %d: rank 0 runs '%s', the others '%s'", k, order[k], order[1 - k]);
    expect_errmsg_has("different arguments", "call %d: the message says the calls differ", k);
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- a rank that never makes the MPI call --------------------------------------------------------------- */

static void test_a_rank_calling_with_target_for_leaves_the_others_an_error_within_their_timeout(void **state) {
  (void)state;
  reset_checks();
  if (g_size < 2) return;
  MPI_Comm comm; /* its own communicator: after the timeout the engine's state on it is unusable for good */
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  bool strays = g_rank == g_size - 1;
  inb_batch *b = inb_batch_new(NULL, 4);
  long sum = -1;
  inb_action act = {.name = "add", .fn = plus_one, .init = "indices", .post = post_sum,
                    .target = strays ? INB_FOR : INB_MPI, .data = &sum};
  inb_opts o = {.comm = &comm, .timeout_ms = 1500};
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = inb_run(b, &act, NULL, &o, NULL);
  double took = seconds_since(&t0);
  if (strays) {
    expect_rc(rc, 0, "the rank that runs 'add' alone, on target for");
    expect_eq(sum, 1 + 2 + 3 + 4, "its own sum");
  } else {
    expect_rc(rc, INB_EMPI, "the mpi ranks, whose partner never arrives");
    expect_errmsg_has("did not arrive", "the message says a rank did not arrive");
    expect_eq(took < 10.0, 1, "the error came within 10 s (took %.1f s; timeout 1.5 s)", took);
    rc = inb_run(b, &act, NULL, &o, NULL); /* the engine's collectives on it are out of step: it says so at once */
    expect_rc(rc, INB_EMPI, "a later call on the same communicator");
    expect_errmsg_has("cannot be used", "the later call says why");
  }
  inb_batch_free(&b);
  MPI_Barrier(MPI_COMM_WORLD); /* the test's own synchronisation, on the program's communicator */
  assert_checks();
  /* comm is not freed: a collective of the engine on it will never complete, and freeing would wait for it */
}

/* ---- several threads, one communicator ------------------------------------------------------------------- */

enum { CALLS_PER_THREAD = 20, NTHREADS = 2 };

typedef struct {
  int id;
  int failures;
  char first_error[256];
} caller;

/* A thread's calls: all of the same action as the other thread's, so any pairing across ranks is right. */
static void *call_repeatedly(void *arg) {
  caller *me = arg;
  size_t n = 16;
  inb_batch *b = rank0_batch(NULL, n);
  for (int k = 0; k < CALLS_PER_THREAD; k++) {
    long sum = -1;
    inb_action act = {.name = "add", .fn = plus_one, .init = "indices", .post = post_sum, .target = INB_MPI,
                      .local = INB_FOR, .data = &sum};
    inb_opts o = {.schedule = (k % 2) ? INB_STATIC : INB_DYNAMIC};
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    bool wrong = rc != 0 || (g_rank == 0 && sum != (long)(n * (n + 1) / 2));
    if (wrong && !me->failures++)
      snprintf(me->first_error, sizeof me->first_error, "call %d: rc %d sum %ld: %s", k, rc, sum, inb_errmsg());
  }
  inb_batch_free(&b);
  return NULL;
}

static void test_two_threads_calling_on_one_communicator_are_serialised(void **state) {
  (void)state;
  reset_checks();
  pthread_t t[NTHREADS];
  caller c[NTHREADS];
  for (int k = 0; k < NTHREADS; k++) {
    c[k] = (caller){.id = k};
    pthread_create(&t[k], NULL, call_repeatedly, &c[k]);
  }
  for (int k = 0; k < NTHREADS; k++) pthread_join(t[k], NULL);
  for (int k = 0; k < NTHREADS; k++)
    expect_eq(c[k].failures, 0, "thread %d: %d calls with a wrong status or sum; first: %s", k, c[k].failures,
              c[k].first_error);
  assert_checks();
}

/* ---- signals ---------------------------------------------------------------------------------------------- */

/* A signal sent to the process while tasks run is handled by the thread that called inb_run, never by a thread of
 * the library (the pool's, rank 0's compute thread under dynamic, the stop sentinel): the program's handlers may
 * assume the thread they chose. */
static pthread_t g_main_thread;
static atomic_int g_handled, g_handled_elsewhere;
static atomic_int g_signalled;

/* MPI starts threads of its own, which the library does not own: SIGUSR1 is blocked before main, so that they
 * (created by MPI_Init) never take it, and unblocked in the calling thread only while the test runs. A thread the
 * library creates without blocking signals itself would inherit that unblocked mask and be caught. */
__attribute__((constructor)) static void block_usr1_before_mpi(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&g_handled, 1);
  if (!pthread_equal(pthread_self(), g_main_thread)) atomic_fetch_add(&g_handled_elsewhere, 1);
}

static int signal_once(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  int expect = 0;
  if (inb_item_rank(it) == 0 && atomic_compare_exchange_strong(&g_signalled, &expect, 1)) kill(getpid(), SIGUSR1);
  sleep_us(200);
  *result = inb_int(0);
  return 0;
}

static void test_signals_reach_the_calling_thread_never_a_thread_of_the_library(void **state) {
  (void)state;
  reset_checks();
  g_main_thread = pthread_self();
  struct sigaction sa = {.sa_handler = on_usr1}, old;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    atomic_store(&g_handled, 0);
    atomic_store(&g_handled_elsewhere, 0);
    atomic_store(&g_signalled, 0);
    inb_batch *b = rank0_batch(NULL, 64);
    inb_action act = {.name = "signal", .fn = signal_once, .init = "indices", .target = INB_MPI, .local = INB_THREADS};
    inb_opts o = {.schedule = s, .n_workers = 2, .max_failures = 1000}; /* max_failures: the stop sentinels run too */
    int rc = inb_run(b, &act, NULL, &o, NULL);
    for (int k = 0; k < 1000 && g_rank == 0 && !atomic_load(&g_handled); k++) sleep_us(1000);
    expect_rc(rc, 0, "%s: inb_run", sched_name(s));
    if (g_rank == 0) {
      expect_eq(atomic_load(&g_handled), 1, "%s: the handler ran once on rank 0", sched_name(s));
      expect_eq(atomic_load(&g_handled_elsewhere), 0, "%s: ... in the thread that called inb_run", sched_name(s));
    }
    inb_batch_free(&b);
  }
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  sigaction(SIGUSR1, &old, NULL);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_same_action_name_with_another_function_fails_on_every_rank),
      cmocka_unit_test(test_calls_that_pair_up_wrongly_across_ranks_fail_on_every_rank),
      cmocka_unit_test(test_two_threads_calling_on_one_communicator_are_serialised),
      cmocka_unit_test(test_signals_reach_the_calling_thread_never_a_thread_of_the_library),
      cmocka_unit_test(test_a_rank_calling_with_target_for_leaves_the_others_an_error_within_their_timeout),
  };
  return mpitest_main(&argc, &argv, "mpi.test_collective", tests, sizeof tests / sizeof tests[0]);
}
