/* Runs LLVMFuzzerTestOneInput over every file named on the command line, or in a directory named there:
 * the fuzz target as a plain regression test, with any compiler and without libFuzzer. Fails when an input
 * cannot be read or when no input was found (an empty corpus would pass vacuously). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one file to the target. Returns 0 or -1 (unreadable). */
static int run_file(const char *path) {
  int rc = -1;
  uint8_t *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f || fseek(f, 0, SEEK_END) != 0) goto out;
  long len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0) goto out;
  if (!(buf = malloc(len ? (size_t)len : 1))) goto out;
  if (fread(buf, 1, (size_t)len, f) != (size_t)len) goto out;
  LLVMFuzzerTestOneInput(buf, (size_t)len);
  rc = 0;
out:
  if (rc) fprintf(stderr, "corpus: cannot read %s\n", path);
  free(buf);
  if (f) fclose(f);
  return rc;
}

/* Runs every regular file of dir (not recursively); adds their number to *count. Returns 0 or -1. */
static int run_dir(const char *dir, size_t *count) {
  int rc = 0;
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "corpus: cannot open %s\n", dir);
    return -1;
  }
  for (struct dirent *e; (e = readdir(d));) {
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (run_file(path)) rc = -1;
    ++*count;
  }
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      if (run_dir(argv[i], &count)) rc = 1;
    } else {
      if (run_file(argv[i])) rc = 1;
      count++;
    }
  }
  printf("corpus: %zu inputs run\n", count);
  if (count == 0) {
    fprintf(stderr, "usage: %s CORPUS_DIR|FILE...  (no input found)\n", argv[0]);
    return 1;
  }
  return rc;
}
