/* MPI tests of message splitting: run with INB_MPI_PIECE_BYTES=256 (ctest sets it), so every engine message
 * longer than 256 bytes travels as a first piece and continuation pieces, the path that messages over 2 GiB
 * take, exercised here with call arguments, item rows, results and error messages of a few KiB.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. */
#include "mpitest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long g_ran; /* tasks run on this rank, all threads */

/* len printable characters (and a NUL) that depend on seed. */
static void long_text(char *buf, size_t len, size_t seed) {
  for (size_t k = 0; k < len; k++) buf[k] = k % 61 == 60 ? ' ' : (char)('A' + (k * 7 + seed) % 26);
  buf[len] = '\0';
}

static void fill_bytes(unsigned char *p, size_t n, size_t seed) {
  for (size_t k = 0; k < n; k++) p[k] = (unsigned char)(k * 29 + seed * 3 + 1);
}

static bool aligned(const inb_array *a) { return (uintptr_t)a->data % inb_dtype_size(a->dtype) == 0; }

static void test_the_piece_size_reaches_every_rank(void **state) {
  (void)state;
  reset_checks();
  const char *env = getenv("INB_MPI_PIECE_BYTES");
  expect_eq(env && strcmp(env, "256") == 0, 1, "INB_MPI_PIECE_BYTES is 256 in this rank's environment (found %s)",
            env ? env : "nothing");
  assert_checks();
}

/* ---- call arguments, results and error messages of a few KiB ---------------------------------------- */

enum { BIG_TEXT = 3000, BIG_VEC = 1000, BIG_BLOB = 777, FAIL_TEXT = 1200, TL_BYTES = 8192 };

static char g_text[BIG_TEXT + 1];
static double g_vec[BIG_VEC];
static unsigned char g_blob[BIG_BLOB];
static int16_t g_grid[3 * 500];
static _Thread_local _Alignas(8) unsigned char tl_result[TL_BYTES];

static void make_call_data(void) {
  long_text(g_text, BIG_TEXT, 11);
  for (size_t k = 0; k < BIG_VEC; k++) g_vec[k] = (double)k * 0.125 - 40.0;
  fill_bytes(g_blob, BIG_BLOB, 5);
  for (size_t k = 0; k < 3 * 500; k++) g_grid[k] = (int16_t)(k * 13 - 9000);
}

/* What task i returns or, when i % 5 == 3, its failure message; all a few KiB long. */
static bool big_fails(size_t i) { return i % 5 == 3; }

static inb_value big_result(size_t i, unsigned char *buf) {
  if (i % 3 == 0) {
    long_text((char *)buf, 1500 + 97 * i, i);
    return inb_str((const char *)buf);
  }
  if (i % 3 == 1) {
    inb_array a = {.dtype = INB_I32, .ndim = 2, .shape = {2, (int64_t)(350 + 7 * i)}, .data = buf};
    for (size_t k = 0; k < inb_array_count(&a); k++) ((int32_t *)buf)[k] = (int32_t)(k * 100003 + i);
    return inb_arr(a);
  }
  fill_bytes(buf, 2100 + i, i);
  return inb_bytes(buf, 2100 + i);
}

static const char *big_call_wrong(const inb_args *a) {
  const inb_value *v;
  if (inb_args_npos(a) != 4 || inb_args_nnamed(a) != 1) return "the call's arguments are not 3 positional and 1 named";
  if ((v = inb_args_at(a, 1))->kind != INB_STR || v->u.s.n != BIG_TEXT || strcmp(v->u.s.p, g_text) != 0)
    return "the call's 3000-character string differs";
  v = inb_args_at(a, 2);
  if (v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.ndim != 1 || v->u.a.shape[0] != BIG_VEC)
    return "the call's float64 array of 1000 is not one";
  if (!aligned(&v->u.a) || memcmp(v->u.a.data, g_vec, sizeof g_vec) != 0)
    return "the call's float64 array of 1000 is misaligned or differs";
  if ((v = inb_args_at(a, 3))->kind != INB_BYTES || v->u.s.n != BIG_BLOB || memcmp(v->u.s.p, g_blob, BIG_BLOB) != 0)
    return "the call's 777 bytes differ";
  v = inb_args_get(a, "grid");
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != INB_I16 || v->u.a.ndim != 2 || v->u.a.shape[0] != 3 ||
      v->u.a.shape[1] != 500 || !aligned(&v->u.a) || memcmp(v->u.a.data, g_grid, sizeof g_grid) != 0)
    return "the call's named int16 3x500 array differs";
  return NULL;
}

static int big_task(inb_item *it, const inb_args *args, inb_value *result) {
  size_t i = inb_item_task(it);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  const char *w = big_call_wrong(args);
  if (w) return inb_fail(it, 98, "rank %d task %zu: %s", inb_item_rank(it), i, w);
  if (big_fails(i)) {
    char text[FAIL_TEXT + 1];
    long_text(text, FAIL_TEXT, i);
    return inb_fail(it, 9, "task %zu on rank %d: %s", i, inb_item_rank(it), text);
  }
  *result = big_result(i, tl_result);
  return 0;
}

static int post_big(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  static _Alignas(8) unsigned char want_buf[TL_BYTES];
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    if (big_fails(i)) {
      char text[FAIL_TEXT + 1], want[FAIL_TEXT + 64];
      long_text(text, FAIL_TEXT, i);
      if (!e) return verdict("task %zu should have failed", i);
      snprintf(want, sizeof want, "task %zu on rank %d: %s", i, e->rank, text);
      if (e->task != i || e->code != 9 || strcmp(e->message, want) != 0)
        return verdict("task %zu: error record task %zu code %d, message of %zu characters (expected %zu): %.80s...", i,
                       e->task, e->code, strlen(e->message), strlen(want), e->message);
      continue;
    }
    if (!v || e) return verdict("task %zu failed: %.300s", i, e ? e->message : "?");
    inb_value want = big_result(i, want_buf);
    if (v->kind != want.kind) return verdict("task %zu: kind %d, expected %d", i, v->kind, want.kind);
    if (want.kind == INB_ARRAY) {
      size_t bytes = inb_array_count(&want.u.a) * 4;
      if (v->u.a.dtype != INB_I32 || v->u.a.ndim != 2 || v->u.a.shape[0] != 2 || v->u.a.shape[1] != want.u.a.shape[1] ||
          !aligned(&v->u.a) || memcmp(v->u.a.data, want.u.a.data, bytes) != 0)
        return verdict("task %zu: its int32 array of %zu bytes differs", i, bytes);
    } else if (v->u.s.n != want.u.s.n || memcmp(v->u.s.p, want.u.s.p, want.u.s.n) != 0) {
      return verdict("task %zu: its %s of %zu bytes differs (got %zu bytes)", i, want.kind == INB_STR ? "string" : "bytes",
                     want.u.s.n, v->u.s.n);
    }
  }
  return 0;
}

static void test_call_arguments_results_and_messages_of_a_few_kib_travel_in_pieces(void **state) {
  (void)state;
  reset_checks();
  make_call_data();
  size_t n = 3 * (size_t)g_size + 4;
  inb_batch *b = inb_batch_new(NULL, g_rank == 0 ? n : 1);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_args *call = NULL;
    if (g_rank == 0) {
      call = inb_args_new();
      inb_args_add(call, inb_str(g_text));
      inb_args_add(call, inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {BIG_VEC}, .data = g_vec}));
      inb_args_add(call, inb_bytes(g_blob, BIG_BLOB));
      inb_args_put(call, "grid", inb_arr((inb_array){.dtype = INB_I16, .ndim = 2, .shape = {3, 500}, .data = g_grid}));
    }
    inb_action act = {.name = "big", .fn = big_task, .init = "indices", .post = post_big, .target = INB_MPI};
    inb_opts o = {.schedule = s, .n_workers = 2, .chunk = s == INB_DYNAMIC ? 2 : 0};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, call, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run", sched_name(s));
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "%s: tasks run on all ranks", sched_name(s));
    inb_args_free(&call);
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- item rows of a few KiB ------------------------------------------------------------------------- */

enum { PIX = 700, W = 100 };

static inb_batch *rows_batch(size_t n) {
  inb_batch *b = inb_batch_new(NULL, n);
  inb_array t = {.dtype = INB_I16, .ndim = 2, .shape = {(int64_t)n, 3}, .data = malloc(n * 3 * 2)};
  inb_array pix = {.dtype = INB_U8, .ndim = 2, .shape = {(int64_t)n, PIX}, .data = malloc(n * PIX)};
  inb_array w = {.dtype = INB_F64, .ndim = 2, .shape = {(int64_t)n, W}, .data = malloc(n * W * 8)};
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < 3; k++) ((int16_t *)t.data)[i * 3 + k] = (int16_t)(i * 3 + k);
    fill_bytes((unsigned char *)pix.data + i * PIX, PIX, i);
    for (size_t k = 0; k < W; k++) ((double *)w.data)[i * W + k] = (double)i + (double)k / 4.0;
  }
  inb_batch_set(b, "t", t, true); /* 6-byte rows first: what follows must be padded back into alignment */
  inb_batch_set(b, "pix", pix, true);
  inb_batch_set(b, "w", w, true);
  return b;
}

/* Checks its rows and returns the "w" row doubled, as a float64 array. */
static int rows_task(inb_item *it, const inb_args *args, inb_value *result) {
  size_t i = inb_item_task(it);
  unsigned char pix[PIX];
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  fill_bytes(pix, PIX, i);
  const inb_value *t = inb_args_get(args, "t"), *p = inb_args_get(args, "pix"), *w = inb_args_get(args, "w");
  if (!t || !p || !w || t->kind != INB_ARRAY || p->kind != INB_ARRAY || w->kind != INB_ARRAY)
    return inb_fail(it, 98, "rank %d task %zu: a row is missing", inb_item_rank(it), i);
  if (!aligned(&t->u.a) || !aligned(&w->u.a))
    return inb_fail(it, 98, "rank %d task %zu: rows misaligned (t %p, w %p)", inb_item_rank(it), i, t->u.a.data, w->u.a.data);
  const int16_t *tv = t->u.a.data;
  if (t->u.a.shape[0] != 3 || tv[0] != (int16_t)(i * 3) || tv[2] != (int16_t)(i * 3 + 2))
    return inb_fail(it, 98, "rank %d task %zu: row 't' differs", inb_item_rank(it), i);
  if (p->u.a.shape[0] != PIX || memcmp(p->u.a.data, pix, PIX) != 0)
    return inb_fail(it, 98, "rank %d task %zu: row 'pix' differs", inb_item_rank(it), i);
  const double *wv = w->u.a.data;
  double *out = (double *)tl_result;
  if (w->u.a.shape[0] != W) return inb_fail(it, 98, "rank %d task %zu: row 'w' has another shape", inb_item_rank(it), i);
  for (size_t k = 0; k < W; k++) {
    if (wv[k] != (double)i + (double)k / 4.0) return inb_fail(it, 98, "rank %d task %zu: row 'w' differs", inb_item_rank(it), i);
    out[k] = 2 * wv[k];
  }
  *result = inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {W}, .data = out});
  return 0;
}

static int post_rows(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                     inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu items", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    if (v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.shape[0] != W || !aligned(&v->u.a))
      return verdict("task %zu: not an aligned float64 array of %d", i, W);
    for (size_t k = 0; k < W; k++)
      if (((const double *)v->u.a.data)[k] != 2 * ((double)i + (double)k / 4.0))
        return verdict("task %zu: element %zu differs", i, k);
  }
  return 0;
}

static void test_item_rows_of_a_few_kib_travel_in_pieces(void **state) {
  (void)state;
  reset_checks();
  size_t n = 3 * (size_t)g_size + 2;
  inb_batch *b = rows_batch(g_rank == 0 ? n : 1);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "rows", .fn = rows_task, .init = "items", .post = post_rows, .target = INB_MPI};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run", sched_name(s));
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "%s: tasks run on all ranks", sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- a long failure message, without post ----------------------------------------------------------- */

enum { LONG_FAIL = 1500 };

static int fails_long(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  char text[LONG_FAIL + 1];
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_item_task(it) != 1) return 0;
  long_text(text, LONG_FAIL, 3);
  return inb_fail(it, 4, "%s", text);
}

static void test_a_long_failure_message_gives_the_same_errmsg_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  char head[201]; /* inb_errmsg() may be cut (1 KiB here), but it must be cut alike on every rank */
  long_text(head, sizeof head - 1, 3);
  size_t n = 2 * (size_t)g_size + 1;
  inb_batch *b = inb_batch_new(NULL, g_rank == 0 ? n : 1);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "long message", .fn = fails_long, .init = "indices", .target = INB_MPI};
    inb_opts o = {.schedule = s};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    const char *msg = inb_errmsg();
    expect_rc(rc, INB_EITEM, "%s: inb_run without post, one task failing", sched_name(s));
    expect_eq(strstr(msg, head) != NULL, 1, "%s: inb_errmsg() (%zu characters) holds the start of the task's "
              "%d-character message", sched_name(s), strlen(msg), LONG_FAIL);
    expect_eq(same_string_on_all_ranks(msg), 1, "%s: the same inb_errmsg() on every rank (here %zu characters)",
              sched_name(s), strlen(msg));
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "%s: tasks run on all ranks", sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_piece_size_reaches_every_rank),
      cmocka_unit_test(test_call_arguments_results_and_messages_of_a_few_kib_travel_in_pieces),
      cmocka_unit_test(test_item_rows_of_a_few_kib_travel_in_pieces),
      cmocka_unit_test(test_a_long_failure_message_gives_the_same_errmsg_on_every_rank),
  };
  return mpitest_main(&argc, &argv, "mpi.test_pieces", tests, sizeof tests / sizeof tests[0]);
}
