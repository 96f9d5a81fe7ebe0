/* Argv templates: a word parsed once into literal runs and placeholders, then expanded per task by copying
 * (see template.h). */
#include "jobs/template.h"

#include "core/alloc.h"
#include "core/status.h"
#include "jobs/yamldoc.h" /* inb__did_you_mean */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum { OP_LIT, OP_TEXT, OP_FIELD, OP_INDEX, OP_SEQ, OP_RANK, OP_LINE } op_kind;

/* A path form of a text or a field: {}, {.}, {/}, {//}, {/.} and the same after a field number. */
typedef enum { FORM_ALL, FORM_NOEXT, FORM_BASE, FORM_DIR, FORM_BASE_NOEXT } form;

static const char *const FORM_SUFFIX[] = {"", ".", "/", "//", "/."};

typedef struct {
  uint8_t kind;    /* op_kind */
  uint8_t form;    /* OP_TEXT, OP_FIELD: a form */
  bool quote;      /* shell mode: the value is single-quoted */
  uint32_t field;  /* OP_FIELD: from 1 */
  size_t off, len; /* OP_LIT: lit[off .. off+len) */
} op;

struct inb__template {
  unsigned flags, uses;
  uint32_t max_field;
  size_t nops;
  op *ops;         /* nops ops, in the same block as the struct */
  char *lit;       /* the literal runs back to back (braces unescaped), in the same block */
};

enum {
  SHOWN_MAX = 40,   /* a placeholder quoted in a message is cut after this many bytes */
  SH_DEPTH = 32,    /* shell mode: nesting of $( ), ( ) and backquotes followed by the quoting check */
  FIELDS_KEPT = 16, /* an expansion remembers where this many fields are; later ones are found again */
  NUM_MAX = 24      /* an int64_t in decimal, its sign and a NUL */
};

/* ---- messages ------------------------------------------------------------------------------------------------ */

/* s[0..n) for a message: cut after SHOWN_MAX bytes with "...", control bytes as \xNN. Returns buf. */
static const char *shown(char *buf, size_t cap, const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n && len + 8 < cap; i++) {
    if (i == SHOWN_MAX) {
      len += (size_t)snprintf(buf + len, cap - len, "...");
      break;
    }
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7F)
      len += (size_t)snprintf(buf + len, cap - len, "\\x%02x", c);
    else
      buf[len++] = (char)c;
  }
  buf[len] = '\0';
  return buf;
}

/* ---- the shell's quoting, as far as placeholders care ------------------------------------------------------- */

/* Where the shell is in the command's own text. A quoted value is safe only where the shell reads its quotes as
 * quoting: in plain text or a comment, not inside the command's own quotes or backquotes, not after a backslash,
 * and not inside $(( )) or (( )), where the text is evaluated quotes and all (`$(( '$(cmd)' ))` runs cmd in dash
 * and bash alike). $( and ( nest plain text on a stack, as backquotes and (( do their own states; a ) that closes
 * nothing (a case pattern) is ignored. Where the text cannot be followed (a here-document after <<, bash's $'...'
 * which dash reads otherwise, $[, nesting deeper than SH_DEPTH) every later quoted placeholder is refused. So a
 * placeholder may be refused where it would have been safe, never the reverse. Numbers ({index}, ...) are digits:
 * safe anywhere but right after a `$`. */
typedef enum { SH_PLAIN, SH_SQUOTE, SH_DQUOTE, SH_BQUOTE, SH_ARITH, SH_COMMENT } sh_state;

typedef struct {
  uint8_t state;
  uint8_t stack[SH_DEPTH]; /* the states to return to */
  int depth;
  bool escaped;            /* the previous character was a backslash that escapes the next */
  bool dollar;             /* the previous character was an unescaped `$` */
  bool lt;                 /* the previous character was an unquoted `<` */
  bool paren;              /* the previous character was an unquoted `(`: a second one starts arithmetic */
  bool word_start;         /* a `#` here starts a comment */
  const char *lost;        /* why the rest of the text cannot be followed; NULL while it can */
} sh_scan;

static void sh_push(sh_scan *sh, sh_state back, sh_state next) {
  if (sh->depth == SH_DEPTH)
    sh->lost = "nested too deeply in the command's $( ), ( ) and backquotes to check its quoting";
  else
    sh->stack[sh->depth++] = (uint8_t)back;
  sh->state = (uint8_t)next;
}

static void sh_pop(sh_scan *sh) {
  if (sh->depth > 0) sh->state = sh->stack[--sh->depth];
}

/* One character inside $(( )): parentheses nest, $( and backquotes start commands. */
static void sh_arith(sh_scan *sh, char c, bool dollar) {
  if (c == '\\') sh->escaped = true;
  else if (c == '`') sh_push(sh, SH_ARITH, SH_BQUOTE);
  else if (c == '(' && dollar) sh_push(sh, SH_ARITH, SH_PLAIN), sh->paren = true, sh->word_start = true;
  else if (c == '(') sh_push(sh, SH_ARITH, SH_ARITH);
  else if (c == ')') sh_pop(sh);
  else if (c == '$') sh->dollar = true;
}

/* One character inside double quotes: $( and backquotes start commands. */
static void sh_dquote(sh_scan *sh, char c, bool dollar) {
  if (c == '\\') sh->escaped = true;
  else if (c == '"') sh->state = SH_PLAIN;
  else if (c == '`') sh_push(sh, SH_DQUOTE, SH_BQUOTE);
  else if (c == '(' && dollar) sh_push(sh, SH_DQUOTE, SH_PLAIN), sh->paren = true, sh->word_start = true;
  else if (c == '$') sh->dollar = true;
}

/* One character of plain text. */
static void sh_plain(sh_scan *sh, char c, bool dollar, bool lt, bool paren, bool start) {
  switch (c) {
  case '\\': sh->escaped = true; break;
  case '\'':
    if (dollar) /* bash's $'...' ends at another quote than dash's '...' after a literal $ */
      sh->lost = "after $'...', which bash and dash end at different quotes, so the quoting cannot be checked";
    sh->state = SH_SQUOTE;
    break;
  case '"': sh->state = SH_DQUOTE; break;
  case '`': sh_push(sh, SH_PLAIN, SH_BQUOTE); break;
  case '$': sh->dollar = true; break;
  case '[':
    if (dollar) sh->lost = "after $[, an arithmetic form whose end cannot be checked; write $(( )) instead";
    break;
  case '(':
    if (paren)
      sh_push(sh, SH_PLAIN, SH_ARITH);   /* (( or $(( */
    else
      sh_push(sh, SH_PLAIN, SH_PLAIN), sh->paren = true;
    sh->word_start = true;
    break;
  case ')': sh_pop(sh), sh->word_start = true; break;
  case '<':
    if (lt) sh->lost = "after '<<': in a here-document the shell would not read the value's quotes as quoting";
    sh->lt = true;
    break;
  case '#':
    if (start) sh->state = SH_COMMENT;
    break;
  case ' ': case '\t': case '\n': case ';': case '&': case '|':
    sh->word_start = true;
    break;
  default: break;
  }
}

/* Follows one character of the command's own text. */
static void sh_step(sh_scan *sh, char c) {
  bool dollar = sh->dollar, lt = sh->lt, paren = sh->paren, start = sh->word_start;
  sh->dollar = sh->lt = sh->paren = sh->word_start = false;
  if (sh->escaped) {
    sh->escaped = false;
    return;
  }
  switch ((sh_state)sh->state) {
  case SH_SQUOTE:
    if (c == '\'') sh->state = SH_PLAIN;
    break;
  case SH_COMMENT:
    if (c == '\n') sh->state = SH_PLAIN, sh->word_start = true;
    break;
  case SH_BQUOTE:
    if (c == '\\') sh->escaped = true;
    else if (c == '`') sh_pop(sh);
    break;
  case SH_DQUOTE: sh_dquote(sh, c, dollar); break;
  case SH_ARITH: sh_arith(sh, c, dollar); break;
  case SH_PLAIN: sh_plain(sh, c, dollar, lt, paren, start); break;
  }
}

/* After a placeholder: its value is one word (quoted, or digits). */
static void sh_value(sh_scan *sh) { sh->dollar = sh->lt = sh->paren = sh->word_start = false; }

/* Why a quoted placeholder may not stand here (NULL: it may). */
static const char *sh_refusal(const sh_scan *sh) {
  if (sh->lost) return sh->lost;
  if (sh->escaped) return "right after a backslash, which would take the value's opening quote as a character";
  switch ((sh_state)sh->state) {
  case SH_SQUOTE:
    return "inside single quotes: a shell command's values are quoted already; remove the quotes around it";
  case SH_DQUOTE:
    return "inside double quotes: a shell command's values are quoted already; remove the quotes around it";
  case SH_BQUOTE:
    return "inside backquotes, where the value's quotes would not protect it; write $(...) instead";
  case SH_ARITH:
    return "inside $(( )) or (( )), where the shell evaluates the value's text, its quotes included; only "
           "{index}, {#}, {rank} and {line} may stand there";
  default: return NULL;
  }
}

/* ---- parsing -------------------------------------------------------------------------------------------------- */

/* What parse() found: the number of ops and literal bytes (the first pass), or the ops themselves (the second,
 * into t). */
typedef struct {
  inb__template *t;  /* NULL: count only */
  size_t nops, nlit;
  bool in_lit;       /* the last op is a literal run still growing */
} sink;

static void emit_lit(sink *k, char c) {
  if (!k->in_lit) {
    if (k->t) k->t->ops[k->nops] = (op){.kind = OP_LIT, .off = k->nlit};
    k->nops++;
    k->in_lit = true;
  }
  if (k->t) {
    k->t->lit[k->nlit] = c;
    k->t->ops[k->nops - 1].len++;
  }
  k->nlit++;
}

static void emit_op(sink *k, op o) {
  if (k->t) k->t->ops[k->nops] = o;
  k->nops++;
  k->in_lit = false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The path form spelt s[0..n) ("", ".", "/", "//", "/."); -1 when it is none. */
static int form_of(const char *s, size_t n) {
  for (int f = FORM_ALL; f <= FORM_BASE_NOEXT; f++)
    if (strlen(FORM_SUFFIX[f]) == n && memcmp(FORM_SUFFIX[f], s, n) == 0) return f;
  return -1;
}

/* INB_EINVAL for the placeholder name[0..n) (between braces) that is none of ours. */
static int unknown(const char *name, size_t n, bool after_dollar) {
  char what[SHOWN_MAX * 4 + 8];
  shown(what, sizeof what, name, n);
  if (after_dollar)
    return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (for the shell's own ${%s}, write '${{%s}}')", what, what,
                    what);
  if (n > 0 && is_digit(name[0])) {
    size_t d = 0;
    while (d < n && is_digit(name[d])) d++;
    if (name[0] == '0' && d == 1)
      return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (fields count from 1: '{1}' is the first)", what);
    if (name[0] == '0')
      return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (a field number has no leading zeros)", what);
    if (d == n)
      return inb__err(INB_EINVAL, "placeholder '{%s}': fields go up to {%d}", what, INB__TEMPLATE_MAX_FIELD);
    return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (a field's forms are {N}, {N.}, {N/}, {N//} and {N/.})",
                    what);
  }
  char word[SHOWN_MAX + 1];
  static const char *const named[] = {"index", "rank", "line"};
  const char *close = NULL;
  if (n <= SHOWN_MAX) {
    memcpy(word, name, n);
    word[n] = '\0';
    close = inb__did_you_mean(word, named, sizeof named / sizeof *named);
  }
  if (close) return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (did you mean '{%s}'?)", what, close);
  return inb__err(INB_EINVAL, "unknown placeholder '{%s}' (the placeholders are {}, {.}, {/}, {//}, {/.}, {1}, {2}, "
                  "... and their forms {1.}, {1/}, {1//}, {1/.}, then {index}, {#}, {rank} and {line}; write '{{' "
                  "and '}}' for literal braces)", what);
}

/* The op for the placeholder name[0..n), or INB_EINVAL. */
static int placeholder(const char *name, size_t n, bool after_dollar, op *o) {
  static const struct {
    const char *name;
    op_kind kind;
  } numbers[] = {{"index", OP_INDEX}, {"#", OP_SEQ}, {"rank", OP_RANK}, {"line", OP_LINE}};
  int f = form_of(name, n);
  if (f >= 0) {
    *o = (op){.kind = OP_TEXT, .form = (uint8_t)f};
    return 0;
  }
  for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
    if (strlen(numbers[i].name) == n && memcmp(numbers[i].name, name, n) == 0) {
      *o = (op){.kind = (uint8_t)numbers[i].kind};
      return 0;
    }
  size_t d = 0;
  uint32_t field = 0;
  while (d < n && is_digit(name[d]) && field <= INB__TEMPLATE_MAX_FIELD)   /* stops before it could overflow */
    field = field * 10 + (uint32_t)(name[d++] - '0');
  if (d == 0 || name[0] == '0' || field > INB__TEMPLATE_MAX_FIELD || (f = form_of(name + d, n - d)) < 0)
    return unknown(name, n, after_dollar);
  *o = (op){.kind = OP_FIELD, .form = (uint8_t)f, .field = field};
  return 0;
}

/* Parses word into k (see sink). Returns 0 or INB_EINVAL with *bad the byte of the fault. */
static int parse(const char *word, unsigned flags, sink *k, size_t *bad) {
  bool shell = flags & INB__TEMPLATE_SHELL;
  sh_scan sh = {.state = SH_PLAIN, .word_start = true};
  for (size_t i = 0; word[i];) {
    char c = word[i];
    if ((c == '{' || c == '}') && word[i + 1] == c) {   /* {{ and }}: a literal brace */
      emit_lit(k, c);
      sh_step(&sh, c);
      i += 2;
      continue;
    }
    if (c == '}') {
      *bad = i;
      return inb__err(INB_EINVAL, "a single '}' (write '}}' for a literal brace)");
    }
    if (c != '{') {
      emit_lit(k, c);
      sh_step(&sh, c);
      i++;
      continue;
    }
    size_t end = i + 1;
    while (word[end] && word[end] != '}' && word[end] != '{') end++;
    *bad = i;
    if (word[end] != '}') return inb__err(INB_EINVAL, "'{' is not closed (write '{{' for a literal brace)");
    op o = {0};
    int rc = placeholder(word + i + 1, end - i - 1, shell && sh.dollar, &o);
    if (rc) return rc;
    if (shell) {
      char what[SHOWN_MAX * 4 + 8];
      o.quote = o.kind == OP_TEXT || o.kind == OP_FIELD;   /* numbers are digits: nothing to quote */
      const char *why = o.quote ? sh_refusal(&sh) : NULL;
      shown(what, sizeof what, word + i, end + 1 - i);
      if (sh.dollar)
        return inb__err(INB_EINVAL, "placeholder '%s' right after '$' (for the shell's own $%s, write '$%c%s%c')",
                        what, what, '{', what, '}');
      if (why) return inb__err(INB_EINVAL, "placeholder '%s' %s", what, why);
      sh_value(&sh);
    }
    emit_op(k, o);
    i = end + 1;
  }
  return 0;
}

/* ---- templates ------------------------------------------------------------------------------------------------ */

static unsigned uses_of(const op *o) {
  switch ((op_kind)o->kind) {
  case OP_TEXT: return INB__TEMPLATE_USES_TEXT;
  case OP_FIELD: return INB__TEMPLATE_USES_FIELDS;
  case OP_INDEX: case OP_SEQ: return INB__TEMPLATE_USES_INDEX;
  case OP_RANK: return INB__TEMPLATE_USES_RANK;
  case OP_LINE: return INB__TEMPLATE_USES_LINE;
  default: return 0;
  }
}

int inb__template_compile(const char *word, unsigned flags, inb__template **out, size_t *bad_offset) {
  size_t bad_ignored;
  if (!bad_offset) bad_offset = &bad_ignored;
  *bad_offset = 0;
  if (!out) return inb__err(INB_EINVAL, "inb__template_compile: out is NULL");
  *out = NULL;
  if (!word) return inb__err(INB_EINVAL, "inb__template_compile: word is NULL");
  if (flags & ~(unsigned)INB__TEMPLATE_SHELL) return inb__err(INB_EINVAL, "inb__template_compile: flags %#x", flags);
  sink count = {0};
  int rc = parse(word, flags, &count, bad_offset);   /* every fault is found here, before anything is allocated */
  if (rc) return rc;
  /* one block: the struct, its ops, its literal bytes */
  inb__template *t = inb__calloc(1, sizeof *t + count.nops * sizeof(op) + count.nlit + 1);
  if (!t) return inb__err(INB_ENOMEM, "out of memory for a template of %zu bytes", strlen(word));
  t->ops = (op *)(t + 1);
  t->lit = (char *)(t->ops + count.nops);
  sink fill = {.t = t};
  parse(word, flags, &fill, bad_offset);
  *bad_offset = 0;
  t->flags = flags;
  t->nops = fill.nops;
  for (size_t i = 0; i < t->nops; i++) {
    t->uses |= uses_of(&t->ops[i]);
    if (t->ops[i].kind == OP_FIELD && t->ops[i].field > t->max_field) t->max_field = t->ops[i].field;
  }
  *out = t;
  return 0;
}

void inb__template_free(inb__template **t) {
  if (!t) return;
  inb__free(*t);
  *t = NULL;
}

unsigned inb__template_uses(const inb__template *t) { return t ? t->uses : 0; }

uint32_t inb__template_max_field(const inb__template *t) { return t ? t->max_field : 0; }

/* ---- path forms (each a piece of the name, or "." or "/") ----------------------------------------------------- */

typedef struct {
  const char *s;
  size_t n;
} span;

/* basename(1): the last component, trailing slashes ignored; "/" for a name of slashes only. */
static span base_of(span v) {
  size_t e = v.n, b;
  while (e > 0 && v.s[e - 1] == '/') e--;
  if (e == 0) return v.n ? (span){v.s, 1} : v;
  for (b = e; b > 0 && v.s[b - 1] != '/';) b--;
  return (span){v.s + b, e - b};
}

/* dirname(1): what is before the last component, trailing slashes removed; "." when nothing, "/" for the root. */
static span dir_of(span v) {
  size_t e = v.n;
  while (e > 0 && v.s[e - 1] == '/') e--;
  if (e == 0) return v.n ? (span){v.s, 1} : (span){".", 1};
  while (e > 0 && v.s[e - 1] != '/') e--;
  if (e == 0) return (span){".", 1};
  while (e > 0 && v.s[e - 1] == '/') e--;
  return e ? (span){v.s, e} : (span){v.s, 1};
}

/* The name without its last extension: from the last `.` of the last component on, unless that component has
 * no `.` after its leading dots (.bashrc, ..). */
static span noext_of(span v) {
  size_t b = v.n, i;
  while (b > 0 && v.s[b - 1] != '/') b--;
  for (i = b; i < v.n && v.s[i] == '.';) i++;
  for (size_t d = v.n; d > i; d--)
    if (v.s[d - 1] == '.') return (span){v.s, d - 1};
  return v;
}

static span form_apply(span v, form f) {
  switch (f) {
  case FORM_NOEXT: return noext_of(v);
  case FORM_BASE: return base_of(v);
  case FORM_DIR: return dir_of(v);
  case FORM_BASE_NOEXT: return noext_of(base_of(v));
  default: return v;
  }
}

/* ---- fields --------------------------------------------------------------------------------------------------- */

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* The next field of s[0..n) at or after *pos; false when there is none. */
static bool next_field(const char *s, size_t n, size_t *pos, span *f) {
  size_t i = *pos;
  while (i < n && blank(s[i])) i++;
  if (i == n) {
    *pos = n;
    return false;
  }
  size_t b = i;
  while (i < n && !blank(s[i])) i++;
  *f = (span){s + b, i - b};
  *pos = i;
  return true;
}

/* One task as an expansion sees it: its text (the index in decimal for a count's task) and the fields found so
 * far. Not to be copied: text may point into num. */
typedef struct {
  const inb__task_view *view;
  span text;
  char num[NUM_MAX];
  span kept[FIELDS_KEPT];   /* fields 1 .. nkept */
  uint32_t nkept;
  size_t pos;               /* where the search for field nkept+1 starts */
} task_ctx;

static void task_init(task_ctx *x, const inb__task_view *view) {
  x->view = view;
  x->nkept = 0;
  x->pos = 0;
  if (view->text) {
    x->text = (span){view->text, view->len};
  } else {
    int k = snprintf(x->num, sizeof x->num, "%lld", (long long)view->index);
    x->text = (span){x->num, (size_t)k};
  }
}

/* Field k (from 1) of the task; false when it has fewer. */
static bool field_at(task_ctx *x, uint32_t k, span *f) {
  while (x->nkept < k && x->nkept < FIELDS_KEPT) {
    if (!next_field(x->text.s, x->text.n, &x->pos, &x->kept[x->nkept])) return false;
    x->nkept++;
  }
  if (k <= x->nkept) {
    *f = x->kept[k - 1];
    return true;
  }
  size_t pos = x->pos;   /* past the fields kept: found again at each call */
  for (uint32_t j = x->nkept; j < k; j++)
    if (!next_field(x->text.s, x->text.n, &pos, f)) return false;
  return true;
}

static size_t count_fields(span text) {
  size_t pos = 0, n = 0;
  span f;
  while (next_field(text.s, text.n, &pos, &f)) n++;
  return n;
}

/* Where the task is, for a message: `task file 'F' line L`, `task line L` or `item I`. */
static const char *task_where(const inb__task_view *v, char *buf, size_t cap) {
  if (v->line && v->file)
    snprintf(buf, cap, "task file '%s' line %lld", v->file, (long long)v->line);
  else if (v->line)
    snprintf(buf, cap, "task line %lld", (long long)v->line);
  else
    snprintf(buf, cap, "item %lld", (long long)v->index);
  return buf;
}

static int missing_field(const task_ctx *x, const op *o) {
  char where[INB__ERRMSG_MAX / 2], text[SHOWN_MAX * 4 + 8];
  size_t n = count_fields(x->text);
  return inb__err(INB_EINVAL, "%s: '{%u%s}' asks for field %u but the task has %zu: '%s'",
                  task_where(x->view, where, sizeof where), (unsigned)o->field, FORM_SUFFIX[o->form],
                  (unsigned)o->field, n, shown(text, sizeof text, x->text.s, x->text.n));
}

/* ---- expanding ------------------------------------------------------------------------------------------------ */

/* Where an expansion writes: buf[0..cap) gets what fits; len counts everything. */
typedef struct {
  char *buf;
  size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

/* s[0..n) in single quotes for /bin/sh, each ' written '\'' (close, an escaped quote, reopen). */
static void put_quoted(out *o, const char *s, size_t n) {
  put(o, "'", 1);
  for (const char *q; n && (q = memchr(s, '\'', n)) != NULL;) {
    put(o, s, (size_t)(q - s));
    put(o, "'\\''", 4);
    n -= (size_t)(q - s) + 1;
    s = q + 1;
  }
  put(o, s, n);
  put(o, "'", 1);
}

static void put_number(out *o, long long v) {
  char num[NUM_MAX];
  put(o, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

/* Appends t's word for task x to o. Returns 0 or INB_EINVAL (a field that is missing, {line} of a count). */
static int expand_into(const inb__template *t, task_ctx *x, out *o) {
  for (size_t i = 0; i < t->nops; i++) {
    const op *p = &t->ops[i];
    span v;
    switch ((op_kind)p->kind) {
    case OP_LIT: put(o, t->lit + p->off, p->len); continue;
    case OP_INDEX: put_number(o, (long long)x->view->index); continue;
    case OP_SEQ: put_number(o, (long long)x->view->index + 1); continue;
    case OP_RANK: put_number(o, x->view->rank); continue;
    case OP_LINE:
      if (!x->view->line) {
        char where[64];
        return inb__err(INB_EINVAL, "%s: '{line}': the task is one of a count, not a line of a task file",
                        task_where(x->view, where, sizeof where));
      }
      put_number(o, (long long)x->view->line);
      continue;
    case OP_TEXT: v = x->text; break;
    case OP_FIELD:
      if (!field_at(x, p->field, &v)) return missing_field(x, p);
      break;
    }
    v = form_apply(v, (form)p->form);
    if (p->quote)
      put_quoted(o, v.s, v.n);
    else
      put(o, v.s, v.n);
  }
  return 0;
}

/* NUL-terminates what o holds: after the word when it fits, at the end of the buffer otherwise. */
static void terminate(out *o) {
  if (o->cap) o->buf[o->len < o->cap ? o->len : o->cap - 1] = '\0';
}

int inb__template_expand(const inb__template *t, const inb__task_view *task, char *buf, size_t cap, size_t *need) {
  if (need) *need = 0;
  if (!t || !task || (cap && !buf)) return inb__err(INB_EINVAL, "inb__template_expand: a NULL argument");
  task_ctx x;
  task_init(&x, task);
  out o = {buf, cap, 0};
  int rc = expand_into(t, &x, &o);
  if (rc) o.len = 0;   /* a failed expansion leaves "" and *need 0 */
  if (need) *need = o.len;
  terminate(&o);
  return rc;
}

int inb__template_argv(inb__template *const *words, size_t n, const inb__task_view *task, char ***out_argv) {
  if (!out_argv) return inb__err(INB_EINVAL, "inb__template_argv: out is NULL");
  *out_argv = NULL;
  if (!task || (n && !words)) return inb__err(INB_EINVAL, "inb__template_argv: a NULL argument");
  task_ctx x;
  task_init(&x, task);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {   /* measure: the fields found here are kept for the second pass */
    out m = {NULL, 0, 0};
    int rc = expand_into(words[i], &x, &m);
    if (rc) return rc;
    total += m.len + 1;
  }
  char **argv = inb__malloc((n + 1) * sizeof *argv + total);
  if (!argv) return inb__err(INB_ENOMEM, "out of memory for the %zu words of a task's command", n);
  char *s = (char *)(argv + n + 1);
  for (size_t i = 0; i < n; i++) {
    out o = {s, total, 0};
    expand_into(words[i], &x, &o);   /* cannot fail: the same expansion succeeded above */
    s[o.len] = '\0';
    argv[i] = s;
    s += o.len + 1;
    total -= o.len + 1;
  }
  argv[n] = NULL;
  *out_argv = argv;
  return 0;
}
