#!/bin/sh
# mkrootfs.sh -- build (once) the Debian 12 root file system that the
# real-systemd test boots with systemd-nspawn, and print its path.
#
#	tests/systemd/mkrootfs.sh [DIR]
#
# DIR defaults to $SG_ROOTFS_CACHE, else /var/cache/synguard-test/rootfs.
# An existing, complete DIR is reused as it is; a half-built one (no
# .complete stamp) is thrown away and built again. The tree is pristine:
# run.sh boots a copy-on-write overlay of it (nspawn --overlay), so nothing
# a test installs ever lands here.
#
# debootstrap fetches from the same Debian mirror apt already uses on this
# host (read from apt's own configuration at run time), never another one.
set -eu

DIR=${1:-${SG_ROOTFS_CACHE:-/var/cache/synguard-test/rootfs}}
SUITE=bookworm
# What a booted synguard needs: systemd as PID 1 (and D-Bus for systemctl),
# the daemon's shared libraries, and the tools the harness drives it with.
INCLUDE=systemd,systemd-sysv,dbus,libevent-core-2.1-7,libevent-pthreads-2.1-7,libconfig9,libsystemd0,python3,iproute2,curl,procps

die() { echo "mkrootfs: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, nspawn)"
command -v debootstrap >/dev/null ||
	die "debootstrap not found: apt-get install debootstrap"

if [ -f "$DIR/.complete" ]; then
	echo "$DIR"
	exit 0
fi

# mirror: the URI apt fetches $SUITE's main component from.
mirror() {
	# shellcheck disable=SC2016 # apt expands $(...) itself
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
	    'Identifier: Packages' 2>/dev/null |
	    awk -v s="$SUITE" '$2 == s && $3 == "main" { print $1; exit }'
}
MIRROR=$(mirror)
[ -n "$MIRROR" ] || die "apt has no '$SUITE main' source; run apt-get update first"

mkdir -p "$(dirname "$DIR")"
# One builder at a time; a second caller waits, then reuses the result.
exec 9>"$(dirname "$DIR")/.mkrootfs.lock"
flock 9
if [ -f "$DIR/.complete" ]; then
	echo "$DIR"
	exit 0
fi
rm -rf "$DIR" "$DIR.tmp"
start=$(date +%s)
echo "mkrootfs: debootstrap $SUITE into $DIR (a few minutes, once)" >&2
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
set --
[ -f "$KEYRING" ] && set -- --keyring="$KEYRING"
debootstrap --variant=minbase --include="$INCLUDE" "$@" \
    "$SUITE" "$DIR.tmp" "$MIRROR" >"$(dirname "$DIR")/debootstrap.log" 2>&1 ||
	die "debootstrap failed; see $(dirname "$DIR")/debootstrap.log"

# A container that boots quickly and quietly: no getty on a console
# nobody reads, no network configuration to wait for.
R=$DIR.tmp
echo synguard-test > "$R/etc/hostname"
: > "$R/etc/machine-id"
for u in getty@tty1.service console-getty.service \
    systemd-networkd-wait-online.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    fstrim.timer; do
	ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# apt's sources inside the tree are not needed and would name the mirror.
rm -f "$R/etc/apt/sources.list"
rm -rf "$R/var/cache/apt/archives"/*.deb "$R/var/lib/apt/lists"/*_Packages
touch "$R/.complete"
mv "$R" "$DIR"
echo "mkrootfs: built in $(($(date +%s) - start)) s" >&2
echo "$DIR"
