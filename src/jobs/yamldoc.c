/* A YAML document as a tree of nodes: libyaml's events built into scalars, sequences and mappings; lookups,
 * conversions, messages that name the place, and the command's --set (see yamldoc.h). */
#include "jobs/yamldoc.h"

#include "core/alloc.h"
#include "core/status.h"
#include "jobs/utf8.h"

#include <yaml.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct inb__ydoc {
  char *name;
  inb__ynode *root;
};

enum {
  SHOW_CHARS = 40,   /* a value quoted in a message is cut after this many characters */
  PATH_MAX_SHOWN = 512,
  SUGGEST_MAX = 128, /* longer words are never compared (the distance table lives on the stack) */
  KEYS_LISTED = 8,   /* a message lists at most this many of a mapping's keys */
};

/* ---- text ---------------------------------------------------------------------------------------------------- */

static bool utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0, k; i < n; i += k)
    if (!(k = inb__utf8_len(p + i, n - i))) return false;
  return true;
}

/* libyaml skips a UTF-8 byte-order mark without counting it in columns; so do the positions computed here. */
static size_t bom_len(const char *text, size_t n) {
  return n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* The 1-based line and column (in characters, as libyaml counts them) of byte `off` of text. */
static void position_of(const char *text, size_t n, size_t off, size_t *line, size_t *col) {
  size_t l = 1, c = 1;
  for (size_t i = bom_len(text, n); i < off && i < n; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\n' || (ch == '\r' && !(i + 1 < n && text[i + 1] == '\n')))
      l++, c = 1;
    else if (ch != '\r' && (ch & 0xC0) != 0x80) /* a continuation byte is part of the character before */
      c++;
  }
  *line = l, *col = c;
}

/* The byte where character `index` (libyaml's mark.index: characters from the start, a BOM not counted)
 * begins; n when past the end. */
static size_t byte_of_char(const char *text, size_t n, size_t index) {
  size_t i = bom_len(text, n);
  for (; i < n && index > 0; index--) {
    size_t k = inb__utf8_len((const unsigned char *)text + i, n - i);
    i += k ? k : 1;
  }
  return i < n ? i : n;
}

/* Appends s[0..k) to buf (cap bytes, len used so far), truncating, always NUL-terminated when cap > 0.
 * Returns the length the whole text would have, like snprintf. */
static size_t put(char *buf, size_t cap, size_t len, const char *s, size_t k) {
  if (len < cap) {
    size_t room = cap - 1 - len, m = k < room ? k : room;
    memcpy(buf + len, s, m);
    buf[len + m] = '\0';
  }
  return len + k;
}

/* Writes s[0..n) into buf for a message: control characters and invalid bytes escaped, `quote` (when not
 * NUL) and backslashes escaped too, cut after max characters with "...". Returns buf. */
static char *show(char *buf, size_t cap, const char *s, size_t n, size_t max, char quote) {
  size_t len = 0, chars = 0;
  if (cap) buf[0] = '\0';
  for (size_t i = 0; i < n; chars++) {
    if (chars == max) {
      put(buf, cap, len, "...", 3);
      break;
    }
    const unsigned char *p = (const unsigned char *)s + i;
    size_t k = inb__utf8_len(p, n - i);
    char esc[8];
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      snprintf(esc, sizeof esc, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
      len = put(buf, cap, len, esc, 2);
    } else if (k == 0 || *p < 0x20 || *p == 0x7F) {
      snprintf(esc, sizeof esc, "\\x%02x", *p);
      len = put(buf, cap, len, esc, 4);
      k = 1;
    } else if (quote && (*p == (unsigned char)quote || *p == '\\')) {
      esc[0] = '\\', esc[1] = (char)*p;
      len = put(buf, cap, len, esc, 2);
    } else {
      len = put(buf, cap, len, (const char *)p, k);
    }
    i += k ? k : 1;
  }
  return buf;
}

/* ---- messages -------------------------------------------------------------------------------------------------- */

/* Sets inb_errmsg() to `job 'NAME' line L col C: <fmt...>` (line 0: `job 'NAME': ...`) and returns code. */
static int err_at(const char *name, size_t line, size_t col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int err_at(const char *name, size_t line, size_t col, int code, const char *fmt, ...) {
  char msg[INB__ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line) return inb__err(code, "job '%s' line %zu col %zu: %s", name, line, col, msg);
  return inb__err(code, "job '%s': %s", name, msg);
}

/* A failed system call on the file: INB_EIO naming the file and the system's reason. */
static int sys_err(const char *path, const char *what, int errnum) {
  char reason[256];
  if (strerror_r(errnum, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", errnum);
  return err_at(path, 0, 0, INB_EIO, "%s: %s", what, reason);
}

int inb__ynode_err(const inb__ydoc *d, const inb__ynode *node, const char *field, int code, const char *fmt, ...) {
  char msg[INB__ERRMSG_MAX], path[PATH_MAX_SHOWN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *name = d && d->name ? d->name : "?";
  if (!field) {
    inb__ynode_path(node, path, sizeof path);
    field = path;
  }
  if (node && node->from_set) return inb__err(code, "job '%s' (--set%s%s): %s", name, *field ? " " : "", field, msg);
  const char *q = *field ? "'" : "", *sep = *field ? "': " : "";
  if (node) return inb__err(code, "job '%s' line %d col %d: %s%s%s%s", name, node->line, node->col, q, field, sep, msg);
  return inb__err(code, "job '%s': %s%s%s%s", name, q, field, sep, msg);
}

/* ---- nodes ----------------------------------------------------------------------------------------------------- */

static void node_free(inb__ynode *x) {
  if (!x) return;
  for (size_t i = 0; x->kind == INB__YSEQ && i < x->n; i++) node_free(x->items[i]);
  for (size_t i = 0; x->kind == INB__YMAP && i < x->n; i++) {
    node_free(x->entries[i].key);
    node_free(x->entries[i].value);
  }
  inb__free(x->items);
  inb__free(x->entries);
  inb__free(x->text);
  inb__free(x);
}

static int clamp_int(size_t v) { return v > (size_t)INT32_MAX ? INT32_MAX : (int)v; }

/* A new node of kind at mark m (NULL: no position); for a scalar, a copy of text[0..len). NULL when out of
 * memory. */
static inb__ynode *node_new(inb__ykind kind, const yaml_mark_t *m, const char *text, size_t len) {
  inb__ynode *x = inb__calloc(1, sizeof *x);
  if (!x) return NULL;
  x->kind = kind;
  if (m) x->line = clamp_int(m->line + 1), x->col = clamp_int(m->column + 1);
  if (kind == INB__YSCALAR) {
    if (!(x->text = inb__malloc(len + 1))) {
      inb__free(x);
      return NULL;
    }
    memcpy(x->text, text, len);
    x->text[len] = '\0';
    x->len = len;
  }
  return x;
}

/* Makes room for one more item or entry in container x. Returns 0 or INB_ENOMEM (x unchanged). Doubling keeps
 * a document of many items linear to build. */
static int node_reserve(inb__ynode *x) {
  if (x->n < x->cap) return 0;
  size_t cap = x->cap ? x->cap * 2 : 4;
  size_t size = x->kind == INB__YSEQ ? sizeof *x->items : sizeof *x->entries;
  if (cap > SIZE_MAX / size) return INB_ENOMEM;
  void **slot = x->kind == INB__YSEQ ? (void **)&x->items : (void **)&x->entries;
  void *p = inb__realloc(*slot, cap * size);
  if (!p) return INB_ENOMEM;
  *slot = p;
  x->cap = cap;
  return 0;
}

const inb__ynode *inb__ydoc_root(const inb__ydoc *d) { return d ? d->root : NULL; }
const char *inb__ydoc_name(const inb__ydoc *d) { return d ? d->name : NULL; }

/* The entry of map whose key is key[0..k); NULL when there is none. */
static inb__yentry *map_find(const inb__ynode *map, const char *key, size_t k) {
  for (size_t i = 0; i < map->n; i++) {
    inb__yentry *e = &map->entries[i];
    if (e->key->len == k && memcmp(e->key->text, key, k) == 0) return e;
  }
  return NULL;
}

const inb__ynode *inb__ymap_get(const inb__ynode *map, const char *key) {
  if (!map || map->kind != INB__YMAP || !key) return NULL;
  inb__yentry *e = map_find(map, key, strlen(key));
  return e ? e->value : NULL;
}

size_t inb__ynode_len(const inb__ynode *node) { return node && node->kind != INB__YSCALAR ? node->n : 0; }

const inb__ynode *inb__yseq_at(const inb__ynode *seq, size_t i) {
  return seq && seq->kind == INB__YSEQ && i < seq->n ? seq->items[i] : NULL;
}

const inb__ynode *inb__ymap_key(const inb__ynode *map, size_t i) {
  return map && map->kind == INB__YMAP && i < map->n ? map->entries[i].key : NULL;
}

const inb__ynode *inb__ymap_value(const inb__ynode *map, size_t i) {
  return map && map->kind == INB__YMAP && i < map->n ? map->entries[i].value : NULL;
}

bool inb__ynode_is_null(const inb__ynode *node) {
  if (!node || node->kind != INB__YSCALAR || node->quoted) return false;
  const char *t = node->text;
  return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

size_t inb__ynode_path(const inb__ynode *node, char *buf, size_t cap) {
  const inb__ynode *chain[INB__YDEPTH_MAX + 2]; /* a scalar under the deepest mapping, and its key */
  size_t depth = 0, len = 0;
  for (const inb__ynode *x = node; x && x->parent && depth < sizeof chain / sizeof *chain; x = x->parent)
    chain[depth++] = x;
  if (cap) buf[0] = '\0';
  while (depth-- > 0) {
    const inb__ynode *x = chain[depth], *p = x->parent;
    if (len) len = put(buf, cap, len, ".", 1);
    if (p->kind == INB__YSEQ) {
      char num[24];
      len = put(buf, cap, len, num, (size_t)snprintf(num, sizeof num, "%zu", x->index));
    } else {
      /* a key waiting for its value is not in the entries yet */
      const inb__ynode *key = x->is_key ? x : p->entries[x->index].key;
      len = put(buf, cap, len, key->text, key->len);
    }
  }
  return len;
}

const char *inb__ynode_describe(const inb__ynode *node, char *buf, size_t cap) {
  char s[SHOW_CHARS * 8];
  if (!cap) return buf;
  if (!node)
    snprintf(buf, cap, "nothing (the field is missing)");
  else if (node->kind == INB__YSEQ)
    snprintf(buf, cap, "a list");
  else if (node->kind == INB__YMAP)
    snprintf(buf, cap, "a mapping");
  else if (node->block)
    snprintf(buf, cap, "a block of text");
  else if (node->quoted)
    snprintf(buf, cap, "\"%s\" (quoted, so a string)", show(s, sizeof s, node->text, node->len, SHOW_CHARS, '"'));
  else if (!node->len)
    snprintf(buf, cap, "nothing");
  else
    snprintf(buf, cap, "'%s'", show(s, sizeof s, node->text, node->len, SHOW_CHARS, 0));
  return buf;
}

/* ---- building the tree from libyaml's events -------------------------------------------------------------------- */

typedef struct {
  inb__ynode *node; /* an open sequence or mapping */
  inb__ynode *key;  /* a mapping's key waiting for its value; owned here until then */
} frame;

typedef struct {
  inb__ydoc *d;
  const char *text;
  size_t n;
  int documents;
  int depth;
  frame stack[INB__YDEPTH_MAX];
} builder;

static bool wants_key(const builder *b) {
  const frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;
  return top && top->node->kind == INB__YMAP && !top->key;
}

/* Hangs x under the open container, or makes it the root. Takes x: frees it on failure. Returns 0 or
 * INB_ENOMEM. */
static int attach(builder *b, inb__ynode *x) {
  if (!b->depth) {
    b->d->root = x;
    return 0;
  }
  frame *top = &b->stack[b->depth - 1];
  inb__ynode *c = top->node;
  if (c->kind == INB__YMAP && !top->key) { /* a key: kept aside until its value comes */
    x->is_key = true, x->parent = c, x->index = c->n;
    top->key = x;
    return 0;
  }
  if (node_reserve(c)) {
    node_free(x);
    return err_at(b->d->name, 0, 0, INB_ENOMEM, "out of memory");
  }
  x->parent = c, x->index = c->n;
  if (c->kind == INB__YSEQ) {
    c->items[c->n++] = x;
  } else {
    c->entries[c->n++] = (inb__yentry){top->key, x};
    top->key = NULL;
  }
  return 0;
}

static int cmp_keys(const void *a, const void *b) {
  const inb__ynode *x = *(const inb__ynode *const *)a, *y = *(const inb__ynode *const *)b;
  int c = strcmp(x->text, y->text); /* keys hold no NUL */
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Refuses a mapping with a key twice, naming the first repeat in document order and where its key came first.
 * Sorting makes it n log n: a mapping of many keys stays cheap. Returns 0, INB_EINVAL or INB_ENOMEM. */
static int check_duplicates(builder *b, const inb__ynode *map) {
  if (map->n < 2) return 0;
  const inb__ynode **keys = inb__malloc(map->n * sizeof *keys);
  if (!keys) return err_at(b->d->name, 0, 0, INB_ENOMEM, "out of memory");
  for (size_t i = 0; i < map->n; i++) keys[i] = map->entries[i].key;
  qsort(keys, map->n, sizeof *keys, cmp_keys);
  const inb__ynode *first = NULL, *again = NULL;
  for (size_t i = 1; i < map->n; i++) {
    bool repeat = !strcmp(keys[i]->text, keys[i - 1]->text);
    bool second = repeat && (i < 2 || strcmp(keys[i - 1]->text, keys[i - 2]->text));
    if (second && (!again || keys[i]->index < again->index)) first = keys[i - 1], again = keys[i];
  }
  inb__free(keys);
  if (!again) return 0;
  return inb__ynode_err(b->d, again, NULL, INB_EINVAL, "duplicate key (first at line %d col %d)", first->line,
                        first->col);
}

/* Anchors, aliases and tags are refused (yamldoc.h says why). Returns 0 or INB_EINVAL. */
static int check_plain_node(builder *b, const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag) {
  char s[SHOW_CHARS * 8];
  size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
  if (anchor) {
    const char *a = (const char *)anchor;
    return err_at(b->d->name, line, col, INB_EINVAL,
                  "anchors and aliases are not supported in a job file (&%s): write the value out",
                  show(s, sizeof s, a, strlen(a), SHOW_CHARS, 0));
  }
  if (tag) {
    static const char core[] = "tag:yaml.org,2002:";
    const char *t = (const char *)tag;
    bool is_core = !strncmp(t, core, sizeof core - 1);
    if (is_core) t += sizeof core - 1;
    return err_at(b->d->name, line, col, INB_EINVAL,
                  "tags are not supported in a job file (%s%s): quote a value to make it a string",
                  is_core ? "!!" : "", show(s, sizeof s, t, strlen(t), SHOW_CHARS, 0));
  }
  return 0;
}

static int on_event(builder *b, const yaml_event_t *ev, bool *done) {
  const char *name = b->d->name;
  size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
  int rc = 0;
  inb__ynode *x = NULL;
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    if (b->documents++)
      return err_at(name, line, col, INB_EINVAL, "a second document%s: a job file holds one",
                    ev->data.document_start.implicit ? "" : " (this '---' starts it)");
    return 0;
  case YAML_STREAM_END_EVENT:
    *done = true;
    return 0;
  case YAML_ALIAS_EVENT: {
    char s[SHOW_CHARS * 8];
    const char *a = (const char *)ev->data.alias.anchor;
    return err_at(name, line, col, INB_EINVAL,
                  "anchors and aliases are not supported in a job file (*%s): write the value out",
                  show(s, sizeof s, a, strlen(a), SHOW_CHARS, 0));
  }
  case YAML_SCALAR_EVENT: {
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if ((rc = check_plain_node(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag))) return rc;
    if (memchr(v, '\0', len))
      return err_at(name, line, col, INB_EINVAL, "a NUL character (\\0) in a string: a job's text holds none");
    if (!(x = node_new(INB__YSCALAR, &ev->start_mark, v, len))) return err_at(name, 0, 0, INB_ENOMEM, "out of memory");
    yaml_scalar_style_t style = ev->data.scalar.style;
    x->quoted = style != YAML_PLAIN_SCALAR_STYLE;
    x->block = style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE;
    return attach(b, x);
  }
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT: {
    bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
    rc = seq ? check_plain_node(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag)
             : check_plain_node(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
    if (rc) return rc;
    if (wants_key(b))
      return err_at(name, line, col, INB_EINVAL, "a key must be a single value, not %s", seq ? "a list" : "a mapping");
    if (b->depth == INB__YDEPTH_MAX)
      return err_at(name, line, col, INB_EINVAL, "nested deeper than %d levels", INB__YDEPTH_MAX);
    if (!(x = node_new(seq ? INB__YSEQ : INB__YMAP, &ev->start_mark, NULL, 0)))
      return err_at(name, 0, 0, INB_ENOMEM, "out of memory");
    if ((rc = attach(b, x))) return rc;
    b->stack[b->depth++] = (frame){x, NULL};
    return 0;
  }
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    x = b->stack[--b->depth].node;
    return x->kind == INB__YMAP ? check_duplicates(b, x) : 0;
  default: /* stream start, document end */
    return 0;
  }
}

/* libyaml's failure as a message naming the place. */
static int parser_error(const builder *b, const yaml_parser_t *p) {
  const char *name = b->d->name, *problem = p->problem ? p->problem : "malformed YAML";
  size_t line, col;
  if (p->error == YAML_MEMORY_ERROR) return err_at(name, 0, 0, INB_ENOMEM, "out of memory while parsing");
  if (p->error == YAML_READER_ERROR) { /* a character YAML does not allow: its place is a byte offset */
    position_of(b->text, b->n, p->problem_offset, &line, &col);
    if (p->problem_value >= 0)
      return err_at(name, line, col, INB_EINVAL, "%s (U+%04X)", problem, (unsigned)p->problem_value);
    return err_at(name, line, col, INB_EINVAL, "%s", problem);
  }
  line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
  size_t at = byte_of_char(b->text, b->n, p->problem_mark.index);
  bool tab = at < b->n && b->text[at] == '\t' && !strstr(problem, "tab"); /* libyaml names some tabs itself */
  const char *hint = tab ? " (a tab: YAML indents with spaces)" : "";
  if (p->context)
    return err_at(name, line, col, INB_EINVAL, "%s%s (%s at line %zu col %zu)", problem, hint, p->context,
                  p->context_mark.line + 1, p->context_mark.column + 1);
  return err_at(name, line, col, INB_EINVAL, "%s%s", problem, hint);
}

/* Refuses text that is not UTF-8 or holds a NUL, before libyaml sees it, with the place and a reason a user can
 * act on. Returns 0 or INB_EINVAL. */
static int check_text(const char *name, const char *text, size_t n) {
  const unsigned char *p = (const unsigned char *)text;
  size_t line, col;
  if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
    return err_at(name, 0, 0, INB_EINVAL, "UTF-16 text: a job file is UTF-8 text (save it as UTF-8)");
  for (size_t i = 0, k; i < n; i += k) {
    if (!p[i]) {
      position_of(text, n, i, &line, &col);
      return err_at(name, line, col, INB_EINVAL, "a NUL byte: not a text file");
    }
    if (!(k = inb__utf8_len(p + i, n - i))) {
      position_of(text, n, i, &line, &col);
      return err_at(name, line, col, INB_EINVAL, "not UTF-8 text (byte 0x%02x)", p[i]);
    }
  }
  return 0;
}

void inb__ydoc_free(inb__ydoc **d) {
  if (!d || !*d) return;
  node_free((*d)->root);
  inb__free((*d)->name);
  inb__free(*d);
  *d = NULL;
}

int inb__ydoc_parse(const char *name, const char *text, size_t n, inb__ydoc **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__ydoc_parse: out is NULL");
  *out = NULL;
  if (!name || (!text && n)) return inb__err(INB_EINVAL, "inb__ydoc_parse: name or text is NULL");
  int rc = check_text(name, text, n);
  if (rc) return rc;
  builder b = {.text = n ? text : "", .n = n};
  yaml_parser_t p;
  bool parser = false;
  if (!(b.d = inb__calloc(1, sizeof *b.d)) || !(b.d->name = inb__strdup(name))) {
    rc = err_at(name, 0, 0, INB_ENOMEM, "out of memory");
    goto out;
  }
  if (!(parser = yaml_parser_initialize(&p))) {
    rc = err_at(name, 0, 0, INB_ENOMEM, "out of memory");
    goto out;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)b.text, n);
  for (bool done = false; !rc && !done;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = parser_error(&b, &p);
      break;
    }
    rc = on_event(&b, &ev, &done);
    yaml_event_delete(&ev);
  }
  /* nothing at all, or a document with no content (a lone `---`) */
  if (!rc && (!b.d->root || (b.d->root->kind == INB__YSCALAR && !b.d->root->quoted && !b.d->root->len)))
    rc = err_at(name, 0, 0, INB_EINVAL, "the job is empty");
out:
  if (parser) yaml_parser_delete(&p);
  for (int i = 0; i < b.depth; i++) node_free(b.stack[i].key); /* keys left waiting by a failure */
  if (rc)
    inb__ydoc_free(&b.d);
  else
    *out = b.d;
  return rc;
}

int inb__ydoc_load(const char *path, inb__ydoc **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__ydoc_load: out is NULL");
  *out = NULL;
  if (!path) return inb__err(INB_EINVAL, "inb__ydoc_load: path is NULL");
  int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
  char *buf = NULL;
  size_t n = 0, cap = 4096;
  struct stat st;
  if (fd < 0) {
    rc = errno == ENOENT || errno == ENOTDIR ? err_at(path, 0, 0, INB_ENOTFOUND, "no such file")
                                             : sys_err(path, "cannot open", errno);
    goto out;
  }
  if (fstat(fd, &st) != 0) {
    rc = sys_err(path, "cannot read", errno);
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = err_at(path, 0, 0, INB_EINVAL, "a directory, not a job file");
    goto out;
  }
  if (S_ISREG(st.st_mode) && st.st_size > INB__YDOC_MAX_BYTES) {
    rc = err_at(path, 0, 0, INB_EINVAL, "larger than %d MiB: not a job file", INB__YDOC_MAX_BYTES >> 20);
    goto out;
  }
  /* a regular file is read in one go; a pipe in growing steps, up to one byte past the limit to see it crossed */
  if (S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  for (;;) {
    if (n == cap || !buf) {
      if (buf) cap = cap * 2 > (size_t)INB__YDOC_MAX_BYTES + 1 ? (size_t)INB__YDOC_MAX_BYTES + 1 : cap * 2;
      char *p = inb__realloc(buf, cap);
      if (!p) {
        rc = err_at(path, 0, 0, INB_ENOMEM, "out of memory");
        goto out;
      }
      buf = p;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = sys_err(path, "cannot read", errno);
      goto out;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > INB__YDOC_MAX_BYTES) {
      rc = err_at(path, 0, 0, INB_EINVAL, "larger than %d MiB: not a job file", INB__YDOC_MAX_BYTES >> 20);
      goto out;
    }
  }
  rc = inb__ydoc_parse(path, buf, n, out);
out:
  inb__free(buf);
  if (fd >= 0) close(fd);
  return rc;
}

/* ---- conversions ----------------------------------------------------------------------------------------------- */

/* INB_EINVAL: `expected WHAT; found ...` for node, with why appended. */
static int expected(const inb__ydoc *d, const inb__ynode *node, const char *field, const char *what,
                    const char *why) {
  char found[SHOW_CHARS * 8 + 64];
  return inb__ynode_err(d, node, field, INB_EINVAL, "expected %s; found %s%s", what,
                        inb__ynode_describe(node, found, sizeof found), why);
}

static bool plain_scalar(const inb__ynode *node) {
  return node && node->kind == INB__YSCALAR && !node->quoted;
}

static int digit_of(char c, int base) {
  int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
  return v < base ? v : -1;
}

enum { NUM_OK, NUM_NOT, NUM_RANGE };

/* YAML 1.2 core integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+. */
static int parse_int(const char *s, int64_t *out) {
  const char *p = s;
  int base = 10;
  bool neg = false, over = false;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o'))
    base = p[1] == 'x' ? 16 : 8, p += 2;
  else if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  if (!*p) return NUM_NOT;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *p; p++) {
    int dg = digit_of(*p, base);
    if (dg < 0) return NUM_NOT;
    if (v > (limit - (uint64_t)dg) / (uint64_t)base)
      over = true;
    else
      v = v * (uint64_t)base + (uint64_t)dg;
  }
  if (over) return NUM_RANGE;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* two's complement: -2^63 fits */
  return NUM_OK;
}

int inb__ynode_int(const inb__ydoc *d, const inb__ynode *node, const char *field, int64_t *out) {
  int64_t v;
  int r = plain_scalar(node) ? parse_int(node->text, &v) : NUM_NOT;
  if (r == NUM_RANGE) return expected(d, node, field, "an integer", " (beyond the range of a 64-bit integer)");
  if (r != NUM_OK) return expected(d, node, field, "an integer", "");
  *out = v;
  return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* YAML 1.2 core reals: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, and the infinities and NaN. */
static int parse_real(const char *s, double *out) {
  const char *p = s + (*s == '-' || *s == '+');
  static const char *const infs[] = {".inf", ".Inf", ".INF"}, *const nans[] = {".nan", ".NaN", ".NAN"};
  for (int i = 0; i < 3; i++) {
    if (!strcmp(p, infs[i])) return *out = *s == '-' ? -INFINITY : INFINITY, NUM_OK;
    if (p == s && !strcmp(p, nans[i])) return *out = NAN, NUM_OK;
  }
  size_t digits = 0;
  for (; is_digit(*p); p++) digits++;
  if (*p == '.')
    for (p++; is_digit(*p); p++) digits++;
  if (digits && (*p == 'e' || *p == 'E')) {
    p += 1 + (p[1] == '-' || p[1] == '+');
    if (!is_digit(*p)) return NUM_NOT;
    while (is_digit(*p)) p++;
  }
  if (!digits || *p) {
    int64_t v; /* an octal or hexadecimal integer is a number too */
    int r = parse_int(s, &v);
    if (r == NUM_OK) *out = (double)v;
    return r;
  }
  errno = 0;
  double v = strtod(s, NULL);
  if (errno == ERANGE && isinf(v)) return NUM_RANGE;
  *out = v;
  return NUM_OK;
}

int inb__ynode_real(const inb__ydoc *d, const inb__ynode *node, const char *field, double *out) {
  double v;
  int r = plain_scalar(node) ? parse_real(node->text, &v) : NUM_NOT;
  if (r == NUM_RANGE) return expected(d, node, field, "a number", " (beyond the range of a double)");
  if (r != NUM_OK) return expected(d, node, field, "a number", "");
  *out = v;
  return 0;
}

int inb__ynode_bool(const inb__ydoc *d, const inb__ynode *node, const char *field, bool *out) {
  static const char *const words[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
  for (int i = 0; plain_scalar(node) && i < 6; i++)
    if (!strcmp(node->text, words[i])) {
      *out = i < 3;
      return 0;
    }
  return expected(d, node, field, "true or false", "");
}

int inb__ynode_str(const inb__ydoc *d, const inb__ynode *node, const char *field, const char **out) {
  if (!node || node->kind != INB__YSCALAR || inb__ynode_is_null(node)) return expected(d, node, field, "a string", "");
  *out = node->text;
  return 0;
}

/* ---- suggestions ----------------------------------------------------------------------------------------------- */

/* The Levenshtein distance of a[0..m) and b[0..n), both at most SUGGEST_MAX bytes: one row of the table. */
static size_t distance(const char *a, size_t m, const char *b, size_t n) {
  size_t row[SUGGEST_MAX + 1];
  for (size_t j = 0; j <= n; j++) row[j] = j;
  for (size_t i = 1; i <= m; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= n; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[n];
}

/* Keeps candidate c (length cn) in *best when it is closer to word than *bestd (ties keep the earlier one). */
static void consider(const char *word, size_t m, const char *c, size_t cn, const char **best, size_t *bestd) {
  if (cn > SUGGEST_MAX || (cn > m ? cn - m : m - cn) >= *bestd) return;
  size_t dist = distance(word, m, c, cn);
  if (dist < *bestd) *best = c, *bestd = dist;
}

const char *inb__did_you_mean(const char *word, const char *const *candidates, size_t n) {
  const char *best = NULL;
  size_t bestd = 3, m = word ? strlen(word) : SUGGEST_MAX + 1;
  for (size_t i = 0; m <= SUGGEST_MAX && candidates && i < n; i++)
    if (candidates[i]) consider(word, m, candidates[i], strlen(candidates[i]), &best, &bestd);
  return best;
}

/* ---- --set ----------------------------------------------------------------------------------------------------- */

/* INB_EINVAL with `job 'DOC' (--set DOTTED): <fmt...>`. */
static int set_err(const inb__ydoc *d, const char *dotted, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(const inb__ydoc *d, const char *dotted, const char *fmt, ...) {
  char msg[INB__ERRMSG_MAX], path[PATH_MAX_SHOWN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return inb__err(INB_EINVAL, "job '%s' (--set %s): %s", d->name,
                  show(path, sizeof path, dotted, strlen(dotted), PATH_MAX_SHOWN / 8, 0), msg);
}

/* `'pipeline.0'`, or `the job` for the root: the container a step of a --set looked in. */
static const char *where(const inb__ynode *x, char *buf, size_t cap) {
  char path[PATH_MAX_SHOWN];
  if (!x->parent) {
    snprintf(buf, cap, "the job");
  } else {
    inb__ynode_path(x, path, sizeof path);
    snprintf(buf, cap, "'%s'", path);
  }
  return buf;
}

/* `its keys: a, b, ...` (at most KEYS_LISTED of them), or `it has no keys`. */
static const char *list_keys(const inb__ynode *map, char *buf, size_t cap) {
  char s[SHOW_CHARS * 8];
  size_t len = put(buf, cap, 0, map->n ? "its keys: " : "it has no keys", map->n ? 10 : 14);
  for (size_t i = 0; i < map->n && i < KEYS_LISTED; i++) {
    const inb__ynode *key = map->entries[i].key;
    if (i) len = put(buf, cap, len, ", ", 2);
    show(s, sizeof s, key->text, key->len, SHOW_CHARS, 0);
    len = put(buf, cap, len, s, strlen(s));
  }
  if (map->n > KEYS_LISTED) put(buf, cap, len, ", ...", 5);
  return buf;
}

/* `did you mean 'args'?` for a key[0..k) that map lacks, or its keys when none is close. */
static const char *key_hint(const inb__ynode *map, const char *key, size_t k, char *buf, size_t cap) {
  const char *best = NULL;
  size_t bestd = 3;
  char s[SHOW_CHARS * 8];
  for (size_t i = 0; k <= SUGGEST_MAX && i < map->n; i++)
    consider(key, k, map->entries[i].key->text, map->entries[i].key->len, &best, &bestd);
  if (!best) return list_keys(map, buf, cap);
  snprintf(buf, cap, "did you mean '%s'?", show(s, sizeof s, best, strlen(best), SHOW_CHARS, 0));
  return buf;
}

/* Adds key[0..k) with a plain scalar value to map, both marked from_set. Returns 0 or INB_ENOMEM (map
 * unchanged). */
static int add_entry(inb__ynode *map, const char *key, size_t k, const char *value) {
  inb__ynode *kn = node_new(INB__YSCALAR, NULL, key, k), *vn = node_new(INB__YSCALAR, NULL, value, strlen(value));
  if (!kn || !vn || node_reserve(map)) {
    node_free(kn);
    node_free(vn);
    return INB_ENOMEM;
  }
  kn->is_key = kn->from_set = vn->from_set = true;
  kn->parent = vn->parent = map;
  kn->index = vn->index = map->n;
  map->entries[map->n++] = (inb__yentry){kn, vn};
  return 0;
}

int inb__ydoc_set(inb__ydoc *d, const char *dotted, const char *value) {
  if (!d || !d->root || !dotted || !value) return inb__err(INB_EINVAL, "--set: no document, path or value");
  char here[PATH_MAX_SHOWN + 8], hint[INB__ERRMSG_MAX / 2], s[SHOW_CHARS * 8], found[SHOW_CHARS * 8 + 64];
  if (!utf8_valid(dotted, strlen(dotted))) return set_err(d, dotted, "the key is not UTF-8 text");
  if (!utf8_valid(value, strlen(value))) return set_err(d, dotted, "the value is not UTF-8 text");
  inb__ynode *x = d->root;
  for (const char *p = dotted;;) {
    const char *dot = strchr(p, '.');
    size_t k = dot ? (size_t)(dot - p) : strlen(p);
    if (!k) return set_err(d, dotted, "an empty step: keys and item numbers are joined by single dots");
    show(s, sizeof s, p, k, SHOW_CHARS, 0);
    if (x->kind == INB__YMAP) {
      inb__yentry *e = map_find(x, p, k);
      if (!e && !dot) {
        if (add_entry(x, p, k, value)) return err_at(d->name, 0, 0, INB_ENOMEM, "out of memory");
        return 0;
      }
      if (!e)
        return set_err(d, dotted, "%s has no key '%s' (%s)", where(x, here, sizeof here), s,
                       key_hint(x, p, k, hint, sizeof hint));
      x = e->value;
    } else if (x->kind == INB__YSEQ) {
      size_t i = 0, j = 0;
      bool over = false;
      for (; j < k && is_digit(p[j]); j++) {
        over |= i > (SIZE_MAX - 9) / 10;
        i = i * 10 + (size_t)(p[j] - '0');
      }
      if (j < k)
        return set_err(d, dotted, "%s is a list: '%s' is not an item number", where(x, here, sizeof here), s);
      if (over || i >= x->n)
        return set_err(d, dotted, "%s has %zu item%s: no item %s", where(x, here, sizeof here), x->n,
                       x->n == 1 ? "" : "s", s);
      x = x->items[i];
    } else {
      return set_err(d, dotted, "%s is a single value (%s), with no '%s' in it", where(x, here, sizeof here),
                     inb__ynode_describe(x, found, sizeof found), s);
    }
    if (!dot) break;
    p = dot + 1;
  }
  if (x->kind == INB__YMAP)
    return set_err(d, dotted, "%s is a mapping, not a single value: set one of its keys (%s)",
                   where(x, here, sizeof here), list_keys(x, hint, sizeof hint));
  if (x->kind == INB__YSEQ)
    return set_err(d, dotted, "%s is a list, not a single value: set one of its items by number",
                   where(x, here, sizeof here));
  size_t n = strlen(value);
  char *text = inb__malloc(n + 1);
  if (!text) return err_at(d->name, 0, 0, INB_ENOMEM, "out of memory");
  memcpy(text, value, n + 1);
  inb__free(x->text);
  x->text = text, x->len = n;
  x->quoted = x->block = false;
  x->from_set = true;
  return 0;
}
