/* Internal: the engine's MPI communicators and the rules every rank follows before it waits. */
#ifndef INB_MPI_COMM_H
#define INB_MPI_COMM_H

#include <mpi.h>
#include <stdint.h>

#include <inbatch.h>

#include "core/alloc.h"

/* Initialises MPI (MPI_THREAD_MULTIPLE) if nobody has. Returns 0 or INB_EMPI. */
int inb__mpi_ensure_init(void);

/* The engine's state for one user communicator: its own duplicate (so the engine's messages never mix with the
 * program's), made on first use and cached on the user's communicator (freed with it, MPI_COMM_WORLD at
 * MPI_Finalize). */
typedef struct inb__ecomm inb__ecomm;

/* Enters a collective call on `user`: makes the duplicate on first use (collective; waits at most wait_ms for
 * the other ranks: a rank that never comes is an error, not a hang) and holds the communicator's lock until
 * inb__mpi_leave, so that calls of several threads of this process never run their collectives on it at once
 * (calls nested in one thread, inb_h5_run -> inb_run, pass). *comm is the duplicate. Returns 0, INB_EMPI
 * (MPI failed, a rank did not arrive, or an earlier call on this communicator timed out: its collectives are
 * out of step for good), INB_ENOMEM. On failure nothing is held. */
int inb__mpi_enter(MPI_Comm user, int64_t wait_ms, inb__ecomm **e, MPI_Comm *comm);
void inb__mpi_leave(inb__ecomm *e);

/* e's duplicate; and marking e unusable for good (why: the message later calls get). */
MPI_Comm inb__ecomm_comm(const inb__ecomm *e);
void inb__ecomm_break(inb__ecomm *e, const char *why);

/* The duplicate of `user` without the lock (made on first use: collective, waits without a limit). */
int inb__mpi_engine_comm(MPI_Comm user, MPI_Comm *out);

/* The entry agreement of a collective call: every rank passes its local status and a digest of the arguments
 * that must be equal everywhere, and waits at most wait_ms for every rank to arrive (a rank that called with a
 * local target makes no MPI call at all: only the others can notice). Returns 0; the lowest failing rank's code
 * and message; INB_EINVAL when the digests differ (naming `what` and the ranks that differ from rank 0);
 * INB_EMPI when a rank did not arrive in time (then e is broken: later calls on it fail at once). */
int inb__mpi_agree_entry(inb__ecomm *e, int rc, uint64_t digest, int64_t wait_ms, const char *what);

/* Agrees on the outcome of a phase: every rank passes its local rc (0 or an error with inb_errmsg() set);
 * every rank gets the lowest-numbered failing rank's code and message (message copied into inb_errmsg()),
 * or 0 when all succeeded. Collective. */
int inb__mpi_agree(int rc, MPI_Comm comm);

/* The rest of inb__mpi_agree once every rank knows that rank `first` is the lowest failing one: its code and
 * message reach every rank. Collective. */
int inb__mpi_agree_from(int rc, int first, MPI_Comm comm);

/* Rank 0 passes its rc (and its inb_errmsg()) to every rank: for decisions only rank 0 can make (init, post).
 * Collective. Returns rank 0's rc on every rank, with its message set when non-zero. */
int inb__mpi_share_status(int rc, MPI_Comm comm);

/* A collective MPI call site that a test can make fail (core/alloc.h): the call is made, so every rank stays in
 * step, then its result is reported failed. Used where a failure is agreed on before anything depends on the
 * call: the agreements themselves, and point-to-point protocols, whose peers cannot learn of a failure the
 * call itself did not show them, are not sites. */
#define INB__MPI(call)                                                                                             \
  ({                                                                                                               \
    int inb__mr_ = (call);                                                                                         \
    inb__fault(INB__SITE("MPI collective")) ? MPI_ERR_OTHER : inb__mr_;                                            \
  })

/* An MPI error as INB_EMPI with a message naming the call. */
int inb__mpi_fail(int mpi_rc, const char *what);

/* Waits for a non-blocking request until `deadline_ns` (CLOCK_MONOTONIC; 0 = no limit), polling with short
 * sleeps. Returns 1 when it completed, 0 at the deadline (the request stays pending), or INB_EMPI. */
int inb__mpi_wait_until(MPI_Request *req, int64_t deadline_ns);

#endif
