#!/bin/sh
# 1,000 sequential and 200 concurrent connections through synguard, all
# served, with no fd left behind in the daemon afterwards. It listens on
# the wildcard addresses: the host's own addresses decide what is ours.
# Two workers move between their receive rings and reading frames as they
# come (rx_ring_above is set low, so the load moves them) without losing a
# connection.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
watch_rst 8080
start_echo echo
SG_WORKERS=2 \
SG_LISTEN='{ address = "0.0.0.0"; port = 8080; }, { address = "::"; port = 8080; }' \
	write_conf "$WORK/sg.conf" 8080 auto 1024 "rx_ring_above = 300;"
start_synguard "$WORK/sg.conf"

[ "$(stat rx_ring_workers)" -eq 0 ] || fail "a calm worker started on its ring"
mem0=$(stat memory_bytes)
open_xdp
# (its SYNs may move the workers to their rings: back first)
wait_for 5 stat_is rx_ring_workers 0 || fail "workers stayed on the ring"
to_ring0=$(stat rx_to_ring)
fds_before=$(ls /proc/$SG_PID/fd | wc -l)
# Each worker's AF_XDP region shows in the memory gauge.
if have_xdp; then
	[ "$(stat memory_bytes)" -eq $((mem0 + 2 * 524288)) ] ||
		fail "memory_bytes $mem0 -> $(stat memory_bytes), want two 512 KiB regions more"
fi
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 1000 -c 1 -s 64) ||
	fail "sequential: $out"
echo "1000 sequential: $out"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 200 -c 200 -s 64) ||
	fail "concurrent: $out"
echo "200 concurrent: $out"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV6 8080 -n 50 -c 5 -s 64) ||
	fail "IPv6 on the wildcard address: $out"
[ "$(stat handoff)" -eq 1250 ] || fail "handoff counter $(stat handoff), want 1250"
# Both workers answer through AF_XDP, each on a queue of its own.
answers=$(($(stat synack_sent) - $(stat synack_retransmitted)))
if have_xdp; then
	[ "$(stat tx_xdp)" -ge "$answers" ] && [ "$answers" -ge 1250 ] &&
	[ "$(stat tx_xdp_missed)" -eq 0 ] ||
		fail "$(stat tx_xdp) sent through AF_XDP of $answers answers, $(stat tx_xdp_missed) missed"
	! grep "AF_XDP" "$WORK/synguard.log" || fail "a worker had no AF_XDP socket"
fi
[ "$(stat rx_to_ring)" -gt "$to_ring0" ] || fail "no worker moved to its ring under load"
# Calm again: after a second below 75 frames/s, back to plain reading.
wait_for 5 stat_is rx_ring_workers 0 ||
	fail "$(stat rx_ring_workers) workers stayed on the ring"
[ "$(stat rx_to_plain)" -eq "$(stat rx_to_ring)" ] ||
	fail "moves: to the ring $(stat rx_to_ring), back $(stat rx_to_plain)"
echo "moves: to the ring $(stat rx_to_ring), back $(stat rx_to_plain)"

# The same figures for Prometheus (the daemon is idle now, so they hold
# still): every counter of the table as synguard_NAME_total and every gauge
# as synguard_NAME, each with its HELP and TYPE and the table's value, the
# drops by reason likewise, and no line of any other shape.
table=$("$SYNGUARDCTL" -s "$WORK/control.sock" stats) || fail "stats"
prom=$("$SYNGUARDCTL" -s "$WORK/control.sock" stats --prometheus) ||
	fail "stats --prometheus"
echo "$table" | awk '$1 != "ok" && $1 !~ /^drop_/ { print $1, $2 }' >"$WORK/names"
[ "$(wc -l <"$WORK/names")" -ge 25 ] || fail "stats lists $(wc -l <"$WORK/names") figures"
while read -r n v; do
	case $n in
	halfopen_entries|memory_bytes|rx_ring_workers) m=synguard_$n t=gauge ;;
	*) m=synguard_${n}_total t=counter ;;
	esac
	echo "$prom" | grep -q "^# HELP $m [^ ]" || fail "no HELP for $m"
	echo "$prom" | grep -qx "# TYPE $m $t" || fail "$m is not a $t"
	[ "$(echo "$prom" | grep -c "^$m ")" -eq 1 ] || fail "not one sample of $m"
	echo "$prom" | grep -qx "$m $v" || fail "$m is not $v as in the table"
done <"$WORK/names"
echo "$prom" | grep -qx "synguard_handoff_total 1250" || fail "handoff for Prometheus"
echo "$table" | sed -n 's/^drop_\([a-z0-9_]*\) *\([0-9]*\)$/\1 \2/p' >"$WORK/drops"
[ "$(wc -l <"$WORK/drops")" -ge 10 ] || fail "stats lists $(wc -l <"$WORK/drops") drop reasons"
while read -r r v; do
	echo "$prom" | grep -qx "synguard_drops_total{reason=\"$r\"} $v" ||
		fail "drops for $r are not $v as in the table"
done <"$WORK/drops"
[ "$(echo "$prom" | grep -c '^synguard_drops_total{')" -eq "$(wc -l <"$WORK/drops")" ] ||
	fail "not one sample per drop reason"
odd=$(echo "$prom" | grep -vE '^ok$|^# HELP synguard_[a-z_]+ [^\\]+$|^# TYPE synguard_[a-z_]+ (counter|gauge)$|^synguard_[a-z_]+ [0-9]+$|^synguard_drops_total\{reason="[a-z0-9_]+"\} [0-9]+$')
[ -z "$odd" ] || fail "lines of no known shape: $odd"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 20 -c 1 -s 64) ||
	fail "after the moves: $out"
fds_after=$(ls /proc/$SG_PID/fd | wc -l)
[ "$fds_after" -eq "$fds_before" ] ||
	fail "synguard holds $fds_after fds after the run, $fds_before before"
n=$(rst_count)
[ "$n" -eq 0 ] || fail "$n RSTs left the server from port 8080"
echo "load: all checks passed"
