# Sourced by the tuning scripts: growing a LiGO variant, training a budget run, and the fixed rule that picks a
# grown model's budgets from scratch's final loss.
# Grid 400 550 700 1000 1400 1750 steps; start at the largest budget whose mean final loss over seeds 1–6 (all
# methods) is above the target, walk up until a run reaches the target (down first until one misses, if the start
# already reaches it): every method gets the two adjacent budgets around the target, which `ligo compare --budgets`
# interpolates between. Needs LIGO and O (the seed's output directory) set; TARGET_CFG (default target.yaml) is the
# target runs' config and WIDTH (default 128) the grown width.
GRID=(400 550 700 1000 1400 1750)
REF=(1.974 1.910 1.878 1.816 1.768 1.725)   # mean final loss at each grid budget, seeds 1–6 (1,750: seeds 1–2)
final() { node -e 'const r=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse).filter(x=>x.val_loss!==undefined);console.log(r[r.length-1].val_loss)' "$1/metrics.jsonl"; }
below() { node -e 'process.exit(+process.argv[1] <= +process.argv[2] ? 0 : 1)' "$1" "$2"; }   # $1 ≤ $2
step_of() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).step)' "$1/checkpoint/trainer.json"; }
ensure() {  # ensure DIR STEPS TRAIN_ARG...: `ligo train TRAIN_ARG... -o DIR --force` unless DIR holds a run; a run
  # stopped early (SIGINT/SIGTERM leave a checkpoint at the step reached) is resumed to STEPS, not taken as finished.
  local D=$1 N=$2; shift 2
  if [ ! -f $D/checkpoint/trainer.json ]; then
    $LIGO train "$@" -o $D --force
  elif [ "$(step_of $D)" -lt $N ]; then
    $LIGO train --resume $D
  fi
}
run() {  # run DIR GROWN STEPS SEED; TRAIN_FLAGS (optional) are appended, e.g. a schedule override.
  ensure $1 $3 $2 --config ${TARGET_CFG:-target.yaml} --data $O/data --seed $4 --steps $3 --eval-every $3 --save-every 0 \
    ${TRAIN_FLAGS:-}
}
grow_ligo() {  # grow_ligo DIR SEED STEPS WARMUP [FLAG...]: LiGO with the experiment's operator batch (8 × 128)
  local D=$1 S=$2 N=$3 W=$4; shift 4
  [ -f $D/config.json ] || $LIGO grow $O/small --width ${WIDTH:-128} --depth 4 --method ligo --data $O/data \
    --steps $N --warmup $W --batch 8 --seq 128 --eval-batches 20 --seed $S "$@" -o $D --force
}
first_budget() {  # first_budget TARGET → grid index
  local k0=0 k; for k in "${!GRID[@]}"; do below "${REF[$k]}" "$1" || k0=$k; done; echo $k0
}
walk() {  # walk GROWN RUNPREFIX SEED TARGET [K0]: trains RUNPREFIX-STEPS for the budgets around TARGET, from grid
  local G=$1 D=$2 S=$3 T=$4 k; k=${5:-$(first_budget $T)}   # index K0 (default: first_budget's)
  run $D-${GRID[$k]} $G ${GRID[$k]} $S
  if below "$(final $D-${GRID[$k]})" "$T"; then                       # reached already: walk down to a miss
    while [ $k -gt 0 ]; do k=$((k - 1)); run $D-${GRID[$k]} $G ${GRID[$k]} $S; below "$(final $D-${GRID[$k]})" "$T" || break; done
  else                                                                 # walk up to a hit
    while [ $k -lt $((${#GRID[@]} - 1)) ]; do k=$((k + 1)); run $D-${GRID[$k]} $G ${GRID[$k]} $S; ! below "$(final $D-${GRID[$k]})" "$T" || break; done
  fi
}
