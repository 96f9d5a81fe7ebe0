/* libFuzzer target for job files' YAML documents (src/jobs/yamldoc.c): any bytes are parsed as a job; a
 * document that parses is walked whole (links between nodes, paths, lookups, every conversion, suggestions)
 * and changed the way the command's --set does: with the `#set PATH=VALUE` of its first line when it has one
 * (a comment, so the seeds steer it without changing the document), and at the path of one of its scalars,
 * picked by the input's bytes. Beyond "no crash, no out-of-range read, no leak" (ASan, UBSan, LSan), a failure
 * must be INB_EINVAL or INB_ENOMEM with a message naming the job, and a --set that succeeds must be found where
 * its path says, as the plain value it set. Built with -fsanitize=fuzzer under clang; under any compiler,
 * corpus_main.c runs it over a corpus directory as a regression test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding, not an error: libFuzzer reports the input. */
static void check(bool ok) {
  if (!ok) __builtin_trap();
}

/* A failure says what went wrong in the job's name. */
static void check_failure(int rc) {
  check(rc == INB_EINVAL || rc == INB_ENOMEM);
  check(strncmp(inb_errmsg(), "job 'fuzz.yaml'", 15) == 0);
}

typedef struct {
  const inb__ydoc *d;
  uint32_t pick;                 /* which scalar value to --set: the pick-th one walked (mod their number) */
  uint32_t seen;
  const inb__ynode *picked;
} walk_state;

static void walk(walk_state *w, const inb__ynode *x, int depth) {
  char path[4096], small[8], found[512];
  check(depth <= INB__YDEPTH_MAX + 1);
  size_t len = inb__ynode_path(x, path, sizeof path);
  check(inb__ynode_path(x, small, sizeof small) == len && (len >= sizeof small || !strcmp(small, path)));
  check(len >= sizeof path || strlen(path) == len);
  inb__ynode_describe(x, found, sizeof found);
  if (x->kind == INB__YSCALAR) {
    check(x->text && strlen(x->text) == x->len && !x->items && !x->entries);
    int64_t i;
    double r;
    bool b;
    const char *s;
    int rc;
    if ((rc = inb__ynode_int(w->d, x, NULL, &i))) check_failure(rc);
    if ((rc = inb__ynode_real(w->d, x, NULL, &r))) check_failure(rc);
    if ((rc = inb__ynode_bool(w->d, x, NULL, &b))) check_failure(rc);
    if ((rc = inb__ynode_str(w->d, x, "field", &s)) == 0)
      check(s == x->text);
    else
      check_failure(rc);
    if (!x->is_key && w->seen++ == w->pick) w->picked = x;
    return;
  }
  check(!x->text && !x->quoted && x->n <= x->cap);
  if (x->kind == INB__YSEQ) {
    for (size_t i = 0; i < x->n; i++) {
      const inb__ynode *item = inb__yseq_at(x, i);
      check(item && item->parent == x && item->index == i && !item->is_key);
      walk(w, item, depth + 1);
    }
    check(!inb__yseq_at(x, x->n));
    return;
  }
  check(x->kind == INB__YMAP);
  enum { SUGGESTED = 16 }; /* keys checked against each other: a few, or a mapping of many costs n^2 */
  const char *keys[SUGGESTED];
  for (size_t i = 0; i < x->n; i++) {
    const inb__ynode *key = inb__ymap_key(x, i), *value = inb__ymap_value(x, i);
    check(key && value && key->kind == INB__YSCALAR && key->is_key && key->parent == x && key->index == i);
    check(value->parent == x && value->index == i && !value->is_key);
    check(inb__ymap_get(x, key->text) == value); /* keys are unique */
    if (i < SUGGESTED) keys[i] = key->text;
    walk(w, key, depth + 1);
    walk(w, value, depth + 1);
  }
  /* every key is its own closest match (an exact one), unless it is too long to be compared */
  for (size_t i = 0; i < x->n && i < SUGGESTED; i++) {
    const char *best = inb__did_you_mean(keys[i], keys, x->n < SUGGESTED ? x->n : SUGGESTED);
    check(strlen(keys[i]) > 128 ? best == NULL : best == keys[i]);
  }
}

/* The node that dotted leads to, read with the lookups; NULL when there is none. */
static const inb__ynode *resolve(const inb__ynode *x, const char *dotted) {
  char step[4096];
  for (const char *p = dotted; x;) {
    const char *dot = strchr(p, '.');
    size_t k = dot ? (size_t)(dot - p) : strlen(p);
    if (k >= sizeof step) return NULL;
    memcpy(step, p, k);
    step[k] = '\0';
    if (x->kind == INB__YMAP) {
      x = inb__ymap_get(x, step);
    } else if (x->kind == INB__YSEQ) {
      char *end;
      unsigned long long i = strtoull(step, &end, 10);
      x = k && *end == '\0' && step[0] >= '0' && step[0] <= '9' ? inb__yseq_at(x, (size_t)i) : NULL;
    } else {
      return NULL;
    }
    if (!dot) return x;
    p = dot + 1;
  }
  return NULL;
}

/* A --set of dotted to value: fails cleanly, or leaves value where dotted leads. Returns its status. */
static int set_and_check(inb__ydoc *d, const char *dotted, const char *value, bool must_work) {
  int rc = inb__ydoc_set(d, dotted, value);
  if (rc) {
    check_failure(rc);
    check(!must_work || rc == INB_ENOMEM);
    return rc;
  }
  const inb__ynode *x = resolve(inb__ydoc_root(d), dotted);
  check(x && x->kind == INB__YSCALAR && x->from_set && !x->quoted && !strcmp(x->text, value));
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  inb__ydoc *d = NULL;
  int rc = inb__ydoc_parse("fuzz.yaml", (const char *)data, size, &d);
  if (rc) {
    check_failure(rc);
    check(d == NULL);
    return 0;
  }
  check(d && inb__ydoc_root(d) && !inb__ydoc_root(d)->parent);
  uint32_t hash = 2166136261u; /* FNV-1a: which scalar to change follows the input */
  for (size_t i = 0; i < size; i++) hash = (hash ^ data[i]) * 16777619u;
  walk_state w = {.d = d, .pick = hash};
  walk(&w, inb__ydoc_root(d), 0);

  /* the first line's `#set PATH=VALUE` */
  if (size > 5 && memcmp(data, "#set ", 5) == 0) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = (nl ? (size_t)(nl - data) : size) - 5;
    char *spec = malloc(n + 1);
    if (spec) {
      memcpy(spec, data + 5, n);
      spec[n] = '\0';
      char *eq = strchr(spec, '=');
      if (eq) {
        *eq = '\0';
        set_and_check(d, spec, eq + 1, false);
      }
      free(spec);
    }
  }

  /* a scalar's own path: works unless a key on the way holds a dot or is empty (such a key cannot be named) */
  if (w.seen) {
    w.pick %= w.seen;
    w.seen = 0;
    w.picked = NULL;
    walk(&w, inb__ydoc_root(d), 0);
    char path[4096];
    if (w.picked && w.picked->parent && inb__ynode_path(w.picked, path, sizeof path) < sizeof path) {
      bool nameable = true;
      for (const inb__ynode *x = w.picked; x->parent; x = x->parent)
        if (x->parent->kind == INB__YMAP) {
          const inb__ynode *key = inb__ymap_key(x->parent, x->index);
          nameable &= key->len > 0 && !strchr(key->text, '.');
        }
      int64_t v = 0;
      if (set_and_check(d, path, "42", nameable) == 0)
        check(inb__ynode_int(d, resolve(inb__ydoc_root(d), path), NULL, &v) == 0 && v == 42);
    }
  }
  w.pick = UINT32_MAX; /* the tree is still whole after the changes */
  walk(&w, inb__ydoc_root(d), 0);
  inb__ydoc_free(&d);
  check(d == NULL);
  return 0;
}
