/* Validation of actions and options: every message names the action and says what was expected. */
#include "run/validate.h"

#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "engine/taskgen.h"
#include "engine/worker.h"
#include "local/local.h"

const char *inb__target_name(inb_target t) {
  switch (t) {
  case INB_DEFAULT: return "default";
  case INB_THREADS: return "threads";
  case INB_FOR: return "for";
  case INB_ASYNC: return "async";
  case INB_MPI: return "mpi";
  }
  return "unknown";
}

static bool target_valid(inb_target t) { return (unsigned)t <= (unsigned)INB_MPI; }

/* Lists the batch's components for an error message: "a, b" or "none". */
static void list_components(inb_batch *b, char *buf, size_t cap) {
  size_t n = inb_batch_ncomponents(b), used = 0;
  buf[0] = '\0';
  for (size_t j = 0; j < n && used < cap; j++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", j ? ", " : "", inb_batch_component_name(b, j));
  if (!n) snprintf(buf, cap, "none");
}

static bool io_has(const inb__io *io, const char *component) {
  for (size_t j = 0; j < io->ncomps; j++)
    if (strcmp(io->names[j], component) == 0) return true;
  return false;
}

static int check_init(const char *name, inb_batch *b, const inb_action *act, const inb__io *io) {
  if (act->init && act->init_fn)
    return inb__err(INB_EINVAL, "action '%s': set one of init and init_fn, not both", name);
  if (!act->init && !act->init_fn)
    return inb__err(INB_EINVAL, "action '%s': no init (set init to indices, items, run_once or a component name, "
                                "or init_fn)", name);
  /* b is NULL on ranks that do not run init (mpi): their batch is not asked for components */
  if (b && act->init && !inb__taskgen_is_standard(act->init) && !inb_batch_get(b, act->init) &&
      !(io && io_has(io, act->init))) {
    char comps[512];
    list_components(b, comps, sizeof comps);
    return inb__err(INB_EINVAL, "action '%s': init '%s' is neither indices, items, run_once nor a component of "
                                "the batch (components: %s)", name, act->init, comps);
  }
  return 0;
}

inb_target inb__target_of(const inb_action *act, const inb_opts *o) {
  inb_target t = o && o->target != INB_DEFAULT ? o->target : act->target;
  if (t == INB_DEFAULT) t = (!act->fn && act->start) ? INB_ASYNC : INB_THREADS;
  return t;
}

/* The target after the per-call override and the default rule (DEFAULT = THREADS, or ASYNC with only .start). */
static int resolve_target(const char *name, const inb_action *act, const inb_opts *o, inb_target *out) {
  inb_target t = o->target != INB_DEFAULT ? o->target : act->target;
  if (!target_valid(t))
    return inb__err(INB_EINVAL, "action '%s': unknown target %d (expected threads, for, async or mpi)", name, (int)t);
  if (t == INB_DEFAULT) t = (!act->fn && act->start) ? INB_ASYNC : INB_THREADS;
  *out = t;
  return 0;
}

/* The local target an mpi call runs each rank's share with. */
static int check_local(const char *name, const inb_action *act, inb_target *local) {
  inb_target l = act->local == INB_DEFAULT ? ((!act->fn && act->start) ? INB_ASYNC : INB_THREADS) : act->local;
  if (l != INB_THREADS && l != INB_FOR && l != INB_ASYNC)
    return inb__err(INB_EINVAL, "action '%s': local target must be threads, for or async with target mpi; found "
                                "%s (%d)", name, inb__target_name(l), (int)l);
  *local = l;
  return 0;
}

/* Async runs .start; the others run .fn. */
static int check_function(const char *name, const inb_action *act, inb_target runs_on) {
  if (runs_on == INB_ASYNC && !act->start)
    return inb__err(INB_EINVAL, "action '%s': target async needs .start (an inb_start_fn that finishes each task "
                                "with inb_done)", name);
  if (runs_on != INB_ASYNC && !act->fn)
    return inb__err(INB_EINVAL, "action '%s': target %s needs a task function .fn (the action has only the "
                                "async .start)", name, inb__target_name(runs_on));
  return 0;
}

static int check_target(const char *name, const inb_action *act, const inb_opts *o, inb__call *c) {
  if (c->target == INB_MPI) {
    int rc = check_local(name, act, &c->local);
    if (rc) return rc;
  }
  inb_target runs_on = c->target == INB_MPI ? c->local : c->target;
  if (runs_on == INB_ASYNC && o->n_workers > 0)
    return inb__err(INB_EINVAL, "action '%s': n_workers cannot be used with target async (all tasks start at "
                                "once on one event loop)", name);
  return check_function(name, act, runs_on);
}

static int check_opts(const char *name, const inb_opts *o) {
  if (o->n_workers < 0) return inb__err(INB_EINVAL, "action '%s': n_workers must be >= 0; found %d", name, o->n_workers);
  if (o->timeout_ms < 0)
    return inb__err(INB_EINVAL, "action '%s': timeout_ms must be >= 0; found %lld", name, (long long)o->timeout_ms);
  if (o->retries < 0) return inb__err(INB_EINVAL, "action '%s': retries must be >= 0; found %d", name, o->retries);
  if (o->max_failures < 0)
    return inb__err(INB_EINVAL, "action '%s': max_failures must be >= 0; found %lld", name, (long long)o->max_failures);
  if (o->max_in_flight < 0)
    return inb__err(INB_EINVAL, "action '%s': max_in_flight must be >= 0; found %d", name, o->max_in_flight);
  if ((unsigned)o->schedule > (unsigned)INB_DYNAMIC)
    return inb__err(INB_EINVAL, "action '%s': unknown schedule %d (expected static or dynamic)", name, (int)o->schedule);
  return 0;
}

int inb__validate(inb__call *c, inb_batch *b, const inb_action *act, const inb_opts *o) {
  if (!act) return inb__err(INB_EINVAL, "inb_run: action is NULL");
  const char *name = act->name && *act->name ? act->name : "(unnamed)";
  c->name = name;
  if (!b && !c->remote) return inb__err(INB_EINVAL, "action '%s': batch is NULL", name);
  if (!act->fn && !act->start)
    return inb__err(INB_EINVAL, "action '%s': no task function (set .fn, or .start for async)", name);
  int rc = check_init(name, c->remote ? NULL : b, act, c->by_ref ? c->io : NULL);
  if (!rc) rc = check_opts(name, o);
  if (!rc) rc = resolve_target(name, act, o, &c->target);
  if (!rc) rc = check_target(name, act, o, c);
  if (rc) return rc;
  /* A nested call runs inline: the enclosing call already holds this thread's share of the cores.
   * (An async nested call keeps its own loop: it runs in this thread anyway.) */
  inb_target runs_on = c->target == INB_MPI ? c->local : c->target;
  if (inb__task_depth() > 0) c->target = runs_on = runs_on == INB_ASYNC ? INB_ASYNC : INB_FOR;
  c->n_workers = runs_on == INB_THREADS ? (o->n_workers > 0 ? o->n_workers : inb__cpus_available()) : 1;
  c->chunk = o->chunk;
  c->timeout_ms = o->timeout_ms;
  c->retries = o->retries;
  c->max_in_flight = o->max_in_flight;
  c->max_failures = o->max_failures;
  return 0;
}
