#!/bin/sh
# Hostile input: hand-built segments (tests/tools/craft) from the client
# host, each broken in one named way. For every kind synguard stays up,
# counts exactly what was sent under the reason named here (and moves no
# other counter), answers nothing it should not (the client captures for
# 200 ms after sending), and hands no backend a connection that did not
# complete a real handshake. The well-formed segments among them (a SYN
# with payload, IPv6 extension headers a kernel accepts) are answered with
# exactly one SYN-ACK each, as a kernel listener would answer them.
#
# Phase 1 runs with cookies = "always" and a 1 s cookie period: forged,
# off-by-one and stale cookies. Phase 2 runs with cookies = "never": the
# same mistakes against a half-open entry, and RSTs outside its window.
# Each phase ends with a crafted ACK that does complete, so that a refusal
# above is never the tool's own mistake; a kernel client completes last.
# The report at the end lists each kind: sent, counted as, answered.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
watch_rst 8080
start_echo echo
CRAFT=$SG_TOP_BUILDDIR/tests/tools/craft
[ -x "$CRAFT" ] || fail "no $CRAFT (make check builds it)"
MAC=$(S cat /sys/class/net/veth-s/address)
SNIFF=200
# Crafted segments come from ports 20000-29999. The client's kernel must
# not answer our SYN-ACKs to them with RSTs (they would reach synguard),
# and its MLD reports (multicast, with a hop-by-hop header, so the tap
# passes them up) would move drop_ip_bad_addr: drop both on the client.
# The capture sees a frame before the input hook drops it.
C nft add table inet craft &&
C nft add chain inet craft in "{ type filter hook input priority 0; }" &&
C nft add rule inet craft in tcp sport 8080 tcp dport 20000-29999 drop &&
C nft add chain inet craft out "{ type filter hook output priority 0; }" &&
C nft add rule inet craft out icmpv6 type "{ mld-listener-report, mld2-listener-report, mld-listener-done }" drop ||
	fail "nft: client rules"

# start MODE: (re)start synguard with cookies = MODE, cookie period 1 s.
start() {
	[ -n "${SG_PID:-}" ] && { kill "$SG_PID"; wait "$SG_PID" 2>/dev/null; }
	write_conf "$WORK/sg.conf" 8080 "$1"
	# No SYN-ACK retransmission within the test: a retransmitted SYN-ACK
	# is not an answer to what was sent since.
	sed -i -e 's/cookie_key_file/cookie_period_s = 1; cookie_key_file/' \
		-e 's/synack_timeout_ms = [0-9]*/synack_timeout_ms = 60000/' "$WORK/sg.conf"
	start_synguard "$WORK/sg.conf"
}

# snap FILE: every counter, the gauges left out, and tx_xdp and
# tx_xdp_missed (which way the answers left is not what this test is
# about).
snap() {
	"$SYNGUARDCTL" -s "$WORK/control.sock" stats |
		awk '$1 != "halfopen_entries" && $1 != "memory_bytes" &&
		    $1 != "rx_ring_workers" && $1 != "tx_xdp" &&
		    $1 != "tx_xdp_missed"' >"$1" ||
		fail "synguard's control socket does not answer"
}

# moved: the counters that moved since $WORK/before, "name=delta", sorted.
moved() {
	snap "$WORK/after"
	awk 'NR == FNR { a[$1] = $2; next }
	     $2 != a[$1] { print $1 "=" $2 - a[$1] }' "$WORK/before" "$WORK/after" |
		sort | tr '\n' ' '
}

# moved_is WANT: whether exactly the counters in WANT moved, by exactly that.
moved_is() {
	[ "$(moved)" = "$(echo "$1" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')" ]
}

PORT=20000
REUSE=""
LABEL=""
TABLE=""
# send SRC DST KIND N WANT ANSWERED [craft options]: send N segments of
# KIND from the next free ports (or from port $REUSE, if set); wait until
# exactly the counters in WANT moved ("" for none); check that the client
# saw N SYN-ACKs (ANSWERED = synack), nothing at all (ANSWERED = no), or
# anything (any). Sets OUT to what craft printed and FROM to the first
# source port. $LABEL, if set, names the report's row instead of KIND.
send() {
	_src=$1 _dst=$2 _kind=$3 _n=$4 _want=$5 _ans=$6
	shift 6
	FROM=${REUSE:-$PORT}
	[ -n "$REUSE" ] || PORT=$((PORT + 10))
	snap "$WORK/before"
	# Expected SYN-ACKs get up to 2 s (the capture ends when all came);
	# anything else, the bounded negative check of $SNIFF ms.
	_w="-w $SNIFF"
	[ "$_ans" = synack ] && _w="-w 2000 -e $_n"
	OUT=$(C "$CRAFT" -n "$_n" -P "$FROM" -i veth-c -m "$MAC" $_w "$@" \
		"$_src" "$_dst" 8080 "$_kind") || fail "craft $_kind: $OUT"
	echo "$OUT" | grep -q "^sent $_n " || fail "craft $_kind sent: $OUT"
	_got=$(echo "$OUT" | awk '$1 == "replies" { print $2 }')
	_sa=$(echo "$OUT" | grep -c '^reply SA ')
	case $_ans in
	no) [ "$_got" -eq 0 ] ||
		fail "$_kind from $_src was answered: $OUT" ;;
	synack) [ "$_got" -eq "$_n" ] && [ "$_sa" -eq "$_n" ] ||
		fail "$_kind from $_src: want $_n SYN-ACKs: $OUT" ;;
	any) ;; # a completed handshake: its new kernel socket may speak
	esac
	wait_for 2 moved_is "$_want" ||
		fail "$_kind from $_src: counters moved [$(moved)], want [$_want]"
	kill -0 "$SG_PID" || fail "synguard died on $_kind"
	_why=$(echo "$_want" | tr ' ' '\n' | sed -n 's/^drop_\(.*\)=.*/\1/p' | tr '\n' ' ')
	[ -n "$_want" ] || _why="(filtered by the tap's cBPF program)"
	[ "$_ans" = synack ] && _why="(valid SYN: syn_received)"
	case $_want in *established=*) _why="(control: established)" ;; esac
	TABLE="$TABLE
$(printf '%-26s %-18s %4s  %-36s %s' "${LABEL:-$_kind}" "$_src" "$_n" "$_why" \
	"$(case $_ans in synack) echo "SYN-ACK, as a kernel would" ;;
	   any) echo "by the new kernel socket" ;; *) echo no ;; esac)")"
	LABEL=
}

# drops KIND N REASON [more counters]: N segments of KIND over IPv4 and N
# over IPv6, each counted as drop_REASON and never answered.
drops() {
	_k=$1 _n=$2 _r=$3
	shift 3
	_l=$LABEL
	send $CLI4 $SRV4 "$_k" "$_n" "rx_frames=$_n drop_$_r=$_n $*" no
	LABEL=$_l
	send $CLI6 $SRV6 "$_k" "$_n" "rx_frames=$_n drop_$_r=$_n $*" no
}

# synack: "ISN ACK" of the first SYN-ACK in OUT.
synack() {
	echo "$OUT" | awk '$1 == "reply" && $2 == "SA" {
		sub("seq=", "", $5); sub("ack=", "", $6); print $5, $6; exit }'
}

N=4
SYNS="syn_received=$N synack_sent=$N"

echo "== phase 1: cookies always, cookie period 1 s"
start always
# A cookie to go stale: its SYN-ACK now, the ACK after everything else.
LABEL="syn (cookie to go stale)"
send $CLI4 $SRV4 syn 1 "rx_frames=1 syn_received=1 synack_sent=1 cookie_sent=1" synack -q 7000
STALE_PORT=$FROM
STALE_ISN=$(synack | cut -d' ' -f1)
STALE_AT=$(date +%s)

# The IP layer.
send $CLI4 $SRV4 ip-csum $N "rx_frames=$N drop_ip_bad_csum=$N" no
drops ip-totlen $N ip_truncated
# A datagram cut inside its IPv4 header never reaches synguard: the tap's
# filter reads the port past its end and drops it in the kernel. An IPv6
# one whose next header is an extension header is passed up and counted.
send $CLI4 $SRV4 ip-short $N "" no
send $CLI6 $SRV6 ip-short $N "rx_frames=$N drop_ip_truncated=$N" no
drops frag-first $N ip_fragment
# A later IPv4 fragment has no TCP header: the filter drops it (offset
# != 0); an IPv6 one goes up, since cBPF cannot walk the header chain.
send $CLI4 $SRV4 frag-later $N "" no
send $CLI6 $SRV6 frag-later $N "rx_frames=$N drop_ip_fragment=$N" no
for src in 224.0.0.1 255.255.255.255 0.0.0.0; do
	# -l: a raw socket would fill in a source of 0.0.0.0.
	LABEL="syn, bad source"
	send $src $SRV4 syn $N "rx_frames=$N drop_ip_bad_addr=$N" no -l
done
for src in ff02::1 ::ffff:198.18.0.2 ::; do
	LABEL="syn, bad source"
	send $src $SRV6 syn $N "rx_frames=$N drop_ip_bad_addr=$N" no -l
done

# IPv6 extension headers: skipped where a kernel skips them (RFC 8200 4),
# the SYN then answered; refused where the packet is not for us (routing
# with segments left), out of order (hop-by-hop not first), too long a
# chain, or cut short.
for k in ext-hbh ext-dst ext-rh0 ext-chain; do
	send $CLI6 $SRV6 $k $N "rx_frames=$N $SYNS cookie_sent=$N" synack
done
for k in ext-rh-left ext-hbh-late ext-long ext-trunc; do
	send $CLI6 $SRV6 $k $N "rx_frames=$N drop_ip6_exthdr_bad=$N" no
done

# The TCP header.
drops tcp-short $N tcp_truncated
drops doff-small $N tcp_bad_doff
drops doff-big $N tcp_bad_doff
drops opt-len0 $N opt_bad_len
drops opt-len1 $N opt_bad_len
drops opt-past $N opt_truncated
# Frames from a raw socket cross veth as CHECKSUM_NONE: the tap reports
# neither CSUMNOTREADY nor CSUM_VALID, so synguard verifies the sum, and
# the kernel counts the same segments in its own TcpInCsumErrors.
kcsum() {
	S awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
	                       else print $c["InCsumErrors"] }' /proc/net/snmp
}
k0=$(kcsum)
drops tcp-csum $N tcp_bad_csum
k1=$(kcsum)
[ "$k1" -eq $((k0 + 2 * N)) ] ||
	fail "kernel TcpInCsumErrors went $k0 -> $k1: the segments were not bad"

# Flags. A SYN with RST is an RST (RFC 9293 3.10.7.2 checks RST first),
# with no entry to act on in "always" mode.
drops syn-fin $N bad_flags
drops syn-rst $N rst_no_state
drops rst $N rst_no_state
# A SYN with data: answered like any SYN, the data not acknowledged
# (RFC 9293 3.10.7.2: queued at most, and synguard keeps no queue).
send $CLI4 $SRV4 syn-data $N "rx_frames=$N $SYNS cookie_sent=$N" synack -q 1000
[ "$(echo "$OUT" | grep -c '^reply SA .* ack=1001$')" -eq $N ] ||
	fail "SYN with data: the SYN-ACK must acknowledge the SYN only: $OUT"
send $CLI6 $SRV6 syn-data $N "rx_frames=$N $SYNS cookie_sent=$N" synack -q 1000
[ "$(echo "$OUT" | grep -c '^reply SA .* ack=1001$')" -eq $N ] ||
	fail "SYN with data (IPv6): the SYN-ACK must acknowledge the SYN only: $OUT"

# Cookies: forged (random numbers), then one off by one either way.
INV1="cookie_invalid=1 drop_cookie_invalid=1"
LABEL="ack, forged cookie"
send $CLI4 $SRV4 ack $N "rx_frames=$N cookie_invalid=$N drop_cookie_invalid=$N" no
LABEL="ack, forged cookie"
send $CLI6 $SRV6 ack $N "rx_frames=$N cookie_invalid=$N drop_cookie_invalid=$N" no
for fam in 4 6; do
	eval "src=\$CLI$fam dst=\$SRV$fam"
	LABEL="syn (cookie to miss)"
	send $src $dst syn 1 "rx_frames=1 syn_received=1 synack_sent=1 cookie_sent=1" synack -q 3000
	isn=$(synack | cut -d' ' -f1)
	REUSE=$FROM
	for a in $isn $(((isn + 2) & 0xffffffff)); do
		LABEL="ack, cookie $([ "$a" = "$isn" ] && echo "ack=isn" || echo "ack=isn+2")"
		send $src $dst ack 1 "rx_frames=1 $INV1" no -q 3001 -a $a
	done
	REUSE=
done
# Stale: two periods after it was made, the first cookie no longer counts.
wait_for 4 test "$(date +%s)" -ge $((STALE_AT + 2)) || fail "clock"
REUSE=$STALE_PORT
LABEL="ack, stale cookie"
send $CLI4 $SRV4 ack 1 "rx_frames=1 $INV1" no -q 7001 -a $(((STALE_ISN + 1) & 0xffffffff))
REUSE=

# Nothing above reached a backend.
[ "$(stat established)" -eq 0 ] && [ "$(stat handoff)" -eq 0 ] ||
	fail "phase 1: a connection was made: established $(stat established), handoff $(stat handoff)"
[ ! -s "$WORK/echo.log" ] || fail "the backend saw something: $(cat "$WORK/echo.log")"
# The control: the same crafted ACK, answering a fresh cookie, completes.
LABEL="syn (control)"
send $CLI4 $SRV4 syn 1 "rx_frames=1 syn_received=1 synack_sent=1 cookie_sent=1" synack -q 9000
isn=$(synack | cut -d' ' -f1)
REUSE=$FROM
LABEL="ack, fresh cookie (control)"
send $CLI4 $SRV4 ack 1 "rx_frames=1 cookie_valid=1 established=1 handoff=1" any \
	-q 9001 -a $(((isn + 1) & 0xffffffff))
REUSE=

echo "== phase 2: cookies never (the half-open table)"
start never
LABEL="syn (half-open entry)"
send $CLI4 $SRV4 syn 1 "rx_frames=1 syn_received=1 synack_sent=1 halfopen_inserted=1" synack -q 5000
isn=$(synack | cut -d' ' -f1)
ENTRY=$FROM
REUSE=$ENTRY
for a in $isn $(((isn + 2) & 0xffffffff)); do
	LABEL="ack, entry $([ "$a" = "$isn" ] && echo "ack=isn" || echo "ack=isn+2")"
	send $CLI4 $SRV4 ack 1 "rx_frames=1 drop_ack_bad_seq=1" no -q 5001 -a $a
done
# RSTs outside the window: one before its left edge, one past its right
# edge (the SYN-ACK's window is 65535, unscaled).
for q in 5000 $((5001 + 65535)) 3000000000; do
	LABEL="rst, entry, seq=$q"
	send $CLI4 $SRV4 rst 1 "rx_frames=1 drop_rst_out_of_window=1" no -q $q
done
LABEL="syn-fin, entry"
send $CLI4 $SRV4 syn-fin 1 "rx_frames=1 drop_bad_flags=1" no -q 5000
REUSE=
[ "$(stat halfopen_entries)" -eq 1 ] || fail "the half-open entry did not survive"
LABEL="ack, forged (no entry)"
drops ack $N ack_no_state
LABEL="rst (no entry)"
drops rst $N rst_no_state
[ "$(stat established)" -eq 0 ] && [ "$(stat handoff)" -eq 0 ] ||
	fail "phase 2: a connection was made"
[ ! -s "$WORK/echo.log" ] || fail "the backend saw something: $(cat "$WORK/echo.log")"
# The control: the entry still takes the right ACK.
REUSE=$ENTRY
LABEL="ack, entry (control)"
send $CLI4 $SRV4 ack 1 "rx_frames=1 halfopen_completed=1 established=1 handoff=1" any \
	-q 5001 -a $(((isn + 1) & 0xffffffff))
REUSE=

# A kernel client still gets through, and no RST ever left port 8080.
for host in $SRV4 $SRV6; do
	C python3 "$TOOLS/sgclient.py" echo $host 8080 -n 2 ||
		fail "echo through synguard to $host after the hostile input"
done
n=$(rst_count)
[ "$n" -eq 0 ] || fail "$n RSTs left the server from port 8080"
printf '%-26s %-18s %4s  %-36s %s' kind from sent "counted as" answered
echo "$TABLE"
echo "malformed: all checks passed"
