/* After the tasks: post with every result in task order, or, without a post, the verdict on the failures. */
#include "run/run.h"

#include <stdio.h>

#include "core/status.h"

/* Without post: INB_EITEM naming how many failed and the lowest-position failure. */
static int judge_failures(const inb__call *c) {
  if (!c->nfailed) return 0;
  const inb_error *e = c->first.n ? &c->first.v[0] : &c->errors.v[0]; /* all_errors keeps them all */
  for (size_t k = 1; !c->first.n && k < c->errors.n; k++)
    if (c->errors.v[k].task < e->task) e = &c->errors.v[k];
  /* a task is an item only for the per-item inits; a custom init's task i has no item of its own */
  bool per_item = c->gen == INB__GEN_INDICES || c->gen == INB__GEN_ITEMS || c->gen == INB__GEN_COMPONENT;
  char item[48] = "";
  if (per_item) snprintf(item, sizeof item, " (item %lld)", (long long)inb_batch_index(c->b, e->task));
  return inb__err(INB_EITEM, "action '%s': %zu of %zu tasks failed; first: task %zu%s: %s", c->name, c->nfailed,
                  c->ntasks, e->task, item, e->message);
}

static int run_post(inb__call *c, inb_batch **out) {
  inb__results_set_errors(c->results, &c->errors);
  inb_batch *chosen = c->b;
  inb__user_error_reset();
  int rc = c->act->post(c->b, c->results, c->call, c->extra, &chosen, c->act->data);
  if (rc) {
    if (chosen != c->b) inb_batch_free(&chosen); /* the run failed: the caller gets b, never sees this one */
    return inb__user_failure(rc, "action '%s': post failed", c->name);
  }
  if (out)
    *out = chosen;
  else if (chosen != c->b)
    inb_batch_free(&chosen);
  return 0;
}

int inb__finish(inb__call *c, inb_batch **out) {
  if (c->internal_rc)
    return inb__err(c->internal_rc, "action '%s': %s while recording results", c->name, inb_strerror(c->internal_rc));
  return c->act->post ? run_post(c, out) : judge_failures(c);
}

