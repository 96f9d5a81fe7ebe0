/* Internal: init. Resolves a standard init to an on-the-fly task generator, or runs a custom init. */
#ifndef INB_ENGINE_TASKGEN_H
#define INB_ENGINE_TASKGEN_H

#include "engine/call.h"

/* Sets c->gen, c->ntasks and what the generator needs. The init was validated before (inb__validate).
 * Returns 0; a custom init's own code (inb_errmsg() set); INB_ENOMEM. */
int inb__taskgen_init(inb__call *c);

/* Frees what inb__taskgen_init made (custom lists included). */
void inb__taskgen_release(inb__call *c);

/* True when `init` names a standard init ("indices", "items", "run_once"). */
bool inb__taskgen_is_standard(const char *init);

#endif
