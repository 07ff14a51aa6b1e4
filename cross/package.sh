#!/usr/bin/env bash
# Builds every Debian package into target/packages/ and prints their paths
# and sizes:
#   edgetherm_<version>_{amd64,arm64,armhf}.deb
#   edgetherm-relay_<version>_{amd64,arm64}.deb
#
#   sudo cross/setup.sh aarch64 armv7      # once: Debian's rustc 1.85 + linkers
#   cargo install cargo-deb --locked --version '~3.8'
#   cross/package.sh                       # all of them
#   cross/package.sh amd64 arm64           # some of them (Debian arch names)
#
# amd64 is built with the host toolchain, the ARM packages with Debian's
# rustc 1.85 (cross/build.sh) in target/cross. cargo-deb strips with the
# matching *-strip and computes the libc6 dependency from the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64 armhf)
command -v cargo-deb >/dev/null ||
    { echo "cross/package.sh: cargo-deb is missing: cargo install cargo-deb --locked --version '~3.8'" >&2; exit 1; }

out=target/packages
mkdir -p "$out"
built=()
for arch in "${archs[@]}"; do
    case "$arch" in
        amd64) triple="" ;;
        arm64) triple=aarch64-unknown-linux-gnu ;;
        armhf) triple=armv7-unknown-linux-gnueabihf ;;
        *) echo "cross/package.sh: unknown architecture '$arch' (amd64, arm64 or armhf)" >&2; exit 2 ;;
    esac
    # The relay runs on servers: amd64 and arm64, not 32-bit ARM.
    pkgs=(edgetherm)
    [ "$arch" = armhf ] || pkgs+=(edgetherm-relay)
    for pkg in "${pkgs[@]}"; do
        if [ -z "$triple" ]; then
            deb=$(cargo deb --locked -p "$pkg" --output "$out" | tail -n 1)
        else
            deb=$(CARGO_TARGET_DIR=target/cross RUSTC=/usr/bin/rustc \
                cargo deb --locked -p "$pkg" --target "$triple" --output "$out" | tail -n 1)
        fi
        built+=("$deb")
    done
done

echo
printf '%-60s %10s\n' package bytes
for deb in "${built[@]}"; do
    printf '%-60s %10s\n' "$deb" "$(stat -c %s "$deb")"
done
