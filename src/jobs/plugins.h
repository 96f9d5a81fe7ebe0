/* Internal: plugins, a user's own actions in shared objects (inbatch/plugin.h is the plugin's side). A job lists
 * the objects it loads; each is opened, its table checked, and each of its actions becomes an action spec that
 * steps name as they name a built-in one. */
#ifndef INB_JOBS_PLUGINS_H
#define INB_JOBS_PLUGINS_H

#include <stddef.h>

#include "jobs/actions.h"

typedef struct inb__plugins inb__plugins;

/* Opens the plugin at `path` (dlopen, every symbol bound now) and adds its actions to *set, which is made when
 * NULL (the caller's: inb__plugins_free). Messages start with `where` ("job 'x.yaml' line 3 col 5"). Local.
 * Returns 0; INB_ENOTFOUND (no such file); INB_EINVAL (not a shared object that loads here, no inb_plugin_info,
 * another INB_PLUGIN_ABI, a table that is malformed: a missing name or function, too many arguments or sources,
 * an argument whose default does not read as its type, an action named like a built-in or a loaded action);
 * INB_ENOMEM. On failure *set has what it had before. */
int inb__plugins_load(inb__plugins **set, const char *path, const char *where);

/* The actions loaded, in the order of the plugins and of their tables; one by name (NULL when none). Owned by
 * set, valid until inb__plugins_free. NULL-safe (an empty set). */
size_t inb__plugins_count(const inb__plugins *set);
const inb__action_spec *inb__plugins_at(const inb__plugins *set, size_t i);
const inb__action_spec *inb__plugins_find(const inb__plugins *set, const char *name);

/* Where the i-th action comes from: "NAME VERSION (PATH)". Owned by set. */
const char *inb__plugins_origin(const inb__plugins *set, size_t i);

/* A plugin action's argument values as the named list its functions read (REAL as inb_real, INT as inb_int,
 * BOOL as inb_bool, STR and DTYPE as inb_str), and a->ext set to the action's table entry: what shape, check
 * and run find. For a->spec's action `act` (act->ext not NULL). Returns 0 or INB_ENOMEM; a->list is the
 * caller's (inb_args_free). */
int inb__plugin_bind(const inb__action_spec *act, inb__argvals *a);

/* Unloads every plugin (dlclose) and frees the set; sets *set = NULL. NULL-safe. No action of the set may run
 * after. */
void inb__plugins_free(inb__plugins **set);

#endif
