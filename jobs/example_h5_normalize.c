/* example_h5_normalize: the main job's demo. Normalizes every image of an HDF5 dataset on every rank of an MPI
 * job and writes the result, and the results table, to a new HDF5 file.
 *
 *   mpirun -n 2 example_h5_normalize DIR [N_IMAGES] [BATCH]     (defaults: 2048 images, batches of 256)
 *
 * It first makes DIR/images.h5 (N_IMAGES 64x64 float32 images, /images, and their /labels) if it is not there,
 * then runs the action `normalize` (init "items": each task gets its image and label rows, read by the rank that
 * runs it) on target mpi with local threads. Each task writes its image rescaled to zero mean and unit variance
 * into its row of /normalized through inb_item_output and returns the original mean; a constant image fails
 * with a message instead. DIR/normalized.h5 appears only when the run is complete (an existing one is replaced);
 * its /inbatch_results table lists every image's outcome (done or failed) and /inbatch_errors the failures'
 * messages. Check them with
 *   h5dump -d /inbatch_results -s 7 -c 1 DIR/normalized.h5; h5dump -d /inbatch_errors DIR/normalized.h5 */
#include <inbatch.h>
#include <hdf5.h>
#include <mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { H = 64, W = 64 };

static int normalize(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_array *img = &inb_args_get(args, "images")->u.a;
  inb_array *out = inb_item_output(it, "/normalized");
  const float *px = img->data;
  size_t n = inb_array_count(img);
  double sum = 0, sq = 0;
  for (size_t k = 0; k < n; k++) sum += px[k], sq += (double)px[k] * px[k];
  double mean = sum / (double)n, var = sq / (double)n - mean * mean;
  if (var <= 1e-12)
    return inb_fail(it, INB_EINVAL, "image %lld is constant (%.3g) on rank %d: nothing to normalize",
                    (long long)inb_batch_index(inb_item_batch(it), inb_item_task(it)), mean, inb_item_rank(it));
  float *dst = out->data;
  float inv = (float)(1.0 / sqrt(var));
  for (size_t k = 0; k < n; k++) dst[k] = (float)((px[k] - mean) * inv);
  *result = inb_real(mean);
  return 0;
}

/* The progress of the run, in main's struct (the action's data). */
typedef struct {
  size_t done, total;
  double start;
} progress_state;

/* Runs on rank 0 after each batch: the progress line. */
static int progress(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out;
  progress_state *p = data;
  p->done += inb_batch_size(b);
  double t = MPI_Wtime() - p->start;
  printf("normalize: %zu/%zu images (%.0f%%), %zu failed in this batch, %.1f images/s\n", p->done, p->total,
         100.0 * (double)p->done / (double)p->total, inb_failed_count(r), (double)p->done / (t > 0 ? t : 1));
  fflush(stdout);
  return 0;
}

/* Rank 0 writes the input once (serial HDF5 is enough for the demo's own data). */
static int make_input(const char *path, size_t n) {
  if (access(path, R_OK) == 0) return 0;
  float *px = malloc(n * H * W * sizeof *px);
  int32_t *labels = malloc(n * sizeof *labels);
  if (!px || !labels) return -1;
  unsigned seed = 7;
  for (size_t i = 0; i < n; i++) {
    labels[i] = (int32_t)(i % 10);
    for (size_t k = 0; k < H * W; k++)
      px[i * H * W + k] = i % 500 == 7 ? 3.0f : (float)labels[i] + (float)rand_r(&seed) / (float)RAND_MAX;
  }
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[3] = {n, H, W}, ldims[1] = {n};
  hid_t s = H5Screate_simple(3, dims, NULL), ls = H5Screate_simple(1, ldims, NULL);
  hid_t d = H5Dcreate2(f, "/images", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t l = H5Dcreate2(f, "/labels", H5T_NATIVE_INT32, ls, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, px);
  if (rc >= 0) rc = H5Dwrite(l, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
  H5Dclose(d), H5Dclose(l), H5Sclose(s), H5Sclose(ls), H5Fclose(f);
  free(px);
  free(labels);
  return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    fprintf(stderr, "usage: mpirun -n RANKS %s DIR [N_IMAGES] [BATCH]\n", argv[0]);
    return argc < 2 ? 2 : 0;
  }
  inb_mpi_init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 2048;
  int64_t batch = argc > 3 ? atoll(argv[3]) : 256;
  char in_path[4096], out_path[4096];
  snprintf(in_path, sizeof in_path, "%s/images.h5", argv[1]);
  snprintf(out_path, sizeof out_path, "%s/normalized.h5", argv[1]);
  int made = rank == 0 ? make_input(in_path, n) : 0;
  MPI_Bcast(&made, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (made) {
    if (rank == 0) fprintf(stderr, "cannot write %s\n", in_path);
    inb_mpi_finalize();
    return 1;
  }

  const char *components[] = {"/images", "/labels"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  inb_h5_output_spec spec = {.name = "/normalized", .dtype = INB_F32, .ndim = 2, .shape = {H, W}};
  int rc = inb_h5_open(in_path, components, 2, NULL, &in);
  if (!rc) rc = inb_h5_create(out_path, &spec, 1, inb_h5_length(in), true, NULL, &out);
  if (!rc) {
    progress_state state = {.total = (size_t)inb_h5_length(in), .start = MPI_Wtime()};
    inb_action act = {.name = "normalize", .fn = normalize, .init = "items", .post = progress, .target = INB_MPI,
                      .local = INB_THREADS, .data = &state};
    inb_h5_plan plan = {.batch_size = batch};
    rc = inb_h5_run(in, &plan, &act, NULL, NULL, out);
    if (rank == 0 && rc == INB_EITEM) printf("normalize: %s\n", inb_errmsg());
    if (rc == 0 || rc == INB_EITEM) { /* failed images are listed in the table: the output is still whole */
      int crc = inb_h5_commit(&out);
      if (crc) rc = crc;
    }
  }
  if (rank == 0 && rc && rc != INB_EITEM) fprintf(stderr, "normalize failed: %s: %s\n", inb_strerror(rc), inb_errmsg());
  if (rank == 0 && (rc == 0 || rc == INB_EITEM))
    printf("normalize: wrote %s on %d ranks (the images of %s, normalized; /inbatch_results lists each outcome, /inbatch_errors the failures)\n",
           out_path, size, in_path);
  inb_h5_abort(&out);
  inb_h5_close(&in);
  inb_mpi_finalize();
  return rc && rc != INB_EITEM ? 1 : 0;
}
