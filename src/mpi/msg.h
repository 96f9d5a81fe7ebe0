/* Internal: messages of any size between two ranks. MPI counts are int, so a message travels as a first piece
 * on `tag` and, unless that piece holds it whole, continuation pieces on tag+1, in order (MPI keeps order per
 * source and tag).
 *
 *   first piece    header (16 bytes) | the whole payload, or nothing
 *   header         u64 total payload bytes | u32 continuation piece size (0: the first piece holds the whole
 *                  payload) | "INBM"
 *   continuation   ceil(total / piece) pieces on tag+1 of `piece` bytes each, the last one of what is left
 *
 * Fields are in the sender's byte order (the ranks of one job run on one kind of machine). A sender puts a
 * small payload into its first piece and sends a larger one as a header followed by pieces straight from its
 * buffer (no copy); the piece size is INB_MPI_PIECE_BYTES when set (64 to 2^30, so tests can split small
 * messages), else 1 GiB. A receiver trusts nothing it is told: every piece's actual size is checked against
 * the header before a byte lands in its buffer, and it waits for a missing continuation piece at most
 * INB_MPI_PIECE_TIMEOUT seconds (default 60) since the last piece came, then fails with INB_ECORRUPT. */
#ifndef INB_MPI_MSG_H
#define INB_MPI_MSG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* The tags of the engine's messages; each uses tag+1 for continuation pieces. */
enum { INB__TAG_TASKS = 10, INB__TAG_RESULTS = 20, INB__TAG_REQUEST = 30, INB__TAG_WORK = 40 };

enum {
  INB__MSG_HEAD = 16,                  /* bytes of a first piece's header */
  INB__MSG_PIECE_MIN = 64,             /* the range of continuation piece sizes a header may declare */
  INB__MSG_PIECE_MAX = 1 << 30,
  INB__MSG_INLINE = 4096,              /* the largest first piece a sender makes holding a whole payload */
  INB__MSG_TIMEOUT_DEFAULT_S = 60,     /* INB_MPI_PIECE_TIMEOUT when unset */
};

/* ---- the framing, without MPI: pure functions ------------------------------------------------------------ */

/* What a first piece says about its message. */
typedef struct {
  uint64_t total;   /* payload bytes of the whole message */
  size_t in_first;  /* payload bytes in the first piece: total (the first piece holds it whole) or 0 */
  size_t piece;     /* bytes of each continuation piece but the last; 0 when none follow */
  uint64_t pieces;  /* continuation pieces that must follow on tag+1 */
} inb__msg_frame;

/* Checks the first piece p[0..n) (n: every byte received) and describes its message in *f. A first piece holds
 * its header and either the whole payload or none of it; a payload that follows in pieces declares a piece
 * size from INB__MSG_PIECE_MIN to INB__MSG_PIECE_MAX. Reads nothing past p[n). Returns 0, or INB_ECORRUPT with
 * inb_errmsg() naming what is wrong (then *f is zeroed). */
int inb__msg_parse_first(const uint8_t *p, size_t n, inb__msg_frame *f);

/* The size of continuation piece i (0-based, i < f->pieces) of a message parsed by inb__msg_parse_first. */
size_t inb__msg_piece_len(const inb__msg_frame *f, uint64_t i);

/* Writes the header of a message of `total` payload bytes: piece 0 when the first piece carries the whole
 * payload, else the size of its continuation pieces. */
void inb__msg_put_head(uint8_t head[INB__MSG_HEAD], uint64_t total, size_t piece);

/* ---- sending and receiving ------------------------------------------------------------------------------- */

/* Sends n bytes to dest. Blocking. Makes no heap allocation (a small payload is copied into a first piece on the
 * stack, a large one is sent from p itself), so a rank out of memory can still say so. Returns 0 or INB_EMPI. */
int inb__msg_send(const void *p, size_t n, int dest, int tag, MPI_Comm comm);

/* A message being sent without blocking (inb__msg_isend). The struct may be copied or moved while the send is
 * under way (the pieces MPI reads are on the heap, never inside it). */
typedef struct {
  uint8_t *owned;    /* the payload, freed when the send completes */
  uint8_t *head;     /* the first piece (header, and a small payload copied), inside req's block */
  MPI_Request *req;  /* one per piece; one allocation with head */
  int nreq;
} inb__msg_out;

/* Starts sending p[0..n) to dest and takes p (malloc'd; freed when the send completes, or at once on failure).
 * Never blocks: a rank that sends to a peer which is itself sending cannot deadlock on it. Makes one small
 * allocation (the first piece and the requests). Complete *o with inb__msg_test or inb__msg_wait.
 * Returns 0, INB_ENOMEM or INB_EMPI. */
int inb__msg_isend(uint8_t *p, size_t n, int dest, int tag, MPI_Comm comm, inb__msg_out *o);

/* *done = 1 when o has been sent (its memory is then freed). Returns 0 or INB_EMPI. */
int inb__msg_test(inb__msg_out *o, int *done);

/* Blocks until o has been sent, and frees its memory. Returns 0 or INB_EMPI. */
int inb__msg_wait(inb__msg_out *o);

/* Receives one message from `source` (or MPI_ANY_SOURCE) with `tag` into a new malloc'd buffer (*out, owned
 * by the caller, freed with inb__free, at least 8-byte aligned; *n its size; *from the sender). Waits for the
 * first piece without limit, for each continuation piece at most INB_MPI_PIECE_TIMEOUT seconds.
 * Once its first piece has parsed, a message that fails is still taken off the communicator, so the next receive
 * starts clean: out of memory receives and drops every piece (into a small buffer on the stack); a piece of the
 * wrong size is dropped and ends the message (what follows it cannot be trusted to belong to it). A first piece
 * that does not parse says nothing reliable about pieces after it: none are taken. On failure *out is NULL;
 * after INB_ENOMEM *n is the size of the message that was dropped.
 * Returns 0, INB_ENOMEM, INB_ECORRUPT (a first piece that does not parse, a piece of another size than its
 * header says, or pieces missing past the timeout; see inb_errmsg()), INB_EMPI. */
int inb__msg_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from);

/* Like inb__msg_recv, but returns 1 without blocking when no message is waiting (then *out is NULL). */
int inb__msg_try_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from);

/* Broadcasts a buffer of any size from rank 0: on rank 0 (*p, *n) is sent; elsewhere a new malloc'd buffer
 * arrives in *p (owned by the caller) and its size in *n. Collective. Returns 0, INB_ENOMEM, INB_EMPI
 * (allocation failure is agreed, so no rank is left in the broadcast; a failure of a piece's broadcast is this
 * rank's alone: the caller agrees on the result). */
int inb__msg_bcast(uint8_t **p, size_t *n, MPI_Comm comm);

/* The largest piece sent in one MPI call (INB_MPI_PIECE_BYTES, else 1 GiB). */
size_t inb__msg_piece(void);

/* How long a receive waits for a missing continuation piece, in nanoseconds (INB_MPI_PIECE_TIMEOUT seconds,
 * fractions allowed, when set to a positive number; else INB__MSG_TIMEOUT_DEFAULT_S). */
int64_t inb__msg_timeout_ns(void);

#endif
