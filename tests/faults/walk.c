/* The fault walks' shared machinery (see walk.h). */
#define _GNU_SOURCE /* nftw's FTW_DEPTH, FTW_PHYS */
#include "walk.h"

#include <ftw.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

int walk_rank, walk_size;
static char current[400]; /* what the watchdog names */
static int watch_s;

static void on_alarm(int sig) {
  (void)sig;
  char line[600];
  int n = snprintf(line, sizeof line, "\nFAULT WALK HANG on rank %d: %s did not end within %d s\n", walk_rank,
                   current, watch_s);
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  if (write(2, line, (size_t)n) < 0) _exit(3);
  _exit(3);
}

void walk_start(const char *prefix, char *dir, size_t cap) {
  MPI_Comm_rank(MPI_COMM_WORLD, &walk_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &walk_size);
  signal(SIGALRM, on_alarm);
  char made[512] = "";
  if (walk_rank == 0) {
    snprintf(made, sizeof made, "%s/%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
    if (strlen(made) >= cap || !mkdtemp(made)) made[0] = '\0';
  }
  MPI_Bcast(made, sizeof made, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!made[0]) {
    if (walk_rank == 0) fprintf(stderr, "cannot make a scratch folder %s-XXXXXX\n", prefix);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  snprintf(dir, cap, "%s", made);
}

void walk_watchdog(int seconds, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(current, sizeof current, fmt, ap);
  va_end(ap);
  watch_s = seconds;
  alarm((unsigned)seconds);
}

void walk_watchdog_stop(void) { alarm(0); }

const char *walk_current(void) { return current; }

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *walk_merged_sites(size_t *count) {
  size_t n = inb__fault_nsites(), len = 0;
  char *mine = malloc(n * 320 + 1), key[300];
  mine[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    const char *what = "";
    if (inb__fault_site(i, key, sizeof key, &what)) len += (size_t)sprintf(mine + len, "%s\t%s\n", key, what);
  }
  int mylen = (int)len, *lens = calloc((size_t)walk_size, sizeof *lens);
  int *displs = calloc((size_t)walk_size, sizeof *displs);
  MPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < walk_size; r++) displs[r] = total, total += lens[r];
  char *all = calloc((size_t)total + 1, 1);
  MPI_Gatherv(mine, mylen, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
  char *merged = calloc((size_t)total + 1, 1);
  size_t mlen = 0, lines = 0;
  if (walk_rank == 0)
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
      char needle[340];
      snprintf(needle, sizeof needle, "%s\n", line);
      if (strstr(merged, needle)) continue;
      mlen += (size_t)sprintf(merged + mlen, "%s", needle);
      lines++;
    }
  if (walk_rank == 0) { /* in file order, so that runs and reports are the same every time */
    char **v = calloc(lines + 1, sizeof *v);
    size_t k = 0;
    char *copy = strdup(merged);
    for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n")) v[k++] = l;
    qsort(v, k, sizeof *v, by_string);
    mlen = 0;
    for (size_t i = 0; i < k; i++) mlen += (size_t)sprintf(merged + mlen, "%s\n", v[i]);
    free(v), free(copy);
  }
  int mtot = (int)mlen;
  MPI_Bcast(&mtot, 1, MPI_INT, 0, MPI_COMM_WORLD);
  merged = realloc(merged, (size_t)mtot + 1);
  MPI_Bcast(merged, mtot + 1, MPI_CHAR, 0, MPI_COMM_WORLD);
  unsigned long lc = lines;
  MPI_Bcast(&lc, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
  *count = lc;
  free(mine), free(lens), free(displs), free(all);
  return merged;
}

int walk_sites(char *sites, walk_run_fn run, void *data, int *runs, int *fired_runs) {
  long from = getenv("INB_FAULT_WALK_FROM") ? atol(getenv("INB_FAULT_WALK_FROM")) : 0, index = 0;
  const char *only = getenv("INB_FAULT_WALK_ONLY");
  int problems = 0;
  *runs = *fired_runs = 0;
  for (char *line = sites; line && *line; index++) {
    char *end = strchr(line, '\n'), *tab = strchr(line, '\t');
    if (!end || !tab) break;
    *end = *tab = '\0';
    bool chosen = index >= from && (!only || strncmp(line, only, strlen(only)) == 0);
    for (int victim = 0; chosen && victim < 2 && victim < walk_size; victim++) {
      int fired = 0;
      problems += run(line, tab + 1, victim, &fired, data);
      if (walk_rank == 0 && getenv("INB_FAULT_WALK_VERBOSE"))
        printf("%s on rank %d: %s\n", line, victim, fired ? "fired" : "not reached");
      ++*runs;
      *fired_runs += fired != 0;
    }
    line = end + 1;
  }
  return problems;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int walk_remove_tree(const char *path) {
  if (access(path, F_OK) != 0) return 0;
  return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
