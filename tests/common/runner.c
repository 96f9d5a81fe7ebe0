/* The main() of a collective test program (see runner.h). */
#include "runner.h"

#include "collective.h"

#include <inbatch.h>
#include <mpi.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int start_ranks(int *argc, char ***argv) {
  if (inb_mpi_init(argc, argv) != 0) {
    fprintf(stderr, "inb_mpi_init: %s\n", inb_errmsg());
    return -1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  return 0;
}

/* A rank's held-back streams: the scratch file they write to, and the descriptors they had (saved[k] for
 * descriptor k + 1, the stream of bit k of QUIET_*; -1 when not held back). */
typedef struct {
  FILE *file;
  int saved[2];
} held_t;

static held_t hold_streams(int quiet) {
  held_t h = {.file = tmpfile(), .saved = {-1, -1}};
  fflush(stdout), fflush(stderr);
  for (int k = 0; k < 2 && h.file; k++) {
    if (!(quiet & (1 << k))) continue;
    h.saved[k] = dup(k + 1);
    if (h.saved[k] >= 0) dup2(fileno(h.file), k + 1);
  }
  return h;
}

/* Gives the streams their descriptors back and, when the rank failed, shows what they held, prefixed. Nothing
 * to do for streams never held back. */
static void release_streams(held_t *h, bool show) {
  fflush(stdout), fflush(stderr);
  for (int k = 0; k < 2; k++)
    if (h->saved[k] >= 0) dup2(h->saved[k], k + 1), close(h->saved[k]);
  if (!h->file) return;
  char line[1024];
  rewind(h->file);
  while (show && fgets(line, sizeof line, h->file)) fprintf(stderr, "[rank %d] %s", g_rank, line);
  fclose(h->file);
}

static bool every_rank_shown(void) {
  const char *all = getenv("INB_TEST_ALL_RANKS");
  return all && *all == '1';
}

int run_group(const char *group, const struct CMUnitTest *tests, size_t n, int quiet) {
  held_t held = {.file = NULL, .saved = {-1, -1}}; /* rank 0's streams are never held back */
  if (g_rank != 0 && !every_rank_shown()) held = hold_streams(quiet);
  /* what cmocka_run_group_tests_name expands to, for an array passed by pointer */
  int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  release_streams(&held, failed != 0);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed > 255 ? 255 : failed;
}
