#!/usr/bin/env bash
# Builds the agent for an ARM gateway with Debian's rustc 1.85 (our minimum
# Rust version, and the toolchain whose ARM standard library the mirror has).
#
#   cross/setup.sh aarch64          # once, as root
#   cross/build.sh aarch64          # -> target/cross/aarch64-unknown-linux-gnu/release/edgetherm
#   cross/build.sh armv7 --profile dev
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
shift || true
case "$arch" in
  aarch64) triple=aarch64-unknown-linux-gnu ;;
  armv7) triple=armv7-unknown-linux-gnueabihf ;;
  *) echo "cross/build.sh: unknown target '$arch' (expected aarch64 or armv7)" >&2; exit 2 ;;
esac
if [ ! -x /usr/bin/rustc ] || ! /usr/bin/rustc --print sysroot >/dev/null 2>&1; then
  echo "cross/build.sh: Debian's rustc is missing: run cross/setup.sh $arch first (as root)" >&2
  exit 1
fi
if [ ! -d "/usr/lib/rustlib/$triple/lib" ]; then
  echo "cross/build.sh: no $triple standard library under /usr/lib/rustlib: run cross/setup.sh $arch" >&2
  exit 1
fi
profile_args=("--release")
if [ $# -gt 0 ]; then profile_args=("$@"); fi
# A separate target dir: the host toolchain (rustup) and Debian's rustc must
# not share build-script artefacts.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cross}
RUSTC=/usr/bin/rustc cargo build --locked -p edgetherm --target "$triple" "${profile_args[@]}"
out="$CARGO_TARGET_DIR/$triple/$( [ "${profile_args[*]}" = "--release" ] && echo release || echo debug )/edgetherm"
[ -f "$out" ] && { ls -l "$out"; file "$out" 2>/dev/null || true; }
