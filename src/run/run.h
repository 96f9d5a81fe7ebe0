/* Internal: the run layer, behind the public inb_run: validation, dispatch to a local target or to the MPI
 * layer, then post. The only layer that knows every target. */
#ifndef INB_RUN_RUN_H
#define INB_RUN_RUN_H

#include "engine/call.h"

/* inb_run with the data layer's hooks (io may be NULL: plain inb_run). */
int inb__run_io(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out,
                const inb__io *io);

/* After the tasks: post (results in c->results) or, without one, INB_EITEM when a task failed. */
int inb__finish(inb__call *c, inb_batch **out);

/* Runs a call on target INB_MPI (c has act, b, call and io set; nothing validated yet) collectively over the
 * ranks of o->comm. Returns as inb_run, the same status on every rank. */
int inb__run_mpi(inb__call *c, const inb_opts *o, inb_batch **out);

#endif
