/* Internal: messages of any size between two ranks. MPI counts are int: a message over the piece size
 * (1 GiB; INB_MPI_PIECE_BYTES overrides it, so tests can split small messages) travels as a first piece that
 * carries the total size, then continuation pieces on tag+1, in order (MPI keeps order per source and tag). */
#ifndef INB_MPI_MSG_H
#define INB_MPI_MSG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* The tags of the engine's messages; each uses tag+1 for continuation pieces. */
enum { INB__TAG_TASKS = 10, INB__TAG_RESULTS = 20, INB__TAG_REQUEST = 30, INB__TAG_WORK = 40 };

/* Sends n bytes to dest. Blocking. Returns 0 or INB_EMPI. */
int inb__msg_send(const void *p, size_t n, int dest, int tag, MPI_Comm comm);

/* A message being sent without blocking (inb__msg_isend). */
typedef struct {
  uint8_t *owned;    /* the payload, freed when the send completes */
  uint8_t *head;     /* the first piece: header and the payload's start, copied */
  MPI_Request *req;  /* one per piece */
  int nreq;
} inb__msg_out;

/* Starts sending p[0..n) to dest and takes p (malloc'd; freed when the send completes, or at once on failure).
 * Never blocks: a rank that sends to a peer which is itself sending cannot deadlock on it. Complete *o with
 * inb__msg_test or inb__msg_wait. Returns 0, INB_ENOMEM or INB_EMPI. */
int inb__msg_isend(uint8_t *p, size_t n, int dest, int tag, MPI_Comm comm, inb__msg_out *o);

/* *done = 1 when o has been sent (its memory is then freed). Returns 0 or INB_EMPI. */
int inb__msg_test(inb__msg_out *o, int *done);

/* Blocks until o has been sent, and frees its memory. Returns 0 or INB_EMPI. */
int inb__msg_wait(inb__msg_out *o);

/* Receives one message from `source` (or MPI_ANY_SOURCE) with `tag` into a new malloc'd buffer (*out, owned
 * by the caller, at least 8-byte aligned; *n its size; *from the sender). Returns 0, INB_ENOMEM, INB_EMPI. */
int inb__msg_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from);

/* Like inb__msg_recv, but returns 1 without blocking when no message is waiting (then *out is NULL). */
int inb__msg_try_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from);

/* Broadcasts a buffer of any size from rank 0: on rank 0 (*p, *n) is sent; elsewhere a new malloc'd buffer
 * arrives in *p (owned by the caller) and its size in *n. Collective. Returns 0, INB_ENOMEM, INB_EMPI
 * (allocation failure is agreed, so no rank is left in the broadcast). */
int inb__msg_bcast(uint8_t **p, size_t *n, MPI_Comm comm);

/* The largest piece sent in one MPI call. */
size_t inb__msg_piece(void);

#endif
