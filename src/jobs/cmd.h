/* Internal: what the `inbatch` command does, below its option parsing (src/cli): so that tests can drive it. */
#ifndef INB_JOBS_CMD_H
#define INB_JOBS_CMD_H

#include <stdbool.h>
#include <stddef.h>

enum { INB__CMD_MAX_SETS = 64, INB__CMD_MAX_PLUGINS = 16 };

/* The command's exit statuses (documented in --help and the README). */
enum {
  INB__EXIT_OK = 0,        /* every item succeeded */
  INB__EXIT_USAGE = 1,     /* bad usage or an invalid job: nothing ran, nothing was written */
  INB__EXIT_RUNTIME = 2,   /* I/O, MPI, out of memory: no output committed */
  INB__EXIT_ITEMS = 3,     /* finished; some items failed (the output lists them) */
  INB__EXIT_STOPPED = 75   /* EX_TEMPFAIL: stopped early by a signal, resumable (exec jobs, resumable pipelines) */
};

typedef enum {
  INB__CMD_NONE, INB__CMD_RUN, INB__CMD_VALIDATE, INB__CMD_STATUS, INB__CMD_MERGE, INB__CMD_ACTIONS, INB__CMD_VERSION
} inb__cmd_verb;

typedef struct {
  inb__cmd_verb verb;
  const char *job;                      /* run, validate, status, merge: the job file */
  const char *sets[INB__CMD_MAX_SETS];  /* "KEY=VALUE", as given */
  size_t nsets;
  bool overwrite, dry_run, restart, retry_failed;
  const char *action;                   /* actions: one name, or NULL for all */
  const char *plugins[INB__CMD_MAX_PLUGINS]; /* actions --plugin: the shared objects, as given */
  size_t nplugins;
  const char *help;                     /* set: print it to stdout and exit 0 */
} inb__cmd;

/* Prints "inbatch: <message>" and a hint to stderr (once, from the launcher's first rank) and returns
 * INB__EXIT_USAGE. */
int inb__cmd_usage(const inb__cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the command: starts MPI (alone: a one-rank job), does what cmd says, finalises MPI. Human output goes to
 * stderr, listings (actions, --dry-run) to stdout, from rank 0 only. Every rank returns the same status. */
int inb__cmd_main(const inb__cmd *cmd, int *argc, char ***argv);

#endif
