#!/bin/sh
# on_no_backend = "hold": a connection no backend can take waits up to
# hold_timeout_ms, then is reset; if a backend frees up or comes back in
# time, it is delivered and served, none lost.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology

done_ge() { [ "$(cat "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

start_stuck b1
B1=$STUCK_PID
SG_BACKENDS="{ name = \"b1\"; path = \"$WORK/b1.sock\"; mode = \"fd\"; weight = 1; }"
write_conf "$WORK/sg.conf" 8080 auto 1024 'on_no_backend = "hold"; hold_timeout_ms = 1000;'
start_synguard "$WORK/sg.conf"
wait_for 5 state_is b1 up || fail "backend not connected"
open_xdp
fds0=$(ls /proc/$SG_PID/fd | wc -l)

# --- 1. Past its queue's limit (a few hundred), the rest are held, then
# reset after hold_timeout_ms; b1 then starts reading and serves its own.
N=400
$CFAULT burst $SRV4 8080 -n $N -c $N --timeout 20 --progress "$WORK/h.done" >"$WORK/h.out" &
BURST=$!
bg $BURST
# handed_or_reset N: handoff + handoff_reset reached N (a held connection
# counts as handed off until its hold runs out, then as reset).
handed_or_reset() {
	[ $(($(stat handoff) + $(stat handoff_reset))) -ge "$1" ]
}
wait_for 20 handed_or_reset $N || fail "$N connections not handed on or held: $(stat handoff)"
q=$(col b1 3)
[ "$q" -gt 0 ] && [ "$q" -lt $N ] || fail "b1 took $q of $N: nothing was held"
wait_for 10 done_ge "$WORK/h.done" $((N - q)) || fail "held connections not reset"
kill -USR1 $B1
wait $BURST
out=$(cat "$WORK/h.out")
echo "b1 took $q then stopped; $((N - q)) held 1000 ms: $out"
[ "$(field "$out" ok)" -eq "$q" ] || fail "b1's $q not all served once it read: $out"
[ "$(field "$out" reset)" -eq $((N - q)) ] || fail "want $((N - q)) resets: $out"
[ "$(stat handoff_reset)" -eq $((N - q)) ] ||
	fail "handoff_reset is $(stat handoff_reset), want the $((N - q)) held ones that expired"
[ "$(stat handoff)" -eq "$q" ] || fail "handoff is $(stat handoff), want $q"
[ "$(field "$out" min_fail_ms)" -ge 900 ] || fail "a held connection was reset before hold_timeout_ms: $out"
[ "$(field "$out" max_fail_ms)" -lt 4000 ] || fail "held connections waited far past hold_timeout_ms: $out"
[ "$(ls /proc/$SG_PID/fd | wc -l)" -eq "$fds0" ] || fail "fds: $(ls /proc/$SG_PID/fd | wc -l), want $fds0"

# --- 2. No backend at all; it comes back within the hold time: every
# held connection is delivered.
sed -i 's/hold_timeout_ms = 1000;/hold_timeout_ms = 10000;/' "$WORK/sg.conf"
"$SYNGUARDCTL" -s "$WORK/control.sock" reload >/dev/null || fail "reload"
kill $B1
wait_for 5 state_is b1 down || fail "b1 still up after it died"
h0=$(stat handoff) r0=$(stat handoff_reset)
$CFAULT burst $SRV4 8080 -n 50 -c 50 --timeout 20 >"$WORK/h2.out" &
BURST=$!
bg $BURST
wait_for 10 stat_ge handoff $((h0 + 50)) || fail "50 connections not held"
start_echo b1
wait $BURST
out=$(cat "$WORK/h2.out")
echo "no backend, then it came back: $out"
[ "$(field "$out" ok)" -eq 50 ] || fail "held connections lost: $out"
[ "$(stat handoff_reset)" -eq "$r0" ] || fail "handoff_reset moved"
[ "$(ls /proc/$SG_PID/fd | wc -l)" -eq "$fds0" ] || fail "fds: $(ls /proc/$SG_PID/fd | wc -l), want $fds0"
echo "fault-hold: all checks passed"
