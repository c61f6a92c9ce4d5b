#!/bin/sh
# Out of file descriptors: synguard runs with `ulimit -n 40` and a backend
# that does not read, on_no_backend = "hold". A burst of connections uses
# up the descriptors (held connections are open sockets, and the kernel
# caps fds in flight at the same limit). synguard must not crash: it
# counts drop_materialize_failed and keeps the half-open state, so the
# clients' own retransmissions complete their handshakes once the backend
# reads again and descriptors are free. After the burst every fd is back.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
LIMIT=40

start_stuck b1
B1=$STUCK_PID
SG_BACKENDS="{ name = \"b1\"; path = \"$WORK/b1.sock\"; mode = \"fd\"; weight = 1; }"
write_conf "$WORK/sg.conf" 8080 auto 1024 'on_no_backend = "hold"; hold_timeout_ms = 20000;'
ip netns exec srv sh -c "ulimit -n $LIMIT && exec \"$SYNGUARD\" -f -c \"$WORK/sg.conf\"" >>"$WORK/synguard.log" 2>&1 &
SG_PID=$!
bg $SG_PID
wait_for 10 "$SYNGUARDCTL" -s "$WORK/control.sock" stats >/dev/null ||
	{ cat "$WORK/synguard.log"; fail "synguard did not start"; }
grep -q "^Max open files *$LIMIT " /proc/$SG_PID/limits || fail "the limit did not apply"
wait_for 5 state_is b1 up || fail "backend not connected"
open_xdp
fds0=$(fds)
echo "synguard: $fds0 fds open of $LIMIT"

N=120
$CFAULT burst $SRV4 8080 -n $N -c $N --timeout 30 >"$WORK/burst.out" &
BURST=$!
bg $BURST
# Every descriptor in use. The control socket may not answer now (it
# cannot accept), so this is read from /proc.
wait_for 15 sh -c "[ \$(ls /proc/$SG_PID/fd | wc -l) -ge $LIMIT ]" ||
	fail "synguard never ran out of fds: $(fds) open"
# A second out of fds: clients retransmit, materializing fails and must
# be counted, not fatal, and nothing may spin (a pending control client
# that cannot be accepted, a backend that refuses fds in flight).
cpu() { awk '{ print $14 + $15 }' /proc/$SG_PID/stat; }
timeout 30 "$SYNGUARDCTL" -s "$WORK/control.sock" stats >"$WORK/ctl.out" 2>&1 &
CTL=$!
bg $CTL
c0=$(cpu)
sleep 1
c1=$(cpu)
echo "out of fds for 1 s: synguard used $((c1 - c0)) ticks of CPU"
[ $((c1 - c0)) -lt 40 ] || fail "synguard spins while out of fds: $((c1 - c0)) ticks in 1 s"
kill -0 $SG_PID || fail "synguard died"
[ "$(ps -o stat= -p $SG_PID | cut -c1)" != Z ] || fail "synguard died"

# The backend reads again: fds in flight and held ones drain, and the
# clients' retransmissions complete the rest.
kill -USR1 $B1
wait $CTL || fail "the control client waiting meanwhile failed: $(cat "$WORK/ctl.out")"
grep -q "^handoff " "$WORK/ctl.out" || fail "no stats for the waiting control client"
wait $BURST
out=$(cat "$WORK/burst.out")
echo "burst of $N: $out; drop_materialize_failed $(stat drop_materialize_failed)"
[ "$(field "$out" ok)" -eq $N ] || fail "connections lost: $out"
[ "$(stat drop_materialize_failed)" -gt 0 ] || fail "no drop_materialize_failed counted"
n=$(grep -c "accept" "$WORK/synguard.log")
[ "$n" -lt 100 ] || fail "the log has $n lines on accept failures"
kill -0 $SG_PID || fail "synguard died"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 30 -c 3 -s 64) || fail "after the burst: $out"
wait_for 5 sh -c "[ \$(ls /proc/$SG_PID/fd | wc -l) -eq $fds0 ]" ||
	fail "synguard has $(fds) fds after the burst, $fds0 before"
grep -i "sanitizer\|assert" "$WORK/synguard.log" && fail "synguard log shows a crash"
echo "fault-fdlimit: all checks passed"
