/* Internal: reusable large blocks, for the result slots of every call and the rows of every slab
 * (targets/mpi/chunk.c). A program calls inb_run batch after batch, and on these VMs a fresh multi-megabyte
 * block costs a page fault per 4 KiB (more than the tasks or the I/O; the VM even hands freed memory back to
 * its host), so freed blocks are kept for reuse: at most a few, so memory stays bounded. Thread-safe (which is
 * why it lives in the engine layer: core holds no locks). */
#ifndef INB_ENGINE_SCRATCH_H
#define INB_ENGINE_SCRATCH_H

#include <stddef.h>

#include "core/results.h"

/* A block of at least n bytes (16-aligned), zeroed when zero is true. Release with inb__scratch_put, never
 * free(). NULL when out of memory. */
void *inb__scratch_get(size_t n, int zero);

/* Returns a block from inb__scratch_get for reuse (or frees it). NULL-safe. */
void inb__scratch_put(void *p);

/* Frees every cached block (blocks in use are not affected): a caller that ran a large call and may not run
 * another (inb_h5_run at its end) gives the memory back. Returns the number of blocks freed. Thread-safe. */
size_t inb__scratch_trim(void);

/* Result slots for n tasks in r, from the cache. Returns 0 or INB_ENOMEM (no message set). */
int inb__results_open(inb_results *r, size_t n);

/* Frees what r holds and gives its slots back to the cache. */
void inb__results_close(inb_results *r);

#endif
