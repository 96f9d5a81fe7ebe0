/* Internal: one call on the mpi target, as the MPI layer runs it. The run layer drives the phases in order
 * (open, check, settings, tasks, schedule, close) and runs init and post on rank 0 between them; every phase
 * is collective and ends with every rank holding the same status and message. */
#ifndef INB_MPI_SESSION_H
#define INB_MPI_SESSION_H

#include <pthread.h>

#include "engine/call.h"
#include "mpi/comm.h"
#include "mpi/wire.h"

typedef struct inb__mpi {
  inb__call *c;          /* rank 0: the call with its init done; elsewhere: settings and call args only */
  inb__ecomm *ecomm;     /* held (locked) from open to close */
  MPI_Comm comm;         /* the engine's duplicate */
  int64_t wait_ms;       /* how long the entry waits for every rank */
  int rank, size;
  inb_target local;      /* FOR, THREADS or ASYNC */
  int total_workers;     /* the sum of every rank's n_workers */
  bool keep_values;      /* the action has a post: results travel back with their values */
  bool is_static;        /* rank 0 chose INB_STATIC */
  pthread_mutex_t mu;    /* rank 0: absorbing results from the dispatcher and the compute thread */
  uint8_t *callbuf;      /* ranks other than 0: the call's arguments as received (call views it) */
  inb_args *call;
  inb__stop stop;        /* this rank's, for every chunk it runs (c->stop points here) */
  /* the cross-rank stop (mpi/stop.c) */
  bool stop_used, sentinel_on;
  pthread_t sentinel;
  int sentinel_rc;
  _Atomic int stop_sent;          /* rank 0: every remote rank got its stop or end notice */
  _Atomic int64_t global_failures; /* rank 0: failed tasks on every rank */
} inb__mpi;

/* Starts MPI if nobody has, enters a collective call on *comm (an MPI_Comm*, NULL = WORLD: the engine's
 * duplicate, locked for this call; see inb__mpi_enter) and fills x for call c (c->rank, c->remote set).
 * wait_ms bounds the wait for the other ranks at the entry. Returns 0, INB_EMPI, INB_ENOMEM; on success release
 * x with inb__mpi_close. */
int inb__mpi_open(inb__mpi *x, inb__call *c, void *comm, int64_t wait_ms);

/* Frees what x holds. */
void inb__mpi_close(inb__mpi *x);

/* The entry agreement: each rank's validation status `rc`, and a digest of the arguments that must be the same
 * on every rank (the action: its name, functions, init, target, local target). Waits at most x->wait_ms for
 * every rank. Returns the agreed status (INB_EINVAL naming the mismatch, INB_EMPI when a rank never came).
 * Collective. */
int inb__mpi_check_same(inb__mpi *x, int rc, uint64_t digest);

/* Rank 0's options and call arguments reach every rank (the others' are ignored): sets c->n_workers, c->chunk,
 * c->timeout_ms, c->call (ranks other than 0: the received copy) and x's schedule. Collective. */
int inb__mpi_share_settings(inb__mpi *x, const inb_opts *o);

/* Rank 0's init status `rc` and task count reach every rank (c->ntasks). Collective. */
int inb__mpi_share_tasks(inb__mpi *x, int rc);

/* Runs the tasks over the ranks with the chosen schedule; rank 0 ends with every outcome in c. Collective. */
int inb__mpi_schedule(inb__mpi *x);

#endif
