/* The out-of-memory walk (oom_walk.h). */
#include "oom_walk.h"

#include <stdarg.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <inbatch/core.h>

#include "core/alloc.h"

static bool walked(const char *key, const char *const *prefixes, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (strncmp(key, prefixes[k], strlen(prefixes[k])) == 0) return true;
  return false;
}

size_t inb_test_oom_walk(int (*op)(void *ctx), void *ctx, const char *const *prefixes, size_t nprefixes) {
  long live = inb__fault_live();
  int first = op(ctx);
  if (first) fail_msg("the operation fails before any fault: %d (%s)", first, inb_errmsg());
  size_t sites = 0;
  for (size_t i = 0; i < inb__fault_nsites(); i++) {
    char key[256];
    if (!inb__fault_site(i, key, sizeof key, NULL) || !walked(key, prefixes, nprefixes)) continue;
    sites++;
    for (long nth = 1;; nth++) {
      inb__fault_arm(key, nth);
      int rc = op(ctx);
      bool fired = inb__fault_fired();
      inb__fault_arm(NULL, 0);
      if (!fired) {
        if (rc) fail_msg("%s, hit %ld not reached, yet the operation failed: %d (%s)", key, nth, rc, inb_errmsg());
        break;
      }
      if (rc != INB_ENOMEM) fail_msg("%s, hit %ld: %d (%s)", key, nth, rc, inb_errmsg());
      if (inb__fault_live() != live) fail_msg("%s, hit %ld: %ld allocations left", key, nth, inb__fault_live() - live);
    }
  }
  if (inb__fault_live() != live) fail_msg("%ld allocations left after the walk", inb__fault_live() - live);
  return sites;
}
