/* Internal: reusable large buffers (in the engine layer, not core: it locks). Rows are read and written in
 * slabs (targets/mpi/chunk.c), each with buffers of its own; on these VMs a
 * fresh multi-megabyte block costs a page fault per 4 KiB (more than the I/O), so freed blocks are kept for reuse:
 * at most a few, so memory stays bounded. Thread-safe. */
#ifndef INB_ENGINE_SCRATCH_H
#define INB_ENGINE_SCRATCH_H

#include <stddef.h>

/* A block of at least n bytes (16-aligned), zeroed when zero is true. Release with inb__scratch_put, never
 * free(). NULL when out of memory. */
void *inb__scratch_get(size_t n, int zero);

/* Returns a block from inb__scratch_get for reuse (or frees it). NULL-safe. */
void inb__scratch_put(void *p);

#endif
