/* Plugins: shared objects with actions of a user's own. Each is opened with every symbol bound at once (a plugin
 * that calls a function the command does not export fails here, not on the thousandth item), its table is
 * checked entry by entry, and each action becomes an inb__action_spec whose shape, check and run hand the
 * plugin the arguments as a named list (the public inb_args) and its rows as the public inb_rows. */
#include "jobs/plugins.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/status.h"

typedef struct {
  void *handle;
  char *origin;                 /* "NAME VERSION (PATH)" */
  inb_plugin_action *upgraded;  /* an ABI 1 table's entries in today's layout (owned); NULL */
} plugin;

/* An action's entry as plugins built for ABI 1 lay it out: today's without the reduction's fields. */
typedef struct {
  const char *name, *doc;
  const inb_argspec *args;
  size_t nargs, nsrc;
  int (*shape)(const inb_array *src, const inb_args *args, inb_array *dst);
  int (*check)(const inb_args *args);
  int (*run)(inb_rows *rows, const inb_args *args, inb_item *it, inb_value *result);
} action_abi1;

struct inb__plugins {
  plugin *plugins;
  size_t nplugins;
  inb__action_spec *actions;
  size_t *owner;                /* actions[i] is of plugins[owner[i]] */
  size_t nactions;
};

/* ---- the trampolines: an action spec's functions calling the plugin's ------------------------------------- */

static int plugin_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  const inb_plugin_action *pa = a->ext;
  inb__user_error_reset();
  int rc = pa->shape(src, a->list, dst);
  if (rc) {
    inb__user_failure(rc, "plugin action '%s'", pa->name);
    return INB_EINVAL;
  }
  if (inb_dtype_size(dst->dtype) == 0 || dst->ndim < 0 || dst->ndim >= INB_MAX_DIMS)
    return inb__err(INB_EINVAL, "plugin action '%s' gave a row of dtype %d with %d dimensions (expected a dtype "
                    "of inb_dtype and 0 to %d dimensions)", pa->name, (int)dst->dtype, dst->ndim, INB_MAX_DIMS - 1);
  for (int d = 0; d < dst->ndim; d++)
    if (dst->shape[d] <= 0)
      return inb__err(INB_EINVAL, "plugin action '%s' gave a row whose dimension %d has size %lld", pa->name, d,
                      (long long)dst->shape[d]);
  return 0;
}

static int plugin_check(const inb__argvals *a) {
  const inb_plugin_action *pa = a->ext;
  if (!pa->check) return 0;
  inb__user_error_reset();
  int rc = pa->check(a->list);
  if (!rc) return 0;
  inb__user_failure(rc, "plugin action '%s'", pa->name);
  return INB_EINVAL;
}

static int plugin_run(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  const inb_plugin_action *pa = a->ext;
  inb_rows rows = {.src = r->src, .nsrc = r->nsrc, .dst = r->dst, .ndst = r->ndst};
  return pa->run(&rows, a->list, it, result);
}

/* ---- checking a table ---------------------------------------------------------------------------------------- */

/* Whether text reads entirely as the type (a default as a job would write it). */
static bool reads_as(inb_argtype t, const char *text, const char *choices) {
  char *end;
  errno = 0;
  switch (t) {
  case INB_ARG_REAL: (void)strtod(text, &end); return *text && !*end;
  case INB_ARG_INT: (void)strtoll(text, &end, 10); return *text && !*end && errno == 0;
  case INB_ARG_BOOL: return strcmp(text, "true") == 0 || strcmp(text, "false") == 0;
  case INB_ARG_DTYPE: {
    inb_dtype d;
    return inb__dtype_parse(text, &d) == 0;
  }
  case INB_ARG_STR: {
    if (!choices) return true;
    size_t n = strlen(text);
    for (const char *p = choices; (p = strstr(p, text)); p += n)
      if ((p == choices || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
    return false;
  }
  }
  return false;
}

static int check_args(const inb_plugin_action *pa, const char *where) {
  if (pa->nargs > INB_PLUGIN_MAX_ARGS || (pa->nargs && !pa->args))
    return inb__err(INB_EINVAL, "%s: action '%s' has %zu arguments (at most %d, in an array)", where, pa->name,
                    pa->nargs, INB_PLUGIN_MAX_ARGS);
  for (size_t k = 0; k < pa->nargs; k++) {
    const inb_argspec *s = &pa->args[k];
    if (!s->name || !*s->name || (unsigned)s->type > INB_ARG_DTYPE)
      return inb__err(INB_EINVAL, "%s: action '%s': argument %zu has no name or an unknown type", where, pa->name, k);
    for (size_t j = 0; j < k; j++)
      if (strcmp(pa->args[j].name, s->name) == 0)
        return inb__err(INB_EINVAL, "%s: action '%s': argument '%s' is declared twice", where, pa->name, s->name);
    if (s->dflt && !reads_as(s->type, s->dflt, s->choices))
      return inb__err(INB_EINVAL, "%s: action '%s': argument '%s' has a default '%s' that is not a %s%s%s", where,
                      pa->name, s->name, s->dflt, s->type == INB_ARG_STR ? "choice" : "value of its type",
                      s->choices ? " of " : "", s->choices ? s->choices : "");
  }
  return 0;
}

static int check_action(const inb__plugins *set, const inb_plugin_action *pa, const char *where) {
  if (!pa->name || !*pa->name || strspn(pa->name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(pa->name))
    return inb__err(INB_EINVAL, "%s: an action is named '%s' (expected lower-case letters, digits and _)", where,
                    pa->name ? pa->name : "(null)");
  if (!pa->shape || !pa->run)
    return inb__err(INB_EINVAL, "%s: action '%s' has no %s function", where, pa->name, pa->run ? "shape" : "run");
  if (pa->partial && (!pa->merge || !pa->describe || pa->partial > INB_PLUGIN_MAX_PARTIAL))
    return inb__err(INB_EINVAL, "%s: action '%s' is a reduction of %zu partial values: it needs merge and describe, "
                    "and at most %d values", where, pa->name, pa->partial, INB_PLUGIN_MAX_PARTIAL);
  if (pa->nsrc < 1 || pa->nsrc > INB_PLUGIN_MAX_SRC)
    return inb__err(INB_EINVAL, "%s: action '%s' reads %zu sources per call (expected 1 to %d)", where, pa->name,
                    pa->nsrc, INB_PLUGIN_MAX_SRC);
  if (inb__action_find(pa->name))
    return inb__err(INB_EINVAL, "%s: action '%s' is already a built-in action", where, pa->name);
  for (size_t k = 0; set && k < set->nactions; k++)
    if (strcmp(set->actions[k].name, pa->name) == 0)
      return inb__err(INB_EINVAL, "%s: action '%s' is already loaded, from %s", where, pa->name,
                      set->plugins[set->owner[k]].origin);
  return check_args(pa, where);
}

/* An ABI 1 table's entries copied into today's layout (no reductions). NULL when out of memory. */
static inb_plugin_action *upgrade(const inb_plugin *t) {
  const action_abi1 *old = (const void *)t->actions;
  inb_plugin_action *a = inb__calloc(t->nactions, sizeof *a);
  for (size_t k = 0; a && k < t->nactions; k++)
    a[k] = (inb_plugin_action){.name = old[k].name, .doc = old[k].doc, .args = old[k].args, .nargs = old[k].nargs,
                               .nsrc = old[k].nsrc, .shape = old[k].shape, .check = old[k].check, .run = old[k].run};
  return a;
}

/* The table of the plugin at handle, checked as a whole (two actions of one name included); an ABI 1 table's
 * entries come back upgraded in *upgraded (the caller's), else it is NULL. */
static int read_table(const inb__plugins *set, void *handle, const char *path, const char *where,
                      const inb_plugin **out, inb_plugin_action **upgraded) {
  *upgraded = NULL;
  inb_plugin_info_fn info;
  *(void **)&info = dlsym(handle, INB_PLUGIN_SYMBOL); /* POSIX's way to a function pointer from dlsym */
  if (!info)
    return inb__err(INB_EINVAL, "%s: plugin '%s' has no function %s (see inbatch/plugin.h)", where, path,
                    INB_PLUGIN_SYMBOL);
  const inb_plugin *t = info();
  if (!t) return inb__err(INB_EINVAL, "%s: plugin '%s': %s() returned NULL", where, path, INB_PLUGIN_SYMBOL);
  if (t->abi != INB_PLUGIN_ABI && t->abi != 1)
    return inb__err(INB_EINVAL, "%s: plugin '%s' was built for plugin ABI %d; this inbatch loads ABI 1 and %d "
                    "(rebuild it against this version's inbatch/plugin.h)", where, path, t->abi, INB_PLUGIN_ABI);
  if (!t->name || !*t->name || (t->nactions && !t->actions) || t->nactions == 0)
    return inb__err(INB_EINVAL, "%s: plugin '%s' has no name or no actions", where, path);
  const inb_plugin_action *acts = t->actions;
  if (t->abi == 1 && !(acts = *upgraded = upgrade(t))) return inb__err(INB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t k = 0; !rc && k < t->nactions; k++) {
    rc = check_action(set, &acts[k], where);
    for (size_t j = 0; !rc && j < k; j++)
      if (strcmp(acts[j].name, acts[k].name) == 0)
        rc = inb__err(INB_EINVAL, "%s: plugin '%s' has two actions named '%s'", where, path, acts[k].name);
  }
  if (rc) {
    inb__free(*upgraded);
    *upgraded = NULL;
    return rc;
  }
  *out = t;
  return 0;
}

/* ---- the set --------------------------------------------------------------------------------------------------- */

/* Room for one more plugin and n more actions. */
static int grow(inb__plugins *set, size_t n) {
  plugin *p = inb__realloc(set->plugins, (set->nplugins + 1) * sizeof *p);
  if (p) set->plugins = p;
  inb__action_spec *a = p ? inb__realloc(set->actions, (set->nactions + n) * sizeof *a) : NULL;
  if (a) set->actions = a;
  size_t *o = a ? inb__realloc(set->owner, (set->nactions + n) * sizeof *o) : NULL;
  if (o) set->owner = o;
  return o ? 0 : inb__err(INB_ENOMEM, "out of memory");
}

static void add(inb__plugins *set, void *handle, char *origin, const inb_plugin *t, inb_plugin_action *upgraded) {
  set->plugins[set->nplugins] = (plugin){.handle = handle, .origin = origin, .upgraded = upgraded};
  for (size_t k = 0; k < t->nactions; k++) {
    const inb_plugin_action *pa = upgraded ? &upgraded[k] : &t->actions[k];
    set->owner[set->nactions] = set->nplugins;
    set->actions[set->nactions++] = (inb__action_spec){
        .name = pa->name, .doc = pa->doc ? pa->doc : "", .args = pa->args, .nargs = pa->nargs, .nsrc = pa->nsrc,
        .shape = plugin_shape, .check = plugin_check, .run = plugin_run, .ext = pa, .partial = pa->partial,
        .merge = pa->merge, .describe = pa->describe};
  }
  set->nplugins++;
}

int inb__plugins_load(inb__plugins **setp, const char *path, const char *where) {
  struct stat st;
  if (stat(path, &st) != 0)
    return inb__err(errno == ENOENT ? INB_ENOTFOUND : INB_EINVAL, "%s: plugin '%s': %s", where, path,
                    strerror(errno));
  bool made = !*setp;
  if (made && !(*setp = inb__calloc(1, sizeof **setp))) return inb__err(INB_ENOMEM, "out of memory");
  inb__plugins *set = *setp;
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  const inb_plugin *t = NULL;
  inb_plugin_action *upgraded = NULL;
  int rc = handle ? 0 : inb__err(INB_EINVAL, "%s: plugin '%s' does not load: %s", where, path, dlerror());
  if (!rc) rc = read_table(set, handle, path, where, &t, &upgraded);
  char origin[1200];
  if (!rc) snprintf(origin, sizeof origin, "%s %s (%s)", t->name, t->version ? t->version : "", path);
  char *owned = rc ? NULL : inb__strdup(origin);
  if (!rc && !owned) rc = inb__err(INB_ENOMEM, "out of memory");
  if (!rc) rc = grow(set, t->nactions);
  if (!rc) {
    add(set, handle, owned, t, upgraded);
    return 0;
  }
  inb__free(upgraded);
  inb__free(owned);
  if (handle) dlclose(handle);
  if (made) inb__plugins_free(setp);
  return rc;
}

size_t inb__plugins_count(const inb__plugins *set) { return set ? set->nactions : 0; }

const inb__action_spec *inb__plugins_at(const inb__plugins *set, size_t i) {
  return set && i < set->nactions ? &set->actions[i] : NULL;
}

const inb__action_spec *inb__plugins_find(const inb__plugins *set, const char *name) {
  for (size_t k = 0; set && k < set->nactions; k++)
    if (strcmp(set->actions[k].name, name) == 0) return &set->actions[k];
  return NULL;
}

const char *inb__plugins_origin(const inb__plugins *set, size_t i) {
  return set && i < set->nactions ? set->plugins[set->owner[i]].origin : NULL;
}

int inb__plugin_bind(const inb__action_spec *act, inb__argvals *a) {
  a->ext = act->ext;
  if (!(a->list = inb_args_new())) return inb__err(INB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t k = 0; !rc && k < act->nargs; k++) {
    inb_value v;
    switch (act->args[k].type) {
    case INB_ARG_REAL: v = inb_real(a->v[k].r); break;
    case INB_ARG_INT: v = inb_int(a->v[k].i); break;
    case INB_ARG_BOOL: v = inb_bool(a->v[k].b); break;
    default: v = inb_str(a->v[k].s); break;
    }
    rc = inb_args_put(a->list, act->args[k].name, v);
  }
  return rc ? inb__err(rc, "out of memory") : 0;
}

void inb__plugins_free(inb__plugins **setp) {
  if (!setp || !*setp) return;
  inb__plugins *set = *setp;
  for (size_t k = 0; k < set->nplugins; k++) {
    dlclose(set->plugins[k].handle);
    inb__free(set->plugins[k].origin);
    inb__free(set->plugins[k].upgraded);
  }
  inb__free(set->plugins);
  inb__free(set->actions);
  inb__free(set->owner);
  inb__free(set);
  *setp = NULL;
}
