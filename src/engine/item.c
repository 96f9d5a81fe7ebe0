/* The task context: failure messages and accessors. */
#include "engine/item.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"

int inb_fail(inb_item *it, int code, const char *fmt, ...) {
  if (code == 0) code = INB_EITEM;
  if (!it || !fmt) return code;
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) return code;
  if ((size_t)need + 1 > it->msg_cap) {
    char *p = inb__realloc(it->msg, (size_t)need + 1);
    if (!p) return code; /* the record falls back to inb_strerror(code) */
    it->msg = p;
    it->msg_cap = (size_t)need + 1;
  }
  va_start(ap, fmt);
  vsnprintf(it->msg, it->msg_cap, fmt, ap);
  va_end(ap);
  it->has_msg = true;
  return code;
}

void inb__item_release(struct inb_item *it) {
  inb__free(it->msg);
  it->msg = NULL;
  it->msg_cap = 0;
  it->has_msg = false;
  inb__free(it->out_views);
  it->out_views = NULL;
}

inb_batch *inb_item_batch(inb_item *it) { return it ? it->b : NULL; }
size_t inb_item_task(const inb_item *it) { return it ? it->task : 0; }
int64_t inb_item_index(const inb_item *it) { return it ? it->index : -1; }
int inb_item_rank(const inb_item *it) { return it ? it->rank : 0; }
void *inb_item_loop(inb_item *it) { return it ? it->loop : NULL; }
void *inb_item_data(const inb_item *it) { return it ? it->data : NULL; }

bool inb_item_expired(const inb_item *it) {
  return it && it->deadline_ns && inb__now_ns() > it->deadline_ns;
}

/* Only async tasks can be finished later; on other targets a task finishes when fn returns, and inb_done
 * has nothing to do. */
void inb_done(inb_item *it, int code, inb_value result) {
  if (it && it->on_done) it->on_done(it, code, result);
}
