/* The STATIC schedule: one scatter of contiguous blocks of tasks, one gather of their outcomes.
 * Cheapest for uniform tasks. Collectives are used while every count fits an int; larger messages go
 * point to point in pieces (inb__msg_*). */
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

/* Every rank gets its block: rank 0 keeps its own in place (*p points into `all`, *owned stays NULL). */
static int scatter_tasks(const inb__mpi *x, const block *blocks, const inb__buf *all, block *mine, uint8_t **p,
                         uint8_t **owned) {
  int rc = MPI_Scatter(blocks, (int)sizeof *blocks, MPI_BYTE, mine, (int)sizeof *mine, MPI_BYTE, 0, x->comm);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Scatter");
  if (x->rank == 0) *p = all->p + mine->off;
  if (x->rank != 0 && mine->collective) *p = *owned = inb__malloc(mine->bytes ? mine->bytes : 1);
  int ok = x->rank == 0 || !mine->collective || *owned != NULL;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, x->comm);
  if (!ok) return inb__err(INB_ENOMEM, "out of memory for a block of %llu tasks", (unsigned long long)mine->count);
  if (mine->collective) {
    int *counts = NULL, *displs = NULL;
    if (x->rank == 0) {
      counts = inb__malloc((size_t)x->size * sizeof *counts);
      displs = inb__malloc((size_t)x->size * sizeof *displs);
      for (int r = 0; counts && displs && r < x->size; r++) counts[r] = (int)blocks[r].bytes, displs[r] = (int)blocks[r].off;
    }
    /* counts/displs are only read at the root; the root's own block stays where it is (MPI_IN_PLACE) */
    rc = MPI_Scatterv(all ? all->p : NULL, counts, displs, MPI_BYTE, x->rank == 0 ? MPI_IN_PLACE : (void *)*p,
                      (int)mine->bytes, MPI_BYTE, 0, x->comm);
    inb__free(counts);
    inb__free(displs);
    return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Scatterv");
  }
  if (x->rank == 0) {
    for (int r = 1; !rc && r < x->size; r++)
      rc = inb__msg_send(all->p + blocks[r].off, blocks[r].bytes, r, INB__TAG_TASKS, x->comm);
    return rc;
  }
  size_t n;
  rc = inb__msg_recv(0, INB__TAG_TASKS, x->comm, owned, &n, NULL);
  *p = *owned;
  if (!rc && n != mine->bytes) rc = inb__err(INB_ECORRUPT, "a block of %llu bytes arrived as %zu", (unsigned long long)mine->bytes, n);
  return rc;
}

/* Every rank's outcome message to rank 0, which absorbs them. */
static int gather_outcomes(inb__mpi *x, const inb__buf *out) {
  uint64_t mine = out->n, *sizes = x->rank == 0 ? inb__calloc((size_t)x->size, sizeof *sizes) : NULL;
  int rc = MPI_Gather(&mine, 1, MPI_UINT64_T, sizes, 1, MPI_UINT64_T, 0, x->comm);
  if (rc != MPI_SUCCESS) return inb__free(sizes), inb__mpi_fail(rc, "MPI_Gather");
  uint64_t total = 0;
  for (int r = 0; x->rank == 0 && r < x->size; r++) total += (sizes[r] + 7) / 8 * 8;
  int collective = total <= INT_MAX;
  MPI_Bcast(&collective, 1, MPI_INT, 0, x->comm);
  int lrc = 0;
  if (collective) {
    uint8_t *all = x->rank == 0 ? inb__malloc(total ? total : 1) : NULL;
    int *counts = x->rank == 0 ? inb__malloc((size_t)x->size * sizeof *counts) : NULL;
    int *displs = x->rank == 0 ? inb__malloc((size_t)x->size * sizeof *displs) : NULL;
    for (int r = 0, d = 0; counts && displs && r < x->size; d += (int)((sizes[r] + 7) / 8 * 8), r++)
      counts[r] = r == 0 ? 0 : (int)sizes[r], displs[r] = d;
    /* rank 0's own outcomes are absorbed from where they are (MPI_IN_PLACE) */
    rc = MPI_Gatherv(x->rank == 0 ? MPI_IN_PLACE : out->p, (int)out->n, MPI_BYTE, all, counts, displs, MPI_BYTE, 0,
                     x->comm);
    if (rc != MPI_SUCCESS) lrc = inb__mpi_fail(rc, "MPI_Gatherv");
    if (!lrc && x->rank == 0) lrc = inb__chunk_absorb(x, out->p, out->n);
    for (int r = 1; !lrc && all && r < x->size; r++) lrc = inb__chunk_absorb(x, all + displs[r], sizes[r]);
    inb__free(all), inb__free(counts), inb__free(displs);
  } else if (x->rank == 0) {
    lrc = inb__chunk_absorb(x, out->p, out->n);
    for (int r = 1; !lrc && r < x->size; r++) {
      uint8_t *p = NULL;
      size_t n = 0;
      lrc = inb__msg_recv(r, INB__TAG_RESULTS, x->comm, &p, &n, NULL);
      if (!lrc) lrc = inb__chunk_absorb(x, p, n);
      inb__free(p);
    }
  } else {
    lrc = inb__msg_send(out->p, out->n, 0, INB__TAG_RESULTS, x->comm);
  }
  inb__free(sizes);
  return lrc;
}

int inb__mpi_static(inb__mpi *x) {
  block *blocks = x->rank == 0 ? inb__calloc((size_t)x->size, sizeof *blocks) : NULL;
  inb__buf all = {0}, out = {0};
  uint8_t *p = NULL, *owned = NULL;
  block mine = {0};
  int rc = x->rank == 0 ? (blocks ? pack_blocks(x, blocks, &all) : INB_ENOMEM) : 0;
  rc = inb__mpi_agree(rc, x->comm); /* each phase starts only when every rank finished the last one well */
  if (!rc) rc = inb__mpi_agree(scatter_tasks(x, blocks, &all, &mine, &p, &owned), x->comm);
  if (!rc) rc = inb__mpi_agree(inb__chunk_run(x, p, mine.bytes, mine.first, mine.count, &out), x->comm);
  inb__buf_release(&all);
  inb__free(owned);
  if (!rc) rc = inb__mpi_agree(gather_outcomes(x, &out), x->comm);
  inb__buf_release(&out);
  inb__free(blocks);
  return rc;
}
