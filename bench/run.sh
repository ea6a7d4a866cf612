#!/usr/bin/env bash
# The benchmark suite: builds in release mode, runs every benchmark of pipeline-bench against
# servers it starts on loopback (pinned to CPU 0 when taskset exists, the load on CPU 1; get-project
# and writes pin themselves), prints
# the tables, and collects the JSON lines into bench-results.json. Each benchmark measures its
# reference in the same run and prints the ratio. Never fails on a timing.
#
#   bash bench/run.sh                 # SQLite only
#   PIPELINE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test bash bench/run.sh
#   BENCH_SMOKE=1 bash bench/run.sh   # tiny sizes, debug build: checks that everything runs
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BENCH_SMOKE:-}" ]; then
  cargo build --quiet --features bench --bins
  bin=./target/debug/pipeline-bench
else
  cargo build --release --quiet --features bench --bins
  bin=./target/release/pipeline-bench
fi
pg=()
if [ -n "${PIPELINE_BENCH_POSTGRES_URL:-}" ]; then
  pg=(--postgres-url "$PIPELINE_BENCH_POSTGRES_URL")
fi
server_cpus=()
load=()
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpus=(--server-cpus 0)
  load=(taskset -c 1)
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
started=$(date +%s)
{
  echo "# pipeline benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
  if [ -n "${BENCH_SMOKE:-}" ]; then
    "$bin" get-project --projects 200 --rounds 2 --seconds-per-round 0.5
    "$bin" grpc-web --projects 200 --rounds 2 --seconds-per-round 0.5
    "$bin" writes --clients 4 --seconds 1 --rounds 1 "${pg[@]}"
    "${load[@]}" "$bin" queries --projects 500 --requests 20 "${pg[@]}" "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 20 --stalled 5 --rate 20 --seconds 2 "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 20 --stalled 5 --stalled-window 16777216 --stalled-frozen --rate 20 --seconds 2 "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 20 --tonic-readers --rate 20 --seconds 2 "${server_cpus[@]}"
    "${load[@]}" "$bin" ledger --rows 50 "${pg[@]}" "${server_cpus[@]}"
    "${load[@]}" "$bin" problems --problems 2000 --projects 200 --requests 20 "${pg[@]}" "${server_cpus[@]}"
  else
    "$bin" get-project
    "$bin" grpc-web
    "$bin" writes "${pg[@]}"
    "${load[@]}" "$bin" queries "${pg[@]}" "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 1000 --rate 100 --seconds 10 "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 10000 --rate 10 --seconds 10 "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 1000 --stalled 1000 --rate 100 --seconds 10 "${server_cpus[@]}"
    "${load[@]}" "$bin" fanout --subscribers 10 --stalled 1000 --stalled-window 16777216 --stalled-frozen --rate 100 --seconds 10 "${server_cpus[@]}"
    "${load[@]}" "$bin" ledger --rows 10000 "${pg[@]}" "${server_cpus[@]}"
    "${load[@]}" "$bin" problems "${pg[@]}" "${server_cpus[@]}"
  fi
} 2>&1 | tee "$out"
grep '^{' "$out" > bench-results.json || true
echo
echo "bench: $(grep -c '^{' "$out" || true) result lines in bench-results.json, $(( $(date +%s) - started )) s"
