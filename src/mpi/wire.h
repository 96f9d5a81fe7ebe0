/* Internal: the wire format the mpi target uses to move argument lists and task results between ranks.
 *
 * A message is a header followed by `count` records. Every field is in the sender's byte order (the ranks of
 * one job run on one kind of machine); the header's byte-order mark makes a mix fail loudly instead of
 * decoding garbage. Every record, value, string and array datum starts at an offset that is a multiple of 8
 * from the start of the message, and every pad byte and reserved field is zero. So the ARRAY data of a
 * message received into a malloc'd buffer is aligned for any dtype and can be used in place, and
 * the encoding is canonical: re-packing what was unpacked gives the same bytes (the fuzzer checks this).
 *
 *   header (24 bytes)     "INBW" | u16 version (2) | u16 byte-order mark 0x0102 | u64 record count
 *                         | u64 message size in bytes, header included (must equal the bytes received)
 *   record                u8 type (1 = argument list, 2 = result) | u8 status (result: 0 ok, 1 failed;
 *                         argument list: 0) | 6 zero bytes | body
 *     argument list body  u64 npos | u64 nnamed | npos values | nnamed times (name, value)
 *     result body, ok     u64 task | value
 *     result body, failed u64 task | i32 rank (>= 0) | i32 code (!= 0) | i32 attempts (>= 0) | 4 zero bytes
 *                         | u64 n | n message bytes, NUL, pad
 *   name                  u64 n (>= 1) | n bytes without a NUL | NUL | pad to 8
 *   value                 u8 kind | u8 dtype | u8 ndim | u8 bool | 4 zero bytes | payload
 *                         (dtype and ndim are 0 unless kind is ARRAY; bool is 0 or 1 for BOOL, else 0)
 *     NONE, BOOL          no payload
 *     INT, REAL           8 bytes (int64_t, double)
 *     STR                 u64 n | n bytes | NUL | pad to 8     (n excludes the NUL; inner NULs travel as bytes)
 *     BYTES               u64 n | n bytes | pad to 8
 *     ARRAY               ndim x i64 shape (>= 0) | count * dtype-size bytes of C-ordered data | pad to 8
 *
 * Sizes are size_t/u64 throughout: a message may exceed 2 GiB (inb__msg_* splits it into pieces). Decoding
 * checks every count and length against the bytes left, every product for overflow and every enum against
 * its range before it reads; malformed bytes give INB_ECORRUPT with inb_errmsg() naming what was wrong and
 * the byte offset (from the start of the message) where it was found. Nothing here aborts or exits. */
#ifndef INB_MPI_WIRE_H
#define INB_MPI_WIRE_H

#include <inbatch/run.h>
#include <stddef.h>
#include <stdint.h>

/* ---- A growable byte buffer ---------------------------------------------------------------------------- */

/* p[0..n) holds the bytes, cap is the allocation. Zero-initialise ({0}) before first use. p comes from
 * malloc/realloc, so it is aligned for every dtype. The buffer owns p: free it with inb__buf_release, or take
 * p over (then set the struct to {0}) and free it with free(). */
typedef struct inb__buf {
  uint8_t *p;
  size_t n, cap;
} inb__buf;

/* Makes room for `more` bytes past n (p may move). Returns 0 or INB_ENOMEM (n + more overflows or realloc
 * failed); on failure b is unchanged. */
int inb__buf_reserve(inb__buf *b, size_t more);

/* Appends len bytes copied from src. Returns 0 or INB_ENOMEM (b unchanged). */
int inb__buf_append(inb__buf *b, const void *src, size_t len);

/* Appends zero bytes until n is a multiple of 8. Returns 0 or INB_ENOMEM (b unchanged). */
int inb__buf_pad8(inb__buf *b);

/* Frees p and leaves b empty ({0}); NULL-safe. */
void inb__buf_release(inb__buf *b);

/* ---- Messages ------------------------------------------------------------------------------------------ */

enum { INB__WIRE_VERSION = 2, INB__WIRE_HEADER_BYTES = 24 };

/* Record types (the first byte of a record). */
enum { INB__WIRE_ARGS = 1, INB__WIRE_RESULT = 2 };

/* Appends a header announcing `count` records (first padding b to a multiple of 8). Its size field stays 0
 * until inb__wire_seal: call that once the records are packed. Returns 0 or INB_ENOMEM. */
int inb__wire_put_header(inb__buf *b, uint64_t count);

/* Finishes the message whose header starts at b->p + at: sets its record count and its size to b->n - at.
 * `at` must be where inb__wire_put_header wrote that header (0 for a message in a buffer of its own, the
 * usual case: a receiver decodes offsets from the start of the buffer it got). */
void inb__wire_seal(inb__buf *b, size_t at, uint64_t count);

/* Checks the header at the start of the message p[0..n) (n is every byte received: the header's size must
 * equal it) and sets *count and *off (the offset of the first record). The count is checked against the
 * bytes that follow, so a receiver may allocate per record before decoding them.
 * Returns 0 or INB_ECORRUPT (see inb_errmsg()). */
int inb__wire_get_header(const uint8_t *p, size_t n, uint64_t *count, size_t *off);

/* The type (INB__WIRE_ARGS or INB__WIRE_RESULT) of the record at offset off of p[0..n), without consuming
 * it. Returns 0 or INB_ECORRUPT (no record there, or an unknown type). */
int inb__wire_peek(const uint8_t *p, size_t n, size_t off, int *type);

/* After the last record: INB_ECORRUPT when bytes are left over at off, else 0. */
int inb__wire_end(size_t n, size_t off);

/* ---- Argument lists ------------------------------------------------------------------------------------ */

/* Bytes that inb__wire_pack_args appends for `a` (NULL = an empty list), padding before it excluded.
 * Returns 0 or INB_EINVAL (a value cannot be packed: unknown kind or dtype, ndim out of 0..INB_MAX_DIMS,
 * a negative dimension, a size overflow, NULL data with a non-zero length); *size is then unspecified. */
int inb__wire_args_size(const inb_args *a, size_t *size);

/* Appends `a` as one record (after padding b to a multiple of 8): positional values in order, then named
 * values in the list's order. ARRAY data is copied into b. Returns 0, INB_EINVAL (as inb__wire_args_size),
 * INB_ENOMEM; on failure b is unchanged. */
int inb__wire_pack_args(inb__buf *b, const inb_args *a);

/* Decodes the argument-list record at *off of the message p[0..n) into a new list *out, owned by the caller
 * (inb_args_free), and advances *off past it. Names, STR and BYTES are copied into the list; ARRAY values are
 * views of p (mutable: the receiver owns its copy), so p must outlive the list and must be at least 8-byte
 * aligned (malloc'd), which makes every view aligned for its dtype. p is not modified.
 * Returns 0; INB_ECORRUPT (malformed record, duplicate name; see inb_errmsg()); INB_EINVAL (p not 8-byte
 * aligned or *off not a multiple of 8); INB_ENOMEM. On failure *out is NULL and *off is unchanged. */
int inb__wire_unpack_args(uint8_t *p, size_t n, size_t *off, inb_args **out);

/* ---- Task results -------------------------------------------------------------------------------------- */

/* One task's outcome. When packing, error.task is ignored (task is used) and a NULL error.message packs as
 * inb_strerror(code). When unpacked, it views the message: value's STR/BYTES/ARRAY and error.message point
 * into p (message and STR NUL-terminated there), valid while p is; error.task equals task. Nothing to free. */
typedef struct {
  uint64_t task;  /* the task's position in the call */
  bool ok;        /* true: value holds the result; false: error holds the record */
  inb_value value;
  inb_error error;
} inb__wire_result;

/* Bytes that inb__wire_pack_result appends for r, padding before it excluded. Returns 0 or INB_EINVAL (the
 * value cannot be packed, as for inb__wire_args_size, or a failed record has code 0 or a negative rank). */
int inb__wire_result_size(const inb__wire_result *r, size_t *size);

/* Appends r as one record (after padding b to a multiple of 8); value data and the message are copied into
 * b. Returns 0, INB_EINVAL (as inb__wire_result_size), INB_ENOMEM; on failure nothing is appended. */
int inb__wire_pack_result(inb__buf *b, const inb__wire_result *r);

/* Decodes the result record at *off of the message p[0..n) into *out (views of p, as above; p must be
 * 8-byte aligned) and advances *off past it. Returns 0, INB_ECORRUPT (see inb_errmsg()), INB_EINVAL (p or
 * *off misaligned); on failure *out is unspecified and *off unchanged. */
int inb__wire_unpack_result(uint8_t *p, size_t n, size_t *off, inb__wire_result *out);

#endif
