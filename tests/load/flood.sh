#!/bin/sh
# tests/load/flood.sh -- synguard under SYN, ACK and RST floods, side by side
# with a plain kernel listener (tcp_syncookies=1) in the same run.
#
#	flood.sh [-o RESULTS.json] [--long]
#
# Two test hosts joined by a veth pair (tests/lib.sh: sandbox, topology).
# On the server: synguard with the echo backend on port 8080, and a plain
# kernel echo server (sgclient.py serve) on port 8081. On the client:
# hping3 floods one of the two while an ordinary client makes LEGIT_N
# connections and echoes a byte on each. Every scenario runs against both,
# one after the other; synguard is started afresh for each of its runs and
# stopped during the kernel's, so neither pays for the other.
#
# Prints one table, writes it as JSON (default results.json beside this
# script in the build tree) and draws legit p99 against flood rate with
# gnuplot (results.png beside the JSON). Exit 0 iff every target is met
# (FLOOD_STRICT=0: always 0 once the report is written).
#
# Every flood is bounded in time (timeout SECS) and in count: hping3 takes
# -c but ignores it under --flood, so an nftables quota on the client's
# output hook drops the flood once COUNT packets have gone out.
#
# Settings (environment):
#	FLOOD_SECS=8		each scenario's flood, seconds
#	FLOOD_RATES="u20 u10 flood flood2"  the random-source SYN flood's rates:
#				uN = hping3 -i uN, flood = --flood,
#				flood2 = two hping3 --flood
#	FLOOD_COUNT_PER_S=400000	per hping3, times FLOOD_SECS: the quota
#	LEGIT_N=1000 LEGIT_C=4	ordinary connections and their concurrency
#				(p99 is then the 10th slowest, not the 3rd)
#	RSS_SECS=20		the RSS run (--long: 60), sampled every RSS_STEP=5
#	UPLOAD_MIB=1024		the established-data run
#	BENCH_WORKERS=2		synguard's workers
#	BENCH_QUEUE=65536	synguard's handshake.queue_size
#	KERNEL_BACKLOG=128	somaxconn and tcp_max_syn_backlog (the kernel
#				server listens with a backlog of 128): a small
#				SYN queue, so cookies kick in as on a flooded
#				host
#	FLOOD_CLIENT_DROP=1	drop the flood's replies as they enter the
#				client host (see below); 0: let its IP stack
#				take them
#	FLOOD_STRICT=1		exit 1 when a target is missed
#	BENCH_CONF=""		more settings for synguard's configuration
#				(e.g. 'xdp_above = 0;')
#	BENCH_XDP=auto		synguard with its XDP program on veth-s
#				(xdp_interfaces, xdp_above at its default):
#				where the build has it and this is root with
#				CAP_BPF; 1: required; 0: never
#	BENCH_KERNEL_XDP_PASS=$BENCH_XDP  for the kernel's runs, an XDP
#				program that passes everything on veth-s, so
#				that both targets receive through the same
#				path (a veth runs NAPI only with one; a NIC
#				always does); 0: the kernel's runs without
. "$(dirname "$0")/../lib.sh"
# The XDP program needs real root (CAP_BPF in the initial user namespace):
# then the sandbox keeps it (its own network, mount and PID namespaces).
BENCH_XDP=${BENCH_XDP:-auto}
if [ -z "${SG_IN_SANDBOX:-}" ] && [ "$BENCH_XDP" != 0 ]; then
	if [ -f "$XDP_PASS_OBJ" ] && can_bpf; then
		BENCH_XDP=1 SG_SANDBOX_ROOT=1
	elif [ "$BENCH_XDP" = 1 ]; then
		fail "BENCH_XDP=1: needs a build with the XDP program and root with CAP_BPF"
	else
		BENCH_XDP=0
	fi
	export BENCH_XDP SG_SANDBOX_ROOT
fi
sandbox "$@"

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$SG_TOP_BUILDDIR/tests/load/results.json
LONG=0
while [ $# -gt 0 ]; do
	case $1 in
	-o) OUT=$2; shift 2 ;;
	--long) LONG=1; shift ;;
	*) fail "usage: flood.sh [-o RESULTS.json] [--long]" ;;
	esac
done

FLOOD_SECS=${FLOOD_SECS:-8}
FLOOD_RATES=${FLOOD_RATES:-"u20 u10 flood flood2"}
FLOOD_COUNT_PER_S=${FLOOD_COUNT_PER_S:-400000}
LEGIT_N=${LEGIT_N:-1000}
LEGIT_C=${LEGIT_C:-4}
if [ "$LONG" = 1 ]; then RSS_SECS=${RSS_SECS:-60}; else RSS_SECS=${RSS_SECS:-20}; fi
RSS_STEP=${RSS_STEP:-5}
UPLOAD_MIB=${UPLOAD_MIB:-1024}
BENCH_WORKERS=${BENCH_WORKERS:-2}
BENCH_QUEUE=${BENCH_QUEUE:-65536}
KERNEL_BACKLOG=${KERNEL_BACKLOG:-128}
FLOOD_CLIENT_DROP=${FLOOD_CLIENT_DROP:-1}
SG_PORT=8080
K_PORT=8081
# A fixed spoofed source for scenario 2. The server reaches it through a
# static neighbour entry naming the client's MAC: the client host gets the
# SYN-ACKs and drops them silently (at its ingress hook, below; else as
# InAddrErrors: it holds no address for them and does not forward), with no
# RST that would tear the half-open state down. An address on the client would draw a RST
# for every SYN-ACK; one on the server's /24 without a neighbour entry would
# leave the SYN-ACKs queued on ARP and never sent.
FIXED_SRC=198.18.0.77

command -v hping3 >/dev/null || fail "hping3 is needed (apt-get install hping3)"
[ -x "$SYNGUARD" ] || fail "no daemon at $SYNGUARD: build first"
mkdir -p "$(dirname "$OUT")" || fail "cannot make $(dirname "$OUT")"
RUNS=$WORK/runs
mkdir -p "$RUNS"

topology
ip -n srv neigh replace $FIXED_SRC dev veth-s nud permanent \
	lladdr "$(C cat /sys/class/net/veth-c/address)" ||
	fail "cannot add the neighbour entry for $FIXED_SRC"
# The flood's replies end where they enter the client host (nftables'
# netdev ingress hook, the earliest there is without XDP): on a veth pair
# the receiving host's stack runs in the sender's context, so without this
# synguard's CPU figure would include the client host's IP input and route
# lookup for every SYN-ACK to a spoofed address, work a real network does
# on other machines. Only packets to the client's own address go on; both
# targets run with it. FLOOD_CLIENT_DROP=0 leaves the client's stack to it.
if [ "$FLOOD_CLIENT_DROP" = 1 ]; then
	C nft add table netdev sgreplies &&
	C nft add chain netdev sgreplies in \
		"{ type filter hook ingress device veth-c priority 0; }" &&
	C nft add rule netdev sgreplies in ip daddr != $CLI4 drop ||
		fail "nft: cannot drop the flood's replies on the client"
fi
# The kernel baseline's host settings (per network namespace).
S sysctl -qw net.ipv4.tcp_syncookies=1 \
	net.ipv4.tcp_max_syn_backlog="$KERNEL_BACKLOG" \
	net.core.somaxconn="$KERNEL_BACKLOG" || fail "sysctl in srv"

# With the XDP program: the client's end set up to take its answers
# (xdp_client, lib.sh), for both targets, which run on the same pair. The
# kernel's BPF run-time statistics are on for the bench (bpfstats.py), so
# the program's own cost is counted.
XDP_CONF=""
if [ "$BENCH_XDP" = 1 ]; then
	xdp_client
	python3 "$HERE/bpfstats.py" >"$WORK/bpfstats.log" 2>&1 &
	bg $!
	wait_for 5 grep -q on "$WORK/bpfstats.log" ||
		fail "BPF statistics: $(cat "$WORK/bpfstats.log")"
	XDP_CONF='xdp_interfaces = [ "veth-s" ];'
fi
BENCH_KERNEL_XDP_PASS=${BENCH_KERNEL_XDP_PASS:-$BENCH_XDP}
start_echo echo
SG_WORKERS=$BENCH_WORKERS write_conf "$WORK/sg.conf" $SG_PORT auto "$BENCH_QUEUE" \
	"$XDP_CONF" "${BENCH_CONF:-}"
ip netns exec srv python3 "$TOOLS/sgclient.py" serve $SRV4 $K_PORT \
	>"$WORK/kserve.log" 2>&1 &
bg $!
wait_for 5 C python3 "$TOOLS/sgclient.py" echo $SRV4 $K_PORT -n 1 -s 1 \
	>/dev/null || fail "the kernel echo server did not start"

# The flood's packet quota on the client: every packet from a source other
# than the client's own address, to the port, counts; past the quota it is
# dropped before it leaves. Replaced for each run.
quota() {
	C nft delete table inet sgquota 2>/dev/null
	C nft add table inet sgquota &&
	C nft add chain inet sgquota out "{ type filter hook output priority 0; }" &&
	C nft add rule inet sgquota out ip saddr != $CLI4 tcp dport "$1" \
		quota over "$2" bytes drop || fail "nft: cannot set the flood quota"
}

# Start synguard afresh (it is stopped by synguard_stop).
synguard_start() {
	: >"$WORK/synguard.log"
	start_synguard "$WORK/sg.conf"
}
synguard_stop() {
	kill "$SG_PID" 2>/dev/null
	wait "$SG_PID" 2>/dev/null
	SG_PID=""
}

# snap DIR TAG: every counter the report needs, at one moment.
snap() {
	date +%s%N >"$1/$2.time"
	for f in rx_packets tx_packets rx_dropped tx_dropped; do
		echo "$f $(S cat /sys/class/net/veth-s/statistics/$f)"
	done >"$1/$2.link"
	S cat /proc/net/netstat >"$1/$2.netstat"
	S cat /proc/net/snmp >"$1/$2.snmp"
	# The client's SYN retransmissions: a lost SYN or SYN-ACK shows here
	# (and as a 1 s connect).
	C cat /proc/net/netstat >"$1/$2.cnetstat"
	# Drops at the per-CPU backlog that veth feeds (host-wide).
	cat /proc/net/softnet_stat >"$1/$2.softnet"
	# The whole host's CPU time: what answering costs wherever it runs
	# (the kernel's cookies and the XDP program run in softirq).
	head -1 /proc/stat >"$1/$2.cpu"
	if [ -n "$SG_PID" ]; then
		"$SYNGUARDCTL" -s "$WORK/control.sock" stats >"$1/$2.sg"
		cat /proc/"$SG_PID"/stat >"$1/$2.stat"
		cat /proc/"$SG_PID"/status >"$1/$2.status"
		for t in /proc/"$SG_PID"/task/*; do
			echo "$(basename "$t") $(cat "$t/comm") $(cut -d')' -f2 "$t/stat")"
		done >"$1/$2.tasks"
	fi
}

# hping_args RATE KIND: hping3's options for a flood kind at a rate.
hping_args() {
	case $1 in
	u*) _rate="-i $1" ;;
	*) _rate=--flood ;;
	esac
	case $2 in
	syn) echo "-S $_rate --rand-source" ;;
	synfixed) echo "-S $_rate -a $FIXED_SRC" ;;
	ack) echo "-A $_rate --rand-source" ;;
	rst) echo "-R $_rate --rand-source" ;;
	esac
}

# rx_since N: has the server's veth received 1000 packets more than N?
rx_since() {
	[ "$(S cat /sys/class/net/veth-s/statistics/rx_packets)" -gt $(($1 + 1000)) ]
}

# run NAME KIND RATE TARGET: one scenario against one target (synguard or
# kernel): the flood, the ordinary client meanwhile, counters either side.
run() {
	_name=$1 _kind=$2 _rate=$3 _target=$4
	_dir=$RUNS/$_name-$_target
	mkdir -p "$_dir"
	if [ "$_target" = synguard ]; then _port=$SG_PORT; synguard_start
	else
		_port=$K_PORT
		if [ "$BENCH_KERNEL_XDP_PASS" = 1 ]; then
			S ip link set dev veth-s xdp obj "$XDP_PASS_OBJ" sec xdp ||
				fail "cannot attach the pass program to veth-s"
		fi
	fi
	_procs=1
	[ "$_rate" = flood2 ] && _procs=2
	[ "$_kind" = idle ] && _procs=0
	_count=$((FLOOD_COUNT_PER_S * FLOOD_SECS))
	# IPv4 + TCP headers: hping3's segments carry no options, no data.
	quota $_port $((_count * _procs * 40))
	cat >"$_dir/meta" <<EOM
name $_name
kind $_kind
rate $_rate
target $_target
procs $_procs
secs $FLOOD_SECS
workers $BENCH_WORKERS
EOM
	snap "$_dir" before
	_rx0=$(S cat /sys/class/net/veth-s/statistics/rx_packets)
	_hp=""
	_i=0
	while [ $_i -lt $_procs ]; do
		# shellcheck disable=SC2046
		ip netns exec cli timeout "$FLOOD_SECS" hping3 -q \
			$(hping_args "$_rate" "$_kind") -c "$_count" -p "$_port" \
			$SRV4 >"$_dir/hping3.$_i" 2>&1 &
		_hp="$_hp $!"
		bg $!
		_i=$((_i + 1))
	done
	if [ $_procs -gt 0 ]; then
		wait_for 5 rx_since "$_rx0" || fail "$_name: the flood did not start"
	fi
	ip netns exec cli python3 "$TOOLS/sgclient.py" echo $SRV4 $_port \
		-n "$LEGIT_N" -c "$LEGIT_C" -s 1 --timeout 5 \
		>"$_dir/legit.out" 2>"$_dir/legit.err" &
	_cl=$!
	bg $_cl
	# The counters cover the flood alone; the ordinary client may outlive
	# it (then "during" is 0: its figures are partly without the flood).
	for p in $_hp; do wait "$p"; done
	[ $_procs -gt 0 ] && snap "$_dir" after
	_during=1
	kill -0 $_cl 2>/dev/null && [ $_procs -gt 0 ] && _during=0
	wait $_cl
	[ $_procs -gt 0 ] || snap "$_dir" after
	echo "during $_during" >>"$_dir/meta"
	[ "$_target" = synguard ] && synguard_stop
	if [ "$_target" = kernel ] && [ "$BENCH_KERNEL_XDP_PASS" = 1 ]; then
		S ip link set dev veth-s xdp off
	fi
	printf '%-10s %-8s %s\n' "$_name" "$_target" "$(cat "$_dir/legit.out")"
}

# Scenario 0, no flood: the latency floor. Then the random-source SYN flood
# at each rate, then one fixed source, random ACKs, random RSTs.
for t in synguard kernel; do run idle idle 0 $t; done
for r in $FLOOD_RATES; do
	for t in synguard kernel; do run "syn-$r" syn "$r" $t; done
done
for k in synfixed ack rst; do
	for t in synguard kernel; do run "$k" $k flood $t; done
done

# RSS over a long flood: VmRSS every RSS_STEP seconds.
synguard_start
quota $SG_PORT $((FLOOD_COUNT_PER_S * RSS_SECS * 40))
ip netns exec cli timeout "$RSS_SECS" hping3 -q -S --flood --rand-source \
	-c $((FLOOD_COUNT_PER_S * RSS_SECS)) -p $SG_PORT $SRV4 \
	>"$WORK/hping3.rss" 2>&1 &
_hp=$!
bg $_hp
_t=0
: >"$WORK/rss"
while kill -0 $_hp 2>/dev/null && [ $_t -le "$RSS_SECS" ]; do
	echo "$_t $(awk '/^VmRSS/ { print $2 }' /proc/"$SG_PID"/status)" >>"$WORK/rss"
	sleep "$RSS_STEP"
	_t=$((_t + RSS_STEP))
done
wait $_hp
echo "end $(awk '/^VmRSS/ { print $2 } /^VmHWM/ { print $2 }' /proc/"$SG_PID"/status | tr '\n' ' ')" >>"$WORK/rss"
"$SYNGUARDCTL" -s "$WORK/control.sock" stats >"$WORK/rss.sg"
synguard_stop

# Established data: UPLOAD_MIB through one handed-off connection (the echo
# backend sends it all back); the daemon's CPU time either side.
synguard_start
mkdir -p "$RUNS/upload"
snap "$RUNS/upload" before
C python3 "$HERE/upload.py" $SRV4 $SG_PORT "$UPLOAD_MIB" >"$RUNS/upload/out" ||
	fail "upload: $(cat "$RUNS/upload/out")"
snap "$RUNS/upload" after
synguard_stop
echo "upload     synguard $(cat "$RUNS/upload/out")"

export FLOOD_SECS FLOOD_RATES LEGIT_N LEGIT_C RSS_SECS UPLOAD_MIB BENCH_WORKERS \
	BENCH_QUEUE KERNEL_BACKLOG FLOOD_CLIENT_DROP BENCH_XDP BENCH_CONF \
	BENCH_KERNEL_XDP_PASS
FLOOD_STRICT=${FLOOD_STRICT:-1} python3 "$HERE/report.py" "$WORK" "$OUT"
