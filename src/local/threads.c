/* The `threads` target: the pool's threads and the calling thread claim chunks of tasks from a shared
 * counter. Automatic chunks are guided (a share of what remains, shrinking to 1), so a million trivial
 * tasks cost a few dozen atomic operations and skewed tasks still balance at the end. */
#include "local/local.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/status.h"
#include "engine/worker.h"
#include "local/pool.h"

typedef struct {
  inb__call *c;
  inb__worker *workers; /* one per participant, indexed by participant id */
  bool *ready;          /* workers[k] was initialised (and must be absorbed) */
  _Atomic size_t next;  /* the first task not yet claimed */
  size_t chunk;         /* 0 = guided */
  size_t nworkers;
} threads_job;

/* Claims the next chunk; returns its size (0 when nothing is left) and its first task in *lo. */
static size_t claim(threads_job *t, size_t *lo) {
  size_t n = t->c->ntasks, cur = atomic_load_explicit(&t->next, memory_order_relaxed);
  for (;;) {
    if (cur >= n) return 0;
    size_t left = n - cur;
    size_t size = t->chunk ? t->chunk : left / (4 * t->nworkers);
    if (size < 1) size = 1;
    if (size > left) size = left;
    if (atomic_compare_exchange_weak_explicit(&t->next, &cur, cur + size, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *lo = cur;
      return size;
    }
  }
}

static void participate(void *ctx, int id) {
  threads_job *t = ctx;
  inb__worker *w = &t->workers[id];
  t->ready[id] = true;
  if (inb__worker_init(w, t->c, t->c->rank)) {
    w->rc = INB_ENOMEM; /* absorbed as the run's failure; the other participants take the tasks */
    return;
  }
  size_t lo, n;
  while ((n = claim(t, &lo))) inb__worker_run(w, lo, lo + n);
}

int inb__threads_run(inb__call *c) {
  size_t nw = (size_t)c->n_workers;
  if (nw > c->ntasks) nw = c->ntasks ? c->ntasks : 1; /* no helper would find a task */
  if (nw <= 1) return inb__for_run(c);
  threads_job t = {.c = c, .chunk = c->chunk, .nworkers = nw};
  t.workers = inb__calloc(nw, sizeof *t.workers);
  t.ready = inb__calloc(nw, sizeof *t.ready);
  if (!t.workers || !t.ready) {
    inb__free(t.workers);
    inb__free(t.ready);
    return inb__err(INB_ENOMEM, "action '%s': out of memory for %zu workers", c->name, nw);
  }
  inb__pool_run((int)nw - 1, participate, &t);
  for (size_t k = 0; k < nw; k++)
    if (t.ready[k]) inb__worker_absorb(&t.workers[k]);
  inb__free(t.workers);
  inb__free(t.ready);
  return 0;
}
