#!/usr/bin/env bash
# Builds, checks and times renshaw in one call: the test suite, the Brunel
# example on every backend, the criterion benchmarks, and (when
# nest-simulator is importable) NEST on the same Brunel network.
# Usage: scripts/measure.sh [OUTDIR]   (default runs/measure; $OUT if set)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-runs/measure}}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
log() { echo "== $*" | tee -a "$out/measure.log"; }

log "build"
cargo build --release 2>&1 | tail -n 3 | tee -a "$out/measure.log"
log "adapters"
./target/release/renshaw info | tee -a "$out/measure.log"
log "tests"
cargo test --release 2>&1 | grep -E "test result|FAILED|panicked|SKIPPED" | tee -a "$out/measure.log"

for backend in cpu gpu; do
  log "brunel on $backend"
  if ./target/release/renshaw run examples/brunel.toml --backend "$backend" -o "$out/brunel_$backend" -q \
      | tee -a "$out/measure.log"; then
    cp "$out/brunel_$backend/summary.json" "$out/brunel_${backend}_summary.json"
  else
    echo "(no $backend run)" | tee -a "$out/measure.log"
  fi
done

log "criterion"
cargo bench --bench engine -- --warm-up-time 2 --measurement-time 10 2>&1 \
  | grep -E "^[a-z_0-9]+/|time:|thrpt:|adapter" | tee -a "$out/measure.log"

if python3 -c "import nest" 2>/dev/null; then
  log "NEST on the same Brunel network"
  python3 tests/reference/brunel/brunel_nest.py --seeds 1 --out "$out/brunel_nest.json" 2>&1 | tail -n 5 | tee -a "$out/measure.log"
fi
log "done; figures in $out"
