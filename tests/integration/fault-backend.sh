#!/bin/sh
# Backends that misbehave, on_no_backend = "reset":
#  - one stops reading: its queue fills (the kernel's limit on what a
#    SEQPACKET socket may have unread, a few hundred handoffs) and the
#    rest go to the other one;
#  - with no backend able to take more, clients are reset at once;
#  - one dies with connections queued to it and more being submitted:
#    each client is served by the other backend or reset, none hangs, and
#    synguard holds no fd more than before;
#  - one comes back: it is reconnected (with backoff) and used again.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology

start_stuck b1
B1=$STUCK_PID
start_echo e2
E2=$ECHO_PID
SG_BACKENDS="{ name = \"b1\"; path = \"$WORK/b1.sock\"; mode = \"fd\"; weight = 9; },
             { name = \"e2\"; path = \"$WORK/e2.sock\"; mode = \"fd\"; weight = 1; }"
write_conf "$WORK/sg.conf" 8080 auto 1024 'on_no_backend = "reset";'
start_synguard "$WORK/sg.conf"
wait_for 5 state_is b1 up && wait_for 5 state_is e2 up || fail "backends not connected"

# --- 1. Backpressure: b1 takes what its queue holds, e2 the rest. ---------
# By weight alone b1 would take 360 of 400.
N=400
$CFAULT burst $SRV4 8080 -n $N -c $N --timeout 30 --progress "$WORK/bp.done" >"$WORK/bp.out" &
BURST=$!
bg $BURST
wait_for 20 stat_ge handoff $N || fail "$N connections not handed on: $(stat handoff)"
q=$(col b1 3)
echo "backpressure: b1 (not reading) took $q, refused $(col b1 4); e2 took $(col e2 3)"
[ "$q" -gt 0 ] && [ "$q" -lt 360 ] || fail "b1 took $q of $N (its weight alone gives 360)"
[ "$(col b1 4)" -gt 0 ] || fail "no failed attempt counted for the full backend"
[ "$(col e2 3)" -eq $((N - q)) ] || fail "e2 took $(col e2 3), want $((N - q))"
state_is b1 up || fail "a full backend must stay up"
# e2's clients are served; b1's wait.
done_ge() { [ "$(cat "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
wait_for 20 done_ge "$WORK/bp.done" $((N - q)) || fail "e2's clients not served"
sleep 0.5
[ "$(cat "$WORK/bp.done")" -eq $((N - q)) ] || fail "$(cat "$WORK/bp.done") clients done, want $((N - q)): b1's must still wait"

# --- 2. No backend can take more: reset, at once. ------------------------
kill $E2
wait_for 5 state_is e2 down || fail "e2 still up after it died"
r0=$(stat handoff_reset)
out=$($CFAULT burst $SRV4 8080 -n 20 -c 20 --timeout 10)
echo "no room anywhere: $out"
[ "$(field "$out" reset)" -eq 20 ] || fail "want 20 resets: $out"
[ "$(field "$out" max_fail_ms)" -lt 2000 ] || fail "resets were slow: $out"
[ "$(stat handoff_reset)" -eq $((r0 + 20)) ] || fail "handoff_reset $(stat handoff_reset), want $((r0 + 20))"
[ "$(col b1 3)" -eq "$q" ] || fail "the full backend was handed more"

# --- 3. The backend dies with fds queued to it: nobody hangs. -------------
kill -9 $B1
wait $BURST
out=$(cat "$WORK/bp.out")
echo "after b1 died with $q queued: $out"
[ "$(field "$out" ok)" -eq $((N - q)) ] || fail "want $((N - q)) served: $out"
[ "$(field "$out" timeout)" -eq 0 ] || fail "clients hung: $out"
wait_for 5 state_is b1 down || fail "b1 still up after it died"

# --- 4. It dies while connections are being submitted. --------------------
start_stuck b1
B1=$STUCK_PID
start_echo e2
wait_for 10 state_is b1 up && wait_for 10 state_is e2 up || fail "backends not reconnected"
fds0=$(fds)
h1=$(col b1 3) h2=$(col e2 3)
$CFAULT burst $SRV4 8080 -n 200 -c 20 --timeout 15 --progress "$WORK/sub.done" >"$WORK/sub.out" &
BURST=$!
bg $BURST
wait_for 10 sh -c "[ \$(\"$SYNGUARDCTL\" -s \"$WORK/control.sock\" backends | awk '\$1 == \"b1\" { print \$3 }') -ge $((h1 + 3)) ]" ||
	fail "b1 was not handed connections"
kill -9 $B1
t0=$(date +%s)
wait $BURST
out=$(cat "$WORK/sub.out")
lost=$(($(col b1 3) - h1))
echo "b1 killed mid-run ($lost were queued to it; 200 submitted): $out, finished $(($(date +%s) - t0)) s after the kill"
[ "$(field "$out" timeout)" -eq 0 ] || fail "clients hung: $out"
[ "$(field "$out" ok)" -eq $((200 - lost)) ] || fail "want $((200 - lost)) served by e2: $out"
[ "$(($(col e2 3) - h2))" -eq $((200 - lost)) ] || fail "e2 took $(($(col e2 3) - h2))"
wait_for 5 state_is b1 down || fail "b1 still up after it died"
[ "$(fds)" -eq $((fds0 - 1)) ] || fail "synguard has $(fds) fds, want $((fds0 - 1)) (before: $fds0, less b1's)"

# --- 5. It comes back: reconnected and used again. ------------------------
start_echo b1
wait_for 10 state_is b1 up || fail "b1 not reconnected"
[ "$(fds)" -eq "$fds0" ] || fail "synguard has $(fds) fds, want $fds0"
h1=$(col b1 3)
out=$($CFAULT burst $SRV4 8080 -n 40 -c 4 --timeout 10)
echo "after b1 came back: $out"
[ "$(field "$out" ok)" -eq 40 ] || fail "connections lost after b1 came back: $out"
[ "$(col b1 3)" -ge $((h1 + 15)) ] || fail "b1 not used again: $(col b1 3)"
[ "$(col b1 5)" -ge 3 ] || fail "b1 connects $(col b1 5), want 3"
kill -0 $SG_PID || fail "synguard died"
echo "fault-backend: all checks passed"
