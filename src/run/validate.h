/* Internal: checks an action and its options before anything runs, with messages that name the action. */
#ifndef INB_RUN_VALIDATE_H
#define INB_RUN_VALIDATE_H

#include "engine/call.h"

/* Fills c->name, c->target (and c->local for mpi), c->n_workers, c->chunk, c->timeout_ms from act and opts (never NULL), after
 * checking them against batch b
 * (not when c->remote: a rank that does not run init may pass any batch, even NULL). Returns 0 or INB_EINVAL with inb_errmsg() naming the action and problem. */
int inb__validate(inb__call *c, inb_batch *b, const inb_action *act, const inb_opts *opts);

/* The target a call runs on: the per-call override, else the action's, DEFAULT resolved (THREADS, or ASYNC
 * when the action has only .start). Unchecked: may be outside the enum. */
inb_target inb__target_of(const inb_action *act, const inb_opts *opts);

/* "threads", "for", ... for a target value; "unknown" outside the enum. */
const char *inb__target_name(inb_target t);

#endif
