#!/bin/sh
# synguard killed with SIGKILL under load and started again with the same
# cookie_key_file (cookies = "always"):
#  - a handshake whose SYN-ACK came from the old process completes with the
#    new one: the client's final ACK is held back by nftables, so its first
#    data segment, sent after the restart, completes it (RFC 4987 3.6);
#  - a connection handed off before the kill lives on (it is the backend's
#    kernel socket) and the new shadow listener binds beside it;
#  - with another key the same trick fails: the cookie is what carried it.
. "$(dirname "$0")/../lib.sh"
sandbox "$@"
topology

head -c 16 /dev/urandom >"$WORK/key"
chmod 0600 "$WORK/key"
start_echo echo
SG_KEYFILE=$WORK/key write_conf "$WORK/sg.conf" 8080 always
start_synguard "$WORK/sg.conf"

# An old connection, handed off and echoing; it waits for old.go.
$CFAULT pending $SRV4 8080 "$WORK/old.ready" "$WORK/old.go" --echo-first --timeout 20 &
OLD=$!
bg $OLD
wait_for 5 test -f "$WORK/old.ready" || fail "old connection not established"

# A pending handshake: SYN-ACK from this process, bare ACK dropped.
client_drop noack "tcp dport 8080 tcp flags == ack"
$CFAULT pending $SRV4 8080 "$WORK/new.ready" "$WORK/new.go" --timeout 20 &
NEW=$!
bg $NEW
wait_for 5 test -f "$WORK/new.ready" || fail "pending handshake not made"
h0=$(stat handoff)

# Load while it dies: these may fail (SYNs meet no listener meanwhile).
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 400 -c 4 -s 64 --timeout 3 >"$WORK/load.out" 2>&1 &
LOAD=$!
bg $LOAD
wait_for 5 stat_ge handoff $((h0 + 20)) || fail "load did not start"
kill -9 $SG_PID
wait $SG_PID 2>/dev/null
start_synguard "$WORK/sg.conf"
wait $LOAD
echo "load across the SIGKILL and restart: $(tail -1 "$WORK/load.out")"

client_pass noack
: >"$WORK/new.go"
wait $NEW || fail "the handshake begun before the restart did not complete after it"
[ "$(stat cookie_valid)" -ge 1 ] || fail "no cookie validated by the new process"
: >"$WORK/old.go"
wait $OLD || fail "the connection handed off before the kill broke"
echo "after SIGKILL and restart: the pending handshake completed; the old connection lives"
out=$(C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 50 -c 2 -s 64) ||
	fail "after the restart: $out"

# Control: another key. The pending handshake's data is an invalid cookie.
client_drop noack "tcp dport 8080 tcp flags == ack"
$CFAULT pending $SRV4 8080 "$WORK/ctl.ready" "$WORK/ctl.go" --timeout 2 &
CTLP=$!
bg $CTLP
wait_for 5 test -f "$WORK/ctl.ready" || fail "pending handshake not made"
kill -9 $SG_PID
wait $SG_PID 2>/dev/null
head -c 16 /dev/urandom >"$WORK/key"
start_synguard "$WORK/sg.conf"
client_pass noack
: >"$WORK/ctl.go"
wait $CTLP && fail "a cookie from another key was accepted"
[ "$(stat cookie_invalid)" -ge 1 ] || fail "no invalid cookie counted"
echo "fault-restart: all checks passed"
