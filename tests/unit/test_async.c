/* Unit tests of the async target: every task
 * starts at once on one libuv loop in the calling thread and finishes, now or later, with inb_done; results
 * come back in task order; a second inb_done, a task that never finishes and a start that fails each become
 * an error record while the other tasks go on; handles a task leaves open are closed before inb_run returns.
 *
 * Everything a task does runs on the calling thread, yet tasks still never call cmocka asserts (an assert
 * longjmps out of the loop): they record what they see in globals, post checks the results and keeps the
 * first mismatch with verdict() (tests/common/checks.h), and the test asserts it with assert_checks() after
 * inb_run returns. Timers stand in for slow work; no test sleeps to synchronise. What a task allocates is
 * freed in its handle's close callback, except where the engine closes a handle itself (with a NULL
 * callback): those handles are static. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>
#include <uv.h>

#include "checks.h" /* verdict(), and assert_checks() to assert it */

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* inb_run on n tasks (init "indices", index = position) of `act`; returns its status. */
static int run_n(const inb_action *act, size_t n, const inb_opts *o) {
  inb_batch *b = inb_batch_new(NULL, n);
  assert_non_null(b);
  int rc = inb_run(b, act, NULL, o, NULL);
  inb_batch_free(&b);
  return rc;
}

/* ---- a task that finishes on a timer ------------------------------------------------------------------- */

/* One timer per task, on the heap: its close callback frees it, after inb_done. */
typedef struct {
  uv_timer_t timer;
  inb_item *it;
  int64_t value;
} timer_task;

static pthread_t g_caller;        /* the thread that called inb_run */
static size_t g_off_caller;       /* starts and callbacks that ran on another thread */
static size_t g_starts;

static void free_timer_task(uv_handle_t *h) { free(h->data); }

static void timer_task_fired(uv_timer_t *t) {
  timer_task *tt = t->data;
  if (!pthread_equal(pthread_self(), g_caller)) g_off_caller++;
  char text[32]; /* inb_done copies the value: a local buffer is fine here */
  snprintf(text, sizeof text, "t%lld", (long long)tt->value);
  inb_done(tt->it, 0, tt->value % 2 ? inb_int(tt->value) : inb_str(text));
  uv_close((uv_handle_t *)&tt->timer, free_timer_task);
}

/* Starts a timer of delay_ms that calls cb, which finishes `it` with `value`. */
static int start_timer_cb(inb_item *it, uint64_t delay_ms, int64_t value, uv_timer_cb cb) {
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
  rc = uv_timer_start(&tt->timer, cb, delay_ms, 0);
  if (rc) {
    uv_close((uv_handle_t *)&tt->timer, free_timer_task);
    return inb_fail(it, INB_EIO, "uv_timer_start: %s", uv_strerror(rc));
  }
  return 0;
}

/* Starts a timer of delay_ms that finishes `it` with `value` (odd: INT; even: STR "t<value>"). */
static int start_timer_task(inb_item *it, uint64_t delay_ms, int64_t value) {
  return start_timer_cb(it, delay_ms, value, timer_task_fired);
}

/* What timer_task_fired gives task value v; post checks it. */
static bool is_timer_value(const inb_value *v, int64_t want) {
  if (!v) return false;
  if (want % 2) return v->kind == INB_INT && v->u.i == want;
  char text[32];
  snprintf(text, sizeof text, "t%lld", (long long)want);
  return v->kind == INB_STR && strcmp(v->u.s.p, text) == 0;
}

/* Checks that task i holds value 7 * i + 1 (or its STR form). */
static int post_check_values(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                             inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu tasks", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    if (!is_timer_value(inb_result_value(r, i), 7 * (int64_t)i + 1))
      return verdict("task %zu: wrong result (kind %d) in its position", i, (int)inb_result_value(r, i)->kind);
  }
  return 0;
}

/* ---- 200 tasks of 100 ms each finish together ------------------------------------------------------------ */

static int start_wait_100ms(inb_item *it, const inb_args *args) {
  g_starts++;
  int64_t i = inb_args_at(args, 0)->u.i;
  return start_timer_task(it, 100, 7 * i + 1);
}

static void test_two_hundred_tasks_waiting_100ms_each_finish_together_in_under_two_seconds(void **state) {
  (void)state;
  reset_checks();
  g_starts = 0;
  g_caller = pthread_self();
  g_off_caller = 0;
  inb_action act = {.name = "wait_100ms", .start = start_wait_100ms, .init = "indices", .post = post_check_values,
                    .target = INB_ASYNC};
  double t0 = now_s();
  int rc = run_n(&act, 200, NULL);
  double took = now_s() - t0;
  print_message("  200 tasks x 100 ms: %.3f s (serial: 20 s)\n", took);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_starts, 200);
  assert_int_equal(g_off_caller, 0);
  assert_true(took >= 0.08); /* the timers really waited (libuv's clock is coarse: a few ms of slack) */
  assert_true(took < 2.0);
}

/* ---- results in task order ------------------------------------------------------------------------------ */

/* A pseudo-random 0..40 ms by position; a third of the tasks finish inside start, before later ones start. */
static int start_random_delay(inb_item *it, const inb_args *args) {
  int64_t i = inb_args_at(args, 0)->u.i;
  unsigned seed = (unsigned)((size_t)i * 2654435761u + 12345u);
  unsigned r = (unsigned)rand_r(&seed);
  if (r % 3 == 0) {
    char text[32];
    int64_t v = 7 * i + 1;
    snprintf(text, sizeof text, "t%lld", (long long)v);
    inb_done(it, 0, v % 2 ? inb_int(v) : inb_str(text));
    return 0;
  }
  return start_timer_task(it, r % 41, 7 * i + 1);
}

static void test_results_arrive_in_task_order_under_random_delays(void **state) {
  (void)state;
  reset_checks();
  inb_action act = {.name = "random_delay", .start = start_random_delay, .init = "indices",
                    .post = post_check_values, .target = INB_ASYNC};
  int rc = run_n(&act, 150, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
}

/* ---- the default target, run_once, the per-call override ------------------------------------------------ */

static int start_item_task(inb_item *it, const inb_args *args) {
  (void)args;
  g_starts++;
  if (!pthread_equal(pthread_self(), g_caller)) g_off_caller++;
  int64_t i = (int64_t)inb_item_task(it);
  return start_timer_task(it, 5, 7 * i + 1);
}

static void test_an_action_with_only_start_runs_async_without_naming_the_target(void **state) {
  (void)state;
  reset_checks();
  g_starts = 0;
  g_caller = pthread_self();
  g_off_caller = 0;
  inb_action act = {.name = "only_start", .start = start_item_task, .init = "indices", .post = post_check_values};
  int rc = run_n(&act, 10, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_starts, 10);
  assert_int_equal(g_off_caller, 0);
}

static int fn_never(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  return inb_fail(it, -50, "fn ran, but the call asked for async");
}

static void test_a_per_call_async_target_runs_start_of_an_action_that_has_both(void **state) {
  (void)state;
  reset_checks();
  g_starts = 0;
  g_caller = pthread_self();
  inb_action act = {.name = "both", .fn = fn_never, .start = start_item_task, .init = "indices",
                    .post = post_check_values};
  inb_opts o = {.target = INB_ASYNC};
  int rc = run_n(&act, 6, &o);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_starts, 6);
}

static size_t g_once_count;

static int post_once(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                     inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  g_once_count = inb_results_count(r);
  if (g_once_count != 1) return verdict("run_once: %zu results", g_once_count);
  if (!inb_result_ok(r, 0)) return verdict("run_once task failed: %s", inb_result_error(r, 0)->message);
  if (!is_timer_value(inb_result_value(r, 0), 1)) return verdict("run_once: wrong result");
  return 0;
}

static void test_run_once_with_async_runs_exactly_one_task(void **state) {
  (void)state;
  reset_checks();
  g_starts = 0;
  g_caller = pthread_self();
  g_once_count = 0;
  inb_action act = {.name = "once", .start = start_item_task, .init = "run_once", .post = post_once,
                    .target = INB_ASYNC};
  int rc = run_n(&act, 25, NULL); /* 25 items, still one task */
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_starts, 1);
  assert_int_equal(g_once_count, 1);
}

/* ---- real file reads ------------------------------------------------------------------------------------ */

enum { NFILES = 500 };
static char g_dir[256]; /* the test's temporary directory */

/* The content of file i: "file <i>:" then a pattern, 1 + (i * 37) % 3000 bytes in all (some span reads). */
static size_t file_content(size_t i, char *buf, size_t cap) {
  size_t len = 1 + (i * 37) % 3000;
  if (len > cap) len = cap;
  int head = snprintf(buf, cap, "file %zu:", i);
  for (size_t k = (size_t)head; k < len; k++) buf[k] = (char)('a' + (k * 7 + i) % 26);
  return len;
}

static void file_path(size_t i, char *out, size_t cap) { snprintf(out, cap, "%s/f%04zu.txt", g_dir, i); }

static void make_files(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/inb_test_async_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(g_dir));
  char buf[4096], path[320];
  for (size_t i = 0; i < NFILES; i++) {
    size_t len = file_content(i, buf, sizeof buf);
    file_path(i, path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
  }
}

static void remove_files(void) {
  char path[320];
  for (size_t i = 0; i < NFILES; i++) {
    file_path(i, path, sizeof path);
    unlink(path);
  }
  rmdir(g_dir);
}

/* A read in three steps on the loop: open -> read (until EOF) -> close; the content is the task's result. */
enum { READ_STEP = 1024 }; /* smaller than most files: several reads per file */
typedef struct {
  uv_fs_t req;
  inb_item *it;
  uv_file fd;
  int err;        /* the first failure (a libuv code), 0 if none */
  char *data;
  size_t len, cap;
} file_read;

static void on_file_closed(uv_fs_t *req) {
  file_read *fr = req->data;
  uv_fs_req_cleanup(req);
  if (fr->err)
    inb_done(fr->it, inb_fail(fr->it, INB_EIO, "reading task %zu: %s", inb_item_task(fr->it), uv_strerror(fr->err)),
             inb_none());
  else
    inb_done(fr->it, 0, inb_bytes(fr->data, fr->len));
  free(fr->data);
  free(fr);
}

static void close_file(file_read *fr) {
  int rc = uv_fs_close(fr->req.loop, &fr->req, fr->fd, on_file_closed);
  if (rc) {
    if (!fr->err) fr->err = rc;
    fr->req.result = rc;
    on_file_closed(&fr->req);
  }
}

static void read_more(file_read *fr);

static void on_file_read(uv_fs_t *req) {
  file_read *fr = req->data;
  ssize_t got = req->result;
  uv_fs_req_cleanup(req);
  if (got < 0) {
    fr->err = (int)got;
    close_file(fr);
  } else if (got == 0) {
    close_file(fr);
  } else {
    fr->len += (size_t)got;
    read_more(fr);
  }
}

static void read_more(file_read *fr) {
  if (fr->cap - fr->len < READ_STEP) {
    char *p = realloc(fr->data, fr->cap * 2 + READ_STEP);
    if (!p) {
      fr->err = UV_ENOMEM;
      close_file(fr);
      return;
    }
    fr->data = p;
    fr->cap = fr->cap * 2 + READ_STEP;
  }
  uv_buf_t buf = uv_buf_init(fr->data + fr->len, READ_STEP);
  int rc = uv_fs_read(fr->req.loop, &fr->req, fr->fd, &buf, 1, (int64_t)fr->len, on_file_read);
  if (rc) {
    fr->err = rc;
    close_file(fr);
  }
}

static void on_file_opened(uv_fs_t *req) {
  file_read *fr = req->data;
  ssize_t fd = req->result;
  uv_fs_req_cleanup(req);
  if (fd < 0) {
    inb_done(fr->it, inb_fail(fr->it, INB_EIO, "open: %s", uv_strerror((int)fd)), inb_none());
    free(fr);
    return;
  }
  fr->fd = (uv_file)fd;
  read_more(fr);
}

static int start_read_file(inb_item *it, const inb_args *args) {
  char path[320];
  file_path((size_t)inb_args_at(args, 0)->u.i, path, sizeof path);
  file_read *fr = calloc(1, sizeof *fr);
  if (!fr) return INB_ENOMEM;
  fr->it = it;
  fr->req.data = fr;
  int rc = uv_fs_open(inb_item_loop(it), &fr->req, path, O_RDONLY, 0, on_file_opened);
  if (rc) {
    free(fr);
    return inb_fail(it, INB_EIO, "uv_fs_open '%s': %s", path, uv_strerror(rc));
  }
  return 0;
}

static int post_check_files(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                            inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != NFILES) return verdict("post got %zu results for %d files", n, NFILES);
  char want[4096];
  for (size_t i = 0; i < n; i++) {
    if (!inb_result_ok(r, i)) return verdict("file %zu: %s", i, inb_result_error(r, i)->message);
    const inb_value *v = inb_result_value(r, i);
    size_t len = file_content(i, want, sizeof want);
    if (v->kind != INB_BYTES || v->u.s.n != len || memcmp(v->u.s.p, want, len) != 0)
      return verdict("file %zu: %zu bytes read, %zu expected, or different content", i, v->u.s.n, len);
  }
  return 0;
}

static void test_five_hundred_files_are_read_concurrently_and_match_their_content(void **state) {
  (void)state;
  reset_checks();
  make_files();
  inb_action act = {.name = "read_file", .start = start_read_file, .init = "indices", .post = post_check_files,
                    .target = INB_ASYNC};
  int rc = run_n(&act, NFILES, NULL);
  remove_files();
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
}

/* ---- done twice, never done, start failure, inb_done with a code ----------------------------------------- */

/* Records every result and error of a call of (up to) 8 tasks, for the test to assert on after inb_run. */
enum { MAXREC = 8 };
typedef struct {
  bool ok;
  int64_t value; /* INT results */
  int code;
  char message[200];
} outcome;
static outcome g_out[MAXREC];
static size_t g_nout;

static int post_record(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  g_nout = inb_results_count(r);
  if (g_nout > MAXREC) return verdict("%zu results, at most %d expected", g_nout, MAXREC);
  for (size_t i = 0; i < g_nout; i++) {
    outcome *o = &g_out[i];
    *o = (outcome){.ok = inb_result_ok(r, i)};
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    if (o->ok != (v != NULL) || o->ok == (e != NULL)) return verdict("task %zu: value and error disagree", i);
    if (v && v->kind == INB_INT) o->value = v->u.i;
    if (e) {
      if (e->task != i) return verdict("task %zu: its error record says task %zu", i, e->task);
      o->code = e->code;
      snprintf(o->message, sizeof o->message, "%s", e->message);
    }
  }
  if (inb_failed_count(r) != 0 && !inb_any_failed(r)) return verdict("inb_any_failed disagrees with the count");
  return 0;
}

static void reset_outcomes(void) {
  memset(g_out, 0, sizeof g_out);
  g_nout = 0;
}

static void assert_ok_value(size_t i, int64_t want) {
  if (!g_out[i].ok) print_error("task %zu failed: %d %s\n", i, g_out[i].code, g_out[i].message);
  assert_true(g_out[i].ok);
  assert_int_equal(g_out[i].value, want);
}

static void assert_failed(size_t i, int code, const char *in_message) {
  assert_false(g_out[i].ok);
  if (code) assert_int_equal(g_out[i].code, code);
  assert_int_not_equal(g_out[i].code, 0);
  if (!strstr(g_out[i].message, in_message))
    print_error("task %zu: message '%s' lacks '%s'\n", i, g_out[i].message, in_message);
  assert_non_null(strstr(g_out[i].message, in_message));
}

/* Task 1 calls inb_done twice inside start; task 3 twice from its timer while task 4 still runs (so the loop
 * is still going); the others once. Results: task position * 10. */
static void done_twice_fired(uv_timer_t *t) {
  timer_task *tt = t->data;
  inb_done(tt->it, 0, inb_int(tt->value));
  inb_done(tt->it, 0, inb_int(tt->value + 1));
  uv_close((uv_handle_t *)&tt->timer, free_timer_task);
}

static int start_done_twice(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  if (i == 1) {
    inb_done(it, 0, inb_int(10));
    inb_done(it, 0, inb_int(11));
    return 0;
  }
  if (i == 3) return start_timer_cb(it, 5, 30, done_twice_fired);
  return start_timer_task(it, i == 4 ? 60 : 1, 10 * (int64_t)i + 1); /* odd: INT results */
}

static void test_a_task_that_calls_inb_done_twice_becomes_an_error_record(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  inb_action act = {.name = "done_twice", .start = start_done_twice, .init = "indices", .post = post_record,
                    .target = INB_ASYNC};
  int rc = run_n(&act, 5, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_nout, 5);
  assert_ok_value(0, 1);
  assert_failed(1, 0, "twice");
  assert_ok_value(2, 21);
  assert_failed(3, 0, "twice");
  assert_ok_value(4, 41);
}

static void test_without_post_a_done_twice_task_makes_inb_run_return_eitem(void **state) {
  (void)state;
  inb_action act = {.name = "done_twice_no_post", .start = start_done_twice, .init = "indices",
                    .target = INB_ASYNC};
  int rc = run_n(&act, 5, NULL);
  assert_int_equal(rc, INB_EITEM);
  print_message("  errmsg: %s\n", inb_errmsg());
  assert_non_null(strstr(inb_errmsg(), "done_twice_no_post"));
  assert_non_null(strstr(inb_errmsg(), "twice"));
}

/* Task 1 never calls inb_done and keeps the loop busy with a repeating timer; the others finish at once.
 * The engine closes that timer (with a NULL callback), so it is static: nothing of it is left to free. */
static uv_timer_t g_keepalive;
static size_t g_keepalive_ticks;

static void keepalive_tick(uv_timer_t *t) {
  (void)t;
  g_keepalive_ticks++;
}

static int start_never_done_busy(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  if (i != 1) return start_timer_task(it, 1, 10 * (int64_t)i + 1);
  memset(&g_keepalive, 0, sizeof g_keepalive);
  int rc = uv_timer_init(inb_item_loop(it), &g_keepalive);
  if (!rc) rc = uv_timer_start(&g_keepalive, keepalive_tick, 10, 10);
  return rc ? inb_fail(it, INB_EIO, "keepalive timer: %s", uv_strerror(rc)) : 0;
}

static void test_a_task_that_never_calls_inb_done_is_canceled_at_the_timeout(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  g_keepalive_ticks = 0;
  inb_action act = {.name = "never_done", .start = start_never_done_busy, .init = "indices", .post = post_record,
                    .target = INB_ASYNC};
  inb_opts o = {.timeout_ms = 300};
  double t0 = now_s();
  int rc = run_n(&act, 3, &o);
  double took = now_s() - t0;
  print_message("  returned after %.3f s (timeout 0.3 s)\n", took);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_true(took >= 0.25);
  assert_true(took < 10.0); /* instead of hanging */
  assert_true(g_keepalive_ticks >= 1);
  assert_true(uv_is_closing((uv_handle_t *)&g_keepalive)); /* the engine closed what the task left open */
  assert_int_equal(g_nout, 3);
  assert_ok_value(0, 1);
  assert_failed(1, INB_ECANCELED, ""); /* its wording: the next test */
  assert_ok_value(2, 21);
}

/* The record tells the user what happened: the timeout passed (not that the loop ran out of work). */
static void test_a_task_canceled_at_the_timeout_has_a_message_that_names_the_timeout(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  inb_action act = {.name = "never_done_msg", .start = start_never_done_busy, .init = "indices",
                    .post = post_record, .target = INB_ASYNC};
  inb_opts o = {.timeout_ms = 100};
  assert_int_equal(run_n(&act, 3, &o), 0);
  assert_checks();
  assert_int_equal(g_nout, 3);
  print_message("  task 1: %s\n", g_out[1].message);
  assert_failed(1, INB_ECANCELED, "timeout of 100 ms");
}

static void test_without_post_a_timeout_makes_inb_run_return_eitem_naming_the_task(void **state) {
  (void)state;
  inb_action act = {.name = "never_done_no_post", .start = start_never_done_busy, .init = "indices",
                    .target = INB_ASYNC};
  inb_opts o = {.timeout_ms = 100};
  int rc = run_n(&act, 3, &o);
  assert_int_equal(rc, INB_EITEM);
  print_message("  errmsg: %s\n", inb_errmsg());
  assert_non_null(strstr(inb_errmsg(), "never_done_no_post"));
  assert_non_null(strstr(inb_errmsg(), "task 1"));
}

/* Task 2 returns 0 from start and never does anything: with no timeout, the loop runs out of work. */
static int start_never_done_idle(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  return i == 2 ? 0 : start_timer_task(it, 2, 10 * (int64_t)i + 1);
}

static void test_a_task_that_never_calls_inb_done_on_an_idle_loop_is_canceled_without_a_timeout(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  inb_action act = {.name = "never_done_idle", .start = start_never_done_idle, .init = "indices",
                    .post = post_record, .target = INB_ASYNC};
  int rc = run_n(&act, 4, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_nout, 4);
  assert_ok_value(0, 1);
  assert_ok_value(1, 11);
  assert_failed(2, INB_ECANCELED, "never finished");
  assert_ok_value(3, 31);
}

/* A task whose slow request (300 ms on the threadpool) outlives a 50 ms timeout: it is canceled, its late
 * inb_done is ignored, and inb_run waits for the request before returning, so its memory is freed. */
typedef struct {
  uv_work_t req;
  inb_item *it;
} slow_work;
static size_t g_after_work;

static void slow_work_run(uv_work_t *req) {
  (void)req;
  struct timespec ts = {0, 300 * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void slow_work_after(uv_work_t *req, int status) {
  (void)status;
  slow_work *w = req->data;
  g_after_work++;
  inb_done(w->it, 0, inb_int(12345)); /* after the timeout: ignored */
  free(w);
}

static int start_slow_work(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  if (i != 0) return start_timer_task(it, 1, 10 * (int64_t)i + 1);
  slow_work *w = malloc(sizeof *w);
  if (!w) return INB_ENOMEM;
  w->it = it;
  w->req.data = w;
  int rc = uv_queue_work(inb_item_loop(it), &w->req, slow_work_run, slow_work_after);
  if (rc) free(w);
  return rc ? inb_fail(it, INB_EIO, "uv_queue_work: %s", uv_strerror(rc)) : 0;
}

static void test_a_request_still_running_at_the_timeout_completes_before_inb_run_returns(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  g_after_work = 0;
  inb_action act = {.name = "slow_work", .start = start_slow_work, .init = "indices", .post = post_record,
                    .target = INB_ASYNC};
  inb_opts o = {.timeout_ms = 50};
  int rc = run_n(&act, 2, &o);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_after_work, 1);
  assert_int_equal(g_nout, 2);
  assert_failed(0, INB_ECANCELED, "");
  assert_ok_value(1, 11);
}

/* Task 1's start fails with inb_fail's message; task 3's start fails with a bare code; task 2 finishes with
 * inb_done(code) after inb_fail; task 4 with a bare inb_done code. Task 0 and 5 succeed. */
static void fail_later_fired(uv_timer_t *t) {
  timer_task *tt = t->data;
  if (tt->value == 2)
    inb_done(tt->it, inb_fail(tt->it, -77, "task %lld failed later", (long long)tt->value), inb_none());
  else
    inb_done(tt->it, INB_EIO, inb_none());
  uv_close((uv_handle_t *)&tt->timer, free_timer_task);
}

static int start_failures(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  switch (i) {
  case 1: return inb_fail(it, -42, "task %zu could not start", i);
  case 3: return INB_EIO;
  case 2:
  case 4: return start_timer_cb(it, 3, (int64_t)i, fail_later_fired);
  default: return start_timer_task(it, 5, 10 * (int64_t)i + 1);
  }
}

static void test_a_failing_start_is_a_failure_record_and_the_other_tasks_go_on(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  inb_action act = {.name = "failures", .start = start_failures, .init = "indices", .post = post_record,
                    .target = INB_ASYNC};
  int rc = run_n(&act, 6, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  assert_int_equal(g_nout, 6);
  assert_ok_value(0, 1);
  assert_failed(1, -42, "task 1 could not start");
  assert_failed(2, -77, "task 2 failed later");
  assert_failed(3, INB_EIO, "start");
  assert_failed(4, INB_EIO, inb_strerror(INB_EIO));
  assert_ok_value(5, 51);
}

static void test_without_post_the_first_failing_start_is_named_in_the_errmsg(void **state) {
  (void)state;
  inb_action act = {.name = "failures_no_post", .start = start_failures, .init = "indices", .target = INB_ASYNC};
  int rc = run_n(&act, 6, NULL);
  assert_int_equal(rc, INB_EITEM);
  print_message("  errmsg: %s\n", inb_errmsg());
  assert_non_null(strstr(inb_errmsg(), "task 1 could not start"));
}

/* ---- n_workers ------------------------------------------------------------------------------------------- */

static int start_count(inb_item *it, const inb_args *args) {
  (void)args;
  g_starts++;
  inb_done(it, 0, inb_none());
  return 0;
}

static void test_n_workers_with_async_is_einval_and_says_why(void **state) {
  (void)state;
  inb_action named = {.name = "pool_async", .start = start_count, .init = "indices", .target = INB_ASYNC};
  inb_action implied = {.name = "pool_implied", .start = start_count, .init = "indices"};
  const inb_action *acts[] = {&named, &implied};
  for (size_t k = 0; k < 2; k++) {
    g_starts = 0;
    inb_opts o = {.n_workers = 2};
    int rc = run_n(acts[k], 4, &o);
    print_message("  %s: %s\n", acts[k]->name, inb_errmsg());
    assert_int_equal(rc, INB_EINVAL);
    assert_non_null(strstr(inb_errmsg(), acts[k]->name));
    assert_non_null(strstr(inb_errmsg(), "n_workers"));
    assert_non_null(strstr(inb_errmsg(), "async"));
    assert_int_equal(g_starts, 0); /* nothing ran */

    o.n_workers = 0; /* 0 is fine: the default */
    assert_int_equal(run_n(acts[k], 4, &o), 0);
    assert_int_equal(g_starts, 4);
  }
}

/* ---- handles left open, nested calls, an empty batch ----------------------------------------------------- */

/* Every task finishes, but task 0 leaves a repeating timer and an async handle open (either would keep the
 * loop alive forever); the engine closes them (NULL callback), so they are static. */
static uv_timer_t g_left_timer;
static uv_async_t g_left_async;

static int start_leave_handles(inb_item *it, const inb_args *args) {
  (void)args;
  size_t i = inb_item_task(it);
  if (i != 0) return start_timer_task(it, 5, 10 * (int64_t)i + 1);
  uv_loop_t *loop = inb_item_loop(it);
  memset(&g_left_timer, 0, sizeof g_left_timer);
  memset(&g_left_async, 0, sizeof g_left_async);
  int rc = uv_timer_init(loop, &g_left_timer);
  if (!rc) rc = uv_timer_start(&g_left_timer, keepalive_tick, 1, 1);
  if (!rc) rc = uv_async_init(loop, &g_left_async, NULL);
  if (rc) return inb_fail(it, INB_EIO, "handles: %s", uv_strerror(rc));
  inb_done(it, 0, inb_int(1));
  return 0;
}

static void test_handles_a_task_leaves_open_are_closed_before_inb_run_returns(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  inb_action act = {.name = "leave_handles", .start = start_leave_handles, .init = "indices",
                    .post = post_record, .target = INB_ASYNC};
  for (size_t n = 1; n <= 3; n += 2) { /* n = 1: the loop never runs tasks; n = 3: it stops when they end */
    double t0 = now_s();
    int rc = run_n(&act, n, NULL);
    double took = now_s() - t0;
    if (rc) print_message("  errmsg: %s\n", inb_errmsg());
    assert_int_equal(rc, 0);
    assert_checks();
    assert_true(took < 10.0);
    assert_true(uv_is_closing((uv_handle_t *)&g_left_timer));
    assert_true(uv_is_closing((uv_handle_t *)&g_left_async));
    assert_int_equal(g_nout, n);
    assert_ok_value(0, 1);
    if (n == 3) assert_ok_value(2, 21);
  }
}

/* An async task that runs an async inb_run of its own (on its own loop, in the same thread). */
static int start_inner(inb_item *it, const inb_args *args) {
  int64_t i = (int64_t)inb_item_task(it), outer = inb_args_get(args, "outer")->u.i;
  return start_timer_task(it, (uint64_t)(3 - i), 100 * outer + i);
}

static int64_t g_inner_sum[4];

static int post_inner_sum(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                          inb_batch **out, void *data) {
  (void)b, (void)extra, (void)out, (void)data;
  int64_t outer = inb_args_get(call, "outer")->u.i, sum = 0;
  for (size_t i = 0; i < inb_results_count(r); i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || !is_timer_value(v, 100 * outer + (int64_t)i)) return verdict("inner %lld task %zu", (long long)outer, i);
    sum += 100 * outer + (int64_t)i;
  }
  g_inner_sum[outer] = sum;
  return 0;
}

static int start_outer(inb_item *it, const inb_args *args) {
  (void)args;
  int64_t i = (int64_t)inb_item_task(it);
  inb_batch *ib = inb_batch_new(NULL, 3);
  inb_args *call = inb_args_new();
  if (!ib || !call || inb_args_put(call, "outer", inb_int(i))) {
    inb_batch_free(&ib);
    inb_args_free(&call);
    return INB_ENOMEM;
  }
  inb_action act = {.name = "inner", .start = start_inner, .init = "indices", .post = post_inner_sum};
  int rc = inb_run(ib, &act, call, NULL, NULL);
  inb_args_free(&call);
  inb_batch_free(&ib);
  if (rc) return inb_fail(it, rc, "inner run: %s", inb_errmsg());
  return start_timer_task(it, 1, 10 * i + 1); /* the outer task still finishes on the outer loop */
}

static void test_an_async_task_may_run_a_nested_async_call(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  memset(g_inner_sum, 0, sizeof g_inner_sum);
  inb_action act = {.name = "outer", .start = start_outer, .init = "indices", .post = post_record,
                    .target = INB_ASYNC};
  int rc = run_n(&act, 4, NULL);
  if (rc) print_message("  errmsg: %s\n", inb_errmsg());
  assert_int_equal(rc, 0);
  assert_checks();
  for (int64_t i = 0; i < 4; i++) {
    assert_ok_value((size_t)i, 10 * i + 1);
    assert_int_equal(g_inner_sum[i], 300 * i + 3);
  }
}

static void test_an_empty_batch_runs_no_task_and_calls_post_with_no_results(void **state) {
  (void)state;
  reset_checks();
  reset_outcomes();
  g_starts = 0;
  g_nout = 99;
  inb_action act = {.name = "empty", .start = start_count, .init = "indices", .post = post_record};
  inb_opts o = {.timeout_ms = 1000};
  assert_int_equal(run_n(&act, 0, &o), 0);
  assert_int_equal(g_starts, 0);
  assert_int_equal(g_nout, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_hundred_tasks_waiting_100ms_each_finish_together_in_under_two_seconds),
      cmocka_unit_test(test_results_arrive_in_task_order_under_random_delays),
      cmocka_unit_test(test_an_action_with_only_start_runs_async_without_naming_the_target),
      cmocka_unit_test(test_a_per_call_async_target_runs_start_of_an_action_that_has_both),
      cmocka_unit_test(test_run_once_with_async_runs_exactly_one_task),
      cmocka_unit_test(test_five_hundred_files_are_read_concurrently_and_match_their_content),
      cmocka_unit_test(test_a_task_that_calls_inb_done_twice_becomes_an_error_record),
      cmocka_unit_test(test_without_post_a_done_twice_task_makes_inb_run_return_eitem),
      cmocka_unit_test(test_a_task_that_never_calls_inb_done_is_canceled_at_the_timeout),
      cmocka_unit_test(test_a_task_canceled_at_the_timeout_has_a_message_that_names_the_timeout),
      cmocka_unit_test(test_without_post_a_timeout_makes_inb_run_return_eitem_naming_the_task),
      cmocka_unit_test(test_a_task_that_never_calls_inb_done_on_an_idle_loop_is_canceled_without_a_timeout),
      cmocka_unit_test(test_a_request_still_running_at_the_timeout_completes_before_inb_run_returns),
      cmocka_unit_test(test_a_failing_start_is_a_failure_record_and_the_other_tasks_go_on),
      cmocka_unit_test(test_without_post_the_first_failing_start_is_named_in_the_errmsg),
      cmocka_unit_test(test_n_workers_with_async_is_einval_and_says_why),
      cmocka_unit_test(test_handles_a_task_leaves_open_are_closed_before_inb_run_returns),
      cmocka_unit_test(test_an_async_task_may_run_a_nested_async_call),
      cmocka_unit_test(test_an_empty_batch_runs_no_task_and_calls_post_with_no_results),
  };
  return cmocka_run_group_tests_name("unit.test_async", tests, NULL, NULL);
}
