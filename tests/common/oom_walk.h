/* The out-of-memory walk of the tests of internal modules: every allocation site that an operation reaches, in
 * the files named, made to fail at each of its hits in turn. Needs the library's internals (core/alloc.h) and
 * inb__fault_enable() called first thing in main. */
#ifndef INB_TEST_OOM_WALK_H
#define INB_TEST_OOM_WALK_H

#include <stddef.h>

/* Runs op(ctx) once (it must succeed: that lists its sites), then again with each hit of each site whose key
 * starts with one of prefixes[0..nprefixes) ("src/jobs/plugins.c:") failing: every such run must return
 * INB_ENOMEM and leave no more allocated than before; a run whose armed hit is not reached must succeed. Fails
 * the cmocka test otherwise. Returns the number of sites walked. */
size_t inb_test_oom_walk(int (*op)(void *ctx), void *ctx, const char *const *prefixes, size_t nprefixes);

#endif
