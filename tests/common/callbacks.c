/* Shared tasks, inits and posts (see callbacks.h). */
#include "callbacks.h"

#include "checks.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- counting runs ---------------------------------------------------------------------------------------- */

static atomic_int g_runs[COUNTED_TASKS]; /* times task i ran (every attempt) */
static atomic_long g_ran;                /* tasks that ran at least once */

void reset_counts(void) {
  for (size_t i = 0; i < COUNTED_TASKS; i++) atomic_store(&g_runs[i], 0);
  atomic_store(&g_ran, 0);
}

int count_run(size_t i) {
  if (i >= COUNTED_TASKS) return 0;
  int run = atomic_fetch_add(&g_runs[i], 1) + 1;
  if (run == 1) atomic_fetch_add(&g_ran, 1);
  return run;
}

int runs_of(size_t i) { return i < COUNTED_TASKS ? atomic_load(&g_runs[i]) : 0; }

long tasks_ran(void) { return atomic_load(&g_ran); }

/* ---- tasks ------------------------------------------------------------------------------------------------ */

int fn_count(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  count_run(inb_item_task(it));
  *result = inb_int((int64_t)inb_item_task(it));
  return 0;
}

int done_in_start(inb_item *it, const inb_args *args, inb_item_fn fn) {
  inb_value v = inb_none(); /* what fn's *result starts as on the other targets */
  int rc = fn(it, args, &v);
  inb_done(it, rc, rc ? inb_none() : v);
  return 0;
}

/* ---- inits and posts -------------------------------------------------------------------------------------- */

void *g_init_data, *g_post_data;

static inb_value position(size_t i) { return inb_int((int64_t)i); }

int init_index_lists(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                     size_t *ntasks, void *data) {
  (void)call, (void)extra;
  g_init_data = data;
  return one_value_lists(inb_batch_size(b), position, tasks, ntasks);
}

int one_value_lists(size_t n, inb_value (*arg)(size_t i), inb_args ***tasks, size_t *ntasks) {
  inb_args **l = calloc(n ? n : 1, sizeof *l);
  if (!l) return INB_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!(l[i] = inb_args_new()) || inb_args_add(l[i], arg(i))) {
      for (size_t k = 0; k <= i; k++) inb_args_free(&l[k]);
      free(l);
      return INB_ENOMEM;
    }
  }
  *tasks = l;
  *ntasks = n;
  return 0;
}

int post_every_task_ok(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out;
  g_post_data = data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) return verdict("post got %zu results for %zu tasks", n, inb_batch_size(b));
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!inb_result_ok(r, i)) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    if (!v || v->kind != INB_INT || v->u.i != (int64_t)i) return verdict("task %zu: wrong result", i);
  }
  return 0;
}

int init_no_column(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks, size_t *ntasks,
                   void *data) {
  (void)b, (void)call, (void)extra, (void)tasks, (void)ntasks, (void)data;
  return inb_set_error(INB_EINVAL, "no column %s", "x");
}

int post_no_column(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                   inb_batch **out, void *data) {
  (void)b, (void)r, (void)call, (void)extra, (void)out, (void)data;
  return inb_set_error(INB_EINVAL, "no column %s", "x");
}

int post_code_17(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra, inb_batch **out,
                 void *data) {
  (void)b, (void)r, (void)call, (void)extra, (void)out, (void)data;
  return 17;
}
