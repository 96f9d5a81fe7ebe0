/* The `for` target: every task in order, in the calling thread. */
#include "local/local.h"

#include "core/status.h"
#include "engine/worker.h"

int inb__for_run(inb__call *c) {
  inb__worker w;
  int rc = inb__worker_init(&w, c, c->rank);
  if (!rc) inb__worker_run(&w, 0, c->ntasks);
  inb__worker_absorb(&w);
  return rc ? inb__err(rc, "action '%s': out of memory preparing a worker", c->name) : 0;
}
