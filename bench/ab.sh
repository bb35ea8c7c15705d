#!/usr/bin/env bash
# A/B of two invokd binaries on the same machine: both serve the built `echo-fn` function side by
# side, and peer-bench's lbench alternates between them (c=1: 3000 sequential invokes; c=8: 5 s),
# printing lbench's line and the server's CPU ticks (10 ms each) for every run, then how many
# environments each kept. For before/after figures of a change to the invoke path:
#
#   INVOKD_REV=HEAD~1 bench/build && cp /tmp/invokd-bench-target/release/invokd /tmp/invokd-before
#   cargo build --release -p invokd
#   bench/ab.sh /tmp/invokd-before target/release/invokd [ROUNDS]
#
# Needs bench/build to have run (lbench, echo-fn).
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); ROUNDS=${3:-3}
LB=${LBENCH:-/tmp/lambda-bench-target/release/lbench}
ECHO_FN=${ECHO_FN:-/tmp/echo-fn-target/release/echo-fn}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
cp "$ECHO_FN" bootstrap && zip -q fn.zip bootstrap
printf '{"FunctionName":"echo","Runtime":"provided.al2023","Handler":"bootstrap","Role":"arn:aws:iam::123456789012:role/bench","MemorySize":128,"Timeout":30,"Code":{"ZipFile":"%s"}}' \
  "$(base64 -w0 fn.zip)" > create.json

start() { # binary port
  "$1" serve --listen "127.0.0.1:$2" --data-dir "$work/data-$2" 2>"$work/log-$2" &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$2/2015-03-31/functions" && break; sleep 0.1; done
  curl -s -o /dev/null -w "create on $2: %{http_code}\n" -XPOST -H 'Content-Type: application/json' \
    --data @create.json "http://127.0.0.1:$2/2015-03-31/functions"
}
start "$A" 19401
start "$B" 19402
body='{"key1":"value1","key2":"value2","key3":"value3"}'
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for side in "A 19401 ${pids[0]}" "B 19402 ${pids[1]}"; do
    read -r name port pid <<<"$side"
    url="http://127.0.0.1:$port/2015-03-31/functions/echo/invocations"
    t0=$(ticks "$pid"); out=$("$LB" --url "$url" --body "$body" -c 1 -n 3000 --warmup 200 2>&1 | tail -1); t1=$(ticks "$pid")
    echo "round $r $name c1: $out cpu_ticks=$((t1 - t0))"
    t0=$(ticks "$pid"); out=$("$LB" --url "$url" --body "$body" -c 8 -d 5 2>&1 | tail -1); t1=$(ticks "$pid")
    echo "round $r $name c8: $out cpu_ticks=$((t1 - t0))"
  done
done
echo "environments kept: A $(ps -eo ppid= | grep -cx " *${pids[0]}"), B $(ps -eo ppid= | grep -cx " *${pids[1]}")"
