/* Internal: the output rows of inb_h5_run's tasks (inb_item_output), per call or per slab of a call. */
#ifndef INB_ENGINE_OUTPUTS_H
#define INB_ENGINE_OUTPUTS_H

#include "engine/call.h"

/* Allocates c->outrows for c->ntasks items when c->io has outputs. Returns 0 or INB_ENOMEM. */
int inb__outputs_begin(inb__call *c);

/* Frees output rows never handed to the data layer (a run that failed first). */
void inb__outputs_release(inb__call *c);

/* Zeroes the rows of failed tasks and hands the rows to c->io->keep with the items' indices. Returns 0 or
 * keep's error (INB_EIO, INB_ENOMEM). */
int inb__outputs_end(inb__call *c, const int64_t *index);

#endif
