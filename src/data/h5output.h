/* Internal: HDF5 outputs: datasets created collectively under a temporary name, rows written by the ranks that
 * computed them, and the results: the table "/inbatch_results" (one small row per item) and the failures'
 * records "/inbatch_errors" (layouts in include/inbatch/h5.h). */
#ifndef INB_DATA_H5OUTPUT_H
#define INB_DATA_H5OUTPUT_H

#include "data/h5input.h"

/* One row of the results table, in memory (the file's rows are packed: 21 bytes). */
typedef struct {
  int64_t index;     /* the item */
  double value;      /* a numeric scalar result, else NaN */
  int32_t code;      /* the failure's code; 0 when done or not run */
  int8_t state;      /* inb_h5_state */
} inb__h5_tablerow;

/* One failure's record in "/inbatch_errors". */
enum { INB__H5_MESSAGE_BYTES = 256 };
typedef struct {
  int64_t index;
  int32_t code;
  int32_t rank;      /* the rank the task ran on */
  char message[INB__H5_MESSAGE_BYTES]; /* cut to 255 bytes */
} inb__h5_errrow;

typedef struct {
  inb__h5comp c;          /* shape[0] = length */
  bool compressed;        /* any codec (deflate, LZ4, Zstd, Blosc): writes must be collective (HDF5 1.10) */
  inb_array row;          /* dtype and shape of one item's row */
  uint8_t *kept;          /* rows kept for the current batch, in the order of kept_index */
  size_t kept_cap;
} inb__h5out;

struct inb_h5_output {
  inb__h5comm hc;
  char *final_path, *tmp_path;
  char *scratch_path;     /* the companion file of the specs' scratch datasets; NULL when none is scratch */
  bool overwrite;
  hid_t file, table, errors;
  hid_t scratch;          /* that file, open while the output is */
  inb__h5out *outs;
  bool *active;           /* the datasets the current run writes (inb_h5_plan.outputs); all, between runs */
  size_t n;
  const char **names;     /* the specs' names (dataset paths), as tasks ask for them */
  int64_t length;
  int64_t *kept_index;    /* items whose rows this rank keeps for the current batch */
  size_t nkept, kept_cap;
  uint64_t *written;      /* rank 0: the table rows some batch wrote (the others are "not run" at commit) */
  int64_t nerrors;        /* rows of "/inbatch_errors" (the same on every rank) */
};

/* Sets which datasets the next run writes: names[0..n) (NULL: every one). Local. Returns 0, or INB_EINVAL (a name
 * the output does not have: the message lists them); then every dataset is active. */
int inb__h5_activate(inb_h5_output *o, const char *const *names, size_t n);

/* The active datasets' names and rows, in dataset order, into names[] and rows[] (room for o->n); returns how many. */
size_t inb__h5_active(const inb_h5_output *o, const char **names, inb_array *rows);

/* Keeps rows bufs[k] (n items index[0..n)) of every active output (bufs in inb__h5_active's order) for the batch's write, or writes them at once when
 * the outputs allow independent writes; frees bufs[k]. Called from the thread that ran the chunk. Returns 0,
 * INB_ENOMEM or INB_EIO (the message names the file and dataset). */
int inb__h5_keep(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs);

/* Writes every kept row (sorted by item) and forgets them: one transfer per output dataset, collective for
 * compressed ones (ranks without rows join with an empty selection). Collective. Agreed status. */
int inb__h5_write_kept(inb_h5_output *o);

/* A batch's results: rank 0 (or a rank alone) passes the batch's table rows (any order: they are sorted here)
 * and its failures' records; the other ranks pass none. Rank 0 writes the rows, every rank extends
 * "/inbatch_errors" by rank 0's count (collective), rank 0 writes the records. Collective. Agreed status:
 * 0, INB_EIO (the message names the file and dataset), INB_ENOMEM. */
int inb__h5_write_results(inb_h5_output *o, inb__h5_tablerow *rows, size_t nrows, inb__h5_errrow *errs,
                          size_t nerrs);

#endif
