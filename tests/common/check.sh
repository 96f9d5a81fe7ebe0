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
