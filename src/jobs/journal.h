/* Internal: the journal, the durable record of what a run has finished, so that the next run after a kill (time
 * limit, preemption, SIGKILL of a rank) skips what is durably done and redoes the rest. What a record means is the
 * caller's (a finished task's outcome, the items whose rows are flushed): to the journal it is record_size bytes.
 *
 * A journal is a folder beside the partial output (`results.tsv.journal/`) holding one SEGMENT file per writer
 * process, named by the caller (`host-pid-rank3`): ranks on different nodes never append to one file (O_APPEND is
 * not atomic across nodes on NFS or Lustre), and a resumed run with another number of ranks reads them all. The
 * names `lock` (inb__journal_lock) and those starting with '.' are not segments.
 *
 * A segment is a header of INB__JOURNAL_HEADER bytes, then records, all integers little-endian:
 *
 *   header   0  magic "INBJRNL1"                       8 bytes
 *            8  format version (1)                     u32
 *           12  header size (4096)                     u32
 *           16  record size: the caller's bytes        u64
 *           24  job identity                           32 bytes (the caller's, e.g. a SHA-256 of the job's meaning)
 *           56  length of the identity's description   u32 (<= INB__JOURNAL_TEXT_MAX)
 *           60  length of the writer's name            u32 (<= INB__JOURNAL_WRITER_MAX)
 *           64  the writer's name, zero-padded         256 bytes
 *          320  the identity's description, zero-padded  3772 bytes (text for messages: job file, input, version)
 *         4092  CRC-32 (zlib's crc32, the IEEE polynomial) of bytes 0..4091   u32
 *   record   0  the caller's bytes                     record_size bytes
 *           +0  sequence number: the record's index in its segment, from 0   u64
 *           +8  CRC-32 of the caller's bytes and the sequence number          u32
 *
 * Durability: a segment's header is fsynced, and its folder (and the folder's parent when the folder was made),
 * before inb__journal_open returns; each inb__journal_append is one write then one fdatasync, so a record is
 * durable when the call returns 0. A process killed in a write, or a node lost before the fdatasync, leaves a torn
 * tail: records cut short or with a bad CRC at the end of its segment. Reading drops such a tail; a damaged record
 * FOLLOWED by valid ones cannot come from a torn write and is refused, as are damaged headers of segments that hold
 * records. (Limit: after a power loss a file system may keep later pages of an unsynced append without the earlier
 * ones; that too is refused, since it cannot be told from damage.)
 *
 * Everything here is local: no MPI, no other rank involved. Messages go to the calling thread's inb_errmsg() and
 * name the segment or the folder as `journal 'DIR/NAME'`. System failures are INB_EIO with the system's reason. */
#ifndef INB_JOBS_JOURNAL_H
#define INB_JOBS_JOURNAL_H

#include <inbatch/core.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  INB__JOURNAL_HEADER = 4096,            /* a segment's header, in bytes */
  INB__JOURNAL_TRAILER = 12,             /* bytes added to each record: sequence number and CRC */
  INB__JOURNAL_WRITER_MAX = 255,         /* longest writer name, in bytes */
  INB__JOURNAL_TEXT_MAX = 3771,          /* longest identity description kept, in bytes (a longer one is cut) */
  INB__JOURNAL_RECORD_MAX = 1024 * 1024  /* largest record_size */
};

/* A segment open for appending, owned by one process. */
typedef struct inb__journal inb__journal;

/* What inb__journal_read found. */
typedef struct {
  size_t segments;     /* segment files read (those ignored below not included) */
  uint64_t records;    /* valid records passed to `each` */
  size_t torn;         /* segments whose torn tail was dropped */
  uint64_t tail_bytes; /* the bytes of those tails */
  size_t ignored;      /* segments without records whose header was cut short or left unwritten (the writer died
                          while opening it): they held nothing */
} inb__journal_stats;

/* Creates the folder dir if needed (its parent must exist) and the writer's segment dir/writer, writes the header
 * (identity id, its description id_text, record_size) and fsyncs it and the folder. writer: 1 to
 * INB__JOURNAL_WRITER_MAX bytes of [A-Za-z0-9._-], not starting with '.', not "lock". id_text may be NULL (""); a
 * description longer than INB__JOURNAL_TEXT_MAX bytes is cut at a character boundary. record_size: 1 to
 * INB__JOURNAL_RECORD_MAX. Local.
 * On success *out is a new journal owned by the caller (inb__journal_close); on failure *out is NULL and no segment
 * is left behind. Returns 0; INB_EINVAL (bad arguments; the segment exists already: writers are unique, a name is
 * never reused, not even by a resumed run); INB_EIO (the folder or the segment cannot be made or written);
 * INB_ENOMEM. */
int inb__journal_open(const char *dir, const char *writer, const uint8_t id[32], const char *id_text,
                      size_t record_size, inb__journal **out);

/* Appends the n records recs[0 .. n*record_size) (the caller's, only read) in one write, then fdatasync: they are
 * durable when it returns 0. Thread-safe: any number of threads may append to one journal at once (a mutex orders
 * them; each call's records stay together). n == 0 does nothing. Local.
 * Returns 0; INB_EINVAL (j or recs NULL, n too large); INB_ENOMEM (nothing written); INB_EIO: the write failed
 * (then the segment is cut back to its earlier records and the journal stays usable) or the fdatasync did, or the
 * cut did (then the segment's state is unknown and every later append fails with INB_EIO too: the records of the
 * call may or may not be durable). */
int inb__journal_append(inb__journal *j, const void *recs, size_t n);

/* The segment's path, DIR/WRITER, for messages; owned by j. */
const char *inb__journal_path(const inb__journal *j);

/* Closes the segment (its records are durable already) and frees j; sets *j to NULL. NULL-safe (j and *j). Not
 * concurrent with an append to the same journal. */
void inb__journal_close(inb__journal **j);

/* Reads every segment of dir in name order (strcmp) and calls each(rec, ctx) for each valid record in segment
 * order: rec points at record_size bytes, valid only during the call and not aligned (memcpy them). A non-zero
 * return of each stops the reading and is returned as is. st (may be NULL) is filled in, also on failure (what was
 * read until then). Local.
 * Every header is checked before the first record is passed on; a damaged record in the middle of a segment is
 * only found while reading it: on a failure, drop what each gathered.
 * A missing dir is an empty journal: 0 records, returns 0. A torn tail is dropped (st counts it); a segment whose
 * header is cut short or unwritten and that holds no record is ignored (st counts it).
 * Refused with INB_EINVAL and a message naming the segment, what is wrong and what to do: a segment of another job
 * (another id; the message quotes the segment's description and id_text, this run's), of another record size or
 * format version, not starting with the magic, with a damaged header and records, a damaged record followed by valid
 * ones; an entry of dir that is not a regular file. Returns 0; each's return; INB_EINVAL as said; INB_EIO (dir or a
 * segment cannot be read); INB_ENOMEM. */
int inb__journal_read(const char *dir, const uint8_t id[32], const char *id_text, size_t record_size,
                      int (*each)(const void *rec, void *ctx), void *ctx, inb__journal_stats *st);

/* Removes the segments of dir (every entry but `lock`), then the folder when nothing is left in it: a lock held
 * keeps it, and inb__journal_unlock removes both. Used by --restart and after a successful commit of the output.
 * Fsyncs the folder (or its parent) so that the discarded records do not come back after a crash. A missing dir
 * is fine. Local. Returns 0 or INB_EIO (something could not be removed: the system's reason). */
int inb__journal_discard(const char *dir);

/* ---- the lock: one run at a time on a journal --------------------------------------------------------------- */

/* A lock held on a journal's folder. */
typedef struct inb__journal_lock_t inb__journal_lock_t;

/* Takes the lock of the journal dir (created if needed, as in inb__journal_open): the file dir/lock holding
 * "HOST PID START WALL\n" (START: the process's start time, field 22 of /proc/PID/stat, which tells a reused pid
 * apart; WALL: the same as Unix seconds, for messages). It appears at once with its content (written aside then
 * hard-linked into place; where links are not supported, created with O_CREAT|O_EXCL). When dir/lock exists:
 * - this host, and its process is gone (or its pid now belongs to a process that started at another time): a stale
 *   lock, taken over (inb__journal_lock_stale says so, for the caller to print);
 * - this host, and its process runs: refused, "another run (pid N on host H, started ...) is using 'DIR'";
 * - another host: refused, naming the host and the pid, and saying to remove DIR/lock if that run is gone (from
 *   here its process cannot be checked).
 * Local. On success *out is the caller's (inb__journal_unlock); on failure *out is NULL. Returns 0; INB_EINVAL
 * (dir NULL or empty; the lock is held, as above; a lock file that cannot be understood, with what to do);
 * INB_EIO (the folder or the lock cannot be made or read); INB_ENOMEM. */
int inb__journal_lock(const char *dir, inb__journal_lock_t **out);

/* NULL when the lock was free; else the stale lock taken over, e.g. "pid 4242 on host n17, started 2024-05-01
 * 12:00:03, is gone", owned by l. */
const char *inb__journal_lock_stale(const inb__journal_lock_t *l);

/* Removes dir/lock when it is still this lock, then the folder when it is empty; frees l and sets *l to NULL.
 * NULL-safe (l and *l). */
void inb__journal_unlock(inb__journal_lock_t **l);

#endif
