/* MPI tests of results: with target mpi every task runs once, on some rank, and its
 * result, of any kind, comes back to rank 0 in task order; both schedules and both local targets agree.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. */
#include "mpitest.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- every task runs once; N = 0, 1, ranks-1, 10^5 ----------------------------------------------------- */

static atomic_long g_ran; /* tasks run on this rank, all threads */

static int twice_index(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  *result = inb_int(inb_args_at(args, 0)->u.i * 2);
  return 0;
}

static int post_twice_index(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  if (inb_any_failed(r)) {
    for (size_t i = 0; i < n; i++)
      if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    return verdict("inb_any_failed is true but every result is ok");
  }
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT || v->u.i != 2 * inb_batch_index(b, i))
      return verdict("n=%zu task %zu: result %lld (kind %d), expected %lld", n, i, v ? (long long)v->u.i : -1LL,
                     v ? (int)v->kind : -1, 2 * (long long)inb_batch_index(b, i));
  }
  return 0;
}

static void test_every_task_runs_once_and_returns_in_order_for_n_0_1_ranks_minus_1_and_1e5(void **state) {
  (void)state;
  reset_checks();
  const size_t ns[] = {0, 1, (size_t)g_size - 1, 100000};
  const size_t big = ns[3];
  int64_t *index = malloc(big * sizeof *index);
  assert_non_null(index);
  for (size_t i = 0; i < big; i++) index[i] = 3 * (int64_t)i + 1; /* indices differ from positions */
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    inb_batch *b = rank0_batch(index, ns[k]);
    for (int with_post = 1; with_post >= 0; with_post--) {
      for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
        inb_action act = {.name = "twice", .fn = twice_index, .init = "indices",
                          .post = with_post ? post_twice_index : NULL, .target = INB_MPI};
        inb_opts o = {.schedule = s};
        atomic_store(&g_ran, 0);
        int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
        expect_rc(rc, 0, "n=%zu %s %s: inb_run", ns[k], sched_name(s), with_post ? "post" : "no post");
        expect_eq(sum_ranks(atomic_load(&g_ran)), (long)ns[k], "n=%zu %s %s: tasks run on all ranks", ns[k],
                  sched_name(s), with_post ? "post" : "no post");
      }
    }
    inb_batch_free(&b);
  }
  free(index);
  assert_checks();
}

/* ---- results of every kind ----------------------------------------------------------------------------- */

enum { KIND_BUF = 512 };
static _Thread_local _Alignas(8) unsigned char tl_result[KIND_BUF]; /* a task's result lives here until copied */

/* What task i returns, built in buf (>= KIND_BUF bytes, 8-aligned). Task and post both call it. Ints
 * (extremes included), reals (NaN, -0.0, a subnormal), strings and bytes (empty too), arrays of every dtype
 * with 0 to 3 dimensions (an empty one too), bools and none. */
static inb_value kind_value(size_t i, unsigned char *buf) {
  size_t round = i / 8;
  switch (i % 8) {
  case 0:
    return inb_int(i == 8 ? INT64_MIN : i == 16 ? INT64_MAX : (int64_t)i * -1000003 + 5);
  case 1:
    return inb_real(i == 9 ? NAN : i == 17 ? -0.0 : i == 25 ? 1e-310 : (double)i / 3.0);
  case 2: {
    size_t len = round * 9 % 41; /* task 2: "" */
    for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)('a' + (k + i) % 26);
    buf[len] = '\0';
    return inb_str((const char *)buf);
  }
  case 3: {
    size_t len = round * 5 % 19; /* task 3: no bytes; the others hold zero bytes too */
    for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)(k * 31 + i);
    return inb_bytes(buf, len);
  }
  case 7:
    return round % 2 ? inb_none() : inb_bool(round % 4 == 0);
  default: { /* 4, 5, 6: arrays; the dtypes cycle through all ten by task 30 */
    inb_array a = {.dtype = (inb_dtype)((round * 3 + i % 8 - 4) % 10), .ndim = (int)((round + i % 8) % 4),
                   .data = buf};
    for (int d = 0; d < a.ndim; d++) a.shape[d] = 1 + (int64_t)((i + (size_t)d) % 3);
    if (i == 12) a.ndim = 1, a.shape[0] = 0; /* an empty array */
    size_t bytes = inb_array_count(&a) * inb_dtype_size(a.dtype);
    for (size_t k = 0; k < bytes; k++) buf[k] = (unsigned char)(k * 13 + i * 7 + 1);
    return inb_arr(a);
  }
  }
}

/* Task i fails when i % 11 == 5, with code 40 + i and a message that does not depend on the rank. */
static bool kind_fails(size_t i) { return i % 11 == 5; }

static int mixed_kinds(inb_item *it, const inb_args *args, inb_value *result) {
  size_t i = (size_t)inb_args_at(args, 0)->u.i;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (i != inb_item_task(it)) return inb_fail(it, 98, "task %zu got index %zu", inb_item_task(it), i);
  if (kind_fails(i)) return inb_fail(it, 40 + (int)i, "task %zu refused (mixed kinds)", i);
  *result = kind_value(i, tl_result);
  return 0;
}

/* Compares a value with its expectation byte for byte; says why when it differs. */
static bool same_value(const inb_value *got, const inb_value *want, char *why, size_t cap) {
  if (got->kind != want->kind) return snprintf(why, cap, "kind %d, expected %d", got->kind, want->kind), false;
  switch (want->kind) {
  case INB_NONE:
    return true;
  case INB_BOOL:
    if (got->u.b != want->u.b) return snprintf(why, cap, "bool %d, expected %d", got->u.b, want->u.b), false;
    return true;
  case INB_INT:
    if (got->u.i != want->u.i)
      return snprintf(why, cap, "int %lld, expected %lld", (long long)got->u.i, (long long)want->u.i), false;
    return true;
  case INB_REAL:
    if (memcmp(&got->u.r, &want->u.r, sizeof(double)) != 0)
      return snprintf(why, cap, "real %.17g, expected %.17g", got->u.r, want->u.r), false;
    return true;
  case INB_STR:
  case INB_BYTES:
    if (got->u.s.n != want->u.s.n)
      return snprintf(why, cap, "length %zu, expected %zu", got->u.s.n, want->u.s.n), false;
    if (want->u.s.n && memcmp(got->u.s.p, want->u.s.p, want->u.s.n) != 0)
      return snprintf(why, cap, "bytes differ"), false;
    if (want->kind == INB_STR && got->u.s.p[got->u.s.n] != '\0')
      return snprintf(why, cap, "string not NUL-terminated"), false;
    return true;
  case INB_ARRAY: {
    const inb_array *g = &got->u.a, *w = &want->u.a;
    if (g->dtype != w->dtype || g->ndim != w->ndim)
      return snprintf(why, cap, "array dtype %d ndim %d, expected dtype %d ndim %d", g->dtype, g->ndim, w->dtype,
                      w->ndim), false;
    for (int d = 0; d < w->ndim; d++)
      if (g->shape[d] != w->shape[d])
        return snprintf(why, cap, "shape[%d] = %lld, expected %lld", d, (long long)g->shape[d],
                        (long long)w->shape[d]), false;
    size_t bytes = inb_array_count(w) * inb_dtype_size(w->dtype);
    if (bytes && (uintptr_t)g->data % inb_dtype_size(g->dtype) != 0)
      return snprintf(why, cap, "array data %p not aligned for dtype %d", g->data, g->dtype), false;
    if (bytes && memcmp(g->data, w->data, bytes) != 0) return snprintf(why, cap, "array data differ"), false;
    return true;
  }
  }
  return snprintf(why, cap, "unknown kind %d", want->kind), false;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t k = 0; k < n; k++) h = (h ^ s[k]) * 1099511628211ull;
  return h;
}

/* A fingerprint of everything post sees except the ranks (which depend on the schedule). */
static uint64_t results_hash(const inb_results *r) {
  uint64_t h = 1469598103934665603ull;
  size_t n = inb_results_count(r);
  h = fnv(h, &n, sizeof n);
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    unsigned char ok = inb_result_ok(r, i);
    h = fnv(h, &ok, 1);
    if (e) {
      h = fnv(h, &e->task, sizeof e->task);
      h = fnv(h, &e->code, sizeof e->code);
      h = fnv(h, e->message, strlen(e->message));
    }
    if (!v) continue;
    h = fnv(h, &v->kind, sizeof v->kind);
    if (v->kind == INB_BOOL) h = fnv(h, &v->u.b, sizeof v->u.b);
    if (v->kind == INB_INT) h = fnv(h, &v->u.i, sizeof v->u.i);
    if (v->kind == INB_REAL) h = fnv(h, &v->u.r, sizeof v->u.r);
    if (v->kind == INB_STR || v->kind == INB_BYTES) h = fnv(fnv(h, &v->u.s.n, sizeof v->u.s.n), v->u.s.p, v->u.s.n);
    if (v->kind == INB_ARRAY) {
      h = fnv(h, &v->u.a.dtype, sizeof v->u.a.dtype);
      h = fnv(h, &v->u.a.ndim, sizeof v->u.a.ndim);
      h = fnv(h, v->u.a.shape, (size_t)v->u.a.ndim * sizeof v->u.a.shape[0]);
      h = fnv(h, v->u.a.data, inb_array_count(&v->u.a) * inb_dtype_size(v->u.a.dtype));
    }
  }
  return h;
}

static uint64_t g_hash; /* rank 0: results_hash of the last post_mixed_kinds */

static int post_mixed_kinds(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  _Alignas(8) unsigned char buf[KIND_BUF];
  char why[200];
  size_t n = inb_results_count(r), nfail = 0;
  g_hash = results_hash(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    if (kind_fails(i)) {
      char msg[64];
      snprintf(msg, sizeof msg, "task %zu refused (mixed kinds)", i);
      nfail++;
      if (inb_result_ok(r, i) || v || !e) return verdict("task %zu should have failed", i);
      if (e->task != i || e->code != 40 + (int)i || strcmp(e->message, msg) != 0 || e->rank < 0 || e->rank >= g_size)
        return verdict("task %zu: error record task %zu code %d rank %d message '%s'", i, e->task, e->code, e->rank,
                       e->message);
      continue;
    }
    if (!inb_result_ok(r, i) || !v || e)
      return verdict("task %zu failed: %s", i, e ? e->message : "(no error record)");
    inb_value want = kind_value(i, buf);
    if (!same_value(v, &want, why, sizeof why)) return verdict("task %zu: %s", i, why);
  }
  if (inb_failed_count(r) != nfail || inb_any_failed(r) != (nfail > 0))
    return verdict("inb_failed_count %zu, expected %zu", inb_failed_count(r), nfail);
  return 0;
}

typedef struct {
  inb_schedule schedule;
  inb_target local;
  size_t chunk;
} config_t;

/* Runs the mixed-kinds action with config cf; returns inb_run's status; *hash is post's fingerprint. */
static int run_mixed(inb_batch *b, config_t cf, uint64_t *hash, long *ran) {
  inb_action act = {.name = "mixed", .fn = mixed_kinds, .init = "indices", .post = post_mixed_kinds,
                    .target = INB_MPI, .local = cf.local};
  inb_opts o = {.schedule = cf.schedule, .chunk = cf.chunk, .n_workers = 2};
  atomic_store(&g_ran, 0);
  g_hash = 0;
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  *hash = g_hash;
  *ran = sum_ranks(atomic_load(&g_ran));
  return rc;
}

static const char *config_name(config_t cf, char *buf, size_t cap) {
  snprintf(buf, cap, "%s chunk %zu local %s", sched_name(cf.schedule), cf.chunk,
           cf.local == INB_FOR ? "for" : "threads");
  return buf;
}

static void test_mixed_result_kinds_arrive_on_rank0_in_task_order(void **state) {
  (void)state;
  reset_checks();
  size_t n = 40 + (size_t)g_size;
  inb_batch *b = rank0_batch(NULL, n);
  const config_t configs[] = {{INB_STATIC, INB_THREADS, 0}, {INB_DYNAMIC, INB_THREADS, 0}};
  for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
    uint64_t hash;
    long ran;
    char name[64];
    int rc = run_mixed(b, configs[k], &hash, &ran);
    expect_rc(rc, 0, "%s: inb_run", config_name(configs[k], name, sizeof name));
    expect_eq(ran, (long)n, "%s: tasks run on all ranks", name);
  }
  inb_batch_free(&b);
  assert_checks();
}

static void test_static_and_dynamic_give_identical_results(void **state) {
  (void)state;
  reset_checks();
  size_t n = 40 + (size_t)g_size;
  inb_batch *b = rank0_batch(NULL, n);
  const config_t configs[] = {{INB_STATIC, INB_THREADS, 0}, {INB_DYNAMIC, INB_THREADS, 0},
                              {INB_DYNAMIC, INB_THREADS, 1}, {INB_DYNAMIC, INB_FOR, 5},
                              {INB_STATIC, INB_FOR, 0}};
  uint64_t first = 0;
  for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
    uint64_t hash;
    long ran;
    char name[64];
    int rc = run_mixed(b, configs[k], &hash, &ran);
    config_name(configs[k], name, sizeof name);
    expect_rc(rc, 0, "%s: inb_run", name);
    if (k == 0) first = hash;
    if (g_rank == 0) expect_eq(hash == first, 1, "%s: results identical to those of %s", name, sched_name(INB_STATIC));
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- skewed task costs under DYNAMIC ------------------------------------------------------------------- */

static bool is_slow(int64_t i) { return i == 0 || i == 1 || i == 2 || i == 1000 || i == 1999; }

static int skewed(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  int64_t i = inb_args_at(args, 0)->u.i;
  if (is_slow(i)) sleep_us(20000);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  *result = inb_int(i + 1);
  return 0;
}

static int post_plus_one(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                         inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    if (!v || v->kind != INB_INT || v->u.i != inb_batch_index(b, i) + 1)
      return verdict("task %zu: result %lld, expected %lld", i, v ? (long long)v->u.i : -1LL,
                     (long long)inb_batch_index(b, i) + 1);
  }
  return 0;
}

static void test_skewed_task_costs_complete_correctly_with_dynamic(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = rank0_batch(NULL, 2000);
  inb_action act = {.name = "skewed", .fn = skewed, .init = "indices", .post = post_plus_one, .target = INB_MPI};
  inb_opts o = {.schedule = INB_DYNAMIC};
  atomic_store(&g_ran, 0);
  double t0 = MPI_Wtime();
  int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
  double t1 = MPI_Wtime();
  expect_rc(rc, 0, "2000 skewed tasks, dynamic: inb_run");
  expect_eq(sum_ranks(atomic_load(&g_ran)), 2000, "2000 skewed tasks: tasks run on all ranks");
  print_message("  2000 skewed tasks (5 x 20 ms) on %d ranks: %.1f ms\n", g_size, (t1 - t0) * 1e3);
  inb_batch_free(&b);
  assert_checks();
}

/* ---- local targets: for and threads, 1 and 2 workers --------------------------------------------------- */

static atomic_int g_active, g_max_active; /* tasks running at once on this rank, and the most seen */

static int overlapping(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  int now = atomic_fetch_add(&g_active, 1) + 1;
  int seen = atomic_load(&g_max_active);
  while (now > seen && !atomic_compare_exchange_weak(&g_max_active, &seen, now)) {
  }
  sleep_us(300); /* room for another worker to overlap, if there is one */
  atomic_fetch_sub(&g_active, 1);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  *result = inb_int(inb_args_at(args, 0)->u.i + 1);
  return 0;
}

static void test_local_for_and_threads_with_one_and_two_workers_give_the_same_results(void **state) {
  (void)state;
  reset_checks();
  size_t n = 8 * (size_t)g_size + 1;
  inb_batch *b = rank0_batch(NULL, n);
  const inb_target locals[] = {INB_FOR, INB_THREADS};
  for (size_t l = 0; l < 2; l++) {
    for (int nw = 1; nw <= 2; nw++) {
      for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
        inb_action act = {.name = "local", .fn = overlapping, .init = "indices", .post = post_plus_one,
                          .target = INB_MPI, .local = locals[l]};
        inb_opts o = {.schedule = s, .n_workers = nw}; /* rank 0's n_workers applies on every rank */
        atomic_store(&g_ran, 0);
        atomic_store(&g_max_active, 0);
        int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
        const char *ln = locals[l] == INB_FOR ? "for" : "threads";
        expect_rc(rc, 0, "local %s n_workers %d %s: inb_run", ln, nw, sched_name(s));
        expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "local %s n_workers %d %s: tasks run on all ranks", ln,
                  nw, sched_name(s));
        int most = locals[l] == INB_FOR ? 1 : nw;
        expect_eq(atomic_load(&g_max_active) <= most, 1, "local %s n_workers %d %s: at most %d tasks at once on "
                  "this rank (saw %d)", ln, nw, sched_name(s), most, atomic_load(&g_max_active));
      }
    }
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- a nested inb_run with target mpi runs inline ------------------------------------------------------ */

static _Thread_local int64_t tl_nested_sum;
static _Thread_local pthread_t tl_outer_thread;
static _Thread_local int tl_nested_elsewhere; /* nested tasks that ran on another thread than their caller */

static int nested_task(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  if (!pthread_equal(pthread_self(), tl_outer_thread)) tl_nested_elsewhere++;
  int64_t i = inb_args_at(args, 0)->u.i;
  const inb_value *fail = inb_args_get(args, "fail_first");
  if (fail && i == 0) return inb_fail(it, 3, "nested task 0 refused");
  tl_nested_sum += i;
  return 0;
}

/* Outer task i runs a nested mpi action over i % 5 + 1 items (the first failing when i % 4 == 3). */
static int outer_task(inb_item *it, const inb_args *args, inb_value *result) {
  int64_t i = inb_args_at(args, 0)->u.i;
  int64_t m = i % 5 + 1;
  bool fail = i % 4 == 3;
  inb_batch *nb = inb_batch_new(NULL, (size_t)m);
  inb_args *call = inb_args_new();
  if (!nb || !call) return inb_fail(it, INB_ENOMEM, "out of memory");
  if (fail) inb_args_put(call, "fail_first", inb_bool(true));
  inb_action act = {.name = "inner", .fn = nested_task, .init = "indices", .target = INB_MPI};
  inb_opts o = {.schedule = i % 2 ? INB_STATIC : INB_DYNAMIC, .n_workers = 2};
  tl_nested_sum = 0;
  tl_nested_elsewhere = 0;
  tl_outer_thread = pthread_self();
  int rc = inb_run(nb, &act, call, i % 3 ? &o : NULL, NULL);
  inb_args_free(&call);
  inb_batch_free(&nb);
  int want = fail ? INB_EITEM : 0;
  if (rc != want)
    return inb_fail(it, 61, "task %lld on rank %d: nested inb_run returned %d, expected %d: %s", (long long)i,
                    inb_item_rank(it), rc, want, inb_errmsg());
  if (tl_nested_elsewhere)
    return inb_fail(it, 62, "task %lld on rank %d: %d nested tasks ran on another thread", (long long)i,
                    inb_item_rank(it), tl_nested_elsewhere);
  *result = inb_int(tl_nested_sum);
  return 0;
}

static int post_nested(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    int64_t m = (int64_t)i % 5 + 1, want = m * (m - 1) / 2;
    const inb_value *v = inb_result_value(r, i);
    if (v->kind != INB_INT || v->u.i != want)
      return verdict("task %zu: nested sum %lld, expected %lld", i, (long long)v->u.i, (long long)want);
  }
  return 0;
}

static void test_nested_mpi_run_inside_a_task_runs_inline(void **state) {
  (void)state;
  reset_checks();
  size_t n = 4 * (size_t)g_size + 4;
  inb_batch *b = rank0_batch(NULL, n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "outer", .fn = outer_task, .init = "indices", .post = post_nested, .target = INB_MPI};
    inb_opts o = {.schedule = s, .n_workers = 2};
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "outer %s: inb_run", sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_task_runs_once_and_returns_in_order_for_n_0_1_ranks_minus_1_and_1e5),
      cmocka_unit_test(test_mixed_result_kinds_arrive_on_rank0_in_task_order),
      cmocka_unit_test(test_static_and_dynamic_give_identical_results),
      cmocka_unit_test(test_skewed_task_costs_complete_correctly_with_dynamic),
      cmocka_unit_test(test_local_for_and_threads_with_one_and_two_workers_give_the_same_results),
      cmocka_unit_test(test_nested_mpi_run_inside_a_task_runs_inline),
  };
  return mpitest_main(&argc, &argv, "mpi.test_results", tests, sizeof tests / sizeof tests[0]);
}
