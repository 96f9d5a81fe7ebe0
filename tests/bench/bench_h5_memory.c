/* bench_h5_memory: rank 0's peak memory for inb_h5_run over many small items, against a hand-written
 * parallel-HDF5 program doing the same work in the same run, and against the goal.
 *
 * Workload: input "/x", `items` int32 (x[i] = i % 1000), contiguous, written by rank 0 first. Every variant
 * writes y = 2x + 1 into "/y" (int32, contiguous, fill time NEVER) of a new file: one result per item.
 *   hand-written  H5Fopen/H5Fcreate over MPI-IO; rank r walks its contiguous share of the items in pieces of
 *                 PIECE items: read (independent), compute, write (independent). Its peak is what any program
 *                 doing this work needs: the libraries and two pieces.
 *   inbatch       inb_h5_open, inb_h5_create (one scalar output "/y"), inb_h5_run with target mpi (local
 *                 threads, defaults otherwise: plan NULL, batch_size 0), a task that writes 2x+1 into its row
 *                 and returns x as its result (a numeric scalar: the table's value column), inb_h5_commit,
 *                 inb_h5_close. The output also holds the results table, 21 bytes an item.
 * Peak: getrusage(RUSAGE_SELF).ru_maxrss of rank 0 after each variant, the peak reset to the current size before
 * it (/proc/self/clear_refs; the line says when this kernel cannot, and then a variant's figure is the process's
 * peak so far). Each variant's line also shows its time and rank 0's size before it.
 * After both, rank 0 checks rows of both outputs (first, middle, last: y = 2x + 1; the table's rows done).
 *
 * Usage: mpiexec -n 2 bench_h5_memory [items] [dir]   (defaults 10000000 and $TMPDIR or /tmp; the files go to a
 *        fresh directory there, removed at the end). Exit 1 when a call fails or a check does not hold. */
#include <inbatch.h>
#include <hdf5.h>
#include <mpi.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchclock.h"

#define GOAL_MIB 256
#define PIECE ((int64_t)1 << 20) /* items per read and write of the hand-written program */

static int g_rank, g_size;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_h5_memory[rank %d]: ", g_rank);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static long maxrss_mib(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

static long rss_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
  if (f) fclose(f);
  return kib / 1024;
}

/* Resets the peak to the current size; false when this kernel cannot. */
static bool reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  bool ok = f && fputs("5", f) >= 0;
  if (f && fclose(f) != 0) ok = false;
  return ok;
}

/* ---- the input ----------------------------------------------------------------------------------------- */

static void make_input(const char *path, int64_t n) {
  if (g_rank == 0) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(f, "/x", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int32_t *buf = malloc(PIECE * sizeof *buf);
    if (f < 0 || d < 0 || !buf) die("cannot create the input %s", path);
    for (int64_t at = 0; at < n; at += PIECE) {
      hsize_t start[1] = {(hsize_t)at}, count[1] = {(hsize_t)(n - at < PIECE ? n - at : PIECE)};
      for (hsize_t i = 0; i < count[0]; i++) buf[i] = (int32_t)((at + (int64_t)i) % 1000);
      hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, count, NULL);
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
      if (H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, buf) < 0) die("writing the input");
      H5Sclose(ms);
      H5Sclose(fs);
    }
    free(buf);
    H5Dclose(d);
    H5Sclose(space);
    if (H5Fclose(f) < 0) die("closing the input");
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* ---- hand-written parallel HDF5 -------------------------------------------------------------------------- */

static void hand_written(const char *input, const char *output, int64_t n) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  hid_t in = H5Fopen(input, H5F_ACC_RDONLY, fapl), out = H5Fcreate(output, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (in < 0 || out < 0) die("hand-written: cannot open %s or create %s", input, output);
  hid_t x = H5Dopen2(in, "/x", H5P_DEFAULT);
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  hid_t y = H5Dcreate2(out, "/y", H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(space);
  int32_t *buf = malloc(PIECE * sizeof *buf);
  if (x < 0 || y < 0 || !buf) die("hand-written: datasets");
  int64_t first = n * g_rank / g_size, end = n * (g_rank + 1) / g_size;
  for (int64_t at = first; at < end; at += PIECE) {
    hsize_t start[1] = {(hsize_t)at}, count[1] = {(hsize_t)(end - at < PIECE ? end - at : PIECE)};
    hid_t fs = H5Dget_space(x), ms = H5Screate_simple(1, count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (H5Dread(x, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, buf) < 0) die("hand-written: read");
    for (hsize_t i = 0; i < count[0]; i++) buf[i] = 2 * buf[i] + 1;
    H5Sclose(fs);
    fs = H5Dget_space(y);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (H5Dwrite(y, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, buf) < 0) die("hand-written: write");
    H5Sclose(ms);
    H5Sclose(fs);
  }
  free(buf);
  H5Dclose(x);
  H5Dclose(y);
  H5Fclose(in);
  if (H5Fclose(out) < 0) die("hand-written: closing the output");
}

/* ---- inbatch -------------------------------------------------------------------------------------------- */

static int affine(inb_item *it, const inb_args *a, inb_value *result) {
  const inb_value *v = inb_args_at(a, 0);
  inb_array *y = inb_item_output(it, "/y");
  if (!v || v->kind != INB_ARRAY || !y) return inb_fail(it, INB_EINVAL, "no row or no output");
  int32_t x = *(const int32_t *)v->u.a.data;
  *(int32_t *)y->data = 2 * x + 1;
  *result = inb_int(x);
  return 0;
}

static void with_inbatch(const char *input, const char *output) {
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, comps, 1, NULL, &in);
  if (rc) die("inb_h5_open: %s", inb_errmsg());
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I32, .ndim = 0};
  rc = inb_h5_create(output, &spec, 1, inb_h5_length(in), true, NULL, &out);
  if (rc) die("inb_h5_create: %s", inb_errmsg());
  inb_action act = {.name = "affine", .fn = affine, .init = "x", .target = INB_MPI};
  rc = inb_h5_run(in, NULL, &act, NULL, NULL, out);
  if (rc) die("inb_h5_run returned %d (%s): %s", rc, inb_strerror(rc), inb_errmsg());
  rc = inb_h5_commit(&out);
  if (rc) die("inb_h5_commit: %s", inb_errmsg());
  inb_h5_close(&in);
}

/* ---- checks ------------------------------------------------------------------------------------------- */

static int32_t read_one(hid_t f, const char *name, int64_t i) {
  int32_t v = 0;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), fs = H5Dget_space(d);
  hsize_t start[1] = {(hsize_t)i}, count[1] = {1};
  hid_t ms = H5Screate_simple(1, count, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  if (H5Dread(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &v) < 0) die("checking %s[%lld]", name, (long long)i);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  return v;
}

/* The table's state of item i (h5.h: enum int8 {not_run, done, failed}). */
static int state_of(hid_t f, int64_t i) {
  typedef struct {
    int8_t state;
  } row;
  hid_t st = H5Tenum_create(H5T_NATIVE_INT8);
  const int8_t values[] = {INB_H5_NOT_RUN, INB_H5_DONE, INB_H5_FAILED};
  H5Tenum_insert(st, "not_run", &values[0]);
  H5Tenum_insert(st, "done", &values[1]);
  H5Tenum_insert(st, "failed", &values[2]);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(row));
  H5Tinsert(t, "state", 0, st);
  row r = {-1};
  hid_t d = H5Dopen2(f, "/inbatch_results", H5P_DEFAULT), fs = H5Dget_space(d);
  hsize_t start[1] = {(hsize_t)i}, count[1] = {1};
  hid_t ms = H5Screate_simple(1, count, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  if (H5Dread(d, t, ms, fs, H5P_DEFAULT, &r) < 0) die("checking the results table's row %lld", (long long)i);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  H5Tclose(t);
  H5Tclose(st);
  return r.state;
}

static void check(const char *baseline, const char *inbatch, int64_t n) {
  hid_t a = H5Fopen(baseline, H5F_ACC_RDONLY, H5P_DEFAULT), b = H5Fopen(inbatch, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (a < 0 || b < 0) die("checking: cannot open the outputs");
  const int64_t at[] = {0, n / 2, n - 1};
  for (int k = 0; k < 3; k++) {
    int32_t want = 2 * (int32_t)(at[k] % 1000) + 1;
    if (read_one(a, "/y", at[k]) != want || read_one(b, "/y", at[k]) != want)
      die("y[%lld] is not 2x+1 (hand-written %d, inbatch %d, expected %d)", (long long)at[k],
          read_one(a, "/y", at[k]), read_one(b, "/y", at[k]), want);
    if (state_of(b, at[k]) != INB_H5_DONE) die("the results table's row %lld is not done", (long long)at[k]);
  }
  H5Fclose(a);
  H5Fclose(b);
}

/* ---- main -------------------------------------------------------------------------------------------- */

typedef struct {
  long before, peak;
  double seconds;
} figure;

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv)) {
    fprintf(stderr, "bench_h5_memory: %s\n", inb_errmsg());
    return 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int64_t n = argc > 1 ? atoll(argv[1]) : 10000000;
  const char *base = argc > 2 ? argv[2] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  if (n < 1) die("usage: bench_h5_memory [items >= 1] [dir]");
  char dir[1024] = "";
  if (g_rank == 0) {
    snprintf(dir, sizeof dir, "%s/bench_h5_memory-XXXXXX", base);
    if (!mkdtemp(dir)) dir[0] = '\0';
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!dir[0]) die("cannot make a directory under %s", base);
  char input[1100], baseline[1100], inbatch[1100];
  snprintf(input, sizeof input, "%s/in.h5", dir);
  snprintf(baseline, sizeof baseline, "%s/hand_written.h5", dir);
  snprintf(inbatch, sizeof inbatch, "%s/inbatch.h5", dir);
  make_input(input, n);

  figure f[2];
  bool reset = true;
  for (int v = 0; v < 2; v++) {
    MPI_Barrier(MPI_COMM_WORLD);
    reset = reset_peak() && reset;
    f[v].before = rss_mib();
    double t0 = now_s();
    if (v == 0) hand_written(input, baseline, n);
    else with_inbatch(input, inbatch);
    MPI_Barrier(MPI_COMM_WORLD);
    f[v].seconds = now_s() - t0;
    f[v].peak = maxrss_mib();
  }
  if (g_rank == 0) check(baseline, inbatch, n);
  if (g_rank == 0) {
    printf("bench_h5_memory  items=%lld ranks=%d  int32 -> int32 y = 2x+1, one result per item; rank 0's peak RSS "
           "(getrusage ru_maxrss%s)\n", (long long)n, g_size,
           reset ? ", reset before each variant" : "; the peak could not be reset: each figure is the peak so far");
    printf("  hand-written parallel HDF5  peak=%ld MiB  (%ld MiB before it)  %.2f s\n", f[0].peak, f[0].before,
           f[0].seconds);
    printf("  inbatch inb_h5_run          peak=%ld MiB  (%ld MiB before it)  %.2f s  = %.2fx the hand-written peak, "
           "+%ld MiB\n", f[1].peak, f[1].before, f[1].seconds, (double)f[1].peak / (double)f[0].peak,
           f[1].peak - f[0].peak);
    printf("  goal: inbatch's peak under %d MiB: %s  check=ok\n", GOAL_MIB, f[1].peak < GOAL_MIB ? "met" : "MISSED");
    remove(input);
    remove(baseline);
    remove(inbatch);
    rmdir(dir);
  }
  inb_mpi_finalize();
  return 0;
}
