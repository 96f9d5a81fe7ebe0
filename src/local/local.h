/* Internal: the local targets, which run a call's tasks inside this process: `for` (a loop in the calling
 * thread), `threads` (the pool) and `async` (a libuv loop). The run layer runs whole calls with them, the MPI
 * layer each rank's share. */
#ifndef INB_LOCAL_LOCAL_H
#define INB_LOCAL_LOCAL_H

#include "engine/call.h"

/* Runs every task of c on c->target (FOR, THREADS or ASYNC) with c->n_workers and c->chunk, and absorbs the
 * workers' failures into c. Returns 0, or INB_EINVAL (c->target is not a local target), INB_ENOMEM, INB_EIO
 * (no event loop) with inb_errmsg() set. */
int inb__local_run(inb__call *c);

/* The targets inb__local_run dispatches to. Same contract. */
int inb__for_run(inb__call *c);
int inb__threads_run(inb__call *c);
int inb__async_run(inb__call *c);

/* The CPUs this process may use (sched_getaffinity, which launchers set per rank), >= 1. */
int inb__cpus_available(void);

#endif
