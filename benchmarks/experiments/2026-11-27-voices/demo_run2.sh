#!/bin/bash
# usage: demo_run2.sh NAME [--set k=v ...]   trains the fsc-demo preset (one thread) + overrides,
# then scores the 600 Flite-voice validation clips (data/robust-flite-voices), per base voice.
cd "$(dirname "$0")/../../.." && source .venv/bin/activate || exit 1
here=benchmarks/experiments/2026-11-27-voices
name=$1; shift
quads train --config fsc-demo --data data/synth-fsc --out runs/$name \
  --set train.threads=1 "$@" > benchmarks/results/voices_logs/demo-$name.log 2>&1
OMP_NUM_THREADS=1 python $here/flite_pervoice.py runs/$name/model.quads valid >> benchmarks/results/voices_logs/demo-$name.log 2>&1
echo DONE >> benchmarks/results/voices_logs/demo-$name.log
