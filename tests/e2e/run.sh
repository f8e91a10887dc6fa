#!/usr/bin/env bash
# Browser end-to-end test: starts chat-server on a free port with a fresh data dir, drives two
# headless Chromium contexts through the client with Playwright (playwright-core + Debian's chromium),
# stops the server. Exits non-zero on any failure.
#
#   bash tests/e2e/run.sh
#
# Env: CHAT_SERVER_BIN (default $CARGO_TARGET_DIR/debug/chat-server or target/debug/chat-server),
#      CHROMIUM (default /usr/bin/chromium), E2E_KEEP=1 keeps the data dir and log,
#      E2E_ONLY=chat|v2|v3|broken runs one test file, E2E_STATIC_DIR serves another page (default static/;
#      against-old-page.sh uses it).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

# shellcheck source=tests/server-bin.sh
source "$ROOT/tests/server-bin.sh"
locate_server_bin "$ROOT" e2e

# --- dependencies: Debian's chromium, node, playwright-core (never a downloaded browser)
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "e2e: installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e: installing nodejs and npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  echo "e2e: npm install"
  (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
fi

# --- server on a free port, fresh data dir
WORK="$(mktemp -d -t chat-e2e.XXXXXX)"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export E2E_SERVER_BIN="$BIN"
export E2E_DATA_DIR="$WORK/data"
export E2E_BIND_ADDR="127.0.0.1:$PORT"
export E2E_BASE_URL="http://127.0.0.1:$PORT"
export E2E_STATIC_DIR="${E2E_STATIC_DIR:-$ROOT/static}"
export E2E_PIDFILE="$WORK/server.pid"
export E2E_SERVER_LOG="$WORK/server.log"
export E2E_SCREENSHOTS="${E2E_SCREENSHOTS:-$ROOT/target/e2e-screenshots}"
export CHROMIUM
mkdir -p "$E2E_DATA_DIR" "$E2E_SCREENSHOTS"

stop_server() {
  if [ -f "$E2E_PIDFILE" ]; then
    local pid
    pid="$(cat "$E2E_PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}
cleanup() {
  local rc=$?
  stop_server
  if [ "$rc" -ne 0 ]; then
    echo "--- server log (last 40 lines)" >&2
    tail -n 40 "$E2E_SERVER_LOG" >&2 || true
  fi
  if [ -n "${E2E_KEEP:-}" ]; then echo "e2e: kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# The test restarts the server itself (same port, same data dir), so it shares these settings.
RATE_LIMITS=off BCRYPT_COST=4 DATA_DIR="$E2E_DATA_DIR" STATIC_DIR="$E2E_STATIC_DIR" BIND_ADDR="$E2E_BIND_ADDR" \
  RUST_LOG="${RUST_LOG:-info}" "$BIN" >>"$E2E_SERVER_LOG" 2>&1 &
echo $! >"$E2E_PIDFILE"
disown
for _ in $(seq 1 100); do
  curl -fsS "$E2E_BASE_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$E2E_BASE_URL/healthz" >/dev/null || { echo "e2e: server did not start" >&2; exit 1; }
echo "e2e: server on $E2E_BASE_URL ($BIN)"

# one file at a time: chat.test.mjs restarts the shared server; v2 and v3 start their own
# E2E_ONLY=v3 runs one file (chat, v2, v3 or broken)
if [ -n "${E2E_ONLY:-}" ]; then FILES=("$HERE/$E2E_ONLY.test.mjs"); else FILES=("$HERE/chat.test.mjs" "$HERE/v2.test.mjs" "$HERE/v3.test.mjs" "$HERE/broken.test.mjs"); fi
node --test --test-concurrency=1 --test-reporter=spec "${FILES[@]}"
echo "e2e: screenshots in $E2E_SCREENSHOTS"
