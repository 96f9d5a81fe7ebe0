/* Internal: chunks of tasks as they travel (see chunk.c for the message layout). */
#ifndef INB_MPI_CHUNK_H
#define INB_MPI_CHUNK_H

#include "mpi/session.h"

/* Packs the item arguments of tasks [first, first+count) of x->c (rank 0) as a message appended to `out`
 * at the next multiple of 8. Returns 0, INB_ENOMEM, INB_EINVAL (a value that cannot travel; inb_errmsg()). */
int inb__chunk_pack(const inb__mpi *x, size_t first, size_t count, inb__buf *out);

/* Runs the tasks of a packed chunk (first task position `first`, `count` tasks, message p[0..n) from
 * inb__chunk_pack) on this rank with the local target and appends their outcomes to `out` as a message of its
 * own at the next multiple of 8: every result with its value when keep_values, else the failures only.
 * Returns 0, or a failure of the run itself (INB_ECORRUPT: the chunk cannot be decoded; INB_ENOMEM; INB_EIO
 * from the data layer's hooks) with inb_errmsg() set: the caller fails the whole call. */
int inb__chunk_run(const inb__mpi *x, uint8_t *p, size_t n, uint64_t first, uint64_t count, inb__buf *out);

/* Rank 0: takes a packed results message (p[0..n), from inb__chunk_run on rank `from`) into x->c: values into
 * the result slots, failures into the error records (or the count and lowest failure without a post).
 * Thread-safe (x->mu). Returns 0, INB_ECORRUPT, INB_ENOMEM. */
int inb__chunk_absorb(inb__mpi *x, uint8_t *p, size_t n);

/* The schedules (inb__mpi_schedule picks one). Collective; every rank returns the same status. */
int inb__mpi_static(inb__mpi *x);
int inb__mpi_dynamic(inb__mpi *x);

#endif
