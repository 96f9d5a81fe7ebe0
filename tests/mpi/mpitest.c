/* What the tests/mpi programs share (see mpitest.h). */
#include "mpitest.h"

#include <time.h>

/* ---- batches and schedules ------------------------------------------------------------------------------ */

/* Only rank 0's batch counts under target mpi: the other ranks pass an empty one. */
inb_batch *rank0_batch(const int64_t *index, size_t n) {
  return inb_batch_new(g_rank == 0 ? index : NULL, g_rank == 0 ? n : 0);
}

const char *sched_name(inb_schedule s) { return s == INB_STATIC ? "static" : "dynamic"; }

size_t block_first(int r, size_t n) {
  size_t base = n / (size_t)g_size, extra = n % (size_t)g_size, ur = (size_t)r;
  return ur * base + (ur < extra ? ur : extra);
}

size_t block_count(int r, size_t n) { return n / (size_t)g_size + ((size_t)r < n % (size_t)g_size); }

int static_owner(size_t i, size_t n) {
  for (int r = 0; r < g_size; r++)
    if (i >= block_first(r, n) && i < block_first(r, n) + block_count(r, n)) return r;
  return -1;
}

void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- main ----------------------------------------------------------------------------------------------- */

int mpitest_main(int *argc, char ***argv, const char *group, const struct CMUnitTest *tests, size_t n) {
  if (start_ranks(argc, argv) != 0) return 1;
  int status = run_group(group, tests, n, QUIET_STDOUT | QUIET_STDERR);
  inb_mpi_finalize();
  return status;
}
