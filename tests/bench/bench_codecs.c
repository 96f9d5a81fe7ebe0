/* bench_codecs: compressed outputs of inb_h5_run, LZ4 (alone, and after HDF5's shuffle), Zstd (a fast level) and
 * Blosc (LZ4 inside, byte shuffle) against deflate level 1 on the same data in the same run, with an uncompressed
 * chunked output as the I/O ceiling: write and read throughput and the compression ratio, side by side.
 *
 * Data: input "/images", `items` float32 images of side x side (smooth waves and a gradient plus noise of a few
 * units: the low mantissa bits are noise, as in measured data), written uncompressed by rank 0 first.
 * Write: inb_h5_create of "/out" (chunks of `chunk` images, the variant's codec), inb_h5_run of a task that copies
 * its image into its output row (target mpi, local threads, one worker a rank, static schedule: compressed rows
 * are written collectively at each batch's end), inb_h5_commit; timed from the create to the commit on every rank
 * (barriers around). Read: inb_h5_open of the output and inb_h5_run of a task that sums its row: every chunk
 * decoded once, each rank reading the rows of its tasks. GB/s = the images' bytes (10^9) per second; ratio = the
 * images' bytes / the dataset's stored bytes. The variants run interleaved (A B C ... A B C ...), `reps` times;
 * each line gives the median and (best) of them, then the variant against deflate level 1.
 * After each write rank 0 checks rows of the output against the input (every row when the output is small, else
 * the first, middle and last); a difference is exit 1.
 *
 * Usage: mpiexec -n 2 bench_codecs [items] [side] [reps] [chunk] [dir]   (defaults 2048 256 3 4 and /dev/shm when
 *        it exists, else $TMPDIR or /tmp; the files go to a fresh directory there, removed at the end). */
#include <inbatch.h>
#include <hdf5.h>
#include <mpi.h>

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchclock.h"

static int g_rank, g_size;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_codecs[rank %d]: ", g_rank);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

typedef struct {
  const char *name;
  inb_h5_codec codec;
  int level;
  inb_h5_shuffle shuffle;
  inb_h5_blosc_compressor inner;
  double write_s[64], read_s[64], ratio;
} variant_t;

static variant_t g_variants[] = {
    {"none", INB_H5_NONE, 0, 0, 0, {0}, {0}, 0},
    {"deflate1", INB_H5_DEFLATE, 1, 0, 0, {0}, {0}, 0},
    {"lz4", INB_H5_LZ4, 0, 0, 0, {0}, {0}, 0},
    {"lz4+shuf", INB_H5_LZ4, 0, INB_H5_SHUFFLE_BYTE, 0, {0}, {0}, 0},
    {"zstd1", INB_H5_ZSTD, 1, 0, 0, {0}, {0}, 0},
    {"blosc-lz4", INB_H5_BLOSC, 5, INB_H5_SHUFFLE_BYTE, INB_H5_BLOSC_LZ4, {0}, {0}, 0},
};
enum { N_VARIANTS = sizeof g_variants / sizeof g_variants[0], BASELINE = 1 };

/* ---- the data ------------------------------------------------------------------------------------------ */

static uint32_t hash32(uint64_t x) {
  x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdull;
  x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ull;
  return (uint32_t)(x ^ (x >> 33));
}

static void image(int64_t i, int side, float *px) {
  for (int r = 0; r < side; r++)
    for (int c = 0; c < side; c++) {
      double smooth = 400.0 + 150.0 * sin(0.031 * c + 0.05 * (double)i) * cos(0.023 * r) + 0.4 * (r + c);
      double noise = (double)(hash32((uint64_t)i << 32 | (uint64_t)(r * side + c)) % 4096) / 4096.0 * 4.0 - 2.0;
      px[r * side + c] = (float)(smooth + noise);
    }
}

/* Rank 0: "/images" of n images, uncompressed, contiguous. */
static void make_input(const char *path, int64_t n, int side) {
  if (g_rank == 0) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)side, (hsize_t)side}, one[3] = {1, (hsize_t)side, (hsize_t)side};
    hid_t space = H5Screate_simple(3, dims, NULL), mem = H5Screate_simple(3, one, NULL);
    hid_t d = H5Dcreate2(f, "/images", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *px = malloc(sizeof(float) * (size_t)side * (size_t)side);
    herr_t h = f >= 0 && d >= 0 && px ? 0 : -1;
    for (int64_t i = 0; h >= 0 && i < n; i++) {
      image(i, side, px);
      hsize_t start[3] = {(hsize_t)i, 0, 0};
      h = H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, one, NULL);
      if (h >= 0) h = H5Dwrite(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, px);
    }
    free(px);
    if (d >= 0) H5Dclose(d);
    H5Sclose(mem);
    H5Sclose(space);
    if ((f >= 0 && H5Fclose(f) < 0) || h < 0) die("cannot write the input '%s'", path);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

/* ---- the runs ---------------------------------------------------------------------------------------------- */

static int copy_image(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  const inb_array *x = &inb_args_get(a, "images")->u.a;
  inb_array *y = inb_item_output(it, "/out");
  memcpy(y->data, x->data, inb_array_count(x) * sizeof(float));
  return 0;
}

static int sum_image(inb_item *it, const inb_args *a, inb_value *result) {
  (void)it;
  const inb_array *x = &inb_args_get(a, "out")->u.a;
  const float *px = x->data;
  float s = 0;
  for (size_t j = 0; j < inb_array_count(x); j++) s += px[j];
  *result = inb_real(s);
  return 0;
}

static const inb_opts g_opts = {.n_workers = 1, .schedule = INB_STATIC};

static void check(int rc, const char *what) {
  if (rc) die("%s: %s: %s", what, inb_strerror(rc), inb_errmsg());
}

/* Writes `out` from `input` with variant v; seconds from create to commit (every rank's, after a barrier). */
static double write_output(const char *input, const char *out, const variant_t *v, int side, int64_t chunk) {
  const char *comps[] = {"/images"};
  inb_h5_input *in = NULL;
  check(inb_h5_open(input, comps, 1, NULL, &in), "inb_h5_open (input)");
  inb_h5_output_spec spec = {.name = "/out", .dtype = INB_F32, .ndim = 2, .shape = {side, side},
                             .chunk_items = chunk, .codec = v->codec, .level = v->level, .shuffle = v->shuffle,
                             .blosc_compressor = v->inner};
  inb_h5_output *o = NULL;
  inb_action act = {.name = "copy", .fn = copy_image, .init = "items", .target = INB_MPI, .local = INB_THREADS};
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now_s();
  check(inb_h5_create(out, &spec, 1, inb_h5_length(in), true, NULL, &o), "inb_h5_create");
  check(inb_h5_run(in, NULL, &act, NULL, &g_opts, o), "inb_h5_run (write)");
  check(inb_h5_commit(&o), "inb_h5_commit");
  MPI_Barrier(MPI_COMM_WORLD);
  double t = now_s() - t0;
  inb_h5_close(&in);
  return t;
}

/* Reads every row of `out` on every rank's share of the items; seconds. */
static double read_output(const char *out) {
  const char *comps[] = {"/out"};
  inb_h5_input *in = NULL;
  inb_action act = {.name = "sum", .fn = sum_image, .init = "items", .target = INB_MPI, .local = INB_THREADS};
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now_s();
  check(inb_h5_open(out, comps, 1, NULL, &in), "inb_h5_open (output)");
  check(inb_h5_run(in, NULL, &act, NULL, &g_opts, NULL), "inb_h5_run (read)");
  inb_h5_close(&in);
  MPI_Barrier(MPI_COMM_WORLD);
  return now_s() - t0;
}

/* Rank 0: the output's rows equal the input's (all of them, or three), and its stored size. */
static double check_output(const char *input, const char *out, const variant_t *v, int64_t n, int side) {
  double ratio = 0;
  if (g_rank == 0) {
    size_t row = (size_t)side * (size_t)side;
    float *a = malloc(row * sizeof *a), *b = malloc(row * sizeof *b);
    hid_t fi = H5Fopen(input, H5F_ACC_RDONLY, H5P_DEFAULT), fo = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t di = H5Dopen2(fi, "/images", H5P_DEFAULT), dout = H5Dopen2(fo, "/out", H5P_DEFAULT);
    if (!a || !b || di < 0 || dout < 0) die("%s: cannot open the input and the output", v->name);
    bool all = (int64_t)row * n * 4 <= ((int64_t)64 << 20);
    int64_t picks[3] = {0, n / 2, n - 1};
    for (int64_t k = 0; k < (all ? n : 3); k++) {
      int64_t i = all ? k : picks[k];
      hsize_t start[3] = {(hsize_t)i, 0, 0}, one[3] = {1, (hsize_t)side, (hsize_t)side};
      hid_t mem = H5Screate_simple(3, one, NULL);
      for (int f = 0; f < 2; f++) {
        hid_t d = f ? dout : di, space = H5Dget_space(d);
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, one, NULL);
        if (H5Dread(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, f ? b : a) < 0)
          die("%s: reading row %lld back failed", v->name, (long long)i);
        H5Sclose(space);
      }
      H5Sclose(mem);
      if (memcmp(a, b, row * sizeof *a) != 0)
        die("%s: row %lld of the output differs from the input", v->name, (long long)i);
    }
    hsize_t stored = H5Dget_storage_size(dout);
    ratio = stored ? (double)row * sizeof(float) * (double)n / (double)stored : 0;
    H5Dclose(di);
    H5Dclose(dout);
    H5Fclose(fi);
    H5Fclose(fo);
    free(a);
    free(b);
  }
  MPI_Bcast(&ratio, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return ratio;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(const double *s, int n) {
  double t[64];
  memcpy(t, s, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, by_value);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}
static double best(const double *s, int n) {
  double m = s[0];
  for (int k = 1; k < n; k++) m = s[k] < m ? s[k] : m;
  return m;
}

int main(int argc, char **argv) {
  if (inb_mpi_init(&argc, &argv)) return 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int64_t n = argc > 1 ? atoll(argv[1]) : 2048;
  int side = argc > 2 ? atoi(argv[2]) : 256, reps = argc > 3 ? atoi(argv[3]) : 3;
  int64_t chunk = argc > 4 ? atoll(argv[4]) : 4;
  const char *base = argc > 5 ? argv[5] : NULL;
  struct stat st;
  if (!base) base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                    : getenv("TMPDIR")                                          ? getenv("TMPDIR")
                                                                                : "/tmp";
  if (n < 1 || side < 1 || reps < 1 || reps > 64 || chunk < 1)
    die("usage: bench_codecs [items] [side] [reps (1..64)] [chunk] [dir]");
  char dir[512] = "", input[600], out[600];
  if (g_rank == 0) {
    snprintf(dir, sizeof dir, "%s/bench_codecs-XXXXXX", base);
    if (!mkdtemp(dir)) dir[0] = '\0';
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!dir[0]) die("cannot make a directory under '%s'", base);
  snprintf(input, sizeof input, "%s/images.h5", dir);
  snprintf(out, sizeof out, "%s/out.h5", dir);
  make_input(input, n, side);

  double bytes = (double)n * side * side * sizeof(float);
  if (g_rank == 0)
    printf("bench_codecs ranks=%d items=%lld image=%dx%d float32 (%.0f MiB) chunks of %lld images (%.2f MiB) dir=%s "
           "reps=%d: median (best), interleaved\n",
           g_size, (long long)n, side, side, bytes / (1 << 20), (long long)chunk,
           (double)chunk * side * side * sizeof(float) / (1 << 20), base, reps);
  write_output(input, out, &g_variants[0], side, chunk); /* untimed: the input in the page cache, the pool up */
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < N_VARIANTS; k++) {
      variant_t *v = &g_variants[k];
      v->write_s[r] = write_output(input, out, v, side, chunk);
      v->read_s[r] = read_output(out);
      if (r == 0) v->ratio = check_output(input, out, v, n, side);
    }
  if (g_rank == 0) {
    const variant_t *b = &g_variants[BASELINE];
    double bw = bytes / median(b->write_s, reps), br = bytes / median(b->read_s, reps);
    for (int k = 0; k < N_VARIANTS; k++) {
      const variant_t *v = &g_variants[k];
      double w = bytes / median(v->write_s, reps), rd = bytes / median(v->read_s, reps);
      char vs[128] = "";
      if (k == BASELINE) snprintf(vs, sizeof vs, "the baseline");
      else
        snprintf(vs, sizeof vs, "write %.1fx, read %.1fx, ratio %.2fx deflate1's", w / bw, rd / br,
                 v->ratio / b->ratio);
      printf("  %-9s write %6.3f GB/s (%6.3f)  read %6.3f GB/s (%6.3f)  ratio %.3f  %s\n", v->name, w / 1e9,
             bytes / best(v->write_s, reps) / 1e9, rd / 1e9, bytes / best(v->read_s, reps) / 1e9, v->ratio, vs);
    }
    fflush(stdout);
    unlink(out);
    unlink(input);
    rmdir(dir);
  }
  inb_mpi_finalize();
  return 0;
}
