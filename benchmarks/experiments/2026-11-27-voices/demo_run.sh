#!/bin/bash
# usage: demo_run.sh NAME [--set k=v ...]   trains the demo preset at lr 5e-5 on all clips +
# overrides, then scores Flite valid. Log: runs/exp12/NAME.log (the run of record wrote it to
# /tmp/exp12/; copied to benchmarks/results/voices_logs/demo-NAME.log), Flite table:
# benchmarks/results/exp12-NAME-flite.{json,md} (kept as voices_logs/demo-NAME-flite.*).
cd "$(dirname "$0")/../../.." && source .venv/bin/activate || exit 1
mkdir -p runs/exp12
name=$1; shift
quads train --config fsc-demo --data data/synth-fsc --out runs/$name \
  --set train.lr=5e-5 --set train.max_train_utterances=null --set train.threads=1 "$@" > runs/exp12/$name.log 2>&1
OMP_NUM_THREADS=1 python benchmarks/robustness.py --model runs/$name/model.quads \
  --extra data/robust-espeak+flite:valid --name exp12-$name-flite >> runs/exp12/$name.log 2>&1
echo DONE >> runs/exp12/$name.log
