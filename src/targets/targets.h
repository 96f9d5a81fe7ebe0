/* Internal: the targets that run a call's tasks. */
#ifndef INB_TARGETS_TARGETS_H
#define INB_TARGETS_TARGETS_H

#include "engine/call.h"

/* Each runs every task of c and absorbs its workers' failures into c. Returns 0 or INB_ENOMEM. */
int inb__for_run(inb__call *c);
int inb__threads_run(inb__call *c);
int inb__async_run(inb__call *c);

#endif
