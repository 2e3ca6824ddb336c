#!/usr/bin/env bash
# Load benchmark of the release server on a 2-core machine: the server is pinned
# to core 0, wrk to core 1, traffic goes to 127.0.0.1 only. Prints requests/s and
# p50/p99 latency per endpoint, the raw RS256 signing rate (benches/signing.rs),
# the time to list one person's 50 sessions on Redis (benches/session_list.rs),
# the second-factor check rates on one core (benches/factors.rs: TOTP codes,
# passkey assertions)
# and the server's idle RSS, then compares them with the targets.
#
# Then runs scripts/bench/signin.sh (sign-in flows) and scripts/bench/flood.sh
# (memory under a flood of unauthenticated authorization requests).
#
# Usage: bash scripts/bench.sh
# Environment (defaults in brackets):
#   BENCH_SECONDS            seconds per measured run [10]
#   BENCH_WARMUP_SECONDS     unmeasured run before each measured one [2]
#   BENCH_CONNECTIONS        connections for discovery, JWKS and introspection [32]
#   BENCH_TOKEN_CONNECTIONS  connections for token issuance (CPU-bound) [8]
#   BENCH_IDLE_SECONDS       pause after start-up before reading the idle RSS [2]
#   BENCH_PORT               port on 127.0.0.1 for the server [18080]
#   SIGN_BENCH_SECONDS       duration of the raw signing benchmark [5]
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP_SECONDS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
TOKEN_CONNECTIONS=${BENCH_TOKEN_CONNECTIONS:-8}
IDLE=${BENCH_IDLE_SECONDS:-2}
PORT=${BENCH_PORT:-18080}
BASE=http://127.0.0.1:$PORT
SERVER_CORE=0
LOAD_CORE=1
LUA=scripts/bench/post-form.lua
BIN=target/release/gatehouse

# Targets are reported, not enforced.
TARGET_STATIC_RPS=30000
TARGET_SIGN_PERCENT=80
TARGET_RSS_MIB=30

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
missing=()
for tool in wrk curl jq taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    packages=("${missing[@]/taskset/util-linux}")
    log "installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
(($(nproc --all) >= 2)) || die "needs two cores (one for the server, one for wrk)"

# --- build -------------------------------------------------------------------
log "building the release server and the signing benchmark"
cargo build --release --quiet
cargo bench --bench signing --no-run --quiet

# --- raw signing rate, before the server runs, on the server's core ----------
# `time` appends "real user sys" seconds: a share of core 0 well under 100 %
# means other processes slowed the benchmark down.
log "raw signing rate (taskset -c $SERVER_CORE cargo bench --bench signing)"
sign_output=$( { TIMEFORMAT='%R %U %S'; time taskset -c "$SERVER_CORE" cargo bench --bench signing --quiet; } 2>&1)
sed '$d' <<<"$sign_output"
sign_rate=$(sed -n 's/.*: \([0-9.]*\) signs\/s.*/\1/p' <<<"$sign_output")
[[ -n $sign_rate ]] || die "no 'signs/s' line in the signing benchmark's output"
sign_share=$(tail -n1 <<<"$sign_output" | awk '{ printf "%.0f", 100 * ($2 + $3) / $1 }')

# --- server in a fresh data directory ----------------------------------------
tmp=$(mktemp -d -t gatehouse-bench.XXXXXX)
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
export GATEHOUSE_ISSUER=http://localhost:$PORT
export GATEHOUSE_LOG=warn

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use; set BENCH_PORT"
fi

log "registering a client_credentials client"
client_json=$("$BIN" client create --name bench --grant client_credentials \
    --scope "reports:read" --json)
client_id=$(jq -r .client_id <<<"$client_json")
client_secret=$(jq -r .client_secret <<<"$client_json")
# Generated ids and secrets are base64url, so they need no form-encoding here.
authorization="Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"

log "starting the server on core $SERVER_CORE at $BASE"
taskset -c "$SERVER_CORE" "$BIN" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "the server exited"; }
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/readyz" || { cat "$tmp/server.log" >&2; die "the server is not ready after 10 s"; }

sleep "$IDLE"
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')

access_token=$(curl -fsS -H "Authorization: $authorization" \
    -d grant_type=client_credentials "$BASE/token" | jq -r .access_token)
active=$(curl -fsS -H "Authorization: $authorization" \
    --data-urlencode "token=$access_token" "$BASE/introspect" | jq -r .active)
[[ $active == true ]] || die "introspection of a fresh token did not answer active=true"

# --- load --------------------------------------------------------------------
# Busy CPU seconds of the whole machine, and of the server. During a run, what
# neither the server nor wrk used went to other processes, which skews figures.
busy_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}
server_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$server_pid/stat"; }
shared_runs=0

# run NAME CONNECTIONS PATH [wrk options…]: warm up, measure, and record
# "NAME|req/s|p50 ms|p99 ms|mark" in $results, mark "*" when other processes
# used over 5 % of a core. Fails on any error or non-2xx answer.
results=()
run() {
    local name=$1 connections=$2 path=$3 out busy0 server0 foreign mark=""
    shift 3
    log "$name: $connections connections, ${DURATION}s (after ${WARMUP}s warm-up)"
    if ((WARMUP > 0)); then
        taskset -c "$LOAD_CORE" wrk -t1 -c"$connections" -d"${WARMUP}s" "$@" "$BASE$path" >/dev/null
    fi
    busy0=$(busy_seconds) server0=$(server_seconds)
    # `time` appends wrk's own "user sys" CPU seconds to its output.
    out=$( { TIMEFORMAT='%U %S'; time taskset -c "$LOAD_CORE" \
        wrk -t1 -c"$connections" -d"${DURATION}s" --latency "$@" "$BASE$path"; } 2>&1)
    foreign=$(awk -v b0="$busy0" -v b1="$(busy_seconds)" -v s0="$server0" -v s1="$(server_seconds)" \
        '{ f = (b1 - b0) - (s1 - s0) - ($1 + $2); printf "%.2f", f < 0 ? 0 : f }' <<<"$(tail -n1 <<<"$out")")
    out=$(sed '$d' <<<"$out")
    printf '%s\nother processes: %s CPU seconds in %d s\n\n' "$out" "$foreign" "$DURATION"
    if awk -v f="$foreign" -v d="$DURATION" 'BEGIN { exit !(f > 0.05 * d) }'; then
        mark="*"
        shared_runs=$((shared_runs + 1))
    fi
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
        die "$name: wrk saw errors (above); the figures would not mean anything"
    fi
    results+=("$(awk -v name="$name" '
        # wrk prints latencies as e.g. 812.00us, 1.25ms, 1.02s, 1.50m
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        END { printf "%s|%.0f|%.3f|%.3f|", name, rps, p50, p99 }' <<<"$out")$mark")
}

run discovery "$CONNECTIONS" /.well-known/openid-configuration
run jwks "$CONNECTIONS" /jwks
BENCH_AUTHORIZATION=$authorization BENCH_BODY="grant_type=client_credentials" \
    run "token (client_credentials)" "$TOKEN_CONNECTIONS" /token -s "$LUA"
BENCH_AUTHORIZATION=$authorization BENCH_BODY="token=$access_token" \
    run introspect "$CONNECTIONS" /introspect -s "$LUA"

# --- summary -----------------------------------------------------------------
rps_of() { # the req/s recorded for NAME
    local row
    for row in "${results[@]}"; do
        [[ ${row%%|*} == "$1" ]] && { cut -d'|' -f2 <<<"$row"; return; }
    done
}
verdict() { # verdict VALUE OP TARGET → "met" or "NOT met"
    awk -v v="$1" -v t="$3" -v op="$2" \
        'BEGIN { ok = (op == ">=") ? v >= t : v < t; print ok ? "met" : "NOT met" }'
}
token_rps=$(rps_of "token (client_credentials)")
token_percent=$(awk -v t="$token_rps" -v s="$sign_rate" 'BEGIN { printf "%.1f", 100 * t / s }')

echo "Gatehouse load benchmark: server on core $SERVER_CORE, wrk -t1 on core $LOAD_CORE," \
    "${DURATION}s per endpoint"
printf '%-28s %10s %10s %10s %6s\n' endpoint "req/s" "p50 ms" "p99 ms" conns
for row in "${results[@]}"; do
    IFS='|' read -r name rps p50 p99 mark <<<"$row"
    conns=$CONNECTIONS
    [[ $name == token* ]] && conns=$TOKEN_CONNECTIONS
    printf '%-28s %10s %10s %10s %6s %s\n' "$name" "$rps" "$p50" "$p99" "$conns" "$mark"
done
if ((shared_runs)); then
    echo "* other processes used over 5 % of a core during this run: its figures are low; rerun on an idle machine"
fi
printf 'raw sign rate: %.0f/s ; token issuance / raw sign = %s %%\n' "$sign_rate" "$token_percent"
if ((sign_share < 95)); then
    echo "* the signing benchmark had only $sign_share % of core $SERVER_CORE: the raw sign rate is low; rerun on an idle machine"
fi
printf 'idle RSS: %s MiB\n' "$rss_mib"
echo
echo "targets (reported, not enforced):"
printf '  discovery >= %d req/s on one core: %s\n' "$TARGET_STATIC_RPS" \
    "$(verdict "$(rps_of discovery)" '>=' "$TARGET_STATIC_RPS")"
printf '  JWKS      >= %d req/s on one core: %s\n' "$TARGET_STATIC_RPS" \
    "$(verdict "$(rps_of jwks)" '>=' "$TARGET_STATIC_RPS")"
printf '  token issuance >= %d %% of raw sign rate: %s\n' "$TARGET_SIGN_PERCENT" \
    "$(verdict "$token_percent" '>=' "$TARGET_SIGN_PERCENT")"
printf '  idle RSS < %d MiB: %s\n' "$TARGET_RSS_MIB" "$(verdict "$rss_mib" '<' "$TARGET_RSS_MIB")"

# --- sign-in side (issue: refresh, userinfo, complete sign-ins, flood) ---------
echo
cleanup
server_pid=
bash scripts/bench/signin.sh

# --- memory under an unauthenticated flood (issue: bounded state) -------------
echo
bash scripts/bench/flood.sh

# --- one person's session list on Redis, and the session record's size -------
echo
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    taskset -c "$SERVER_CORE" cargo bench --bench session_list --quiet
else
    echo "session list: skipped (no Redis on 127.0.0.1:6379; BENCH_REDIS_URL to point elsewhere)"
fi

# --- second factors: checks per second on one core ----------------------------
echo
taskset -c "$SERVER_CORE" cargo bench --bench factors --quiet
