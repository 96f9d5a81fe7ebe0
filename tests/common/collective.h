/* The ranks of a test program and what they compute together (tests/mpi and tests/h5). */
#ifndef INB_TESTS_COLLECTIVE_H
#define INB_TESTS_COLLECTIVE_H

/* MPI_COMM_WORLD's, set by start_ranks (runner.h) before any test runs; 0 and 1 in a program without MPI. */
extern int g_rank, g_size;

/* ---- collective helpers: every rank must call them, in the same order ------------------------------------ */

/* The sum of v over all ranks. */
long sum_ranks(long v);
/* The largest v of any rank. */
long max_ranks(long v);
/* Rank 0's v, on every rank. */
int rank0_int(int v);
/* Rank 0's copy of s, on every rank (s is read on rank 0 only; malloc'd; the caller frees it). */
char *rank0_string(const char *s);
/* 1 on every rank when every rank's s equals rank 0's, else 0. */
long same_string_on_all_ranks(const char *s);

#endif
