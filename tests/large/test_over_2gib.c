/* Messages over 2 GiB, for real: MPI counts are int, so the engine must split them. With 2 ranks and STATIC,
 * rank 1 runs tasks whose array results add up to more than 2 GiB, so its outcome message to rank 0 (and the
 * gather that carries it) goes point to point in 1 GiB pieces. Post on rank 0 checks every byte's pattern.
 * Memory: ~3x the payload on each rank; run alone (label `large`), never under the sanitizers. */
#include <inbatch.h>
#include <mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NTASKS = 6 };
static const int64_t ROW = (int64_t)720 << 20; /* 720 MiB per result: rank 1 returns 3, 2.11 GiB in one message */
static uint8_t *g_buf;                          /* the task's own memory: results are copied when it returns */

/* One byte value per 4 KiB page, different per task and page: cheap to write, catches a misplaced piece. */
static uint8_t pattern(size_t task, size_t k) { return (uint8_t)(task * 131 + (k >> 12) * 7); }

static int big_result(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  size_t t = inb_item_task(it);
  for (int64_t k = 0; k < ROW; k += 4096) memset(g_buf + k, pattern(t, (size_t)k), 4096);
  inb_array a = {.dtype = INB_U8, .ndim = 1, .shape = {ROW}, .data = g_buf};
  *result = inb_arr(a);
  return 0;
}

static int check_all(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                     inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  if (inb_results_count(r) != NTASKS) return 90;
  for (size_t t = 0; t < NTASKS; t++) {
    const inb_value *v = inb_result_value(r, t);
    if (!v || v->kind != INB_ARRAY || v->u.a.shape[0] != ROW) return 91;
    const uint8_t *p = v->u.a.data;
    for (int64_t k = 0; k < ROW; k += 4093)
      if (p[k] != pattern(t, (size_t)k)) return 92;
    if (p[ROW - 1] != pattern(t, (size_t)ROW - 1)) return 93;
  }
  return 0;
}

int main(int argc, char **argv) {
  inb_mpi_init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  g_buf = malloc((size_t)ROW);
  inb_batch *b = inb_batch_new(NULL, NTASKS);
  inb_action act = {.name = "big", .fn = big_result, .init = "indices", .post = check_all, .target = INB_MPI,
                    .local = INB_FOR};
  inb_opts opts = {.schedule = INB_STATIC};
  int rc = g_buf && b ? inb_run(b, &act, NULL, &opts, NULL) : INB_ENOMEM;
  if (rank == 0)
    printf("%d ranks, %d results of %lld MiB (%.2f GiB per rank): %s%s%s\n", size, NTASKS, (long long)(ROW >> 20),
           (double)ROW * NTASKS / size / (1 << 30), rc ? "FAILED: " : "ok", rc ? inb_strerror(rc) : "",
           rc ? inb_errmsg() : "");
  free(g_buf);
  inb_batch_free(&b);
  inb_mpi_finalize();
  return rc ? 1 : 0;
}
