/* The ranks of a test program and what they compute together (see collective.h). */
#include "collective.h"

#include <mpi.h>

#include <stdlib.h>
#include <string.h>

int g_rank = 0, g_size = 1; /* one rank until start_ranks says otherwise (a program without MPI) */

long sum_ranks(long v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  return v;
}

long max_ranks(long v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

int rank0_int(int v) {
  MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return v;
}

char *rank0_string(const char *s) {
  unsigned long n = g_rank == 0 ? strlen(s) : 0;
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
  char *copy = malloc(n + 1);
  if (g_rank == 0) memcpy(copy, s, n + 1);
  MPI_Bcast(copy, (int)n + 1, MPI_CHAR, 0, MPI_COMM_WORLD);
  return copy;
}

long same_string_on_all_ranks(const char *s) {
  char *root = rank0_string(s);
  int same = strcmp(root, s) == 0;
  free(root);
  MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return same;
}
