/* What the tests/mpi programs share beyond tests/common (ranks, collective helpers, the deferred checks and
 * post's verdict, whose pattern checks.h explains): batches, schedules and main().
 *
 * Every test is collective: all ranks call inb_run the same number of times with the same action. */
#ifndef INB_TESTS_MPITEST_H
#define INB_TESTS_MPITEST_H

/* cmocka.h needs these first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>
#include <mpi.h>

#include <stdbool.h>

#include "checks.h"
#include "collective.h"
#include "runner.h"

/* ---- batches and schedules ------------------------------------------------------------------------------ */

/* Rank 0 holds a batch of n items (indices from `index`, or 0..n-1); the other ranks an empty one. */
inb_batch *rank0_batch(const int64_t *index, size_t n);
const char *sched_name(inb_schedule s);
/* The STATIC schedule's blocks: rank r runs tasks [r*base + min(r, extra), ...), base + (r < extra) of them,
 * with base = n / size and extra = n % size. static_owner is the rank that runs task i of n (-1 if i >= n). */
size_t block_first(int r, size_t n);
size_t block_count(int r, size_t n);
int static_owner(size_t i, size_t n);

void sleep_us(long us);

/* ---- main ----------------------------------------------------------------------------------------------- */

/* The whole main() of a test program: starts MPI, runs the group on every rank (the stdout and stderr of ranks
 * other than 0 are shown, prefixed "[rank N]", only when they failed), finalises. Returns the largest failure
 * count of any rank (at most 255), or 1 when MPI does not start. */
int mpitest_main(int *argc, char ***argv, const char *group, const struct CMUnitTest *tests, size_t n);

#endif
