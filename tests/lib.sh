# tests/lib.sh -- helpers for the shell tests. Source it.
# Never sleep and hope: wait_for polls a condition with a deadline.

# The source tree: the nearest folder above the script with configure.ac.
sg_find_top() {
	_d=$(cd "$(dirname "$0")" && pwd)
	while [ "$_d" != / ] && [ ! -f "$_d/configure.ac" ]; do _d=$(dirname "$_d"); done
	echo "$_d"
}
SG_TOP_SRCDIR=${SG_TOP_SRCDIR:-$(sg_find_top)}
SG_TOP_BUILDDIR=${SG_TOP_BUILDDIR:-$SG_TOP_SRCDIR}
SYNGUARD=$SG_TOP_BUILDDIR/daemon/synguard

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# wait_for SECONDS COMMAND...: run COMMAND until it succeeds or time is up.
wait_for() {
	_deadline=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	while ! "$@" 2>/dev/null; do
		[ "$(($(date +%s%N) / 1000000))" -lt "$_deadline" ] || return 1
		sleep 0.02
	done
}

# Skip (exit 77, automake's code) when namespaces cannot be made here.
need_netns() {
	unshare -Urn true 2>/dev/null || { echo "SKIP: unshare -Urn not permitted"; exit 77; }
}

# ---------------------------------------------------------------------------
# Two test hosts joined by a veth pair, inside a private user, network and
# mount namespace that this script makes for itself (no root needed, and
# nothing is left behind: the namespaces die with the script).
#   server "srv": 198.18.0.1/24, 2001:2::1/64 (RFC 5180 benchmark range)
#   client "cli": 198.18.0.2/24, 2001:2::2/64
# Call sandbox "$@" first thing: it re-executes the script inside.
SRV4=198.18.0.1
CLI4=198.18.0.2
SRV6=2001:2::1
CLI6=2001:2::2
TOOLS=$SG_TOP_SRCDIR/tests/tools
ECHO_BACKEND=$SG_TOP_BUILDDIR/examples/echo-backend
HTTP_BACKEND=$SG_TOP_BUILDDIR/examples/http-backend
SYNGUARDCTL=$SG_TOP_BUILDDIR/daemon/synguardctl
XDP_PASS_OBJ=$SG_TOP_BUILDDIR/tests/tools/xdp_pass.bpf.o

# can_bpf: whether this shell is root in the initial user namespace with
# CAP_BPF (bit 39 of its effective set): what loading an XDP program needs.
can_bpf() {
	[ "$(id -u)" = 0 ] || return 1
	awk '$1 == 0 && $2 == 0 && $3 == 4294967295 { ok = 1 } END { exit !ok }' \
		/proc/self/uid_map || return 1
	_cap=$(awk '/^CapEff/ { print $2 }' /proc/self/status)
	[ $(((0x$_cap >> 39) & 1)) = 1 ]
}

sandbox() {
	if [ -z "${SG_IN_SANDBOX:-}" ]; then
		need_netns
		# A PID namespace too: when the script ends, every process it
		# started ends with it, whatever happened. SG_SANDBOX_ROOT=1
		# (the XDP program: loading one needs CAP_BPF in the initial
		# user namespace) keeps real root when it is there to keep.
		_userns=-Ur
		[ "${SG_SANDBOX_ROOT:-0}" = 1 ] && can_bpf && _userns=
		SG_IN_SANDBOX=1 exec unshare $_userns -nmpf --mount-proc \
			--propagation private "$0" "$@"
	fi
	mount -t tmpfs tmpfs /run || fail "cannot mount a private /run"
	mkdir -p /run/netns
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/sgtest.XXXXXX")
	PIDS=""
	trap cleanup EXIT INT TERM
}

cleanup() {
	# Under `set -e` (scripts/demo) a failing kill of a process that has
	# ended already would end the cleanup, and the script, with status 1.
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "${SG_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}

# Remember a background process so cleanup stops it.
bg() {
	PIDS="$PIDS $1"
}

# Run a command on the server or the client host. In the background, call
# "ip netns exec" directly instead, so that $! is the command itself.
S() { ip netns exec srv "$@"; }
C() { ip netns exec cli "$@"; }

topology() {
	ip netns add srv && ip netns add cli || fail "ip netns add"
	# Two queues on the server's side (SG_SRV_QUEUES), as a NIC has one a
	# CPU: each of two workers sends through an AF_XDP socket on a queue
	# of its own.
	ip link add veth-s netns srv numtxqueues "${SG_SRV_QUEUES:-2}" \
		numrxqueues "${SG_SRV_QUEUES:-2}" type veth \
		peer name veth-c netns cli
	ip -n srv link set lo up
	ip -n cli link set lo up
	ip -n srv addr add $SRV4/24 dev veth-s
	ip -n cli addr add $CLI4/24 dev veth-c
	ip -n srv addr add $SRV6/64 dev veth-s nodad
	ip -n cli addr add $CLI6/64 dev veth-c nodad
	ip -n srv link set veth-s up
	ip -n cli link set veth-c up
	# Replies to spoofed flood sources go to the client host, which drops
	# them: nothing leaves the two namespaces.
	ip -n srv route add default via $CLI4
	ip -n srv -6 route add default via $CLI6
}

# write_conf FILE PORT COOKIES [QUEUE] [extra settings...]: a config with
# one IPv4 and one IPv6 listener and the echo backend at $WORK/echo.sock
# (SG_LISTEN and SG_BACKENDS replace those lists).
write_conf() {
	_f=$1 _port=$2 _cookies=$3 _queue=${4:-1024}
	_be=${SG_BACKENDS:-"{ name = \"echo\"; path = \"$WORK/echo.sock\"; mode = \"fd\"; weight = 1; }"}
	shift 3; [ $# -gt 0 ] && shift
	_listen=${SG_LISTEN:-"{ address = \"$SRV4\"; port = $_port; }, { address = \"$SRV6\"; port = $_port; }"}
	cat >"$_f" <<EOC
listen = ( $_listen );
workers = ${SG_WORKERS:-1};
handshake: { cookies = "$_cookies"; queue_size = $_queue; synack_retries = 5;
             synack_timeout_ms = 1000; cookie_key_file = "${SG_KEYFILE:-}"; };
backends = ( $_be );
control_socket = "$WORK/control.sock";
user = ""; log_level = "${SG_LOGLEVEL:-info}";
$*
EOC
}

# start_echo NAME: an echo backend listening at $WORK/NAME.sock (srv side;
# a Unix socket needs no namespace). Sets ECHO_PID.
start_echo() {
	"$ECHO_BACKEND" "$WORK/$1.sock" >"$WORK/$1.log" 2>&1 &
	ECHO_PID=$!
	bg $ECHO_PID
	wait_for 5 test -S "$WORK/$1.sock" || fail "echo backend $1 did not start"
}

# start_synguard CONF: run the daemon in the server namespace; wait until
# its control socket answers. Sets SG_PID.
start_synguard() {
	ip netns exec srv "$SYNGUARD" -f -c "$1" >>"$WORK/synguard.log" 2>&1 &
	SG_PID=$!
	bg $SG_PID
	wait_for 10 "$SYNGUARDCTL" -s "$WORK/control.sock" stats >/dev/null ||
		{ cat "$WORK/synguard.log"; fail "synguard did not start"; }
}

# stat NAME: one counter from the running daemon.
stat() {
	"$SYNGUARDCTL" -s "$WORK/control.sock" stats |
		awk -v n="$1" '$1 == n { print $2 }'
}

# The fault tool (tests/tools/sgfault.py), here and on the client host.
FAULT="python3 $TOOLS/sgfault.py"
CFAULT="ip netns exec cli $FAULT"

# start_stuck NAME: a backend at $WORK/NAME.sock that never reads. Sets
# STUCK_PID.
start_stuck() {
	$FAULT stuck "$WORK/$1.sock" >"$WORK/$1.log" 2>&1 &
	STUCK_PID=$!
	bg $STUCK_PID
	wait_for 5 test -S "$WORK/$1.sock" || fail "stuck backend $1 did not start"
}

# stat_is NAME VALUE, stat_ge NAME VALUE: conditions for wait_for.
stat_is() { [ "$(stat "$1")" = "$2" ]; }
stat_ge() { [ "$(stat "$1")" -ge "$2" ]; }

# col NAME N: column N of backend NAME in `synguardctl backends` (2: state,
# 3: handed, 4: failed, 5: connects); state_is NAME STATE.
col() {
	"$SYNGUARDCTL" -s "$WORK/control.sock" backends | awk -v n="$1" -v c="$2" '$1 == n { print $c }'
}
state_is() { [ "$(col "$1" 2)" = "$2" ]; }

# fds: descriptors synguard holds now.
fds() { ls /proc/$SG_PID/fd | wc -l; }

# have_xdp: whether this kernel has AF_XDP sockets (Debian's has); without
# them synguard sends through AF_PACKET, and the checks of tx_xdp are moot.
have_xdp() {
	S python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW)' 2>/dev/null
}

# open_xdp: let every worker answer a SYN, so each opens its AF_XDP socket
# (one more fd, kept while it runs) before a test counts the daemon's fds.
# 32 SYNs from as many ports: with two workers, all of them missing one
# has odds of 2^-31. Their SYN-ACKs meet no socket; the client resets them.
open_xdp() {
	have_xdp || return 0
	_x0=$(stat tx_xdp)
	C hping3 -q -S -p "${1:-8080}" -s 61000 -c 32 -i u1000 $SRV4 >/dev/null 2>&1
	wait_for 5 stat_ge tx_xdp $((_x0 + 32)) ||
		fail "SYN-ACKs did not leave through AF_XDP: tx_xdp $(stat tx_xdp)"
}

# xdp_client: make the client's end of the pair take what an XDP program
# on the server's end answers: full checksums, as on a wire (a local
# sender's partial ones go to the workers), and an XDP program of its own
# (one that passes everything), without which a veth drops the frames its
# peer sends back with XDP_TX.
xdp_client() {
	C ethtool -K veth-c tx off >/dev/null &&
	C ip link set dev veth-c xdp obj "$XDP_PASS_OBJ" sec xdp ||
		fail "cannot prepare veth-c for the XDP program"
}

# xdp_on IF / xdp_off IF: whether server interface IF has an XDP program.
xdp_on() { S ip link show dev "$1" | grep -q 'prog/xdp'; }
xdp_off() { ! xdp_on "$1"; }

# field OUTPUT NAME: the figure after NAME in a tool's output line.
field() { echo "$1" | awk -v n="$2" '{ for (i = 1; i < NF; i++) if ($i == n) print $(i + 1) }'; }

# Count every RST the server sends from a port (nftables counters on the
# output hook, IPv4 and IPv6), for the whole test.
watch_rst() {
	S nft add table inet sgwatch &&
	S nft add chain inet sgwatch out "{ type filter hook output priority 0; }" &&
	S nft add rule inet sgwatch out tcp sport "$1" "tcp flags & rst != 0" counter ||
		fail "nft: cannot watch for RSTs"
}

# The number of RSTs watch_rst saw.
rst_count() {
	S nft list chain inet sgwatch out | awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# client_drop NAME RULE: drop what the client sends that matches an nft
# rule expression; client_pass NAME undoes it.
client_drop() {
	C nft add table inet "$1" &&
	C nft add chain inet "$1" out "{ type filter hook output priority 0; }" &&
	C nft add rule inet "$1" out $2 drop || fail "nft: cannot add $1"
}
client_pass() {
	C nft delete table inet "$1"
}
