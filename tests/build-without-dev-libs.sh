#!/usr/bin/env bash
# Shows that the build needs no libpq-dev and no libssl-dev, on a machine that has them: runs a
# command (default: a clean `cargo build --release` into a fresh target dir) in a private mount
# namespace where their headers, libraries, pkg-config files and pg_config are hidden, and
# pkg-config looks nowhere. Nothing changes outside that namespace (other users of the machine
# still see the packages). Needs root (unshare -m, overlayfs); slow (a full build), so not in CI,
# which checks the built binary with ldd instead.
#
#   bash tests/build-without-dev-libs.sh            # build, then ldd the binary
#   bash tests/build-without-dev-libs.sh CMD ARGS   # any other command, same hidden view
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "build-without-dev-libs: needs root (unshare -m)" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
  SCRATCH="$(mktemp -d -t chat-nodev.XXXXXX)"
  trap 'rm -rf "$SCRATCH"' EXIT
  export SCRATCH
  unshare -m --propagation private bash "$ROOT/tests/build-without-dev-libs.sh" --inside "$@"
  exit
fi
shift

LIB=/usr/lib/x86_64-linux-gnu
mkdir -p "$SCRATCH/upper" "$SCRATCH/work"
# An overlay on the library dir: deleting there only adds whiteouts to this namespace's upper dir.
mount -t overlay overlay -o "lowerdir=$LIB,upperdir=$SCRATCH/upper,workdir=$SCRATCH/work" "$LIB"
for f in libpq.so libpq.a libssl.so libssl.a libcrypto.so libcrypto.a \
  pkgconfig/libpq.pc pkgconfig/libssl.pc pkgconfig/libcrypto.pc pkgconfig/openssl.pc; do
  rm -f "$LIB/$f"
done
for d in /usr/include/postgresql /usr/include/openssl /usr/include/x86_64-linux-gnu/openssl; do
  [ -d "$d" ] && mount -t tmpfs none "$d"
done
if [ -e /usr/bin/pg_config ]; then
  : >"$SCRATCH/no-pg_config"
  mount --bind "$SCRATCH/no-pg_config" /usr/bin/pg_config
fi
export PKG_CONFIG_PATH=/nonexistent PKG_CONFIG_LIBDIR=/nonexistent
unset PQ_LIB_DIR PQ_LIB_STATIC OPENSSL_DIR OPENSSL_LIB_DIR OPENSSL_INCLUDE_DIR

echo "build-without-dev-libs: hidden: $(ls $LIB/libpq.so $LIB/libssl.so /usr/include/postgresql/libpq-fe.h /usr/include/openssl/ssl.h 2>&1 | grep -c 'No such file') of 4 probes gone"
cd "$ROOT"
if [ $# -gt 0 ]; then
  exec "$@"
fi
# The default: a clean release build, then the binary must not load a system libpq or OpenSSL.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SCRATCH/target}"
cargo build --release --locked
if ldd "$CARGO_TARGET_DIR/release/chat-server" | grep -E 'lib(pq|ssl|crypto)\.so'; then
  echo "build-without-dev-libs: the binary loads a system libpq or OpenSSL (above)" >&2
  exit 1
fi
echo "build-without-dev-libs: built without libpq-dev and libssl-dev; ldd shows no libpq, libssl, libcrypto"
