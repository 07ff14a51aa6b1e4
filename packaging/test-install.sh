#!/usr/bin/env bash
# Installs the agent package into a throwaway Debian bookworm root and checks
# what a Pi owner gets: files, the user, the conffile, the commands, an
# upgrade that keeps an edited config, `dpkg -r` and `dpkg --purge`.
#
#   sudo packaging/test-install.sh ARCH DEB
#
# ARCH is a Debian architecture (amd64, arm64, armhf); a foreign one runs
# under qemu-user-static through binfmt_misc. The root is made with
# mmdebstrap from Debian's mirror once and kept as a tarball in
# target/pkgtest/ (delete it to refresh). Needs root (chroot, mounts).
set -euo pipefail

arch=${1:?usage: test-install.sh ARCH DEB}
deb=$(realpath "${2:?usage: test-install.sh ARCH DEB}")
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-install.sh: needs root (chroot)" >&2; exit 2; }

cache=target/pkgtest
mkdir -p "$cache"
tarball=$cache/bookworm-$arch.tar
host_arch=$(dpkg --print-architecture)

if [ "$arch" != "$host_arch" ]; then
    # qemu-user-static's F flag opens the emulator now, so it works in the chroot.
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    case "$arch" in
        arm64) emu=aarch64 ;;
        armhf) emu=arm ;;
        *) echo "no emulator known for $arch" >&2; exit 2 ;;
    esac
    if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$emu" ]; then
        cat "/usr/lib/binfmt.d/qemu-$emu.conf" >/proc/sys/fs/binfmt_misc/register
    fi
fi

if [ ! -s "$tarball" ]; then
    t=$(date +%s)
    # minbase has dpkg, passwd (useradd) and init-system-helpers; the
    # package's one other dependency comes in too, so dpkg -i works offline,
    # and systemd's units, so that systemd-analyze can verify ours there.
    mmdebstrap --quiet --format=tar --variant=minbase --arch="$arch" --include=ca-certificates,systemd \
        bookworm "$tarball.part" http://deb.debian.org/debian
    mv "$tarball.part" "$tarball"
    echo "made $tarball in $(( $(date +%s) - t )) s" >&2
fi

root=$(mktemp -d /tmp/edgetherm-pkgtest.XXXXXX)
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
tar -xf "$tarball" -C "$root"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" "$@"; }
fail() { echo "FAIL ($arch): $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok   ($arch) $what"; }

# A fixture /sys for `scan`: one DS18B20 and one thermal zone.
mkdir -p "$root/fixture/sys/bus/w1/devices/28-0000000000aa" \
    "$root/fixture/sys/class/thermal/thermal_zone0"
printf '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n' \
    >"$root/fixture/sys/bus/w1/devices/28-0000000000aa/w1_slave"
echo cpu-thermal >"$root/fixture/sys/class/thermal/thermal_zone0/type"
echo 48312 >"$root/fixture/sys/class/thermal/thermal_zone0/temp"

cp "$deb" "$root/tmp/edgetherm.deb"
check "dpkg -i" in_root dpkg -i /tmp/edgetherm.deb

check "binary in /usr/bin" test -x "$root/usr/bin/edgetherm"
check "unit installed" test -f "$root/usr/lib/systemd/system/edgetherm.service"
check "systemd-analyze verify edgetherm.service" \
    systemd-analyze verify --root="$root" edgetherm.service
check "unit enabled the Debian way" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/edgetherm.service"
check "config is a conffile" \
    sh -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' edgetherm | grep -q /etc/edgetherm/edgetherm.toml"
check "system user edgetherm" in_root getent passwd edgetherm
check "edgetherm in the i2c group" sh -c "chroot '$root' id -nG edgetherm | grep -qw i2c"
version=$(in_root edgetherm --version)
check "edgetherm --version ($version)" sh -c "echo '$version' | grep -q '^edgetherm [0-9]'"
check "check-config passes on the starter config" in_root edgetherm check-config
scan=$(in_root edgetherm scan --sysfs-root /fixture)
check "scan finds the fixture's sensors" \
    sh -c "echo '$scan' | grep -q 28-0000000000aa && echo '$scan' | grep -q cpu-thermal"
depends=$(dpkg-deb -f "$deb" Depends)
check "depends only on libc6 and ca-certificates ($depends)" \
    sh -c "echo '$depends' | tr ',' '\n' | sed 's/ *(.*//; s/^ *//' | sort | tr '\n' ' ' | grep -qx 'ca-certificates libc6 '"

# An upgrade (the same package again) keeps an edited config.
echo '# edited by the owner' >>"$root/etc/edgetherm/edgetherm.toml"
check "reinstall" in_root dpkg -i /tmp/edgetherm.deb
check "edited config kept over an upgrade" grep -q 'edited by the owner' "$root/etc/edgetherm/edgetherm.toml"

# What the service would have written.
mkdir -p "$root/var/lib/edgetherm" && touch "$root/var/lib/edgetherm/store-file"
check "dpkg -r" in_root dpkg -r edgetherm
check "remove drops the binary" test ! -e "$root/usr/bin/edgetherm"
check "remove keeps the config" test -f "$root/etc/edgetherm/edgetherm.toml"
check "remove keeps the data" test -f "$root/var/lib/edgetherm/store-file"
check "remove keeps the user" in_root getent passwd edgetherm
check "dpkg --purge" in_root dpkg --purge edgetherm
check "purge removes the config" test ! -e "$root/etc/edgetherm"
check "purge removes the data" test ! -e "$root/var/lib/edgetherm"
check "purge removes the user" sh -c "! chroot '$root' getent passwd edgetherm"
check "purge removes the unit's enablement" \
    test ! -e "$root/etc/systemd/system/multi-user.target.wants/edgetherm.service"
echo "all package checks passed ($arch)"
