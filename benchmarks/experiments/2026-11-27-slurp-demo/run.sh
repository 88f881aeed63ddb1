#!/bin/bash
# usage: run.sh NAME DATA [--set k=v ...]   trains the slurp-demo preset (one thread) on the
# corpus DATA (a path from the repository root) with overrides; log:
# benchmarks/results/slurp_demo_logs/NAME.log, run: runs/slurp-NAME.
cd "$(dirname "$0")/../../.." && source .venv/bin/activate || exit 1
name=$1; data=$2; shift 2
quads train --config slurp-demo --data "$data" --out runs/slurp-$name \
  --set train.threads=1 "$@" > benchmarks/results/slurp_demo_logs/$name.log 2>&1
echo DONE >> benchmarks/results/slurp_demo_logs/$name.log
