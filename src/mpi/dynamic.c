/* The DYNAMIC schedule: rank 0 hands out chunks on request, guided (a share of what remains, shrinking), so
 * skewed task costs balance. Rank 0 works too: its calling thread serves requests while a compute thread runs
 * rank 0's chunks, claimed from the same counter. A remote rank asks for its next chunk before it runs the one
 * it holds (ahead()), so the reply's latency is hidden behind the work; each request carries the outcomes of the
 * chunk before, so results stream back. Every MPI call is made by the calling thread of its rank, so
 * MPI_THREAD_FUNNELED would do. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "mpi/chunk.h"
#include "mpi/msg.h"

typedef struct {
  inb__mpi *x;
  _Atomic size_t next; /* the first task not yet handed out */
  size_t min_chunk;
  int compute_rc;      /* rank 0's compute thread: INB_ENOMEM or an absorb failure */
} dyn;

enum { PREFIX = 16 }; /* a work message: u64 first task, u64 count, then the chunk's message (8-aligned) */

/* Requests a remote rank keeps out besides the one for the chunk it runs. Rank 0's reply may take milliseconds
 * (measured here: its server thread, woken from backoff's sleep, waited 1.5-5 ms for a core that its compute
 * thread and the other ranks kept busy), so with rows to read and write (inb_h5_run: chunks of milliseconds of
 * I/O) the next chunk should be there when this one ends: 1 ahead. Without, none: for a million trivial tasks
 * asking ahead made the run 15% slower (the remote ranks took more of the work, at a higher cost per task
 * than rank 0's), and heavy tasks wait for no reply they would notice. Every rank computes the same value. */
static int ahead(const inb__mpi *x) { return x->c->io ? 1 : 0; }

static size_t claim(dyn *d, size_t *first) {
  const inb__call *c = d->x->c;
  size_t n = c->ntasks, cur = atomic_load(&d->next);
  for (;;) {
    if (cur >= n) return 0;
    size_t left = n - cur;
    size_t size = c->chunk ? c->chunk : left / (2 * (size_t)d->x->total_workers);
    if (!c->chunk && d->x->local == INB_ASYNC) /* a loop runs a whole chunk at once: one share per rank */
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

/* Replies being sent. They go out without blocking: a remote rank that asked ahead may itself be sending its
 * next request (with a chunk's outcomes, large enough to wait for a matching receive) while this reply is
 * large too; two blocking sends would wait for each other forever. */
typedef struct {
  inb__msg_out *v;
  size_t n, cap;
} pending;

static int pending_add(pending *q, inb__buf *msg, int dest, MPI_Comm comm) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 8;
    inb__msg_out *v = inb__realloc(q->v, cap * sizeof *v);
    if (!v) {
      inb__buf_release(msg);
      return inb__err(INB_ENOMEM, "out of memory for a reply");
    }
    q->v = v, q->cap = cap;
  }
  int rc = inb__msg_isend(msg->p, msg->n, dest, INB__TAG_WORK, comm, &q->v[q->n]);
  *msg = (inb__buf){0}; /* the send took it */
  if (!rc) q->n++;
  return rc;
}

/* Frees the replies that have gone. */
static int pending_test(pending *q) {
  size_t k = 0;
  int rc = 0;
  for (size_t i = 0; i < q->n; i++) {
    int done = 0;
    if (!rc) rc = inb__msg_test(&q->v[i], &done);
    if (!done) q->v[k++] = q->v[i];
  }
  q->n = k;
  return rc;
}

static int pending_finish(pending *q) {
  int rc = 0;
  for (size_t i = 0; i < q->n; i++) {
    int wrc = inb__msg_wait(&q->v[i]);
    if (!rc) rc = wrc;
  }
  inb__free(q->v);
  return rc;
}

/* The reply to a request: the next chunk, or a stop (count 0) when none is left, or when the run has failed
 * (then every later reply is a stop too, so every rank gets all the stops it waits for). */
static int reply(dyn *d, int from, pending *q, size_t *count, int *rc) {
  inb__buf msg = {0};
  *count = 0;
  int wrc = *rc ? 0 : make_work(d, &msg, count);
  if (*rc || wrc) {
    if (!*rc) *rc = wrc; /* cannot pack: the run fails with wrc, agreed at the end */
    uint64_t stop[2] = {0, 0};
    msg.n = 0;
    *count = 0;
    if (inb__buf_append(&msg, stop, sizeof stop)) return inb__err(INB_ENOMEM, "out of memory for a reply");
  }
  return pending_add(q, &msg, from, d->x->comm);
}

/* Answers requests until every remote rank has had its ahead() + 1 stops (one per request it has out). */
static int serve(dyn *d) {
  inb__mpi *x = d->x;
  int to_stop = (x->size - 1) * (ahead(x) + 1), rc = 0, idle = 0, mrc = 0;
  int64_t last = inb__now_ns();
  pending q = {0};
  while (to_stop > 0 && !mrc) {
    uint8_t *p = NULL;
    size_t n = 0, count = 0;
    int from = 0;
    mrc = pending_test(&q);
    int got = mrc ? 0 : inb__msg_try_recv(MPI_ANY_SOURCE, INB__TAG_REQUEST, x->comm, &p, &n, &from);
    if (got == 1) {
      backoff(idle++, inb__now_ns() - last);
      continue;
    }
    idle = 0;
    last = inb__now_ns();
    if (got < 0 || mrc) { /* MPI itself failed: nothing more can be said to anyone */
      mrc = mrc ? mrc : got;
      break;
    }
    int arc = inb__chunk_absorb(x, p, n);
    if (arc && !rc) rc = arc;
    inb__free(p);
    mrc = reply(d, from, &q, &count, &rc);
    if (!count) to_stop--;
  }
  int frc = pending_finish(&q);
  return mrc ? mrc : frc ? frc : rc;
}

/* Sends a request to rank 0 carrying b (a chunk's outcomes; none when b is empty), and empties b. */
static int request(inb__mpi *x, inb__buf *b) {
  int rc = 0;
  if (!b->n) {
    rc = inb__wire_put_header(b, 0);
    if (!rc) inb__wire_seal(b, 0, 0);
  }
  if (!rc) rc = inb__msg_send(b->p, b->n, 0, INB__TAG_REQUEST, x->comm);
  inb__buf_release(b);
  return rc;
}

/* The next work message: *p (owned by the caller) and its first task and count (0: stop). */
static int recv_work(inb__mpi *x, uint8_t **p, size_t *n, uint64_t head[2]) {
  int rc = inb__msg_recv(0, INB__TAG_WORK, x->comm, p, n, NULL);
  head[0] = head[1] = 0;
  if (!rc && *n >= PREFIX) memcpy(head, *p, 2 * sizeof *head);
  return rc;
}

/* A remote rank: ahead() + 1 requests out at any time; after each chunk, its outcomes go with the next request.
 * The first stop ends the work; the stops of the other requests still out are received before returning. */
static int work_remote(inb__mpi *x) {
  inb__buf res = {0};
  int rc = 0, lrc = 0, out = 0;
  for (int more = ahead(x); !rc && out <= more; out++) rc = request(x, &res);
  for (bool stopped = false; !rc && out > 0;) {
    uint8_t *p = NULL;
    size_t n = 0;
    uint64_t head[2];
    rc = recv_work(x, &p, &n, head);
    out--;
    if (!rc && head[1] && !stopped) {
      int crc = inb__chunk_run(x, p + PREFIX, n - PREFIX, head[0], head[1], &res);
      if (crc) { /* outcomes lost to memory: say so at the end, keep the protocol going with an empty reply */
        lrc = crc;
        res.n = 0;
      }
      rc = request(x, &res);
      out++;
    }
    if (!head[1]) stopped = true;
    inb__free(p);
  }
  inb__buf_release(&res);
  return rc ? rc : lrc;
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
