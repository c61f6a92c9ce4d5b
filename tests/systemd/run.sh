#!/bin/sh
# run.sh -- synguard under a real systemd: install it into a Debian 12
# container, boot systemd 252 as the container's PID 1 (systemd-nspawn), and
# drive it the way an operator would, asserting every step.
#
#	make check-systemd                 (from a configured build folder)
#	tests/systemd/run.sh [--standin]   (SG_TOP_SRCDIR, SG_TOP_BUILDDIR)
#
# Needs root, systemd-nspawn (systemd-container) and, once, debootstrap and
# apt's Debian mirror: tests/systemd/mkrootfs.sh builds the root file system
# in /var/cache/synguard-test/rootfs and later runs reuse it. Each run boots
# an overlay of it (the cache stays pristine), with --private-network: the
# container has its own network namespace holding only lo, so every packet
# of the test stays inside it.
#
# The steps: configure a separate build with --prefix=/usr --sysconfdir=/etc,
# `make install DESTDIR=` into the container, add a test configuration
# (127.0.0.1:8080 and [::1]:8080, one echo backend started by socket
# activation), boot, create the synguard user with systemd-sysusers, then
# systemctl start (Type=notify: returns on READY=1), check the process's
# user and capabilities, echo through 127.0.0.1 and ::1, STATUS= in
# `systemctl status`, synguardctl stats, watchdog pings, systemctl reload
# (same PID, still serving), systemctl stop (clean exit, no error in the
# journal), power off.
#
# --standin replaces /usr/sbin/synguard in the container with standin.py,
# which checks the harness and the unit's sandbox, not the daemon.
#
# Prints one line per step ("ok N - ..." / "not ok N - ...") and a closing
# "PASS: ..." or "FAIL: ..."; exit status 0, 1, or 77 (cannot run here).
# The whole run is bounded by SG_SYSTEMD_TIMEOUT seconds (default 600).
set -u

SRC=${SG_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SG_TOP_BUILDDIR:-$SRC/build}
LIMIT=${SG_SYSTEMD_TIMEOUT:-600}
STANDIN=0
[ "${1:-}" = --standin ] && STANDIN=1

skip() { echo "SKIP: systemd harness: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn, overlay mounts)"
for t in systemd-nspawn nsenter timeout mount; do
	command -v "$t" >/dev/null ||
		skip "$t not found (apt-get install systemd-container util-linux)"
done

# The whole run under one deadline; the EXIT trap still cleans up.
if [ -z "${SG_SYSTEMD_BOUNDED:-}" ]; then
	SG_SYSTEMD_BOUNDED=1 exec timeout -k 15 "$LIMIT" sh "$0" "$@"
fi

T0=$(date +%s)
N=0
FAILED=0
NSPAWN=
LEADER=
WORK=

# elapsed: seconds since the run started.
elapsed() { echo $(($(date +%s) - T0)); }

ok() { N=$((N + 1)); echo "ok $N - $* ($(elapsed) s)"; }

# not_ok: report a failed step with its evidence, then stop the run.
not_ok() {
	N=$((N + 1))
	FAILED=1
	echo "not ok $N - $*"
	if [ -n "$LEADER" ]; then
		echo "--- journal of synguard and its backend:"
		in_ct journalctl --no-pager -n 60 -u synguard -u synguard-echo \
		    -u synguard-echo.socket 2>&1 | sed 's/^/# /'
		in_ct systemctl status --no-pager synguard 2>&1 | sed 's/^/# /'
	fi
	exit 1
}

# in_ct CMD...: run CMD in the booted container (all its namespaces),
# bounded, with a clean environment.
in_ct() {
	timeout 60 nsenter -t "$LEADER" -a \
	    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	    SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 "$@"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds or the
# deadline passes; the status says which.
wait_for() {
	_end=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_end" ] || return 1
		sleep 0.2
	done
}

# prop NAME: one property of synguard.service.
prop() { in_ct systemctl show -P "$1" synguard.service; }

cleanup() {
	status=$?
	trap - EXIT INT TERM
	if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		[ -n "$LEADER" ] && in_ct systemctl poweroff >/dev/null 2>&1
		wait_for 20 sh -c "! kill -0 $NSPAWN" ||
			kill -KILL "$NSPAWN" 2>/dev/null
	fi
	if [ -n "$WORK" ]; then
		umount "$WORK/root" 2>/dev/null
		rm -rf "$WORK"
	fi
	if [ "$FAILED" -eq 0 ] && [ "$status" -eq 0 ]; then
		echo "PASS: systemd harness: $N steps in $(elapsed) s"
	else
		[ "$status" -eq 124 ] && echo "# the run exceeded ${LIMIT} s"
		echo "FAIL: systemd harness: after $N steps, $(elapsed) s"
		[ "$status" -eq 0 ] && status=1
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 124' INT TERM

# --- the root file system, the build, the install -------------------------

ROOTFS=$("$SRC/tests/systemd/mkrootfs.sh") || not_ok "root file system"
ok "root file system $ROOTFS"

B=$BUILD/systemd-test
mkdir -p "$B"
if [ ! -f "$B/Makefile" ]; then
	(cd "$B" && "$SRC/configure" --prefix=/usr --sysconfdir=/etc \
	    --localstatedir=/var --runstatedir=/run >configure.out 2>&1) ||
		not_ok "configure --prefix=/usr (see $B/config.log)"
fi
make -C "$B" -j"$(nproc)" >"$B/make.out" 2>&1 ||
	not_ok "build (see $B/make.out): $(tail -5 "$B/make.out")"
ok "built in $B"

WORK=$(mktemp -d /var/tmp/sg-systemd.XXXXXX) || not_ok mktemp
R=$WORK/root
mkdir -p "$WORK/upper" "$WORK/work" "$R"
mount -t overlay overlay \
    -o "lowerdir=$ROOTFS,upperdir=$WORK/upper,workdir=$WORK/work" "$R" ||
	not_ok "overlay mount of $ROOTFS"

make -C "$B" install DESTDIR="$R" >"$B/install.out" 2>&1 ||
	not_ok "make install DESTDIR (see $B/install.out)"
for f in usr/sbin/synguard usr/sbin/synguardctl etc/synguard.conf \
    usr/lib/systemd/system/synguard.service usr/lib/sysusers.d/synguard.conf; do
	[ -e "$R/$f" ] || not_ok "make install left out /$f"
done
ok "make install DESTDIR=<container>"

if [ "$STANDIN" -eq 1 ]; then
	install -m 755 "$SRC/tests/systemd/standin.py" "$R/usr/sbin/synguard"
	ok "stand-in installed as /usr/sbin/synguard"
fi

# The test configuration: both loopback addresses, one fd backend.
cat > "$R/etc/synguard.conf" <<'EOF'
listen = (
	{ address = "127.0.0.1"; port = 8080; },
	{ address = "::1"; port = 8080; }
);
workers = 2;
backends = (
	{ name = "echo"; path = "/run/synguard-app/app.sock"; mode = "fd"; }
);
control_socket = "/run/synguard/control.sock";
user = "synguard";
log_level = "info";
EOF

# The echo backend, socket-activated: the socket belongs to group synguard,
# mode 0660, so synguard (and no one else) can hand connections to it.
install -D -m 755 "$B/examples/echo-backend" \
    "$R/usr/libexec/synguard-test/echo-backend" ||
	not_ok "examples/echo-backend not built"
cat > "$R/etc/systemd/system/synguard-echo.socket" <<'EOF'
[Socket]
ListenSequentialPacket=/run/synguard-app/app.sock
SocketGroup=synguard
SocketMode=0660
DirectoryMode=0755
EOF
cat > "$R/etc/systemd/system/synguard-echo.service" <<'EOF'
[Service]
ExecStart=/usr/libexec/synguard-test/echo-backend
DynamicUser=yes
EOF
# A short watchdog, so that pings can be seen within seconds, and a short
# start time-out, so that a daemon that never says READY=1 fails quickly.
mkdir -p "$R/etc/systemd/system/synguard.service.d"
printf '[Service]\nWatchdogSec=4s\nTimeoutStartSec=20s\n' \
    > "$R/etc/systemd/system/synguard.service.d/test.conf"
ok "test configuration, echo backend units, test drop-in"

# --- boot ---------------------------------------------------------------

TB=$(date +%s)
systemd-nspawn --quiet --boot --private-network --register=no --keep-unit \
    --machine="sgtest$$" --console=passive -D "$R" \
    >"$WORK/console.log" 2>&1 &
NSPAWN=$!
# The container's PID 1 is nspawn's child (as seen from here).
leader() {
	LEADER=$(cat /proc/"$NSPAWN"/task/*/children 2>/dev/null | awk '{print $1}')
	[ -n "$LEADER" ] && [ "$(cat /proc/"$LEADER"/comm 2>/dev/null)" = systemd ]
}
wait_for 30 leader || { LEADER=; not_ok "container PID 1: $(cat "$WORK/console.log")"; }
leader
# systemctl talks to PID 1 through /run/systemd/private, which appears a
# moment after PID 1 itself.
wait_for 30 in_ct test -S /run/systemd/private ||
	not_ok "container boot: systemd's private socket never appeared"
state=$(in_ct systemctl is-system-running --wait)
case $state in
running) ;;
degraded) echo "# degraded: $(in_ct systemctl --failed --no-legend | tr '\n' ' ')" ;;
*) not_ok "container boot: is-system-running says '$state'" ;;
esac
ok "container booted, systemd $(in_ct systemctl --version | awk 'NR==1 {print $2}') as PID 1, $state, in $(($(date +%s) - TB)) s"

in_ct ip -br addr | grep -qv '^lo ' && not_ok "container has more than lo"
in_ct systemd-sysusers >/dev/null 2>&1 || true
in_ct id synguard >/dev/null 2>&1 ||
	not_ok "systemd-sysusers did not create the synguard user"
ok "systemd-sysusers created $(in_ct id synguard)"

# The installed unit, as the container's systemd sees it: no complaint.
v=$(in_ct systemd-analyze verify --man=no /usr/lib/systemd/system/synguard.service 2>&1)
[ -z "$v" ] || not_ok "systemd-analyze verify of the installed unit: $v"
ok "systemd-analyze verify of the installed unit: clean"

in_ct systemctl start synguard-echo.socket ||
	not_ok "synguard-echo.socket did not start"

# --- start ---------------------------------------------------------------

TS=$(date +%s)
in_ct systemctl start synguard.service ||
	not_ok "systemctl start synguard"
[ "$(in_ct systemctl is-active synguard)" = active ] ||
	not_ok "synguard is not active after start"
ok "systemctl start synguard: active in $(($(date +%s) - TS)) s"

PID=$(prop MainPID)
[ "${PID:-0}" -gt 0 ] 2>/dev/null || not_ok "no MainPID"
# /proc/PID as seen from inside: the container's own PID numbers.
st=$(in_ct cat /proc/"$PID"/status)
uid=$(echo "$st" | awk '/^Uid:/ {print $2}')
[ "$uid" = "$(in_ct id -u synguard)" ] || not_ok "runs as uid $uid, not synguard"
eff=$(echo "$st" | awk '/^CapEff:/ {print $2}')
# CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13: exactly those, nothing else.
[ "$eff" = 0000000000003400 ] ||
	not_ok "effective capabilities $eff, wanted 3400 (NET_ADMIN, NET_RAW, NET_BIND_SERVICE)"
# The sandbox is really in force in the container, not just written down.
echo "$st" | grep -q '^NoNewPrivs:[[:space:]]*1' || not_ok "NoNewPrivileges not set"
echo "$st" | grep -q '^Seccomp:[[:space:]]*2' || not_ok "no seccomp filter"
in_ct nsenter -t "$PID" -m sh -c '! touch /usr/sg-probe 2>/dev/null' ||
	not_ok "ProtectSystem=strict: /usr is writable"
ok "runs as user synguard with exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE, no new privileges, seccomp, read-only /usr"

# echo_through ADDR: a line sent to ADDR port 8080 comes back.
echo_through() {
	in_ct python3 - "$1" <<'EOF'
import socket, sys
msg = b"hello through synguard\n"
s = socket.create_connection((sys.argv[1], 8080), timeout=5)
s.sendall(msg)
got = b""
while len(got) < len(msg):
    b = s.recv(4096)
    if not b:
        break
    got += b
sys.exit(0 if got == msg else 1)
EOF
}
echo_through 127.0.0.1 || not_ok "echo through 127.0.0.1:8080"
echo_through ::1 || not_ok "echo through [::1]:8080"
ok "echo through 127.0.0.1:8080 and [::1]:8080 to the socket-activated backend"

status=$(prop StatusText)
[ -n "$status" ] || not_ok "no STATUS= text"
in_ct systemctl status --no-pager synguard | grep -q '^ *Status: "' ||
	not_ok "systemctl status shows no Status: line"
ok "systemctl status shows Status: \"$status\""

in_ct synguardctl stats >"$WORK/stats" 2>&1 ||
	not_ok "synguardctl stats: $(cat "$WORK/stats")"
# Both echoes went through synguard's handshakes and handoffs.
handed=$(awk '$1 == "handoff" { print $2 }' "$WORK/stats")
[ "${handed:-0}" -ge 2 ] ||
	not_ok "synguardctl stats: handoff ${handed:-missing}, wanted >= 2"
ok "synguardctl stats: handoff $handed"

# The watchdog: with WatchdogSec=4s, pings every 2 s move this timestamp.
w0=$(prop WatchdogTimestampMonotonic)
wd_moved() { [ "$(prop WatchdogTimestampMonotonic)" != "$w0" ]; }
wait_for 6 wd_moved || not_ok "no WATCHDOG=1 within 6 s (WatchdogSec=4s)"
ok "watchdog pings arrive (WatchdogSec=4s)"

# --- reload --------------------------------------------------------------

in_ct systemctl reload synguard || not_ok "systemctl reload synguard"
is_active() { [ "$(in_ct systemctl is-active synguard)" = active ]; }
wait_for 10 is_active || not_ok "not active after reload"
[ "$(prop MainPID)" = "$PID" ] || not_ok "reload changed the main PID"
[ "$(prop NRestarts)" = 0 ] || not_ok "restarted $(prop NRestarts) times"
echo_through 127.0.0.1 || not_ok "echo after reload"
in_ct journalctl --no-pager -q -u synguard | grep -q 'Reloaded\|Reloading' ||
	not_ok "the journal shows no reload"
ok "systemctl reload: same PID $PID, still active and serving"

# --- stop ----------------------------------------------------------------

in_ct systemctl stop synguard || not_ok "systemctl stop synguard"
st=$(in_ct systemctl is-active synguard)
[ "$st" = inactive ] || not_ok "after stop: $st"
[ "$(prop Result)" = success ] || not_ok "stop result $(prop Result)"
[ "$(prop ExecMainStatus)" = 0 ] || not_ok "exit status $(prop ExecMainStatus)"
errs=$(in_ct journalctl --no-pager -q -p err -u synguard)
[ -z "$errs" ] || not_ok "errors in the journal: $errs"
ok "systemctl stop: exit 0, result success, no error in the journal"

# --- power off -----------------------------------------------------------

in_ct systemctl poweroff >/dev/null 2>&1
gone() { ! kill -0 "$NSPAWN" 2>/dev/null; }
wait_for 30 gone || not_ok "container did not power off within 30 s"
wait "$NSPAWN"
rc=$?
NSPAWN=
LEADER=
[ "$rc" -eq 0 ] || not_ok "systemd-nspawn exit status $rc"
ok "container powered off"
