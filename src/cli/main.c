/* The `inbatch` command: thin. It parses the command line, and the jobs layer does the rest. Run alone it is a
 * one-rank program; under mpirun or srun it uses every rank, and every rank exits with the same status. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/cmd.h"

static const char k_usage[] =
    "Usage: inbatch COMMAND [OPTIONS] ARGS\n"
    "\n"
    "Runs per-item work over an HDF5 dataset, or a program once per line of a task list, on every rank of\n"
    "an MPI job, as a YAML job file says.\n"
    "\n"
    "Commands:\n"
    "  run JOB.yaml        run the job's pipeline over every item and write its output\n"
    "  validate JOB.yaml   check the job without running it: fields, files, datasets, dtypes, shapes, actions,\n"
    "                      kernels (compiled)\n"
    "  status JOB.yaml     how far the runs of a job of action exec got (its journal: done, failed, left),\n"
    "                      also while one runs\n"
    "  merge JOB.yaml      put together the results files of the shards of an exec job run in a Slurm job\n"
    "                      array (RESULTS.shard-K-of-N.EXT) into its results file\n"
    "  actions [NAME]      list the actions (built-in, and a plugin's with --plugin FILE), or one with its\n"
    "                      arguments, types and defaults; `actions exec`: the fields of a program's step\n"
    "\n"
    "Options:\n"
    "  -h, --help          this help (COMMAND --help: that command's)\n"
    "      --version       the version\n"
    "\n"
    "Run it alone (one rank), or under mpirun -n N / srun to use N ranks. Kernels (C in the job file) are\n"
    "compiled with $CC (default cc) into $INBATCH_CACHE (default ~/.cache/inbatch).\n"
    "Exit status: 0 every item succeeded; 1 bad usage or invalid job (nothing ran, nothing written);\n"
    "2 runtime failure (I/O, MPI, out of memory: no output committed); 3 finished, some items failed (the\n"
    "output lists them, the first few are printed); 75 stopped by a signal, resumable (a job of action exec,\n"
    "or a pipeline of one pass without reductions or compressed outputs: run it again and it resumes).\n"
    "\n"
    "Examples: mpirun -n 4 inbatch run jobs/normalize.yaml --set batch_size=512\n"
    "          srun inbatch run jobs/farm/wordcount.yaml     (a program per task: action exec)\n";

static const char k_run_usage[] =
    "Usage: inbatch run JOB.yaml [--set KEY=VALUE]... [--overwrite] [--restart] [--retry-failed] [--dry-run]\n"
    "\n"
    "Runs the job's pipeline over every item of its input and writes its output, committed only when the run\n"
    "completes. A pipeline of one pass without reductions or compressed outputs keeps its partial output when\n"
    "a run fails or stops, and the next run resumes it; another's failed run leaves nothing. Items that fail\n"
    "are listed in the output's /inbatch_results and\n"
    "/inbatch_errors, and the first few on stderr. A job of action exec (a program per task) writes its\n"
    "results file instead: one line per task, in task order, written whole when every task has ended.\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE   override a scalar of the job, e.g. --set pipeline.0.args.a=2 (repeatable)\n"
    "  --overwrite       replace the output if it exists (default: refuse)\n"
    "  --restart         discard what a stopped run finished (an exec job's journal, a pipeline's partial\n"
    "                    output) and run every item (default: resume, skipping the items it finished)\n"
    "  --retry-failed    a job of action exec whose results file exists: run again only the tasks it lists as\n"
    "                    failed or not run, keep the others, and write the results whole again\n"
    "  --dry-run         check the job and print what would run, then stop (writes nothing)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 every item succeeded; 1 bad usage or invalid job; 2 runtime failure (no output committed);\n"
    "3 finished, some items failed; 75 stopped by SIGTERM, SIGINT or SIGUSR1 (an exec job, a resumable\n"
    "pipeline: run it again to resume).\n"
    "\n"
    "Example: mpirun -n 2 inbatch run jobs/normalize.yaml --overwrite\n";

static const char k_status_usage[] =
    "Usage: inbatch status JOB.yaml [--set KEY=VALUE]...\n"
    "\n"
    "How far the runs of a job of action exec got, from its journal alone (beside its results file or HDF5\n"
    "output), so it works while a run writes it: tasks done, failed and left, when the last one ended, and\n"
    "whether a run holds the journal now or it stopped (run the job again to resume). Without a journal: the\n"
    "job finished (its output exists) or never ran. Runs alone, without mpirun.\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE   as for run (the same overrides find the same journal)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0; 1 for a bad job, or a journal of another job or damaged.\n"
    "\n"
    "Example: inbatch status jobs/farm/wordcount.yaml\n";

static const char k_merge_usage[] =
    "Usage: inbatch merge JOB.yaml [--set KEY=VALUE]... [--overwrite]\n"
    "\n"
    "Puts together the results files of the shards of a job of action exec run in a Slurm job array (each\n"
    "array task runs one shard, a contiguous block of the tasks, and writes RESULTS.shard-K-of-N.EXT beside the\n"
    "job's results file) into the job's results file: every shard 0..N-1 must be there and list exactly the\n"
    "tasks of its block; the lines are written in task order, under a temporary name renamed into place.\n"
    "Runs alone, without mpirun.\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE   as for run (the same overrides find the same files)\n"
    "  --overwrite       replace the results file if it exists (default: refuse)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 every task is done; 1 bad job, a shard missing or incomplete (the message says which), or\n"
    "the results file exists; 2 the results file could not be written; 3 merged, some tasks failed or were not\n"
    "run (the results file lists them; inbatch run --retry-failed runs them again, outside the array).\n"
    "\n"
    "Example: sbatch --array=1-4 slurm/inbatch.sbatch jobs/farm/wordcount.yaml; then\n"
    "         inbatch merge jobs/farm/wordcount.yaml\n";

static const char k_validate_usage[] =
    "Usage: inbatch validate JOB.yaml [--set KEY=VALUE]...\n"
    "\n"
    "Checks everything that can be checked without running: the job's fields and their types, the input file\n"
    "and its datasets, dtypes and shapes through every step, the actions and their arguments, the kernels (it\n"
    "compiles them, or finds them in the cache), the output path.\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE   override a scalar of the job first (repeatable)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 the job is valid; 1 it is not (the message names the file, line and column).\n"
    "\n"
    "Example: inbatch validate jobs/normalize.yaml\n";

static const char k_actions_usage[] =
    "Usage: inbatch actions [NAME] [--plugin FILE]...\n"
    "\n"
    "Lists the actions with a line each, or one action with its arguments, types and defaults: the built-in\n"
    "ones, and those of the plugins given (shared objects built against <inbatch/plugin.h>; a job loads them\n"
    "with `plugins: [FILE]`).\n"
    "\n"
    "Options:\n"
    "  --plugin FILE     load the plugin and list its actions too (repeatable)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0; 1 for an unknown action or a plugin that does not load.\n"
    "\n"
    "Example: inbatch actions clip\n";

/* Options of run and validate. Returns 0, or the usage status after printing why. */
static int parse_job_options(int argc, char **argv, inb__cmd *cmd) {
  bool is_run = cmd->verb == INB__CMD_RUN, is_merge = cmd->verb == INB__CMD_MERGE;
  const char *verb = cmd->verb == INB__CMD_STATUS ? "status" : is_merge ? "merge" : "validate";
  static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                       {"overwrite", no_argument, NULL, 'o'},
                                       {"dry-run", no_argument, NULL, 'n'},
                                       {"restart", no_argument, NULL, 'r'},
                                       {"retry-failed", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *usage = is_run                         ? k_run_usage
                      : is_merge                     ? k_merge_usage
                      : cmd->verb == INB__CMD_STATUS ? k_status_usage
                                                     : k_validate_usage;
  optind = 1;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) { /* options before or after the job */
    switch (c) {
    case 's':
      if (!strchr(optarg, '=')) return inb__cmd_usage(cmd, "--set takes KEY=VALUE; found '%s'", optarg);
      cmd->sets[cmd->nsets++] = optarg;
      if (cmd->nsets == INB__CMD_MAX_SETS) return inb__cmd_usage(cmd, "too many --set options");
      break;
    case 'o':
      if (!is_run && !is_merge) return inb__cmd_usage(cmd, "%s has no --overwrite", verb);
      cmd->overwrite = true;
      break;
    case 'n':
      if (!is_run) return inb__cmd_usage(cmd, "%s has no --dry-run (it never runs)", verb);
      cmd->dry_run = true;
      break;
    case 'r':
      if (!is_run) return inb__cmd_usage(cmd, "%s has no --restart (it never runs)", verb);
      cmd->restart = true;
      break;
    case 'f':
      if (!is_run) return inb__cmd_usage(cmd, "%s has no --retry-failed (it never runs)", verb);
      cmd->retry_failed = true;
      break;
    case 'h':
      cmd->help = usage;
      return 0;
    default:
      return inb__cmd_usage(cmd, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return inb__cmd_usage(cmd, optind >= argc ? "a job file is needed" : "one job file; found another: '%s'",
                          optind < argc ? argv[optind + 1] : "");
  cmd->job = argv[optind];
  return 0;
}

/* Options of actions. Returns 0, or the usage status after printing why. */
static int parse_actions_options(int argc, char **argv, inb__cmd *cmd) {
  static const struct option opts[] = {{"plugin", required_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 1;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
    switch (c) {
    case 'p':
      if (cmd->nplugins == INB__CMD_MAX_PLUGINS) return inb__cmd_usage(cmd, "too many --plugin options");
      cmd->plugins[cmd->nplugins++] = optarg;
      break;
    case 'h':
      cmd->help = k_actions_usage;
      return 0;
    default:
      return inb__cmd_usage(cmd, "%s '%s'", optopt == 'p' ? "a file is needed after" : "unknown option",
                            argv[optind - 1]);
    }
  }
  if (argc - optind > 1) return inb__cmd_usage(cmd, "actions takes one name at most");
  cmd->action = optind < argc ? argv[optind] : NULL;
  return 0;
}

static int parse(int argc, char **argv, inb__cmd *cmd) {
  if (argc < 2) return inb__cmd_usage(cmd, "a command is needed (run, validate, status, merge or actions)");
  const char *verb = argv[1];
  if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
    cmd->help = k_usage;
    return 0;
  }
  if (strcmp(verb, "--version") == 0) {
    cmd->verb = INB__CMD_VERSION;
    return 0;
  }
  if (strcmp(verb, "actions") == 0) {
    cmd->verb = INB__CMD_ACTIONS;
    return parse_actions_options(argc - 1, argv + 1, cmd);
  }
  if (strcmp(verb, "run") == 0 || strcmp(verb, "validate") == 0 || strcmp(verb, "status") == 0 ||
      strcmp(verb, "merge") == 0) {
    cmd->verb = verb[0] == 'r'   ? INB__CMD_RUN
                : verb[0] == 'v' ? INB__CMD_VALIDATE
                : verb[0] == 's' ? INB__CMD_STATUS
                                 : INB__CMD_MERGE;
    return parse_job_options(argc - 1, argv + 1, cmd);
  }
  return inb__cmd_usage(cmd, "unknown command '%s' (run, validate, status, merge, actions)", verb);
}

int main(int argc, char **argv) {
  inb__cmd cmd = {0};
  int status = parse(argc, argv, &cmd);
  if (status) return status; /* before MPI: every rank parses the same line and exits alike */
  if (cmd.help) {
    fputs(cmd.help, stdout);
    return 0;
  }
  return inb__cmd_main(&cmd, &argc, &argv);
}
