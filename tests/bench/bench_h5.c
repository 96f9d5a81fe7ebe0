/* bench_h5: inbatch's HDF5 layer against a hand-written parallel-HDF5 program on the same work, one timed run
 * per process; tests/bench/run_bench_h5.sh runs the variants interleaved (with an h5py + mpi4py peer,
 * h5py_bench.py), repeats them and compares.
 *
 * Workload: input dataset "/x" of `items` float32 rows of side x side (contiguous, random values from a fixed
 * seed); every variant computes y = 2x + 1 for every item into dataset "/y" of a new file, of the same shape.
 * Case plain: "/y" is contiguous. Case deflate: "/y" is chunked, one item per chunk (1 x side x side), zlib
 * level 1. Every variant creates "/y" with fill time NEVER (every row is written: no fill pass).
 * Variants:
 *   inbatch      inb_h5_open, inb_h5_create (chunk_items 0 / 1, deflate 0 / 1), inb_h5_run with target mpi,
 *                local threads, n_workers 1 per rank, schedule default (dynamic), plan.batch_size = batch
 *                items, an action whose task writes 2x+1 into its row of inb_item_output(it, "/y"), then
 *                inb_h5_commit and inb_h5_close.
 *   inbatch_static  the same with schedule STATIC (each rank its equal share of every batch: what a user with
 *                items of equal cost chooses; the default, dynamic, is for costs that vary).
 *   inbatch_resumable  inbatch with inb_h5_create_resumable (case plain only): the same run, a killed run of which
 *                could go on; the file is flushed (H5Fflush; with MPI-IO a sync to disk) at the end of a batch at
 *                most every INB_H5_FLUSH_MS ms (that variable, set to 0, flushes every batch): the difference.
 *   collective   the hand-written program: H5Fopen/H5Fcreate over MPI-IO; rank r owns the contiguous slab of
 *   independent  items [n*r/size, n*(r+1)/size) and walks it in pieces of batch/size items: read the piece,
 *                compute 2x+1 in place, write the piece; every transfer (read and write) collective or
 *                independent (H5FD_MPIO_COLLECTIVE / INDEPENDENT). Every rank makes the same number of calls
 *                (an empty selection when its slab is done). HDF5 1.10 writes compressed datasets collectively
 *                only: `independent` refuses case deflate (exit 2).
 * Timing (rank 0's clock, after an MPI_Barrier, until an MPI_Barrier after the output file is closed and, for
 * inbatch, committed): everything from opening the input to the closed output. Before the clock: every rank
 * reads its share of the input file with pread(2) (so the page cache holds all of it) and touches
 * BENCH_WARM_MIB MiB of fresh memory (default 1024 per rank; this VM returns freed memory to its host, after
 * which touching it is up to 10x slower), then frees it. After the clock: every rank checks its share of the
 * output against 2x+1 of the input, bit for bit; rank 0 removes the output file.
 *
 * Usage: bench_h5 create <file> <items> <side>          (any number of ranks; rank 0 writes the file)
 *        mpiexec -n 2 bench_h5 run <inbatch|inbatch_static|inbatch_resumable|collective|independent> <plain|deflate>
 *                <input> <output> [batch]
 *        batch defaults to 256 items.
 * Output of run (rank 0), one line, read by run_bench_h5.sh:
 *   bench_h5 result case=plain variant=inbatch ranks=2 items=4096 side=256 seconds=0.612345 bytes=2147483648
 *            others_cpu=0.01 check=ok
 * bytes = input bytes read + output bytes written (the dataset payloads); others_cpu = CPU seconds the rest of
 * the machine used while the clock ran (not our ranks): a busy machine makes the figure unreliable.
 * A wrong result (a failed call, a wrong value) prints why and exits 1; bad arguments exit 2. */
#include <inbatch.h>
#include <hdf5.h>
#include <mpi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

#define BENCH_WARM_MIB 1024     /* default memory each rank touches before the clock starts */
#define BENCH_BATCH 256         /* default items per inbatch batch; the hand-written pieces are batch/size */
#define CHECK_PIECE 64          /* items per read when checking the output */

typedef enum { V_INBATCH, V_INBATCH_STATIC, V_COLLECTIVE, V_INDEPENDENT, V_INBATCH_RESUMABLE } variant;

static int g_rank, g_size;

/* ---- helpers --------------------------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A failure on this rank: no later collective can be agreed, so abort every rank. */
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_h5: ERROR rank %d: ", g_rank);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

static bool parse_long(const char *s, const char *what, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    if (g_rank == 0) fprintf(stderr, "bench_h5: %s: expected an integer in [%ld, %ld]; found '%s'\n", what, min, max, s);
    return false;
  }
  *out = v;
  return true;
}

/* The work, the same for every variant (in place when y == x). */
static void twice_plus_one(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = 2.0f * x[i] + 1.0f;
}

/* Items [first, last) of n owned by `rank`: contiguous slabs, the first n % size ranks one item more. */
static void slab(int64_t n, int rank, int size, int64_t *first, int64_t *last) {
  *first = n * rank / size;
  *last = n * (rank + 1) / size;
}

/* Reads this rank's share of the file so that the page cache holds all of it, and touches `mib` MiB of fresh
 * memory, then frees it. */
static void warm_up(const char *path, long mib) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("warm-up: cannot open '%s': %s", path, strerror(errno));
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size * g_rank / g_size, to = size * (g_rank + 1) / g_size;
  size_t cap = (size_t)8 << 20;
  char *buf = malloc(cap);
  if (!buf) die("warm-up: out of memory");
  unsigned sum = 0;
  for (off_t at = from; at < to;) {
    ssize_t got = pread(fd, buf, (size_t)(to - at) < cap ? (size_t)(to - at) : cap, at);
    if (got <= 0) die("warm-up: reading '%s' failed: %s", path, got < 0 ? strerror(errno) : "short file");
    sum += (unsigned char)buf[0];
    at += got;
  }
  close(fd);
  free(buf);
  size_t n = (size_t)mib << 20;
  char *p = n ? malloc(n) : NULL;
  if (p) {
    memset(p, (int)(sum & 1) + 1, n);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
  }
}

/* ---- create: the input ------------------------------------------------------------------------------ */

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Rank 0 writes `items` rows of side x side random float32 in [0, 1) (24 random bits each, fixed seed) to
 * "/x" of a new file (POSIX driver, contiguous). */
static int create_input(const char *path, int64_t items, int64_t side) {
  if (g_rank == 0) {
    hsize_t dims[3] = {(hsize_t)items, (hsize_t)side, (hsize_t)side};
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) die("create: cannot create '%s'", path);
    hid_t space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t dset = H5Dcreate2(file, "/x", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0) die("create: cannot create dataset '/x' in '%s'", path);
    size_t row = (size_t)(side * side);
    int64_t piece = CHECK_PIECE;
    float *buf = malloc((size_t)piece * row * sizeof *buf);
    if (!buf) die("create: out of memory");
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int64_t a = 0; a < items; a += piece) {
      int64_t cnt = items - a < piece ? items - a : piece;
      for (size_t k = 0; k < (size_t)cnt * row; k++) buf[k] = (float)(xorshift64(&seed) >> 40) * 0x1p-24f;
      hsize_t start[3] = {(hsize_t)a, 0, 0}, count[3] = {(hsize_t)cnt, (hsize_t)side, (hsize_t)side};
      hid_t mspace = H5Screate_simple(3, count, NULL);
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
      herr_t h = H5Dwrite(dset, H5T_NATIVE_FLOAT, mspace, space, H5P_DEFAULT, buf);
      H5Sclose(mspace);
      if (h < 0) die("create: writing items %lld.. of '%s' failed", (long long)a, path);
    }
    free(buf);
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (H5Fclose(file) < 0) die("create: closing '%s' failed", path);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return 0;
}

/* ---- the inbatch variant ---------------------------------------------------------------------------- */

static int task_2x1(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  const inb_value *v = inb_args_at(args, 0);
  inb_array *y = inb_item_output(it, "/y");
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != INB_F32 || !y || inb_array_count(y) != inb_array_count(&v->u.a))
    return inb_fail(it, INB_EINVAL, "bench_h5: the task did not get a float32 row of /x and its row of /y");
  twice_plus_one(y->data, v->u.a.data, inb_array_count(&v->u.a));
  return 0;
}

static void run_inbatch(const char *input, const char *output, bool deflate, int64_t batch, inb_schedule sched,
                        bool resumable) {
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, comps, 1, NULL, &in);
  if (rc) die("inbatch: inb_h5_open: %s", inb_errmsg());
  inb_batch *first = NULL; /* the item shape, from the file, as a program that does not know it gets it */
  const int64_t item0 = 0;
  rc = inb_h5_read(in, &item0, 1, &first);
  const inb_array *x0 = rc ? NULL : inb_batch_get(first, "x");
  if (!x0 || x0->ndim != 3) die("inbatch: '%s': /x: cannot read item 0, or it is not 2-dimensional: %s", input,
                                inb_errmsg());
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_F32, .ndim = 2, .shape = {x0->shape[1], x0->shape[2]},
                             .chunk_items = deflate ? 1 : 0, .deflate = deflate ? 1 : 0};
  inb_batch_free(&first);
  rc = (resumable ? inb_h5_create_resumable : inb_h5_create)(output, &spec, 1, inb_h5_length(in), true, NULL, &out);
  if (rc) die("inbatch: inb_h5_create%s: %s", resumable ? "_resumable" : "", inb_errmsg());
  const inb_action act = {.name = "bench_h5", .fn = task_2x1, .init = "x", .target = INB_MPI, .local = INB_THREADS};
  const inb_opts opts = {.n_workers = 1, .schedule = sched};
  const inb_h5_plan plan = {.batch_size = batch};
  rc = inb_h5_run(in, &plan, &act, NULL, &opts, out);
  if (rc) die("inbatch: inb_h5_run returned %d (%s): %s", rc, inb_strerror(rc), inb_errmsg());
  rc = inb_h5_commit(&out);
  if (rc) die("inbatch: inb_h5_commit: %s", inb_errmsg());
  inb_h5_close(&in);
}

/* ---- the hand-written variants ------------------------------------------------------------------------ */

static void run_handwritten(const char *input, const char *output, bool deflate, bool collective, int64_t piece) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  hid_t fin = H5Fopen(input, H5F_ACC_RDONLY, fapl);
  if (fin < 0) die("handwritten: cannot open '%s'", input);
  hid_t din = H5Dopen2(fin, "/x", H5P_DEFAULT);
  hid_t fspace_in = din >= 0 ? H5Dget_space(din) : H5I_INVALID_HID;
  hsize_t dims[3] = {0, 0, 0};
  if (fspace_in < 0 || H5Sget_simple_extent_dims(fspace_in, dims, NULL) != 3)
    die("handwritten: '%s': /x is missing or not 3-dimensional", input);

  hid_t fout = H5Fcreate(output, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (fout < 0) die("handwritten: cannot create '%s'", output);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  if (deflate) {
    hsize_t chunk[3] = {1, dims[1], dims[2]};
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_deflate(dcpl, 1);
  }
  hid_t fspace_out = H5Screate_simple(3, dims, NULL);
  hid_t dout = H5Dcreate2(fout, "/y", H5T_NATIVE_FLOAT, fspace_out, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dout < 0) die("handwritten: cannot create dataset '/y' in '%s'", output);

  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT);
  int64_t n = (int64_t)dims[0], first, last;
  slab(n, g_rank, g_size, &first, &last);
  int64_t most = (n + g_size - 1) / g_size, steps = (most + piece - 1) / piece;
  size_t row = (size_t)(dims[1] * dims[2]);
  float *buf = malloc((size_t)piece * row * sizeof *buf);
  if (!buf) die("handwritten: out of memory");
  for (int64_t s = 0; s < steps; s++) {
    int64_t a = first + s * piece, cnt = last - a < piece ? last - a : piece;
    if (cnt < 0) cnt = 0;
    hsize_t start[3] = {(hsize_t)(cnt ? a : 0), 0, 0}, count[3] = {(hsize_t)cnt, dims[1], dims[2]};
    hsize_t mdims[3] = {(hsize_t)(cnt ? cnt : 1), dims[1], dims[2]};
    hid_t mspace = H5Screate_simple(3, mdims, NULL);
    if (cnt) {
      H5Sselect_hyperslab(fspace_in, H5S_SELECT_SET, start, NULL, count, NULL);
      H5Sselect_hyperslab(fspace_out, H5S_SELECT_SET, start, NULL, count, NULL);
    } else { /* this rank's slab is done: it still joins collective transfers */
      H5Sselect_none(fspace_in);
      H5Sselect_none(fspace_out);
      H5Sselect_none(mspace);
    }
    if ((cnt || collective) && H5Dread(din, H5T_NATIVE_FLOAT, mspace, fspace_in, dxpl, buf) < 0)
      die("handwritten: reading items %lld..%lld of '%s' failed", (long long)a, (long long)(a + cnt), input);
    twice_plus_one(buf, buf, (size_t)cnt * row);
    if ((cnt || collective) && H5Dwrite(dout, H5T_NATIVE_FLOAT, mspace, fspace_out, dxpl, buf) < 0)
      die("handwritten: writing items %lld..%lld of '%s' failed", (long long)a, (long long)(a + cnt), output);
    H5Sclose(mspace);
  }
  free(buf);
  H5Pclose(dxpl);
  H5Dclose(dout);
  H5Sclose(fspace_out);
  H5Pclose(dcpl);
  if (H5Fclose(fout) < 0) die("handwritten: closing '%s' failed", output);
  H5Sclose(fspace_in);
  H5Dclose(din);
  H5Fclose(fin);
  H5Pclose(fapl);
}

/* ---- the check ------------------------------------------------------------------------------------------ */

/* Every rank compares its slab of output "/y" with 2x+1 of input "/x", bit for bit (POSIX reads, no MPI-IO).
 * Returns the number of wrong values over all ranks (collective); -1 when a file cannot be read. */
static int64_t check_output(const char *input, const char *output, int64_t *items_out, int64_t *side_out) {
  int64_t bad = 0;
  hid_t fin = H5Fopen(input, H5F_ACC_RDONLY, H5P_DEFAULT), fout = H5Fopen(output, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t din = fin >= 0 ? H5Dopen2(fin, "/x", H5P_DEFAULT) : H5I_INVALID_HID;
  hid_t dout = fout >= 0 ? H5Dopen2(fout, "/y", H5P_DEFAULT) : H5I_INVALID_HID;
  hid_t sin = din >= 0 ? H5Dget_space(din) : H5I_INVALID_HID, sout = dout >= 0 ? H5Dget_space(dout) : H5I_INVALID_HID;
  hsize_t di[3] = {0, 0, 0}, dout_dims[3] = {0, 0, 0};
  if (sin < 0 || sout < 0 || H5Sget_simple_extent_dims(sin, di, NULL) != 3 ||
      H5Sget_simple_extent_dims(sout, dout_dims, NULL) != 3 || memcmp(di, dout_dims, sizeof di) != 0) {
    bad = -1;
  } else {
    int64_t first, last, piece = CHECK_PIECE;
    slab((int64_t)di[0], g_rank, g_size, &first, &last);
    size_t row = (size_t)(di[1] * di[2]);
    float *x = malloc((size_t)piece * row * sizeof *x), *y = malloc((size_t)piece * row * sizeof *y);
    if (!x || !y) die("check: out of memory");
    for (int64_t a = first; bad >= 0 && a < last; a += piece) {
      int64_t cnt = last - a < piece ? last - a : piece;
      hsize_t start[3] = {(hsize_t)a, 0, 0}, count[3] = {(hsize_t)cnt, di[1], di[2]};
      hid_t m = H5Screate_simple(3, count, NULL);
      H5Sselect_hyperslab(sin, H5S_SELECT_SET, start, NULL, count, NULL);
      H5Sselect_hyperslab(sout, H5S_SELECT_SET, start, NULL, count, NULL);
      if (H5Dread(din, H5T_NATIVE_FLOAT, m, sin, H5P_DEFAULT, x) < 0 ||
          H5Dread(dout, H5T_NATIVE_FLOAT, m, sout, H5P_DEFAULT, y) < 0)
        bad = -1;
      H5Sclose(m);
      twice_plus_one(x, x, (size_t)cnt * row);
      for (size_t k = 0; bad >= 0 && k < (size_t)cnt * row; k++) bad += memcmp(&x[k], &y[k], sizeof *x) != 0;
    }
    free(x);
    free(y);
  }
  *items_out = (int64_t)di[0];
  *side_out = (int64_t)di[1];
  if (sin >= 0) H5Sclose(sin);
  if (sout >= 0) H5Sclose(sout);
  if (din >= 0) H5Dclose(din);
  if (dout >= 0) H5Dclose(dout);
  if (fin >= 0) H5Fclose(fin);
  if (fout >= 0) H5Fclose(fout);
  int64_t unreadable = bad < 0, total = bad < 0 ? 0 : bad;
  MPI_Allreduce(MPI_IN_PLACE, &unreadable, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return unreadable ? -1 : total;
}

/* ---- main ------------------------------------------------------------------------------------------------ */

static void usage(void) {
  if (g_rank == 0)
    fprintf(stderr, "usage: bench_h5 create <file> <items> <side>\n"
                    "       mpiexec -n 2 bench_h5 run "
                    "<inbatch|inbatch_static|inbatch_resumable|collective|independent> <plain|deflate> <input> <output>"
                    " [batch]\n       batch defaults to %d items\n", BENCH_BATCH);
}

static int finish(int code) {
  inb_mpi_finalize(); /* MPI_Finalize, after freeing the engine's communicators when inbatch ran */
  return code;
}

int main(int argc, char **argv) {
  /* The hand-written program starts MPI as a plain MPI program does; inbatch asks for MPI_THREAD_MULTIPLE. */
  bool inbatch = argc > 2 && strcmp(argv[1], "run") == 0 && strncmp(argv[2], "inbatch", 7) == 0;
  if (inbatch ? inb_mpi_init(&argc, &argv) != 0 : MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "bench_h5: ERROR MPI start-up failed%s%s\n", inbatch ? ": " : "", inbatch ? inb_errmsg() : "");
    return 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  H5open();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages say what failed */

  if (argc == 5 && strcmp(argv[1], "create") == 0) {
    long items, side;
    if (!parse_long(argv[3], "items", 1, INT32_MAX, &items) || !parse_long(argv[4], "side", 1, 65536, &side)) {
      usage();
      MPI_Finalize();
      return 2;
    }
    create_input(argv[2], items, side);
    MPI_Finalize();
    return 0;
  }

  variant v = V_INBATCH;
  bool deflate = false, ok = (argc == 6 || argc == 7) && strcmp(argv[1], "run") == 0;
  long batch = BENCH_BATCH, warm = BENCH_WARM_MIB;
  if (ok) {
    if (!strcmp(argv[2], "inbatch")) v = V_INBATCH;
    else if (!strcmp(argv[2], "inbatch_static")) v = V_INBATCH_STATIC;
    else if (!strcmp(argv[2], "inbatch_resumable")) v = V_INBATCH_RESUMABLE;
    else if (!strcmp(argv[2], "collective")) v = V_COLLECTIVE;
    else if (!strcmp(argv[2], "independent")) v = V_INDEPENDENT;
    else ok = false;
    if (!strcmp(argv[3], "deflate")) deflate = true;
    else if (strcmp(argv[3], "plain")) ok = false;
  }
  ok = ok && (argc < 7 || parse_long(argv[6], "batch", 1, INT32_MAX, &batch));
  const char *w = getenv("BENCH_WARM_MIB");
  ok = ok && (!w || parse_long(w, "BENCH_WARM_MIB", 0, 1 << 20, &warm));
  if (ok && v == V_INDEPENDENT && deflate) {
    if (g_rank == 0)
      fprintf(stderr, "bench_h5: variant independent cannot write case deflate: HDF5 1.10 writes compressed "
                      "datasets collectively only\n");
    ok = false;
  }
  if (ok && v == V_INBATCH_RESUMABLE && deflate) {
    if (g_rank == 0) fprintf(stderr, "bench_h5: variant inbatch_resumable cannot write case deflate: a resumable "
                                     "output refuses compressed datasets\n");
    ok = false;
  }
  if (!ok) {
    usage();
    MPI_Finalize();
    return 2;
  }
  const char *input = argv[4], *output = argv[5];
  int64_t piece = batch / g_size > 0 ? batch / g_size : 1;

  warm_up(input, warm);
  MPI_Barrier(MPI_COMM_WORLD);
  double m0 = g_rank == 0 ? machine_cpu_s() : 0, p0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  double t0 = clock_s(CLOCK_MONOTONIC);
  if (v == V_INBATCH || v == V_INBATCH_STATIC || v == V_INBATCH_RESUMABLE)
    run_inbatch(input, output, deflate, batch, v == V_INBATCH_STATIC ? INB_STATIC : INB_SCHED_DEFAULT,
                v == V_INBATCH_RESUMABLE);
  else run_handwritten(input, output, deflate, v == V_COLLECTIVE, piece);
  MPI_Barrier(MPI_COMM_WORLD);
  double seconds = clock_s(CLOCK_MONOTONIC) - t0;
  double ours = clock_s(CLOCK_PROCESS_CPUTIME_ID) - p0, m1 = g_rank == 0 ? machine_cpu_s() : 0;
  MPI_Reduce(g_rank == 0 ? MPI_IN_PLACE : &ours, &ours, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  double others = m0 < 0 || m1 < 0 ? -1 : m1 - m0 - ours;

  int64_t items = 0, side = 0;
  int64_t bad = check_output(input, output, &items, &side);
  if (g_rank == 0) unlink(output);
  const char *names[] = {"inbatch", "inbatch_static", "collective", "independent", "inbatch_resumable"};
  if (bad != 0) {
    if (g_rank == 0) {
      if (bad < 0) fprintf(stderr, "bench_h5: ERROR %s %s: the output '%s' cannot be read back, or its /y does not "
                                   "have the shape of the input's /x\n", names[v], argv[3], output);
      else fprintf(stderr, "bench_h5: ERROR %s %s: %lld values of /y are not 2x+1 of /x\n", names[v], argv[3],
                   (long long)bad);
    }
    return finish(1);
  }
  if (g_rank == 0) {
    printf("bench_h5 result case=%s variant=%s ranks=%d items=%lld side=%lld seconds=%.6f bytes=%lld "
           "others_cpu=%.2f check=ok\n", argv[3], names[v], g_size, (long long)items, (long long)side, seconds,
           (long long)(2 * items * side * side * (int64_t)sizeof(float)), others);
    fflush(stdout);
  }
  return finish(0);
}
