/* bench_call_args: a task's cost must not depend on the size of the call's arrays. Call arguments are read-only
 * views on every target: rank 0's tasks read the caller's array, every other rank one received copy of it, so
 * only the broadcast of the call grows with the array, never the per-task cost.
 *
 * Workload: init "indices", target mpi (local for, 1 worker per rank), schedule static; each task reads element
 * (index mod 1024) of a float64 array passed as a call argument and returns it; a post sums the results on rank 0
 * (checked against the expected sum). Variants, interleaved: an 8 KiB array (the baseline), 1 MiB, 64 MiB; each
 * at ntasks and at 4 x ntasks tasks. Best of `reps`.
 * A call costs a fixed part (for an array: sending it to the other ranks once) plus a part per task; the part
 * per task is the slope between the two sizes: (t(4n) - t(n)) / 3n.
 *
 * Usage: mpiexec -n 2 bench_call_args [ntasks] [reps]     defaults: 200000 5
 * Goal: a task costs the same with a 64 MiB call array as with 8 KiB (slope ratio <= 1.1x); a miss is reported,
 * never a failure. A wrong sum exits 1. */
#include <inbatch.h>
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchclock.h"

enum { VARIANTS = 3 };
static const size_t k_bytes[VARIANTS] = {(size_t)8 << 10, (size_t)1 << 20, (size_t)64 << 20};
static const char *const k_names[VARIANTS] = {"8 KiB", "1 MiB", "64 MiB"};
enum { TOUCHED = 1024 }; /* every task reads one of the array's first 1,024 elements, whatever its size: the
                            same memory traffic in every variant, so only the engine's handling differs */

static double g_sum; /* rank 0: what post saw */

static int read_one(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  int64_t i = inb_args_at(args, 0)->u.i;
  const inb_value *a = inb_args_at(args, 1);
  const double *v = a->u.a.data;
  *result = inb_real(v[(size_t)i % TOUCHED]);
  return 0;
}

static int sum_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  double s = 0;
  for (size_t i = 0; i < inb_results_count(r); i++) s += inb_result_value(r, i)->u.r;
  g_sum = s;
  return 0;
}

/* One timed inb_run (rank 0's clock); returns its seconds, or -1 on a wrong status or sum. */
static double run_once(inb_batch *b, size_t n, double *array, size_t bytes) {
  inb_args *call = inb_args_new();
  size_t len = bytes / sizeof(double);
  inb_args_add(call, inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {(int64_t)len}, .data = array}));
  inb_action act = {.name = "read_one", .fn = read_one, .init = "indices", .post = sum_post, .target = INB_MPI,
                    .local = INB_FOR};
  inb_opts o = {.schedule = INB_STATIC};
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now_s();
  int rc = inb_run(b, &act, call, &o, NULL);
  double t = now_s() - t0;
  inb_args_free(&call);
  double want = 0; /* array[k] = k */
  for (size_t i = 0; i < n; i++) want += (double)(i % TOUCHED);
  int rank = inb_mpi_rank();
  return rc || (rank == 0 && g_sum != want) ? -1 : t;
}

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv)) return 1;
  int rank = inb_mpi_rank(), size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long ntasks = argc > 1 ? atol(argv[1]) : 200000, reps = argc > 2 ? atol(argv[2]) : 5;
  if (ntasks < 1 || reps < 1) {
    if (rank == 0) fprintf(stderr, "usage: mpiexec -n 2 bench_call_args [ntasks] [reps]\n");
    inb_mpi_finalize();
    return 2;
  }
  size_t n = (size_t)ntasks, big = k_bytes[VARIANTS - 1] / sizeof(double);
  double *array = malloc(k_bytes[VARIANTS - 1]);
  for (size_t k = 0; array && k < big; k++) array[k] = (double)k;
  inb_batch *b[2] = {inb_batch_new(NULL, rank == 0 ? n : 0), inb_batch_new(NULL, rank == 0 ? 4 * n : 0)};
  double best[VARIANTS][2];
  for (int v = 0; v < VARIANTS; v++) best[v][0] = best[v][1] = 1e30;
  int wrong = !array || !b[0] || !b[1];
  if (!wrong) run_once(b[0], n, array, k_bytes[0]); /* untimed: the engine's communicator and the code's first faults */
  for (long r = 0; !wrong && r < reps; r++)
    for (int v = 0; v < VARIANTS; v++)
      for (int s = 0; s < 2; s++) {
        double t = run_once(b[s], s ? 4 * n : n, array, k_bytes[v]);
        if (t < 0) wrong = 1;
        else if (t < best[v][s]) best[v][s] = t;
      }
  MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && wrong) fprintf(stderr, "bench_call_args: ERROR a wrong status or sum\n");
  if (rank == 0 && !wrong) {
    printf("bench_call_args  ranks=%d  tasks=%ld and %ld  best of %ld, interleaved; baseline: the 8 KiB "
           "array\n", size, ntasks, 4 * ntasks, reps);
    double slope0 = (best[0][1] - best[0][0]) / (3.0 * (double)n);
    for (int v = 0; v < VARIANTS; v++) {
      double slope = (best[v][1] - best[v][0]) / (3.0 * (double)n), fixed = best[v][0] - slope * (double)n;
      printf("bench_call_args  case=%-8s  t(n)=%.2fms  t(4n)=%.2fms  per call=%.2fms  per task=%.1fns  "
             "per task / baseline=%.2fx\n", k_names[v], best[v][0] * 1e3, best[v][1] * 1e3, fixed * 1e3, slope * 1e9,
             slope / slope0);
    }
    double ratio = (best[VARIANTS - 1][1] - best[VARIANTS - 1][0]) / (best[0][1] - best[0][0]);
    printf("bench_call_args  summary: a task with a 64 MiB call array costs %.2fx one with 8 KiB (goal <= 1.1x: %s); "
           "the array costs once per call\n", ratio, ratio <= 1.1 ? "met" : "missed");
  }
  inb_batch_free(&b[0]);
  inb_batch_free(&b[1]);
  free(array);
  inb_mpi_finalize();
  return wrong ? 1 : 0;
}
