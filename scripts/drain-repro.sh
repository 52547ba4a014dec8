#!/usr/bin/env bash
# Reproduces issue 14 point 3: SIGTERM while a dozen large JSON uploads are in flight.
# Usage: scripts/drain-repro.sh [RUNS=5] [ENV=VALUE ...]   (after npm run build)
# Each run starts dist/main.js on loopback, sends 12 V2 requests of 1 to 3.5 MB to the digits
# model with curl, sends SIGTERM 0.3 to 0.5 s later, probes readiness once, and prints each
# upload's HTTP status / curl exit code (56 = connection reset, 7 = refused).
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-5}; shift || true
DIST=${DIST:-dist}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
node -e '
  for (let i = 0; i < 12; i++) {
    const n = Math.round(68 + (i * (236 - 68)) / 11);
    const data = Array.from({ length: n * 784 }, (_, k) => ((k * 7919) % 997) / 997);
    require("fs").writeFileSync(`${process.argv[1]}/body${i}.json`,
      JSON.stringify({ inputs: [{ name: "image", shape: [n, 28, 28, 1], datatype: "FP32", data }] }));
  }' "$work"
failed=0
for run in $(seq 1 "$RUNS"); do
  log=$work/server-$run.log
  env HOST=127.0.0.1 PORT=0 MODEL_DIR=models "$@" node "$DIST/main.js" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q 'Listening on' "$log" && break; sleep 0.1; done
  url=$(grep -o 'Listening on http://[0-9.:]*' "$log" | head -1 | sed 's/Listening on //')
  pids=()
  for i in $(seq 0 11); do
    curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H 'content-type: application/json' \
      --data-binary "@$work/body$i.json" "$url/v2/models/digits/infer" > "$work/code-$i" &
    pids+=($!)
  done
  sleep "0.$((3 + RANDOM % 3))"
  kill -TERM "$pid"
  probe=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$url/health/ready"; echo "/$?")
  lost=0; codes=""
  for i in $(seq 0 11); do
    wait "${pids[$i]}"; rc=$?
    codes+="$(cat "$work/code-$i")/$rc "
    [ "$rc" -ne 0 ] && lost=$((lost + 1))
  done
  wait "$pid"; exit_code=$?
  echo "run $run: $lost of 12 failed; readiness probe $probe; server exit $exit_code; uploads [$codes]"
  grep -o '"msg":"Drain summary[^"]*"' "$log"
  failed=$((failed + lost))
done
echo "total: $failed of $((RUNS * 12)) uploads failed"
