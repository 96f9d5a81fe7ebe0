/* The journal: one segment file per writer in a folder, a checked header then checked fixed-size records; reading
 * drops a torn tail and refuses damage; a lock file keeps a second run out (see journal.h). */
#include "jobs/journal.h"

#include "core/alloc.h"
#include "core/status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[8] = {'I', 'N', 'B', 'J', 'R', 'N', 'L', '1'};

enum {
  VERSION = 1,
  /* header offsets (journal.h) */
  H_VERSION = 8, H_SIZE = 12, H_RECSIZE = 16, H_ID = 24, H_TEXTLEN = 56, H_WRITERLEN = 60, H_WRITER = 64,
  H_TEXT = 320, H_CRC = INB__JOURNAL_HEADER - 4,
  READ_CHUNK = 64 * 1024  /* bytes of records read at once (at least one record) */
};

_Static_assert(H_WRITER + INB__JOURNAL_WRITER_MAX + 1 == H_TEXT, "the writer's field holds its name and a NUL");
_Static_assert(H_TEXT + INB__JOURNAL_TEXT_MAX + 1 == H_CRC, "the description's field holds it and a NUL");

struct inb__journal {
  pthread_mutex_t mu;   /* orders appends: seq, end and broken are read and written under it */
  int fd;
  size_t record_size, stride;   /* stride = record_size + INB__JOURNAL_TRAILER */
  uint64_t seq;                 /* the next record's sequence number */
  off_t end;                    /* the segment's size: header and whole records */
  int broken;                   /* errno of a failure that left the segment's state unknown; 0 when none */
  char path[PATH_MAX];          /* DIR/WRITER */
};

struct inb__journal_lock_t {
  char dir[PATH_MAX], path[PATH_MAX];   /* DIR and DIR/lock */
  char line[512];                       /* what this lock's file holds */
  char stale[512];                      /* the stale lock taken over; "" when none */
};

/* ---- bytes ---------------------------------------------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* zlib's crc32 takes a uInt length: fed in pieces so that any size works. */
static uint32_t crc_of(const void *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const Bytef *b = p;
  while (n > 0) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, b, k);
    b += k, n -= k;
  }
  return (uint32_t)c;
}

/* ---- messages ------------------------------------------------------------------------------------------------- */

/* Sets inb_errmsg() to "journal 'WHAT': <fmt...>" and returns code. */
static int jerr(int code, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jerr(int code, const char *what, const char *fmt, ...) {
  char msg[INB__ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return inb__err(code, "journal '%s': %s", what, msg);
}

/* A failed system call: INB_EIO with the system's reason. */
static int sys_err(const char *what, const char *doing, int errnum) {
  char reason[256];
  if (strerror_r(errnum, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", errnum);
  return jerr(INB_EIO, what, "%s: %s", doing, reason);
}

/* ---- paths and folders ---------------------------------------------------------------------------------------- */

/* out = DIR/NAME (one '/' between them). Returns 0, or INB_EINVAL when it does not fit in PATH_MAX. */
static int join(char out[PATH_MAX], const char *dir, const char *name) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  int k = snprintf(out, PATH_MAX, "%.*s/%s", (int)n, dir, name);
  if (k < 0 || k >= PATH_MAX) return jerr(INB_EINVAL, dir, "path too long (with '%s')", name);
  return 0;
}

/* Flushes the folder's entries to storage. File systems that cannot sync a folder (EINVAL) need not. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_err(dir, "cannot open the folder to sync it", errno);
  int e = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
  close(fd);
  return e ? sys_err(dir, "cannot sync the folder", e) : 0;
}

/* Syncs the folder that holds dir (its entry). */
static int sync_parent(const char *dir) {
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", dir);
  size_t n = strlen(parent);
  while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
  char *slash = strrchr(parent, '/');
  if (!slash)
    snprintf(parent, sizeof parent, ".");
  else
    slash[slash == parent ? 1 : 0] = '\0';
  return sync_dir(parent);
}

/* Creates the folder dir unless it exists (its parent must), then makes its entry durable. */
static int make_dir(const char *dir) {
  if (mkdir(dir, 0777) == 0) return sync_parent(dir);
  if (errno != EEXIST) return sys_err(dir, "cannot create the folder", errno);
  struct stat st;
  if (stat(dir, &st) != 0) return sys_err(dir, "cannot read the folder", errno);
  if (!S_ISDIR(st.st_mode)) return jerr(INB_EINVAL, dir, "exists and is not a folder");
  return 0;
}

/* Writes p[0..n) at offset off, through short writes and interruptions. Returns 0 or the errno. */
static int write_at(int fd, const void *p, size_t n, off_t off) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = pwrite(fd, b, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    b += w, n -= (size_t)w, off += w;
  }
  return 0;
}

/* Reads up to n bytes at off into p; *got gets how many (fewer only at the end of the file). Returns 0 or the
 * errno. */
static int read_at(int fd, void *p, size_t n, off_t off, size_t *got) {
  uint8_t *b = p;
  size_t total = 0;
  while (total < n) {
    ssize_t r = pread(fd, b + total, n - total, off + (off_t)total);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) break;
    total += (size_t)r;
  }
  *got = total;
  return 0;
}

/* ---- writing -------------------------------------------------------------------------------------------------- */

static bool valid_writer(const char *w) {
  size_t n = w ? strlen(w) : 0;
  if (n == 0 || n > INB__JOURNAL_WRITER_MAX || w[0] == '.' || strcmp(w, "lock") == 0) return false;
  for (size_t i = 0; i < n; i++) {
    char c = w[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

/* The length of text cut to at most max bytes, at a UTF-8 character boundary. */
static size_t cut_text(const char *text, size_t max) {
  size_t n = strlen(text);
  if (n <= max) return n;
  n = max;
  while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;   /* text[n] continues a character: cut before */
  return n;
}

static void encode_header(uint8_t h[INB__JOURNAL_HEADER], const char *writer, const uint8_t id[32],
                          const char *id_text, size_t record_size) {
  size_t wlen = strlen(writer), tlen = cut_text(id_text, INB__JOURNAL_TEXT_MAX);
  memset(h, 0, INB__JOURNAL_HEADER);
  memcpy(h, MAGIC, sizeof MAGIC);
  put_u32(h + H_VERSION, VERSION);
  put_u32(h + H_SIZE, INB__JOURNAL_HEADER);
  put_u64(h + H_RECSIZE, record_size);
  memcpy(h + H_ID, id, 32);
  put_u32(h + H_TEXTLEN, (uint32_t)tlen);
  put_u32(h + H_WRITERLEN, (uint32_t)wlen);
  memcpy(h + H_WRITER, writer, wlen);
  memcpy(h + H_TEXT, id_text, tlen);
  put_u32(h + H_CRC, crc_of(h, H_CRC));
}

int inb__journal_open(const char *dir, const char *writer, const uint8_t id[32], const char *id_text,
                      size_t record_size, inb__journal **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__journal_open: out is NULL");
  *out = NULL;
  if (!dir || !*dir || !id) return inb__err(INB_EINVAL, "inb__journal_open: dir or id is NULL or empty");
  if (!valid_writer(writer))
    return jerr(INB_EINVAL, dir,
                "writer name '%s': expected 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.', and not 'lock'",
                writer ? writer : "(null)", INB__JOURNAL_WRITER_MAX);
  if (record_size < 1 || record_size > INB__JOURNAL_RECORD_MAX)
    return jerr(INB_EINVAL, dir, "record size %zu: expected 1 to %d bytes", record_size, INB__JOURNAL_RECORD_MAX);
  int rc = 0, fd = -1;
  bool created = false;
  uint8_t h[INB__JOURNAL_HEADER];
  inb__journal *j = inb__calloc(1, sizeof *j);
  if (!j) {
    rc = jerr(INB_ENOMEM, dir, "out of memory");
    goto out;
  }
  if ((rc = join(j->path, dir, writer)) != 0) goto out;
  if ((rc = make_dir(dir)) != 0) goto out;
  if ((fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
    rc = errno == EEXIST ? jerr(INB_EINVAL, j->path,
                                "exists already: each writer needs a name of its own, never used before in this "
                                "journal (another process of this run has it, or a process of an earlier one had it)")
                         : sys_err(j->path, "cannot create the segment", errno);
    goto out;
  }
  created = true;
  encode_header(h, writer, id, id_text ? id_text : "", record_size);
  int e = write_at(fd, h, sizeof h, 0);
  if (e || fsync(fd) != 0) {
    rc = sys_err(j->path, "cannot write the header", e ? e : errno);
    goto out;
  }
  if ((rc = sync_dir(dir)) != 0) goto out;
  if ((e = pthread_mutex_init(&j->mu, NULL)) != 0) {
    rc = jerr(INB_ENOMEM, j->path, "cannot make a mutex (error %d)", e);
    goto out;
  }
  j->fd = fd, j->record_size = record_size, j->stride = record_size + INB__JOURNAL_TRAILER;
  j->end = INB__JOURNAL_HEADER;
  *out = j;
  j = NULL, fd = -1;   /* the caller's now */
out:
  if (fd >= 0) close(fd);
  if (created && rc) unlink(j->path);   /* it held nothing: the name stays free for a retry */
  inb__free(j);
  return rc;
}

int inb__journal_append(inb__journal *j, const void *recs, size_t n) {
  if (!j) return inb__err(INB_EINVAL, "inb__journal_append: j is NULL");
  if (n == 0) return 0;
  if (!recs) return jerr(INB_EINVAL, j->path, "append: recs is NULL");
  if (n > ((size_t)1 << 40) / j->stride) return jerr(INB_EINVAL, j->path, "append: %zu records at once", n);
  size_t len = n * j->stride;
  uint8_t *buf = inb__malloc(len);
  if (!buf) return jerr(INB_ENOMEM, j->path, "out of memory for %zu records (%zu bytes)", n, len);
  int rc = 0;
  pthread_mutex_lock(&j->mu);
  if (j->broken) {
    char reason[256];
    if (strerror_r(j->broken, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", j->broken);
    rc = jerr(INB_EIO, j->path, "an earlier append failed (%s): nothing more can be recorded in this segment", reason);
    goto out;
  }
  const uint8_t *src = recs;
  for (size_t i = 0; i < n; i++) {
    uint8_t *r = buf + i * j->stride;
    memcpy(r, src + i * j->record_size, j->record_size);
    put_u64(r + j->record_size, j->seq + i);
    put_u32(r + j->record_size + 8, crc_of(r, j->record_size + 8));
  }
  int e = write_at(j->fd, buf, len, j->end);
  if (e) {
    /* Cut back what was written, so that later records do not follow a torn one; failing that, stop. */
    if (ftruncate(j->fd, j->end) != 0) j->broken = e;
    rc = sys_err(j->path, n == 1 ? "cannot write 1 record" : "cannot write the records", e);
    goto out;
  }
  if (fdatasync(j->fd) != 0) {
    j->broken = errno;   /* after a failed sync what reached the storage is unknown (the kernel may drop it) */
    rc = sys_err(j->path, "cannot sync the records to storage", errno);
    goto out;
  }
  j->end += (off_t)len;
  j->seq += n;
out:
  pthread_mutex_unlock(&j->mu);
  inb__free(buf);
  return rc;
}

const char *inb__journal_path(const inb__journal *j) { return j ? j->path : NULL; }

void inb__journal_close(inb__journal **j) {
  if (!j || !*j) return;
  close((*j)->fd);
  pthread_mutex_destroy(&(*j)->mu);
  inb__free(*j);
  *j = NULL;
}

/* ---- reading -------------------------------------------------------------------------------------------------- */

/* The segments' names in dir, sorted: *names (n strings) the caller's (free_names). *n = 0 and 0 when dir does not
 * exist. */
static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) inb__free(names[i]);
  inb__free(names);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_segment_name(const char *name) { return name[0] != '.' && strcmp(name, "lock") != 0; }

static int list_segments(const char *dir, char ***names, size_t *n) {
  *names = NULL, *n = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    if (errno == ENOTDIR) return jerr(INB_EINVAL, dir, "not a folder");
    return sys_err(dir, "cannot read the folder", errno);
  }
  int rc = 0;
  size_t cap = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) rc = sys_err(dir, "cannot read the folder", errno);
      break;
    }
    if (!is_segment_name(e->d_name)) continue;
    if (*n == cap) {
      size_t c = cap ? 2 * cap : 16;
      char **p = inb__realloc(*names, c * sizeof *p);
      if (!p) {
        rc = jerr(INB_ENOMEM, dir, "out of memory for the names of %zu segments", c);
        break;
      }
      *names = p, cap = c;
    }
    if (!((*names)[*n] = inb__strdup(e->d_name))) {
      rc = jerr(INB_ENOMEM, dir, "out of memory for the names of the segments");
      break;
    }
    (*n)++;
  }
  closedir(d);
  if (rc) {
    free_names(*names, *n);
    *names = NULL, *n = 0;
    return rc;
  }
  if (*n > 1) qsort(*names, *n, sizeof **names, by_name);
  return 0;
}

/* What the header check says of a segment. */
enum { SEG_OK, SEG_IGNORED };

/* Quotes the description held at h[H_TEXT ..] (its length checked already) into out. */
static void text_of(const uint8_t *h, char *out, size_t cap) {
  size_t n = get_u32(h + H_TEXTLEN);
  snprintf(out, cap, "%.*s", (int)n, (const char *)h + H_TEXT);
}

/* True when the n bytes of the magic present are either the magic's or zeros (a header the writer had not written
 * yet when it died). */
static bool magic_or_zeros(const uint8_t *h, size_t n) {
  bool ours = true, zeros = true;
  for (size_t i = 0; i < n && i < sizeof MAGIC; i++) {
    ours = ours && h[i] == (uint8_t)MAGIC[i];
    zeros = zeros && h[i] == 0;
  }
  return ours || zeros;
}

/* Checks the header of the segment at path against this run's id and record size: SEG_OK, SEG_IGNORED (no
 * records and a header cut short or unwritten) or a refusal. */
static int check_header(const char *path, const uint8_t id[32], const char *id_text, size_t record_size,
                        int *verdict) {
  static const char restart[] = "run with --restart to discard the journal";
  uint8_t h[INB__JOURNAL_HEADER];
  int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  size_t got = 0;
  if (fd < 0) {
    rc = errno == ELOOP ? jerr(INB_EINVAL, path, "a symbolic link, not a segment file: remove it")
                        : sys_err(path, "cannot open", errno);
    goto out;
  }
  if (fstat(fd, &st) != 0) {
    rc = sys_err(path, "cannot read", errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = jerr(INB_EINVAL, path, "not a segment file (a folder or a special file): remove it");
    goto out;
  }
  int e = read_at(fd, h, sizeof h, 0, &got);
  if (e) {
    rc = sys_err(path, "cannot read", e);
    goto out;
  }
  bool magic = got >= sizeof MAGIC && memcmp(h, MAGIC, sizeof MAGIC) == 0;
  bool records = st.st_size > INB__JOURNAL_HEADER;
  if (got < sizeof h || (!records && get_u32(h + H_CRC) != crc_of(h, H_CRC) && magic_or_zeros(h, got))) {
    /* Cut short: the writer died writing it. An unwritten or torn header without records: the same. Either held
     * nothing, as records are only appended after the header was synced. */
    if (got < sizeof h && !magic_or_zeros(h, got)) {
      rc = jerr(INB_EINVAL, path, "not a journal segment (it does not start with \"INBJRNL1\"): remove it, or %s",
                restart);
      goto out;
    }
    *verdict = SEG_IGNORED;
    goto out;
  }
  if (!magic) {
    rc = jerr(INB_EINVAL, path, "not a journal segment (it does not start with \"INBJRNL1\"): remove it, or %s",
              restart);
    goto out;
  }
  uint32_t version = get_u32(h + H_VERSION);
  if (version != VERSION) {
    rc = jerr(INB_EINVAL, path,
              "format version %u, but this inbatch reads version %d (written by another version of inbatch, or "
              "damaged): resume with the inbatch that wrote it, or %s",
              version, VERSION, restart);
    goto out;
  }
  if (get_u32(h + H_CRC) != crc_of(h, H_CRC) || get_u32(h + H_SIZE) != INB__JOURNAL_HEADER ||
      get_u32(h + H_TEXTLEN) > INB__JOURNAL_TEXT_MAX || get_u32(h + H_WRITERLEN) > INB__JOURNAL_WRITER_MAX) {
    rc = jerr(INB_EINVAL, path,
              "its header is damaged (checksum mismatch) and it holds %lld bytes of records: the file was changed "
              "or the storage fails; %s",
              (long long)(st.st_size - INB__JOURNAL_HEADER), restart);
    goto out;
  }
  char theirs[INB__JOURNAL_TEXT_MAX + 1];
  text_of(h, theirs, sizeof theirs);
  if (memcmp(h + H_ID, id, 32) != 0) {
    rc = jerr(INB_EINVAL, path,
              "written by another job (%s; this run: %s): run with --restart to discard it, or point the job at its "
              "own output",
              theirs[0] ? theirs : "no description", id_text && id_text[0] ? id_text : "no description");
    goto out;
  }
  uint64_t rs = get_u64(h + H_RECSIZE);
  if (rs != record_size) {
    rc = jerr(INB_EINVAL, path,
              "records of %llu bytes, but this run's are %zu bytes (written by: %s; this run: %s): another version "
              "of inbatch wrote it; %s",
              (unsigned long long)rs, record_size, theirs[0] ? theirs : "no description",
              id_text && id_text[0] ? id_text : "no description", restart);
    goto out;
  }
  *verdict = SEG_OK;
out:
  if (fd >= 0) close(fd);
  return rc;
}

/* Passes the valid records of the segment at path to each, in order, through buf (cap bytes, a whole number of
 * records). A tail of records that are cut short or invalid is dropped and counted; an invalid record followed by
 * a valid one is refused. */
static int read_records(const char *path, size_t record_size, uint8_t *buf, size_t cap,
                        int (*each)(const void *rec, void *ctx), void *ctx, inb__journal_stats *st) {
  const size_t stride = record_size + INB__JOURNAL_TRAILER;
  int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat sb;
  if (fd < 0) {
    rc = sys_err(path, "cannot open", errno);
    goto out;
  }
  if (fstat(fd, &sb) != 0) {
    rc = sys_err(path, "cannot read", errno);
    goto out;
  }
  uint64_t body = sb.st_size > INB__JOURNAL_HEADER ? (uint64_t)sb.st_size - INB__JOURNAL_HEADER : 0;
  uint64_t whole = body / stride, rem = body % stride;
  uint64_t bad = UINT64_MAX;   /* the first invalid record */
  const char *why = "";
  for (uint64_t first = 0; first < whole;) {
    size_t k = (size_t)(whole - first < cap / stride ? whole - first : cap / stride), got = 0;
    off_t off = (off_t)(INB__JOURNAL_HEADER + first * stride);
    int e = read_at(fd, buf, k * stride, off, &got);
    if (e || got < k * stride) {
      rc = e ? sys_err(path, "cannot read", e) : jerr(INB_EIO, path, "shorter than it was a moment ago");
      goto out;
    }
    for (size_t i = 0; i < k; i++) {
      const uint8_t *r = buf + i * stride;
      uint64_t index = first + i;
      bool crc_ok = get_u32(r + record_size + 8) == crc_of(r, record_size + 8);
      bool valid = crc_ok && get_u64(r + record_size) == index;
      if (!valid) {
        if (bad == UINT64_MAX) bad = index, why = crc_ok ? "a wrong sequence number" : "checksum mismatch";
        continue;
      }
      if (bad != UINT64_MAX) {
        rc = jerr(INB_EINVAL, path,
                  "record %llu (at byte %llu) is damaged (%s), yet valid records follow it: not a write cut short "
                  "but damage (the file was changed, or the storage fails); run with --restart to discard the "
                  "journal",
                  (unsigned long long)bad, (unsigned long long)(INB__JOURNAL_HEADER + bad * stride), why);
        goto out;
      }
      st->records++;
      if ((rc = each(r, ctx)) != 0) goto out;
    }
    first += k;
  }
  uint64_t tail = rem + (bad != UINT64_MAX ? (whole - bad) * stride : 0);
  if (tail) st->torn++, st->tail_bytes += tail;
out:
  if (fd >= 0) close(fd);
  return rc;
}

int inb__journal_read(const char *dir, const uint8_t id[32], const char *id_text, size_t record_size,
                      int (*each)(const void *rec, void *ctx), void *ctx, inb__journal_stats *st) {
  inb__journal_stats s = {0};
  if (st) *st = s;
  if (!dir || !*dir || !id || !each) return inb__err(INB_EINVAL, "inb__journal_read: dir, id or each is NULL");
  if (record_size < 1 || record_size > INB__JOURNAL_RECORD_MAX)
    return jerr(INB_EINVAL, dir, "record size %zu: expected 1 to %d bytes", record_size, INB__JOURNAL_RECORD_MAX);
  char **names = NULL, path[PATH_MAX];
  size_t n = 0;
  uint8_t *verdicts = NULL, *buf = NULL;
  int rc = list_segments(dir, &names, &n);
  if (rc || n == 0) goto out;
  const size_t stride = record_size + INB__JOURNAL_TRAILER;
  const size_t cap = stride >= READ_CHUNK ? stride : READ_CHUNK / stride * stride;
  if (!(verdicts = inb__malloc(n)) || !(buf = inb__malloc(cap))) {
    rc = jerr(INB_ENOMEM, dir, "out of memory for reading %zu segments", n);
    goto out;
  }
  /* Every header first: a journal of another job or format is refused before any record is passed on. */
  for (size_t i = 0; i < n; i++) {
    int v = SEG_OK;
    if ((rc = join(path, dir, names[i])) != 0 || (rc = check_header(path, id, id_text, record_size, &v)) != 0)
      goto out;
    verdicts[i] = (uint8_t)v;
  }
  for (size_t i = 0; i < n; i++) {
    if (verdicts[i] == SEG_IGNORED) {
      s.ignored++;
      continue;
    }
    s.segments++;
    if ((rc = join(path, dir, names[i])) != 0 || (rc = read_records(path, record_size, buf, cap, each, ctx, &s)) != 0)
      goto out;
  }
out:
  free_names(names, n);
  inb__free(verdicts);
  inb__free(buf);
  if (st) *st = s;
  return rc;
}

int inb__journal_discard(const char *dir) {
  if (!dir || !*dir) return inb__err(INB_EINVAL, "inb__journal_discard: dir is NULL or empty");
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return errno == ENOTDIR ? jerr(INB_EINVAL, dir, "not a folder") : sys_err(dir, "cannot read the folder", errno);
  }
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) rc = sys_err(dir, "cannot read the folder", errno);
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "lock") == 0) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
      char doing[PATH_MAX + 32];
      snprintf(doing, sizeof doing, "cannot remove '%s'", e->d_name);
      rc = sys_err(dir, doing, errno);
      break;
    }
  }
  closedir(d);
  if (rc) return rc;
  if (rmdir(dir) == 0) return sync_parent(dir);
  if (errno == ENOENT) return 0;
  if (errno != ENOTEMPTY && errno != EEXIST) return sys_err(dir, "cannot remove the folder", errno);
  return sync_dir(dir);   /* a lock keeps it: the removals still have to be durable */
}

/* ---- the lock ------------------------------------------------------------------------------------------------- */

/* Field 22 of /proc/PID/stat: the process's start time in clock ticks after boot; 0 when it cannot be read. */
/* The fields of /proc/PID/stat after the command (field 2, which may hold spaces and parentheses), into text;
 * NULL when there is no such process. */
static const char *proc_stat(pid_t pid, char *text, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t got = 0;
  int e = read_at(fd, text, cap - 1, 0, &got);
  close(fd);
  if (e) return NULL;
  text[got] = '\0';
  char *p = strrchr(text, ')');
  return p ? p + 1 : NULL;
}

/* Whether a process holds what its pid says: alive, and not a zombie (a rank killed with its launcher may wait
 * long for a parent to reap it, holding nothing). */
static bool pid_running(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  char text[1024];
  const char *p = proc_stat(pid, text, sizeof text);
  while (p && *p == ' ') p++;
  return !(p && *p == 'Z');
}

static unsigned long long proc_start(pid_t pid) {
  char text[1024];
  const char *p = proc_stat(pid, text, sizeof text);
  if (!p) return 0;
  for (int field = 3; field < 22; field++) {   /* skip fields 3 .. 21 */
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
  }
  return strtoull(p, NULL, 10);
}

/* The wall-clock time (Unix seconds) of a start time in ticks after boot; 0 when unknown. */
static long long wall_of(unsigned long long ticks) {
  long hz = sysconf(_SC_CLK_TCK);
  FILE *f = fopen("/proc/stat", "re");
  if (!f || hz <= 0) {
    if (f) fclose(f);
    return 0;
  }
  char line[256];
  long long btime = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %lld", &btime) == 1) break;
  fclose(f);
  return btime ? btime + (long long)(ticks / (unsigned long long)hz) : 0;
}

typedef struct {
  char host[256];
  long pid;
  unsigned long long start;
  long long wall;
} lock_info;

static int parse_lock(const char *text, lock_info *li) {
  memset(li, 0, sizeof *li);
  int k = sscanf(text, "%255s %ld %llu %lld", li->host, &li->pid, &li->start, &li->wall);
  return k >= 3 && li->pid > 0 ? 0 : -1;
}

/* "pid N on host H, started 2024-05-01 12:00:03" (the time when known). */
static void describe(const lock_info *li, char *out, size_t cap) {
  char when[64] = "";
  time_t t = (time_t)li->wall;
  struct tm tm;
  if (li->wall > 0 && localtime_r(&t, &tm)) strftime(when, sizeof when, ", started %Y-%m-%d %H:%M:%S", &tm);
  snprintf(out, cap, "pid %ld on host %s%s", li->pid, li->host, when);
}

/* Reads the file at path into text (NUL-terminated). Returns 0 or the errno. */
static int read_small(const char *path, char *text, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t got = 0;
  int e = read_at(fd, text, cap - 1, 0, &got);
  close(fd);
  text[e ? 0 : got] = '\0';
  return e;
}

/* Writes line to a new file at path and syncs it. Returns 0 or the errno (then no file is left). */
static int write_small(const char *path, const char *line, int flags) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) return errno;
  int e = write_at(fd, line, strlen(line), 0);
  if (!e && fsync(fd) != 0) e = errno;
  close(fd);
  if (e) unlink(path);
  return e;
}

/* Puts l's lock file in place: 0, EEXIST (a lock is there) or another errno. */
static int place_lock(inb__journal_lock_t *l, const char *tmp) {
  int e = write_small(tmp, l->line, O_TRUNC);
  if (e) return e;
  e = link(tmp, l->path) == 0 ? 0 : errno;
  unlink(tmp);
  if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS) e = write_small(l->path, l->line, O_EXCL);
  return e;
}

int inb__journal_lock(const char *dir, inb__journal_lock_t **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__journal_lock: out is NULL");
  *out = NULL;
  if (!dir || !*dir) return inb__err(INB_EINVAL, "inb__journal_lock: dir is NULL or empty");
  char host[256] = "", tmp[PATH_MAX], aside[PATH_MAX], name[300];
  int rc = 0;
  inb__journal_lock_t *l = inb__calloc(1, sizeof *l);
  if (!l) return jerr(INB_ENOMEM, dir, "out of memory");
  if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
  for (char *c = host; *c; c++)
    if (*c == ' ' || *c == '\t' || *c == '\n') *c = '_';
  pid_t me = getpid();
  unsigned long long start = proc_start(me);
  long long wall = start ? wall_of(start) : 0;
  snprintf(l->line, sizeof l->line, "%s %ld %llu %lld\n", host, (long)me, start, wall ? wall : (long long)time(NULL));
  snprintf(l->dir, sizeof l->dir, "%s", dir);
  snprintf(name, sizeof name, ".lock.%s.%ld", host, (long)me);
  if ((rc = join(l->path, dir, "lock")) != 0 || (rc = join(tmp, dir, name)) != 0) goto out;
  snprintf(name, sizeof name, ".lock.stale.%s.%ld", host, (long)me);
  if ((rc = join(aside, dir, name)) != 0 || (rc = make_dir(dir)) != 0) goto out;
  for (int attempt = 0; attempt < 20; attempt++) {
    int e = place_lock(l, tmp);
    if (e == 0) {
      rc = sync_dir(dir);
      goto out;
    }
    if (e != EEXIST) {
      rc = sys_err(l->path, "cannot create the lock", e);
      goto out;
    }
    char text[512], who[400];
    lock_info li;
    if ((e = read_small(l->path, text, sizeof text)) == ENOENT) continue;   /* gone meanwhile: try again */
    if (e) {
      rc = sys_err(l->path, "cannot read the lock", e);
      goto out;
    }
    if (parse_lock(text, &li) != 0) {
      rc = jerr(INB_EINVAL, dir,
                "its lock file '%s' cannot be understood (expected \"HOST PID START\"): if no run uses the folder, "
                "remove the lock file",
                l->path);
      goto out;
    }
    describe(&li, who, sizeof who);
    if (strcmp(li.host, host) != 0) {
      rc = jerr(INB_EINVAL, dir,
                "locked by another run (%s): from host %s it cannot be checked; if that run is gone, remove '%s'",
                who, host, l->path);
      goto out;
    }
    bool running = pid_running((pid_t)li.pid);
    unsigned long long now = running ? proc_start((pid_t)li.pid) : 0;
    bool reused = running && li.start && now && now != li.start;
    if (running && !reused) {
      rc = inb__err(INB_EINVAL,
                    "another run (%s) is using '%s': wait for it to end, or give this run an output of its own", who,
                    dir);
      goto out;
    }
    /* Stale. Set aside by a rename, which only one process can do, then checked: the lock set aside must be the
     * one found stale, not one that a faster run put in its place meanwhile. */
    if (rename(l->path, aside) != 0) {
      if (errno == ENOENT) continue;
      rc = sys_err(l->path, "cannot take over the stale lock", errno);
      goto out;
    }
    char again[512];
    if ((e = read_small(aside, again, sizeof again)) == 0 && strcmp(again, text) == 0) {
      unlink(aside);
      snprintf(l->stale, sizeof l->stale, "%s, is gone%s", who, reused ? " (its pid is another process's now)" : "");
      continue;
    }
    if (link(aside, l->path) != 0) {   /* another run's fresh lock: put it back */
      rc = jerr(INB_EINVAL, dir, "several runs are taking over its stale lock at once: run again");
      unlink(aside);
      goto out;
    }
    unlink(aside);
  }
  if (!rc) rc = jerr(INB_EINVAL, dir, "its lock changes hands too often to be taken: are several runs starting?");
out:
  if (rc) {
    inb__free(l);
    return rc;
  }
  *out = l;
  return 0;
}

const char *inb__journal_lock_stale(const inb__journal_lock_t *l) { return l && l->stale[0] ? l->stale : NULL; }

void inb__journal_unlock(inb__journal_lock_t **l) {
  if (!l || !*l) return;
  char text[512];
  if (read_small((*l)->path, text, sizeof text) == 0 && strcmp(text, (*l)->line) == 0) unlink((*l)->path);
  rmdir((*l)->dir);   /* only when empty: the segments of an unfinished run stay */
  inb__free(*l);
  *l = NULL;
}
