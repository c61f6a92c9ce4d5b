#!/bin/sh
# A hostile control socket: a 1 MiB line is refused with an error, binary
# junk too; 100 idle clients get at most 64 slots (the rest are closed at
# once) and meanwhile the packet path serves connections as usual; once
# they are gone, synguardctl works again and no fd is left behind.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
CTL=$WORK/control.sock
start_echo echo
write_conf "$WORK/sg.conf" 8080 auto
start_synguard "$WORK/sg.conf"
open_xdp
fds0=$(fds)

out=$($FAULT ctl "$CTL" long)
echo "1 MiB line: $out"
case $out in "error: request too long"*) ;; *) fail "1 MiB line answered: $out" ;; esac
out=$($FAULT ctl "$CTL" junk)
echo "binary junk: $out"
case $out in "error: malformed request"*) ;; *) fail "junk answered: $out" ;; esac
"$SYNGUARDCTL" -s "$CTL" stats | grep -q "^handoff " || fail "stats after abuse"

$FAULT ctl-idle "$CTL" 100 "$WORK/idle.ready" &
IDLE=$!
bg $IDLE
wait_for 10 test -f "$WORK/idle.ready" || fail "idle clients not connected"
kept=$(cat "$WORK/idle.ready")
echo "100 idle control clients: the daemon kept $kept"
[ "$kept" -eq 64 ] || fail "kept $kept idle clients, want 64 (CONTROL_MAX_CLIENTS)"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 100 -c 4 -s 64) ||
	fail "connections while the control socket is full: $out"
echo "meanwhile, 100 connections: $out"
timeout 5 "$SYNGUARDCTL" -s "$CTL" stats >/dev/null 2>&1 &&
	fail "a 65th control client was served"

kill $IDLE
wait $IDLE 2>/dev/null
wait_for 5 sh -c "\"$SYNGUARDCTL\" -s \"$CTL\" stats | grep -q '^handoff  *100\$'" ||
	fail "stats not served once the idle clients left"
wait_for 5 sh -c "[ \$(ls /proc/$SG_PID/fd | wc -l) -eq $fds0 ]" ||
	fail "synguard has $(fds) fds, $fds0 before"
kill -0 $SG_PID || fail "synguard died"
echo "fault-control: all checks passed"
