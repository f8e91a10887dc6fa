#!/usr/bin/env bash
# HTTP fuzzing: schemathesis (PyPI) generates requests from the server's own /openapi.json,
# valid and invalid, and fails on any 5xx, a dropped connection, a response that breaks its
# documented schema, status code, content type or headers, or a 405 without `Allow`.
# A bounded number of examples per operation keeps it to well under a minute.
# `--all` runs every check schemathesis has (but `positive_data_acceptance`: some refusals
# depend on state a schema cannot express, such as a taken user name or a thread one is not in),
# so a request the document calls invalid must be refused (`negative_data_rejection`), headers
# and missing auth must be answered as documented, and so on; 30 examples per operation.
#
#   bash tests/fuzz/schemathesis.sh [--all]
#
# Env: CHAT_SERVER_BIN (default $CARGO_TARGET_DIR/debug/chat-server or target/debug/chat-server),
#      ST_EXAMPLES (examples per operation, default 40, 30 with --all), ST_SEED (replays a run;
#      printed at the end),
#      SCHEMATHESIS_VENV (where schemathesis is installed on first use).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

# shellcheck source=tests/server-bin.sh
source "$ROOT/tests/server-bin.sh"
locate_server_bin "$ROOT" schemathesis.sh

VENV="${SCHEMATHESIS_VENV:-/var/tmp/chat-schemathesis}"
ST_VERSION="4.32.5"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "schemathesis.sh: installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

WORK="$(mktemp -d -t chat-schemathesis.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
SERVER=""
cleanup() {
  local rc=$?
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ]; then
    echo "--- server log (last 30 lines)" >&2
    tail -n 30 "$WORK/server.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# Limits off: schemathesis sends far more than a person would; the limits have their own tests.
env -u DATABASE_URL -u REDIS_URL DATA_DIR="$WORK/data" BIND_ADDR="127.0.0.1:$PORT" \
  RATE_LIMITS=off BCRYPT_COST=4 RUST_LOG=warn "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$BASE/healthz" >/dev/null || { echo "schemathesis.sh: the server did not start" >&2; exit 1; }

# An authenticated user, so the fuzzing reaches past the token check.
register() {
  curl -fs -H 'content-type: application/json' \
    -d "{\"nickName\":\"Fuzz\",\"userName\":\"$1\",\"password\":\"Passw0rdOK\",\"confirmPassword\":\"Passw0rdOK\"}" \
    "$BASE/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])'
}
TOKEN="$(register fuzzer01)"
# POST /auth/logout and DELETE /auth/sessions/{id} (ids are small integers) end the session
# of the token they are sent with: each gets a user of its own, else every operation fuzzed
# after them would only see 401.
LOGOUT_TOKEN="$(register fuzzer02)"
END_ONE_TOKEN="$(register fuzzer03)"

CHECKS=(--checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance,unsupported_method)
EXAMPLES="${ST_EXAMPLES:-40}"
if [ "${1:-}" = "--all" ]; then
  CHECKS=(--checks all --exclude-checks positive_data_acceptance)
  EXAMPLES="${ST_EXAMPLES:-30}"
fi

SEED_ARGS=()
if [ -n "${ST_SEED:-}" ]; then SEED_ARGS=(--seed "$ST_SEED"); fi
cd "$WORK"
# One worker: with two (threads), CPython 3.11's ast.parse, which hypothesis calls to describe
# its filters, can fail with "AST constructor recursion depth mismatch" (a CPython bug seen
# once in CI, inside schemathesis, not in the server).
fuzz() {
  local token="$1"
  shift
  "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    "${CHECKS[@]}" \
    --max-examples "$EXAMPLES" \
    --header "Authorization: Bearer $token" \
    --generation-database none \
    --workers 1 \
    --no-color "${SEED_ARGS[@]}" "$@"
}
fuzz "$TOKEN" --exclude-operation-id logout --exclude-operation-id end_one
fuzz "$LOGOUT_TOKEN" --include-operation-id logout
fuzz "$END_ONE_TOKEN" --include-operation-id end_one

if grep -q "panicked" "$WORK/server.log"; then
  echo "schemathesis.sh: the server panicked while being fuzzed" >&2
  exit 1
fi
kill -0 "$SERVER" || { echo "schemathesis.sh: the server died" >&2; exit 1; }
echo "schemathesis.sh: no 5xx, no panic, every response as documented"
