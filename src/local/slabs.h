/* Internal: running a call whose item rows are read where its tasks run (inb_h5_run under mpi: indices
 * travel, each rank reads its rows through the data layer's hook c->io->load). The rows go through the cache in
 * slabs: a slab's rows are read, its tasks run, its output rows are handed to the data layer, then the next. */
#ifndef INB_LOCAL_SLABS_H
#define INB_LOCAL_SLABS_H

#include "engine/call.h"

/* The rows of one slab, read through the hook: loaded[j] for every io component j with want[j]. */
typedef struct {
  inb_array *loaded;   /* io->ncomps arrays; data from the block cache, owned here */
  bool *want;          /* the components the tasks use */
  size_t nloaded;
  /* the call's views of them: c->comps, c->comp_names, c->comp_fixed point here */
  const inb_array **comps;
  const char **names;
  bool *fixed;
  size_t ncomps;
} inb__rowref;

/* Points c's component views (c->comps, c->comp_names, c->comp_fixed, c->ncomps) at r, for the component
 * `only` (a component init) or every component (only NULL: the "items" init). c->io and c->call are set.
 * Returns 0, INB_EINVAL (no such component in c->io), INB_ENOMEM; release r with inb__rowref_release. */
int inb__rowref_init(inb__call *c, const char *only, inb__rowref *r);

/* Frees r (and any rows it still holds). */
void inb__rowref_release(inb__rowref *r);

/* Runs the tasks of c on its local target in slabs: with r (rows by reference), each slab's rows are read first
 * (a read that fails fails the call with the hook's INB_EIO); with c->io outputs, each slab's output
 * rows are handed to the data layer after its tasks. Failure records and deferred values stay numbered from c's
 * first task. c->index holds the items' indices (with r). Returns 0 or a failure of the run itself (INB_ENOMEM,
 * the output hook's INB_EIO) with inb_errmsg() set. */
int inb__local_run_slabs(inb__call *c, inb__rowref *r);

#endif
