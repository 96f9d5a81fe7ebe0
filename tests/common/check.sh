# The assertions of the bash tests: sourced, after `failures=0 checks=0`.
# check WHAT CONDITION...: one assertion, printed as "ok   WHAT" or "FAIL WHAT" (and counted).
check() {
  local what="$1"
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok   $what"
  else
    failures=$((failures + 1))
    echo "FAIL $what"
  fi
}

# has FILE TEXT: the file holds the text (else its last lines are shown).
has() { grep -qF -- "$2" "$1" || { echo "       '$2' not in $1:"; sed 's/^/       /' "$1" | tail -20; false; }; }

# wait_ended PID: waits up to 60 s for the background job PID (a child of this shell) to end, then sets `status` to
# its exit status; one that is still running then is SIGKILLed and its status is "hung".
# shellcheck disable=SC2034  # status is the caller's
wait_ended() {
  local t
  for ((t = 0; t < 600; t++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1"
    status=hung
  else
    wait "$1"
    status=$?
  fi
}
