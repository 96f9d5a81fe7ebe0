#!/usr/bin/env bash
# The layering rule of src/ (README, "Layout"): a file includes internal headers of its own layer and of the
# layers below it, never of a layer above. Prints every upward include and fails if there is one.
# Usage: check_layers.sh SRC_DIR
set -euo pipefail
src="${1:?usage: check_layers.sh SRC_DIR}"
layers=(core engine local mpi run data jobs cli)

rank_of() {
  local i
  for i in "${!layers[@]}"; do [[ "${layers[$i]}" == "$1" ]] && { echo "$i"; return; }; done
  echo -1
}

bad=0 checked=0
while IFS= read -r -d '' file; do
  rel="${file#"$src"/}"
  own="${rel%%/*}"
  own_rank="$(rank_of "$own")"
  if ((own_rank < 0)); then
    echo "$rel: not in a layer folder (${layers[*]})"
    bad=1
    continue
  fi
  while IFS= read -r inc; do
    layer="${inc%%/*}"
    r="$(rank_of "$layer")"
    checked=$((checked + 1))
    if ((r < 0)); then
      echo "$rel: includes \"$inc\", which is in no layer"
      bad=1
    elif ((r > own_rank)); then
      echo "$rel: includes \"$inc\": layer '$own' may not use layer '$layer' above it"
      bad=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(find "$src" -name '*.[ch]' -print0)

if ((checked == 0)); then
  echo "no internal includes found under $src: wrong directory?"
  exit 1
fi
((bad)) && exit 1
echo "layers: $checked internal includes under $src, none upward (${layers[*]})"
