#!/bin/sh
# The service manager's view: with NOTIFY_SOCKET pointing at a test socket,
# synguard sends READY (with the backends in STATUS), live STATUS figures,
# WATCHDOG pings from its loops, RELOADING then READY around a reload, a
# STATUS naming the file and line of a broken configuration (which leaves
# the old one running), and STOPPING, in that order.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology
start_echo echo
python3 "$TOOLS/notify-listen.py" "$WORK/notify.sock" "$WORK/notify.log" &
bg $!
wait_for 5 test -f "$WORK/notify.log.ready" || fail "notify listener"
write_conf "$WORK/sg.conf" 8080 auto
NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=1000000 start_synguard "$WORK/sg.conf"

has() { grep -q "$1" "$WORK/notify.log"; }
wait_for 5 has "READY=1" || fail "no READY=1"
grep "READY=1" "$WORK/notify.log" | head -1 | grep -q "STATUS=.*backends: echo up" ||
	fail "READY's STATUS does not say the backend is up: $(head -1 "$WORK/notify.log")"
wait_for 5 has "WATCHDOG=1" || fail "no WATCHDOG=1 within 5 s (WATCHDOG_USEC=1 s)"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 10 >/dev/null || fail "connections"
wait_for 12 has "^STATUS=[0-9]* SYN/s, [0-9]* half-open, [0-9]* cookies/s, [0-9]* handoffs/s" || fail "no periodic STATUS"

kill -HUP $SG_PID
wait_for 5 sh -c "grep -A100 RELOADING=1 '$WORK/notify.log' | grep -q READY=1" ||
	fail "no RELOADING=1 then READY=1 around SIGHUP"
grep "RELOADING=1" "$WORK/notify.log" | head -1 | grep -q "MONOTONIC_USEC=" ||
	fail "RELOADING=1 without MONOTONIC_USEC"

# A broken configuration: the old one stays, STATUS says why, with the line.
cp "$WORK/sg.conf" "$WORK/good.conf"
printf 'queue_sise = 5;\n' >>"$WORK/sg.conf"
bad=$(wc -l <"$WORK/sg.conf")   # the line just added
kill -HUP $SG_PID
wait_for 5 has "STATUS=reload failed.*sg.conf:$bad: .*queue_sise" ||
	fail "STATUS does not name the broken line: $(tail -2 "$WORK/notify.log")"
grep -q "reload failed.*sg.conf:$bad: .*queue_sise" "$WORK/synguard.log" ||
	fail "the log does not name the broken line"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 10 >/dev/null ||
	fail "the old configuration stopped serving"

kill $SG_PID
wait $SG_PID
wait_for 5 has "STOPPING=1" || fail "no STOPPING=1"

# The order: READY, WATCHDOG, RELOADING, READY, ..., STOPPING last.
order=$(awk -F'|' '{ for (i = 1; i <= NF; i++) if ($i ~ /^(READY|WATCHDOG|RELOADING|STOPPING)=1$/) print $i }' "$WORK/notify.log" | uniq | tr '\n' ' ')
echo "notifications: $order"
echo "$order" | grep -Eq '^READY=1 .*WATCHDOG=1 .*RELOADING=1 READY=1 .*STOPPING=1 $' ||
	fail "notifications out of order: $order"
echo "notify: all checks passed"
