/* MPI tests of message splitting: run with INB_MPI_PIECE_BYTES=256 (ctest sets it), so every engine message
 * longer than 256 bytes travels as a first piece and continuation pieces, the path that messages over 2 GiB
 * take, exercised here with call arguments, item rows, results and error messages of a few KiB.
 *
 * Every test is collective: all ranks call inb_run the same number of times with the same action. Tasks and
 * posts never call cmocka asserts (a failed assert would leave the other ranks inside a collective): tasks
 * report what is wrong with inb_fail, post records the first mismatch in g_verdict and returns CHECK_FAILED,
 * and each test asserts at its end, after its last collective call. Only rank 0 sees post's verdict; every
 * rank checks its own status codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>
#include <mpi.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- ranks, deferred checks and collective comparisons (the same in every tests/mpi program) ---------- */

enum { CHECK_FAILED = 99 }; /* what a post returns when the results are not what the test expects */

static int g_rank, g_size;
static char g_verdict[1024]; /* rank 0: the first mismatch a post found in this test */

typedef struct {
  long got, want;
  char what[200];
  char msg[300];
} check_t;
static check_t g_checks[256];
static int g_nchecks;

static void reset_checks(void) {
  g_nchecks = 0;
  g_verdict[0] = '\0';
}

/* Records a check for assert_checks (asserting now could leave the other ranks in a collective). */
static void vexpect(long got, long want, const char *msg, const char *fmt, va_list ap) {
  if (g_nchecks == (int)(sizeof g_checks / sizeof g_checks[0])) return;
  check_t *c = &g_checks[g_nchecks++];
  c->got = got;
  c->want = want;
  vsnprintf(c->what, sizeof c->what, fmt, ap);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "");
}

static void expect_eq(long got, long want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexpect(got, want, NULL, fmt, ap);
  va_end(ap);
}

/* A status check that keeps inb_errmsg() for the report. */
static void expect_rc(int rc, int want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexpect(rc, want, rc != want ? inb_errmsg() : NULL, fmt, ap);
  va_end(ap);
}

/* The end of a test: every recorded check, and on rank 0 post's verdict. */
static void assert_checks(void) {
  int bad = 0;
  for (int k = 0; k < g_nchecks; k++) {
    const check_t *c = &g_checks[k];
    if (c->got == c->want) continue;
    print_error("rank %d: %s: got %ld, expected %ld%s%s\n", g_rank, c->what, c->got, c->want,
                c->msg[0] ? "; errmsg: " : "", c->msg);
    bad++;
  }
  if (g_rank == 0 && g_verdict[0]) {
    print_error("rank 0: post: %s\n", g_verdict);
    bad++;
  }
  reset_checks();
  assert_int_equal(bad, 0);
}

/* Post's report of a mismatch: keeps the first one of the test; returns CHECK_FAILED. */
static int verdict(const char *fmt, ...) {
  if (!g_verdict[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_verdict, sizeof g_verdict, fmt, ap);
    va_end(ap);
  }
  return CHECK_FAILED;
}

static long sum_ranks(long v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  return v;
}

static const char *sched_name(inb_schedule s) { return s == INB_STATIC ? "static" : "dynamic"; }

/* Rank 0's copy of s, on every rank (malloc'd; the caller frees it). Collective. */
static char *rank0_string(const char *s) {
  unsigned long n = g_rank == 0 ? strlen(s) : 0;
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
  char *copy = malloc(n + 1);
  if (g_rank == 0) memcpy(copy, s, n + 1);
  MPI_Bcast(copy, (int)n + 1, MPI_CHAR, 0, MPI_COMM_WORLD);
  return copy;
}

/* 1 on every rank when every rank's s equals rank 0's. Collective. */
static long same_string_on_all_ranks(const char *s) {
  char *root = rank0_string(s);
  int same = strcmp(root, s) == 0;
  free(root);
  MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return same;
}

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
                    inb_batch **out) {
  (void)call, (void)extra, (void)out;
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
                     inb_batch **out) {
  (void)call, (void)extra, (void)out;
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

/* ---- main: every rank runs the group; the exit status is the largest failure count of any rank -------- */

/* Ranks other than 0 write their cmocka output to a scratch file, shown (prefixed) only when they failed. */
static FILE *quiet_rank(int *saved_stderr) {
  FILE *f = tmpfile();
  fflush(stdout), fflush(stderr);
  *saved_stderr = dup(2);
  if (f && *saved_stderr >= 0) dup2(fileno(f), 1), dup2(fileno(f), 2);
  return f;
}

static void replay_if_failed(FILE *f, int saved_stderr, int failed) {
  fflush(stdout), fflush(stderr);
  if (saved_stderr < 0) return;
  dup2(saved_stderr, 2);
  close(saved_stderr);
  if (!failed || !f) return;
  char line[1024];
  rewind(f);
  while (fgets(line, sizeof line, f)) fprintf(stderr, "[rank %d] %s", g_rank, line);
}

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv) != 0) {
    fprintf(stderr, "inb_mpi_init: %s\n", inb_errmsg());
    return 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int saved_stderr = -1;
  FILE *quiet = g_rank != 0 ? quiet_rank(&saved_stderr) : NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_piece_size_reaches_every_rank),
      cmocka_unit_test(test_call_arguments_results_and_messages_of_a_few_kib_travel_in_pieces),
      cmocka_unit_test(test_item_rows_of_a_few_kib_travel_in_pieces),
      cmocka_unit_test(test_a_long_failure_message_gives_the_same_errmsg_on_every_rank),
  };
  int failed = cmocka_run_group_tests_name("mpi.test_pieces", tests, NULL, NULL);
  if (g_rank != 0) replay_if_failed(quiet, saved_stderr, failed);
  if (quiet) fclose(quiet);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  inb_mpi_finalize();
  return failed > 255 ? 255 : failed;
}
