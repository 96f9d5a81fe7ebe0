/* Internal: the state of one call on the mpi target, shared by its phases (settings, schedules, chunks). */
#ifndef INB_TARGETS_MPI_MPIRUN_H
#define INB_TARGETS_MPI_MPIRUN_H

#include <pthread.h>

#include "engine/call.h"
#include "targets/mpi/comm.h"
#include "targets/wire.h"

typedef struct inb__mpi {
  inb__call *c;          /* rank 0: the call with its init done; elsewhere: settings and call args only */
  MPI_Comm comm;         /* the engine's duplicate */
  int rank, size;
  inb_target local;      /* FOR or THREADS */
  int total_workers;     /* the sum of every rank's n_workers */
  bool keep_values;      /* the action has a post: results travel back with their values */
  bool is_static;        /* rank 0 asked for INB_STATIC */
  pthread_mutex_t mu;    /* rank 0: absorbing results from the dispatcher and the compute thread */
} inb__mpi;

/* Packs the item arguments of tasks [first, first+count) of x->c (rank 0) as a message appended to `out`
 * at the next multiple of 8.
 * Returns 0, INB_ENOMEM, INB_EINVAL (a value that cannot travel; inb_errmsg()). */
int inb__chunk_pack(const inb__mpi *x, size_t first, size_t count, inb__buf *out);

/* Runs the tasks of a packed chunk (first task position `first`, `count` tasks, message p[0..n) from
 * inb__chunk_pack) on this rank with the local target and packs their outcomes into `out`: every result with
 * its value when keep_values, else the failures only. A chunk that cannot be decoded becomes `count` failure
 * records with the decoding error, so the protocol goes on. Returns 0 or INB_ENOMEM. */
int inb__chunk_run(const inb__mpi *x, uint8_t *p, size_t n, uint64_t first, uint64_t count, inb__buf *out);

/* Rank 0: takes a packed results message (p[0..n), from inb__chunk_run on rank `from`) into x->c: values into
 * the result slots, failures into the error records (or the count and lowest failure without a post).
 * Thread-safe (x->mu). Returns 0, INB_ECORRUPT, INB_ENOMEM. */
int inb__chunk_absorb(inb__mpi *x, uint8_t *p, size_t n);

/* The schedules. Collective; every rank returns the same status. */
int inb__mpi_static(inb__mpi *x);
int inb__mpi_dynamic(inb__mpi *x);

#endif
