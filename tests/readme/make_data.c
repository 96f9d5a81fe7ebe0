/* The data.h5 the README's programs and job read: /images, 256 float32 images of 32x32 with values that vary
 * within each image, but for every 50th, which is constant (its task fails, as a real dataset's bad item would);
 * /labels, 256 int32.
 * Usage: make_data PATH (its directory is made if missing). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { N = 256, SIDE = 32 };

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_data PATH\n");
    return 2;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", argv[1]);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0', mkdir(dir, 0755);
  float *x = malloc(sizeof(float) * N * SIDE * SIDE);
  if (!x) return 1;
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < SIDE * SIDE; j++) x[i * SIDE * SIDE + j] = i % 50 == 7 ? 1.0f : (float)((i * 31 + j) % 97);
  hsize_t dims[3] = {N, SIDE, SIDE};
  hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t s = H5Screate_simple(3, dims, NULL);
  hid_t d = f < 0 ? -1 : H5Dcreate2(f, "/images", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t w = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  if (d >= 0) H5Dclose(d);
  H5Sclose(s);
  int labels[N];
  for (int i = 0; i < N; i++) labels[i] = i % 10;
  hsize_t ldims[1] = {N};
  hid_t ls = H5Screate_simple(1, ldims, NULL);
  hid_t l = f < 0 ? -1 : H5Dcreate2(f, "/labels", H5T_STD_I32LE, ls, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (w >= 0) w = l < 0 ? -1 : H5Dwrite(l, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
  if (l >= 0) H5Dclose(l);
  H5Sclose(ls);
  if (f >= 0) H5Fclose(f);
  free(x);
  if (w < 0) fprintf(stderr, "make_data: cannot write %s\n", argv[1]);
  return w < 0 ? 1 : 0;
}
