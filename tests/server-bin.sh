# Sourced by the shell tests: finds the chat-server binary they start.
# locate_server_bin ROOT NAME sets BIN to $CHAT_SERVER_BIN, else $CARGO_TARGET_DIR/debug/chat-server,
# else ROOT/target/debug/chat-server (relative paths taken from ROOT); exits 1 when it is missing.
locate_server_bin() {
  local root="$1" who="$2"
  if [ -n "${CHAT_SERVER_BIN:-}" ]; then
    BIN="$CHAT_SERVER_BIN"
  elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    BIN="$CARGO_TARGET_DIR/debug/chat-server"
  else
    BIN="$root/target/debug/chat-server"
  fi
  case "$BIN" in /*) ;; *) BIN="$root/$BIN" ;; esac
  if [ ! -x "$BIN" ]; then
    echo "$who: server binary not found at $BIN (build it with: cargo build --bin chat-server)" >&2
    exit 1
  fi
}
