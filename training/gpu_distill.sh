#!/bin/bash
# Distilled first steps for the shipped diffusion model on a lent GPU, in one device run, and the shipped models'
# figures graded against several random samples of test digits (bench_diffusion --reference-seeds).
# Two students of assets/diffusion at once (recipe a: batch 512, lr 4e-4; b: batch 256, lr 3e-4; both 500,000
# teacher pairs, a half-cosine learning rate), then for the shipped pair and each student the headline rows at
# reference seeds 0..$SEEDS-1, and the shipped model's sampler x steps x guidance table.
# Needs MNIST in .data/mnist (or DATA=folder) and, where diffusers is missing, its wheel in .whl/ (both git-ignored; carry them).
# Results: $OUT/students.tar (the students' pipelines and logs) and $OUT/figures.tar (the bench logs).
# Prepared for a lent GPU; not yet run on one. A CPU smoke test of the whole flow (about 5 min on 2 cores):
#   D=cpu M=0.02 PAIRS=32 BA=16 BB=16 N=20 SEEDS=2 EV=0 TABLE="--table-samples 20 --steps 1 --guidance 0 --samplers DDIM" bash training/gpu_distill.sh
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_MININTERVAL=10
D=${D:-cuda}; M=${M:-3.5}; PAIRS=${PAIRS:-500000}; N=${N:-2000}; SEEDS=${SEEDS:-5}; EV=${EV:-1000}
BA=${BA:-512}; BB=${BB:-256}; TABLE=${TABLE:-}; DATA=${DATA:-.data/mnist}; OUT=${OUT:-/tmp/gpuout}; W=${W:-/tmp/w}
mkdir -p $W/figures $OUT
source training/gpu_setup.sh  # diffusers, the stage clock el, env.txt
pack() {  # after each stage, so that a run cut short still returns what it finished
  tar -C $W -cf $OUT/students.tar --exclude='*.pt' student-a student-b student-a.log student-b.log 2>/dev/null
  tar -C $W -cf $OUT/figures.tar figures
  cp $W/stages.txt $W/env.txt $OUT/
}
headline() {  # $1: name, $2: student folder; its samples graded against each reference sample
  timeout 150 python3 -m bench.bench_diffusion --data $DATA --student $2 --device $D --no-speed --no-table \
    --samples $N --headline-guidance 0 2 --interval 1 0.7 --reference-seeds $(seq 0 $((SEEDS - 1))) \
    > $W/figures/$1.log 2>&1 &
}
el start
C="--teacher assets/diffusion --data $DATA --device $D --bf16 --cosine --pairs $PAIRS --minutes $M --eval $EV --checkpoint-minutes 1"
timeout 330 python3 -m training.distill_diffusion $C --batch-size $BA --lr 4e-4 --ema 0.999 --seed 0 \
  --out $W/student-a --run-dir $W/d-a > $W/student-a.log 2>&1 &
timeout 330 python3 -m training.distill_diffusion $C --batch-size $BB --lr 3e-4 --ema 0.9985 --seed 0 \
  --out $W/student-b --run-dir $W/d-b > $W/student-b.log 2>&1 &
headline shipped assets/diffusion-4step
timeout 300 python3 -m bench.bench_diffusion --data $DATA --device $D --table-only $TABLE > $W/figures/shipped-table.log 2>&1 &
wait; el students and shipped figures done; pack
for m in a b; do
  [ -f $W/student-$m/model_index.json ] && headline student-$m $W/student-$m
done
wait; el figures done; pack; ls -la $OUT
