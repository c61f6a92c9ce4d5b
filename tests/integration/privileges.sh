#!/bin/sh
# Started as root without ambient capabilities, synguard opens what it needs
# and then runs as `user`, with only CAP_NET_RAW, CAP_NET_ADMIN and
# CAP_NET_BIND_SERVICE, and no_new_privs set; and it still materializes and
# hands off connections. Needs real root (a user namespace maps no second
# user to become), so it runs in its own network, mount and PID namespaces.
# Also the access checks: a backend whose process is not its allowed_uid is
# never used, and the control socket refuses users who are neither root,
# synguard's user, nor in the socket's group.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
if [ -z "${SG_IN_ROOTNS:-}" ]; then
	SG_IN_ROOTNS=1 exec unshare -nmpf --mount-proc --propagation private "$0" "$@"
fi
ip link set lo up
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sgtest.XXXXXX")
chmod 0755 "$WORK"
mkdir "$WORK/run" && chown nobody "$WORK/run"
trap 'rm -rf "$WORK"' EXIT
# The backend runs as nobody too: its socket is nobody's.
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$ECHO_BACKEND" "$WORK/run/echo.sock" >"$WORK/echo.log" 2>&1 &
wait_for 5 test -S "$WORK/run/echo.sock" || fail "echo backend"
# An impostor: a backend run by nobody where only uid 1 is allowed.
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$ECHO_BACKEND" "$WORK/run/impostor.sock" >"$WORK/impostor.log" 2>&1 &
wait_for 5 test -S "$WORK/run/impostor.sock" || fail "impostor backend"
NOBODY=$(id -u nobody)
cat >"$WORK/sg.conf" <<EOC
listen = ( { address = "127.0.0.1"; port = 80; } );
workers = 2;
backends = ( { name = "echo"; path = "$WORK/run/echo.sock"; allowed_uid = $NOBODY; },
             { name = "impostor"; path = "$WORK/run/impostor.sock"; allowed_uid = 1; weight = 5; } );
control_socket = "$WORK/run/control.sock";
user = "nobody"; log_level = "info";
EOC
# Root with no ambient capabilities, as a plain `sudo synguard` would be.
setpriv --inh-caps=-all --ambient-caps=-all "$SYNGUARD" -f -c "$WORK/sg.conf" \
	>"$WORK/synguard.log" 2>&1 &
SG_PID=$!
wait_for 10 "$SYNGUARDCTL" -s "$WORK/run/control.sock" stats >/dev/null ||
	{ cat "$WORK/synguard.log"; fail "synguard did not start"; }

st=/proc/$SG_PID/status
uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' $st)
[ "$uid" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ] ||
	fail "uids are '$uid', not nobody's"
for t in /proc/$SG_PID/task/*; do
	eff=$(awk '/^CapEff:/ { print $2 }' $t/status)
	prm=$(awk '/^CapPrm:/ { print $2 }' $t/status)
	bnd=$(awk '/^CapBnd:/ { print $2 }' $t/status)
	[ "$eff" = 0000000000003400 ] && [ "$prm" = 0000000000003400 ] &&
	[ "$bnd" = 0000000000003400 ] ||
		fail "thread $(basename $t): CapEff $eff CapPrm $prm CapBnd $bnd, want 3400"
done
[ "$(awk '/^NoNewPrivs:/ { print $2 }' $st)" = 1 ] || fail "no_new_privs not set"
grep -q "running as nobody" "$WORK/synguard.log" || fail "no log line for the drop"

# Still does its job on a privileged port, from every worker.
python3 "$TOOLS/sgclient.py" echo 127.0.0.1 80 -n 40 -c 4 >/dev/null ||
	fail "no connection through the unprivileged daemon"
[ "$("$SYNGUARDCTL" -s "$WORK/run/control.sock" stats | awk '$1 == "handoff" { print $2 }')" -eq 40 ] ||
	fail "handoffs not counted"
"$SYNGUARDCTL" -s "$WORK/run/control.sock" backends >"$WORK/backends.txt"
awk '$1 == "echo" && $3 == 40' "$WORK/backends.txt" | grep -q . ||
	fail "the allowed backend did not get all 40: $(cat "$WORK/backends.txt")"
awk '$1 == "impostor" && $2 == "down" && $3 == 0' "$WORK/backends.txt" | grep -q . ||
	fail "the impostor backend was used: $(cat "$WORK/backends.txt")"
grep -q "impostor.*served by uid $NOBODY, not allowed_uid 1" "$WORK/synguard.log" ||
	fail "no log line for the impostor"

# The control socket: nobody (synguard's user) may; user "daemon" (uid 1,
# in no group of the socket) may not, even with the mode opened wide.
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$SYNGUARDCTL" -s "$WORK/run/control.sock" stats >/dev/null ||
	fail "synguard's own user was refused"
chmod 0666 "$WORK/run/control.sock"
out=$(setpriv --reuid=1 --regid=1 --clear-groups \
	"$SYNGUARDCTL" -s "$WORK/run/control.sock" stats 2>&1) &&
	fail "uid 1 was let in: $out"
echo "$out" | grep -q "permission denied" || fail "uid 1 got no clear refusal: $out"
kill $SG_PID
wait $SG_PID || fail "synguard exited with $?"
echo "privileges: uid nobody, CapEff 3400 in every thread, no_new_privs, allowed_uid and control access enforced; all checks passed"
