/* What the fault-injection walks share (test_fault_walk.c: the engine and HDF5; test_farm_walk.c: command
 * farming): the scratch folder, the watchdog, the list of sites the ranks reached and the loop that fails each
 * of them once on each rank in turn. Every MPI call here is on MPI_COMM_WORLD, never on a communicator the
 * library uses, so a run that left the library's communicators out of step cannot hang the walk itself.
 *
 * The loop reads three variables: INB_FAULT_WALK_FROM=N starts at the Nth site (0-based: to go on after a site
 * that hung), INB_FAULT_WALK_ONLY=PREFIX walks only the sites whose key starts so (src/mpi/, src/jobs/farm.c),
 * INB_FAULT_WALK_VERBOSE=1 prints whether each armed site was reached. */
#ifndef INB_TESTS_FAULTS_WALK_H
#define INB_TESTS_FAULTS_WALK_H

#include <stddef.h>

/* This process's rank and the number of ranks, from walk_start. */
extern int walk_rank, walk_size;

/* After MPI started: the ranks, the watchdog's handler, and a new folder under $TMPDIR (or /tmp) named
 * PREFIX-XXXXXX, made by rank 0 and the same on every rank, into dir (cap bytes). Collective. Aborts the job
 * when the folder cannot be made. */
void walk_start(const char *prefix, char *dir, size_t cap);

/* The watchdog: unless walk_watchdog_stop comes within `seconds`, the process prints "FAULT WALK HANG on rank R:
 * WHAT did not end within S s" and exits with status 3. WHAT is printf's fmt; walk_current() returns it. */
void walk_watchdog(int seconds, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void walk_watchdog_stop(void);
const char *walk_current(void);

/* Every rank's reached sites (core/alloc.h), merged and sorted by key on rank 0 and shared: "file:line\tkind\n"
 * lines, the caller's to free; *count lines. Collective. */
char *walk_merged_sites(size_t *count);

/* One run with the site `key` (of kind `what`) armed on rank `victim`: returns the number of problems found and
 * sets *fired (both the same on every rank: the callback reduces them over MPI_COMM_WORLD). */
typedef int (*walk_run_fn)(const char *key, const char *what, int victim, int *fired, void *data);

/* Calls run for every site of `sites` (walk_merged_sites; the text is cut up) on rank 0 and then on rank 1.
 * Returns the problems found; *runs and *fired_runs count the runs and those where the fault was injected. */
int walk_sites(char *sites, walk_run_fn run, void *data, int *runs, int *fired_runs);

/* Removes path and everything under it (rank-local; a missing path is fine). Returns 0 or -1. */
int walk_remove_tree(const char *path);

#endif
