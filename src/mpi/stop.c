/* The cross-rank stop of one call (see stop.h). */
#include "mpi/stop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"

enum { FAILED = 1, DONE = 2, STOP = 3, END = 4 };

typedef struct {
  int32_t kind, pad;
  char why[sizeof(((inb__stop *)0)->why)];
} notice;

static int send_notice(const inb__mpi *x, int kind, const char *why, int dest, int tag) {
  notice m = {.kind = kind};
  if (why) snprintf(m.why, sizeof m.why, "%s", why);
  int rc = MPI_Send(&m, (int)sizeof m, MPI_BYTE, dest, tag, x->comm);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "sending a stop notice");
}

static int recv_notice(const inb__mpi *x, int source, int tag, notice *m) {
  int rc = MPI_Recv(m, (int)sizeof *m, MPI_BYTE, source, tag, x->comm, MPI_STATUS_IGNORE);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "receiving a stop notice");
}

/* Rank 0: raises its own stop and tells every other rank, once. Any thread. */
static void stop_everyone(inb__mpi *x, const char *why) {
  int expect = 0;
  if (!atomic_compare_exchange_strong(&x->stop_sent, &expect, 1)) return;
  inb__stop_raise(x->c->stop, why);
  for (int r = 1; r < x->size; r++) send_notice(x, STOP, x->c->stop->why, r, INB__TAG_STOP);
}

/* Rank 0: one more failed task somewhere. */
static void count_global(inb__mpi *x) {
  int64_t n = atomic_fetch_add(&x->global_failures, 1) + 1;
  if (n < x->c->max_failures) return;
  char why[160];
  snprintf(why, sizeof why, "not started: the run stopped taking work after %lld failed tasks on all ranks "
                            "(max_failures)", (long long)n);
  stop_everyone(x, why);
}

/* A worker's failure: rank 0 counts it, a remote rank tells rank 0. */
static void on_failure(inb__stop *s) {
  inb__mpi *x = s->ctx;
  if (x->rank == 0)
    count_global(x);
  else
    send_notice(x, FAILED, NULL, 0, INB__TAG_FAIL);
}

/* Rank 0's sentinel: counts remote failures until every remote rank is done. */
static int serve_failures(inb__mpi *x) {
  int rc = 0;
  for (int done = 0; !rc && done < x->size - 1;) {
    notice m;
    rc = recv_notice(x, MPI_ANY_SOURCE, INB__TAG_FAIL, &m);
    if (!rc && m.kind == FAILED) count_global(x);
    if (!rc && m.kind == DONE) done++;
  }
  return rc;
}

/* A remote rank's sentinel: the one notice rank 0 sends it. */
static int await_verdict(inb__mpi *x) {
  notice m;
  int rc = recv_notice(x, 0, INB__TAG_STOP, &m);
  if (!rc && m.kind == STOP) inb__stop_raise(x->c->stop, m.why);
  return rc;
}

static void *sentinel_main(void *arg) {
  inb__mpi *x = arg;
  x->sentinel_rc = x->rank == 0 ? serve_failures(x) : await_verdict(x);
  return NULL;
}

int inb__mpi_stop_begin(inb__mpi *x) {
  inb__call *c = x->c;
  if (!c->max_failures || x->size == 1) return 0; /* one rank: the engine's own count does it */
  c->stop->notify = on_failure;
  c->stop->ctx = x;
  int lrc = 0;
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  if (level < MPI_THREAD_MULTIPLE)
    lrc = inb__err(INB_EINVAL, "action '%s': max_failures under mpi needs MPI_THREAD_MULTIPLE (MPI was initialised "
                               "with less)", c->name);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the program's: never delivered to the sentinel */
  if (!lrc && pthread_create(&x->sentinel, NULL, sentinel_main, x) == 0)
    x->sentinel_on = true;
  else if (!lrc)
    lrc = inb__err(INB_ENOMEM, "action '%s': cannot start the thread that carries stop notices", c->name);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  x->stop_used = true;
  return inb__mpi_agree(lrc, x->comm);
}

int inb__mpi_stop_end(inb__mpi *x) {
  if (!x->stop_used) return 0;
  int rc = 0;
  if (x->rank != 0) {
    rc = send_notice(x, DONE, NULL, 0, INB__TAG_FAIL);
    if (x->sentinel_on)
      pthread_join(x->sentinel, NULL), rc = rc ? rc : x->sentinel_rc;
    else if (!rc)
      rc = await_verdict(x);
  } else {
    if (x->sentinel_on)
      pthread_join(x->sentinel, NULL), rc = x->sentinel_rc;
    else
      rc = serve_failures(x);
    int expect = 0; /* every remote rank is done: those not stopped get their end */
    if (atomic_compare_exchange_strong(&x->stop_sent, &expect, 1))
      for (int r = 1; r < x->size; r++) rc = send_notice(x, END, NULL, r, INB__TAG_STOP) ? INB_EMPI : rc;
  }
  x->c->stop->notify = NULL;
  x->stop_used = false;
  return rc;
}
