/* inbatch plugins: actions of your own for the `inbatch` command's job files, in a shared object.
 *
 * A plugin exports one function, inb_plugin_info, that returns a table of actions; a job names the plugins it
 * loads (`plugins: [lib/myactions.so]`, relative to the job file) and its steps use the actions by name, as they
 * use the built-in ones. An action works on one item at a time: it reads its source rows and writes its
 * destination row, like the built-ins (`inbatch actions` lists them; `inbatch actions --plugin FILE` lists a
 * plugin's). Build a plugin as a shared object (-fPIC -shared) against this header, without linking
 * libinbatch: the functions of the API it calls (inb_fail, inb_args_get, ...) are the command's own.
 * The table is versioned: a plugin built for another INB_PLUGIN_ABI is refused with a message.
 * An example: jobs/plugins/example_plugin.c. */
#ifndef INBATCH_PLUGIN_H
#define INBATCH_PLUGIN_H

#include <inbatch/run.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INB_PLUGIN_ABI 2         /* 2 added reductions (partial, merge, describe); tables built for 1 still load */
#define INB_PLUGIN_MAX_ARGS 8   /* arguments of one action */
#define INB_PLUGIN_MAX_SRC 4    /* sources of one call */

/* The type of an argument, as the job file writes it: a number, an integer, true/false, a string, a dtype name
 * ("float32"). The action receives REAL as inb_real, INT as inb_int, BOOL as inb_bool, STR and DTYPE as inb_str. */
typedef enum { INB_ARG_REAL, INB_ARG_INT, INB_ARG_BOOL, INB_ARG_STR, INB_ARG_DTYPE } inb_argtype;

typedef struct {
  const char *name;
  inb_argtype type;
  const char *dflt;      /* the default as a job would write it ("0.5", "true", "float32"); NULL: required */
  const char *choices;   /* INB_ARG_STR: the allowed values, space-separated; NULL: any */
  const char *doc;
} inb_argspec;

/* One item's rows: src[0..nsrc) to read (views, read-only), dst[0..ndst) to write (ndst is 1). */
typedef struct {
  const inb_array *src;
  size_t nsrc;
  inb_array *dst;
  size_t ndst;
} inb_rows;

typedef struct {
  const char *name;      /* how steps name it; may not be a built-in's or another loaded action's */
  const char *doc;
  const inb_argspec *args;
  size_t nargs;          /* at most INB_PLUGIN_MAX_ARGS */
  size_t nsrc;           /* sources per call, 1 to INB_PLUGIN_MAX_SRC (1 for most actions) */
  /* The destination row of one item from the first source's (data NULL): dtype, ndim, shape. Returns 0, or
   * non-zero after inb_set_error says why (the command adds where). */
  int (*shape)(const inb_array *src, const inb_args *args, inb_array *dst);
  /* Checks the arguments together, once per job; NULL: none. Returns 0, or non-zero after inb_set_error. */
  int (*check)(const inb_args *args);
  /* The work on one item, on any thread of any rank. `args` holds every argument by name, defaults applied.
   * Returns 0, or a failure of the item through inb_fail(it, ...). */
  int (*run)(inb_rows *rows, const inb_args *args, inb_item *it, inb_value *result);
  /* A reduction (since ABI 2; 0 and NULLs: an action per item): a figure over every item, the post of its pass.
   * run writes the item's partial as its destination row, `partial` float64 values (shape gives float64
   * [partial]) that no later step reads; on rank 0, merge folds each item's partial into the total (zeroed
   * first), in item order, so the figure is the same on any rank count; describe writes the total as a JSON
   * object, which the command prints and keeps as the output's attribute NAME_SRC. The steps after a reduction
   * start a new pass over the items. A step naming a reduction gives no dst. */
  size_t partial;        /* at most INB_PLUGIN_MAX_PARTIAL */
  void (*merge)(double *total, const double *part);
  void (*describe)(const double *total, char *buf, size_t cap);
} inb_plugin_action;

#define INB_PLUGIN_MAX_PARTIAL 64

typedef struct {
  int abi;               /* INB_PLUGIN_ABI when the plugin was built */
  const char *name;
  const char *version;
  const inb_plugin_action *actions;
  size_t nactions;
} inb_plugin;

/* What a plugin exports (its one symbol the command looks for). The table must live as long as the plugin. */
typedef const inb_plugin *(*inb_plugin_info_fn)(void);
#define INB_PLUGIN_SYMBOL "inb_plugin_info"

#ifdef __cplusplus
}
#endif
#endif
