/* Dispatch from a call to the local target that runs its tasks. */
#include "core/status.h"
#include "local/local.h"

int inb__local_run(inb__call *c) {
  switch (c->target) {
  case INB_FOR: return inb__for_run(c);
  case INB_THREADS: return inb__threads_run(c);
  case INB_ASYNC: return inb__async_run(c);
  default: return inb__err(INB_EINVAL, "action '%s': target %d is not a local target", c->name, (int)c->target);
  }
}
