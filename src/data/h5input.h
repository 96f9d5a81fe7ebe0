/* Internal: the layout of an HDF5 input, row selections shared with outputs, and the registry of open inputs. */
#ifndef INB_DATA_H5INPUT_H
#define INB_DATA_H5INPUT_H

#include <sys/types.h>

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
  const char **names;     /* component names (the paths without leading '/', or aliases[j]) */
  char **aliases;         /* a view's own names for some components (owned; entries NULL); NULL */
  size_t n;
  dev_t dev;              /* the file's identity, for the registry of open inputs */
  ino_t ino;
  bool registered;
};

/* Opens dataset `path` of `file` (named file_path in messages) into c and reads its dtype and shape. Local.
 * Returns 0, INB_ENOTFOUND (the message lists the file's datasets), INB_EINVAL, INB_ENOMEM; c->dset is
 * H5I_INVALID_HID or open (the caller closes it) either way. */
int inb__h5_open_component(hid_t file, const char *file_path, const char *path, inb__h5comp *c);

/* Bytes of one row of component c. */
size_t inb__h5_row_bytes(const inb__h5comp *c);

/* The file space of dset with rows index[0..n) (strictly increasing) selected, and a memory space of n rows
 * laid out like c (n == 0: an empty selection, to join a collective transfer). Returns 0 (the caller closes
 * both) or INB_EIO (nothing to close). */
int inb__h5_row_spaces(hid_t dset, const inb__h5comp *c, const int64_t *index, size_t n, hid_t *fspace,
                       hid_t *mspace);

/* Reads rows index[0..n) (any order, repeats allowed) of every component j with want[j] (every one when want
 * is NULL) into comps[j] (shapes [n, item shape...]; data owned by the caller: from malloc, or from
 * inb__scratch_get when scratch is true); the others are left empty. Independent. Returns 0, INB_EINVAL,
 * INB_EIO, INB_ENOMEM. */
int inb__h5_load(inb_h5_input *in, const int64_t *index, size_t n, const bool *want, inb_array *comps,
                 bool scratch);

/* 0 when `init` (not a standard init) names a component of `in`; else INB_EINVAL with a message naming the
 * action and listing the input's components. */
int inb__h5_check_init(const inb_h5_input *in, const char *action, const char *init);

/* Whether the file at `path` is open as an input of this process (same device and inode): then its path as
 * opened is copied into `opened` (cap bytes). False when path does not exist. Thread-safe. */
bool inb__h5_is_open_input(const char *path, char *opened, size_t cap);

#endif
