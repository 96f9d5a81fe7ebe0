/* bench_mpi_overhead: what the mpi target costs for many small tasks, against a hand-written MPI program that
 * moves the same bytes and does the same work.
 *
 * Workload: ntasks tasks on a batch of ntasks items (indices 3*i + 1), init "indices", task i returns
 * inb_int(work(index)) with work(x) = 2x + 1, and a post on rank 0 that sums the results (plain sum and a
 * position-weighted sum, so results arriving in the wrong order are caught too).
 * Variants, interleaved within each repetition (handwritten kept static dynamic, handwritten kept ...):
 *   handwritten  rank 0 broadcasts the count, MPI_Scatterv of contiguous int64 index blocks (n/size each, the
 *                first n%size ranks one more), every rank runs work() over its block in a plain loop into an
 *                int64 array, MPI_Gatherv of the results to rank 0, rank 0 computes the same two sums. It
 *                allocates its buffers inside the timed region, as inb_run must allocate its own: the baseline
 *                of the goals.
 *   kept         the same with buffers allocated and touched once, before any timing: the floor (what MPI
 *                and the loops alone cost; fresh pages are expensive on these VMs), printed for information.
 *   static       inb_run, target mpi, local for (1 worker per rank), schedule INB_STATIC.
 *   dynamic      the same with schedule INB_DYNAMIC.
 * Every rank touches BENCH_WARM_MIB of memory, then MPI_Barrier; rank 0's clock runs from just before the
 * variant's first MPI call (inb_run, or the handwritten broadcast) until rank 0 holds the sums (for inb_run:
 * until it returns, i.e. including its final status agreement). Figures: best and median of `reps`, after one
 * untimed round that creates the engine's communicator and faults in the code.
 *
 * Usage: mpiexec -n 2 bench_mpi_overhead [ntasks] [reps]     defaults: 1000000 7
 * Goals (time / handwritten best): static <= 1.25x, dynamic <= 1.5x; missing one is reported, never a failure.
 * A wrong result (inb_run not 0 on any rank, a wrong count or sum) is: rank 0 prints why, every rank exits 1.
 * Bad arguments exit 2. */
#include <inbatch.h>
#include <mpi.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

#define BENCH_RANKS 2           /* the figures are meant for 2 ranks (2 cores); others run, with a note */
#define BENCH_WARM_MIB 256      /* memory each rank touches before a timed run (freshly mapped memory is slow here) */
#define GOAL_STATIC 1.25
#define GOAL_DYNAMIC 1.5

/* The per-item work, the same for every variant. */
static inline int64_t work(int64_t index) { return index * 2 + 1; }

/* ---- what post saw (rank 0) ------------------------------------------------------------------------ */

typedef struct {
  size_t count;
  uint64_t sum, wsum;   /* sum of the results; sum of position * result (both mod 2^64) */
} sums;

static sums g_post;

static int task_work(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  *result = inb_int(work(inb_args_at(args, 0)->u.i));
  return 0;
}

static int post_sum(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  uint64_t s = 0, w = 0;
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT) return INB_EITEM;  /* a task failed or returned the wrong kind */
    s += (uint64_t)v->u.i;
    w += (uint64_t)i * (uint64_t)v->u.i;
  }
  g_post = (sums){n, s, w};
  return 0;
}

/* ---- the hand-written baseline --------------------------------------------------------------------- */

static void die_local(const char *what);

/* One rank's buffers: counts and displacements of the blocks, its block of indices, its results, and (rank 0)
 * every result. */
typedef struct {
  int *counts, *displs;
  int64_t *blk, *res, *all;
} hw_bufs;

static void hw_alloc(hw_bufs *h, int64_t n, int rank, int size) {
  h->counts = malloc((size_t)size * sizeof *h->counts);
  h->displs = malloc((size_t)size * sizeof *h->displs);
  if (!h->counts || !h->displs) die_local("handwritten: out of memory");
  for (int r = 0, d = 0; r < size; r++) {
    h->counts[r] = (int)(n / size + (r < n % size));
    h->displs[r] = d;
    d += h->counts[r];
  }
  size_t mine = (size_t)h->counts[rank];
  h->blk = malloc((mine ? mine : 1) * sizeof *h->blk);
  h->res = malloc((mine ? mine : 1) * sizeof *h->res);
  h->all = rank == 0 ? malloc((size_t)(n ? n : 1) * sizeof *h->all) : NULL;
  if (!h->blk || !h->res || (rank == 0 && !h->all)) die_local("handwritten: out of memory");
}

static void hw_free(hw_bufs *h) {
  free(h->all), free(h->res), free(h->blk), free(h->displs), free(h->counts);
  *h = (hw_bufs){0};
}

/* Collective. idx (rank 0 only): the n indices. kept: buffers made (and touched) before the clock started, or
 * NULL to allocate them here, as a program calling this once per batch would. Fills *out on rank 0. */
static void handwritten(const int64_t *idx, int64_t n_root, int rank, int size, const hw_bufs *kept, sums *out) {
  int64_t n = n_root;
  MPI_Bcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  hw_bufs h;
  if (kept) h = *kept;
  else hw_alloc(&h, n, rank, size);
  int mine = h.counts[rank];
  MPI_Scatterv(idx, h.counts, h.displs, MPI_INT64_T, h.blk, mine, MPI_INT64_T, 0, MPI_COMM_WORLD);
  for (int i = 0; i < mine; i++) h.res[i] = work(h.blk[i]);
  MPI_Gatherv(h.res, mine, MPI_INT64_T, h.all, h.counts, h.displs, MPI_INT64_T, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    uint64_t s = 0, w = 0;
    for (int64_t i = 0; i < n; i++) {
      s += (uint64_t)h.all[i];
      w += (uint64_t)i * (uint64_t)h.all[i];
    }
    *out = (sums){(size_t)n, s, w};
  }
  if (!kept) hw_free(&h);
}

/* ---- helpers --------------------------------------------------------------------------------------- */

/* Touches fresh memory so that the run's own allocations find pages the host has already backed. */
static void warm_memory(void) {
  size_t n = (size_t)BENCH_WARM_MIB << 20;
  char *p = malloc(n);
  if (!p) return;
  memset(p, 1, n);
  __asm__ volatile("" : : "r"(p) : "memory");
  free(p);
}

/* A failure only this rank knows of (out of memory): no collective can be agreed any more, so abort them all. */
static void die_local(const char *what) {
  fprintf(stderr, "bench_mpi_overhead: ERROR rank %d: %s\n", inb_mpi_rank(), what);
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

/* Rank 0's verdict reaches every rank; on failure every rank finalises MPI and exits 1. */
static void agree_or_exit(bool ok_root, const char *case_name, const char *why) {
  int ok = ok_root;
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (ok) return;
  if (inb_mpi_rank() == 0) fprintf(stderr, "bench_mpi_overhead: ERROR %s: %s\n", case_name, why);
  inb_mpi_finalize();
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, long n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fmt_time(char *buf, size_t size, double s) {
  if (s >= 1.0) snprintf(buf, size, "%.3fs", s);
  else if (s >= 0.01) snprintf(buf, size, "%.1fms", s * 1e3);
  else snprintf(buf, size, "%.2fms", s * 1e3);
}

static const char *verdict(bool met) { return met ? "met" : "MISSED"; }

static bool parse_count(const char *s, const char *what, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    if (inb_mpi_rank() == 0)
      fprintf(stderr, "bench_mpi_overhead: %s: expected an integer in [%ld, %ld]; found '%s'\n", what, min, max, s);
    return false;
  }
  *out = v;
  return true;
}

enum { V_HAND, V_KEPT, V_STATIC, V_DYNAMIC, V_N };

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv) != 0) {
    fprintf(stderr, "bench_mpi_overhead: ERROR MPI start-up: %s\n", inb_errmsg());
    return 1;
  }
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  long n = 1000000, reps = 7;
  bool args_ok = argc <= 3 && !(argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")));
  if (!args_ok && rank == 0)
    fprintf(stderr, "usage: mpiexec -n 2 bench_mpi_overhead [ntasks] [reps]\n       defaults: 1000000 7\n");
  /* every rank parses the same argv, so every rank reaches the same verdict */
  args_ok = args_ok && (argc <= 1 || parse_count(argv[1], "ntasks", 1, INT32_MAX, &n)) &&
            (argc <= 2 || parse_count(argv[2], "reps", 1, 1000, &reps));
  if (!args_ok) {
    inb_mpi_finalize();
    return 2;
  }

  /* Input: the same batch on every rank (a remote task's inb_item_batch is its own rank's); rank 0 also holds
   * the indices as the plain int64 array the handwritten variant scatters. */
  int64_t *index = malloc((size_t)n * sizeof *index);
  if (!index) die_local("out of memory for the indices");
  for (long i = 0; i < n; i++) index[i] = 3 * (int64_t)i + 1;
  inb_batch *b = inb_batch_new(index, (size_t)n);
  if (!b) die_local("out of memory for the batch");
  sums want = {(size_t)n, 0, 0};
  for (long i = 0; i < n; i++) {
    want.sum += (uint64_t)work(index[i]);
    want.wsum += (uint64_t)i * (uint64_t)work(index[i]);
  }
  if (rank != 0) free(index), index = NULL;

  const inb_action act = {.name = "bench_mpi_overhead", .fn = task_work, .init = "indices", .post = post_sum,
                          .target = INB_MPI, .local = INB_FOR};
  const inb_opts opts[V_N] = {
      [V_STATIC] = {.n_workers = 1, .schedule = INB_STATIC},
      [V_DYNAMIC] = {.n_workers = 1, .schedule = INB_DYNAMIC}};
  const char *names[V_N] = {"handwritten", "kept", "static", "dynamic"};
  hw_bufs kept;
  hw_alloc(&kept, n, rank, size);
  memset(kept.blk, 0, (size_t)kept.counts[rank] * sizeof *kept.blk);
  memset(kept.res, 0, (size_t)kept.counts[rank] * sizeof *kept.res);
  if (rank == 0) memset(kept.all, 0, (size_t)n * sizeof *kept.all);

  if (rank == 0)
    printf("bench_mpi_overhead  ranks=%d  tasks=%ld  reps=%ld (interleaved: handwritten kept static dynamic; "
           "one untimed round first)  local=for  n_workers=1 per rank\n", size, n, reps);
  if (rank == 0 && size != BENCH_RANKS)
    printf("bench_mpi_overhead  note: running on %d ranks; the goals are set for %d\n", size, BENCH_RANKS);
  fflush(stdout);

  double *times[V_N];
  for (int v = 0; v < V_N; v++) {
    times[v] = calloc((size_t)reps, sizeof *times[v]);
    if (!times[v]) die_local("out of memory");
  }
  double m0 = rank == 0 ? machine_cpu_s() : 0, p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s();
  for (long r = -1; r < reps; r++) {
    for (int v = 0; v < V_N; v++) {
      sums got = {0, 0, 0};
      g_post = got;
      int rc = 0;
      warm_memory();
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = now_s();
      if (v == V_HAND || v == V_KEPT) {
        handwritten(index, n, rank, size, v == V_KEPT ? &kept : NULL, &got);
        double t = now_s() - t0;
        if (r >= 0) times[v][r] = t;
      } else {
        rc = inb_run(b, &act, NULL, &opts[v], NULL);
        double t = now_s() - t0;
        got = g_post;
        if (r >= 0) times[v][r] = t;
        if (rc != 0) {   /* every rank returns the same status: all leave together */
          if (rank == 0)
            fprintf(stderr, "bench_mpi_overhead: ERROR %s: inb_run returned %d (%s): %s\n", names[v], rc,
                    inb_strerror(rc), inb_errmsg());
          inb_mpi_finalize();
          return 1;
        }
      }
      char why[256] = "";
      bool right = rank != 0 || (got.count == want.count && got.sum == want.sum && got.wsum == want.wsum);
      if (!right)
        snprintf(why, sizeof why, "rank 0 has %zu results, sum %" PRIu64 ", weighted sum %" PRIu64 "; expected %zu, "
                 "%" PRIu64 ", %" PRIu64, got.count, got.sum, got.wsum, want.count, want.sum, want.wsum);
      agree_or_exit(right, names[v], why);
    }
  }
  double ours = clock_s(CLOCK_PROCESS_CPUTIME_ID) - p0, wall = now_s() - w0, m1 = rank == 0 ? machine_cpu_s() : 0;
  MPI_Reduce(rank == 0 ? MPI_IN_PLACE : &ours, &ours, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  double others = m0 < 0 || m1 < 0 ? -1 : fmax(0, m1 - m0 - ours);  /* /proc/stat counts in ticks (10 ms) */

  if (rank == 0) {
    double best[V_N], med[V_N];
    for (int v = 0; v < V_N; v++) {
      best[v] = times[v][0];
      for (long r = 1; r < reps; r++)
        if (times[v][r] < best[v]) best[v] = times[v][r];
      med[v] = median(times[v], reps);
    }
    char tb[32], tm[32], th[32], tk[32];
    fmt_time(th, sizeof th, best[V_HAND]);
    fmt_time(tm, sizeof tm, med[V_HAND]);
    fmt_time(tk, sizeof tk, best[V_KEPT]);
    printf("bench_mpi_overhead  case=handwritten  ranks=%d  tasks=%ld  best=%s  median=%s  "
           "(baseline: MPI_Scatterv of int64 indices, plain loop, MPI_Gatherv of int64 results, sum on rank 0; "
           "buffers allocated per run)\n", size, n, th, tm);
    fmt_time(tm, sizeof tm, med[V_KEPT]);
    printf("bench_mpi_overhead  case=kept         ranks=%d  tasks=%ld  best=%s  median=%s  "
           "(the same with buffers allocated once, outside the clock: the floor, for information)\n", size, n, tk, tm);
    const double goal[V_N] = {[V_STATIC] = GOAL_STATIC, [V_DYNAMIC] = GOAL_DYNAMIC};
    double ratio[V_N], floor_ratio[V_N];
    for (int v = V_STATIC; v < V_N; v++) {
      ratio[v] = best[v] / best[V_HAND];
      floor_ratio[v] = best[v] / best[V_KEPT];
      fmt_time(tb, sizeof tb, best[v]);
      fmt_time(tm, sizeof tm, med[v]);
      printf("bench_mpi_overhead  case=%-7s  ranks=%d  tasks=%ld  best=%s  median=%s  ratio=%.2fx  "
             "overhead=%.1f ns/task  (handwritten best=%s; kept best=%s: %.2fx)  goal<=%g %s\n", names[v], size, n,
             tb, tm, ratio[v], (best[v] - best[V_HAND]) * 1e9 / (double)n, th, tk, floor_ratio[v], goal[v],
             verdict(ratio[v] <= goal[v]));
    }
    printf("\nbench_mpi_overhead  summary  (best of %ld, interleaved; ratio = best / handwritten best; goals are "
           "targets, not failures)\n", reps);
    printf("  %-40s %9s   %-9s %s\n", "figure", "measured", "goal", "");
    printf("  %-40s %8.2fx   %-9s %s\n", "static: time / handwritten", ratio[V_STATIC], "<= 1.25x",
           verdict(ratio[V_STATIC] <= GOAL_STATIC));
    printf("  %-40s %8.2fx   %-9s %s\n", "dynamic: time / handwritten", ratio[V_DYNAMIC], "<= 1.5x",
           verdict(ratio[V_DYNAMIC] <= GOAL_DYNAMIC));
    printf("  %-40s %8.2fx   %-9s\n", "static: time / kept (floor)", floor_ratio[V_STATIC], "");
    printf("  %-40s %8.2fx   %-9s\n", "dynamic: time / kept (floor)", floor_ratio[V_DYNAMIC], "");
    if (others >= 0)
      printf("  (other processes used %.2fs of CPU during the %.2fs of runs%s)\n", others, wall,
             others > 0.1 * wall ? ": a busy machine, figures unreliable" : "");
    printf("  (every run checked: %ld results on rank 0, their sum and position-weighted sum: all correct)\n", n);
    fflush(stdout);
  }

  for (int v = 0; v < V_N; v++) free(times[v]);
  hw_free(&kept);
  inb_batch_free(&b);
  free(index);
  return inb_mpi_finalize() == 0 ? 0 : 1;
}
