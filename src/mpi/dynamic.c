/* The DYNAMIC schedule: rank 0 hands out chunks on request, guided (a share of what remains, shrinking), so
 * skewed task costs balance. Rank 0 works too: its calling thread serves requests while a compute thread runs
 * rank 0's chunks, claimed from the same counter. A remote rank may ask for its next chunk before it runs the one
 * it holds (ahead()), so the reply's latency is hidden behind the work; each request carries the outcomes of the
 * chunk before, so results stream back. Every MPI call is made by the calling thread of its rank.
 *
 * A failure on any rank never leaves another waiting: a remote rank that fails goes on asking (saying it
 * failed, running nothing more) until it has received the stop of every request it has out; rank 0, once it
 * or anyone failed or the run stopped taking work, answers every request with a stop. The failing rank's own
 * status and message win the agreement at the end. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
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
  _Atomic size_t next;     /* the first task not yet handed out */
  size_t min_chunk;
  int compute_rc;          /* rank 0's compute thread: its failure, with its message below */
  char compute_msg[1024];  /* inb_errmsg() is per thread: the compute thread's words are copied here */
} dyn;

/* A work message: u64 first task, u64 count (0: stop), then the chunk's message (8-aligned). A request: u64
 * status (0, or the sender's failure: it runs nothing more), u64 reserved, then the outcomes of its last chunk
 * (a wire message; absent in a request that carries none). */
enum { PREFIX = 16 };

/* Requests a remote rank keeps out besides the one for the chunk it runs. With rows to read and write
 * (inb_h5_run: chunks of milliseconds of I/O) the next chunk should be there when this one ends, since rank 0's
 * reply can wait milliseconds for a core; for trivial tasks asking ahead only moves work to the remote ranks,
 * whose tasks cost more per task than rank 0's. Every rank computes the same value. */
static int ahead(const inb__mpi *x) { return x->c->io ? 1 : 0; }

static bool stopping(const dyn *d) { return atomic_load(&d->x->stop.stopped) != 0; }

static size_t claim(dyn *d, size_t *first) {
  const inb__call *c = d->x->c;
  size_t n = c->ntasks, cur = atomic_load(&d->next);
  for (;;) {
    if (cur >= n || stopping(d)) return 0;
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

/* Tasks never handed out once the run stopped: INB_ECANCELED records on rank 0, so post and the results table
 * still list every task. */
static int cancel_unclaimed(dyn *d) {
  inb__call *c = d->x->c;
  size_t from = atomic_exchange(&d->next, c->ntasks);
  for (size_t i = from; i < c->ntasks; i++) {
    inb_error e = {.task = i, .rank = 0, .code = INB_ECANCELED, .message = d->x->stop.why, .attempts = 0};
    c->nfailed++;
    int rc = c->results ? inb__errlist_add(&c->errors, &e) : inb__errlist_keep_first(&c->first, &e);
    if (rc) return inb__err(INB_ENOMEM, "action '%s': out of memory recording the tasks never started", c->name);
  }
  return 0;
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
    if (rc) {
      snprintf(d->compute_msg, sizeof d->compute_msg, "%s", inb_errmsg());
      d->compute_rc = rc;
      inb__stop_raise(&d->x->stop, "not started: the run failed on rank 0");
    }
  }
  return NULL;
}

/* The compute thread: signals are the program's, never delivered to a thread of the library. */
static bool start_compute(dyn *d, pthread_t *t) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  bool ok = pthread_create(t, NULL, compute_main, d) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return ok;
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

/* A stop: 16 bytes, sent blocking from the stack (small messages go eagerly), so that it needs no memory. */
static int send_stop(dyn *d, int dest) {
  static const uint64_t stop[2] = {0, 0};
  return inb__msg_send(stop, sizeof stop, dest, INB__TAG_WORK, d->x->comm);
}

/* The reply to a request: the next chunk, or a stop (count 0) when none is left or the run stops. A reply that
 * cannot be made or queued for lack of memory fails the run and becomes a stop. */
static int reply(dyn *d, int from, pending *q, size_t *count, int *rc) {
  inb__buf msg = {0};
  size_t first = 0;
  *count = *rc ? 0 : claim(d, &first);
  if (*count) {
    uint64_t head[2] = {first, *count};
    int wrc = inb__buf_append(&msg, head, sizeof head);
    if (!wrc) wrc = inb__chunk_pack(d->x, first, *count, &msg);
    if (!wrc && q->n == q->cap) {
      size_t cap = q->cap ? 2 * q->cap : 8;
      inb__msg_out *v = inb__realloc(q->v, cap * sizeof *v);
      if (v) q->v = v, q->cap = cap;
      else wrc = inb__err(INB_ENOMEM, "action '%s': out of memory for a reply", d->x->c->name);
    }
    if (!wrc) {
      wrc = inb__msg_isend(msg.p, msg.n, from, INB__TAG_WORK, d->x->comm, &q->v[q->n]);
      msg = (inb__buf){0}; /* the send took it (and freed it if it failed) */
      if (!wrc) q->n++;
      if (wrc != INB_ENOMEM) return wrc; /* sent, or MPI itself failed: nothing more can be said to anyone */
    }
    inb__buf_release(&msg);
    *rc = wrc; /* this chunk's tasks are lost: the run fails, every later reply is a stop */
    inb__stop_raise(&d->x->stop, "not started: the run failed on rank 0");
    *count = 0;
  }
  return send_stop(d, from);
}

/* Takes a request: the outcomes it carries, and whether its sender failed (then the run stops). */
static int take_request(dyn *d, uint8_t *p, size_t n, int from) {
  uint64_t status = 0;
  if (n < PREFIX) return inb__err(INB_ECORRUPT, "a request of %zu bytes from rank %d", n, from);
  memcpy(&status, p, sizeof status);
  if (status) inb__stop_raise(&d->x->stop, "not started: the run failed on another rank");
  return n > PREFIX ? inb__chunk_absorb(d->x, p + PREFIX, n - PREFIX) : 0;
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
    if (got == INB_ENOMEM) { /* the request was received and dropped: its outcomes are lost */
      if (!rc) rc = got;
      inb__stop_raise(&x->stop, "not started: the run failed on rank 0");
    } else if (got) { /* MPI itself failed: nothing more can be said to anyone */
      mrc = got;
      break;
    } else {
      int arc = take_request(d, p, n, from);
      if (arc && !rc) rc = arc;
      if (arc) inb__stop_raise(&x->stop, "not started: the run failed on rank 0");
    }
    inb__free(p);
    mrc = reply(d, from, &q, &count, &rc);
    if (!count) to_stop--;
  }
  int frc = pending_finish(&q);
  return mrc ? mrc : frc ? frc : rc;
}

/* Sends a request to rank 0: the sender's status and b's outcomes (none when b is empty); empties b. */
static int request(inb__mpi *x, inb__buf *b, int status) {
  uint64_t head[2] = {(uint64_t)(int64_t)status, 0};
  int rc = 0;
  if (!b->n || status) {
    rc = inb__msg_send(head, sizeof head, 0, INB__TAG_REQUEST, x->comm); /* no memory needed */
  } else {
    memcpy(b->p, head, sizeof head); /* the outcomes were packed after PREFIX bytes kept for it */
    rc = inb__msg_send(b->p, b->n, 0, INB__TAG_REQUEST, x->comm);
  }
  b->n = 0;
  return rc;
}

/* A remote rank: ahead() + 1 requests out at any time; after each chunk, its outcomes go with the next request.
 * It ends when every request it sent has been answered with a stop. After a failure of its own it runs nothing
 * more, but keeps asking (with its failure) until then, so rank 0 is never left waiting. */
static int work_remote(inb__mpi *x) {
  inb__buf res = {0};
  int mrc = 0, lrc = 0, stops = 0, want = ahead(x) + 1;
  for (int k = 0; !mrc && k < want; k++) mrc = request(x, &res, 0);
  while (!mrc && stops < want) {
    uint8_t *p = NULL;
    size_t n = 0;
    uint64_t head[2] = {0, 0};
    int rc = inb__msg_recv(0, INB__TAG_WORK, x->comm, &p, &n, NULL);
    if (rc == INB_ENOMEM && n <= PREFIX) { /* a stop that could not be kept: it is still a stop */
      stops++;
      continue;
    }
    if (rc == INB_ENOMEM) { /* a chunk that could not be kept: its tasks are lost, the run fails */
      if (!lrc) lrc = rc;
    } else if (rc) {
      mrc = rc; /* MPI itself failed */
      break;
    } else if (n >= PREFIX) {
      memcpy(head, p, sizeof head);
    } else if (!lrc) {
      lrc = inb__err(INB_ECORRUPT, "a work message of %zu bytes from rank 0", n);
    }
    if (!rc && !head[1] && n >= PREFIX) { /* a stop */
      inb__free(p);
      stops++;
      continue;
    }
    if (!lrc) {
      res.n = 0;
      int crc = inb__buf_reserve(&res, PREFIX);
      if (!crc) res.n = PREFIX; /* the request's prefix, filled when it is sent */
      if (!crc) crc = inb__chunk_run(x, p + PREFIX, n - PREFIX, head[0], head[1], &res);
      if (crc) lrc = crc;
    }
    inb__free(p);
    mrc = request(x, &res, lrc);
  }
  inb__buf_release(&res);
  return mrc ? mrc : lrc;
}

int inb__mpi_dynamic(inb__mpi *x) {
  dyn d = {.x = x};
  if (x->rank != 0) return inb__mpi_agree(work_remote(x), x->comm);
  size_t per = x->c->ntasks / (256 * (size_t)x->total_workers);
  d.min_chunk = per ? per : 1; /* few messages for many tiny tasks; single tasks at the end for skewed ones */
  pthread_t t;
  bool threaded = start_compute(&d, &t);
  if (!threaded) compute_main(&d); /* no thread to spare: rank 0 works first, then serves */
  int rc = serve(&d);
  if (threaded) pthread_join(t, NULL);
  if (!rc && d.compute_rc) rc = inb__err_set(d.compute_rc, d.compute_msg);
  if (!rc && stopping(&d)) rc = cancel_unclaimed(&d);
  return inb__mpi_agree(rc, x->comm);
}
