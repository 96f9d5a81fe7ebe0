/* make_images: the demo's data: an HDF5 file of synthetic images, a few of them broken on purpose.
 *
 *   make_images PATH [N_IMAGES] [SIDE]      (defaults 2048 and 64)
 *
 * /images: N float32 images of SIDE x SIDE, image i holds (i % 10) plus noise in [0, 1), except every 500th
 * (i % 500 == 7), which is constant: normalizing it fails, as a real dataset's bad item would. /labels: int32,
 * i % 10. Written serially by one process; an existing file is replaced. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: make_images PATH [N_IMAGES] [SIDE]\n");
    return 2;
  }
  long n = argc > 2 ? atol(argv[2]) : 2048, side = argc > 3 ? atol(argv[3]) : 64;
  if (n < 1 || side < 1 || side > 4096) {
    fprintf(stderr, "make_images: N_IMAGES must be >= 1 and SIDE 1..4096\n");
    return 2;
  }
  size_t px = (size_t)(side * side);
  float *image = malloc(px * sizeof *image);
  if (!image) return 1;
  hsize_t dims[3] = {(hsize_t)n, (hsize_t)side, (hsize_t)side}, ldims[1] = {(hsize_t)n};
  hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "make_images: cannot create %s\n", argv[1]);
    return 1;
  }
  hid_t s = H5Screate_simple(3, dims, NULL), ls = H5Screate_simple(1, ldims, NULL);
  hid_t d = H5Dcreate2(f, "/images", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t l = H5Dcreate2(f, "/labels", H5T_STD_I32LE, ls, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  unsigned seed = 7;
  herr_t rc = 0;
  for (long i = 0; rc >= 0 && i < n; i++) { /* an image at a time: any N fits in memory */
    for (size_t k = 0; k < px; k++)
      image[k] = i % 500 == 7 ? 3.0f : (float)(i % 10) + (float)rand_r(&seed) / ((float)RAND_MAX + 1.0f);
    hsize_t start[3] = {(hsize_t)i, 0, 0}, count[3] = {1, (hsize_t)side, (hsize_t)side};
    hid_t mem = H5Screate_simple(3, count, NULL);
    H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, count, NULL);
    rc = H5Dwrite(d, H5T_NATIVE_FLOAT, mem, s, H5P_DEFAULT, image);
    H5Sclose(mem);
  }
  int *labels = malloc((size_t)n * sizeof *labels);
  for (long i = 0; labels && i < n; i++) labels[i] = (int)(i % 10);
  if (rc >= 0) rc = labels ? H5Dwrite(l, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) : -1;
  H5Dclose(d), H5Dclose(l), H5Sclose(s), H5Sclose(ls);
  if (H5Fclose(f) < 0) rc = -1;
  free(image);
  free(labels);
  if (rc < 0) fprintf(stderr, "make_images: writing %s failed\n", argv[1]);
  return rc < 0 ? 1 : 0;
}
