#!/usr/bin/env bash
# Schema-driven fuzzing of the admin API: starts the gatehouse binary on a
# temporary data dir and a free 127.0.0.1 port, creates an admin client with the
# CLI, takes a client_credentials token, and runs schemathesis against the
# OpenAPI document the server publishes (/admin/openapi.json). It fails on any
# 5xx, any response that the document does not describe (status, content type,
# body schema), any schema-valid request that is refused and any schema-invalid
# request that is accepted.
#
# Usage: scripts/schemathesis.sh            (uses the newer of target/{release,debug}/gatehouse,
#                                            building the debug binary if neither exists)
# Env:   GATEHOUSE_BIN        the binary to test
#        SCHEMATHESIS_EXAMPLES  test cases per operation (default 100)
#        SCHEMATHESIS_SEED      random seed (default: a fixed one, for reproducible runs)
# Exit:  0 when schemathesis found nothing; non-zero otherwise. The last line
#        printed is a one-line summary.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v st >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5" >/dev/null
fi
ST="$(command -v st || true)"
[ -n "$ST" ] || ST="python3 -m schemathesis.cli"

target="${CARGO_TARGET_DIR:-target}"
bin="${GATEHOUSE_BIN:-}"
if [ -z "$bin" ]; then
    # The newer of the release and debug binaries, so a stale build is not tested.
    for candidate in "$target/release/gatehouse" "$target/debug/gatehouse"; do
        if [ -x "$candidate" ] && { [ -z "$bin" ] || [ "$candidate" -nt "$bin" ]; }; then
            bin="$candidate"
        fi
    done
fi
if [ -z "$bin" ]; then
    cargo build --quiet --bin gatehouse
    bin="$target/debug/gatehouse"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# A private server: embedded SQLite and in-process cache in the temp dir, cheap
# argon2 so user-creating requests stay fast on a small machine.
unset DATABASE_URL REDIS_URL
export GATEHOUSE_DATA_DIR="$work/data" GATEHOUSE_LISTEN="127.0.0.1:$port" GATEHOUSE_ISSUER="$base" \
    GATEHOUSE_LOG=warn GATEHOUSE_ARGON2_MEMORY_KIB=1024 GATEHOUSE_ARGON2_ITERATIONS=1

"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$base/readyz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        echo "schemathesis: FAILED - the server did not start" >&2
        exit 2
    fi
    sleep 0.1
done

"$bin" client create --admin --name schemathesis --json >"$work/admin.json"
token="$(python3 - "$base" "$work/admin.json" <<'EOF'
import base64, json, sys, urllib.parse, urllib.request
base, path = sys.argv[1], sys.argv[2]
client = json.load(open(path))
basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
request = urllib.request.Request(
    f"{base}/token",
    data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    headers={"Authorization": f"Basic {basic}"},
)
print(json.load(urllib.request.urlopen(request))["access_token"])
EOF
)"

# Schemathesis reuses ids it saw in responses; keep it from deleting, rotating or
# editing the admin client this run authenticates with (everything else is fair game).
admin_id="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/admin.json")"
cat >"$work/gatehouse_hooks.py" <<EOF
import schemathesis

ADMIN_CLIENT_ID = "$admin_id"


@schemathesis.hook
def filter_case(ctx, case):
    return (case.path_parameters or {}).get("client_id") != ADMIN_CLIENT_ID
EOF
export PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=gatehouse_hooks

checks="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance"
# A request too big to read is refused with 413 before it is parsed: that is
# a rejection of bad data too, besides schemathesis's default statuses.
cat >"$work/schemathesis.toml" <<'TOML'
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]
TOML
status=0
# Stateful testing is left out: its sequences would add minutes to the run.
# One worker: with two, Hypothesis's shared caches race inside the generator
# and a run can end in an internal "Inconsistent results" error.
$ST --config-file "$work/schemathesis.toml" run "$base/admin/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" \
    --seed "${SCHEMATHESIS_SEED:-20261201}" \
    --workers 1 \
    --generation-with-security-parameters false \
    --request-timeout 10 \
    --no-color \
    --report junit --report-junit-path "$work/junit.xml" \
    >"$work/st.log" 2>&1 || status=$?
cat "$work/st.log"

summary="$(python3 - "$work/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("no report")
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failures = sum(int(s.get("failures", 0)) for s in suites)
errors = sum(int(s.get("errors", 0)) for s in suites)
print(f"{tests} operations tested, {failures} failing, {errors} errors")
EOF
)"
server_errors="$(grep -c '"status":5[0-9][0-9]\|status=5[0-9][0-9]' "$work/server.log" || true)"
if [ "$status" -eq 0 ]; then
    echo "schemathesis: OK - $summary (checks: $checks)"
else
    echo "--- last server log lines ---"
    tail -n 40 "$work/server.log"
    echo "schemathesis: FAILED (exit $status) - $summary; server log lines mentioning 5xx: $server_errors"
fi
exit "$status"
