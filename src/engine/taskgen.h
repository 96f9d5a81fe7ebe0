/* Internal: init. Resolves a standard init to an on-the-fly task generator, or runs a custom init. */
#ifndef INB_ENGINE_TASKGEN_H
#define INB_ENGINE_TASKGEN_H

#include "engine/call.h"

/* Sets c->gen, c->ntasks and what the generator needs. The init was validated before (inb__validate).
 * Returns 0; a custom init's own code (inb_errmsg() set); INB_ENOMEM. */
int inb__taskgen_init(inb__call *c);

/* Task i's item arguments alone, without the call's (what the mpi target sends to the rank that runs it).
 * Standard inits fill `view` (a zeroed, borrowed list the caller releases with inb__args_view_release) and
 * return it; custom inits return their own list (or view, emptied, for a NULL entry). NULL when out of memory. */
const inb_args *inb__taskgen_item_args(const inb__call *c, size_t i, inb_args *view);

/* Frees what inb__taskgen_init made (custom lists included). */
void inb__taskgen_release(inb__call *c);

/* True when `init` names a standard init ("indices", "items", "run_once"). */
bool inb__taskgen_is_standard(const char *init);

#endif
