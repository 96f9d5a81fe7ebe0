/* Internal: the layout of inb_args, so the engine can assemble a task's merged arguments in place
 * (without a list per task) as a borrowed view. */
#ifndef INB_CORE_ARGS_H
#define INB_CORE_ARGS_H

#include <inbatch/core.h>

typedef struct {
  char *name;
  inb_value v;
} inb__named;

struct inb_args {
  inb_value *pos;
  size_t npos, pos_cap;
  inb__named *named;
  size_t nnamed, named_cap;
  bool borrowed; /* a view built by the engine: names and values belong to other lists; free only the arrays */
};

/* Makes room for `n` positional and `m` named values in a borrowed view. Returns 0 or INB_ENOMEM. */
int inb__args_reserve(inb_args *a, size_t n, size_t m);

/* Frees the arrays of a borrowed view held by value (not the struct itself). */
void inb__args_view_release(inb_args *a);

/* Index of the named value `name`, or -1. */
long inb__args_find(const inb_args *a, const char *name);

#endif
