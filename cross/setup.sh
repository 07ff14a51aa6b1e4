#!/usr/bin/env bash
# Installs what the ARM cross builds need on a Debian 12 machine (run as root):
# Debian's rustc-web 1.85 (the only toolchain whose ARM standard libraries the
# package mirror serves), the matching libstd-rust-web-dev for arm64/armhf
# unpacked into rustc's sysroot, and the GNU cross linkers.
#
# The ARM libstd packages are unpacked with `apt-get download` + `dpkg -x`
# because installing them as multiarch packages fails on version skew.
set -euo pipefail

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64 armv7)

export DEBIAN_FRONTEND=noninteractive
need_update=0
for t in "${targets[@]}"; do
  case "$t" in
    aarch64) dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; need_update=1; } ;;
    armv7) dpkg --print-foreign-architectures | grep -qx armhf || { dpkg --add-architecture armhf; need_update=1; } ;;
    *) echo "cross/setup.sh: unknown target '$t' (expected aarch64 or armv7)" >&2; exit 2 ;;
  esac
done
if [ "$need_update" = 1 ] || [ ! -f /var/lib/apt/lists/.edgetherm-updated ]; then
  apt-get update -qq
  touch /var/lib/apt/lists/.edgetherm-updated
fi

# Our minimum Rust version is 1.85, so the ARM builds use exactly that series
# (the mirror also offers newer security builds, which would hide MSRV breaks).
# The version the ARM list offers decides the host rustc-web version.
series=${EDGETHERM_RUST_SERIES:-1.85}
first_arch=arm64
case "${targets[0]}" in armv7) first_arch=armhf ;; esac
ver=$(apt-cache madison "libstd-rust-web-dev:$first_arch" | awk -v s="$series." '$3 ~ "^"s {print $3}' | sort -V | tail -n 1)
if [ -z "$ver" ]; then
  echo "cross/setup.sh: no libstd-rust-web-dev:$first_arch $series.x in the package lists" >&2
  exit 1
fi
echo "cross/setup.sh: using rustc-web $ver"

pkgs=("rustc-web=$ver" "libstd-rust-web-dev=$ver")
for t in "${targets[@]}"; do
  case "$t" in
    aarch64) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
    armv7) pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross) ;;
  esac
done
apt-get install -y -qq --allow-downgrades --no-install-recommends "${pkgs[@]}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  case "$t" in
    aarch64) arch=arm64; triple=aarch64-unknown-linux-gnu ;;
    armv7) arch=armhf; triple=armv7-unknown-linux-gnueabihf ;;
  esac
  sysroot_lib=/usr/lib/rustlib/$triple
  stamp=$sysroot_lib/.edgetherm-version
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
    echo "cross/setup.sh: $triple standard library $ver already present"
    continue
  fi
  rm -rf "$sysroot_lib"
  (cd "$work" && chown _apt "$work" 2>/dev/null; apt-get download -qq "libstd-rust-web-dev:$arch=$ver" "libstd-rust-web-1.85:$arch=$ver" 2>/dev/null \
     || apt-get download -qq "libstd-rust-web-dev:$arch=$ver")
  for deb in "$work"/*_"$arch".deb; do dpkg -x "$deb" "$work/root-$arch"; done
  src=$(find "$work/root-$arch" -type d -path "*/rustlib/$triple" | head -n 1)
  if [ -z "$src" ]; then
    echo "cross/setup.sh: the $arch package holds no rustlib/$triple" >&2
    exit 1
  fi
  mkdir -p "$sysroot_lib"
  cp -a "$src/." "$sysroot_lib/"
  echo "$ver" > "$stamp"
  echo "cross/setup.sh: installed $triple standard library into $sysroot_lib"
done
/usr/bin/rustc --version
