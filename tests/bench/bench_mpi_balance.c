/* bench_mpi_balance: how well the mpi target's schedules balance tasks of very unequal cost.
 *
 * Workload: ntasks tasks whose CPU cost follows a Pareto distribution (alpha 1.5, a fixed seed, so every run
 * and every program gets the same list), scaled so that the costs add up to total_seconds, no task longer
 * than max(1 s, 2 * total_seconds / ntasks). The seed is a typical draw, not a kind one: among 300 seeds, the
 * median imbalance of the two contiguous halves STATIC hands out (6%) and the median longest task (0.45 s at
 * the defaults). A task spins for its cost: a dependent multiply/xor-shift chain of cost * (steps per
 * CPU-second) steps, the rate calibrated once on rank 0 and broadcast. Each task measures the CPU time it used
 * (CLOCK_THREAD_CPUTIME_ID) and returns it with its index; post on rank 0 checks that every task ran once with
 * its own argument.
 * Variants (target mpi, local for, 1 worker per rank): schedule INB_STATIC, then INB_DYNAMIC, one timed run
 * each after an untimed run of zero-cost tasks. makespan: rank 0's clock from just before inb_run (after an
 * MPI_Barrier) until it returns. ideal = max(total cost / workers, longest cost), workers = ranks x 1, from the
 * cost list. Beside it: the CPU time the tasks measured (the spin's calibration error, and any slow-down of
 * the tasks by the engine's other threads, show there), the ratio against that measured work, and per rank
 * the CPU time the tasks used and the rest of the process's CPU time during the run (the engine and MPI,
 * busy-waiting included).
 *
 * Usage: mpiexec -n 2 bench_mpi_balance [ntasks] [total_seconds] [costs_file]   defaults: 400 8
 * costs_file: where rank 0 writes the costs (seconds, one per line, task order) for the mpi4py.futures peer
 * (tests/bench/mpi4py_balance.py; tests/bench/run_bench_mpi_balance.sh runs both and compares).
 * Goal: dynamic makespan <= 1.05 x ideal; missing it is reported, never a failure. A wrong result (inb_run
 * not 0, a task missing, run twice or with another task's argument) is: rank 0 prints why, every rank exits 1.
 * Bad arguments exit 2. */
#include <inbatch.h>
#include <mpi.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

#define BENCH_RANKS 2
#define PARETO_ALPHA 1.5
#define PARETO_SEED 20261112u  /* a typical draw: see above */
#define CAP_SECONDS 1.0
#define GOAL_DYNAMIC 1.05

/* ---- the workload ---------------------------------------------------------------------------------- */

static double *g_costs;          /* every rank: task i's cost in seconds (by batch index, = position here) */
static double g_iters_per_s;     /* every rank: spin() steps per CPU-second, from rank 0's calibration */
static double g_cost_scale = 1;  /* 0 for the untimed warm-up run */
static _Atomic int64_t g_rank_cpu_ns;      /* this rank: CPU time its tasks measured in the current run */
static _Atomic int64_t g_rank_nominal_ns;  /* this rank: the costs of the tasks it ran */

/* A dependent multiply/xor-shift chain: no closed form, no vectorisation, the same cost for every seed. */
static uint64_t spin(uint64_t seed, uint64_t iters) {
  uint64_t x = seed * 0x9E3779B97F4A7C15u + 1u;
  for (uint64_t k = 0; k < iters; k++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    x ^= x >> 29;
  }
  return x;
}

static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

/* A task's result: its index in the high 32 bits, the CPU microseconds it used in the low 32. */
static int task_spin(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  int64_t i = inb_args_at(args, 0)->u.i;
  double t0 = cpu_s();
  uint64_t x = spin((uint64_t)i, (uint64_t)(g_costs[i] * g_cost_scale * g_iters_per_s));
  __asm__ volatile("" : : "r"(x));  /* the chain's value is used: never elided */
  double used = cpu_s() - t0, us = used * 1e6;
  atomic_fetch_add(&g_rank_cpu_ns, (int64_t)(used * 1e9));
  atomic_fetch_add(&g_rank_nominal_ns, (int64_t)(g_costs[i] * g_cost_scale * 1e9));
  *result = inb_int((int64_t)((uint64_t)i << 32 | (uint64_t)(us < 4e9 ? us : 4e9)));
  return 0;
}

typedef struct {
  size_t count;
  double work, longest;  /* measured CPU seconds: total, largest task */
  char bad[200];         /* why the results are wrong; "" when right */
} outcome;

static outcome g_out;

static int post_check(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  outcome o = {inb_results_count(r), 0, 0, ""};
  for (size_t i = 0; i < o.count && !o.bad[0]; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v || v->kind != INB_INT) {
      snprintf(o.bad, sizeof o.bad, "task %zu failed or returned no int", i);
      break;
    }
    uint64_t u = (uint64_t)v->u.i;
    if ((int64_t)(u >> 32) != inb_batch_index(b, i))
      snprintf(o.bad, sizeof o.bad, "result %zu comes from the task of item %" PRIu64 "; expected item %" PRId64,
               i, u >> 32, inb_batch_index(b, i));
    double s = (double)(u & 0xffffffffu) * 1e-6;
    o.work += s;
    if (s > o.longest) o.longest = s;
  }
  g_out = o;
  return 0;
}

/* ---- the costs ------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* Pareto(alpha, x_min 1) samples scaled by s so that sum(min(s x_i, cap)) == total (bisection on s). */
static void make_costs(double *c, long n, double total, double cap) {
  uint64_t state = PARETO_SEED;
  for (long i = 0; i < n; i++) {
    double u = (double)(splitmix64(&state) >> 11) * 0x1.0p-53;  /* [0, 1) */
    c[i] = pow(1.0 - u, -1.0 / PARETO_ALPHA);
  }
  double lo = 0, hi = 1;
  for (;;) {  /* grow hi until it overshoots; n * cap > total, so it does */
    double sum = 0;
    for (long i = 0; i < n; i++) sum += fmin(hi * c[i], cap);
    if (sum >= total) break;
    hi *= 2;
  }
  for (int k = 0; k < 200; k++) {
    double mid = 0.5 * (lo + hi), sum = 0;
    for (long i = 0; i < n; i++) sum += fmin(mid * c[i], cap);
    if (sum < total) lo = mid;
    else hi = mid;
  }
  for (long i = 0; i < n; i++) c[i] = fmin(hi * c[i], cap);
}

/* Best-of-5 CPU seconds for one spin(iters). */
static double time_spin(uint64_t iters) {
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t0 = cpu_s();
    uint64_t x = spin((uint64_t)r, iters);
    __asm__ volatile("" : : "r"(x));
    double t = cpu_s() - t0;
    if (t < best) best = t;
  }
  return best;
}

/* spin() steps per CPU-second, from runs of >= 50 ms each. */
static double calibrate(void) {
  uint64_t iters = 1u << 16;
  double t = time_spin(iters);
  while (t < 0.05) {
    iters *= 2;
    t = time_spin(iters);
  }
  return (double)iters / t;
}

/* ---- helpers --------------------------------------------------------------------------------------- */

static void die_local(const char *what) {
  fprintf(stderr, "bench_mpi_balance: ERROR rank %d: %s\n", inb_mpi_rank(), what);
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

/* Rank 0's verdict reaches every rank; on failure every rank finalises MPI and exits 1. */
static void agree_or_exit(bool ok_root, const char *case_name, const char *why) {
  int ok = ok_root;
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (ok) return;
  if (inb_mpi_rank() == 0) fprintf(stderr, "bench_mpi_balance: ERROR %s: %s\n", case_name, why);
  inb_mpi_finalize();
  exit(1);
}

static const char *verdict(bool met) { return met ? "met" : "MISSED"; }

static bool parse_args(int argc, char **argv, long *n, double *total, const char **costs_file) {
  if (argc > 4 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
    if (inb_mpi_rank() == 0)
      fprintf(stderr, "usage: mpiexec -n 2 bench_mpi_balance [ntasks] [total_seconds] [costs_file]\n"
                      "       defaults: 400 8 (no costs file)\n");
    return false;
  }
  char *end = NULL;
  if (argc > 1) {
    errno = 0;
    *n = strtol(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || *n < 1 || *n > INT32_MAX) {
      if (inb_mpi_rank() == 0)
        fprintf(stderr, "bench_mpi_balance: ntasks: expected an integer in [1, %d]; found '%s'\n", INT32_MAX, argv[1]);
      return false;
    }
  }
  if (argc > 2) {
    errno = 0;
    *total = strtod(argv[2], &end);
    if (errno || end == argv[2] || *end || !(*total > 0) || *total > 1e5) {
      if (inb_mpi_rank() == 0)
        fprintf(stderr, "bench_mpi_balance: total_seconds: expected a number in (0, 1e5]; found '%s'\n", argv[2]);
      return false;
    }
  }
  if (argc > 3) *costs_file = argv[3];
  return true;
}

/* Rank 0: the costs, one per line, in task order. */
static bool write_costs(const char *path, const double *c, long n) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  for (long i = 0; i < n; i++) fprintf(f, "%.9f\n", c[i]);
  return fclose(f) == 0;
}

enum { V_STATIC, V_DYNAMIC, V_N };

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv) != 0) {
    fprintf(stderr, "bench_mpi_balance: ERROR MPI start-up: %s\n", inb_errmsg());
    return 1;
  }
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long n = 400;
  double total = 8.0;
  const char *costs_file = NULL;
  if (!parse_args(argc, argv, &n, &total, &costs_file)) {  /* the same argv everywhere: the same verdict */
    inb_mpi_finalize();
    return 2;
  }
  double cap = fmax(CAP_SECONDS, 2 * total / (double)n);

  /* Costs and the spin rate come from rank 0, so every rank runs exactly the same work per task. */
  g_costs = malloc((size_t)n * sizeof *g_costs);
  inb_batch *b = inb_batch_new(NULL, (size_t)n);  /* items 0..n-1: task i gets inb_int(i) */
  if (!g_costs || !b) die_local("out of memory");
  if (rank == 0) {
    make_costs(g_costs, n, total, cap);
    g_iters_per_s = calibrate();
  }
  MPI_Bcast(g_costs, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(&g_iters_per_s, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  bool wrote = rank != 0 || !costs_file || write_costs(costs_file, g_costs, n);
  agree_or_exit(wrote, "costs file", costs_file ? costs_file : "");

  /* The cost list's own figures: total, median, longest, and the largest of STATIC's contiguous blocks. */
  double nominal = 0, nominal_longest = 0, sorted_median, largest_block = 0;
  for (long i = 0; i < n; i++) {
    nominal += g_costs[i];
    if (g_costs[i] > nominal_longest) nominal_longest = g_costs[i];
  }
  for (long r = 0, first = 0; r < size; r++) {
    long count = n / size + (r < n % size);
    double sum = 0;
    for (long i = first; i < first + count; i++) sum += g_costs[i];
    if (sum > largest_block) largest_block = sum;
    first += count;
  }
  {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) die_local("out of memory");
    memcpy(s, g_costs, (size_t)n * sizeof *s);
    for (long i = 1; i < n; i++)  /* insertion sort: n is small */
      for (long j = i; j > 0 && s[j - 1] > s[j]; j--) {
        double t = s[j];
        s[j] = s[j - 1], s[j - 1] = t;
      }
    sorted_median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
  }
  int workers = size;  /* local for: one worker per rank */
  double ideal = fmax(nominal / workers, nominal_longest);
  if (rank == 0) {
    printf("bench_mpi_balance  ranks=%d  workers=%d (local=for, 1 per rank)  tasks=%ld  costs: Pareto alpha=%.1f "
           "seed=%u  total=%.3fs  median=%.1fms  longest=%.3fs  cap=%.2fs  ideal=%.3fs  static's blocks at best=%.3f "
           "x ideal  spin=%.0f M steps/s\n", size, workers, n, PARETO_ALPHA, PARETO_SEED, nominal,
           sorted_median * 1e3, nominal_longest, cap, ideal, largest_block / ideal, g_iters_per_s * 1e-6);
    if (size != BENCH_RANKS) printf("bench_mpi_balance  note: running on %d ranks; the goal is set for %d\n", size,
                                    BENCH_RANKS);
    if (costs_file) printf("bench_mpi_balance  costs written to %s\n", costs_file);
    fflush(stdout);
  }

  const inb_action act = {.name = "bench_mpi_balance", .fn = task_spin, .init = "indices", .post = post_check,
                          .target = INB_MPI, .local = INB_FOR};
  const inb_opts opts[V_N] = {[V_STATIC] = {.n_workers = 1, .schedule = INB_STATIC},
                              [V_DYNAMIC] = {.n_workers = 1, .schedule = INB_DYNAMIC}};
  const char *names[V_N] = {"static", "dynamic"};
  double makespan[V_N] = {0}, others[V_N] = {0};
  outcome got[V_N];
  double *per_rank[V_N];  /* rank 0: per rank, the nominal cost, task CPU and process CPU of its share */
  for (int v = 0; v < V_N; v++) {
    per_rank[v] = calloc((size_t)size * 3, sizeof *per_rank[v]);
    if (!per_rank[v]) die_local("out of memory");
  }

  for (int pass = 0; pass < 2; pass++) {  /* pass 0: zero-cost tasks, untimed (the engine's first-call costs) */
    g_cost_scale = pass;
    for (int v = 0; v < V_N; v++) {
      memset(&g_out, 0, sizeof g_out);
      atomic_store(&g_rank_cpu_ns, 0);
      atomic_store(&g_rank_nominal_ns, 0);
      MPI_Barrier(MPI_COMM_WORLD);
      double m0 = rank == 0 ? machine_cpu_s() : 0;
      double p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = now_s();
      int rc = inb_run(b, &act, NULL, &opts[v], NULL);
      double t = now_s() - t0, mine[3] = {atomic_load(&g_rank_nominal_ns) * 1e-9, atomic_load(&g_rank_cpu_ns) * 1e-9,
                                          clock_s(CLOCK_PROCESS_CPUTIME_ID) - p0};
      double m1 = rank == 0 ? machine_cpu_s() : 0;
      if (rc != 0) {  /* every rank returns the same status: all leave together */
        if (rank == 0)
          fprintf(stderr, "bench_mpi_balance: ERROR %s: inb_run returned %d (%s): %s\n", names[v], rc,
                  inb_strerror(rc), inb_errmsg());
        inb_mpi_finalize();
        return 1;
      }
      MPI_Gather(mine, 3, MPI_DOUBLE, per_rank[v], 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
      char why[256] = "";
      if (rank == 0 && g_out.count != (size_t)n)
        snprintf(why, sizeof why, "post saw %zu results; expected %ld", g_out.count, n);
      else if (rank == 0 && g_out.bad[0])
        snprintf(why, sizeof why, "%s", g_out.bad);
      agree_or_exit(!why[0], names[v], why);
      if (pass == 1) {
        makespan[v] = t;
        got[v] = g_out;
        others[v] = m0 < 0 || m1 < 0 ? -1 : m1 - m0;
        for (int r = 0; r < size && others[v] >= 0 && rank == 0; r++) others[v] -= per_rank[v][3 * r + 2];
        if (m0 >= 0 && m1 >= 0 && others[v] < 0) others[v] = 0;  /* /proc/stat counts in ticks (10 ms) */
      }
    }
  }

  if (rank == 0) {
    double ratio[V_N];
    for (int v = 0; v < V_N; v++) {
      ratio[v] = makespan[v] / ideal;
      double measured_ideal = fmax(got[v].work / workers, got[v].longest);
      printf("bench_mpi_balance  case=%-7s  ranks=%d  workers=%d  tasks=%ld  makespan=%.3fs  ideal=%.3fs  "
             "makespan/ideal=%.3f  (tasks measured work=%.3fs longest=%.3fs: makespan/that=%.3f)", names[v], size,
             workers, n, makespan[v], ideal, ratio[v], got[v].work, got[v].longest, makespan[v] / measured_ideal);
      if (v == V_DYNAMIC) printf("  goal<=%.2f %s", GOAL_DYNAMIC, verdict(ratio[v] <= GOAL_DYNAMIC));
      printf("\n");
    }
    for (int v = 0; v < V_N; v++) {
      printf("bench_mpi_balance    %-7s per rank:", names[v]);
      for (int r = 0; r < size; r++) {
        const double *q = per_rank[v] + 3 * r;
        printf("%s rank %d: tasks' cost %.3fs, their CPU %.3fs (%+.1f%%), rest of the process %.3fs CPU", r ? ";" : "",
               r, q[0], q[1], q[0] > 0 ? (q[1] / q[0] - 1) * 100 : 0.0, q[2] - q[1]);
      }
      if (others[v] >= 0) printf("; other processes %.2fs CPU%s", others[v], others[v] > 0.1 * makespan[v] ?
                                 " (a busy machine: figures unreliable)" : "");
      printf("\n");
    }
    printf("\nbench_mpi_balance  summary  (one run each after an untimed warm-up; ideal = max(total cost / %d, "
           "longest cost); goals are targets, not failures)\n", workers);
    printf("  %-34s %9s   %-9s %s\n", "figure", "measured", "goal", "");
    printf("  %-34s %9.3f   %-9s\n", "static: makespan / ideal", ratio[V_STATIC], "");
    printf("  %-34s %9.3f   %-9s %s\n", "dynamic: makespan / ideal", ratio[V_DYNAMIC], "<= 1.05",
           verdict(ratio[V_DYNAMIC] <= GOAL_DYNAMIC));
    printf("  (every run checked: %ld results on rank 0, each from its own task: all correct)\n", n);
    fflush(stdout);
  }

  for (int v = 0; v < V_N; v++) free(per_rank[v]);
  inb_batch_free(&b);
  free(g_costs);
  return inb_mpi_finalize() == 0 ? 0 : 1;
}
