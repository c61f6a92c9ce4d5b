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

fds_before=$(ls /proc/$SG_PID/fd | wc -l)
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 1000 -c 1 -s 64) ||
	fail "sequential: $out"
echo "1000 sequential: $out"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 200 -c 200 -s 64) ||
	fail "concurrent: $out"
echo "200 concurrent: $out"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV6 8080 -n 50 -c 5 -s 64) ||
	fail "IPv6 on the wildcard address: $out"
[ "$(stat handoff)" -eq 1250 ] || fail "handoff counter $(stat handoff), want 1250"
[ "$(stat rx_to_ring)" -ge 1 ] || fail "no worker moved to its ring under load"
# Calm again: after a second below 75 frames/s, back to plain reading.
wait_for 5 stat_ge rx_to_plain "$(stat rx_to_ring)" ||
	fail "workers stayed on the ring: to_ring $(stat rx_to_ring), to_plain $(stat rx_to_plain)"
echo "moves: to the ring $(stat rx_to_ring), back $(stat rx_to_plain)"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 20 -c 1 -s 64) ||
	fail "after the moves: $out"
fds_after=$(ls /proc/$SG_PID/fd | wc -l)
[ "$fds_after" -eq "$fds_before" ] ||
	fail "synguard holds $fds_after fds after the run, $fds_before before"
n=$(rst_count)
[ "$n" -eq 0 ] || fail "$n RSTs left the server from port 8080"
echo "load: all checks passed"
