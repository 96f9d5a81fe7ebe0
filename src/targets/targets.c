/* Dispatch from the engine to a target. */
#include "targets/targets.h"

#include "core/status.h"

int inb__targets_run(inb__call *c) {
  switch (c->target) {
  case INB_FOR: return inb__for_run(c);
  case INB_THREADS: return inb__threads_run(c);
  case INB_ASYNC: return inb__async_run(c);
  default: return inb__err(INB_EINVAL, "action '%s': target %d has no runner", c->name, (int)c->target);
  }
}
