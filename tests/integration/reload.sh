#!/bin/sh
# Reload without loss: while clients connect without pause, SIGHUP and
# `synguardctl reload` change the listen set, the backends and the
# tunables. Every connection succeeds, no RST leaves the port (the kernel
# never answers it in between), half-open entries survive, and a new
# listen port and backend are in use right after the reload.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
watch_rst 8080
start_echo e1
start_echo e2
SG_BACKENDS="{ name = \"e1\"; path = \"$WORK/e1.sock\"; mode = \"fd\"; weight = 1; }"
write_conf "$WORK/sg.conf" 8080 auto
start_synguard "$WORK/sg.conf"

# A half-open entry that must survive the reloads: one SYN whose SYN-ACK
# the client's kernel would reset, so hold its RSTs back.
client_drop norst "tcp dport 8080 tcp flags & rst != 0"
C hping3 -q -S -p 8080 -s 33333 -c 1 $SRV4 >/dev/null 2>&1
wait_for 5 stat_is halfopen_entries 1 ||
	fail "no half-open entry"

# The stream: 4 clients, connections back to back, for the whole test.
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 1500 -c 4 -s 32 >"$WORK/stream.out" 2>&1 &
STREAM=$!

wait_for 5 stat_ge handoff 51 ||
	fail "the stream did not start"

# 1: add a listen port and a backend, change tunables (SIGHUP).
SG_BACKENDS="{ name = \"e1\"; path = \"$WORK/e1.sock\"; mode = \"fd\"; weight = 1; },
             { name = \"e2\"; path = \"$WORK/e2.sock\"; mode = \"fd\"; weight = 1; }"
SG_LISTEN="{ address = \"$SRV4\"; port = 8080; }, { address = \"$SRV6\"; port = 8080; },
           { address = \"$SRV4\"; port = 8081; }" write_conf "$WORK/sg.conf" 8080 auto
sed -i 's/synack_retries = 5/synack_retries = 4/' "$WORK/sg.conf"
"$SYNGUARD" -t -c "$WORK/sg.conf" 2>/dev/null || fail "test config 1 is broken"
kill -HUP $SG_PID
wait_for 5 grep -q "reloaded" "$WORK/synguard.log" || fail "first reload"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8081 -n 5 >/dev/null || fail "new port 8081 not served"
e2_used() { [ "$(col e2 3)" -gt 0 ]; }
wait_for 5 e2_used ||
	fail "new backend e2 not used"

# 2: cookies always, through the control socket.
sed -i 's/cookies = "auto"/cookies = "always"/' "$WORK/sg.conf"
"$SYNGUARDCTL" -s "$WORK/control.sock" reload || fail "synguardctl reload"
# 3: drop port 8081 and backend e1 again; every worker onto its ring at
# once (rx_ring_above = 0 takes effect on reload). The stream may have
# moved the worker there already; either way, one worker is on its ring.
SG_BACKENDS="{ name = \"e2\"; path = \"$WORK/e2.sock\"; mode = \"fd\"; weight = 1; }"
write_conf "$WORK/sg.conf" 8080 auto 1024 "rx_ring_above = 0;"
kill -HUP $SG_PID
wait_for 5 sh -c "[ \$(grep -c reloaded '$WORK/synguard.log') -ge 3 ]" || fail "third reload"
[ "$(stat rx_ring_workers)" -eq 1 ] ||
	fail "after rx_ring_above = 0, $(stat rx_ring_workers) workers on the ring, want 1"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 5 >/dev/null ||
	fail "not served through the ring after the reload"

wait $STREAM || fail "connections lost during reloads: $(cat "$WORK/stream.out")"
echo "stream: $(tail -1 "$WORK/stream.out")"
[ "$(stat halfopen_entries)" -ge 1 ] || fail "the half-open entry did not survive the reloads"
client_pass norst
n=$(rst_count)
[ "$n" -eq 0 ] || fail "$n RSTs left port 8080 during the reloads"

# Started with rx_ring_above = 0, a worker has its ring alone: a reload to
# another value says a restart is needed, and no load moves it. (The
# daemon above, started otherwise, never said so.)
! grep -q "needs a restart" "$WORK/synguard.log" ||
	fail "a daemon with two taps a worker asked for a restart"
kill $SG_PID; wait $SG_PID 2>/dev/null
write_conf "$WORK/sg.conf" 8080 auto 1024 "rx_ring_above = 0;"
start_synguard "$WORK/sg.conf"
write_conf "$WORK/sg.conf" 8080 auto 1024 "rx_ring_above = 10;"
kill -HUP $SG_PID
wait_for 5 grep -q "reading frames as they come needs a restart" "$WORK/synguard.log" ||
	fail "no word that rx_ring_above = 0 holds until a restart"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 50 -c 4 >/dev/null ||
	fail "not served with the ring alone"
[ "$(stat rx_to_ring)" -eq 0 ] && [ "$(stat rx_to_plain)" -eq 0 ] ||
	fail "a worker with its ring alone moved: $(stat rx_to_ring) $(stat rx_to_plain)"
[ "$(stat rx_ring_workers)" -eq 1 ] ||
	fail "a worker with its ring alone: rx_ring_workers $(stat rx_ring_workers)"
echo "reload: all checks passed"
