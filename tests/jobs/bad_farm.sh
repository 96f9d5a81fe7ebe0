#!/usr/bin/env bash
# Every kind of bad exec job (command farming) the command must refuse before it runs a task: for each, the exit
# status, words of the message (the job's line and column, what was expected and found) and that no results file
# was written. Environment: INBATCH, MAKE_IMAGES, WORK (a scratch directory).
set -uo pipefail
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh"
start bad_farm
output=results.tsv
printf 'a.txt\nb.txt\n' >"$work/tasks.txt"
printf '# only a comment\n\n' >"$work/comments.txt"
printf 'a\n\xff\n' >"$work/latin1.txt"

farm_job() { # a valid exec job over tasks.txt
  cat <<YAML
input:
  tasks: tasks.txt
output:
  results: results.tsv
pipeline:
  - action: exec
    argv: [echo, "{}"]
YAML
}

farm_job | sed 's/  tasks: tasks.txt/  tasks: none.txt/' | job
expect "missing task file" 1 "line 2|none.txt|no such file"
farm_job | sed 's/  tasks: tasks.txt/  tasks: comments.txt/' | job
expect "task file without tasks" 1 "comments.txt|no tasks"
farm_job | sed 's/  tasks: tasks.txt/  tasks: latin1.txt/' | job
expect "task file not UTF-8" 1 "latin1.txt' line 2 col 1|not UTF-8"
farm_job | sed 's/  tasks: tasks.txt/  tasks: tasks.txt\n  count: 3/' | job
expect "tasks and count" 1 "line 2 col 3|expected one of 'file'|found 2"
farm_job | sed 's/  tasks: tasks.txt/  count: 0/' | job
expect "count 0" 1 "line 2 col 10|at least 1 item"
farm_job | sed 's/  tasks: tasks.txt/  count: -4/' | job
expect "negative count" 1 "line 2 col 10|found -4"
farm_job | sed 's/  tasks: tasks.txt/  tasks: tasks.txt\n  components: [x]/' | job
expect "components of a task list" 1 "line 3 col 3|'components' are the datasets of an HDF5 input"
farm_job | sed 's/  results: results.tsv/  logs: logs/' | job
expect "no results file" 1 "'output.results'|missing: the results file|or an HDF5 output"
farm_job | sed 's/  results: results.tsv/  results: results.tsv\n  datasets: [{name: y}]/' | job
expect "datasets of an exec job" 1 "line 5 col 3|its HDF5 output (output.file) holds the results table"
farm_job | sed 's/  results: results.tsv/  results: results.tsv\n  file: out.h5/' | job
echo old >"$work/out.h5"
output=none expect "HDF5 output exists" 1 "out.h5' exists|--overwrite"
[[ "$(cat "$work/out.h5")" == old ]] || { echo "FAIL out.h5 was overwritten"; failures=$((failures + 1)); }
rm -f "$work/out.h5"
farm_job | sed 's/  results: results.tsv/  file: no\/dir\/out.h5/' | job
expect "HDF5 output folder missing" 1 "the output's folder|no/dir' does not exist"
farm_job | sed 's|  results: results.tsv|  results: no/dir/results.tsv|' | job
expect "results folder missing" 1 "the results file's folder|no/dir' does not exist"
farm_job | job
mkdir -p "$work/results.tsv"
output=none expect "results is a folder" 1 "results.tsv|directory"
rmdir "$work/results.tsv"
farm_job | job
echo old >"$work/results.tsv"
output=none expect "output exists" 1 "results.tsv|exists|--overwrite"
check_old() { [[ "$(cat "$work/results.tsv")" == old ]] || { echo "FAIL results.tsv was overwritten"; failures=$((failures + 1)); }; }
check_old
rm -f "$work/results.tsv"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: [echo, "{indx}"]/' | job
expect "unknown placeholder" 1 "line 7 col 18|at character 1 of '{indx}'|unknown placeholder '{indx}'|did you mean '{index}'"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: [echo, "{line"]/' | job
expect "placeholder not closed" 1 "line 7 col 18|'{' is not closed"
farm_job | sed 's/  tasks: tasks.txt/  count: 3/; s/argv: \[echo, "{}"\]/argv: [echo, "{line}"]/' | job
expect "{line} of a range" 1 "line 7 col 18|'{line}' is a task file's line number"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: []/' | job
expect "empty argv" 1 "line 7 col 11|at least one word"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: "echo {}"/' | job
expect "argv as a string" 1 "line 7 col 11|a list"
farm_job | sed 's/argv: \[echo, "{}"\]/cmd: "echo {}"/' | job
expect "cmd without shell" 1 "line 7 col 5|needs shell: true"
farm_job | sed 's/    argv: \[echo, "{}"\]/    shell: true\n    argv: [echo, "{}"]/' | job
expect "shell with argv" 1 "line 8 col 5|with shell: true the program is cmd:"
farm_job | sed 's/    argv: \[echo, "{}"\]/    shell: true\n    cmd: "echo \\"{}\\""/' | job
expect "quoted placeholder in a shell command" 1 "line 8 col 10|{}"
farm_job | sed 's/    argv: \[echo, "{}"\]/    shell: true/' | job
expect "shell without cmd" 1 "line 6|'cmd'|missing"
farm_job | sed 's/    argv: \[echo, "{}"\]/    timeout: 10/' | job
expect "no program" 1 "line 6|'argv'|missing"
printf '    env: {"1BAD": x}\n' | cat <(farm_job) - | job
expect "bad env name" 1 "line 8 col 11|'1BAD' is not an environment variable's name"
printf '    timeout: -1\n' | cat <(farm_job) - | job
expect "negative timeout" 1 "line 8 col 14|expected seconds, 0 or more; found -1"
printf '    grace: soon\n' | cat <(farm_job) - | job
expect "grace not a number" 1 "line 8 col 12|soon"
printf '    log: filez\n' | cat <(farm_job) - | job
expect "unknown log" 1 "line 8 col 10|did you mean 'files'"
printf '    log: files\n' | cat <(farm_job) - | job
expect "log files without a folder" 1 "line 8 col 10|output.logs"
printf '    target: async\n' | cat <(farm_job) - | job
expect "target async" 1 "line 8 col 13|an exec step runs n_workers programs at once on any target|async is for steps over HDF5 rows"
printf '    src: x\n' | cat <(farm_job) - | job
expect "src of an exec step" 1 "line 8 col 5|an exec step runs a program per task: it has no 'src'"
printf '    outputs: "x"\n' | cat <(farm_job) - | job
expect "outputs not a list" 1 "line 8 col 14|list"
printf '  - action: exec\n    argv: [true]\n' | cat <(farm_job) - | job
expect "two steps" 1 "line 8 col 5|runs one exec step; found 2 steps"
printf '  - action: scale\n' | cat <(farm_job | sed '/action: exec/,$d') - | job
expect "action over a task list" 1 "line 6 col 5|runs one exec step (action: exec)"
good | sed 's/    args: {a: 2}/    timeout: 3/' | job
output=out.h5 expect "exec field on an action" 1 "line 12 col 5|'timeout' is an exec step's"
good | sed 's/  - action: scale/  - action: exec\n    argv: [true]/; /src: images/d; /dst: y/d; /args:/d' | job
output=out.h5 expect "exec over HDF5" 1 "line 9 col 5|exec runs a program per task of a task list"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: [ecoh, "{}"]/' | job
expect "program not in PATH" 1 "line 7 col 12|the program 'ecoh' is not found in PATH"
farm_job | sed 's/argv: \[echo, "{}"\]/argv: [.\/run.sh, "{}"]\n    cwd: ./' | job
expect "program file missing" 1 "line 7 col 12|$work/././run.sh' does not exist"
printf 'echo\n' >"$work/run.sh"
expect "program not executable" 1 "line 7 col 12|run.sh' cannot be run (not executable)"
good | job
output=out.h5 expect "--retry-failed of an HDF5 job" 1 "--retry-failed: job|not built yet" run "$work/job.yaml" --retry-failed
expect "--retry-failed with validate" 1 "validate has no --retry-failed" validate "$work/job.yaml" --retry-failed

finish bad_farm
