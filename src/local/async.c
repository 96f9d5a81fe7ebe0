/* The `async` target: every task starts at once on one libuv loop in the calling thread and finishes, now or
 * later, with inb_done. The call returns when every task is done; a timeout, or a loop that runs out of work
 * with tasks unfinished, turns those tasks into INB_ECANCELED records instead of hanging. Before returning,
 * every handle still open on the loop is closed and the loop run until they are, so nothing stays pending. */
#include "local/local.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/worker.h"

enum { PENDING = 0, FINISHED_OK, FINISHED_FAILED, DONE_TWICE, ABANDONED };

typedef struct {
  inb__call *c;
  inb__worker w;           /* records results and failures: everything here runs on the loop's thread */
  uv_loop_t loop;
  uv_timer_t timer;
  struct inb_item *items;  /* one per task: inb_done may come after start returned */
  size_t pending;
  bool started_all;        /* every start ran: from now on the last inb_done ends the loop */
  bool timed_out;          /* the timeout fired (libuv keeps whole milliseconds: the clock can't tell) */
} async_run;

static size_t local_index(const struct inb_item *it) { return it->task - ((async_run *)it->async)->c->task_base; }

static void on_done(struct inb_item *it, int code, inb_value result) {
  async_run *a = it->async;
  size_t i = local_index(it);
  if (it->done == FINISHED_OK) { /* the second inb_done turns a success into an error record */
    it->done = DONE_TWICE;
    inb__worker_fail(&a->w, i, INB_EINVAL, "inb_done called twice for this task");
    return;
  }
  if (it->done != PENDING) return; /* already failed, or abandoned after the timeout: nothing to add */
  it->done = code ? FINISHED_FAILED : FINISHED_OK;
  a->pending--;
  if (code)
    inb__worker_fail(&a->w, i, code, it->has_msg ? it->msg : NULL);
  else
    inb__worker_store(&a->w, i, &result);
  if (!a->pending && a->started_all) uv_stop(&a->loop); /* done: handles the tasks left open are closed after */
}

static void on_timeout(uv_timer_t *t) {
  ((async_run *)t->data)->timed_out = true;
  uv_stop(t->loop);
}

static void start_one(async_run *a, size_t i) {
  inb__call *c = a->c;
  struct inb_item *it = &a->items[i];
  *it = (struct inb_item){.b = c->b, .task = c->task_base + i, .rank = c->rank, .loop = &a->loop,
                          .on_done = on_done, .async = a, .io = c->io, .outrows = &c->outrows,
                          .task_base = c->task_base, .data = c->act->data, .deadline_ns = c->deadline_ns};
  const inb_args *args = inb__worker_late(&a->w, i) ? NULL : inb__worker_args(&a->w, i);
  if (!args) {
    it->done = FINISHED_FAILED;
    return;
  }
  a->pending++; /* before start: start may call inb_done itself */
  int rc = c->act->start(it, args);
  if (rc && it->done == PENDING) {
    it->done = FINISHED_FAILED;
    a->pending--;
    inb__worker_fail(&a->w, i, rc, it->has_msg ? it->msg : "start failed without inb_done");
  }
}

/* Tasks still pending when the loop stopped become INB_ECANCELED records. */
static void abandon_pending(async_run *a, bool timed_out) {
  char msg[128];
  if (timed_out)
    snprintf(msg, sizeof msg, "did not finish within the timeout of %lld ms", (long long)a->c->timeout_ms);
  else
    snprintf(msg, sizeof msg, "never finished: the event loop ran out of work before inb_done was called");
  for (size_t i = 0; i < a->c->ntasks; i++)
    if (a->items[i].done == PENDING) {
      a->items[i].done = ABANDONED;
      inb__worker_fail(&a->w, i, INB_ECANCELED, msg);
    }
  a->pending = 0;
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
  for (size_t i = 0; i < c->ntasks; i++) start_one(a, i);
  a->started_all = true;
  if (a->pending) uv_run(&a->loop, UV_RUN_DEFAULT);
  if (a->pending) abandon_pending(a, a->timed_out);
  uv_walk(&a->loop, close_handle, NULL);
  while (uv_run(&a->loop, UV_RUN_DEFAULT)) {
  } /* until every close (and queued fs request) is done */
}

int inb__async_run(inb__call *c) {
  async_run a = {.c = c};
  a.items = inb__calloc(c->ntasks ? c->ntasks : 1, sizeof *a.items);
  int rc = a.items ? inb__worker_init(&a.w, c, c->rank) : INB_ENOMEM;
  if (rc) {
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
