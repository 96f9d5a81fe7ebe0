/* The program of resume_kill.sh: a resumable output whose run is SIGKILLed goes on from its partial, and the
 * committed file is an uninterrupted run's (include/inbatch/h5.h, "Resumable outputs").
 *
 *   resume_kill first DIR     creates DIR/out.h5 resumable and runs every item slowly (N items, batches of BATCH,
 *                             target mpi): the run the script kills. Each rank writes its pid to DIR/pid.<rank>
 *                             first, and each task appends its item to DIR/ran1.<rank> when it starts.
 *   resume_kill resume DIR    reopens it, writes the items inb_h5_finished says are finished to DIR/finished,
 *                             runs the others (logged in DIR/ran2.<rank>) and commits.
 *   resume_kill whole DIR     the uninterrupted run: DIR/whole.h5 (inb_h5_create, every item, commit).
 *   resume_kill check DIR     one process: out.h5 equals whole.h5 (h5t_same_outputs); at least MIN_FINISHED items
 *                             were finished before the kill, each logged by the first run; the second run ran
 *                             exactly the others, each once (nothing finished ran again); no partial or side file.
 * The input, DIR/in.h5 (/idx and /x: h5t_idx_x_input's layout), is written by the first run's rank 0.
 * Items i % 7 == 3 fail, so that failure records are made before and after the kill. Exit status 0 when all went
 * as it should, 1 otherwise (the reason on stderr), 2 for bad arguments. */
#include "h5test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { N = 120, PER = 3, BATCH = 6, MIN_FINISHED = 4 * BATCH, SLOW_MS = 20 };

static const char *g_work;   /* DIR */
static int g_log = -1;       /* this rank's log of the tasks it runs */
static bool g_slow;

static const char *path_of(char *buf, const char *name) {
  snprintf(buf, PATH_MAX, "%s/%s", g_work, name);
  return buf;
}

static int task(inb_item *it, const inb_args *a, inb_value *result) {
  int64_t i = inb_item_index(it);
  char line[32];
  int n = snprintf(line, sizeof line, "%lld\n", (long long)i);
  if (write(g_log, line, (size_t)n) != n) return inb_fail(it, 60, "item %lld: cannot log it", (long long)i);
  if (g_slow) nanosleep(&(struct timespec){0, SLOW_MS * 1000000L}, NULL);
  if (i % 7 == 3) return inb_fail(it, 61, "item %lld refused", (long long)i);
  const inb_value *x = inb_args_get(a, "x");
  inb_array *y = inb_item_output(it, "/y");
  if (!x || x->kind != INB_ARRAY || !y) return inb_fail(it, 62, "item %lld: no x or no /y", (long long)i);
  for (size_t e = 0; e < PER; e++) ((double *)y->data)[e] = 3 * ((const double *)x->u.a.data)[e] - 1;
  *result = inb_int(i * i);
  return 0;
}

static const inb_h5_output_spec g_spec = {.name = "/y", .dtype = INB_F64, .ndim = 1, .shape = {PER}};

static int report(const char *what, int rc) {
  fprintf(stderr, "resume_kill[rank %d]: %s: %s (%s)\n", g_rank, what, inb_strerror(rc), inb_errmsg());
  return 1;
}

/* Opens this rank's log "<name>.<rank>" for appending. */
static int open_log(const char *name) {
  char rel[64], path[PATH_MAX];
  snprintf(rel, sizeof rel, "%s.%d", name, g_rank);
  g_log = open(path_of(path, rel), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return g_log < 0 ? -1 : 0;
}

/* Runs the task over plan index[0..n) (NULL: every item) into out; INB_EITEM (items i % 7 == 3) is success. */
static int run(inb_h5_input *in, inb_h5_output *out, const int64_t *index, size_t n) {
  inb_action act = {.name = "resume_kill", .fn = task, .init = "items", .target = INB_MPI, .local = INB_FOR};
  inb_h5_plan plan = {.batch_size = BATCH, .index = index, .nindex = n};
  int rc = inb_h5_run(in, &plan, &act, NULL, NULL, out);
  return rc == INB_EITEM ? 0 : rc;
}

/* Opens this rank's log `log` and the input into *in. */
static int start_run(const char *log, inb_h5_input **in) {
  char path[PATH_MAX];
  const char *comps[] = {"/idx", "/x"};
  if (open_log(log)) return inb_set_error(INB_EIO, "cannot open the log '%s'", log);
  return inb_h5_open(path_of(path, "in.h5"), comps, 2, NULL, in);
}

/* The end of a run: while rc is 0, the plan index[0..n) run into out and out committed; out aborted otherwise, in
 * closed. Returns 0, or 1 after saying what failed. */
static int end_run(int rc, inb_h5_input *in, inb_h5_output *out, const int64_t *index, size_t n, const char *what) {
  if (!rc) rc = run(in, out, index, n);
  if (!rc) rc = inb_h5_commit(&out);
  inb_h5_abort(&out);
  inb_h5_close(&in);
  return rc ? report(what, rc) : 0;
}

static int first(void) {
  char path[PATH_MAX], rel[32];
  snprintf(rel, sizeof rel, "pid.%d", g_rank);
  FILE *f = fopen(path_of(path, rel), "w");
  if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) return report("writing the pid file", INB_EIO);
  int ok = 1;
  if (g_rank == 0) {
    hid_t h = H5Fcreate(path_of(path, "in.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t item[1] = {PER};
    ok = h >= 0 && h5t_write_index(h, "/idx", N) == 0 && h5t_write_values(h, "/x", INB_F64, N, 1, item, 0) == 0;
    if (h >= 0 && H5Fclose(h) < 0) ok = 0;
  }
  if (!rank0_int(ok)) return report("writing the input", INB_EIO);
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  g_slow = true;
  int rc = start_run("ran1", &in);
  if (!rc) rc = inb_h5_create_resumable(path_of(path, "out.h5"), &g_spec, 1, N, false, NULL, &out);
  return end_run(rc, in, out, NULL, 0, "the first run"); /* it commits only when nobody killed it */
}

static int resume(void) {
  char path[PATH_MAX];
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  uint64_t bits[(N + 63) / 64];
  int64_t plan[N];
  size_t m = 0;
  int rc = start_run("ran2", &in);
  if (!rc) rc = inb_h5_reopen(path_of(path, "out.h5"), &g_spec, 1, N, false, NULL, &out);
  if (!rc) rc = inb_h5_finished(out, 0, N, bits);
  FILE *f = !rc && g_rank == 0 ? fopen(path_of(path, "finished"), "w") : NULL;
  for (int64_t i = 0; !rc && i < N; i++) {
    bool done = (bits[i / 64] >> (i % 64)) & 1;
    if (!done) plan[m++] = i;
    else if (f) fprintf(f, "%lld\n", (long long)i);
  }
  if (f && fclose(f) != 0) rc = inb_set_error(INB_EIO, "cannot write the list of finished items");
  return end_run(rc, in, out, plan, m, "the resumed run");
}

static int whole(void) {
  char path[PATH_MAX];
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = start_run("ran0", &in);
  if (!rc) rc = inb_h5_create(path_of(path, "whole.h5"), &g_spec, 1, N, true, NULL, &out);
  return end_run(rc, in, out, NULL, 0, "the uninterrupted run");
}

/* How often each item appears in the files "<prefix>.<rank>" of DIR (counts[N]); items out of range: -1. */
static int count_logged(const char *prefix, int *counts) {
  memset(counts, 0, N * sizeof *counts);
  for (int r = 0; r < 64; r++) {
    char rel[64], path[PATH_MAX];
    snprintf(rel, sizeof rel, "%s.%d", prefix, r);
    FILE *f = fopen(path_of(path, rel), "r");
    if (!f) continue;
    long long i;
    while (fscanf(f, "%lld", &i) == 1) {
      if (i < 0 || i >= N) {
        fclose(f);
        return -1;
      }
      counts[i]++;
    }
    fclose(f);
  }
  return 0;
}

static int check(void) {
  char out_path[PATH_MAX], whole_path[PATH_MAX], path[PATH_MAX], why[600];
  const char *const datasets[] = {"/y"};
  int problems = 0;
  if (h5t_same_outputs(path_of(out_path, "out.h5"), path_of(whole_path, "whole.h5"), datasets, 1, why,
                       sizeof why) != 0)
    fprintf(stderr, "resume_kill: the resumed output differs from the uninterrupted run's: %s\n", why), problems++;
  int ran1[N], ran2[N];
  bool finished[N] = {false};
  FILE *f = fopen(path_of(path, "finished"), "r");
  long long i;
  int nfinished = 0;
  while (f && fscanf(f, "%lld", &i) == 1)
    if (i >= 0 && i < N && !finished[i]) finished[i] = true, nfinished++;
  if (f) fclose(f);
  if (count_logged("ran1", ran1) || count_logged("ran2", ran2))
    fprintf(stderr, "resume_kill: a log names an item out of range\n"), problems++;
  if (nfinished < MIN_FINISHED)
    fprintf(stderr, "resume_kill: only %d items were finished before the kill (at least %d expected)\n", nfinished,
            MIN_FINISHED), problems++;
  for (int k = 0; k < N; k++) {
    if (finished[k] && ran1[k] != 1)
      fprintf(stderr, "resume_kill: item %d is finished but the first run logged it %d times\n", k, ran1[k]),
          problems++;
    if (ran2[k] != !finished[k])
      fprintf(stderr, "resume_kill: item %d (%s before the kill) ran %d times in the resumed run\n", k,
              finished[k] ? "finished" : "not finished", ran2[k]), problems++;
  }
  const char *left[] = {".out.h5.inbatch-partial", ".out.h5.inbatch-errors"};
  for (size_t k = 0; k < 2; k++)
    if (h5t_exists(path_of(path, left[k]))) fprintf(stderr, "resume_kill: '%s' is left\n", left[k]), problems++;
  printf("resume_kill: %d of %d items finished before the kill, %d run after it; %d problems\n", nfinished, N,
         N - nfinished, problems);
  return problems ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: resume_kill first|resume|whole|check DIR\n");
    return 2;
  }
  g_work = argv[2];
  const char *mode = argv[1];
  if (strcmp(mode, "check") == 0) return check(); /* no MPI: reads files */
  if (start_ranks(&argc, &argv)) return 1;
  int rc = strcmp(mode, "first") == 0 ? first() : strcmp(mode, "resume") == 0 ? resume()
           : strcmp(mode, "whole") == 0 ? whole() : (fprintf(stderr, "resume_kill: unknown mode '%s'\n", mode), 2);
  if (g_log >= 0) close(g_log);
  inb_mpi_finalize();
  return rc;
}
