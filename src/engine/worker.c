/* Running tasks: argument merging, calling fn, and recording each result or failure by task position. */
#include "engine/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/value.h"

static _Thread_local int task_depth;

int inb__task_depth(void) { return task_depth; }

/* Standard inits: the view is [item slot(s)] + call positional, and named = item named (components, for
 * "items") with the call's named values overriding, then the call's other named values. Built once per
 * worker; a task only rewrites its item slots. */
static int init_standard_view(inb__worker *w) {
  const inb__call *c = w->c;
  const inb_args *call = c->call;
  w->nitem_pos = (c->gen == INB__GEN_INDICES || c->gen == INB__GEN_COMPONENT) ? 1 : 0;
  size_t nnamed_item = c->gen == INB__GEN_ITEMS ? c->ncomps : 0;
  if (inb__args_reserve(&w->args, w->nitem_pos + call->npos, nnamed_item + call->nnamed)) return INB_ENOMEM;
  w->args.npos = w->nitem_pos + call->npos;
  if (call->npos) memcpy(w->args.pos + w->nitem_pos, call->pos, call->npos * sizeof *call->pos);
  if (c->gen == INB__GEN_INDICES) w->args.pos[0] = inb_int(0);
  w->args.nnamed = 0;
  for (size_t j = 0; j < nnamed_item; j++) {
    long over = inb__args_find(call, c->comp_names[j]);
    w->args.named[w->args.nnamed++] =
        (inb__named){(char *)c->comp_names[j], over >= 0 ? call->named[over].v : inb_none()};
  }
  for (size_t k = 0; k < call->nnamed; k++)
    if (inb__args_find(&w->args, call->named[k].name) < 0) w->args.named[w->args.nnamed++] = call->named[k];
  return 0;
}

int inb__worker_init(inb__worker *w, inb__call *c, int rank) {
  *w = (inb__worker){.c = c};
  w->args.borrowed = true;
  w->item = (struct inb_item){.b = c->b, .rank = rank, .io = c->io, .outrows = &c->outrows, .task_base = c->task_base,
                              .data = c->act->data, .deadline_ns = c->deadline_ns};
  if (c->gen != INB__GEN_LISTS && init_standard_view(w)) return INB_ENOMEM;
  return 0;
}

/* Custom init: item positional then call positional; item named with call named overriding. */
static int merge_list(inb__worker *w, const inb_args *item) {
  const inb_args *call = w->c->call;
  size_t ipos = item ? item->npos : 0, inam = item ? item->nnamed : 0;
  if (inb__args_reserve(&w->args, ipos + call->npos, inam + call->nnamed)) return INB_ENOMEM;
  if (ipos) memcpy(w->args.pos, item->pos, ipos * sizeof *item->pos);
  if (call->npos) memcpy(w->args.pos + ipos, call->pos, call->npos * sizeof *call->pos);
  w->args.npos = ipos + call->npos;
  if (inam) memcpy(w->args.named, item->named, inam * sizeof *item->named);
  w->args.nnamed = inam;
  for (size_t k = 0; k < call->nnamed; k++) {
    long at = inam ? inb__args_find(item, call->named[k].name) : -1;
    if (at >= 0)
      w->args.named[at].v = call->named[k].v;
    else
      w->args.named[w->args.nnamed++] = call->named[k];
  }
  return 0;
}

/* A row view without recomputing strides: the row's shape is fixed, only the offset moves. */
static inline inb_value row_of(const inb_array *a, size_t i) {
  inb_array r = inb_array_row(a, (int64_t)i);
  return inb_arr(r);
}

static inline int prepare(inb__worker *w, size_t i) {
  const inb__call *c = w->c;
  switch (c->gen) {
  case INB__GEN_INDICES:
    w->args.pos[0].u.i = c->index[i]; /* kind INB_INT was set once by init_standard_view */
    return 0;
  case INB__GEN_COMPONENT:
    w->args.pos[0] = row_of(c->comps[0], i);
    return 0;
  case INB__GEN_ITEMS:
    for (size_t j = 0; j < c->ncomps; j++)
      if (!c->comp_fixed[j]) w->args.named[j].v = row_of(c->comps[j], i);
    return 0;
  case INB__GEN_ONCE:
    return 0;
  case INB__GEN_LISTS:
    return merge_list(w, c->lists[i]);
  }
  return 0;
}

void inb__stop_raise(inb__stop *s, const char *why) {
  int expect = 0;
  if (atomic_load(&s->stopped)) return;
  if (atomic_compare_exchange_strong(&s->stopped, &expect, 2)) { /* 2: being raised, why not yet written */
    snprintf(s->why, sizeof s->why, "%s", why);
    atomic_store(&s->stopped, 1);
  }
}

/* Whether tasks may still start; a task that may not is recorded INB_ECANCELED with the stop's reason. */
static inline bool stopped(inb__worker *w, size_t i) {
  inb__stop *s = w->c->stop;
  int st = atomic_load_explicit(&s->stopped, memory_order_acquire);
  if (__builtin_expect(!st, 1)) return false;
  while (st == 2) st = atomic_load_explicit(&s->stopped, memory_order_acquire); /* why is being written */
  inb__worker_fail(w, i, INB_ECANCELED, s->why, 0);
  return true;
}

/* A task that ran failed: count it toward max_failures. */
static void count_failure(inb__worker *w) {
  inb__stop *s = w->c->stop;
  int64_t n = atomic_fetch_add(&s->failures, 1) + 1;
  if (s->max_failures && n >= s->max_failures) {
    char why[160];
    snprintf(why, sizeof why, "not started: the run stopped taking work after %lld failed tasks (max_failures)",
             (long long)n);
    inb__stop_raise(s, why);
  }
  if (s->notify) s->notify(s);
}

/* Records task i's failure: every record with a post, else a count and the lowest position. */
void inb__worker_fail(inb__worker *w, size_t i, int code, const char *msg, int attempts) {
  w->nfailed++;
  if (w->c->col_kinds) w->c->col_kinds[i] = INB__DEFERRED; /* its record tells */
  inb_error e = {.task = i, .rank = w->item.rank, .code = code, .message = msg, .attempts = attempts};
  int rc = (w->c->results || w->c->all_errors) ? inb__errlist_add(&w->errors, &e) : inb__errlist_keep_first(&w->first, &e);
  if (rc) w->rc = INB_ENOMEM;
  if (attempts > 0) count_failure(w);
}

/* Results as columns (an MPI chunk): scalars in place, values with data as copies on the side. */
static void store_column(inb__worker *w, size_t i, const inb_value *v) {
  inb__call *c = w->c;
  if (!inb__value_has_data(v)) {
    c->col_kinds[i] = (uint8_t)v->kind;
    c->col_scalars[i] = v->kind == INB_BOOL ? (int64_t)v->u.b : v->kind == INB_NONE ? 0 : v->u.i;
  } else if (inb__vallist_add(&w->deferred, i, v)) {
    w->rc = INB_ENOMEM; /* the library's failure, not the task's: the call fails */
  } else {
    c->col_kinds[i] = INB__DEFERRED;
  }
}

/* The per-task steps are static inline here (run_one's path) and exported as functions for async. */
static inline void store(inb__worker *w, size_t i, const inb_value *v) {
  inb__call *c = w->c;
  if (c->col_kinds) {
    store_column(w, i, v);
    return;
  }
  if (!c->results) return; /* without a post nothing reads it */
  if (!inb__value_has_data(v)) {
    inb__results_store_scalar(c->results, i, v);
  } else if (inb__results_store(c->results, i, v, &w->copies)) {
    w->rc = INB_ENOMEM; /* the library's failure, not the task's: the call fails */
  }
}

void inb__worker_store(inb__worker *w, size_t i, const inb_value *v) { store(w, i, v); }

static inline bool late(inb__worker *w, size_t i) {
  inb__call *c = w->c;
  if (__builtin_expect(!c->deadline_ns, 1) || inb__now_ns() <= c->deadline_ns) return false;
  char msg[96];
  snprintf(msg, sizeof msg, "not started before the timeout of %lld ms", (long long)c->timeout_ms);
  inb__worker_fail(w, i, INB_ECANCELED, msg, 0);
  return true;
}

bool inb__worker_late(inb__worker *w, size_t i) { return late(w, i); }

static inline const inb_args *args_of(inb__worker *w, size_t i) {
  if (prepare(w, i)) {
    w->rc = INB_ENOMEM; /* the call fails; the task is recorded as never started */
    inb__worker_fail(w, i, INB_ENOMEM, "not started: out of memory merging its arguments", 0);
    return NULL;
  }
  return &w->args;
}

const inb_args *inb__worker_args(inb__worker *w, size_t i) { return args_of(w, i); }

bool inb__worker_stopped(inb__worker *w, size_t i) { return stopped(w, i); }

static void run_one(inb__worker *w, size_t i) {
  inb__call *c = w->c;
  if (late(w, i) || stopped(w, i) || !args_of(w, i)) return;
  w->item.task = c->task_base + i;
  w->item.index = c->index && c->gen != INB__GEN_ONCE ? c->index[i] : -1;
  inb_value *res = &w->scratch;
  int rc, attempts = 0;
  do {
    w->item.has_msg = false;
    res->kind = INB_NONE; /* all of inb_none() that matters; writing the whole 88-byte value costs more than a task */
    rc = c->act->fn(&w->item, &w->args, res);
    attempts++;
  } while (__builtin_expect(rc != 0, 0) && attempts <= c->retries && !atomic_load(&c->stop->stopped));
  if (rc)
    inb__worker_fail(w, i, rc, w->item.has_msg ? w->item.msg : NULL, attempts);
  else
    store(w, i, res);
  w->item.has_msg = false;
  if (__builtin_expect(w->item.oom, 0)) w->rc = INB_ENOMEM, w->item.oom = false;
}

void inb__worker_task_enter(void) { task_depth++; }
void inb__worker_task_leave(void) { task_depth--; }

void inb__worker_run(inb__worker *w, size_t lo, size_t hi) {
  task_depth++;
  for (size_t i = lo; i < hi; i++) run_one(w, i);
  task_depth--;
}

void inb__worker_absorb(inb__worker *w) {
  inb__call *c = w->c;
  c->nfailed += w->nfailed;
  if (w->rc && !c->internal_rc) c->internal_rc = w->rc;
  if (c->results && inb__ptrlist_move(&c->results->copies, &w->copies) && !c->internal_rc)
    c->internal_rc = INB_ENOMEM;
  inb__ptrlist_release(&w->copies); /* what did not move (out of memory) is freed, never leaked */
  if (w->first.n && (!c->first.n || w->first.v[0].task < c->first.v[0].task)) {
    inb__errlist_release(&c->first);
    c->first = w->first;
    w->first = (inb__errlist){0};
  }
  if (inb__errlist_move(&c->errors, &w->errors) && !c->internal_rc) c->internal_rc = INB_ENOMEM;
  if (inb__vallist_move(&c->deferred, &w->deferred) && !c->internal_rc) c->internal_rc = INB_ENOMEM;
  inb__vallist_release(&w->deferred);
  inb__errlist_release(&w->first);
  inb__errlist_release(&w->errors);
  inb__args_view_release(&w->args);
  inb__item_release(&w->item);
}
