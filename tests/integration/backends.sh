#!/bin/sh
# Two backends by weighted round robin; one is killed mid-run and every
# later connection goes to the other; it comes back and is used again.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
start_echo e1
E1=$ECHO_PID
start_echo e2
SG_BACKENDS="{ name = \"e1\"; path = \"$WORK/e1.sock\"; mode = \"fd\"; weight = 1; },
             { name = \"e2\"; path = \"$WORK/e2.sock\"; mode = \"fd\"; weight = 3; }"
write_conf "$WORK/sg.conf" 8080 auto
start_synguard "$WORK/sg.conf"

handed() { col "$1" 3; }
wait_for 5 state_is e1 up && wait_for 5 state_is e2 up || fail "backends not connected"

C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 100 -s 64 >/dev/null || fail "first run"
h1=$(handed e1) h2=$(handed e2)
echo "weights 1:3 over 100 connections: e1 $h1, e2 $h2"
[ "$h1" -eq 25 ] && [ "$h2" -eq 75 ] || fail "weighted round robin gave $h1/$h2"

kill $E1; wait $E1 2>/dev/null
wait_for 5 state_is e1 down || fail "e1 still shown up after it died"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 100 -s 64 >/dev/null ||
	fail "connections lost after e1 died"
[ "$(handed e1)" -eq "$h1" ] || fail "e1 was handed connections after it died"
[ "$(handed e2)" -eq $((h2 + 100)) ] || fail "e2 did not take every later connection"

start_echo e1
wait_for 10 state_is e1 up || fail "e1 not reconnected"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 40 -s 64 >/dev/null || fail "after e1 came back"
[ "$(handed e1)" -gt "$h1" ] || fail "e1 not used again after it came back"
echo "backends: all checks passed"
