/* Internal: the layout of an HDF5 input, and row transfers shared with outputs. */
#ifndef INB_DATA_H5INPUT_H
#define INB_DATA_H5INPUT_H

#include "data/h5common.h"

typedef struct {
  char *path;             /* the dataset's path in the file */
  hid_t dset;
  inb_dtype dtype;
  int ndim;
  int64_t shape[INB_MAX_DIMS];
} inb__h5comp;

struct inb_h5_input {
  inb__h5comm hc;
  char *file_path;
  hid_t file;
  inb__h5comp *comps;
  const char **names;     /* component names (the paths without leading '/'), pointing into comps[j].path */
  size_t n;
};

/* Bytes of one row of component c. */
size_t inb__h5_row_bytes(const inb__h5comp *c);

/* Reads or writes the rows index[0..n) (strictly increasing) of dataset dset, laid out like c, from/to buf.
 * n == 0 joins a collective transfer with an empty selection. Returns 0 or INB_EIO. */
int inb__h5_rows(hid_t dset, const inb__h5comp *c, const int64_t *index, size_t n, void *buf, bool write,
                 hid_t dxpl);

/* Reads rows index[0..n) (any order, repeats allowed) of every component j with want[j] (every one when want
 * is NULL) into comps[j] (shapes [n, item shape...]; data owned by the caller: from malloc, or from
 * inb__scratch_get when scratch is true); the others are left empty. Independent. Returns 0, INB_EINVAL,
 * INB_EIO, INB_ENOMEM. */
int inb__h5_load(inb_h5_input *in, const int64_t *index, size_t n, const bool *want, inb_array *comps,
                 bool scratch);

#endif
