/* Unit tests of inb_run's semantics, each on both local targets, `for` and
 * `threads`. Tasks never call cmocka asserts (they may run on pool threads): they record what they saw in
 * per-task slots, and the test asserts after inb_run returns (everything a task does happens-before that). */
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

#define MAXT 64 /* tasks a slot-recording test may have */

static const inb_target k_targets[] = {INB_FOR, INB_THREADS};
#define N_TARGETS (sizeof k_targets / sizeof k_targets[0])

static const char *target_name(inb_target t) { return t == INB_FOR ? "for" : t == INB_THREADS ? "threads" : "?"; }

static void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Runs `act` on target t: the action's own target (no per-call override); two workers for threads. */
static int run_on(inb_target t, inb_batch *b, const inb_action *act_in, const inb_args *call, inb_batch **out) {
  inb_action act = *act_in;
  act.target = t;
  inb_opts o = {.n_workers = t == INB_THREADS ? 2 : 0};
  print_message("  target %s\n", target_name(t));  /* shown by ctest --output-on-failure */
  return inb_run(b, &act, call, &o, out);
}

/* ---- what tasks saw ------------------------------------------------------------------------------- */

typedef struct {
  atomic_int runs;
  bool args_null;
  size_t task;
  int rank;
  inb_batch *batch;
  pthread_t thread;
  size_t npos, nnamed;
  inb_kind pkind[4];
  int64_t pint[4];
  char pstr[4][32];
  char nname[4][16];
  inb_kind nkind[4];
  int64_t nint[4];
  int fail_ret; /* what inb_fail returned */
} seen_t;

static seen_t g_seen[MAXT];
static atomic_int g_fn_calls;

static void snapshot(inb_item *it, const inb_args *args) {
  atomic_fetch_add(&g_fn_calls, 1);
  size_t t = inb_item_task(it);
  if (t >= MAXT) return;
  seen_t *s = &g_seen[t];
  atomic_fetch_add(&s->runs, 1);
  s->args_null = args == NULL;
  s->task = t;
  s->rank = inb_item_rank(it);
  s->batch = inb_item_batch(it);
  s->thread = pthread_self();
  s->npos = inb_args_npos(args);
  for (size_t k = 0; k < s->npos && k < 4; k++) {
    const inb_value *v = inb_args_at(args, k);
    s->pkind[k] = v->kind;
    if (v->kind == INB_INT) s->pint[k] = v->u.i;
    if (v->kind == INB_STR) snprintf(s->pstr[k], sizeof s->pstr[k], "%s", v->u.s.p);
  }
  s->nnamed = inb_args_nnamed(args);
  for (size_t k = 0; k < s->nnamed && k < 4; k++) {
    const char *name = inb_args_name(args, k);
    const inb_value *v = inb_args_get(args, name);
    snprintf(s->nname[k], sizeof s->nname[k], "%s", name);
    s->nkind[k] = v ? v->kind : INB_NONE;
    if (v && v->kind == INB_INT) s->nint[k] = v->u.i;
  }
}

/* The named value `name` a task saw: its slot k, or -1. */
static int seen_named(const seen_t *s, const char *name) {
  for (size_t k = 0; k < s->nnamed && k < 4; k++)
    if (strcmp(s->nname[k], name) == 0) return (int)k;
  return -1;
}

/* Per-task behaviour, set by the test before inb_run. */
static int g_fail_code[MAXT];       /* non-zero: fail with it */
static const char *g_fail_msg[MAXT]; /* with a code: fail through inb_fail with this message */
static long g_delay_us[MAXT];

/* Records its arguments; fails as configured; else returns inb_int(10 * task). */
static int fn_configurable(inb_item *it, const inb_args *args, inb_value *result) {
  snapshot(it, args);
  size_t t = inb_item_task(it);
  if (t >= MAXT) return 0;
  if (g_delay_us[t]) sleep_us(g_delay_us[t]);
  if (g_fail_code[t] || g_fail_msg[t]) {
    if (!g_fail_msg[t]) return g_fail_code[t];
    g_seen[t].fail_ret = inb_fail(it, g_fail_code[t], "%s", g_fail_msg[t]);
    return g_seen[t].fail_ret;
  }
  *result = inb_int(10 * (int64_t)t);
  return 0;
}

/* ---- what post saw -------------------------------------------------------------------------------- */

typedef struct {
  bool ok, has_value, has_error;
  inb_kind kind;
  int64_t i;
  char s[64];
  size_t n;
  unsigned char bytes[16];
  inb_dtype dtype;
  int ndim;
  int64_t shape0;
  int64_t arr[8];
  size_t etask;
  int erank, ecode;
  char emsg[256];
} res_seen;

typedef struct {
  int calls;
  size_t count, failed;
  bool any_failed;
  bool call_null, extra_null, out_was_b, oob_clean;
  int extra_secret; /* -1: absent */
  res_seen r[MAXT];
} post_seen_t;

static post_seen_t g_post;
static int g_post_rc;            /* what post returns */
static bool g_post_new_batch;    /* post sets *out to a new 2-item batch */

static int post_capture(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)data;
  g_post.calls++;
  g_post.call_null = call == NULL;
  g_post.extra_null = extra == NULL;
  g_post.out_was_b = out && *out == b;
  const inb_value *secret = inb_args_get(extra, "secret");
  g_post.extra_secret = secret && secret->kind == INB_INT ? (int)secret->u.i : -1;
  g_post.count = inb_results_count(r);
  g_post.any_failed = inb_any_failed(r);
  g_post.failed = inb_failed_count(r);
  g_post.oob_clean = !inb_result_ok(r, g_post.count) && !inb_result_value(r, g_post.count) &&
                     !inb_result_error(r, g_post.count);
  for (size_t i = 0; i < g_post.count && i < MAXT; i++) {
    res_seen *s = &g_post.r[i];
    s->ok = inb_result_ok(r, i);
    const inb_value *v = inb_result_value(r, i);
    const inb_error *e = inb_result_error(r, i);
    s->has_value = v != NULL;
    s->has_error = e != NULL;
    if (v) {
      s->kind = v->kind;
      if (v->kind == INB_INT) s->i = v->u.i;
      if (v->kind == INB_STR) snprintf(s->s, sizeof s->s, "%s", v->u.s.p);
      if (v->kind == INB_STR || v->kind == INB_BYTES) {
        s->n = v->u.s.n;
        memcpy(s->bytes, v->u.s.p, v->u.s.n < sizeof s->bytes ? v->u.s.n : sizeof s->bytes);
      }
      if (v->kind == INB_ARRAY) {
        s->dtype = v->u.a.dtype;
        s->ndim = v->u.a.ndim;
        s->shape0 = v->u.a.shape[0];
        size_t n = inb_array_count(&v->u.a);
        if (v->u.a.dtype == INB_I64 && v->u.a.data)
          memcpy(s->arr, v->u.a.data, (n < 8 ? n : 8) * sizeof(int64_t));
      }
    }
    if (e) {
      s->etask = e->task;
      s->erank = e->rank;
      s->ecode = e->code;
      snprintf(s->emsg, sizeof s->emsg, "%s", e->message ? e->message : "(null)");
    }
  }
  if (g_post_new_batch && out) *out = inb_batch_new(NULL, 2);
  return g_post_rc;
}

/* ---- what init saw -------------------------------------------------------------------------------- */

static int g_init_calls;
static bool g_init_call_null, g_init_extra_null;
static int g_init_extra_secret;
static int g_init_rc;          /* non-zero: fail with it, handing over nothing */
static size_t g_init_ntasks;   /* tasks it makes: positional inb_int(100 + i), named "item" = i */
static bool g_init_null_entry; /* entry 1 is NULL (an empty list) */

static int init_custom(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                       size_t *ntasks, void *data) {
  (void)b, (void)data;
  g_init_calls++;
  g_init_call_null = call == NULL;
  g_init_extra_null = extra == NULL;
  const inb_value *secret = inb_args_get(extra, "secret");
  g_init_extra_secret = secret && secret->kind == INB_INT ? (int)secret->u.i : -1;
  if (g_init_rc) return g_init_rc;
  inb_args **list = malloc((g_init_ntasks ? g_init_ntasks : 1) * sizeof *list);
  if (!list) return INB_ENOMEM;
  for (size_t i = 0; i < g_init_ntasks; i++) {
    if (g_init_null_entry && i == 1) {
      list[i] = NULL;
      continue;
    }
    list[i] = inb_args_new();
    inb_args_add(list[i], inb_int(100 + (int64_t)i));
    inb_args_put(list[i], "item", inb_int((int64_t)i));
    inb_args_put(list[i], "label", inb_str("from-init"));
  }
  *tasks = list;
  *ntasks = g_init_ntasks;
  return 0;
}

/* Named a=1, b=2 for every task (for the override test). */
static int init_named_ab(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                         size_t *ntasks, void *data) {
  (void)b, (void)call, (void)extra, (void)data;
  inb_args **list = malloc(3 * sizeof *list);
  if (!list) return INB_ENOMEM;
  for (size_t i = 0; i < 3; i++) {
    list[i] = inb_args_new();
    inb_args_put(list[i], "a", inb_int(1));
    inb_args_put(list[i], "b", inb_int(2));
  }
  *tasks = list;
  *ntasks = 3;
  return 0;
}

static int reset(void **state) {
  (void)state;
  memset(g_seen, 0, sizeof g_seen);
  atomic_store(&g_fn_calls, 0);
  memset(g_fail_code, 0, sizeof g_fail_code);
  memset(g_fail_msg, 0, sizeof g_fail_msg);
  memset(g_delay_us, 0, sizeof g_delay_us);
  memset(&g_post, 0, sizeof g_post);
  g_post_rc = 0;
  g_post_new_batch = false;
  g_init_calls = 0;
  g_init_call_null = g_init_extra_null = false;
  g_init_extra_secret = -1;
  g_init_rc = 0;
  g_init_ntasks = 0;
  g_init_null_entry = false;
  return 0;
}

static int reset_all_for_next_target(void) { return reset(NULL); }

/* ---- 1. inits ------------------------------------------------------------------------------------- */

static void test_indices_init_gives_each_task_its_item_index_as_int(void **state) {
  (void)state;
  const int64_t index[5] = {50, 10, 40, 20, 30};
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(index, 5);
    inb_action act = {.name = "idx", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 5);
    for (size_t i = 0; i < 5; i++) {
      const seen_t *s = &g_seen[i];
      assert_int_equal(atomic_load(&s->runs), 1);
      assert_false(s->args_null);
      assert_int_equal(s->npos, 1);
      assert_int_equal(s->pkind[0], INB_INT);
      assert_int_equal(s->pint[0], index[i]);
      assert_int_equal(s->nnamed, 0);
      assert_int_equal(s->task, i);
      assert_int_equal(s->rank, 0);
      assert_ptr_equal(s->batch, b);
    }
    assert_int_equal(g_post.calls, 1);
    assert_int_equal(g_post.count, 5);
    inb_batch_free(&b);
  }
}

/* "items": one named ARRAY per component, row i, viewing the batch's data. */
typedef struct {
  int found;
  inb_kind xkind, ykind;
  int xndim, yndim;
  int64_t yshape0;
  const void *xdata, *ydata;
  int32_t x;
  double y0, y1;
  size_t npos, nnamed;
} items_seen;
static items_seen g_items[MAXT];

static int fn_items(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  size_t t = inb_item_task(it);
  if (t >= MAXT) return 0;
  items_seen *s = &g_items[t];
  s->npos = inb_args_npos(args);
  s->nnamed = inb_args_nnamed(args);
  const inb_value *x = inb_args_get(args, "x"), *y = inb_args_get(args, "y");
  if (!x || !y) return 0;
  s->found = 1;
  s->xkind = x->kind;
  s->ykind = y->kind;
  if (x->kind != INB_ARRAY || y->kind != INB_ARRAY) return 0;
  s->xndim = x->u.a.ndim;
  s->yndim = y->u.a.ndim;
  s->yshape0 = y->u.a.shape[0];
  s->xdata = x->u.a.data;
  s->ydata = y->u.a.data;
  s->x = *(const int32_t *)x->u.a.data;
  s->y0 = ((const double *)y->u.a.data)[0];
  s->y1 = ((const double *)y->u.a.data)[1];
  return 0;
}

static void test_items_init_gives_each_task_one_named_row_per_component(void **state) {
  (void)state;
  int32_t x[3] = {7, 8, 9};
  double y[3][2] = {{0.5, 1.5}, {2.5, 3.5}, {4.5, 5.5}};
  for (size_t k = 0; k < N_TARGETS; k++) {
    memset(g_items, 0, sizeof g_items);
    inb_batch *b = inb_batch_new(NULL, 3);
    assert_int_equal(inb_batch_set(b, "x", (inb_array){.dtype = INB_I32, .ndim = 1, .shape = {3}, .data = x}, false), 0);
    assert_int_equal(inb_batch_set(b, "y", (inb_array){.dtype = INB_F64, .ndim = 2, .shape = {3, 2}, .data = y}, false),
                     0);
    inb_action act = {.name = "items", .fn = fn_items, .init = "items"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    for (size_t i = 0; i < 3; i++) {
      const items_seen *s = &g_items[i];
      assert_int_equal(s->found, 1);
      assert_int_equal(s->npos, 0);
      assert_int_equal(s->nnamed, 2);
      assert_int_equal(s->xkind, INB_ARRAY);
      assert_int_equal(s->ykind, INB_ARRAY);
      assert_int_equal(s->xndim, 0);  /* a row of a 1-d component is a 0-dim scalar view */
      assert_int_equal(s->yndim, 1);
      assert_int_equal(s->yshape0, 2);
      assert_ptr_equal(s->xdata, &x[i]);  /* views of the batch's data, not copies */
      assert_ptr_equal(s->ydata, &y[i][0]);
      assert_int_equal(s->x, x[i]);
      assert_true(s->y0 == y[i][0]);
      assert_true(s->y1 == y[i][1]);
    }
    inb_batch_free(&b);
  }
}

/* A component name: positional ARRAY, row i. */
typedef struct {
  size_t npos, nnamed;
  inb_kind kind;
  inb_dtype dtype;
  int ndim;
  int64_t shape0;
  const void *data;
  int64_t v[3];
} row_seen;
static row_seen g_rows[MAXT];

static int fn_row(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  size_t t = inb_item_task(it);
  if (t >= MAXT) return 0;
  row_seen *s = &g_rows[t];
  s->npos = inb_args_npos(args);
  s->nnamed = inb_args_nnamed(args);
  const inb_value *v = inb_args_at(args, 0);
  if (!v) return 0;
  s->kind = v->kind;
  if (v->kind != INB_ARRAY) return 0;
  s->dtype = v->u.a.dtype;
  s->ndim = v->u.a.ndim;
  s->shape0 = v->u.a.shape[0];
  s->data = v->u.a.data;
  memcpy(s->v, v->u.a.data, sizeof s->v);
  return 0;
}

static void test_component_init_gives_each_task_its_row_as_a_positional_array(void **state) {
  (void)state;
  int64_t rows[4][3];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) rows[i][j] = 100 * i + j;
  for (size_t k = 0; k < N_TARGETS; k++) {
    memset(g_rows, 0, sizeof g_rows);
    inb_batch *b = inb_batch_new(NULL, 4);
    assert_int_equal(
        inb_batch_set(b, "rows", (inb_array){.dtype = INB_I64, .ndim = 2, .shape = {4, 3}, .data = rows}, false), 0);
    inb_action act = {.name = "by_row", .fn = fn_row, .init = "rows"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    for (size_t i = 0; i < 4; i++) {
      const row_seen *s = &g_rows[i];
      assert_int_equal(s->npos, 1);
      assert_int_equal(s->nnamed, 0);
      assert_int_equal(s->kind, INB_ARRAY);
      assert_int_equal(s->dtype, INB_I64);
      assert_int_equal(s->ndim, 1);
      assert_int_equal(s->shape0, 3);
      assert_ptr_equal(s->data, &rows[i][0]);
      assert_memory_equal(s->v, rows[i], sizeof rows[i]);
    }
    inb_batch_free(&b);
  }
}

static void test_run_once_init_runs_one_task_without_item_arguments(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 5);
    inb_action act = {.name = "once", .fn = fn_configurable, .init = "run_once", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 1);
    assert_false(g_seen[0].args_null);
    assert_int_equal(g_seen[0].npos, 0);
    assert_int_equal(g_seen[0].nnamed, 0);
    assert_int_equal(g_post.count, 1);
    assert_true(g_post.r[0].ok);
    inb_batch_free(&b);
  }
}

static void test_run_once_task_gets_only_the_call_arguments(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 5);
    inb_args *call = inb_args_new();
    inb_args_add(call, inb_int(7));
    inb_args_put(call, "mode", inb_int(3));
    inb_action act = {.name = "once", .fn = fn_configurable, .init = "run_once"};
    assert_int_equal(run_on(k_targets[k], b, &act, call, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 1);
    assert_int_equal(g_seen[0].npos, 1);
    assert_int_equal(g_seen[0].pint[0], 7);
    assert_int_equal(g_seen[0].nnamed, 1);
    assert_string_equal(g_seen[0].nname[0], "mode");
    inb_args_free(&call);
    inb_batch_free(&b);
  }
}

static void test_standard_init_names_win_over_components_of_that_name(void **state) {
  (void)state;
  const int64_t index[3] = {5, 6, 7};
  int32_t comp[3] = {-1, -2, -3};
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(index, 3);
    inb_array a = {.dtype = INB_I32, .ndim = 1, .shape = {3}, .data = comp};
    assert_int_equal(inb_batch_set(b, "indices", a, false), 0);
    assert_int_equal(inb_batch_set(b, "run_once", a, false), 0);
    inb_action act = {.name = "names", .fn = fn_configurable, .init = "indices"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_int_equal(atomic_load(&g_fn_calls), 3);
    for (size_t i = 0; i < 3; i++) {
      assert_int_equal(g_seen[i].pkind[0], INB_INT);
      assert_int_equal(g_seen[i].pint[0], index[i]);
    }

    reset_all_for_next_target();
    act.init = "run_once";
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_int_equal(atomic_load(&g_fn_calls), 1);
    assert_int_equal(g_seen[0].npos, 0);
    inb_batch_free(&b);
  }
}

/* Without post, the failure summary names a custom init's task by its position only: its tasks are not the
 * batch's items (the batch has 2 items; task 3 has no item 3). */
static void test_a_custom_init_failure_summary_names_the_task_not_an_item(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 4;
    g_fail_code[3] = INB_EINVAL;
    g_fail_msg[3] = "bad task";
    inb_batch *b = inb_batch_new((const int64_t[]){70, 71}, 2);
    inb_action act = {.name = "custom", .fn = fn_configurable, .init_fn = init_custom};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), INB_EITEM);
    assert_non_null(strstr(inb_errmsg(), "first: task 3: bad task"));
    assert_null(strstr(inb_errmsg(), "item"));
    inb_batch_free(&b);
  }
}

static void test_custom_init_lists_become_the_task_arguments(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 4;
    inb_batch *b = inb_batch_new(NULL, 2);  /* the task count comes from init, not from the batch */
    inb_action act = {.name = "custom", .fn = fn_configurable, .init_fn = init_custom, .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);  /* LeakSanitizer: the engine frees the lists */

    assert_int_equal(g_init_calls, 1);
    assert_int_equal(atomic_load(&g_fn_calls), 4);
    for (size_t i = 0; i < 4; i++) {
      const seen_t *s = &g_seen[i];
      assert_int_equal(s->npos, 1);
      assert_int_equal(s->pint[0], 100 + (int64_t)i);
      int item = seen_named(s, "item"), label = seen_named(s, "label");
      assert_true(item >= 0);
      assert_int_equal(s->nint[item], (int64_t)i);
      assert_true(label >= 0);
      assert_int_equal(s->nkind[label], INB_STR);
    }
    assert_int_equal(g_post.count, 4);
    inb_batch_free(&b);
  }
}

static void test_custom_init_null_entry_is_an_empty_list(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 3;
    g_init_null_entry = true;
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_args *call = inb_args_new();
    inb_args_add(call, inb_int(5));
    inb_action act = {.name = "holes", .fn = fn_configurable, .init_fn = init_custom};
    assert_int_equal(run_on(k_targets[k], b, &act, call, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 3);
    assert_false(g_seen[1].args_null);
    assert_int_equal(g_seen[1].npos, 1);  /* nothing from the item, then the call's 5 */
    assert_int_equal(g_seen[1].pint[0], 5);
    assert_int_equal(g_seen[1].nnamed, 0);
    assert_int_equal(g_seen[2].npos, 2);
    assert_int_equal(g_seen[2].pint[0], 102);
    assert_int_equal(g_seen[2].pint[1], 5);
    inb_args_free(&call);
    inb_batch_free(&b);
  }
}

static void test_custom_init_with_no_tasks_gives_post_zero_results_and_never_calls_fn(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 0;
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_action act = {.name = "empty", .fn = fn_configurable, .init_fn = init_custom, .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 0);
    assert_int_equal(g_post.calls, 1);
    assert_int_equal(g_post.count, 0);
    assert_false(g_post.any_failed);
    assert_int_equal(g_post.failed, 0);
    inb_batch_free(&b);
  }
}

/* ---- 2. argument merging -------------------------------------------------------------------------- */

static void test_call_positional_arguments_are_appended_after_item_arguments(void **state) {
  (void)state;
  const int64_t index[3] = {3, 4, 5};
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(index, 3);
    inb_args *call = inb_args_new();
    inb_args_add(call, inb_int(7));
    inb_args_add(call, inb_str("tail"));
    inb_action act = {.name = "append", .fn = fn_configurable, .init = "indices"};
    assert_int_equal(run_on(k_targets[k], b, &act, call, NULL), 0);

    for (size_t i = 0; i < 3; i++) {
      const seen_t *s = &g_seen[i];
      assert_int_equal(s->npos, 3);
      assert_int_equal(s->pint[0], index[i]);
      assert_int_equal(s->pint[1], 7);
      assert_int_equal(s->pkind[2], INB_STR);
      assert_string_equal(s->pstr[2], "tail");
    }
    inb_args_free(&call);
    inb_batch_free(&b);
  }
}

static void test_call_named_arguments_override_item_named_arguments(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_args *call = inb_args_new();
    inb_args_put(call, "b", inb_int(20));
    inb_args_put(call, "c", inb_int(30));
    inb_action act = {.name = "override", .fn = fn_configurable, .init_fn = init_named_ab};
    assert_int_equal(run_on(k_targets[k], b, &act, call, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 3);
    for (size_t i = 0; i < 3; i++) {
      const seen_t *s = &g_seen[i];
      assert_int_equal(s->nnamed, 3);
      int a = seen_named(s, "a"), bb = seen_named(s, "b"), c = seen_named(s, "c");
      assert_true(a >= 0 && bb >= 0 && c >= 0);
      assert_int_equal(s->nint[a], 1);
      assert_int_equal(s->nint[bb], 20);
      assert_int_equal(s->nint[c], 30);
    }
    inb_args_free(&call);
    inb_batch_free(&b);
  }
}

static void test_extra_reaches_init_and_post_but_never_a_task(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 3;
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_args *extra = inb_args_new();
    inb_args_put(extra, "secret", inb_int(42));
    inb_action act = {
        .name = "extra", .fn = fn_configurable, .init_fn = init_custom, .post = post_capture, .extra = extra};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_init_extra_secret, 42);
    assert_int_equal(g_post.extra_secret, 42);
    for (size_t i = 0; i < 3; i++) assert_int_equal(seen_named(&g_seen[i], "secret"), -1);
    inb_args_free(&extra);
    inb_batch_free(&b);
  }
}

static void test_extra_never_reaches_a_task_of_a_standard_init(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_args *extra = inb_args_new();
    inb_args_put(extra, "secret", inb_int(42));
    inb_action act = {.name = "extra", .fn = fn_configurable, .init = "indices", .post = post_capture, .extra = extra};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_post.extra_secret, 42);
    for (size_t i = 0; i < 3; i++) {
      assert_int_equal(g_seen[i].npos, 1);
      assert_int_equal(g_seen[i].nnamed, 0);
    }
    inb_args_free(&extra);
    inb_batch_free(&b);
  }
}

static void test_init_and_post_get_non_null_call_and_extra_when_none_were_given(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_init_ntasks = 2;
    inb_batch *b = inb_batch_new(NULL, 2);
    inb_action act = {.name = "nulls", .fn = fn_configurable, .init_fn = init_custom, .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_init_calls, 1);
    assert_false(g_init_call_null);
    assert_false(g_init_extra_null);
    assert_int_equal(g_post.calls, 1);
    assert_false(g_post.call_null);
    assert_false(g_post.extra_null);
    inb_batch_free(&b);
  }
}

static void test_null_call_opts_and_out_are_allowed(void **state) {
  (void)state;
  reset_all_for_next_target();
  inb_batch *b = inb_batch_new(NULL, 4);
  inb_action act = {.name = "defaults", .fn = fn_configurable, .init = "indices", .post = post_capture};
  assert_int_equal(inb_run(b, &act, NULL, NULL, NULL), 0);
  assert_int_equal(atomic_load(&g_fn_calls), 4);
  assert_int_equal(g_post.count, 4);
  inb_batch_free(&b);
}

/* ---- 3. failures are error records ---------------------------------------------------------------- */

static void test_inb_fail_records_code_and_message_in_the_error_record(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_code[1] = -42;
    g_fail_msg[1] = "bad input 7";
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_action act = {.name = "failer", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);  /* post judged: its 0 stands */

    assert_int_equal(g_seen[1].fail_ret, -42);
    const res_seen *r = &g_post.r[1];
    assert_false(r->ok);
    assert_false(r->has_value);
    assert_true(r->has_error);
    assert_int_equal(r->etask, 1);
    assert_int_equal(r->erank, 0);
    assert_int_equal(r->ecode, -42);
    assert_non_null(strstr(r->emsg, "bad input 7"));
    for (size_t i = 0; i < 3; i += 2) {
      assert_true(g_post.r[i].ok);
      assert_true(g_post.r[i].has_value);
      assert_false(g_post.r[i].has_error);
      assert_int_equal(g_post.r[i].i, 10 * (int64_t)i);
    }
    assert_true(g_post.any_failed);
    assert_int_equal(g_post.failed, 1);
    inb_batch_free(&b);
  }
}

static void test_inb_fail_with_code_zero_records_eitem(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_msg[0] = "no code given";
    inb_batch *b = inb_batch_new(NULL, 2);
    inb_action act = {.name = "zero", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_seen[0].fail_ret, INB_EITEM);
    assert_false(g_post.r[0].ok);
    assert_int_equal(g_post.r[0].ecode, INB_EITEM);
    assert_non_null(strstr(g_post.r[0].emsg, "no code given"));
    inb_batch_free(&b);
  }
}

static void test_task_failing_without_inb_fail_gets_its_code_and_the_strerror_message(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_code[2] = INB_EIO;
    g_fail_code[3] = 17; /* any non-zero int is a failure code */
    inb_batch *b = inb_batch_new(NULL, 4);
    inb_action act = {.name = "plain", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_post.failed, 2);
    assert_int_equal(g_post.r[2].ecode, INB_EIO);
    assert_non_null(strstr(g_post.r[2].emsg, inb_strerror(INB_EIO)));
    assert_int_equal(g_post.r[3].ecode, 17);
    assert_true(g_post.r[3].emsg[0] != '\0');
    inb_batch_free(&b);
  }
}

static void test_a_failing_task_does_not_stop_the_other_tasks(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_code[0] = INB_EINVAL;
    g_fail_msg[0] = "first one fails";
    g_fail_code[5] = -9;
    inb_batch *b = inb_batch_new(NULL, 12);
    inb_action act = {.name = "goes_on", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(atomic_load(&g_fn_calls), 12);
    for (size_t i = 0; i < 12; i++) assert_int_equal(atomic_load(&g_seen[i].runs), 1);
    assert_int_equal(g_post.count, 12);
    assert_int_equal(g_post.failed, 2);
    for (size_t i = 0; i < 12; i++) assert_true(g_post.r[i].ok == (i != 0 && i != 5));
    inb_batch_free(&b);
  }
}

static void test_result_readers_out_of_range_are_false_and_null(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_action act = {.name = "oob", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_true(g_post.oob_clean);
    assert_false(g_post.any_failed);
    assert_int_equal(g_post.failed, 0);
    inb_batch_free(&b);
  }
}

/* ---- 4. post and the run's status ----------------------------------------------------------------- */

static void test_post_gets_results_in_task_order(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    for (size_t i = 0; i < 8; i++) g_delay_us[i] = (long)(8 - i) * 300; /* early tasks finish last */
    inb_batch *b = inb_batch_new(NULL, 20);
    inb_action act = {.name = "order", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_post.count, 20);
    for (size_t i = 0; i < 20; i++) {
      assert_true(g_post.r[i].ok);
      assert_int_equal(g_post.r[i].kind, INB_INT);
      assert_int_equal(g_post.r[i].i, 10 * (int64_t)i);
    }
    inb_batch_free(&b);
  }
}

static void test_without_post_a_failure_returns_eitem_naming_the_count_and_the_lowest_failure(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_code[2] = -1000;
    g_fail_msg[2] = "alpha went wrong";
    g_delay_us[2] = 3000; /* with threads the later failures usually happen first */
    g_fail_code[6] = -1000;
    g_fail_msg[6] = "beta went wrong";
    g_fail_code[8] = -1000;
    g_fail_msg[8] = "gamma went wrong";
    inb_batch *b = inb_batch_new(NULL, 10);
    inb_batch *out = NULL;
    inb_action act = {.name = "no_post", .fn = fn_configurable, .init = "indices"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), INB_EITEM);

    assert_ptr_equal(out, b);
    assert_int_equal(atomic_load(&g_fn_calls), 10);
    const char *msg = inb_errmsg();
    print_message("  errmsg: %s\n", msg);
    assert_non_null(strstr(msg, "3"));
    assert_non_null(strstr(msg, "alpha went wrong"));
    inb_batch_free(&b);
  }
}

static void test_without_post_all_succeeding_returns_ok_and_out_is_b(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 5);
    inb_batch *out = NULL;
    inb_action act = {.name = "fine", .fn = fn_configurable, .init = "indices"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), 0);
    assert_ptr_equal(out, b);
    assert_int_equal(atomic_load(&g_fn_calls), 5);
    inb_batch_free(&b);
  }
}

static void test_post_starts_with_out_as_b_and_keeping_it_returns_b(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 2);
    inb_batch *out = NULL;
    inb_action act = {.name = "keep", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), 0);
    assert_true(g_post.out_was_b);
    assert_ptr_equal(out, b);
    inb_batch_free(&b);
  }
}

/* ---- 5. init and post errors ---------------------------------------------------------------------- */

static void test_init_error_code_is_returned_unchanged_and_nothing_runs_after_it(void **state) {
  (void)state;
  const int codes[] = {-1234, 77, INB_ENOTFOUND};
  for (size_t k = 0; k < N_TARGETS; k++) {
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
      reset_all_for_next_target();
      g_init_rc = codes[c];
      inb_batch *b = inb_batch_new(NULL, 4);
      inb_batch *out = NULL;
      inb_action act = {.name = "bad_init", .fn = fn_configurable, .init_fn = init_custom, .post = post_capture};
      assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), codes[c]);

      assert_int_equal(g_init_calls, 1);
      assert_int_equal(atomic_load(&g_fn_calls), 0);
      assert_int_equal(g_post.calls, 0);
      assert_ptr_equal(out, b);
      assert_true(inb_errmsg()[0] != '\0');
      assert_non_null(strstr(inb_errmsg(), "bad_init"));
      inb_batch_free(&b);
    }
  }
}

static void test_post_error_code_is_returned_unchanged_and_out_is_b(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_post_rc = -555;
    inb_batch *b = inb_batch_new(NULL, 4);
    inb_batch *out = NULL;
    inb_action act = {.name = "bad_post", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), -555);

    assert_int_equal(atomic_load(&g_fn_calls), 4);
    assert_int_equal(g_post.calls, 1);
    assert_ptr_equal(out, b);
    assert_true(inb_errmsg()[0] != '\0');
    assert_non_null(strstr(inb_errmsg(), "bad_post"));
    inb_batch_free(&b);
  }
}

static void test_post_is_the_judge_of_failed_tasks_and_its_zero_stands(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_code[0] = -3; /* post returns 0 anyway: the run succeeds, post is the judge */
    inb_batch *b = inb_batch_new(NULL, 2);
    inb_action act = {.name = "judge", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_int_equal(g_post.failed, 1);
    inb_batch_free(&b);
  }
}

/* ---- 6. result values are copied when the task finishes ------------------------------------------- */

static _Thread_local char tl_str[32];
static _Thread_local unsigned char tl_bytes[4];
static _Thread_local int64_t tl_arr[3];

/* Returns STR, BYTES or ARRAY (by task % 3) pointing at this thread's buffers, which the next task on the
 * same thread overwrites: post can only see each task's own value if the engine copied it. */
static int fn_thread_local_result(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t t = inb_item_task(it);
  switch (t % 3) {
  case 0:
    snprintf(tl_str, sizeof tl_str, "task-%zu", t);
    *result = inb_str(tl_str);
    break;
  case 1:
    tl_bytes[0] = (unsigned char)t;
    tl_bytes[1] = 0;
    tl_bytes[2] = (unsigned char)(t + 1);
    tl_bytes[3] = 0xAB;
    *result = inb_bytes(tl_bytes, sizeof tl_bytes);
    break;
  default:
    for (int j = 0; j < 3; j++) tl_arr[j] = (int64_t)t * (j + 1);
    *result = inb_arr((inb_array){.dtype = INB_I64, .ndim = 1, .shape = {3}, .data = tl_arr});
    break;
  }
  return 0;
}

static void test_result_strings_bytes_and_arrays_are_copied_when_the_task_finishes(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    inb_batch *b = inb_batch_new(NULL, 12);
    inb_action act = {.name = "copies", .fn = fn_thread_local_result, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);

    assert_int_equal(g_post.count, 12);
    for (size_t t = 0; t < 12; t++) {
      const res_seen *r = &g_post.r[t];
      assert_true(r->ok);
      char want[32];
      switch (t % 3) {
      case 0:
        snprintf(want, sizeof want, "task-%zu", t);
        assert_int_equal(r->kind, INB_STR);
        assert_string_equal(r->s, want);
        assert_int_equal(r->n, strlen(want));
        break;
      case 1: {
        const unsigned char bytes[4] = {(unsigned char)t, 0, (unsigned char)(t + 1), 0xAB};
        assert_int_equal(r->kind, INB_BYTES);
        assert_int_equal(r->n, 4);
        assert_memory_equal(r->bytes, bytes, 4);
        break;
      }
      default:
        assert_int_equal(r->kind, INB_ARRAY);
        assert_int_equal(r->dtype, INB_I64);
        assert_int_equal(r->ndim, 1);
        assert_int_equal(r->shape0, 3);
        for (int j = 0; j < 3; j++) assert_int_equal(r->arr[j], (int64_t)t * (j + 1));
        break;
      }
    }
    inb_batch_free(&b);
  }
}

/* Tasks write row i of a component; post and the caller see every write. */
static int64_t *g_out_rows; /* the component the tasks write, taken by the batch */
static bool g_post_saw_all_writes;

static int fn_write_row(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  inb_array *a = inb_batch_get(inb_item_batch(it), "square");
  size_t t = inb_item_task(it);
  ((int64_t *)a->data)[t] = (int64_t)(t * t);
  return 0;
}

static int post_check_rows(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                           inb_batch **out, void *data) {
  (void)r, (void)call, (void)extra, (void)out, (void)data;
  const int64_t *rows = inb_batch_get(b, "square")->data;
  g_post_saw_all_writes = true;
  for (size_t i = 0; i < inb_batch_size(b); i++)
    if (rows[i] != (int64_t)(i * i)) g_post_saw_all_writes = false;
  return 0;
}

static void test_task_writes_to_the_batch_are_visible_to_post(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    g_post_saw_all_writes = false;
    const size_t n = 500;
    inb_batch *b = inb_batch_new(NULL, n);
    g_out_rows = calloc(n, sizeof *g_out_rows);
    assert_non_null(g_out_rows);
    assert_int_equal(inb_batch_set(b, "square",
                                   (inb_array){.dtype = INB_I64, .ndim = 1, .shape = {(int64_t)n}, .data = g_out_rows},
                                   true), 0);
    inb_action act = {.name = "writes", .fn = fn_write_row, .init = "indices", .post = post_check_rows};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_true(g_post_saw_all_writes);
    inb_batch_free(&b);
  }
}

/* ---- per-call target override --------------------------------------------------------------------- */

static void test_per_call_target_for_overrides_the_action_threads_target(void **state) {
  (void)state;
  reset_all_for_next_target();
  for (size_t i = 0; i < 32; i++) g_delay_us[i] = 100;
  inb_batch *b = inb_batch_new(NULL, 32);
  inb_action act = {.name = "override_target", .fn = fn_configurable, .init = "indices", .target = INB_THREADS};
  inb_opts o = {.target = INB_FOR};
  assert_int_equal(inb_run(b, &act, NULL, &o, NULL), 0);

  assert_int_equal(atomic_load(&g_fn_calls), 32);
  pthread_t self = pthread_self();
  for (size_t i = 0; i < 32; i++) assert_true(pthread_equal(g_seen[i].thread, self));
  inb_batch_free(&b);
}

static void test_per_call_target_threads_overrides_the_action_for_target(void **state) {
  (void)state;
  reset_all_for_next_target();
  inb_batch *b = inb_batch_new(NULL, 16);
  inb_action act = {.name = "override_target", .fn = fn_configurable, .init = "indices", .target = INB_FOR,
                    .post = post_capture};
  inb_opts o = {.target = INB_THREADS, .n_workers = 2};
  assert_int_equal(inb_run(b, &act, NULL, &o, NULL), 0);
  assert_int_equal(atomic_load(&g_fn_calls), 16);
  assert_int_equal(g_post.count, 16);
  inb_batch_free(&b);
}

/* ---- the batch post returns ----------------------------------------------------------------------- */

static void test_post_new_batch_belongs_to_the_caller(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_post_new_batch = true;
    inb_batch *b = inb_batch_new(NULL, 5);
    inb_batch *out = NULL;
    inb_action act = {.name = "new_batch", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, &out), 0);

    assert_non_null(out);
    assert_ptr_not_equal(out, b);
    assert_int_equal(inb_batch_size(out), 2);
    inb_batch_free(&out);  /* ours: LeakSanitizer would report it otherwise, ASan a double free if not ours */
    inb_batch_free(&b);
  }
}

static void test_post_new_batch_is_freed_by_the_engine_when_out_is_null(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_post_new_batch = true;
    inb_batch *b = inb_batch_new(NULL, 5);
    inb_action act = {.name = "new_batch", .fn = fn_configurable, .init = "indices", .post = post_capture};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);  /* LeakSanitizer checks the engine freed it */
    assert_int_equal(g_post.calls, 1);
    assert_int_equal(inb_batch_size(b), 5);  /* b itself is untouched */
    inb_batch_free(&b);
  }
}

/* ---- inb_errmsg and inb_run ----------------------------------------------------------------------- */

static void *successful_runs_then_read_errmsg(void *arg) {
  char *seen = arg;
  inb_batch *b = inb_batch_new(NULL, 8);
  inb_action act = {.name = "quiet", .fn = fn_configurable, .init = "indices"};
  int rc = 0;
  for (size_t k = 0; k < N_TARGETS && rc == 0; k++) {
    act.target = k_targets[k];
    rc = inb_run(b, &act, NULL, NULL, NULL);
  }
  inb_batch_free(&b);
  snprintf(seen, 64, "%s", rc == 0 ? inb_errmsg() : "run failed");
  return NULL;
}

static void test_errmsg_is_empty_in_a_fresh_thread_after_successful_runs(void **state) {
  (void)state;
  reset_all_for_next_target();
  char seen[64] = "not set";
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, successful_runs_then_read_errmsg, seen), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_string_equal(seen, "");
}

static void test_successful_run_leaves_errmsg_as_it_was(void **state) {
  (void)state;
  for (size_t k = 0; k < N_TARGETS; k++) {
    reset_all_for_next_target();
    g_fail_msg[0] = "an earlier failure";
    inb_batch *b = inb_batch_new(NULL, 3);
    inb_action act = {.name = "first_fails", .fn = fn_configurable, .init = "indices"};
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), INB_EITEM);
    char before[1024];
    snprintf(before, sizeof before, "%s", inb_errmsg());
    assert_true(before[0] != '\0');

    reset_all_for_next_target();
    act.name = "all_fine";
    act.post = post_capture;
    assert_int_equal(run_on(k_targets[k], b, &act, NULL, NULL), 0);
    assert_string_equal(inb_errmsg(), before);
    inb_batch_free(&b);
  }
}

/* ---- timeout_ms ----------------------------------------------------------------------------------- */

static void check_timeout_cancels_unstarted_tasks(inb_target t, int n_workers) {
  reset_all_for_next_target();
  for (size_t i = 0; i < 50; i++) g_delay_us[i] = 20000;
  inb_batch *b = inb_batch_new(NULL, 50);
  inb_action act = {.name = "slow", .fn = fn_configurable, .init = "indices", .post = post_capture, .target = t};
  inb_opts o = {.n_workers = n_workers, .timeout_ms = 100};
  print_message("  target %s\n", target_name(t));
  assert_int_equal(inb_run(b, &act, NULL, &o, NULL), 0);

  assert_int_equal(g_post.count, 50);
  assert_true(g_post.r[0].ok);
  assert_true(g_post.failed > 0);
  size_t canceled = 0;
  for (size_t i = 0; i < 50; i++) {
    if (g_post.r[i].ok) continue;
    assert_int_equal(g_post.r[i].ecode, INB_ECANCELED);
    assert_int_equal(g_post.r[i].etask, i);
    canceled++;
  }
  assert_int_equal(canceled, g_post.failed);
  assert_true(atomic_load(&g_fn_calls) < 50);
  inb_batch_free(&b);
}

static void test_timeout_turns_tasks_not_started_in_time_into_canceled_records_for(void **state) {
  (void)state;
  check_timeout_cancels_unstarted_tasks(INB_FOR, 0);
}

static void test_timeout_turns_tasks_not_started_in_time_into_canceled_records_threads(void **state) {
  (void)state;
  check_timeout_cancels_unstarted_tasks(INB_THREADS, 2);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_indices_init_gives_each_task_its_item_index_as_int),
      T(test_items_init_gives_each_task_one_named_row_per_component),
      T(test_component_init_gives_each_task_its_row_as_a_positional_array),
      T(test_run_once_init_runs_one_task_without_item_arguments),
      T(test_run_once_task_gets_only_the_call_arguments),
      T(test_standard_init_names_win_over_components_of_that_name),
      T(test_custom_init_lists_become_the_task_arguments),
      T(test_a_custom_init_failure_summary_names_the_task_not_an_item),
      T(test_custom_init_null_entry_is_an_empty_list),
      T(test_custom_init_with_no_tasks_gives_post_zero_results_and_never_calls_fn),
      T(test_call_positional_arguments_are_appended_after_item_arguments),
      T(test_call_named_arguments_override_item_named_arguments),
      T(test_extra_reaches_init_and_post_but_never_a_task),
      T(test_extra_never_reaches_a_task_of_a_standard_init),
      T(test_init_and_post_get_non_null_call_and_extra_when_none_were_given),
      T(test_null_call_opts_and_out_are_allowed),
      T(test_inb_fail_records_code_and_message_in_the_error_record),
      T(test_inb_fail_with_code_zero_records_eitem),
      T(test_task_failing_without_inb_fail_gets_its_code_and_the_strerror_message),
      T(test_a_failing_task_does_not_stop_the_other_tasks),
      T(test_result_readers_out_of_range_are_false_and_null),
      T(test_post_gets_results_in_task_order),
      T(test_without_post_a_failure_returns_eitem_naming_the_count_and_the_lowest_failure),
      T(test_without_post_all_succeeding_returns_ok_and_out_is_b),
      T(test_post_starts_with_out_as_b_and_keeping_it_returns_b),
      T(test_init_error_code_is_returned_unchanged_and_nothing_runs_after_it),
      T(test_post_error_code_is_returned_unchanged_and_out_is_b),
      T(test_post_is_the_judge_of_failed_tasks_and_its_zero_stands),
      T(test_result_strings_bytes_and_arrays_are_copied_when_the_task_finishes),
      T(test_task_writes_to_the_batch_are_visible_to_post),
      T(test_per_call_target_for_overrides_the_action_threads_target),
      T(test_per_call_target_threads_overrides_the_action_for_target),
      T(test_post_new_batch_belongs_to_the_caller),
      T(test_post_new_batch_is_freed_by_the_engine_when_out_is_null),
      T(test_errmsg_is_empty_in_a_fresh_thread_after_successful_runs),
      T(test_successful_run_leaves_errmsg_as_it_was),
      T(test_timeout_turns_tasks_not_started_in_time_into_canceled_records_for),
      T(test_timeout_turns_tasks_not_started_in_time_into_canceled_records_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
