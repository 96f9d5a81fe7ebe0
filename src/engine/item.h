/* Internal: the context of one task. A worker reuses one inb_item for all its tasks. */
#ifndef INB_ENGINE_ITEM_H
#define INB_ENGINE_ITEM_H

#include <inbatch/run.h>

struct inb_item {
  inb_batch *b;
  size_t task;
  int64_t index;    /* the item's index in the batch or dataset; -1 for tasks that are not items */
  int rank;
  void *loop;       /* async: the uv_loop_t* */
  char *msg;        /* inb_fail's message for the current task (valid when has_msg) */
  size_t msg_cap;
  bool has_msg;
  /* async: the target's hook behind inb_done, and its state for this task (see targets/async.c) */
  void (*on_done)(struct inb_item *it, int code, inb_value result);
  void *async;
  uint8_t done;
  int attempts;             /* async: times started so far (retries) */
  /* inb_h5_run: the call's output rows; task_base turns task into a row */
  const struct inb__io *io;
  const struct inb__outrows *outrows;
  size_t task_base;
  inb_array *out_views;     /* what inb_item_output returns: one view per output, so a task may hold them all */
  void *data;               /* the action's (inb_item_data) */
  bool oom;                 /* the library ran out of memory serving the task (inb_item_output): the call fails */
  int64_t deadline_ns;      /* the call's (inb_item_expired); 0 = none */
};

/* Frees the item's message buffer. */
void inb__item_release(struct inb_item *it);

#endif
