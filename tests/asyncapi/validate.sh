#!/usr/bin/env bash
# AsyncAPI check: starts chat-server on a free port, fetches the /asyncapi.json it serves and
# validates it with @asyncapi/parser (npm, pinned by package-lock.json, installed on first use;
# the check itself runs offline). Exits non-zero on any parser error or warning.
#
#   bash tests/asyncapi/validate.sh
#
# Env: CHAT_SERVER_BIN (default $CARGO_TARGET_DIR/debug/chat-server or target/debug/chat-server).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

# shellcheck source=tests/server-bin.sh
source "$ROOT/tests/server-bin.sh"
locate_server_bin "$ROOT" asyncapi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "asyncapi: installing nodejs and npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d "$HERE/node_modules/@asyncapi/parser" ]; then
  echo "asyncapi: npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

WORK="$(mktemp -d -t chat-asyncapi.XXXXXX)"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
BASE="http://127.0.0.1:$PORT"
SERVER=""
cleanup() {
  local rc=$?
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- server log (last 30 lines)" >&2
    tail -n 30 "$WORK/server.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

env -u DATABASE_URL -u REDIS_URL DATA_DIR="$WORK/data" BIND_ADDR="127.0.0.1:$PORT" \
  RUST_LOG=warn "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$BASE/asyncapi.json" -o "$WORK/asyncapi.json" || {
  echo "asyncapi: GET /asyncapi.json failed" >&2
  exit 1
}
node "$HERE/validate.mjs" "$WORK/asyncapi.json"
