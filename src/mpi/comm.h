/* Internal: the engine's MPI communicators and the rules every rank follows before it waits. */
#ifndef INB_MPI_COMM_H
#define INB_MPI_COMM_H

#include <mpi.h>

#include <inbatch.h>

/* Initialises MPI (MPI_THREAD_MULTIPLE) if nobody has. Returns 0 or INB_EMPI. */
int inb__mpi_ensure_init(void);

/* The engine's own duplicate of `user` (made collectively on first use, cached on `user` as an attribute and
 * freed with it), so the engine's messages never mix with the program's. Collective on first use.
 * Returns 0 or INB_EMPI. */
int inb__mpi_engine_comm(MPI_Comm user, MPI_Comm *out);

/* Agrees on the outcome of a phase: every rank passes its local rc (0 or an error with inb_errmsg() set);
 * every rank gets the lowest-numbered failing rank's code and message (message copied into inb_errmsg()),
 * or 0 when all succeeded. Collective. */
int inb__mpi_agree(int rc, MPI_Comm comm);

/* Rank 0 passes its rc (and its inb_errmsg()) to every rank: for decisions only rank 0 can make (init, post).
 * Collective. Returns rank 0's rc on every rank, with its message set when non-zero. */
int inb__mpi_share_status(int rc, MPI_Comm comm);

/* An MPI error as INB_EMPI with a message naming the call. */
int inb__mpi_fail(int mpi_rc, const char *what);

#endif
