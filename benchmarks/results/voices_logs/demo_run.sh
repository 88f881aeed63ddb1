#!/bin/bash
# usage: run.sh NAME [--set k=v ...]   trains the demo preset at lr 5e-5 on all clips + overrides,
# then scores Flite valid. Logs in /tmp/exp12/NAME.log
cd /work/main && source .venv/bin/activate
name=$1; shift
quads train --config fsc-demo --data data/synth-fsc --out runs/$name \
  --set train.lr=5e-5 --set train.max_train_utterances=null --set train.threads=1 "$@" > /tmp/exp12/$name.log 2>&1
OMP_NUM_THREADS=1 python benchmarks/robustness.py --model runs/$name/model.quads \
  --extra data/robust-espeak+flite:valid --name exp12-$name-flite >> /tmp/exp12/$name.log 2>&1
echo DONE >> /tmp/exp12/$name.log
