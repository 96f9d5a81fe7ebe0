/* Internal: kernels, a job step's own C code. A step gives the body of a per-item function (or, in the short
 * form, an elementwise expression); the command compiles it once for the machine it runs on, keeps the shared
 * object in a cache, loads it on every rank, and runs it as an action like the built-ins (actions.h).
 *
 * The function a kernel becomes (ABI 1; the generated file says it again at its top):
 *
 *   int inb_kernel_run(const void *inb_x_, void *inb_y_, size_t n, int ndim, const int64_t *shape,
 *                      int64_t index, const double *inb_args_, char *inb_msg_, size_t inb_msgcap_);
 *
 * called once per item with its source row and its destination row (n elements each, C order, both of the
 * row's shape); the item's index in the input; the step's numeric arguments in the order of their names; and a
 * buffer for the message of a failed item. It returns 0, or non-zero when the item fails. The object also
 * exports `const int inb_kernel_abi` (1) and `const char inb_kernel_key[]` (the cache key it was built under),
 * which the loader checks.
 *
 * What the code sees. The body form (`code`): `const T *x` and `U *y`, the rows (T the source dtype's C type,
 * U the destination's: int8_t ... uint64_t, float, double); `size_t n`; `int ndim` and `const int64_t *shape`,
 * the row's shape (an image's height and width); `int64_t index`; each numeric argument as `const double NAME`;
 * `fail("format", ...)`, which ends the item as failed with that message (printf-style; cut to
 * INB__KERNEL_MSG bytes); and <math.h>, <stddef.h>, <stdint.h>, <stdio.h>, <string.h> (a body includes no
 * headers of its own). Falling off the end of the body returns 0. The expression form (`expr`): an expression of `x`, the element as a double (integers are
 * exact below 2^53), and of `i`, its position in the row, and of the arguments; its value is stored into the
 * destination's dtype: a float is rounded to it, an integer is rounded half away from zero and saturated at
 * the dtype's range, and NaN into an integer dtype fails the item (as the `cast` action does).
 *
 * Reserved names (no argument may have them): x, y, n, i, ndim, shape, index, fail, C keywords, a few macros of
 * the headers (NAN, INFINITY, errno, ...), and names that start with inb_ or _.
 *
 * Compiling: the system compiler, `cc` or $CC (split on blanks: "ccache gcc" works), with -std=gnu11 -O3
 * -ffp-contract=off -fno-math-errno -fPIC -shared and the host's own target: what `-march=native` means here,
 * resolved to the explicit -march= value and every CPU feature the compiler reports on or off
 * (`cc -### -march=native`), since a virtual machine may hide a feature that its model name implies. No fused
 * multiply-adds unless the code asks (fma()): nodes with and without FMA compute the same numbers. `#line`
 * directives make the compiler's messages name the job file and its lines (and columns, when the caller gives
 * the code's column); a compile error is quoted in the message, cut near 700 bytes.
 *
 * The cache: $INBATCH_CACHE, else $XDG_CACHE_HOME/inbatch, else ~/.cache/inbatch (made when missing), with
 * kernels/KEY.so and kernels/KEY.c (the generated source, to read). KEY is a SHA-256 (first 128 bits) of the
 * generated source (which names the job file and the code's line: code moved in its job is compiled again), the
 * compiler's path, arguments and `--version` line, the flags and the resolved target: a home directory shared by
 * nodes with different CPUs gives each kind its own objects. An object is compiled
 * under a temporary name (.KEY.XXXXXX.so) and renamed into place when complete, so the cache never holds a
 * half-written KEY.so; a KEY.so that does not load, or carries another key, is compiled again and replaced.
 * Temporaries older than an hour (a compile that was killed) are removed when a kernel is compiled. */
#ifndef INB_JOBS_KERNELS_H
#define INB_JOBS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "jobs/actions.h"

enum {
  INB__KERNEL_ABI = 1,      /* the generated function's signature and exports, as above */
  INB__KERNEL_MAX_ARGS = INB__MAX_ARGS, /* the numeric arguments of a step */
  INB__KERNEL_MSG = 256     /* fail()'s buffer: an item's message as the output keeps it */
};

/* What a kernel is made of. Strings are the caller's and need to live only during inb__kernel_build. */
typedef struct {
  const char *code;               /* the function's body; or NULL, and ... */
  const char *expr;               /* ... the short form: an elementwise expression of x */
  const char *job_path;           /* the job file, as messages and #line name it */
  int line;                       /* the job file's line of the code's first line (1-based) */
  int col;                        /* the column its lines start at (YAML strips the indentation); 0: unknown */
  inb_dtype src, dst;             /* the rows' dtypes: x is const T *, y is U * */
  const char *const *arg_names;   /* the step's numeric arguments, each a `const double NAME` in the code */
  size_t nargs;                   /* at most INB__KERNEL_MAX_ARGS */
} inb__kernel_src;

typedef struct inb__kernel inb__kernel;

/* Builds the kernel and loads it on every rank of *comm (an MPI_Comm*; NULL = MPI_COMM_WORLD; alone when MPI is
 * not running). Collective: every rank passes the same src (checked: ranks that differ fail together). On each
 * node the lowest rank looks in the cache and compiles on a miss while the node's other ranks wait; then every
 * rank loads the object. On success *out is the caller's (inb__kernel_free); on failure *out is NULL.
 * Returns 0, or on every rank the same code and message (inb_errmsg(), "rank N: " first when several ranks):
 * INB_EINVAL (an argument or src that is wrong, ranks called with different src, or code that does not
 * compile: "job 'PATH' line L: the kernel does not compile:" and the compiler's messages, which name the job's
 * lines, cut to fit), INB_ENOTFOUND (no compiler), INB_EIO (the cache cannot be written, the compiler was killed,
 * the object does not load), INB_EMPI, INB_ENOMEM. */
int inb__kernel_build(const inb__kernel_src *src, void *comm, inb__kernel **out);

/* The kernel as an action (owned by k, valid until inb__kernel_free): name "kernel" (or "expr"), one source
 * per call, its arguments the src's names in their order, all INB_ARG_REAL and required, and its ext the
 * kernel. shape: the source row with the destination dtype; INB_EINVAL when the source row's dtype is not the
 * kernel's src. run: the compiled function on the item's rows, with the values a->v[0..nargs).r; a failed item's
 * message is "kernel at FILE line L: " and fail()'s words. The step's inb__argvals must be bound against this
 * action (a->spec = its args, a->ext = its ext, as for a plugin's action): that is how shape and run find the
 * kernel. */
const inb__action_spec *inb__kernel_action(const inb__kernel *k);

/* The cache key (32 hex digits) and the shared object's path; whether this build compiled it (on this node's
 * lowest rank) rather than finding it in the cache. Owned by k. */
const char *inb__kernel_key(const inb__kernel *k);
const char *inb__kernel_path(const inb__kernel *k);
bool inb__kernel_compiled(const inb__kernel *k);

/* Unloads the kernel (dlclose) and frees it; sets *k = NULL. Local. NULL-safe. Its action must not run after. */
void inb__kernel_free(inb__kernel **k);

#endif
