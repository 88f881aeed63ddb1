#!/bin/bash
# Each augmentation alone on the espeak-only student (fsc-demo preset, 1 thread), 2 at a time.
# Run from anywhere: it works from the repository root. Logs: runs/exp/aug_<name>.log (the
# run of record wrote them to /tmp/exp/).
cd "$(dirname "$0")/../../.." || exit 1
mkdir -p runs/exp
OFF="data.augment.enabled=true data.augment.pitch_semitones=[0,0] data.augment.reverb_prob=0 data.augment.babble_prob=0 data.augment.noise_snr_db=[100,100] data.augment.telephone_prob=0 data.augment.gain_db=[0,0] data.augment.spec_freq_masks=0 data.augment.spec_time_masks=0"
declare -A ON
ON[noise]="data.augment.noise_snr_db=[10,30] data.augment.gain_db=[-6,6]"
ON[specaug]="data.augment.spec_freq_masks=2 data.augment.spec_time_masks=2"
ON[pitch]="data.augment.pitch_semitones=[-2,2]"
ON[reverb]="data.augment.reverb_prob=0.3"
ON[babble]="data.augment.babble_prob=0.3"
ON[telephone]="data.augment.telephone_prob=0.15"
run() {
  c=$1; sets=""
  for kv in $OFF ${ON[$c]} train.threads=1; do sets="$sets --set $kv"; done
  .venv/bin/python benchmarks/robustness.py --only espeak --out runs/robust-aug-$c --name robustness-aug-$c $sets > runs/exp/aug_$c.log 2>&1
}
for pair in "noise specaug" "pitch reverb" "babble telephone"; do
  set -- $pair
  run $1 & (sleep 60; run $2) & wait
done
