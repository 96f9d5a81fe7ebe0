/* The main() of a collective test program, in two steps: start MPI, then run a cmocka group on every rank.
 * The program's own set-up goes between them, and inb_mpi_finalize() after. */
#ifndef INB_TESTS_RUNNER_H
#define INB_TESTS_RUNNER_H

/* cmocka.h needs these first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Initialises MPI (inb_mpi_init) and sets g_rank and g_size (collective.h). Returns 0, or -1 after reporting
 * on stderr when MPI does not start. */
int start_ranks(int *argc, char ***argv);

/* Which streams of a rank other than 0 go to a scratch file while its group runs, shown (prefixed "[rank N]",
 * on stderr) only when that rank failed: N ranks printing the same passing group would bury rank 0's report. */
enum { QUIET_STDOUT = 1 << 0, QUIET_STDERR = 1 << 1 };

/* Runs the group on every rank (collective), with the `quiet` streams (QUIET_*) of ranks other than 0 held
 * back; INB_TEST_ALL_RANKS=1 holds back nothing, showing every rank's progress as it comes. Returns the largest
 * failure count of any rank (at most 255): the same on every rank, so mpiexec fails whichever rank failed.
 * The tests array stays the caller's. */
int run_group(const char *group, const struct CMUnitTest *tests, size_t n, int quiet);

#endif
