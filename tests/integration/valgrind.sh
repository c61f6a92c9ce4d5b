#!/bin/sh
# SIGTERM stops synguard cleanly: under valgrind, after serving connections
# on both families and a reload, it exits 0 with no memory error, no leak
# and no descriptor left open but the standard three.
. "$(dirname "$0")/../lib.sh"
command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
case " ${SAN_CFLAGS:-} $(cat "$SG_TOP_BUILDDIR/config.log" 2>/dev/null | grep -m1 '^SAN_CFLAGS=') " in
*fsanitize*) echo "SKIP: a sanitizer build does not run under valgrind"; exit 77 ;;
esac
sandbox "$@"
topology
start_echo echo
write_conf "$WORK/sg.conf" 8080 auto
ip netns exec srv valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--track-fds=yes --log-file="$WORK/valgrind.log" \
	"$SYNGUARD" -f -c "$WORK/sg.conf" >>"$WORK/synguard.log" 2>&1 &
SG_PID=$!
wait_for 60 "$SYNGUARDCTL" -s "$WORK/control.sock" stats >/dev/null ||
	{ cat "$WORK/synguard.log" "$WORK/valgrind.log"; fail "synguard did not start under valgrind"; }
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 20 -c 2 >/dev/null || fail "IPv4 connections"
C python3 "$TOOLS/sgclient.py" echo $SRV6 8080 -n 20 -c 2 >/dev/null || fail "IPv6 connections"
kill -HUP $SG_PID
wait_for 30 grep -q reloaded "$WORK/synguard.log" || fail "reload"
kill $SG_PID
wait $SG_PID
rc=$?
grep -q "stopped" "$WORK/synguard.log" || fail "no clean stop in the log"
[ "$rc" -eq 0 ] || { cat "$WORK/valgrind.log"; fail "exit status $rc under valgrind"; }
# --track-fds: every descriptor still open at exit must be one synguard
# inherited, none it opened itself.
own=$(awk '/Open .*descriptor/ { d = $0; getline; if ($0 !~ /inherited from parent/) print d }' "$WORK/valgrind.log")
[ -z "$own" ] || { cat "$WORK/valgrind.log"; fail "descriptors left open at exit: $own"; }
grep -q "FILE DESCRIPTORS" "$WORK/valgrind.log" || fail "valgrind did not report descriptors"
echo "valgrind: exit 0, no errors, no leaks, no descriptor of its own left open"
