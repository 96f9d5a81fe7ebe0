/* Writing or checking a seed corpus (see seed_corpus.h). */
#include "seed_corpus.h"

#include <stdio.h>
#include <string.h>

int seed_corpus_open(seed_corpus *c, int argc, char **argv) {
  c->check = argc == 3 && strcmp(argv[1], "--check") == 0;
  if (argc != 2 && !c->check) {
    fprintf(stderr, "usage: %s DIR | --check DIR\n", argv[0]);
    return 2;
  }
  c->dir = argv[argc - 1];
  c->count = 0;
  c->failed = 0;
  return 0;
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

void seed_corpus_put(seed_corpus *c, const char *name, const uint8_t *bytes, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", c->dir, name);
  c->count++;
  if (c->check ? same_file(path, bytes, n) == 0 : write_file(path, bytes, n) == 0) return;
  if (c->check)
    fprintf(stderr, "%s: %s differs from what %s makes now: run %s %s\n", c->prog, path, c->maker, c->prog, c->dir);
  else
    fprintf(stderr, "%s: cannot write %s (into %s)\n", c->prog, path, c->dir);
  c->failed = 1;
}

int seed_corpus_close(const seed_corpus *c) {
  if (!c->failed) printf("%s: %zu seeds %s %s\n", c->prog, c->count, c->check ? "match" : "written to", c->dir);
  return c->failed;
}
