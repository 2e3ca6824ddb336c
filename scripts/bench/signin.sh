#!/usr/bin/env bash
# Sign-in load benchmark: the release server pinned to core 0, the load
# generator (examples/loadgen.rs) pinned to core 1, traffic to 127.0.0.1 only.
# Prints refresh-token rotations/s (each worker walks its own chain), userinfo
# requests/s, complete sign-ins/s (authorize → password → code → token) with the
# default argon2id cost, and refresh/userinfo p50/p99 again while a flood of
# wrong-password sign-ins saturates the hashing limit.
#
# Usage: bash scripts/bench/signin.sh   (also run by scripts/bench.sh)
# Environment: BENCH_SECONDS per run [10], WORKERS [8], FLOOD_WORKERS [64], BENCH_PORT [18081],
# BENCH_BIN and BENCH_LOADGEN (prebuilt binaries to run instead of building),
# BENCH_SCENARIO (one of the load generator's scenarios, e.g. userinfo) [all]
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${BENCH_PORT:-18081}
BASE=http://127.0.0.1:$PORT
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
# BENCH_BIN and BENCH_LOADGEN run binaries built elsewhere (say, of an earlier
# commit, for a before/after comparison) instead of building this tree's.
BIN=${BENCH_BIN:-target/release/gatehouse}
LOADGEN=${BENCH_LOADGEN:-target/release/examples/loadgen}
if [[ -z ${BENCH_BIN:-} ]]; then
    cargo build --release --quiet
    cargo build --release --quiet --example loadgen
fi

tmp=$(mktemp -d -t gatehouse-signin-bench.XXXXXX)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

export GATEHOUSE_DATA_DIR=$tmp/data
export GATEHOUSE_LISTEN=127.0.0.1:$PORT
export GATEHOUSE_ISSUER=$BASE
export GATEHOUSE_LOG=warn
# The flood is credential stuffing from one address: lift the attempt limits so
# it reaches the hashing limit instead of being refused by the counters.
export GATEHOUSE_LOGIN_ATTEMPTS_PER_IP=1000000
export GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT=1000000
# Every sign-in of the load generator starts at one address: lift the caps on
# pending interactions per address and overall (their maxima) for the same reason.
export GATEHOUSE_MAX_PENDING_PER_ADDRESS=10000000
export GATEHOUSE_MAX_PENDING=10000000

client_id=$("$BIN" client create --name bench-app --public --first-party \
    --grant authorization_code --grant refresh_token --redirect-uri http://127.0.0.1:9/cb \
    --scope "openid offline_access" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
password="bench password $RANDOM$RANDOM"
printf '%s\n' "$password" | "$BIN" user create --email bench@example.com --json >/dev/null

taskset -c 0 "$BIN" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$BASE/readyz" || { cat "$tmp/server.log" >&2; exit 1; }

echo "Gatehouse sign-in benchmark: server on core 0, load generator on core 1, ${SECONDS_PER_RUN}s per run"
BASE=$BASE CLIENT_ID=$client_id REDIRECT_URI=http://127.0.0.1:9/cb USER_EMAIL=bench@example.com \
USER_PASSWORD=$password BENCH_SECONDS=$SECONDS_PER_RUN \
    taskset -c 1 "$LOADGEN" "${BENCH_SCENARIO:-all}" | tee "$tmp/results.txt"

p99() { awk -v name="$1" 'index($0, name) == 1 { for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1) }' "$tmp/results.txt"; }
for flow in refresh userinfo; do
    base_name=$([[ $flow == refresh ]] && echo "refresh (own chain" || echo "userinfo ")
    quiet=$(p99 "$base_name") loaded=$(p99 "$flow under flood")
    awk -v f="$flow" -v q="$quiet" -v l="$loaded" 'BEGIN {
        printf "%s p99 under the flood: %.2f ms vs %.2f ms unloaded = %.2fx (target < 2x)\n", f, l, q, l / q }'
done
