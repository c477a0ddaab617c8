#!/usr/bin/env bash
# Builds, checks and times renshaw in one call: the test suite, `renshaw
# bench` on the standard networks (brunel, brunel_stdp, cuba, pd14 at scale
# 0.1 on the CPU and the GPU, pd14 at scale 1.0 on a hardware GPU), batched
# sweeps of the spinal circuit (instance-seconds per wall-second against the
# batch size), the spinal experiment and the distal-reward GPU check on a
# hardware GPU, the context-memory and sequence experiments (CPU, and GPU
# when there is one), the criterion benchmarks, and (when nest-simulator is
# importable) NEST on the same Brunel network.
# Usage: scripts/measure.sh [OUTDIR]   (default runs/measure; $OUT if set)
# BENCH_REPEATS (default 3) sets the measured runs per suite and backend.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-runs/measure}}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
log() { echo "== $*" | tee -a "$out/measure.log"; }

log "build"
cargo build --release --bins --examples 2>&1 | tail -n 3 | tee -a "$out/measure.log"
log "adapters"
./target/release/renshaw info | tee -a "$out/measure.log"
log "tests"
cargo test --release 2>&1 | grep -E "test result|FAILED|panicked|SKIPPED" | tee -a "$out/measure.log"

# renshaw bench: whole runs from description to finished simulation, JSON
# lines in $out/bench.jsonl (see benches/README.md). The CPU engine always;
# the GPU when a hardware adapter is found (bench's default), and then also
# the full-scale microcircuit. One call per suite, so that a suite whose
# file is missing does not stop the others.
bench() {
  log "bench $*"
  ./target/release/renshaw bench "$@" --repeats "${BENCH_REPEATS:-3}" --warmup 1 \
      --out "$out/bench.jsonl" -q 2>&1 | tee -a "$out/measure.log" \
    || echo "(bench $1 failed)" | tee -a "$out/measure.log"
}
for suite in brunel brunel_stdp cuba pd14@0.1; do
  bench "$suite"
done
if ./target/release/renshaw info --json 2>/dev/null \
    | grep -qE '"device_type": "(DiscreteGpu|IntegratedGpu|VirtualGpu)"'; then
  bench pd14@1.0 --backend gpu
else
  log "no hardware GPU: pd14 at scale 1.0 not benchmarked"
fi

# Batched sweeps: N spinal-conditioning instances (master + yoked limb,
# closed loop at 1 ms, 10-s sessions) at several batch sizes; `renshaw
# sweep` prints "throughput: ... instance-s per wall-s".
spinal_sweep() { # seeds backend batch
  local f="$out/spinal_sweep_$1.toml"
  printf 'base = "%s"\nseeds = { from = 1, to = %s }\n[set]\nsession = 10000.0\n' \
    "$PWD/examples/spinal_conditioning.toml" "$1" > "$f"
  log "sweep: $1 spinal instances, $2, batch $3"
  rm -rf "$out/sweep_$1_$2_$3"
  ./target/release/renshaw sweep "$f" --backend "$2" --batch "$3" -q -o "$out/sweep_$1_$2_$3" 2>&1 \
    | grep -E "throughput|error" | tee -a "$out/measure.log"
}
spinal_sweep 16 cpu 1
spinal_sweep 16 cpu 16
if ./target/release/renshaw info --json 2>/dev/null \
    | grep -qE '"device_type": "(DiscreteGpu|IntegratedGpu|VirtualGpu)"'; then
  spinal_sweep 8 gpu 1
  for b in 8 64 256 1024; do spinal_sweep "$b" gpu "$b"; done
  log "spinal experiment on the GPU, every run in one batch"
  /usr/bin/time -f "wall %e s, max RSS %M kB" \
    ./target/release/examples/spinal_conditioning --backend gpu --out "$out/spinal_gpu" 2>&1 \
    | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
  log "distal reward: GPU against CPU (3 simulated minutes)"
  cargo test --release --test distal_reward -- --ignored --nocapture 2>&1 \
    | grep -E "test result|panicked|rewarded" | tee -a "$out/measure.log"
else
  log "no hardware GPU: GPU sweeps, spinal experiment and distal-reward check not run"
fi

log "context memory (EXPERIMENTS.md §3), 5 seeds on the CPU"
/usr/bin/time -f "wall %e s, max RSS %M kB" \
  ./target/release/examples/context_memory --out "$out/context_cpu" 2>&1 \
  | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
if ./target/release/renshaw info --json 2>/dev/null \
    | grep -qE '"device_type": "(DiscreteGpu|IntegratedGpu|VirtualGpu)"'; then
  log "context memory, 5 seeds on the GPU"
  /usr/bin/time -f "wall %e s, max RSS %M kB" \
    ./target/release/examples/context_memory --backend gpu --out "$out/context_gpu" 2>&1 \
    | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
fi

log "sequences (EXPERIMENTS.md §4), 5 seeds on the CPU"
/usr/bin/time -f "wall %e s, max RSS %M kB" \
  ./target/release/examples/sequences --out "$out/sequences_cpu" 2>&1 \
  | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
if ./target/release/renshaw info --json 2>/dev/null \
    | grep -qE '"device_type": "(DiscreteGpu|IntegratedGpu|VirtualGpu)"'; then
  log "sequences, 5 seeds on the GPU"
  /usr/bin/time -f "wall %e s, max RSS %M kB" \
    ./target/release/examples/sequences --backend gpu --out "$out/sequences_gpu" 2>&1 \
    | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
fi

log "savings (EXPERIMENTS.md §2), 5 seeds on the CPU"
/usr/bin/time -f "wall %e s, max RSS %M kB" \
  ./target/release/examples/savings --out "$out/savings_cpu" 2>&1 \
  | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
if ./target/release/renshaw info --json 2>/dev/null \
    | grep -qE '"device_type": "(DiscreteGpu|IntegratedGpu|VirtualGpu)"'; then
  log "savings, 5 seeds on the GPU, and against network size"
  /usr/bin/time -f "wall %e s, max RSS %M kB" \
    ./target/release/examples/savings --backend gpu --out "$out/savings_gpu" 2>&1 \
    | grep -E "PASS|FAIL|wall" | tee -a "$out/measure.log"
fi

log "criterion"
cargo bench --bench engine -- --warm-up-time 2 --measurement-time 10 2>&1 \
  | grep -E "^[a-z_0-9]+/|time:|thrpt:|adapter" | tee -a "$out/measure.log"

if python3 -c "import nest" 2>/dev/null; then
  log "NEST on the same Brunel network"
  python3 tests/reference/brunel/brunel_nest.py --seeds 1 --out "$out/brunel_nest.json" 2>&1 | tail -n 5 | tee -a "$out/measure.log"
fi
log "done; figures in $out"
