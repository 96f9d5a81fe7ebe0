/* One call on the mpi target, phase by phase (see session.h). Each phase ends with an agreement, so that a
 * failing rank never leaves the others waiting in a collective. */
#include "mpi/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "local/local.h"
#include "mpi/chunk.h"
#include "mpi/msg.h"
#include "mpi/stop.h"

/* Rank 0's options, as every rank runs with them. */
typedef struct {
  int32_t n_workers, is_static;
  int32_t keep_values, retries;
  int32_t max_in_flight, pad;
  uint64_t chunk;
  int64_t timeout_ms, max_failures;
} settings;

int inb__mpi_open(inb__mpi *x, inb__call *c, void *comm, int64_t wait_ms) {
  *x = (inb__mpi){.c = c, .wait_ms = wait_ms};
  int rc = inb__mpi_ensure_init();
  if (!rc) rc = inb__mpi_enter(comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD, wait_ms, &x->ecomm, &x->comm);
  if (rc) return rc;
  MPI_Comm_rank(x->comm, &x->rank);
  MPI_Comm_size(x->comm, &x->size);
  pthread_mutex_init(&x->mu, NULL);
  c->remote = x->rank != 0;
  c->rank = x->rank;
  c->stop = &x->stop;
  return 0;
}

void inb__mpi_close(inb__mpi *x) {
  x->c->stop = NULL;
  inb_args_free(&x->call);
  inb__free(x->callbuf);
  pthread_mutex_destroy(&x->mu);
  inb__mpi_leave(x->ecomm);
}

int inb__mpi_check_same(inb__mpi *x, int rc, uint64_t digest) {
  char what[200];
  snprintf(what, sizeof what, "action '%s' (rank 0's)", x->c->name ? x->c->name : "(unnamed)");
  rc = inb__mpi_agree_entry(x->ecomm, rc, digest, x->wait_ms, what);
  x->local = x->c->local;
  return rc;
}

/* Rank 0's call arguments reach every rank; the others' are ignored. Rank 0's tasks read the caller's own
 * (run.h: call arguments are views), the other ranks' tasks a received copy. `rc`: this rank's failure so far,
 * agreed here with the packing's. */
static int share_call(inb__mpi *x, int rc) {
  inb__call *c = x->c;
  inb__buf b = {0};
  if (x->size == 1) return rc;
  if (!rc && x->rank == 0) {
    rc = inb__wire_put_header(&b, 1);
    if (!rc) rc = inb__wire_pack_args(&b, c->call);
    if (!rc) inb__wire_seal(&b, 0, 1);
    x->callbuf = b.p;
  }
  if ((rc = inb__mpi_agree(rc, x->comm))) return rc;
  size_t n = b.n;
  rc = inb__msg_bcast(&x->callbuf, &n, x->comm);
  if (!rc && x->rank != 0) {
    uint64_t count;
    size_t off;
    rc = inb__wire_get_header(x->callbuf, n, &count, &off);
    if (!rc) rc = count == 1 ? inb__wire_unpack_args(x->callbuf, n, &off, &x->call)
                             : inb__err(INB_ECORRUPT, "the call's arguments arrived as %llu lists",
                                        (unsigned long long)count);
    if (!rc) c->call = x->call;
  }
  return inb__mpi_agree(rc, x->comm);
}

/* Rank 0's choice of schedule. STATIC when asked for, and for rows read where tasks run (inb_h5_run) when MPI
 * runs below MPI_THREAD_MULTIPLE: DYNAMIC reads them on rank 0's compute thread (MPI-IO) while its calling thread
 * serves requests. Decided on rank 0 alone, so every rank runs the same protocol. */
static bool choose_static(const inb__call *c, const inb_opts *o) {
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  return o->schedule == INB_STATIC || (c->io && level < MPI_THREAD_MULTIPLE);
}

int inb__mpi_share_settings(inb__mpi *x, const inb_opts *o) {
  inb__call *c = x->c;
  settings s = {0};
  if (x->rank == 0)
    s = (settings){.n_workers = o->n_workers, .is_static = choose_static(c, o), .keep_values = c->act->post != NULL,
                   .retries = o->retries, .max_in_flight = o->max_in_flight, .chunk = o->chunk,
                   .timeout_ms = o->timeout_ms, .max_failures = o->max_failures};
  int mrc = INB__MPI(MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, x->comm));
  int rc = share_call(x, mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "sharing rank 0's settings (MPI_Bcast)"));
  if (rc) return rc;
  x->keep_values = s.keep_values;
  x->is_static = s.is_static;
  c->n_workers = x->local == INB_THREADS ? (s.n_workers > 0 ? s.n_workers : inb__cpus_available()) : 1;
  c->chunk = s.chunk;
  c->timeout_ms = s.timeout_ms;
  c->retries = s.retries;
  c->max_in_flight = s.max_in_flight;
  c->max_failures = s.max_failures;
  x->stop = (inb__stop){.max_failures = s.max_failures};
  x->total_workers = c->n_workers;
  mrc = INB__MPI(MPI_Allreduce(MPI_IN_PLACE, &x->total_workers, 1, MPI_INT, MPI_SUM, x->comm));
  return inb__mpi_agree(mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "counting the workers (MPI_Allreduce)"), x->comm);
}

int inb__mpi_share_tasks(inb__mpi *x, int rc) {
  inb__call *c = x->c;
  rc = inb__mpi_share_status(rc, x->comm);
  if (rc) return rc;
  uint64_t n = c->ntasks;
  int mrc = INB__MPI(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, x->comm));
  if (x->rank != 0) c->ntasks = (size_t)n;
  return inb__mpi_agree(mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "sharing the task count (MPI_Bcast)"), x->comm);
}

int inb__mpi_schedule(inb__mpi *x) {
  bool cross_rank_stop = x->c->max_failures && x->size > 1; /* the same on every rank: rank 0's settings */
  int rc = inb__mpi_stop_begin(x);
  if (!rc) rc = x->is_static ? inb__mpi_static(x) : inb__mpi_dynamic(x);
  int src = inb__mpi_stop_end(x);
  return rc || !cross_rank_stop ? rc : inb__mpi_agree(src, x->comm);
}
