/* The `async` target: tasks start on one libuv loop in the calling thread and finish, now or later, with
 * inb_done. At most max_in_flight tasks are started and not done at once (each may hold a descriptor): the next
 * starts when one finishes. The call returns when every task is done; a timeout, or a loop that runs out of
 * work with tasks unfinished, turns those tasks into INB_ECANCELED records instead of hanging. Before
 * returning, every handle still open on the loop is closed and the loop run until they are, so nothing stays
 * pending. */
#include "local/local.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/worker.h"

enum { PENDING = 0, FINISHED_OK, FINISHED_FAILED, DONE_TWICE, ABANDONED, NOT_STARTED };

typedef struct {
  inb__call *c;
  inb__worker w;           /* records results and failures: everything here runs on the loop's thread */
  uv_loop_t loop;
  uv_timer_t timer;
  struct inb_item *items;  /* one per task: inb_done may come after start returned */
  size_t next;             /* the first task not yet started */
  size_t in_flight;        /* started and not done */
  size_t limit;            /* max_in_flight */
  bool starting;           /* start_more is on the stack: a task finishing inside start must not recurse */
  bool timed_out;          /* the timeout fired (libuv keeps whole milliseconds: the clock can't tell) */
} async_run;

static size_t local_index(const struct inb_item *it) { return it->task - ((async_run *)it->async)->c->task_base; }

static void start_more(async_run *a);
static void start_attempt(async_run *a, size_t i);

/* The end of one attempt of task i: a failure with retries left starts it again, else the task is done. */
static void finish(async_run *a, struct inb_item *it, int code, const inb_value *result) {
  size_t i = local_index(it);
  if (it->oom) a->w.rc = INB_ENOMEM; /* the library failed the task (inb_item_output): the call fails */
  if (code && it->attempts <= a->c->retries && !atomic_load(&a->c->stop->stopped)) {
    start_attempt(a, i); /* another attempt: still in flight */
    return;
  }
  it->done = code ? FINISHED_FAILED : FINISHED_OK;
  a->in_flight--;
  if (code)
    inb__worker_fail(&a->w, i, code, it->has_msg ? it->msg : NULL, it->attempts);
  else
    inb__worker_store(&a->w, i, result);
  if (!a->starting) start_more(a);
}

static void on_done(struct inb_item *it, int code, inb_value result) {
  async_run *a = it->async;
  if (it->done == FINISHED_OK) { /* the second inb_done turns a success into an error record */
    it->done = DONE_TWICE;
    inb__worker_fail(&a->w, local_index(it), INB_EINVAL, "inb_done called twice for this task", it->attempts);
    return;
  }
  if (it->done != PENDING) return; /* already failed, or abandoned after the timeout: nothing to add */
  finish(a, it, code, &result);
}

static void on_timeout(uv_timer_t *t) {
  ((async_run *)t->data)->timed_out = true;
  uv_stop(t->loop);
}

static void start_attempt(async_run *a, size_t i) {
  struct inb_item *it = &a->items[i];
  it->attempts++;
  it->has_msg = false;
  it->done = PENDING;
  const inb_args *args = inb__worker_args(&a->w, i);
  if (!args) { /* out of memory: recorded, and the call fails */
    it->done = FINISHED_FAILED;
    a->in_flight--;
    return;
  }
  int rc = a->c->act->start(it, args);
  if (rc && it->done == PENDING) {
    if (!it->has_msg) inb_fail(it, rc, "start failed without inb_done");
    finish(a, it, rc, NULL);
  }
}

/* Starts tasks until max_in_flight are in flight or none is left; stops the loop when every task is done. */
static void start_more(async_run *a) {
  inb__call *c = a->c;
  a->starting = true;
  while (a->in_flight < a->limit && a->next < c->ntasks && !a->timed_out) {
    size_t i = a->next++;
    struct inb_item *it = &a->items[i];
    *it = (struct inb_item){.b = c->b, .task = c->task_base + i, .rank = c->rank, .loop = &a->loop,
                            .index = c->index && c->gen != INB__GEN_ONCE ? c->index[i] : -1,
                            .on_done = on_done, .async = a, .io = c->io, .outrows = &c->outrows,
                            .task_base = c->task_base, .data = c->act->data, .deadline_ns = c->deadline_ns};
    if (inb__worker_late(&a->w, i) || inb__worker_stopped(&a->w, i)) {
      it->done = NOT_STARTED;
      continue;
    }
    a->in_flight++; /* before start: start may call inb_done itself */
    start_attempt(a, i);
  }
  a->starting = false;
  if (!a->in_flight && a->next >= c->ntasks) uv_stop(&a->loop); /* handles the tasks left open are closed after */
}

/* Tasks still pending when the loop stopped become INB_ECANCELED records; tasks never started too. */
static void abandon_pending(async_run *a) {
  char msg[128];
  if (a->timed_out)
    snprintf(msg, sizeof msg, "did not finish within the timeout of %lld ms", (long long)a->c->timeout_ms);
  else
    snprintf(msg, sizeof msg, "never finished: the event loop ran out of work before inb_done was called");
  for (size_t i = 0; i < a->next; i++)
    if (a->items[i].done == PENDING) {
      a->items[i].done = ABANDONED;
      inb__worker_fail(&a->w, i, INB_ECANCELED, msg, a->items[i].attempts);
    }
  snprintf(msg, sizeof msg, "not started before the timeout of %lld ms", (long long)a->c->timeout_ms);
  for (size_t i = a->next; i < a->c->ntasks; i++) inb__worker_fail(&a->w, i, INB_ECANCELED, msg, 0);
  a->next = a->c->ntasks;
  a->in_flight = 0;
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void run_loop(async_run *a) {
  inb__call *c = a->c;
  uv_timer_init(&a->loop, &a->timer);
  a->timer.data = a;
  if (c->deadline_ns) {
    int64_t left_ms = (c->deadline_ns - inb__now_ns()) / 1000000;
    uv_timer_start(&a->timer, on_timeout, left_ms > 0 ? (uint64_t)left_ms : 0, 0);
  }
  start_more(a);
  if (a->in_flight || a->next < c->ntasks) uv_run(&a->loop, UV_RUN_DEFAULT);
  if (a->in_flight || a->next < c->ntasks) abandon_pending(a);
  uv_walk(&a->loop, close_handle, NULL);
  while (uv_run(&a->loop, UV_RUN_DEFAULT)) {
  } /* until every close (and queued fs request) is done */
}

int inb__async_run(inb__call *c) {
  async_run a = {.c = c, .limit = c->max_in_flight > 0 ? (size_t)c->max_in_flight : INB_ASYNC_IN_FLIGHT};
  a.items = inb__calloc(c->ntasks ? c->ntasks : 1, sizeof *a.items);
  int rc = a.items ? inb__worker_init(&a.w, c, c->rank) : INB_ENOMEM;
  if (rc) {
    if (a.items) inb__worker_absorb(&a.w);
    inb__free(a.items);
    return inb__err(INB_ENOMEM, "action '%s': out of memory for %zu async tasks", c->name, c->ntasks);
  }
  rc = uv_loop_init(&a.loop);
  if (rc) {
    inb__worker_absorb(&a.w);
    inb__free(a.items);
    return inb__err(INB_EIO, "action '%s': cannot start an event loop: %s", c->name, uv_strerror(rc));
  }
  inb__worker_task_enter();
  run_loop(&a);
  inb__worker_task_leave();
  uv_loop_close(&a.loop);
  for (size_t i = 0; i < c->ntasks; i++) inb__item_release(&a.items[i]);
  inb__free(a.items);
  inb__worker_absorb(&a.w);
  return 0;
}
