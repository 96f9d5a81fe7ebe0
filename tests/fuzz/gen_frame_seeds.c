/* Writes the seed corpus of the framing fuzzer (fuzz_frames.c): first pieces a sender makes (empty, small,
 * header-only announcing pieces) and ones a receiver must refuse (each broken in one way, named bad_*), so that
 * mutation starts from both sides of every check. Either way, each seed must parse as its name says.
 *   gen_frame_seeds DIR          (re)writes DIR/<name>.bin
 *   gen_frame_seeds --check DIR  fails unless DIR holds exactly these bytes (ctest fuzz.frame_seeds: a change of
 *                                the framing must come with new seeds) */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <inbatch.h>

#include "mpi/msg.h"

enum { MAX_SEED = 256 };

typedef struct {
  const char *name;
  uint64_t total;
  uint32_t piece;
  size_t payload;  /* bytes after the header */
  int broken;      /* 0, or which header byte to flip */
} seed;

static const seed seeds[] = {
    {"empty", 0, 0, 0, 0},
    {"whole_small", 40, 0, 40, 0},
    {"pieces_exact", 1024, 256, 0, 0},      /* four full pieces */
    {"pieces_last_short", 1000, 256, 0, 0}, /* three full pieces and 232 bytes */
    {"pieces_one", 10, 64, 0, 0},
    {"pieces_huge", (uint64_t)5 << 30, 1u << 30, 0, 0},
    {"bad_longer_than_total", 10, 0, 100, 0},
    {"bad_partial_payload", 100, 256, 40, 0},
    {"bad_piece_too_small", 1000, 63, 0, 0},
    {"bad_piece_too_large", 1000, (1u << 30) + 1, 0, 0},
    {"bad_whole_with_piece", 8, 64, 8, 0},
    {"bad_magic", 40, 0, 40, 12},
    {"bad_short_header", 0, 0, 0, -1},
};

/* The bytes of seed s into buf; returns their number. */
static size_t make(const seed *s, uint8_t *buf) {
  inb__msg_put_head(buf, s->total, s->piece);
  for (size_t k = 0; k < s->payload; k++) buf[INB__MSG_HEAD + k] = (uint8_t)(k * 13 + 5);
  if (s->broken > 0) buf[s->broken] ^= 0x20;
  return s->broken < 0 ? INB__MSG_HEAD - 5 : INB__MSG_HEAD + s->payload;
}

/* Compares the file at path with want[0..n). Returns 0 when equal. */
static int same_file(const char *path, const uint8_t *want, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) rc = fgetc(f) == want[i] ? 0 : -1;
  if (rc == 0 && fgetc(f) != EOF) rc = -1; /* longer than wanted */
  fclose(f);
  return rc;
}

static int write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int rc = fwrite(p, 1, n, f) == n ? 0 : -1;
  if (fclose(f) != 0) rc = -1;
  return rc;
}

int main(int argc, char **argv) {
  bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
  if (argc != 2 && !check) {
    fprintf(stderr, "usage: %s DIR | --check DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[argc - 1];
  int failed = 0;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    uint8_t buf[MAX_SEED];
    char path[4096];
    size_t n = make(&seeds[s], buf);
    inb__msg_frame f;
    bool bad = strncmp(seeds[s].name, "bad_", 4) == 0;
    int rc = inb__msg_parse_first(buf, n, &f);
    if (rc != (bad ? INB_ECORRUPT : 0)) {
      fprintf(stderr, "gen_frame_seeds: seed %s %s (%s)\n", seeds[s].name, bad ? "is accepted" : "is refused",
              rc ? inb_errmsg() : "no error");
      failed = 1;
    }
    snprintf(path, sizeof path, "%s/%s.bin", dir, seeds[s].name);
    if (check ? same_file(path, buf, n) : write_file(path, buf, n)) {
      fprintf(stderr, check ? "gen_frame_seeds: %s differs from what this program makes now: run gen_frame_seeds %s\n"
                            : "gen_frame_seeds: cannot write %s (into %s)\n", path, dir);
      failed = 1;
    }
  }
  if (!failed)
    printf("gen_frame_seeds: %zu seeds %s %s\n", sizeof seeds / sizeof seeds[0], check ? "match" : "written to", dir);
  return failed;
}
