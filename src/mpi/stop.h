/* Internal: "stop taking work" across the ranks of one call (max_failures today; signals will raise it too).
 * Every rank has its own inb__stop (engine/call.h) that its workers check before each task. A remote rank's
 * failures are counted by rank 0, which raises every rank's stop when the sum reaches max_failures: a helper
 * thread per rank (the sentinel) carries the messages, so workers never wait for them. Off (no thread, no
 * message) unless the call sets max_failures. Needs MPI_THREAD_MULTIPLE when on.
 *
 * Messages, each exactly once per call, so none is ever left for a later call to receive:
 *   remote -> rank 0, TAG_FAIL: "failed" after each failed task; "done" when its share is over
 *   rank 0 -> remote, TAG_STOP: "stop" (with the reason) when rank 0 stops the run, else "end" after every
 *                               rank is done */
#ifndef INB_MPI_STOP_H
#define INB_MPI_STOP_H

#include "mpi/session.h"

/* The tags of the stop notices (the engine's other messages use 10..41: mpi/msg.h). */
enum { INB__TAG_FAIL = 50, INB__TAG_STOP = 60 };

/* Starts the sentinel of this rank when x->c->max_failures is set (x->c->stop must be set). Collective: every
 * rank learns whether every rank could start. Returns 0 or the agreed failure. Always call inb__mpi_stop_end
 * afterwards, also on failure. */
int inb__mpi_stop_begin(inb__mpi *x);

/* After this rank's share: tells rank 0 it is done, waits for the end message and the sentinel. Collective (in
 * the sense that every rank must call it). Returns 0, or INB_EMPI when a message could not go. */
int inb__mpi_stop_end(inb__mpi *x);

#endif
