#!/usr/bin/env bash
# PostgreSQL over TLS with the bundled libpq and OpenSSL: starts a throwaway PostgreSQL (initdb
# into a temp dir, ssl=on with a freshly made self-signed certificate, every TCP connection
# without TLS refused by pg_hba), then checks that chat-server
#   - with sslmode=require serves /healthz and a register + login round trip,
#   - with sslmode=verify-full and the certificate as sslrootcert does too, and with
#     sslrootcert=system when SSL_CERT_FILE names a store holding it (the built-in OpenSSL
#     checks the chain), and refuses a server certificate its root did not sign,
#   - with sslmode=require against the same instance restarted with ssl=off fails, saying why.
# The shared cluster on 5432 is not touched; the instance is stopped at the end.
#
#   bash tests/pg-tls.sh
#
# Env: CHAT_SERVER_BIN (default $CARGO_TARGET_DIR/debug/chat-server or target/debug/chat-server),
# PG_TLS_PORT (default 55432), PG_BIN (default the newest /usr/lib/postgresql/*/bin).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

# shellcheck source=tests/server-bin.sh
source "$ROOT/tests/server-bin.sh"
locate_server_bin "$ROOT" pg-tls

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}"
PG_PORT="${PG_TLS_PORT:-55432}"
ok() { printf 'pg-tls: ok - %s\n' "$*"; }
fail() { printf 'pg-tls: FAIL - %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root: the instance runs as the postgres user then.
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
fi

if ss -Hltn "sport = :$PG_PORT" | grep -q .; then
  fail "port $PG_PORT is in use (set PG_TLS_PORT)"
fi

WORK="$(mktemp -d -t chat-pg-tls.XXXXXX)"
chmod 755 "$WORK"
# The instance's own dir (data, log, socket), owned by whoever runs it.
PGDIR="$WORK/pg"
PGDATA="$PGDIR/data"
SERVER=""
cleanup() {
  local rc=$?
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ -f "$PGDATA/PG_VERSION" ]; then as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true; fi
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK/server.log" "$PGDIR/pg.log"; do
      [ -f "$log" ] && { echo "--- $log (last 20 lines)" >&2; tail -n 20 "$log" >&2 || true; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# A self-signed certificate for localhost (CN and subjectAltName, so verify-full can match it).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/server.key" -out "$WORK/server.crt" 2>/dev/null
# A second one that signed nothing here: verify-full with it as the root must fail.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -keyout "$WORK/other.key" -out "$WORK/other.crt" 2>/dev/null
chmod 644 "$WORK/server.crt" "$WORK/other.crt"

mkdir -p "$PGDATA"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$PGDIR"
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
install -m 600 "$WORK/server.key" "$PGDATA/server.key"
install -m 644 "$WORK/server.crt" "$PGDATA/server.crt"
[ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA/server.key" "$PGDATA/server.crt"
# Only TLS over TCP: a connection that silently fell back to plain text could not log in.
cat >"$PGDATA/pg_hba.conf" <<'EOF'
local     all all                trust
hostssl   all all 127.0.0.1/32   trust
hostnossl all all 0.0.0.0/0      reject
EOF
chown --reference="$PGDATA" "$PGDATA/pg_hba.conf"
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/pg.log" -w -t 30 \
  -o "-c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c ssl=on -c fsync=off" \
  start >/dev/null
as_pg "$PG_BIN/createdb" -h "$PGDIR" -p "$PG_PORT" -U postgres chat
if PGCONNECT_TIMEOUT=5 psql "postgres://postgres@127.0.0.1:$PG_PORT/chat?sslmode=disable" -Atc 'SELECT 1' >/dev/null 2>&1; then
  fail "the instance accepted a connection without TLS"
fi
ok "throwaway PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') with ssl=on on 127.0.0.1:$PG_PORT (plain-text TCP refused)"

PORT=""
start_server() { # DATABASE_URL -> starts chat-server on a free port, sets SERVER and BASE
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  BASE="http://127.0.0.1:$PORT"
  env -u REDIS_URL DATABASE_URL="$1" RATE_LIMITS=off BCRYPT_COST=4 DATA_DIR="$WORK/data" \
    BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn "$BIN" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do
    curl -fs "$BASE/healthz" >/dev/null && return 0
    kill -0 "$SERVER" 2>/dev/null || fail "chat-server exited at start with $1"
    sleep 0.1
  done
  fail "chat-server did not answer /healthz with $1"
}
stop_server() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(str(d).lower() if isinstance(d,bool) else d)' "$1"; }
round_trip() { # USERNAME: register, log in, GET /auth with the token
  local reg login token
  reg="$(curl -fsS -X POST "$BASE/auth/register" -F "nickName=TLS $1" -F "userName=$1" \
    -F "password=Passw0rd1" -F "confirmPassword=Passw0rd1")" || fail "register $1"
  [ "$(field success <<<"$reg")" = true ] || fail "register $1: $reg"
  login="$(curl -fsS -X POST "$BASE/auth/login" -F "userName=$1" -F "password=Passw0rd1")" || fail "login $1"
  token="$(field accessToken <<<"$login")"
  [ "$(curl -fsS -H "Authorization: Bearer $token" "$BASE/auth" | field user.userName)" = "$1" ] ||
    fail "GET /auth as $1"
}

# The user the server logs in as must have come over TLS: ask PostgreSQL itself.
tls_sessions() {
  as_pg "$PG_BIN/psql" -h "$PGDIR" -p "$PG_PORT" -U postgres -d chat -Atc \
    "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND datname = 'chat'"
}

start_server "postgres://postgres@127.0.0.1:$PG_PORT/chat?sslmode=require"
curl -fsS "$BASE/healthz" >/dev/null
round_trip tls_require
n="$(tls_sessions)"
[ "$n" -ge 1 ] || fail "no TLS session from chat-server in pg_stat_ssl"
ok "sslmode=require: /healthz, register, login, GET /auth ($n TLS sessions in pg_stat_ssl)"
stop_server

start_server "postgres://postgres@localhost:$PG_PORT/chat?sslmode=verify-full&sslrootcert=$WORK/server.crt"
round_trip tls_verify
stop_server
ok "sslmode=verify-full with the server's certificate as sslrootcert"

# sslrootcert=system means OpenSSL's default store; the built-in OpenSSL finds it through
# SSL_CERT_FILE (README says so), here a store holding just this server's certificate.
SSL_CERT_FILE="$WORK/server.crt" "$BIN" --check \
  --database-url "postgres://postgres@localhost:$PG_PORT/chat?sslrootcert=system" >"$WORK/check.log" 2>&1 ||
  fail "sslrootcert=system with SSL_CERT_FILE: $(cat "$WORK/check.log")"
ok "sslrootcert=system (verify-full) with SSL_CERT_FILE naming the store"

if "$BIN" --check --database-url "postgres://postgres@localhost:$PG_PORT/chat?sslmode=verify-full&sslrootcert=$WORK/other.crt" \
  >"$WORK/check.log" 2>&1; then
  fail "verify-full accepted a certificate not signed by sslrootcert"
fi
grep -qi 'certificate verify failed' "$WORK/check.log" || fail "unexpected error: $(cat "$WORK/check.log")"
ok "sslmode=verify-full with another root: refused ($(grep -oi 'certificate verify failed' "$WORK/check.log" | head -n 1))"

# The same instance restarted without TLS: require must fail at start, and say why.
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/pg.log" -w -t 30 \
  -o "-c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c ssl=off" \
  restart >/dev/null
if "$BIN" --check --database-url "postgres://postgres@127.0.0.1:$PG_PORT/chat?sslmode=require" \
  >"$WORK/check.log" 2>&1; then
  fail "sslmode=require against a server without TLS was accepted"
fi
grep -q 'server does not support SSL' "$WORK/check.log" || fail "unexpected error: $(cat "$WORK/check.log")"
ok "sslmode=require against the instance with ssl=off: refused ($(grep -o 'server does not support SSL[^"]*' "$WORK/check.log" | head -n 1))"
echo "pg-tls: all passed"
