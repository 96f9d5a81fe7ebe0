#!/usr/bin/env bash
# Every kind of bad job the command must refuse before it writes anything: for each, the exit status, words of
# the message (the file, the line and column where there is one, what was expected and found) and that no output
# exists. Environment: INBATCH, MAKE_IMAGES, WORK (a scratch directory).
set -uo pipefail
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh"
start bad

# Odd inputs, made with h5py: components of different lengths, a string dataset, an empty one.
/usr/bin/python3 - "$work" <<'PY' || exit 1
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/odd.h5", "w") as f:
    f["a"] = np.zeros((4, 2), np.float32)
    f["b"] = np.zeros((5, 2), np.float32)
    f.create_dataset("s", (4,), dtype=h5py.string_dtype())
    f["empty"] = np.zeros((0, 2), np.float32)
PY
printf 'not an HDF5 file\n' >"$work/text.h5"

good nothing.h5 | job
expect "missing input file" 1 "job '$work/job.yaml' line 2|nothing.h5|no such file"
good text.h5 | job
expect "input not HDF5" 1 "text.h5|not an HDF5 file"
good | sed 's/components: \[images\]/components: [imgs]/' | job
expect "missing dataset" 1 "'/imgs' not found|/images"
good odd.h5 | sed 's/components: \[images\]/components: [a, b]/; s/src: images/src: a/' | job
expect "components of different lengths" 1 "different lengths"
good odd.h5 | sed 's/components: \[images\]/components: [s]/; s/src: images/src: s/' | job
expect "unsupported dtype" 1 "variable-length string"
good odd.h5 | sed 's/components: \[images\]/components: [empty]/; s/src: images/src: empty/' | job
expect "empty dataset" 1 "no items"
printf 'input:\n  file: images.h5\n  components: [images\noutput: x\n' | job
expect "YAML syntax error" 1 "job '$work/job.yaml' line|col"
good | sed 's/^output:/outptu:/' | job
expect "unknown field" 1 "line 4 col 1|unknown field 'outptu'|did you mean 'output'"
good | sed 's/{a: 2}/{a: two}/' | job
expect "wrong type" 1 "line 12|'pipeline.0.args.a'|expected a number|'two'"
good | sed 's/action: scale/action: scael/' | job
expect "unknown action" 1 "line 9|unknown action 'scael'|did you mean 'scale'"
good | sed 's/{a: 2}/{factor: 2}/' | job
expect "unknown argument" 1 "line 12|has no argument 'factor'|a, b"
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    target: thread/' | job
expect "bad target" 1 "line 13|expected a target|'thread'|did you mean 'threads'"
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    target: async\n    n_workers: 2/' | job
expect "n_workers with async" 1 "line 14|target async runs the step's tasks on one event loop thread|n_workers does not apply"
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    init: run_once/' | job
expect "init run_once" 1 "line 13|init is items, indices or a component the step reads|'run_once'"
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    init: labels/' | job
expect "init by a component the step does not read" 1 "line 13|a component the step reads (images)|'labels'"
{ good; printf '  - action: summary\n    src: y\n    dst: z\n'; } | job
expect "a reduction with dst" 1 "line 15 col 5|'summary' is a reduction over every item: it writes no rows"
{ good; printf '  - action: summary\n    src: y\n    p: 0.5\n'; } | job
expect "a reduction with p" 1 "line 15 col 5|takes no share of them"
good | sed 's/^output:/batch_size: 0\noutput:/' | job
expect "batch_size 0" 1 "'batch_size'|expected a positive number|0"
good | sed 's/^output:/batch_size: -4\noutput:/' | job
expect "batch_size negative" 1 "'batch_size'|-4"
good | job
printf 'x' >"$work/out.h5"
expect "output exists" 1 "out.h5' exists|--overwrite"
[[ "$(cat "$work/out.h5")" == x ]] || { echo "FAIL output exists: it was changed"; failures=$((failures + 1)); }
rm -f "$work/out.h5"
good | sed 's/file: out.h5/file: images.h5/' | job
expect "output equal to input" 1 "is the input file itself" run "$work/job.yaml" --overwrite
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    kernel: "y = x"/' | job
expect "action and kernel both" 1 "line 9 col 5|a step runs one of 'action', 'kernel' and 'expr'; found 2"
good | sed 's/    - name: y/    - name: y\n      deflate: 1\n      compression: lz4/' | job
expect "deflate and compression" 1 "line 9 col 20|give 'deflate' or 'compression', not both"
good | sed 's/    - name: y/    - name: y\n      compression: lz5/' | job
expect "unknown codec" 1 "line 8 col 20|expected a codec (none, deflate, lz4, zstd, blosc); found 'lz5' (did you mean 'lz4'?)"
good | sed 's/    - name: y/    - name: y\n      compression: {codec: zstd, level: 23}/' | job
expect "codec level out of range" 1 "line 7 col 7|dataset 'y': zstd levels are 1..22 (0 = 3); found 23" validate "$work/job.yaml"
good | sed 's/    - name: y/    - name: y\n      compression: {codec: lz4, shuffle: bit}/' | job
expect "bit shuffle without Blosc" 1 "bit shuffle is Blosc's"
kernel_job() { # a job whose step is kernel code $1 (its lines indented by 6), with extra step lines $2
  good | sed '/action: scale/,$d'
  printf '  - kernel: |\n%s\n    src: images\n    dst: y\n%s' "$(sed 's/^/      /' <<<"$1")" "${2:-}"
}
kernel_job $'for (size_t j = 0; j < n; j++)\n  y[j] = k * x[j] + zz;' '    args: {k: 2}
' | job
expect "kernel that does not compile" 1 "job '$work/job.yaml' line 10: the kernel does not compile|job.yaml:11:27: error: 'zz' undeclared" validate "$work/job.yaml"
kernel_job 'y[0] = x[0];' '    args: {x: 2}
' | job
expect "kernel argument named like its rows" 1 "kernel argument 'x' is a name the kernel has already"
kernel_job 'y[0] = x[0];' '    args: {k: two}
' | job
expect "kernel argument not a number" 1 "line 13 col 15|expected a number; found 'two'"
kernel_job 'y[0] = x[0];' '    rng: true
' | job
expect "kernel with rng" 1 "line 13 col 10|a kernel has no random stream"
kernel_job 'y[0] = x[0];' | job
CC=/nonexistent/cc expect "no C compiler for a kernel" 1 "line 9 col 5 (step 0)|the C compiler '/nonexistent/cc' is not found" validate "$work/job.yaml"
INBATCH_CACHE=/proc/none expect "kernel cache not writable" 2 "cannot make the kernel cache '/proc/none'" validate "$work/job.yaml"
good | sed 's/    args: {a: 2}/    args: {a: 2}\n    dtype: uint8/' | job
expect "dtype of an action" 1 "line 13 col 12|'dtype' is a kernel's output dtype"
good | sed 's/- action: scale/- expr: "x +"/; s/    args: {a: 2}//' | job
expect "expression that does not compile" 1 "line 9: the expression does not compile|job.yaml:9:16: error" validate "$work/job.yaml"
good | job
expect "--set of an unknown key" 1 "--set pipeline.0.argz.a=3|did you mean 'args'" run "$work/job.yaml" --set pipeline.0.argz.a=3
expect "job path is a directory" 1 "$work|directory" run "$work"
expect "no job file" 1 "no such file" run "$work/none.yaml"
expect "unknown option" 1 "unknown option '--fast'|inbatch --help" run "$work/job.yaml" --fast
expect "unknown command" 1 "unknown command 'rn'" rn "$work/job.yaml"

finish bad_jobs
