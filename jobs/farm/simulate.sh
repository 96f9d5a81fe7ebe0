#!/bin/sh
# simulate.sh SEED: a small Monte Carlo estimate of pi from its seed, one line on stdout (a task of
# jobs/farm/seeds.yaml; stands for a user's simulation program).
set -eu
awk -v seed="$1" 'BEGIN {
  srand(seed); hits = 0; n = 20000
  for (k = 0; k < n; k++) { x = rand(); y = rand(); if (x * x + y * y < 1) hits++ }
  printf "seed %d pi %.5f\n", seed, 4 * hits / n
}'
