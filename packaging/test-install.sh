#!/usr/bin/env bash
# Installs a package (edgetherm or edgetherm-relay) into a throwaway Debian
# bookworm root and checks what its owner gets: files, the user, the
# conffile, the unit (enabled, systemd-analyze verify), the commands, an
# upgrade that keeps an edited config, `dpkg -r` and `dpkg --purge`.
#
#   sudo packaging/test-install.sh ARCH DEB [SUITE]
#
# ARCH is a Debian architecture (amd64, arm64, armhf); a foreign one runs
# under qemu-user-static through binfmt_misc. SUITE is bookworm (Debian 12,
# Raspberry Pi OS) by default, or trixie (Debian 13). The root is made with
# mmdebstrap from Debian's mirror once and kept as a tarball in
# target/pkgtest/ (delete it to refresh). Needs root (chroot, mounts).
set -euo pipefail

arch=${1:?usage: test-install.sh ARCH DEB}
deb=$(realpath "${2:?usage: test-install.sh ARCH DEB}")
suite=${3:-bookworm}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-install.sh: needs root (chroot)" >&2; exit 2; }

cache=target/pkgtest
mkdir -p "$cache"
tarball=$cache/$suite-$arch.tar
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
        "$suite" "$tarball.part" http://deb.debian.org/debian
    mv "$tarball.part" "$tarball"
    echo "made $tarball in $(( $(date +%s) - t )) s" >&2
fi

root=$(mktemp -d /tmp/edgetherm-pkgtest.XXXXXX)
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    # Never descend into a /proc still mounted (umount busy): it is not ours.
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT
# An interrupted run (Ctrl-C, a CI timeout) must not leave /proc mounted in
# /tmp: bash runs the EXIT trap on these only if they are trapped.
trap 'exit 130' INT TERM HUP
tar -xf "$tarball" -C "$root"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" "$@"; }
fail() { echo "FAIL ($arch, $suite): $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; echo "ok   ($arch, $suite) $what"; }


pkg=$(dpkg-deb -f "$deb" Package)
case "$pkg" in
    edgetherm) conf=/etc/edgetherm/edgetherm.toml user=edgetherm data=/var/lib/edgetherm ;;
    edgetherm-relay) conf=/etc/edgetherm-relay/relay.toml user=edgetherm-relay data=/var/lib/edgetherm-relay ;;
    *) echo "test-install.sh: not one of ours: $pkg" >&2; exit 2 ;;
esac
unit=$pkg.service
cp "$deb" "$root/tmp/pkg.deb"
check "dpkg -i $pkg" in_root dpkg -i /tmp/pkg.deb

check "binary in /usr/bin" test -x "$root/usr/bin/$pkg"
check "unit installed" test -f "$root/usr/lib/systemd/system/$unit"
check "systemd-analyze verify $unit" systemd-analyze verify --root="$root" "$unit"
check "unit enabled the Debian way" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/$unit"
check "$conf is a conffile" \
    sh -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' $pkg | grep -q ' *$conf '"
check "system user $user" in_root getent passwd "$user"
version=$(in_root "$pkg" --version)
check "$pkg --version ($version)" sh -c "echo '$version' | grep -q '^$pkg [0-9]'"
depends=$(dpkg-deb -f "$deb" Depends)
check "depends only on libc6 and ca-certificates ($depends)" \
    sh -c "echo '$depends' | tr ',' '\n' | sed 's/ *(.*//; s/^ *//' | sort | tr '\n' ' ' | grep -qx 'ca-certificates libc6 '"

if [ "$pkg" = edgetherm ]; then
    # A fixture /sys for `scan`: one DS18B20 and one thermal zone.
    mkdir -p "$root/fixture/sys/bus/w1/devices/28-0000000000aa" \
        "$root/fixture/sys/class/thermal/thermal_zone0"
    printf '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n' \
        >"$root/fixture/sys/bus/w1/devices/28-0000000000aa/w1_slave"
    echo cpu-thermal >"$root/fixture/sys/class/thermal/thermal_zone0/type"
    echo 48312 >"$root/fixture/sys/class/thermal/thermal_zone0/temp"
    check "edgetherm in the i2c group" sh -c "chroot '$root' id -nG edgetherm | grep -qw i2c"
    check "check-config passes on the starter config" in_root edgetherm check-config
    scan=$(in_root edgetherm scan --sysfs-root /fixture)
    check "scan finds the fixture's sensors" \
        sh -c "echo '$scan' | grep -q 28-0000000000aa && echo '$scan' | grep -q cpu-thermal"
else
    # The starter config is valid: the admin command reads it and the store.
    token=$(in_root edgetherm-relay gateway add pkgtest-gw | tail -n 1)
    check "gateway add on the starter config prints a token" test -n "$token"
    check "the store is where the config says" test -d "$root$data"
fi

# An upgrade (the same package again) keeps an edited config.
echo '# edited by the owner' >>"$root$conf"
check "reinstall" in_root dpkg -i /tmp/pkg.deb
check "edited config kept over an upgrade" grep -q 'edited by the owner' "$root$conf"

# What the service would have written.
mkdir -p "$root$data" && touch "$root$data/store-file"
check "dpkg -r" in_root dpkg -r "$pkg"
check "remove drops the binary" test ! -e "$root/usr/bin/$pkg"
check "remove keeps the config" test -f "$root$conf"
check "remove keeps the data" test -f "$root$data/store-file"
check "remove keeps the user" in_root getent passwd "$user"
check "dpkg --purge" in_root dpkg --purge "$pkg"
check "purge removes the config" test ! -e "$root$(dirname "$conf")"
check "purge removes the data" test ! -e "$root$data"
check "purge removes the user" sh -c "! chroot '$root' getent passwd $user"
check "purge removes the unit's enablement" \
    test ! -e "$root/etc/systemd/system/multi-user.target.wants/$unit"
echo "all package checks passed ($pkg, $arch, $suite)"
