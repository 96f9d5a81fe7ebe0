/* The DYNAMIC schedule: rank 0 hands out chunks on request, guided (a share of what remains, shrinking), so
 * skewed task costs balance. Rank 0 works too: its calling thread serves requests while a compute thread runs
 * rank 0's chunks, claimed from the same counter. A remote rank's request carries the outcomes of its previous
 * chunk, so results stream back and each rank holds one chunk at a time. Every MPI call is made by the
 * calling thread of its rank, so MPI_THREAD_FUNNELED would do. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "targets/mpi/mpirun.h"
#include "targets/mpi/msg.h"

typedef struct {
  inb__mpi *x;
  _Atomic size_t next; /* the first task not yet handed out */
  size_t min_chunk;
  int compute_rc;      /* rank 0's compute thread: INB_ENOMEM or an absorb failure */
} dyn;

enum { PREFIX = 16 }; /* a work message: u64 first task, u64 count, then the chunk's message (8-aligned) */

static size_t claim(dyn *d, size_t *first) {
  size_t n = d->x->c->ntasks, cur = atomic_load(&d->next);
  for (;;) {
    if (cur >= n) return 0;
    size_t left = n - cur;
    size_t size = d->x->c->chunk ? d->x->c->chunk : left / (2 * (size_t)d->x->total_workers);
    if (!d->x->c->chunk && d->x->local == INB_ASYNC) /* a loop runs a whole chunk at once: one share per rank */
      size = (n + (size_t)d->x->size - 1) / (size_t)d->x->size;
    if (size < d->min_chunk) size = d->min_chunk;
    if (size > left) size = left;
    if (atomic_compare_exchange_weak(&d->next, &cur, cur + size)) {
      *first = cur;
      return size;
    }
  }
}

/* Rank 0's own share, on a thread of its own so that the calling thread stays free to serve requests. */
static void *compute_main(void *arg) {
  dyn *d = arg;
  size_t first, count;
  while (!d->compute_rc && (count = claim(d, &first))) {
    inb__buf tasks = {0}, out = {0};
    int rc = inb__chunk_pack(d->x, first, count, &tasks);
    if (!rc) rc = inb__chunk_run(d->x, tasks.p, tasks.n, first, count, &out);
    if (!rc) rc = inb__chunk_absorb(d->x, out.p, out.n);
    inb__buf_release(&tasks);
    inb__buf_release(&out);
    d->compute_rc = rc;
  }
  return NULL;
}

/* The next chunk for a requester, as a work message; count 0 tells it to stop. */
static int make_work(dyn *d, inb__buf *msg, size_t *count) {
  size_t first = 0;
  *count = claim(d, &first);
  uint64_t head[2] = {first, *count};
  int rc = inb__buf_append(msg, head, sizeof head);
  if (!rc && *count) rc = inb__chunk_pack(d->x, first, *count, msg);
  return rc;
}

/* Polls without burning the core that rank 0's compute thread needs: a few busy polls right after a message
 * (requests come in bursts), then sleeps that grow with the time since the last request, from 20 us to 1 ms:
 * short chunks are served fast, and long ones cost a thousand wake-ups a second at most. */
static void backoff(int idle, int64_t quiet_ns) {
  if (idle < 16) return;
  int64_t ns = quiet_ns / 16;
  if (ns < 20000) ns = 20000;
  if (ns > 1000000) ns = 1000000;
  struct timespec ts = {0, (long)ns};
  nanosleep(&ts, NULL);
}

static int serve(dyn *d) {
  inb__mpi *x = d->x;
  int active = x->size - 1, rc = 0, idle = 0;
  int64_t last = inb__now_ns();
  while (active > 0) {
    uint8_t *p = NULL;
    size_t n = 0;
    int from = 0;
    int got = inb__msg_try_recv(MPI_ANY_SOURCE, INB__TAG_REQUEST, x->comm, &p, &n, &from);
    if (got == 1) {
      backoff(idle++, inb__now_ns() - last);
      continue;
    }
    idle = 0;
    last = inb__now_ns();
    if (got < 0) return got; /* MPI itself failed: nothing more can be said to anyone */
    int arc = inb__chunk_absorb(x, p, n);
    if (arc && !rc) rc = arc;
    free(p);
    inb__buf msg = {0};
    size_t count = 0;
    int wrc = make_work(d, &msg, &count);
    if (wrc) { /* cannot pack: stop this rank; the run fails with wrc, agreed at the end */
      if (!rc) rc = wrc;
      uint64_t stop[2] = {0, 0};
      msg.n = 0;
      inb__buf_append(&msg, stop, sizeof stop);
      count = 0;
    }
    int src = inb__msg_send(msg.p, msg.n, from, INB__TAG_WORK, x->comm);
    inb__buf_release(&msg);
    if (src) return src;
    if (!count) active--;
  }
  return rc;
}

static int work_remote(inb__mpi *x) {
  inb__buf res = {0};
  int rc = inb__wire_put_header(&res, 0), lrc = 0;
  if (!rc) inb__wire_seal(&res, 0, 0);
  for (;;) {
    rc = inb__msg_send(res.p, res.n, 0, INB__TAG_REQUEST, x->comm);
    inb__buf_release(&res);
    uint8_t *p = NULL;
    size_t n = 0;
    if (!rc) rc = inb__msg_recv(0, INB__TAG_WORK, x->comm, &p, &n, NULL);
    if (rc) return rc;
    uint64_t head[2] = {0, 0};
    if (n >= PREFIX) memcpy(head, p, sizeof head);
    if (!head[1]) {
      free(p);
      break;
    }
    int crc = inb__chunk_run(x, p + PREFIX, n - PREFIX, head[0], head[1], &res);
    free(p);
    if (crc) { /* outcomes lost to memory: say so at the end, keep the protocol going with an empty reply */
      lrc = crc;
      res.n = 0;
      if (!inb__wire_put_header(&res, 0)) inb__wire_seal(&res, 0, 0);
    }
  }
  return lrc;
}

int inb__mpi_dynamic(inb__mpi *x) {
  dyn d = {.x = x};
  int rc = 0;
  if (x->rank != 0) return inb__mpi_agree(work_remote(x), x->comm);
  size_t per = x->c->ntasks / (256 * (size_t)x->total_workers);
  d.min_chunk = per ? per : 1; /* few messages for many tiny tasks; single tasks at the end for skewed ones */
  pthread_t t;
  bool threaded = pthread_create(&t, NULL, compute_main, &d) == 0;
  if (!threaded) compute_main(&d); /* no thread to spare: rank 0 works first, then serves */
  rc = serve(&d);
  if (threaded) pthread_join(t, NULL);
  if (!rc) rc = d.compute_rc;
  return inb__mpi_agree(rc, x->comm);
}
