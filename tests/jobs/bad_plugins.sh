#!/usr/bin/env bash
# Every kind of bad plugin, and of bad use of a good one, refused before anything is written: a file that is not
# there or not a shared object, one without the table's function, one built for another ABI (ABI 1 loads still),
# malformed tables, a reduction without its merge,
# actions named like built-ins or like each other, and a good plugin's actions given wrong arguments or rows.
# Environment: INBATCH, MAKE_IMAGES, WORK (a scratch directory), CC (the compiler), INB_INCLUDE (inbatch's
# headers), EXAMPLE_PLUGIN (jobs/plugins/example_plugin.c built).
set -uo pipefail
# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh"
start bad_plugins

# plugin NAME C_BODY: libNAME.so in $work from a table written in C (the body after the includes).
plugin() {
  printf '#include <inbatch/plugin.h>\n%s\n' "$2" >"$work/$1.c"
  "${CC:?}" -fPIC -shared -I"${INB_INCLUDE:?}" "$work/$1.c" -o "$work/lib$1.so" || exit 1
}
# A table of one action NAME (arguments ARGS, an inb_argspec array's body) for ABI ABI.
table() {
  local name="$1" args="$2" abi="${3:-INB_PLUGIN_ABI}"
  cat <<C
static int shape(const inb_array *s, const inb_args *a, inb_array *d) { (void)a; *d = *s; return 0; }
static int run(inb_rows *r, const inb_args *a, inb_item *it, inb_value *res) { (void)r; (void)a; (void)it; (void)res; return 0; }
static const inb_argspec args[] = {$args};
static const inb_plugin_action actions[] = {{"$name", "doc", args, sizeof args / sizeof args[0], 1, shape, NULL, run}};
static const inb_plugin p = {$abi, "t", "0", actions, 1};
const inb_plugin *inb_plugin_info(void) { return &p; }
C
}
with_plugins() { sed "s|^output:|plugins: [$1]\noutput:|"; }

good | with_plugins libmissing.so | job
expect "no such plugin" 1 "job '$work/job.yaml' line 4 col 11|libmissing.so|No such file"
printf 'not a shared object\n' >"$work/libtext.so"
good | with_plugins libtext.so | job
expect "not a shared object" 1 "libtext.so' does not load"
plugin nosym 'int unrelated(void) { return 0; }'
good | with_plugins libnosym.so | job
expect "no table function" 1 "libnosym.so' has no function inb_plugin_info"
plugin abi "$(table mine '{"k", INB_ARG_REAL, "1", NULL, "k"}' 99)"
good | with_plugins libabi.so | job
expect "another ABI" 1 "built for plugin ABI 99; this inbatch loads ABI 1"
plugin builtin "$(table scale '{"k", INB_ARG_REAL, "1", NULL, "k"}')"
good | with_plugins libbuiltin.so | job
expect "named like a built-in" 1 "action 'scale' is already a built-in action"
plugin badname "$(table 'My Action' '{"k", INB_ARG_REAL, "1", NULL, "k"}')"
good | with_plugins libbadname.so | job
expect "action name not a word" 1 "an action is named 'My Action'"
plugin baddefault "$(table mine '{"k", INB_ARG_REAL, "one", NULL, "k"}')"
good | with_plugins libbaddefault.so | job
expect "default not of its type" 1 "argument 'k' has a default 'one' that is not a value of its type"
plugin twice "$(table mine '{"k", INB_ARG_REAL, "1", NULL, "k"}, {"k", INB_ARG_INT, "1", NULL, "k"}')"
good | with_plugins libtwice.so | job
expect "argument declared twice" 1 "argument 'k' is declared twice"
plugin mine "$(table mine '{"k", INB_ARG_REAL, "1", NULL, "k"}')"
cp "$work/libmine.so" "$work/libmine2.so"
good | with_plugins 'libmine.so, libmine2.so' | job
expect "two plugins, one action name" 1 "line 4 col 23|action 'mine' is already loaded, from t 0 ($work/libmine.so)"
plugin undefined "$(table mine '{"k", INB_ARG_REAL, "1", NULL, "k"}')
int not_in_the_command(void);
int call_it(void) { return not_in_the_command(); }"
good | with_plugins libundefined.so | job
expect "symbol the command lacks" 1 "libundefined.so' does not load|not_in_the_command"

plugin reduction "$(table mine '{"k", INB_ARG_REAL, "1", NULL, "k"}' | sed 's/shape, NULL, run}/shape, NULL, run, 3, NULL, NULL}/')"
good | with_plugins libreduction.so | job
expect "a reduction without merge" 1 "action 'mine' is a reduction of 3 partial values: it needs merge and describe"
# A plugin built before reductions (ABI 1: a shorter entry per action) still loads and runs.
plugin abi1 '
typedef struct {
  const char *name, *doc;
  const inb_argspec *args;
  size_t nargs, nsrc;
  int (*shape)(const inb_array *, const inb_args *, inb_array *);
  int (*check)(const inb_args *);
  int (*run)(inb_rows *, const inb_args *, inb_item *, inb_value *);
} action_v1;
static int shape(const inb_array *s, const inb_args *a, inb_array *d) { (void)a; *d = *s; return 0; }
static int run(inb_rows *r, const inb_args *a, inb_item *it, inb_value *res) {
  (void)it; (void)res;
  float k = (float)inb_args_get(a, "k")->u.r;
  for (size_t i = 0, n = inb_array_count(&r->src[0]); i < n; i++)
    ((float *)r->dst->data)[i] = k * ((const float *)r->src[0].data)[i];
  return 0;
}
static const inb_argspec args[] = {{"k", INB_ARG_REAL, "1", NULL, "k"}};
static const action_v1 acts[] = {{"old", "doc", args, 1, 1, shape, NULL, run}, {"old2", "doc", args, 1, 1, shape, NULL, run}};
static const inb_plugin p = {1, "old", "0", (const inb_plugin_action *)(const void *)acts, 2};
const inb_plugin *inb_plugin_info(void) { return &p; }'
good | with_plugins libabi1.so | sed 's/action: scale/action: old2/; s/args: {a: 2}/args: {k: 3}/' | job
cases=$((cases + 1))
if "$inbatch" run "$work/job.yaml" </dev/null >"$work/stdout" 2>"$work/stderr" &&
  /usr/bin/python3 -c 'import sys, h5py, numpy as np
x, y = h5py.File(sys.argv[1])["images"][...], h5py.File(sys.argv[2])["y"][...]
sys.exit(0 if np.array_equal(y, np.float32(3) * x) else 1)' "$work/images.h5" "$work/out.h5"; then
  echo "ok   an ABI 1 plugin loads and runs (its second action: the entries' layout read right)"
else
  failures=$((failures + 1))
  echo "FAIL an ABI 1 plugin loads and runs"
  sed 's/^/       /' "$work/stderr"
fi
rm -f "$work/out.h5"

# A good plugin used wrongly.
cp "${EXAMPLE_PLUGIN:?}" "$work/libexample.so"
good | with_plugins libexample.so | sed 's/action: scale/action: thresold/; s/args: {a: 2}/args: {level: 1}/' | job
expect "unknown action, a plugin's suggested" 1 "unknown action 'thresold' (did you mean 'threshold'?)"
good | with_plugins libexample.so | sed 's/action: scale/action: gamma/; s/args: {a: 2}/args: {gama: 2}/' | job
expect "plugin action's unknown argument" 1 "action 'gamma' has no argument 'gama' (did you mean 'gamma'?)"
good | with_plugins libexample.so | sed 's/action: scale/action: threshold/; s/args: {a: 2}/args: {}/' | job
expect "plugin action's required argument" 1 "action 'threshold' needs argument 'level'"
good | with_plugins libexample.so | sed 's/action: scale/action: gamma/; s/args: {a: 2}/args: {gamma: -1}/' | job
expect "plugin action's check" 1 "line 13|plugin action 'gamma': gamma must be above 0 and finite; found -1"
good | with_plugins libexample.so | sed 's/    args: {a: 2}/    args: {dtype: uint8}\n  - action: gamma\n    src: y\n    dst: y2/; s/action: scale/action: cast/; s/    - name: y/    - name: y2/' | job
expect "plugin action's shape refuses the rows" 1 "step 1|gamma works on float32 or float64 rows" validate "$work/job.yaml"
good | with_plugins libexample.so | job
expect "actions --plugin of a missing file" 1 "--plugin: plugin '$work/none.so'" actions --plugin "$work/none.so"
expect "actions --plugin without a file" 1 "a file is needed after" actions --plugin

finish bad_plugins
