/* Internal: HDF5 outputs: datasets created collectively under a temporary name, rows kept per batch by the
 * ranks that computed them and written with one transfer per dataset, and the results table. */
#ifndef INB_DATA_H5OUTPUT_H
#define INB_DATA_H5OUTPUT_H

#include "data/h5input.h"

/* One row of the results table "/inbatch_results". */
typedef struct {
  int64_t index;     /* the item */
  int8_t ok;
  int32_t code;      /* 0 when ok */
  double value;      /* a numeric scalar result, else NaN */
  char message[256]; /* the failure's message (cut to 255 bytes), "" when ok */
} inb__h5_tablerow;

typedef struct {
  inb__h5comp c;          /* shape[0] = length */
  bool compressed;        /* deflate: writes must be collective (HDF5 1.10) */
  inb_array row;          /* dtype and shape of one item's row */
  uint8_t *kept;          /* rows kept for the current batch, in the order of kept_index */
  size_t kept_cap;
} inb__h5out;

struct inb_h5_output {
  inb__h5comm hc;
  char *final_path, *tmp_path;
  bool overwrite;
  hid_t file, table;
  inb__h5out *outs;
  size_t n;
  const char **names;     /* the specs' names (dataset paths), as tasks ask for them */
  int64_t length;
  int64_t *kept_index;    /* items whose rows this rank keeps for the current batch */
  size_t nkept, kept_cap;
};

/* Keeps rows bufs[k] (n items index[0..n)) of every output for the batch's write; frees bufs[k]. Called from
 * the thread that ran the chunk. Returns 0 or INB_ENOMEM. */
int inb__h5_keep(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs);

/* Writes every kept row (sorted by item) and forgets them: one transfer per output dataset, collective for
 * compressed ones (ranks without rows join with an empty selection). Collective. Agreed status. */
int inb__h5_write_kept(inb_h5_output *o);

/* Rank 0 (or alone): writes table rows. Independent. Returns 0 or INB_EIO. */
int inb__h5_write_table(inb_h5_output *o, const inb__h5_tablerow *rows, size_t n);

#endif
