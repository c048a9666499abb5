#!/bin/bash
# The diffusion models on a lent GPU, in one device run: 8 min 10 s on one H200 (assets/diffusion/README.md, "On a GPU").
# Two teachers trained at once (the shipped UNet warm-started with --init at batch 1024; a (32, 64, 64) UNet from
# scratch), a distilled first step for each, then their headline figures and sampler x steps x guidance table.
# Needs MNIST in .data/mnist (or DATA=folder) and, where diffusers is missing, its wheel in .whl/ (both git-ignored; carry them).
# Results: $OUT/small.tar and $OUT/big.tar (pipelines, students, logs). A CPU smoke test of the whole flow:
#   D=cpu M1=0.15 M2=0.1 PAIRS=1000 B1=64 B2=32 N=100 EV=100 TABLE="--table-samples 100 --steps 1 4 --guidance 0 1 --samplers DDIM" bash training/gpu_diffusion.sh
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_MININTERVAL=10
D=${D:-cuda}; M1=${M1:-3.5}; M2=${M2:-1.6}; PAIRS=${PAIRS:-200000}; B1=${B1:-1024}; B2=${B2:-512}; N=${N:-2000}
EV=${EV:-1000}; TABLE=${TABLE:-}; DATA=${DATA:-.data/mnist}; OUT=${OUT:-/tmp/gpuout}; W=${W:-/tmp/w}
mkdir -p $W $OUT
source training/gpu_setup.sh  # diffusers, the stage clock el, env.txt
pack() {  # after each stage, so that a run cut short still returns what it finished
  for m in small big; do
    tar -C $W -cf $OUT/$m.tar --exclude='*.pt' $m $m-4step $m.log $m-4step.log $m-headline.log $m-table.log 2>/dev/null
  done
  cp $W/stages.txt $W/env.txt $OUT/
}
el start
C="--data $DATA --device $D --bf16 --cosine --ema 0.9995 --batch-size $B1 --checkpoint-minutes 2 --eval $EV --minutes $M1"
timeout 290 python3 -m training.train_diffusion $C --init assets/diffusion --lr 1e-3 --seed 2 --out $W/small --run-dir $W/run-small > $W/small.log 2>&1 &
timeout 290 python3 -m training.train_diffusion $C --channels 32,64,64 --lr 2e-3 --seed 0 --out $W/big --run-dir $W/run-big > $W/big.log 2>&1 &
wait; el teachers done; pack
for m in small big; do
  [ -f $W/$m/model_index.json ] || continue
  timeout 160 python3 -m training.distill_diffusion --teacher $W/$m --out $W/$m-4step --run-dir $W/d-$m --device $D --bf16 \
    --pairs $PAIRS --batch-size $B2 --lr 4e-4 --ema 0.999 --minutes $M2 --checkpoint-minutes 1 --eval $EV \
    --data $DATA > $W/$m-4step.log 2>&1 &
done
wait; el students done; pack
for m in small big; do
  [ -f $W/$m/model_index.json ] || continue
  timeout 100 python3 -m bench.bench_diffusion --data $DATA --model $W/$m --student $W/$m-4step --device $D \
    --no-speed --no-gan --no-table --samples $N --headline-guidance 0 2 --interval 1 0.7 > $W/$m-headline.log 2>&1 &
  timeout 100 python3 -m bench.bench_diffusion --data $DATA --model $W/$m --student $W/$m-4step --device $D \
    --table-only $TABLE > $W/$m-table.log 2>&1 &
done
wait; el figures done; pack; ls -la $OUT
