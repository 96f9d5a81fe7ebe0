/* The STATIC schedule: one scatter of contiguous blocks of tasks, one gather of their outcomes.
 * Cheapest for uniform tasks. Collectives are used while every count fits an int; larger messages go
 * point to point in pieces (inb__msg_*). Every buffer a collective reads is allocated, and the allocation
 * agreed on, before the collective starts: no rank enters one with a NULL buffer or leaves the others in it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "mpi/chunk.h"
#include "mpi/msg.h"

typedef struct {
  uint64_t first, count;  /* the rank's block of tasks */
  uint64_t off, bytes;    /* where its packed message lies in rank 0's buffer */
  uint64_t collective;    /* 1: MPI_Scatterv; 0: point to point */
} block;

/* Rank 0: blocks of n/size tasks (the first n%size ranks one more), packed one after another. */
static int pack_blocks(const inb__mpi *x, block *blocks, inb__buf *all) {
  size_t n = x->c->ntasks, base = n / (size_t)x->size, extra = n % (size_t)x->size, first = 0;
  int rc = 0;
  for (int r = 0; !rc && r < x->size; r++) {
    size_t count = base + ((size_t)r < extra);
    rc = inb__buf_pad8(all);
    size_t at = all->n;
    if (!rc) rc = inb__chunk_pack(x, first, count, all);
    blocks[r] = (block){first, count, at, all->n - at, 0};
    first += count;
  }
  bool fits = all->n <= INT_MAX;
  for (int r = 0; r < x->size; r++) blocks[r].collective = fits;
  return rc;
}

/* Counts and displacements of a v-collective at the root, from 64-bit sizes that fit an int. */
static int int_layout(const inb__mpi *x, const uint64_t *bytes, const uint64_t *off, int **counts, int **displs) {
  *counts = inb__malloc((size_t)x->size * sizeof **counts);
  *displs = inb__malloc((size_t)x->size * sizeof **displs);
  if (!*counts || !*displs) return inb__err(INB_ENOMEM, "out of memory for the layout of %d ranks", x->size);
  for (int r = 0; r < x->size; r++) (*counts)[r] = (int)bytes[r], (*displs)[r] = (int)off[r];
  return 0;
}

static int scatter_collective(const inb__mpi *x, const block *blocks, const inb__buf *all, const block *mine,
                              uint8_t **p, uint8_t **owned) {
  int *counts = NULL, *displs = NULL, lrc = 0;
  if (x->rank == 0) {
    uint64_t *bytes = inb__calloc((size_t)x->size, sizeof *bytes), *off = inb__calloc((size_t)x->size, sizeof *off);
    lrc = bytes && off ? 0 : inb__err(INB_ENOMEM, "out of memory for the layout of %d ranks", x->size);
    for (int r = 0; !lrc && r < x->size; r++) bytes[r] = blocks[r].bytes, off[r] = blocks[r].off;
    if (!lrc) lrc = int_layout(x, bytes, off, &counts, &displs);
    inb__free(bytes);
    inb__free(off);
  } else if (!(*p = *owned = inb__malloc(mine->bytes ? mine->bytes : 1))) {
    lrc = inb__err(INB_ENOMEM, "out of memory for a block of %llu tasks", (unsigned long long)mine->count);
  }
  int rc = inb__mpi_agree(lrc, x->comm);
  if (!rc) { /* the root's own block stays where it is (MPI_IN_PLACE) */
    int mrc = INB__MPI(MPI_Scatterv(x->rank == 0 ? all->p : NULL, counts, displs, MPI_BYTE,
                           x->rank == 0 ? MPI_IN_PLACE : (void *)*p, (int)mine->bytes, MPI_BYTE, 0, x->comm));
    rc = mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "MPI_Scatterv");
  }
  inb__free(counts);
  inb__free(displs);
  return rc;
}

/* Over 2 GiB: rank 0 sends each block in pieces. A rank that cannot receive its block still consumes it (the
 * message layer drains what it cannot keep), so rank 0's sends always complete. */
static int scatter_p2p(const inb__mpi *x, const block *blocks, const inb__buf *all, const block *mine, uint8_t **p,
                       uint8_t **owned) {
  int rc = 0;
  if (x->rank == 0) {
    for (int r = 1; !rc && r < x->size; r++)
      rc = inb__msg_send(all->p + blocks[r].off, blocks[r].bytes, r, INB__TAG_TASKS, x->comm);
    return rc;
  }
  size_t n = 0;
  rc = inb__msg_recv(0, INB__TAG_TASKS, x->comm, owned, &n, NULL);
  *p = *owned;
  if (!rc && n != mine->bytes)
    rc = inb__err(INB_ECORRUPT, "a block of %llu bytes arrived as %zu", (unsigned long long)mine->bytes, n);
  return rc;
}

/* Every rank gets its block: rank 0 keeps its own in place (*p points into `all`, *owned stays NULL). Returns
 * an agreed status, or this rank's own failure of the final transfer (for the caller's next agreement). */
static int scatter_tasks(const inb__mpi *x, const block *blocks, const inb__buf *all, block *mine, uint8_t **p,
                         uint8_t **owned) {
  int mrc = INB__MPI(MPI_Scatter(blocks, (int)sizeof *blocks, MPI_BYTE, mine, (int)sizeof *mine, MPI_BYTE, 0, x->comm));
  int rc = inb__mpi_agree(mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "MPI_Scatter"), x->comm);
  if (rc) return rc;
  if (x->rank == 0) *p = all->p + mine->off;
  if (mine->collective) return scatter_collective(x, blocks, all, mine, p, owned);
  return inb__mpi_agree(scatter_p2p(x, blocks, all, mine, p, owned), x->comm);
}

static uint64_t round8(uint64_t n) { return (n + 7) / 8 * 8; }

/* Rank 0 absorbs rank r's outcomes, or notes that it could not. */
static int absorb_from(inb__mpi *x, uint8_t *p, size_t n, int lrc) {
  return lrc ? lrc : inb__chunk_absorb(x, p, n);
}

static int gather_collective(inb__mpi *x, const inb__buf *out, const uint64_t *sizes) {
  uint8_t *all = NULL;
  int *counts = NULL, *displs = NULL, lrc = 0;
  if (x->rank == 0) {
    uint64_t total = 0, *off = inb__calloc((size_t)x->size, sizeof *off), *bytes = inb__calloc((size_t)x->size, sizeof *bytes);
    lrc = off && bytes ? 0 : inb__err(INB_ENOMEM, "out of memory for the layout of %d ranks", x->size);
    for (int r = 0; !lrc && r < x->size; r++) off[r] = total, bytes[r] = r == 0 ? 0 : sizes[r], total += round8(sizes[r]);
    if (!lrc) lrc = int_layout(x, bytes, off, &counts, &displs);
    if (!lrc && !(all = inb__malloc(total ? total : 1)))
      lrc = inb__err(INB_ENOMEM, "out of memory for %llu bytes of outcomes", (unsigned long long)total);
    inb__free(off);
    inb__free(bytes);
  }
  int rc = inb__mpi_agree(lrc, x->comm);
  if (!rc) { /* rank 0's own outcomes are absorbed from where they are (MPI_IN_PLACE) */
    int mrc = INB__MPI(MPI_Gatherv(x->rank == 0 ? MPI_IN_PLACE : out->p, (int)out->n, MPI_BYTE, all, counts,
                                   displs, MPI_BYTE, 0, x->comm));
    rc = mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "MPI_Gatherv");
  }
  if (!rc && x->rank == 0) {
    rc = absorb_from(x, out->p, out->n, 0);
    for (int r = 1; !rc && r < x->size; r++) rc = absorb_from(x, all + displs[r], sizes[r], 0);
  }
  inb__free(all);
  inb__free(counts);
  inb__free(displs);
  return rc;
}

/* Over 2 GiB: each rank sends its outcomes to rank 0, which receives every one of them even after a failure,
 * so that no sender is left waiting for its receive. */
static int gather_p2p(inb__mpi *x, const inb__buf *out) {
  if (x->rank != 0) return inb__msg_send(out->p, out->n, 0, INB__TAG_RESULTS, x->comm);
  int rc = absorb_from(x, out->p, out->n, 0);
  for (int r = 1; r < x->size; r++) {
    uint8_t *p = NULL;
    size_t n = 0;
    int lrc = inb__msg_recv(r, INB__TAG_RESULTS, x->comm, &p, &n, NULL);
    if (lrc == INB_EMPI) return lrc; /* MPI itself failed: nothing more can be received */
    if (!rc) rc = absorb_from(x, p, n, lrc);
    inb__free(p);
  }
  return rc;
}

/* Every rank's outcome message to rank 0, which absorbs them. */
static int gather_outcomes(inb__mpi *x, const inb__buf *out) {
  uint64_t mine = out->n, *sizes = NULL;
  int lrc = 0;
  if (x->rank == 0 && !(sizes = inb__calloc((size_t)x->size, sizeof *sizes)))
    lrc = inb__err(INB_ENOMEM, "out of memory for the sizes of %d ranks", x->size);
  int rc = inb__mpi_agree(lrc, x->comm);
  if (rc) return rc;
  int mrc = INB__MPI(MPI_Gather(&mine, 1, MPI_UINT64_T, sizes, 1, MPI_UINT64_T, 0, x->comm));
  uint64_t total = 0;
  for (int r = 0; x->rank == 0 && r < x->size; r++) total += round8(sizes[r]);
  int collective = total <= INT_MAX;
  int brc = INB__MPI(MPI_Bcast(&collective, 1, MPI_INT, 0, x->comm)); /* made even after a failure: in step */
  if (mrc == MPI_SUCCESS) mrc = brc;
  rc = inb__mpi_agree(mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "gathering the sizes of the outcomes"), x->comm);
  if (!rc) rc = collective ? gather_collective(x, out, sizes) : gather_p2p(x, out);
  inb__free(sizes);
  return rc;
}

int inb__mpi_static(inb__mpi *x) {
  block *blocks = NULL;
  inb__buf all = {0}, out = {0};
  uint8_t *p = NULL, *owned = NULL;
  block mine = {0};
  int rc = 0;
  if (x->rank == 0)
    rc = (blocks = inb__calloc((size_t)x->size, sizeof *blocks)) ? pack_blocks(x, blocks, &all)
                                                                  : inb__err(INB_ENOMEM, "out of memory");
  rc = inb__mpi_agree(rc, x->comm); /* each phase starts only when every rank finished the last one well */
  if (!rc) {
    int src = scatter_tasks(x, blocks, &all, &mine, &p, &owned); /* its last transfer's failure is agreed next */
    rc = inb__mpi_agree(src ? src : inb__chunk_run(x, p, mine.bytes, mine.first, mine.count, &out), x->comm);
  }
  inb__buf_release(&all);
  inb__free(owned);
  if (!rc) rc = inb__mpi_agree(gather_outcomes(x, &out), x->comm);
  inb__buf_release(&out);
  inb__free(blocks);
  return rc;
}
