#!/bin/sh
# Soak: SOAK_SECONDS (default 600) of mixed traffic against one synguard:
# bounded hping3 runs in turn (SYN flood from random sources at a moderate
# rate, then an ACK flood of forged cookies) while legitimate clients echo
# in a loop. synguard's RSS and fd count are sampled every SOAK_SAMPLE_S
# seconds and printed as a table. It passes when
#  - the RSS after warm-up (the first sample past SOAK_WARMUP_S) grows by
#    less than SOAK_RSS_PCT percent (default 5) to its maximum,
#  - the fd count is back to its baseline at the end,
#  - every legitimate connection was served, synguard is alive and stops
#    cleanly, with no sanitizer report in its log.
# Not part of `make check`: run it with `make soak`.
#
#	SOAK_SECONDS=30 SOAK_SAMPLE_S=5 make soak	# a short run
. "$(dirname "$0")/../lib.sh"
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-10}
SOAK_WARMUP_S=${SOAK_WARMUP_S:-$((SOAK_SAMPLE_S * 2))}
SOAK_RSS_PCT=${SOAK_RSS_PCT:-5}
SOAK_SYN_US=${SOAK_SYN_US:-100}     # hping3 -i u100: about 10k SYN/s
SOAK_RUN_S=${SOAK_RUN_S:-10}        # each flood run, at most this long
sandbox "$@"
topology
start_echo echo
write_conf "$WORK/sg.conf" 8080 auto 1024
start_synguard "$WORK/sg.conf"
rss() { awk '$1 == "VmRSS:" { print $2 }' /proc/$SG_PID/status; }
open_xdp
fds0=$(fds)
rss0=$(rss)
end=$(($(date +%s) + SOAK_SECONDS))

# The floods, one bounded run after another until the end. Sources are
# random; the server's replies go to the client host, which drops them.
# flood FLAG: one hping3 run, bounded in time (the rest of the soak, at
# most SOAK_RUN_S) and in count (what that time takes at the rate).
flood() {
	_t=$((end - $(date +%s)))
	[ "$_t" -le "$SOAK_RUN_S" ] || _t=$SOAK_RUN_S
	[ "$_t" -gt 0 ] || return 0
	timeout "$_t" ip netns exec cli hping3 -q "$1" -p 8080 --rand-source \
	    -i u$SOAK_SYN_US -c $((_t * 1000000 / SOAK_SYN_US)) $SRV4 >/dev/null 2>&1
}
(
	while [ "$(date +%s)" -lt "$end" ]; do
		flood -S
		flood -A
	done
) &
FLOOD=$!
bg $FLOOD

# Legitimate clients: batches of echoes until the end; one line each.
(
	while [ "$(date +%s)" -lt "$end" ]; do
		ip netns exec cli python3 "$TOOLS/sgclient.py" echo $SRV4 8080 \
		    -n 50 -c 2 -s 512 --timeout 10 2>>"$WORK/legit.err"
	done
) >"$WORK/legit.out" &
LEGIT=$!
bg $LEGIT

printf '%8s %10s %6s %12s %12s %10s\n' elapsed_s rss_kb fds syn_received cookie_sent handoff
t0=$(date +%s)
max=0 base=0
while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$SOAK_SAMPLE_S"
	kill -0 $SG_PID 2>/dev/null || fail "synguard died"
	e=$(($(date +%s) - t0)) r=$(rss)
	printf '%8s %10s %6s %12s %12s %10s\n' $e $r $(fds) \
	    "$(stat syn_received)" "$(stat cookie_sent)" "$(stat handoff)"
	if [ "$e" -ge "$SOAK_WARMUP_S" ]; then
		[ "$base" -gt 0 ] || base=$r
		[ "$r" -le "$max" ] || max=$r
	fi
done
wait $FLOOD
wait $LEGIT
kill -0 $SG_PID 2>/dev/null || fail "synguard died"

ok=$(awk '{ s += $2 } END { print s + 0 }' "$WORK/legit.out")
bad=$(awk '{ s += $4 } END { print s + 0 }' "$WORK/legit.out")
wait_for 10 sh -c "[ \$(ls /proc/$SG_PID/fd | wc -l) -le $fds0 ]"
fds1=$(fds) rss1=$(rss)
echo "soak ${SOAK_SECONDS} s: RSS start $rss0 kB, after warm-up $base kB, max $max kB, end $rss1 kB;" \
    "fds start $fds0, end $fds1; legitimate connections ok $ok, failed $bad;" \
    "syn_received $(stat syn_received), drop_cookie_invalid $(stat drop_cookie_invalid)"
[ "$base" -gt 0 ] || fail "no sample after the warm-up: make SOAK_SECONDS longer"
[ $(((max - base) * 100)) -lt $((base * SOAK_RSS_PCT)) ] ||
	fail "RSS grew from $base kB to $max kB after warm-up (more than $SOAK_RSS_PCT%)"
[ "$fds1" -le "$fds0" ] || fail "synguard has $fds1 fds at the end, $fds0 at the start"
if [ "$ok" -eq 0 ] || [ "$bad" -ne 0 ]; then
	"$SYNGUARDCTL" -s "$WORK/control.sock" stats | awk '$2 != 0'
	fail "legitimate connections: ok $ok, failed $bad: $(head -5 "$WORK/legit.err")"
fi
# A clean stop, and nothing from the sanitizers (the ASan build).
kill $SG_PID
wait $SG_PID || fail "synguard exited with status $? on SIGTERM"
! grep -E "Sanitizer|runtime error" "$WORK/synguard.log" || fail "sanitizer reports in the log"
echo "soak: all checks passed"
