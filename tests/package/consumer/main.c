#include <inbatch.h>
#include <stdio.h>

/* Runs 100 trivial tasks: proves the headers, the library and its dependencies are found. */
static int fn(inb_item *it, const inb_args *a, inb_value *r) { (void)it; *r = inb_int(inb_args_at(a, 0)->u.i); return 0; }
int main(void) { inb_batch *b = inb_batch_new(NULL, 100); inb_action a = {.name = "x", .fn = fn, .init = "indices"};
  int rc = inb_run(b, &a, NULL, NULL, NULL); printf("rc=%d\n", rc); inb_batch_free(&b); return rc; }
