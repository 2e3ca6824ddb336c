#!/usr/bin/env bash
# Memory under an unauthenticated flood: starts the release server on
# 127.0.0.1, reads its idle RSS, then sends bounded floods of POST /authorize
# (a fixed number of requests, from one address, to 127.0.0.1 only) and prints
# the peak RSS above idle after each (VmHWM − idle VmRSS; peaks only grow, so
# each figure covers every flood so far).
#
#   1. 20,000 requests with a 62 KB state (refused by the parameter bound);
#   2. 20,000 requests with the largest accepted state (2 KiB), with the
#      admission caps lifted so that every one is stored and only the
#      in-process cache's byte budget bounds memory (cache_max_bytes, set to
#      16 MiB here so that 20,000 pending requests, ~50 MB, overflow it).
#
# Target: the first flood under 64 MiB above idle.
# Usage: bash scripts/bench/flood.sh   (also run by scripts/bench.sh)
# Environment: FLOOD_REQUESTS per flood [20000], FLOOD_THREADS [8], BENCH_PORT [18082],
#   FLOOD_CACHE_MAX_BYTES [16777216]
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${BENCH_PORT:-18082}
BASE=http://127.0.0.1:$PORT
REQUESTS=${FLOOD_REQUESTS:-20000}
THREADS=${FLOOD_THREADS:-8}
BIN=${CARGO_TARGET_DIR:-target}/release/gatehouse
TARGET_MIB=64

cargo build --release --quiet

tmp=$(mktemp -d -t gatehouse-flood-bench.XXXXXX)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export GATEHOUSE_DATA_DIR=$tmp/data
export GATEHOUSE_LISTEN=127.0.0.1:$PORT
export GATEHOUSE_ISSUER=$BASE
export GATEHOUSE_LOG=error
# Flood 2 stores every request: lift the admission caps so only the byte budget bounds memory.
export GATEHOUSE_MAX_PENDING_PER_ADDRESS=10000000
export GATEHOUSE_MAX_PENDING=10000000
export GATEHOUSE_CACHE_MAX_BYTES=${FLOOD_CACHE_MAX_BYTES:-16777216}

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "flood: port $PORT is already in use; set BENCH_PORT" >&2
    exit 1
fi

client_id=$("$BIN" client create --name flood-app --first-party \
    --grant authorization_code --redirect-uri http://127.0.0.1:9/cb \
    --scope openid --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')

"$BIN" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$BASE/readyz" || { cat "$tmp/server.log" >&2; exit 1; }
sleep 2

kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$server_pid/status"; }
idle_kib=$(kib VmRSS)

# Sends exactly $REQUESTS POSTs over $THREADS keep-alive connections; prints
# the count of each status.
flood() {
    PORT=$PORT CLIENT_ID=$client_id STATE_BYTES=$1 REQUESTS=$REQUESTS THREADS=$THREADS python3 - <<'PY'
import collections, http.client, os, threading, urllib.parse
port, threads, total = int(os.environ["PORT"]), int(os.environ["THREADS"]), int(os.environ["REQUESTS"])
body = urllib.parse.urlencode({
    "client_id": os.environ["CLIENT_ID"], "redirect_uri": "http://127.0.0.1:9/cb",
    "response_type": "code", "scope": "openid", "state": "s" * int(os.environ["STATE_BYTES"]),
})
counts, lock = collections.Counter(), threading.Lock()
def worker(n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(n):
        try:
            conn.request("POST", "/authorize", body, {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            key = response.status
        except (OSError, http.client.HTTPException) as e:
            key = type(e).__name__
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            counts[key] += 1
share = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
pool = [threading.Thread(target=worker, args=(n,)) for n in share]
for t in pool: t.start()
for t in pool: t.join()
print(" ".join(f"{k}:{v}" for k, v in sorted(counts.items(), key=str)))
PY
}

report() {
    local peak_kib
    peak_kib=$(kib VmHWM)
    awk -v name="$1" -v idle="$idle_kib" -v peak="$peak_kib" -v now="$(kib VmRSS)" -v target="$TARGET_MIB" -v statuses="$2" 'BEGIN {
        above = (peak - idle) / 1024
        printf "%-34s statuses %s; peak %.1f MiB above idle (now %.1f MiB above)%s\n",
            name, statuses, above, (now - idle) / 1024, target ? sprintf(" (target < %d MiB: %s)", target, above < target ? "met" : "MISSED") : ""
    }'
}

echo "Gatehouse flood benchmark: $REQUESTS POST /authorize per flood, $THREADS connections, 127.0.0.1"
printf 'idle RSS: %.1f MiB\n' "$(awk -v k="$idle_kib" 'BEGIN { print k / 1024 }')"
statuses=$(flood 63488)
report "1. 62 KB state (refused)" "$statuses"
statuses=$(flood 2048)
TARGET_MIB=0 report "2. 2 KiB state, caps lifted, $((GATEHOUSE_CACHE_MAX_BYTES >> 20)) MiB cache" "$statuses"
