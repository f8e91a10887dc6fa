#!/usr/bin/env bash
# CI smoke test of the load bench: starts a debug chat-server on a free port with a throwaway
# data dir, runs a tiny fanout (20 members, 2 senders, 3 s) and a tiny lifecycle (20 members,
# 3 senders sending, editing, deleting and reacting, 3 s) with the debug chat-bench, stops the
# server and exits with the first failing bench's status (0: no errors, nothing lost or
# duplicated, every copy converged).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
server="$target_dir/debug/chat-server"
if [ ! -x "$server" ]; then
  cargo build --bin chat-server
fi
# build first so that compiling does not eat into the server's start-up wait
cargo build --example chat-bench

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 20000))
  if port_free "$candidate"; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "bench-smoke: no free port found" >&2; exit 2; }

data_dir="$(mktemp -d)"
RATE_LIMITS=off BCRYPT_COST=4 DATA_DIR="$data_dir" BIND_ADDR="127.0.0.1:$port" \
  RUST_LOG=warn "$server" >"$data_dir/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if ! port_free "$port"; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "bench-smoke: the server exited:" >&2
    cat "$data_dir/server.log" >&2
    exit 2
  fi
  sleep 0.1
done

status=0
cargo run --quiet --example chat-bench -- \
  --url "http://127.0.0.1:$port" --server-pid "$server_pid" \
  --scenario fanout --members 20 --senders 2 --duration 3 --warmup 0.5 --drain 5 \
  || status=$?
if [ "$status" -eq 0 ]; then
  cargo run --quiet --example chat-bench -- \
    --url "http://127.0.0.1:$port" --server-pid "$server_pid" \
    --scenario lifecycle --members 20 --senders 3 --duration 3 --warmup 0.5 --drain 5 \
    || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "bench-smoke: chat-bench exited with $status; server log:" >&2
  tail -n 50 "$data_dir/server.log" >&2
fi
exit "$status"
