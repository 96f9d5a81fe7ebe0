/* Unit tests of the journal (src/jobs/journal.h): records of several writers and of a resumed run come back once
 * each; a write cut at any byte of the last record, or a last record with any bit flipped, is dropped and counted,
 * never misread; damage followed by valid records, another job's segment, another record size or format, a file
 * that is no segment are refused with messages that name the file and say what to do; a header cut short is
 * ignored; a missing folder is an empty journal; discard; a failed append leaves the segment usable; the lock (held,
 * stale, a reused pid, another host, unreadable); four threads appending at once; and out of memory at every
 * allocation. Real files throughout, in a temporary folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch/core.h>

#include "core/alloc.h"
#include "jobs/journal.h"
#include "oom_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char g_dir[] = "/tmp/test_journal.XXXXXX"; /* the tests' journals; removed by main */

static const uint8_t ID_A[32] = {0xA0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17,   18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const uint8_t ID_B[32] = {0xB0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17,   18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const char TEXT_A[] = "job /work/a.yaml, input /work/tasks.txt (1234 bytes, 2024-05-01 12:00:00), inbatch 0.1.0";
static const char TEXT_B[] = "job /work/b.yaml, input /work/other.txt (99 bytes, 2024-04-30 08:00:00), inbatch 0.1.0";

/* What a caller journals: 24 bytes. */
typedef struct {
  uint32_t writer, index;
  uint8_t text[16];
} rec_t;

enum { RS = sizeof(rec_t), STRIDE = RS + INB__JOURNAL_TRAILER, HDR = INB__JOURNAL_HEADER };

static rec_t rec(uint32_t writer, uint32_t index) {
  rec_t r = {writer, index, {0}};
  for (int k = 0; k < 16; k++) r.text[k] = (uint8_t)(writer * 31 + index * 7 + (uint32_t)k);
  return r;
}

/* A path under g_dir; the buffer is reused 64 calls later (a test makes far fewer). */
static const char *in_dir(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *in_dir(const char *fmt, ...) {
  static char bufs[64][600];
  static int next;
  char *p = bufs[next++ % 64], name[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  snprintf(p, sizeof bufs[0], "%s/%s", g_dir, name);
  return p;
}

/* Removes a journal folder of the tests and what it holds (files only). */
static void rm_journal(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  rmdir(dir);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static inb__journal *open_ok(const char *dir, const char *writer, const uint8_t *id, const char *text) {
  inb__journal *j = NULL;
  if (inb__journal_open(dir, writer, id, text, RS, &j)) fail_msg("open '%s' '%s': %s", dir, writer, inb_errmsg());
  return j;
}

/* Appends records index first .. first+n-1 of writer w. */
static void append_ok(inb__journal *j, uint32_t w, uint32_t first, size_t n) {
  rec_t rs[64];
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++) rs[i] = rec(w, first + (uint32_t)i);
  if (inb__journal_append(j, rs, n)) fail_msg("append: %s", inb_errmsg());
}

/* A journal dir with one segment `name` of writer w holding n records, closed. */
static void segment_of(const char *dir, const char *name, uint32_t w, size_t n) {
  inb__journal *j = open_ok(dir, name, ID_A, TEXT_A);
  if (n) append_ok(j, w, 0, n);
  inb__journal_close(&j);
  assert_null(j);
}

/* What reading passed on. */
typedef struct {
  rec_t v[4096];
  size_t n;
  size_t stop_after;   /* returns 7 at this many records; 0: never */
} seen_t;

static int collect(const void *r, void *ctx) {
  seen_t *s = ctx;
  if (s->n >= sizeof s->v / sizeof *s->v) return 99;
  memcpy(&s->v[s->n++], r, sizeof(rec_t));
  return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static int read_into(const char *dir, seen_t *s, inb__journal_stats *st) {
  memset(s, 0, sizeof *s);
  return inb__journal_read(dir, ID_A, TEXT_A, RS, collect, s, st);
}

static void expect_rec(const seen_t *s, size_t at, uint32_t w, uint32_t index) {
  rec_t want = rec(w, index);
  if (memcmp(&s->v[at], &want, sizeof want) != 0)
    fail_msg("record %zu: writer %u index %u, expected writer %u index %u", at, s->v[at].writer, s->v[at].index, w,
             index);
}

/* ---- files changed by hand --------------------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[8192];
  for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static void flip_bit(const char *path, long off, int bit) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  b ^= (uint8_t)(1u << bit);
  assert_int_equal(pwrite(fd, &b, 1, off), 1);
  close(fd);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* inb_errmsg() is exactly "journal 'PATH': " + rest. */
static void expect_msg(const char *path, const char *rest) {
  char want[2048];
  snprintf(want, sizeof want, "journal '%s': %s", path, rest);
  assert_string_equal(inb_errmsg(), want);
}

/* ---- writing and reading ----------------------------------------------------------------------------------------- */

static void test_records_of_two_writers_come_back_once_each_by_segment_in_order(void **state) {
  (void)state;
  const char *dir = in_dir("two.journal");
  inb__journal *w1 = open_ok(dir, "host-12-rank1", ID_A, TEXT_A), *w0 = open_ok(dir, "host-11-rank0", ID_A, TEXT_A);
  append_ok(w1, 1, 0, 1);
  append_ok(w0, 0, 0, 3);
  append_ok(w1, 1, 1, 2);
  append_ok(w0, 0, 3, 1);
  append_ok(w1, 1, 3, 5);
  assert_int_equal(inb__journal_append(w0, NULL, 0), 0);   /* nothing to append: nothing done */
  assert_string_equal(inb__journal_path(w0), in_dir("two.journal/host-11-rank0"));
  inb__journal_close(&w0);
  inb__journal_close(&w1);
  inb__journal_close(&w1);   /* NULL-safe */
  inb__journal_close(NULL);
  assert_int_equal(file_size(in_dir("two.journal/host-11-rank0")), HDR + 4 * STRIDE);

  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  assert_int_equal(s.n, 12);
  for (uint32_t i = 0; i < 4; i++) expect_rec(&s, i, 0, i);        /* "host-11-rank0" sorts first */
  for (uint32_t i = 0; i < 8; i++) expect_rec(&s, 4 + i, 1, i);
  assert_int_equal(st.segments, 2);
  assert_int_equal(st.records, 12);
  assert_int_equal(st.torn, 0);
  assert_int_equal(st.tail_bytes, 0);
  assert_int_equal(st.ignored, 0);
  rm_journal(dir);
}

static void test_a_resumed_run_with_other_writers_reads_every_segment(void **state) {
  (void)state;
  const char *dir = in_dir("resume.journal");
  char name[64];
  for (uint32_t r = 0; r < 4; r++) {   /* the first run: 4 ranks, killed after some records */
    snprintf(name, sizeof name, "n1-100-rank%u", r);
    inb__journal *j = open_ok(dir, name, ID_A, TEXT_A);
    append_ok(j, r, 0, r + 1);
    inb__journal_close(&j);
  }
  for (uint32_t r = 0; r < 2; r++) {   /* the resumed run: 2 ranks, new writer names */
    snprintf(name, sizeof name, "n2-200-rank%u", r);
    inb__journal *j = open_ok(dir, name, ID_A, TEXT_A);
    append_ok(j, 10 + r, 0, 3);
    inb__journal_close(&j);
  }
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  assert_int_equal(s.n, 1 + 2 + 3 + 4 + 3 + 3);
  assert_int_equal(st.segments, 6);
  int count[12][4] = {{0}};
  for (size_t i = 0; i < s.n; i++) {
    assert_true(s.v[i].writer < 12 && s.v[i].index < 4);
    expect_rec(&s, i, s.v[i].writer, s.v[i].index);
    count[s.v[i].writer][s.v[i].index]++;
  }
  for (uint32_t r = 0; r < 4; r++)
    for (uint32_t i = 0; i <= r; i++) assert_int_equal(count[r][i], 1);
  for (uint32_t r = 10; r < 12; r++)
    for (uint32_t i = 0; i < 3; i++) assert_int_equal(count[r][i], 1);
  rm_journal(dir);
}

static void test_each_stops_the_reading_with_its_code(void **state) {
  (void)state;
  const char *dir = in_dir("stop.journal");
  segment_of(dir, "w", 0, 5);
  seen_t s;
  memset(&s, 0, sizeof s);
  s.stop_after = 3;
  inb__journal_stats st;
  assert_int_equal(inb__journal_read(dir, ID_A, TEXT_A, RS, collect, &s, &st), 7);
  assert_int_equal(s.n, 3);
  assert_int_equal(st.records, 3);
  rm_journal(dir);
}

static void test_a_missing_folder_is_an_empty_journal(void **state) {
  (void)state;
  seen_t s;
  inb__journal_stats st;
  memset(&st, 0xff, sizeof st);
  assert_int_equal(read_into(in_dir("never.journal"), &s, &st), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(st.segments, 0);
  assert_int_equal(st.records, 0);
  assert_int_equal(st.ignored, 0);
  assert_int_equal(inb__journal_discard(in_dir("never.journal")), 0);
  assert_false(exists(in_dir("never.journal")));
}

static void test_open_refuses_a_writer_that_exists_and_bad_arguments(void **state) {
  (void)state;
  const char *dir = in_dir("names.journal");
  segment_of(dir, "rank0", 0, 2);
  inb__journal *j = (inb__journal *)&j;
  assert_int_equal(inb__journal_open(dir, "rank0", ID_A, TEXT_A, RS, &j), INB_EINVAL);
  assert_null(j);
  expect_msg(in_dir("names.journal/rank0"),
             "exists already: each writer needs a name of its own, never used before in this journal (another "
             "process of this run has it, or a process of an earlier one had it)");
  assert_int_equal(file_size(in_dir("names.journal/rank0")), HDR + 2 * STRIDE);   /* untouched */
  const char *bad[] = {"", ".hidden", "lock", "a/b", "a b", NULL};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(inb__journal_open(dir, bad[i], ID_A, TEXT_A, RS, &j), INB_EINVAL);
    assert_null(j);
  }
  char want[256];
  snprintf(want, sizeof want,
           "writer name 'a/b': expected 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.', and not 'lock'",
           INB__JOURNAL_WRITER_MAX);
  assert_int_equal(inb__journal_open(dir, "a/b", ID_A, TEXT_A, RS, &j), INB_EINVAL);
  expect_msg(dir, want);
  assert_int_equal(inb__journal_open(dir, "w", ID_A, TEXT_A, 0, &j), INB_EINVAL);
  assert_int_equal(inb__journal_open(in_dir("no/such/parent.journal"), "w", ID_A, TEXT_A, RS, &j), INB_EIO);
  assert_null(j);
  expect_msg(in_dir("no/such/parent.journal"), "cannot create the folder: No such file or directory");
  rm_journal(dir);
}

/* A description longer than the header holds is cut at a character boundary, and the segment is still read. */
static void test_a_long_description_is_cut_and_quoted_in_messages(void **state) {
  (void)state;
  const char *dir = in_dir("long.journal");
  static char text[5000];
  memset(text, 'x', sizeof text - 1);
  memcpy(text + INB__JOURNAL_TEXT_MAX - 1, "\xC3\xA9", 2);   /* é across the limit: cut before it */
  inb__journal *j = open_ok(dir, "w", ID_B, text);
  append_ok(j, 0, 0, 1);
  inb__journal_close(&j);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  assert_int_equal(s.n, 0);
  const char *m = inb_errmsg();
  assert_non_null(strstr(m, "written by another job (xxx"));
  uint8_t len[4];
  int fd = open(in_dir("long.journal/w"), O_RDONLY);
  assert_int_equal(pread(fd, len, 4, 56), 4);   /* the description's length in the header */
  close(fd);
  assert_int_equal(len[0] | len[1] << 8 | len[2] << 16 | len[3] << 24, INB__JOURNAL_TEXT_MAX - 1);
  rm_journal(dir);
}

/* ---- torn tails -------------------------------------------------------------------------------------------------- */

/* A segment of n records cut at every byte into its last record: the records before it come back exactly, the cut
 * bytes are counted, nothing else is passed on. */
static void cut_at_every_byte(size_t n) {
  const char *src = in_dir("src.journal"), *dir = in_dir("cut.journal");
  segment_of(src, "w", 3, n);
  char from[600], to[600];
  snprintf(from, sizeof from, "%s/w", src);
  snprintf(to, sizeof to, "%s/w", dir);
  assert_int_equal(mkdir(dir, 0777), 0);
  for (long off = 0; off < STRIDE; off++) {
    copy_file(from, to);
    assert_int_equal(truncate(to, HDR + (long)(n - 1) * STRIDE + off), 0);
    seen_t s;
    inb__journal_stats st;
    if (read_into(dir, &s, &st)) fail_msg("cut at byte %ld of the last record: %s", off, inb_errmsg());
    assert_int_equal(s.n, n - 1);
    for (size_t i = 0; i + 1 < n; i++) expect_rec(&s, i, 3, (uint32_t)i);
    assert_int_equal(st.records, n - 1);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.torn, off > 0);
    assert_int_equal(st.tail_bytes, off);
  }
  rm_journal(dir);
  rm_journal(src);
}

static void test_a_last_record_cut_at_any_byte_is_dropped_and_counted(void **state) {
  (void)state;
  cut_at_every_byte(5);
  cut_at_every_byte(1);   /* the only record */
}

static void test_a_bit_flipped_anywhere_in_the_last_record_drops_it(void **state) {
  (void)state;
  const char *src = in_dir("src.journal"), *dir = in_dir("flip.journal");
  segment_of(src, "w", 4, 5);
  char from[600], to[600];
  snprintf(from, sizeof from, "%s/w", src);
  snprintf(to, sizeof to, "%s/w", dir);
  assert_int_equal(mkdir(dir, 0777), 0);
  for (long off = 0; off < STRIDE; off++) {
    copy_file(from, to);
    flip_bit(to, HDR + 4 * STRIDE + off, (int)(off % 8));
    seen_t s;
    inb__journal_stats st;
    if (read_into(dir, &s, &st)) fail_msg("bit flipped at byte %ld of the last record: %s", off, inb_errmsg());
    assert_int_equal(s.n, 4);
    for (uint32_t i = 0; i < 4; i++) expect_rec(&s, i, 4, i);
    assert_int_equal(st.torn, 1);
    assert_int_equal(st.tail_bytes, STRIDE);
  }
  rm_journal(dir);
  rm_journal(src);
}

/* A node lost before the sync: the file's size was kept, its last records' bytes not (zeros). */
static void test_a_tail_of_zeroed_records_is_dropped(void **state) {
  (void)state;
  const char *dir = in_dir("zeros.journal");
  segment_of(dir, "w", 0, 6);
  const char *path = in_dir("zeros.journal/w");
  int fd = open(path, O_WRONLY);
  static const uint8_t zeros[3 * STRIDE - 5];
  assert_int_equal(pwrite(fd, zeros, sizeof zeros, HDR + 3 * STRIDE), (ssize_t)sizeof zeros);
  close(fd);
  assert_int_equal(truncate(path, HDR + 6 * STRIDE - 5), 0);   /* and the very end cut */
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  assert_int_equal(s.n, 3);
  assert_int_equal(st.torn, 1);
  assert_int_equal(st.tail_bytes, 3 * STRIDE - 5);
  rm_journal(dir);
}

static void test_a_damaged_record_followed_by_valid_ones_is_refused_naming_the_file(void **state) {
  (void)state;
  const char *dir = in_dir("middle.journal");
  segment_of(dir, "host-7-rank2", 0, 5);
  const char *path = in_dir("middle.journal/host-7-rank2");
  flip_bit(path, HDR + 2 * STRIDE + 5, 3);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  char rest[512];
  snprintf(rest, sizeof rest,
           "record 2 (at byte %d) is damaged (checksum mismatch), yet valid records follow it: not a write cut short "
           "but damage (the file was changed, or the storage fails); run with --restart to discard the journal",
           HDR + 2 * STRIDE);
  expect_msg(path, rest);
  rm_journal(dir);
}

/* A whole valid record out of place (copied over another): its sequence number gives it away. */
static void test_a_record_out_of_place_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("seq.journal");
  segment_of(dir, "w", 0, 4);
  const char *path = in_dir("seq.journal/w");
  int fd = open(path, O_RDWR);
  uint8_t r0[STRIDE];
  assert_int_equal(pread(fd, r0, STRIDE, HDR), STRIDE);
  assert_int_equal(pwrite(fd, r0, STRIDE, HDR + STRIDE), STRIDE);
  close(fd);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  assert_non_null(strstr(inb_errmsg(), "record 1 (at byte 4132) is damaged (a wrong sequence number)"));
  rm_journal(dir);
}

/* ---- headers ----------------------------------------------------------------------------------------------------- */

static void test_a_segment_of_another_job_is_refused_with_both_descriptions(void **state) {
  (void)state;
  const char *dir = in_dir("foreign.journal");
  segment_of(dir, "a-ours", 0, 3);   /* sorts first: still nothing is passed on */
  inb__journal *j = open_ok(dir, "b-theirs", ID_B, TEXT_B);
  append_ok(j, 1, 0, 2);
  inb__journal_close(&j);
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), INB_EINVAL);
  assert_int_equal(s.n, 0);
  char rest[1024];
  snprintf(rest, sizeof rest,
           "written by another job (%s; this run: %s): run with --restart to discard it, or point the job at its own "
           "output",
           TEXT_B, TEXT_A);
  expect_msg(in_dir("foreign.journal/b-theirs"), rest);
  rm_journal(dir);
}

static void test_another_record_size_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("size.journal");
  inb__journal *j = NULL;
  assert_int_equal(inb__journal_open(dir, "w", ID_A, TEXT_A, RS + 8, &j), 0);
  uint8_t r[RS + 8] = {0};
  assert_int_equal(inb__journal_append(j, r, 1), 0);
  inb__journal_close(&j);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  char rest[1024];
  snprintf(rest, sizeof rest,
           "records of %d bytes, but this run's are %d bytes (written by: %s; this run: %s): another version of "
           "inbatch wrote it; run with --restart to discard the journal",
           RS + 8, RS, TEXT_A, TEXT_A);
  expect_msg(in_dir("size.journal/w"), rest);
  rm_journal(dir);
}

static void test_a_file_without_the_magic_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("magic.journal");
  segment_of(dir, "w", 0, 2);
  flip_bit(in_dir("magic.journal/w"), 3, 0);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  expect_msg(in_dir("magic.journal/w"), "not a journal segment (it does not start with \"INBJRNL1\"): remove it, or "
                                        "run with --restart to discard the journal");
  rm_journal(dir);
  segment_of(dir, "w", 0, 2);
  write_text(in_dir("magic.journal/notes.txt"), "my notes\n");   /* short: not a header cut short either */
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  expect_msg(in_dir("magic.journal/notes.txt"), "not a journal segment (it does not start with \"INBJRNL1\"): remove "
                                                "it, or run with --restart to discard the journal");
  rm_journal(dir);
}

/* A header of another format version, its checksum right, is refused as such. */
static void test_another_format_version_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("version.journal");
  segment_of(dir, "w", 0, 1);
  const char *path = in_dir("version.journal/w");
  int fd = open(path, O_RDWR);
  uint8_t h[HDR];
  assert_int_equal(pread(fd, h, HDR, 0), HDR);
  h[8] = 2;
  uint32_t c = (uint32_t)crc32(0L, h, HDR - 4);
  for (int i = 0; i < 4; i++) h[HDR - 4 + i] = (uint8_t)(c >> (8 * i));
  assert_int_equal(pwrite(fd, h, HDR, 0), HDR);
  close(fd);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  expect_msg(path, "format version 2, but this inbatch reads version 1 (written by another version of inbatch, or "
                   "damaged): resume with the inbatch that wrote it, or run with --restart to discard the journal");
  rm_journal(dir);
}

static void test_a_damaged_header_of_a_segment_with_records_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("header.journal");
  segment_of(dir, "w", 0, 2);
  flip_bit(in_dir("header.journal/w"), 330, 1);   /* inside the description */
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  char rest[512];
  snprintf(rest, sizeof rest,
           "its header is damaged (checksum mismatch) and it holds %d bytes of records: the file was changed or the "
           "storage fails; run with --restart to discard the journal",
           2 * STRIDE);
  expect_msg(in_dir("header.journal/w"), rest);
  rm_journal(dir);
}

/* The writer died while opening its segment: no record can follow, the segment held nothing. */
static void test_a_segment_whose_header_was_cut_short_or_unwritten_is_ignored(void **state) {
  (void)state;
  const char *dir = in_dir("short.journal");
  segment_of(dir, "a", 0, 3);
  segment_of(dir, "b", 1, 0);
  assert_int_equal(truncate(in_dir("short.journal/b"), 100), 0);
  write_text(in_dir("short.journal/c"), "");                        /* created, nothing written */
  segment_of(dir, "d", 2, 0);
  flip_bit(in_dir("short.journal/d"), 200, 4);                      /* whole size, torn (not synced) */
  int fd = open(in_dir("short.journal/e"), O_WRONLY | O_CREAT, 0644);
  assert_int_equal(ftruncate(fd, HDR), 0);                          /* whole size, zeros */
  close(fd);
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  assert_int_equal(s.n, 3);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.ignored, 4);
  assert_int_equal(st.torn, 0);
  rm_journal(dir);
}

static void test_an_entry_that_is_not_a_file_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("sub.journal");
  segment_of(dir, "w", 0, 1);
  assert_int_equal(mkdir(in_dir("sub.journal/folder"), 0777), 0);
  seen_t s;
  assert_int_equal(read_into(dir, &s, NULL), INB_EINVAL);
  expect_msg(in_dir("sub.journal/folder"), "not a segment file (a folder or a special file): remove it");
  rmdir(in_dir("sub.journal/folder"));
  rm_journal(dir);
}

/* ---- discard ----------------------------------------------------------------------------------------------------- */

static void test_discard_removes_the_segments_and_the_folder(void **state) {
  (void)state;
  const char *dir = in_dir("discard.journal");
  segment_of(dir, "a", 0, 2);
  segment_of(dir, "b", 0, 2);
  assert_int_equal(inb__journal_discard(dir), 0);
  assert_false(exists(dir));

  /* Under a lock (--restart): the segments go, the lock and its folder stay until the unlock. */
  inb__journal_lock_t *l = NULL;
  assert_int_equal(inb__journal_lock(dir, &l), 0);
  segment_of(dir, "c", 0, 2);
  assert_int_equal(inb__journal_discard(dir), 0);
  assert_false(exists(in_dir("discard.journal/c")));
  assert_true(exists(in_dir("discard.journal/lock")));
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);   /* the lock is no segment */
  assert_int_equal(st.segments + st.ignored, 0);
  inb__journal_unlock(&l);
  assert_null(l);
  assert_false(exists(dir));
}

/* ---- a failed append --------------------------------------------------------------------------------------------- */

/* A write refused part way (the file size limit: as a full disk would) is cut back: the segment holds what it
 * held, and the journal records the next batch that fits. */
static void test_a_failed_append_leaves_the_segment_as_it_was(void **state) {
  (void)state;
  const char *dir = in_dir("full.journal");
  inb__journal *j = open_ok(dir, "w", ID_A, TEXT_A);
  append_ok(j, 0, 0, 2);
  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {HDR + 3 * STRIDE + STRIDE / 2, old.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  rec_t two[2] = {rec(0, 2), rec(0, 3)};
  int rc = inb__journal_append(j, two, 2);
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", inb_errmsg());
  int rc2 = inb__journal_append(j, two, 1);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, was);
  assert_int_equal(rc, INB_EIO);
  char want[1024];
  snprintf(want, sizeof want, "journal '%s': cannot write the records: File too large", in_dir("full.journal/w"));
  assert_string_equal(msg, want);
  assert_int_equal(rc2, 0);
  append_ok(j, 0, 3, 1);
  inb__journal_close(&j);
  seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  assert_int_equal(s.n, 4);
  for (uint32_t i = 0; i < 4; i++) expect_rec(&s, i, 0, i);
  assert_int_equal(st.torn, 0);
  rm_journal(dir);
}

/* ---- the lock ---------------------------------------------------------------------------------------------------- */

static const char *hostname(void) {
  static char h[256];
  gethostname(h, sizeof h - 1);
  return h;
}

static void test_a_second_lock_is_refused_while_the_first_is_held(void **state) {
  (void)state;
  const char *dir = in_dir("lock.journal");
  inb__journal_lock_t *l = NULL, *l2 = (inb__journal_lock_t *)&l2;
  assert_int_equal(inb__journal_lock(dir, &l), 0);
  assert_null(inb__journal_lock_stale(l));
  char *text = slurp(in_dir("lock.journal/lock"));
  char head[300];
  snprintf(head, sizeof head, "%s %d ", hostname(), (int)getpid());
  assert_true(text && strncmp(text, head, strlen(head)) == 0);

  assert_int_equal(inb__journal_lock(dir, &l2), INB_EINVAL);
  assert_null(l2);
  const char *m = inb_errmsg();
  char want[600];
  snprintf(want, sizeof want, "another run (pid %d on host %s, started ", (int)getpid(), hostname());
  assert_true(strncmp(m, want, strlen(want)) == 0);
  snprintf(want, sizeof want, ") is using '%s': wait for it to end, or give this run an output of its own", dir);
  assert_non_null(strstr(m, want));

  inb__journal_unlock(&l);
  assert_null(l);
  inb__journal_unlock(&l);   /* NULL-safe */
  assert_false(exists(dir));
  assert_int_equal(inb__journal_lock(dir, &l), 0);   /* free again */
  inb__journal_unlock(&l);
}

static void test_a_stale_lock_of_a_process_that_is_gone_is_taken_over(void **state) {
  (void)state;
  const char *dir = in_dir("stale.journal");
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) _exit(0);
  assert_int_equal(waitpid(child, NULL, 0), child);   /* its pid names no process now */
  assert_int_equal(mkdir(dir, 0777), 0);
  char line[400];
  snprintf(line, sizeof line, "%s %d 12345 0\n", hostname(), (int)child);
  write_text(in_dir("stale.journal/lock"), line);
  inb__journal_lock_t *l = NULL;
  assert_int_equal(inb__journal_lock(dir, &l), 0);
  char want[400];
  snprintf(want, sizeof want, "pid %d on host %s, is gone", (int)child, hostname());
  assert_string_equal(inb__journal_lock_stale(l), want);
  char head[300];
  snprintf(head, sizeof head, "%s %d ", hostname(), (int)getpid());
  char *text = slurp(in_dir("stale.journal/lock"));
  assert_true(text && strncmp(text, head, strlen(head)) == 0);   /* ours now */
  inb__journal_unlock(&l);
  assert_false(exists(dir));
}

/* The lock's pid runs, but it is another process than the one that took the lock: it started at another time. */
static void test_a_lock_of_a_reused_pid_is_taken_over(void **state) {
  (void)state;
  const char *dir = in_dir("reused.journal");
  assert_int_equal(mkdir(dir, 0777), 0);
  char line[400];
  snprintf(line, sizeof line, "%s %d 1 1714564803\n", hostname(), (int)getpid());   /* started at tick 1: not us */
  write_text(in_dir("reused.journal/lock"), line);
  inb__journal_lock_t *l = NULL;
  assert_int_equal(inb__journal_lock(dir, &l), 0);
  const char *stale = inb__journal_lock_stale(l);
  assert_non_null(stale);
  assert_non_null(strstr(stale, ", is gone (its pid is another process's now)"));
  inb__journal_unlock(&l);
}

static void test_a_lock_from_another_host_is_refused_saying_how_to_remove_it(void **state) {
  (void)state;
  const char *dir = in_dir("remote.journal");
  assert_int_equal(mkdir(dir, 0777), 0);
  write_text(in_dir("remote.journal/lock"), "node-elsewhere-17 4242 99 0\n");
  inb__journal_lock_t *l = (inb__journal_lock_t *)&l;
  assert_int_equal(inb__journal_lock(dir, &l), INB_EINVAL);
  assert_null(l);
  char rest[1024];
  snprintf(rest, sizeof rest,
           "locked by another run (pid 4242 on host node-elsewhere-17): from host %s it cannot be checked; if that "
           "run is gone, remove '%s/lock'",
           hostname(), dir);
  expect_msg(dir, rest);
  assert_string_equal(slurp(in_dir("remote.journal/lock")), "node-elsewhere-17 4242 99 0\n");   /* left alone */
  rm_journal(dir);
}

static void test_a_lock_file_that_cannot_be_understood_is_refused(void **state) {
  (void)state;
  const char *dir = in_dir("garbled.journal");
  assert_int_equal(mkdir(dir, 0777), 0);
  write_text(in_dir("garbled.journal/lock"), "hello\n");
  inb__journal_lock_t *l = NULL;
  assert_int_equal(inb__journal_lock(dir, &l), INB_EINVAL);
  char rest[1024];
  snprintf(rest, sizeof rest,
           "its lock file '%s/lock' cannot be understood (expected \"HOST PID START\"): if no run uses the folder, "
           "remove the lock file",
           dir);
  expect_msg(dir, rest);
  rm_journal(dir);
}

/* ---- threads ----------------------------------------------------------------------------------------------------- */

enum { THREADS = 4, BATCHES = 200 };

typedef struct {
  inb__journal *j;
  uint32_t t;
  int rc;
} appender;

static void *append_batches(void *arg) {
  appender *a = arg;
  uint32_t next = 0;
  for (int b = 0; b < BATCHES && !a->rc; b++) {
    rec_t rs[4];
    size_t n = (size_t)(b % 4) + 1;
    for (size_t i = 0; i < n; i++) rs[i] = rec(a->t, next++);
    a->rc = inb__journal_append(a->j, rs, n);
  }
  return NULL;
}

static void test_four_threads_appending_to_one_journal_record_everything_once(void **state) {
  (void)state;
  const char *dir = in_dir("threads.journal");
  inb__journal *j = open_ok(dir, "w", ID_A, TEXT_A);
  pthread_t th[THREADS];
  appender a[THREADS];
  for (uint32_t t = 0; t < THREADS; t++) {
    a[t] = (appender){j, t, 0};
    assert_int_equal(pthread_create(&th[t], NULL, append_batches, &a[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(a[t].rc, 0);
  }
  inb__journal_close(&j);
  static seen_t s;
  inb__journal_stats st;
  assert_int_equal(read_into(dir, &s, &st), 0);
  const uint32_t per = BATCHES / 4 * (1 + 2 + 3 + 4);   /* records per thread */
  assert_int_equal(s.n, THREADS * per);
  assert_int_equal(st.torn, 0);
  static int count[THREADS][BATCHES / 4 * 10];
  memset(count, 0, sizeof count);
  uint32_t last[THREADS] = {0};
  bool any[THREADS] = {false};
  for (size_t i = 0; i < s.n; i++) {
    rec_t r = s.v[i];
    assert_true(r.writer < THREADS && r.index < per);
    expect_rec(&s, i, r.writer, r.index);
    count[r.writer][r.index]++;
    if (any[r.writer]) assert_true(r.index > last[r.writer]);   /* each thread's records in its order */
    any[r.writer] = true, last[r.writer] = r.index;
  }
  for (int t = 0; t < THREADS; t++)
    for (uint32_t i = 0; i < per; i++) assert_int_equal(count[t][i], 1);
  rm_journal(dir);
}

/* ---- out of memory ----------------------------------------------------------------------------------------------- */

/* Everything that allocates: a lock, two writers, appends, a read, a discard. Cleans up after itself whatever
 * fails. */
static int journal_all(void *ctx) {
  const char *dir = ctx;
  inb__journal *a = NULL, *b = NULL;
  inb__journal_lock_t *l = NULL;
  rm_journal(dir);
  int rc = inb__journal_lock(dir, &l);
  if (!rc) rc = inb__journal_open(dir, "a", ID_A, TEXT_A, RS, &a);
  if (!rc) rc = inb__journal_open(dir, "b", ID_A, TEXT_A, RS, &b);
  rec_t rs[3] = {rec(0, 0), rec(0, 1), rec(0, 2)};
  if (!rc) rc = inb__journal_append(a, rs, 3);
  if (!rc) rc = inb__journal_append(b, rs, 1);
  inb__journal_close(&a);
  inb__journal_close(&b);
  seen_t *s = calloc(1, sizeof *s);
  if (!rc) rc = inb__journal_read(dir, ID_A, TEXT_A, RS, collect, s, NULL);
  if (!rc && s->n != 4) rc = INB_EINVAL;
  free(s);
  if (!rc) rc = inb__journal_discard(dir);
  inb__journal_unlock(&l);
  rm_journal(dir);
  return rc;
}

static void test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated(void **state) {
  (void)state;
  static const char *const files[] = {"src/jobs/journal.c:"};
  char dir[600];
  snprintf(dir, sizeof dir, "%s", in_dir("oom.journal"));
  assert_true(inb_test_oom_walk(journal_all, dir, files, 1) >= 7);   /* open, append, read (4), lock */
  assert_false(exists(dir));
}

int main(void) {
  inb__fault_enable(); /* before any allocation, so that the out-of-memory test can count them */
  if (!mkdtemp(g_dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_records_of_two_writers_come_back_once_each_by_segment_in_order),
      cmocka_unit_test(test_a_resumed_run_with_other_writers_reads_every_segment),
      cmocka_unit_test(test_each_stops_the_reading_with_its_code),
      cmocka_unit_test(test_a_missing_folder_is_an_empty_journal),
      cmocka_unit_test(test_open_refuses_a_writer_that_exists_and_bad_arguments),
      cmocka_unit_test(test_a_long_description_is_cut_and_quoted_in_messages),
      cmocka_unit_test(test_a_last_record_cut_at_any_byte_is_dropped_and_counted),
      cmocka_unit_test(test_a_bit_flipped_anywhere_in_the_last_record_drops_it),
      cmocka_unit_test(test_a_tail_of_zeroed_records_is_dropped),
      cmocka_unit_test(test_a_damaged_record_followed_by_valid_ones_is_refused_naming_the_file),
      cmocka_unit_test(test_a_record_out_of_place_is_refused),
      cmocka_unit_test(test_a_segment_of_another_job_is_refused_with_both_descriptions),
      cmocka_unit_test(test_another_record_size_is_refused),
      cmocka_unit_test(test_a_file_without_the_magic_is_refused),
      cmocka_unit_test(test_another_format_version_is_refused),
      cmocka_unit_test(test_a_damaged_header_of_a_segment_with_records_is_refused),
      cmocka_unit_test(test_a_segment_whose_header_was_cut_short_or_unwritten_is_ignored),
      cmocka_unit_test(test_an_entry_that_is_not_a_file_is_refused),
      cmocka_unit_test(test_discard_removes_the_segments_and_the_folder),
      cmocka_unit_test(test_a_failed_append_leaves_the_segment_as_it_was),
      cmocka_unit_test(test_a_second_lock_is_refused_while_the_first_is_held),
      cmocka_unit_test(test_a_stale_lock_of_a_process_that_is_gone_is_taken_over),
      cmocka_unit_test(test_a_lock_of_a_reused_pid_is_taken_over),
      cmocka_unit_test(test_a_lock_from_another_host_is_refused_saying_how_to_remove_it),
      cmocka_unit_test(test_a_lock_file_that_cannot_be_understood_is_refused),
      cmocka_unit_test(test_four_threads_appending_to_one_journal_record_everything_once),
      cmocka_unit_test(test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  rm_journal(g_dir);   /* every test removes its journals; what a failed one left goes with the folder */
  DIR *d = opendir(g_dir);
  if (d) {
    for (struct dirent *e; (e = readdir(d)) != NULL;)
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) rm_journal(in_dir("%s", e->d_name));
    closedir(d);
  }
  rmdir(g_dir);
  return failed;
}
