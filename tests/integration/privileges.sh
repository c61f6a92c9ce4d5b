#!/bin/sh
# Started as root without ambient capabilities, synguard opens what it needs
# and then runs as `user`, with only CAP_NET_RAW, CAP_NET_ADMIN and
# CAP_NET_BIND_SERVICE, and no_new_privs set; and it still materializes and
# hands off connections. Needs real root (a user namespace maps no second
# user to become), so it runs in its own network, mount and PID namespaces.
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
cat >"$WORK/sg.conf" <<EOC
listen = ( { address = "127.0.0.1"; port = 80; } );
workers = 2;
backends = ( { name = "echo"; path = "$WORK/run/echo.sock"; mode = "fd"; weight = 1; } );
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
kill $SG_PID
wait $SG_PID || fail "synguard exited with $?"
echo "privileges: uid nobody, CapEff 3400 in every thread, no_new_privs; all checks passed"
