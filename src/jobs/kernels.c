/* Kernels: a step's C code compiled for this machine, cached, loaded on every rank, run as an action (see
 * kernels.h). */
#define _GNU_SOURCE /* pipe2, memmem */
#include "jobs/kernels.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/sha256.h"
#include "core/status.h"
#include "mpi/comm.h"

extern char **environ;

enum {
  KEY_HEX = 32,            /* 128 bits of SHA-256: a collision would load the wrong code, so not a 64-bit hash */
  MAX_CC_WORDS = 16,       /* $CC split on blanks */
  OUTPUT_KEEP = 64 * 1024, /* what is kept of a compiler's output */
  MESSAGE_CUT = 700,       /* of it, what a message quotes: the rest of inb_errmsg() names the job and line */
  STALE_SECONDS = 3600     /* a temporary this old belongs to a compile that was killed */
};

#define KERNEL_MAGIC 0x6b65726eu
#define GENERATED_NAME "inbatch-kernel.c" /* what messages call the generated lines (not the code's own) */

/* The compiled function (kernels.h, ABI 1). */
typedef int (*kernel_fn)(const void *x, void *y, size_t n, int ndim, const int64_t *shape, int64_t index,
                         const double *args, char *msg, size_t msgcap);

struct inb__kernel {
  unsigned magic;
  inb__action_spec spec;    /* its ext is the kernel: what shape and run find through a step's argvals */
  inb__argspec args[INB__KERNEL_MAX_ARGS];
  size_t nargs;
  char names[INB__KERNEL_MAX_ARGS][64];
  inb_dtype src, dst;
  char where[96];           /* "kernel at clean.yaml line 14": an item's message starts with it */
  char key[KEY_HEX + 1];
  char so[PATH_MAX];
  bool compiled;
  void *dl;
  kernel_fn fn;
};

/* ---- text -------------------------------------------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + len + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (len < 0) return;
  if ((size_t)len < sizeof small) {
    sb_add(b, small, (size_t)len);
    return;
  }
  char *big = malloc((size_t)len + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)len + 1, fmt, ap);
  va_end(ap);
  sb_add(b, big, (size_t)len);
  free(big);
}

static void sb_free(sbuf *b) {
  free(b->p);
  *b = (sbuf){0};
}

/* The lines written so far (the next line's number, less one). */
static size_t sb_lines(const sbuf *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) n += b->p[i] == '\n';
  return n;
}

/* s as the inside of a C string literal (a #line file name). */
static void sb_quoted(sbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') sb_add(b, "\\", 1);
    sb_add(b, *s == '\n' ? "?" : s, 1);
  }
}

/* s inside a comment: a "*" "/" in it would end the comment. */
static void sb_commented(sbuf *b, const char *s) {
  for (; *s; s++) {
    sb_add(b, *s == '\n' ? " " : s, 1);
    if (*s == '*' && s[1] == '/') sb_add(b, " ", 1);
  }
}

/* ---- what a kernel is: names and dtypes --------------------------------------------------------------------- */

static const struct {
  const char *ctype;
  const char *lo, *hi;       /* integers: a double at or below lo (at or above hi) saturates */
  const char *lo_c, *hi_c;   /* ... to these */
} k_ctypes[] = {
    [INB_I8] = {"int8_t", "-128.0", "127.0", "INT8_MIN", "INT8_MAX"},
    [INB_U8] = {"uint8_t", "0.0", "255.0", "0", "UINT8_MAX"},
    [INB_I16] = {"int16_t", "-32768.0", "32767.0", "INT16_MIN", "INT16_MAX"},
    [INB_U16] = {"uint16_t", "0.0", "65535.0", "0", "UINT16_MAX"},
    [INB_I32] = {"int32_t", "-2147483648.0", "2147483647.0", "INT32_MIN", "INT32_MAX"},
    [INB_U32] = {"uint32_t", "0.0", "4294967295.0", "0", "UINT32_MAX"},
    /* 2^63 and 2^64: the 64-bit maxima have no double; below these, round() fits */
    [INB_I64] = {"int64_t", "-9223372036854775808.0", "9223372036854775808.0", "INT64_MIN", "INT64_MAX"},
    [INB_U64] = {"uint64_t", "0.0", "18446744073709551616.0", "0", "UINT64_MAX"},
    [INB_F32] = {"float", NULL, NULL, NULL, NULL},
    [INB_F64] = {"double", NULL, NULL, NULL, NULL},
};

static int kernel_shape(const inb_array *src, const inb__argvals *a, inb_array *dst);
static int kernel_run(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result);

static bool valid_dtype(inb_dtype t) { return (unsigned)t <= (unsigned)INB_F64; }

static bool is_reserved(const char *s) {
  static const char *const words[] = {
      "x", "y", "n", "i", "ndim", "shape", "index", "fail",
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
      "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
      "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
      "asm", "typeof", "bool", "true", "false", "NULL", "errno", "NAN", "INFINITY", "HUGE_VAL", "EOF",
      "stdin", "stdout", "stderr"};
  if (strncmp(s, "inb_", 4) == 0 || s[0] == '_') return true;
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
    if (strcmp(s, words[k]) == 0) return true;
  return false;
}

static bool is_identifier(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

static bool blank(const char *s) {
  while (s && *s && isspace((unsigned char)*s)) s++;
  return !s || !*s;
}

static const char *job_name(const inb__kernel_src *src) { return src->job_path ? src->job_path : "(job)"; }

static int code_line(const inb__kernel_src *src) { return src->line > 0 ? src->line : 1; }

/* Checks src and fills what k knows without a compiler: its names, dtypes and action. Local. */
static int describe(const inb__kernel_src *src, inb__kernel *k) {
  const char *job = job_name(src);
  int line = code_line(src);
  if ((src->code != NULL) == (src->expr != NULL))
    return inb__err(INB_EINVAL, "job '%s' line %d: a kernel is code or an expression (expr), one of them", job,
                    line);
  if (blank(src->code ? src->code : src->expr))
    return inb__err(INB_EINVAL, "job '%s' line %d: the kernel's %s is empty", job, line,
                    src->code ? "code" : "expression");
  if (!valid_dtype(src->src) || !valid_dtype(src->dst))
    return inb__err(INB_EINVAL, "job '%s' line %d: the kernel's dtypes are not dtypes (%d, %d)", job, line,
                    (int)src->src, (int)src->dst);
  if (src->nargs > INB__KERNEL_MAX_ARGS)
    return inb__err(INB_EINVAL, "job '%s' line %d: a kernel takes at most %d arguments; found %zu", job, line,
                    INB__KERNEL_MAX_ARGS, src->nargs);
  if (src->nargs && !src->arg_names)
    return inb__err(INB_EINVAL, "job '%s' line %d: %zu kernel arguments without names", job, line, src->nargs);
  for (size_t a = 0; a < src->nargs; a++) {
    const char *name = src->arg_names[a];
    if (!is_identifier(name) || strlen(name) >= sizeof k->names[a])
      return inb__err(INB_EINVAL, "job '%s' line %d: kernel argument '%s' is not a C name (letters, digits and _, "
                                  "not first a digit; at most %zu)", job, line, name ? name : "",
                      sizeof k->names[a] - 1);
    if (is_reserved(name))
      return inb__err(INB_EINVAL, "job '%s' line %d: kernel argument '%s' is a name the kernel has already (x, y, "
                                  "n, i, ndim, shape, index, fail, C keywords, and inb_..., _...)", job, line, name);
    for (size_t b = 0; b < a; b++)
      if (strcmp(name, src->arg_names[b]) == 0)
        return inb__err(INB_EINVAL, "job '%s' line %d: kernel argument '%s' is named twice", job, line, name);
    snprintf(k->names[a], sizeof k->names[a], "%s", name);
    k->args[a] = (inb__argspec){.name = k->names[a], .type = INB_ARG_REAL, .doc = "a number the kernel's code reads"};
  }
  k->magic = KERNEL_MAGIC;
  k->nargs = src->nargs;
  k->src = src->src;
  k->dst = src->dst;
  const char *base = strrchr(job, '/') ? strrchr(job, '/') + 1 : job;
  snprintf(k->where, sizeof k->where, "%s at %.60s line %d", src->code ? "kernel" : "expr", base, line);
  k->spec = (inb__action_spec){
      .name = src->code ? "kernel" : "expr",
      .doc = src->code ? "the step's own C code on each item's row, compiled for this machine"
                       : "the step's own expression of each element x, compiled for this machine",
      .args = k->args, .nargs = k->nargs, .nsrc = 1, .shape = kernel_shape, .check = NULL, .run = kernel_run,
      .ext = k};
  return 0;
}

/* ---- the generated source ------------------------------------------------------------------------------------ */

/* The code's lines, each moved to the column it has in the job file (YAML took its indentation away), after a
 * #line that names the job file; then `closing`, on a line of its own that the compiler counts as the code's
 * last line, just past its end: code that ends unfinished ("x +", "while (") is reported where it ends, in the
 * job file. */
static void put_code(sbuf *b, const inb__kernel_src *src, const char *code, const char *closing) {
  sb_puts(b, "#line ");
  sb_printf(b, "%d \"", code_line(src));
  sb_quoted(b, job_name(src));
  sb_puts(b, "\"\n");
  int pad = src->col > 1 ? src->col - 1 : 0, lines = 0;
  size_t last = 0;
  for (const char *p = code; *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    sb_printf(b, "%*s", pad, "");
    sb_add(b, p, len);
    sb_add(b, "\n", 1);
    p += len + (end != NULL);
    last = len, lines++;
  }
  sb_printf(b, "#line %d \"", code_line(src) + (lines ? lines - 1 : 0));
  sb_quoted(b, job_name(src));
  sb_printf(b, "\"\n%*s%s\n", pad + (int)last, "", closing);
  sb_printf(b, "#line %zu \"" GENERATED_NAME "\"\n", sb_lines(b) + 2);
}

static const char *const k_signature =
    "int inb_kernel_run(const void *inb_x_, void *inb_y_, size_t n, int ndim, const int64_t *shape,\n"
    "                   int64_t index, const double *inb_args_, char *inb_msg_, size_t inb_msgcap_)";

/* The whole file but its key (which hashes the rest). `how` is the compiler's words, for the comment. */
static void generate(sbuf *b, const inb__kernel_src *src, const char *how) {
  const char *T = k_ctypes[src->src].ctype, *U = k_ctypes[src->dst].ctype;
  sb_puts(b, "#line 2 \"" GENERATED_NAME "\"\n/* An inbatch kernel, from job '");
  sb_commented(b, job_name(src));
  sb_printf(b, "' line %d (its %s).\n", code_line(src), src->code ? "code: the body of inb_kernel_run" :
                                                          "expression of each element x");
  sb_printf(b, " *\n * ABI %d. The command loads this object on every rank and calls, for each item,\n *\n", INB__KERNEL_ABI);
  for (const char *p = k_signature; *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    sb_puts(b, " *   ");
    sb_add(b, p, len);
    sb_puts(b, end ? "\n" : ";\n");
    p += len + (end != NULL);
  }
  sb_printf(b, " *\n * with the item's source row (n elements of %s: %s) and destination row (n elements of %s: %s),\n"
               " * both of shape[0..ndim) in C order; the item's index in the input; the step's numeric arguments in\n"
               " * the order of their names; and a buffer for fail()'s message. It returns 0, or non-zero when the\n"
               " * item fails. It exports inb_kernel_abi and inb_kernel_key, which the loader checks.\n *\n"
               " * Compiled with: ", inb__dtype_name(src->src), T, inb__dtype_name(src->dst), U);
  sb_commented(b, how);
  sb_puts(b, "\n */\n#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
             "#include <string.h>\n\n#define INB_EXPORT __attribute__((visibility(\"default\")))\n"
             "/* fail(\"format\", ...): the item fails, with this message */\n"
             "#define fail(...) do { snprintf(inb_msg_, inb_msgcap_, __VA_ARGS__); return 1; } while (0)\n\n");
  sb_printf(b, "INB_EXPORT extern const int inb_kernel_abi;\nINB_EXPORT const int inb_kernel_abi = %d;\n",
            INB__KERNEL_ABI);
  sb_printf(b, "INB_EXPORT extern const char inb_kernel_key[];\nINB_EXPORT %s;\n\nINB_EXPORT %s {\n", k_signature,
            k_signature);
  sb_printf(b, "  %s *y = inb_y_;\n", U);
  sb_printf(b, "  const %s *%s = inb_x_;\n", T, src->code ? "x" : "inb_xs_");
  for (size_t a = 0; a < src->nargs; a++)
    sb_printf(b, "  const double %s = inb_args_[%zu]; /* the step's argument '%s' */\n", src->arg_names[a], a,
              src->arg_names[a]);
  sb_puts(b, "  (void)n, (void)ndim, (void)shape, (void)index, (void)inb_args_, (void)inb_msg_, (void)inb_msgcap_;\n");
  if (src->code) {
    sb_puts(b, "  {\n");
    put_code(b, src, src->code, " }");
    sb_puts(b, "  return 0;\n}\n");
    return;
  }
  sb_puts(b, "  for (size_t i = 0; i < n; i++) {\n    const double x = (double)inb_xs_[i];\n"
             "    const double inb_v_ = (\n");
  put_code(b, src, src->expr, " );");
  if (k_ctypes[src->dst].lo) {
    sb_printf(b, "    if (inb_v_ != inb_v_) fail(\"NaN at element %%zu has no %s value\", i);\n",
              inb__dtype_name(src->dst));
    sb_printf(b, "    y[i] = inb_v_ <= %s ? %s : inb_v_ >= %s ? %s : (%s)round(inb_v_);\n", k_ctypes[src->dst].lo,
              k_ctypes[src->dst].lo_c, k_ctypes[src->dst].hi, k_ctypes[src->dst].hi_c, U);
  } else {
    sb_printf(b, "    y[i] = (%s)inb_v_;\n", U);
  }
  sb_puts(b, "  }\n  return 0;\n}\n");
}

/* ---- the compiler -------------------------------------------------------------------------------------------- */

typedef struct {
  char words[1024];                 /* $CC's words, NUL-separated */
  const char *argv[MAX_CC_WORDS];
  size_t argc;
  char path[PATH_MAX];              /* argv[0] resolved */
  char version[256];                /* --version's first line */
  sbuf target;                      /* the resolved -march=native, as flags separated by blanks */
} compiler;

/* The flags of every kernel, before the target's. */
static const char *const k_flags[] = {"-std=gnu11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared",
                                      "-fvisibility=hidden", "-fdiagnostics-color=never",
                                      "-Werror=implicit-function-declaration", "-Werror=implicit-int",
                                      "-Wl,-z,defs"};

/* The environment of the compiler: ours, with messages in plain ASCII (LC_ALL=C). Freed with free(). */
static char **compiler_env(void) {
  size_t n = 0;
  while (environ && environ[n]) n++;
  char **env = calloc(n + 2, sizeof *env);
  if (!env) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LC_ALL=", 7) != 0) env[m++] = environ[i];
  env[m++] = (char *)"LC_ALL=C";
  env[m] = NULL;
  return env;
}

/* Runs argv, its stdout and stderr into *out (the first OUTPUT_KEEP bytes); *status is waitpid's. Returns 0,
 * INB_ENOTFOUND (argv[0] cannot be run), INB_EIO, INB_ENOMEM. */
static int run_captured(const char *const *argv, sbuf *out, int *status) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return inb__err(INB_EIO, "cannot run '%s': pipe: %s", argv[0], strerror(errno));
  char **env = compiler_env();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  pid_t pid = 0;
  int err = env ? posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env) : ENOMEM;
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  close(fds[1]);
  if (err) {
    close(fds[0]);
    if (err == ENOMEM) return inb__err(INB_ENOMEM, "out of memory to run '%s'", argv[0]);
    return inb__err(err == ENOENT || err == EACCES ? INB_ENOTFOUND : INB_EIO, "cannot run the C compiler '%s': %s "
                    "(set CC to one)", argv[0], strerror(err));
  }
  char chunk[4096];
  for (;;) {
    ssize_t got = read(fds[0], chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    size_t room = out->n < OUTPUT_KEEP ? OUTPUT_KEEP - out->n : 0;
    sb_add(out, chunk, (size_t)got < room ? (size_t)got : room);
  }
  close(fds[0]);
  while (waitpid(pid, status, 0) < 0)
    if (errno != EINTR) return inb__err(INB_EIO, "cannot wait for '%s': %s", argv[0], strerror(errno));
  if (out->oom) return inb__err(INB_ENOMEM, "out of memory for the output of '%s'", argv[0]);
  if (!out->p) sb_add(out, "", 0);
  return 0;
}

/* argv[0] as a path: itself when it has a '/', else the first match on PATH; then without links. */
static int resolve_path(compiler *cc) {
  const char *name = cc->argv[0];
  char found[PATH_MAX] = "";
  if (strchr(name, '/')) {
    snprintf(found, sizeof found, "%s", name);
  } else {
    const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    for (const char *p = path; *p && !*found;) {
      const char *end = strchr(p, ':');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      char cand[PATH_MAX];
      snprintf(cand, sizeof cand, "%.*s/%s", (int)len, len ? p : ".", name);
      if (access(cand, X_OK) == 0) snprintf(found, sizeof found, "%s", cand);
      p += len + (end != NULL);
    }
  }
  if (!*found || !realpath(found, cc->path))
    return inb__err(INB_ENOTFOUND, "the C compiler '%s' is not found%s (kernels need one: install gcc, or set CC)",
                    name, strchr(name, '/') ? "" : " on PATH");
  return 0;
}

/* The words of one line of -### output ("a" "b", or a b), unquoted into w (NUL-separated); returns how many. */
static size_t split_words(const char *line, size_t len, char *w, size_t cap, const char **words, size_t max) {
  size_t n = 0, used = 0;
  for (size_t i = 0; i < len && n < max;) {
    while (i < len && isspace((unsigned char)line[i])) i++;
    if (i >= len) break;
    bool quoted = line[i] == '"';
    size_t start = i + quoted, j = start;
    while (j < len && (quoted ? line[j] != '"' : !isspace((unsigned char)line[j]))) j += line[j] == '\\' && quoted ? 2 : 1;
    size_t wl = (j < len ? j : len) - start;
    if (used + wl + 1 > cap) break;
    memcpy(w + used, line + start, wl);
    w[used + wl] = '\0';
    words[n++] = w + used;
    used += wl + 1;
    i = j + quoted;
  }
  return n;
}

/* What -march=native means to this compiler on this host, as explicit flags: GCC's driver passes cc1 the model
 * (-march=, -mtune=), every feature on or off (-mavx512f, -mno-pku) and the cache sizes; clang's passes -cc1 the
 * model and its features (-target-cpu, -target-feature). The model alone is not enough: a virtual machine may hide
 * features that the model name implies. Empty when the output is neither's. */
static int parse_target(const char *text, sbuf *t) {
  enum { MAXW = 2048 };
  const char **words = malloc(MAXW * sizeof *words);
  char *store = malloc(strlen(text) + 1);
  int rc = !words || !store ? inb__err(INB_ENOMEM, "out of memory") : 0;
  for (const char *p = text; !rc && *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t n = split_words(p, len, store, strlen(text) + 1, words, MAXW);
    p += len + (end != NULL);
    bool gcc = false, clang = false;
    for (size_t i = 0; i < n; i++) {
      size_t wl = strlen(words[i]);
      gcc |= (wl >= 4 && strcmp(words[i] + wl - 4, "/cc1") == 0) || strcmp(words[i], "cc1") == 0;
      clang |= strcmp(words[i], "-cc1") == 0;
    }
    if (!gcc && !clang) continue;
    for (size_t i = 0; i < n; i++) {
      const char *w = words[i], *next = i + 1 < n ? words[i + 1] : NULL;
      if (gcc && strncmp(w, "-m", 2) == 0 && strcmp(w, "-march=native") != 0 && strcmp(w, "-mtune=native") != 0)
        sb_printf(t, "%s%s", t->n ? " " : "", w);
      else if (gcc && strcmp(w, "--param") == 0 && next && !strchr(next, ' '))
        sb_printf(t, "%s--param %s", t->n ? " " : "", next), i++;
      else if (clang && strcmp(w, "-target-cpu") == 0 && next)
        sb_printf(t, "%s-march=%s", t->n ? " " : "", next), i++;
      else if (clang && strcmp(w, "-tune-cpu") == 0 && next)
        sb_printf(t, "%s-mtune=%s", t->n ? " " : "", next), i++;
      else if (clang && strcmp(w, "-target-feature") == 0 && next && !strchr(next, ' '))
        sb_printf(t, "%s-Xclang -target-feature -Xclang %s", t->n ? " " : "", next), i++;
    }
    if (t->n && !strstr(t->p, "-march=")) t->n = 0, t->p[0] = '\0'; /* no model: not what we took it for */
    break;
  }
  if (!rc && t->oom) rc = inb__err(INB_ENOMEM, "out of memory");
  free(words);
  free(store);
  return rc;
}

/* The CPU as /proc/cpuinfo names it (model and flags), for a compiler whose -### says nothing we know: the key
 * then tells CPUs apart itself. */
static void cpu_identity(sbuf *t) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[8192];
  int seen = 0;
  while (f && seen < 2 && fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0 || strncmp(line, "flags", 5) == 0) sb_printf(t, " %s", line), seen++;
  if (f) fclose(f);
}

static int find_compiler(compiler *cc) {
  const char *env = getenv("CC");
  snprintf(cc->words, sizeof cc->words, "%s", env && !blank(env) ? env : "cc");
  cc->argc = 0;
  for (char *save = NULL, *w = strtok_r(cc->words, " \t", &save); w && cc->argc < MAX_CC_WORDS - 1;
       w = strtok_r(NULL, " \t", &save))
    cc->argv[cc->argc++] = w;
  int rc = resolve_path(cc);
  const char *argv[MAX_CC_WORDS + 16];
  sbuf out = {0};
  int status = 0;
  size_t n = cc->argc;
  memcpy(argv, cc->argv, n * sizeof *argv);
  argv[n] = "--version";
  argv[n + 1] = NULL;
  if (!rc) rc = run_captured(argv, &out, &status);
  if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
    rc = inb__err(INB_ENOTFOUND, "the C compiler '%s' does not run (--version: %.200s)", cc->argv[0], out.p);
  if (!rc) snprintf(cc->version, sizeof cc->version, "%.*s", (int)strcspn(out.p, "\n"), out.p);
  sb_free(&out);
  const char *probe[] = {"-###", "-march=native", "-x", "c", "-c", "/dev/null", "-o", "/dev/null", NULL};
  memcpy(argv + n, probe, sizeof probe);
  if (!rc) rc = run_captured(argv, &out, &status);
  /* -### exits 0 (GCC) or 0/1 (some clangs): its words are what matter */
  if (!rc) rc = parse_target(out.p, &cc->target);
  if (!rc && cc->target.n == 0) sb_puts(&cc->target, "-march=native"); /* the key adds the CPU (lead) */
  if (!rc && cc->target.oom) rc = inb__err(INB_ENOMEM, "out of memory");
  sb_free(&out);
  return rc;
}

/* ---- the cache ------------------------------------------------------------------------------------------------- */

/* mkdir -p, new directories private to the user (a cache of code others could write is code they could run). */
static int make_dirs(const char *path) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
      return inb__err(INB_EIO, "cannot make the kernel cache '%s': %s (set INBATCH_CACHE to a writable directory)",
                      p, strerror(errno));
    *s = c;
    if (!c) break;
  }
  struct stat st;
  if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
    return inb__err(INB_EIO, "the kernel cache '%s' is not a directory (set INBATCH_CACHE to one)", p);
  return 0;
}

static int cache_dir(char *out, size_t cap) {
  const char *env = getenv("INBATCH_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char base[PATH_MAX];
  if (env && *env) {
    snprintf(base, sizeof base, "%s", env);
  } else if (xdg && *xdg == '/') {
    snprintf(base, sizeof base, "%s/inbatch", xdg);
  } else {
    struct passwd pw, *found = NULL;
    char buf[4096];
    if ((!home || !*home) && getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found) home = pw.pw_dir;
    if (!home || !*home) return inb__err(INB_EIO, "no kernel cache: HOME is not set (set INBATCH_CACHE)");
    snprintf(base, sizeof base, "%s/.cache/inbatch", home);
  }
  if ((size_t)snprintf(out, cap, "%s/kernels", base) >= cap)
    return inb__err(INB_EIO, "the kernel cache's path is too long: '%s'", base);
  return make_dirs(out);
}

/* ".<key>.XXXXXX.so" or ".c": a temporary of a compile. */
static bool is_temporary(const char *name) {
  size_t len = strlen(name);
  if (name[0] != '.' || len < 1 + KEY_HEX + 8 + 2) return false;
  for (size_t i = 1; i <= KEY_HEX; i++)
    if (!isxdigit((unsigned char)name[i])) return false;
  return name[1 + KEY_HEX] == '.' && (strcmp(name + len - 3, ".so") == 0 || strcmp(name + len - 2, ".c") == 0);
}

/* Removes the temporaries of compiles that were killed (old ones: a fresh one may be another node's, at work). */
static void sweep(const char *dir) {
  DIR *d = opendir(dir);
  time_t now = time(NULL);
  for (struct dirent *e; d && (e = readdir(d));) {
    struct stat st;
    if (!is_temporary(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && now - st.st_mtime > STALE_SECONDS) unlinkat(dirfd(d), e->d_name, 0);
  }
  if (d) closedir(d);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

/* The compiler's output as a message quotes it: without the lines that name only the function, cut at a line
 * end near MESSAGE_CUT bytes. */
static void quote_output(const char *out, sbuf *q) {
  size_t lines = 0, dropped = 0;
  for (const char *p = out; *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    bool noise = memmem(p, len, ": In function '", 15) || memmem(p, len, ": At top level:", 15) ||
                 memmem(p, len, "some warnings being treated as errors", 37);
    if (!noise && len) {
      if (q->n + len < MESSAGE_CUT) sb_printf(q, "%s%.*s", q->n ? "\n" : "", (int)len, p), lines++;
      else dropped++;
    }
    p += len + (end != NULL);
  }
  if (dropped) sb_printf(q, "\n(and %zu more line%s)", dropped, dropped == 1 ? "" : "s");
  if (!q->p) sb_puts(q, "(the compiler said nothing)");
  (void)lines;
}

/* Compiles text into dir/key.so: under a temporary name, renamed into place only once the compiler succeeded
 * and the object is on disk, so no reader ever finds a half-written KEY.so under its name. */
static int compile(const compiler *cc, const inb__kernel_src *src, const char *dir, const char *key,
                   const char *text, const char *so) {
  char tmp_c[PATH_MAX], tmp_so[PATH_MAX], final_c[PATH_MAX];
  if ((size_t)snprintf(tmp_c, sizeof tmp_c, "%s/.%s.XXXXXX.c", dir, key) >= sizeof tmp_c ||
      (size_t)snprintf(tmp_so, sizeof tmp_so, "%s/.%s.XXXXXX.so", dir, key) >= sizeof tmp_so ||
      (size_t)snprintf(final_c, sizeof final_c, "%s/%s.c", dir, key) >= sizeof final_c)
    return inb__err(INB_EIO, "the kernel cache's path is too long: '%s'", dir);
  sweep(dir);
  int rc = 0, fd_c = mkstemps(tmp_c, 2), fd_so = fd_c < 0 ? -1 : mkstemps(tmp_so, 3);
  if (fd_c < 0 || fd_so < 0) {
    rc = inb__err(INB_EIO, "cannot write in the kernel cache '%s': %s", dir, strerror(errno));
    if (fd_c >= 0) close(fd_c), unlink(tmp_c);
  } else {
    close(fd_so);
    int wrc = write_all(fd_c, text, strlen(text));
    if (close(fd_c) != 0 || wrc != 0) rc = inb__err(INB_EIO, "cannot write '%s': %s", tmp_c, strerror(errno));
  }
  enum { MAX_ARGV = MAX_CC_WORDS + 16 + 1024 };
  const char **argv = malloc(MAX_ARGV * sizeof *argv);
  size_t n = 0;
  sbuf words = {0}, out = {0};
  if (!rc && !argv) rc = inb__err(INB_ENOMEM, "out of memory");
  if (!rc) {
    for (size_t i = 0; i < cc->argc; i++) argv[n++] = cc->argv[i];
    for (size_t i = 0; i < sizeof k_flags / sizeof k_flags[0]; i++) argv[n++] = k_flags[i];
    sb_puts(&words, cc->target.p);
    for (char *save = NULL, *w = words.p ? strtok_r(words.p, " ", &save) : NULL; w && n < MAX_ARGV - 5;
         w = strtok_r(NULL, " ", &save))
      argv[n++] = w;
    const char *tail[] = {"-o", tmp_so, tmp_c, "-lm", NULL};
    memcpy(argv + n, tail, sizeof tail);
    if (words.oom) rc = inb__err(INB_ENOMEM, "out of memory");
  }
  int status = 0;
  if (!rc) rc = run_captured(argv, &out, &status);
  if (!rc && WIFSIGNALED(status))
    rc = inb__err(INB_EIO, "job '%s' line %d: the compiler '%s' was killed (signal %d) compiling the kernel",
                  job_name(src), code_line(src), cc->words, WTERMSIG(status));
  if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
    sbuf q = {0};
    quote_output(out.p, &q);
    rc = inb__err(INB_EINVAL, "job '%s' line %d: the %s does not compile:\n%s", job_name(src), code_line(src),
                  src->code ? "kernel" : "expression", q.p ? q.p : "");
    sb_free(&q);
  }
  if (!rc) { /* on disk before it has its name, so a crash cannot leave an empty KEY.so behind */
    int fd = open(tmp_so, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) rc = inb__err(INB_EIO, "cannot write '%s': %s", tmp_so, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (!rc && rename(tmp_so, so) != 0) rc = inb__err(INB_EIO, "cannot rename into '%s': %s", so, strerror(errno));
  if (!rc && rename(tmp_c, final_c) != 0) unlink(tmp_c); /* the source is for people to read: not a failure */
  if (rc && fd_so >= 0) unlink(tmp_so), unlink(tmp_c);
  free(argv);
  sb_free(&words);
  sb_free(&out);
  return rc;
}

/* dlopen and the checks of the exports. On success k->dl and k->fn are set. */
static int load(inb__kernel *k) {
  void *h = dlopen(k->so, RTLD_NOW | RTLD_LOCAL);
  if (!h) return inb__err(INB_EIO, "the kernel '%s' does not load: %s", k->so, dlerror());
  const int *abi = dlsym(h, "inb_kernel_abi");
  const char *key = dlsym(h, "inb_kernel_key");
  void *fn = dlsym(h, "inb_kernel_run");
  if (!abi || *abi != INB__KERNEL_ABI || !key || strcmp(key, k->key) != 0 || !fn) {
    dlclose(h);
    return inb__err(INB_EIO, "the kernel '%s' is not the one expected (ABI %d, key %.40s)", k->so, abi ? *abi : -1,
                    key ? key : "none");
  }
  k->dl = h;
  memcpy(&k->fn, &fn, sizeof fn); /* POSIX: a dlsym'd object pointer converts to the function it names */
  return 0;
}

/* What a node's lowest rank does: the key, then the cache, or the compiler. Sets k->key, k->so, k->compiled and
 * loads k. */
static int lead(const inb__kernel_src *src, inb__kernel *k) {
  compiler cc = {0};
  sbuf text = {0}, how = {0};
  char dir[PATH_MAX];
  int rc = find_compiler(&cc);
  if (!rc) {
    sb_printf(&how, "%s", cc.path);
    for (size_t i = 1; i < cc.argc; i++) sb_printf(&how, " %s", cc.argv[i]);
    for (size_t i = 0; i < sizeof k_flags / sizeof k_flags[0]; i++) sb_printf(&how, " %s", k_flags[i]);
    sb_printf(&how, " %s (%s)", cc.target.p, cc.version);
    generate(&text, src, how.p ? how.p : "");
    if (text.oom || how.oom) rc = inb__err(INB_ENOMEM, "out of memory for a kernel's source");
  }
  if (!rc) {
    inb__sha256 s;
    inb__sha256_init(&s);
    inb__sha256_str(&s, "inbatch kernel");
    inb__sha256_add(&s, &(int){INB__KERNEL_ABI}, sizeof(int));
    inb__sha256_str(&s, cc.path);
    for (size_t i = 0; i < cc.argc; i++) inb__sha256_str(&s, cc.argv[i]);
    inb__sha256_str(&s, cc.version);
    for (size_t i = 0; i < sizeof k_flags / sizeof k_flags[0]; i++) inb__sha256_str(&s, k_flags[i]);
    inb__sha256_str(&s, cc.target.p);
    if (strstr(cc.target.p, "-march=native")) { /* unresolved: the CPU itself */
      sbuf cpu = {0};
      cpu_identity(&cpu);
      inb__sha256_str(&s, cpu.p ? cpu.p : "");
      sb_free(&cpu);
    }
    inb__sha256_str(&s, text.p);
    inb__sha256_hex(&s, k->key, KEY_HEX);
    sb_printf(&text, "\nINB_EXPORT const char inb_kernel_key[] = \"%s\";\n", k->key);
    rc = text.oom ? inb__err(INB_ENOMEM, "out of memory for a kernel's source") : cache_dir(dir, sizeof dir);
  }
  if (!rc && (size_t)snprintf(k->so, sizeof k->so, "%s/%s.so", dir, k->key) >= sizeof k->so)
    rc = inb__err(INB_EIO, "the kernel cache's path is too long: '%s'", dir);
  if (!rc && access(k->so, R_OK) == 0 && load(k) == 0) {
    k->compiled = false;
  } else if (!rc) { /* a miss; or an object that does not load (not ours, damaged): made again, replaced */
    rc = compile(&cc, src, dir, k->key, text.p, k->so);
    if (!rc) rc = load(k);
    k->compiled = rc == 0;
  }
  sb_free(&cc.target);
  sb_free(&text);
  sb_free(&how);
  return rc;
}

/* ---- every rank ------------------------------------------------------------------------------------------------ */

/* What a node's lowest rank tells the others. */
typedef struct {
  int rc, compiled;
  char key[KEY_HEX + 1];
  char so[PATH_MAX];
  char msg[INB__ERRMSG_MAX];
} leader_word;

static uint64_t digest_src(const inb__kernel_src *src) {
  uint64_t h = inb__digest_str(INB__DIGEST_START, src->code);
  h = inb__digest_str(h, src->expr);
  h = inb__digest_str(h, src->job_path);
  h = inb__digest_i64(h, src->line);
  h = inb__digest_i64(h, src->col);
  h = inb__digest_i64(h, src->src);
  h = inb__digest_i64(h, src->dst);
  h = inb__digest_i64(h, (int64_t)src->nargs);
  for (size_t a = 0; src->arg_names && a < src->nargs && a <= INB__KERNEL_MAX_ARGS; a++)
    h = inb__digest_str(h, src->arg_names[a]);
  return h;
}

/* Under MPI: every rank came with the same src; each node's lowest rank leads while the others wait (without
 * spinning: the compiler needs their cores); every rank learns its node's outcome and then every node's; every
 * rank loads the object; and they agree again. rc is this rank's outcome so far. */
static int build_together(const inb__kernel_src *src, inb__kernel *k, MPI_Comm user, int rc) {
  inb__ecomm *e = NULL;
  MPI_Comm comm = MPI_COMM_NULL, node = MPI_COMM_NULL;
  int erc = inb__mpi_enter(user, INB_ARRIVAL_TIMEOUT_MS, &e, &comm);
  if (erc) return erc;
  rc = inb__mpi_agree_entry(e, rc, digest_src(src), INB_ARRIVAL_TIMEOUT_MS, "building a kernel");
  if (rc) goto out;
  int mrc = INB__MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  rc = inb__mpi_agree(mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "finding the ranks of this node (MPI_Comm_split_type)"),
                      comm);
  if (rc) goto out;
  int nrank = 0;
  MPI_Comm_rank(node, &nrank);
  leader_word w = {0};
  if (nrank == 0) {
    w.rc = lead(src, k);
    w.compiled = k->compiled;
    snprintf(w.key, sizeof w.key, "%s", k->key);
    snprintf(w.so, sizeof w.so, "%s", k->so);
    if (w.rc) snprintf(w.msg, sizeof w.msg, "%s", inb_errmsg());
  }
  MPI_Request req;
  mrc = MPI_Ibcast(&w, (int)sizeof w, MPI_BYTE, 0, node, &req);
  int done = mrc == MPI_SUCCESS ? inb__mpi_wait_until(&req, 0) : inb__mpi_fail(mrc, "MPI_Ibcast");
  if (done < 0) {
    rc = done;
  } else if ((rc = w.rc) != 0) {
    if (nrank != 0) inb__err_set(rc, w.msg);
  } else if (nrank != 0) {
    k->compiled = w.compiled;
    snprintf(k->key, sizeof k->key, "%s", w.key);
    snprintf(k->so, sizeof k->so, "%s", w.so);
  }
  rc = inb__mpi_agree(rc, comm);
  if (!rc && !k->dl) rc = load(k);
  rc = inb__mpi_agree(rc, comm);
out:
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  inb__mpi_leave(e);
  return rc;
}

int inb__kernel_build(const inb__kernel_src *src, void *comm, inb__kernel **out) {
  *out = NULL;
  inb__kernel *k = calloc(1, sizeof *k);
  int rc = !k ? inb__err(INB_ENOMEM, "out of memory for a kernel") : !src ? inb__err(INB_EINVAL, "no kernel") : 0;
  if (!rc) rc = describe(src, k);
  int inited = 0, finalized = 0, size = 1;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  MPI_Comm user = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD;
  if (inited && !finalized) MPI_Comm_size(user, &size);
  if (size > 1) {
    inb__kernel spare = {0}; /* a rank without its own still takes part */
    rc = build_together(src, k ? k : &spare, user, rc);
    if (!k && spare.dl) dlclose(spare.dl);
  } else if (!rc) {
    rc = lead(src, k);
  }
  if (rc) {
    inb__kernel_free(&k);
    return rc;
  }
  *out = k;
  return 0;
}

/* ---- the action ------------------------------------------------------------------------------------------------ */

/* The kernel a step's arguments were bound for (a->ext, as the action's ext). */
static const inb__kernel *kernel_of(const inb__argvals *a) {
  const inb__kernel *k = a ? a->ext : NULL;
  return k && k->magic == KERNEL_MAGIC ? k : NULL;
}

static int kernel_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  const inb__kernel *k = kernel_of(a);
  if (!k) return inb__err(INB_EINVAL, "a kernel's arguments are not bound to it (their ext is not the action's)");
  if (src->dtype != k->src)
    return inb__err(INB_EINVAL, "the %s is compiled for %s rows; this src has %s rows", k->where,
                    inb__dtype_name(k->src), inb__dtype_name(src->dtype));
  *dst = *src;
  dst->dtype = k->dst;
  dst->data = NULL;
  return 0;
}

static int kernel_run(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)result;
  const inb__kernel *k = kernel_of(a);
  if (!k || !k->fn) return inb_fail(it, INB_EINVAL, "a kernel ran without its arguments bound to it");
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  size_t n = inb_array_count(x);
  if (x->dtype != k->src || y->dtype != k->dst || inb_array_count(y) != n)
    return inb_fail(it, INB_EINVAL, "%s: rows of %s into %s, %zu elements into %zu: the kernel is for %s into %s",
                    k->where, inb__dtype_name(x->dtype), inb__dtype_name(y->dtype), n, inb_array_count(y),
                    inb__dtype_name(k->src), inb__dtype_name(k->dst));
  double vals[INB__KERNEL_MAX_ARGS] = {0};
  for (size_t j = 0; j < k->nargs && j < a->n; j++) vals[j] = a->v[j].r;
  char msg[INB__KERNEL_MSG];
  msg[0] = '\0';
  int rc = k->fn(x->data, y->data, n, x->ndim, x->shape, inb_item_index(it), vals, msg, sizeof msg);
  if (rc == 0) return 0;
  if (!msg[0]) return inb_fail(it, INB_EINVAL, "%s: failed (returned %d)", k->where, rc);
  return inb_fail(it, INB_EINVAL, "%s: %s", k->where, msg);
}

const inb__action_spec *inb__kernel_action(const inb__kernel *k) { return k ? &k->spec : NULL; }
const char *inb__kernel_key(const inb__kernel *k) { return k->key; }
const char *inb__kernel_path(const inb__kernel *k) { return k->so; }
bool inb__kernel_compiled(const inb__kernel *k) { return k->compiled; }

void inb__kernel_free(inb__kernel **kp) {
  if (!kp || !*kp) return;
  inb__kernel *k = *kp;
  if (k->dl) dlclose(k->dl);
  free(k);
  *kp = NULL;
}
