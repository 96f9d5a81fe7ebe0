# Sourced by the tests of bad jobs: a valid job to start from, and expect, which runs the command and checks how it
# refuses. Environment: INBATCH (the command), MAKE_IMAGES, WORK (a scratch directory).

# start NAME: a fresh scratch directory $WORK/NAME (work) with an images.h5 of 8 images; no cases yet.
start() {
  inbatch="${INBATCH:?}" work="${WORK:?}/$1"
  rm -rf "$work" && mkdir -p "$work"
  "${MAKE_IMAGES:?}" "$work/images.h5" 8 4 || exit 1
  failures=0 cases=0
}

# finish NAME: the count, and the status: 0 when every case passed.
finish() {
  echo "$1: $cases cases, $failures failed"
  ((failures == 0))
}

good() { # the body of a valid job reading file $1 (default images.h5), writing out.h5
  cat <<YAML
input:
  file: ${1:-images.h5}
  components: [images]
output:
  file: out.h5
  datasets:
    - name: y
pipeline:
  - action: scale
    src: images
    dst: y
    args: {a: 2}
YAML
}

# expect NAME STATUS "WORDS" [ARGS...]: runs inbatch ARGS (default: run job.yaml), checks its status, that its
# stderr contains each |-separated word, and that the output ($output, default out.h5) was not written.
expect() {
  local name="$1" want="$2" words="$3"
  shift 3
  cases=$((cases + 1))
  local out="$work/${output:-out.h5}"
  [[ "$name" == "output exists" ]] || rm -f "$out"
  local args=("$@")
  ((${#args[@]})) || args=(run "$work/job.yaml")
  local status=0
  "$inbatch" "${args[@]}" </dev/null >"$work/stdout" 2>"$work/stderr" || status=$?
  local ok=1 word
  [[ "$status" == "$want" ]] || ok=0
  IFS='|' read -ra list <<<"$words"
  for word in "${list[@]}"; do grep -qF -- "$word" "$work/stderr" || ok=0; done
  [[ -e "$out" && "$name" != "output exists" ]] && ok=0
  if ((ok)); then
    echo "ok   $name"
  else
    failures=$((failures + 1))
    echo "FAIL $name: status $status (expected $want); stderr:"
    sed 's/^/       /' "$work/stderr"
  fi
}

job() { cat >"$work/job.yaml"; }
