#!/bin/sh
# The XDP program (xdp_interfaces) on a veth pair, with real kernel clients
# and a bounded hping3 flood: it answers SYNs in the receive path, the ACKs
# it leads to complete through the workers' cookie check and the
# connections reach the echo backend (IPv4 and IPv6); with xdp_above it
# comes on under a SYN flood, and under an ACK flood, and goes off after
# each, when the workers answer again; it leaves the interface when the daemon stops, even by SIGKILL;
# a second program on the same interface is refused with a clear error.
#
# Loading a BPF program needs CAP_BPF in the initial user namespace: the
# test runs as real root in its own network, mount and PID namespaces
# (SG_SANDBOX_ROOT), and skips where that is not to be had.
. "$(dirname "$0")/../lib.sh"
[ -x "$SYNGUARD" ] || fail "no daemon at $SYNGUARD"
[ -f "$XDP_PASS_OBJ" ] || { echo "SKIP: built without the XDP program"; exit 77; }
can_bpf || { echo "SKIP: needs root with CAP_BPF (loading an XDP program)"; exit 77; }
SG_SANDBOX_ROOT=1 sandbox "$@"
can_bpf || { echo "SKIP: the sandbox kept no CAP_BPF"; exit 77; }
topology
xdp_client
start_echo echo

# 1. Always on (xdp_above = 0): every SYN is answered in the receive path.
write_conf "$WORK/sg.conf" 8080 auto 1024 \
	'xdp_interfaces = [ "veth-s" ]; xdp_above = 0;'
start_synguard "$WORK/sg.conf"
xdp_on veth-s || fail "no XDP program on veth-s"
grep -q "XDP program attached to 1 interface; it answers SYNs always" \
	"$WORK/synguard.log" || fail "no start-up line about the XDP program"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 50 -c 5 ||
	fail "IPv4 clients through the XDP program"
C python3 "$TOOLS/sgclient.py" echo $SRV6 8080 -n 50 -c 5 ||
	fail "IPv6 clients through the XDP program"
wait_for 5 stat_ge handoff 100 || fail "handoff $(stat handoff), want 100"
stat_ge xdp_answered 100 || fail "xdp_answered $(stat xdp_answered)"
stat_is syn_received 0 || fail "the workers saw SYNs: $(stat syn_received)"
stat_ge cookie_valid 100 || fail "cookie_valid $(stat cookie_valid)"
echo "ok: 100 clients answered in XDP, handed off (xdp_answered $(stat xdp_answered))"

# A reload that moves the port moves the program's listen entry with it.
_x0=$(stat xdp_answered)
write_conf "$WORK/sg.conf" 8090 auto 1024 \
	'xdp_interfaces = [ "veth-s" ]; xdp_above = 0;'
"$SYNGUARDCTL" -s "$WORK/control.sock" reload || fail "reload"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8090 -n 10 ||
	fail "clients on the reloaded port"
stat_ge xdp_answered $((_x0 + 10)) ||
	fail "the reloaded port not answered in XDP: $(stat xdp_answered)"
echo "ok: a reload moved the program to port 8090"

# A second program on the same interface is refused, and says why.
write_conf "$WORK/sg2.conf" 8081 auto 1024 \
	'xdp_interfaces = [ "veth-s" ];'
sed -i "s|$WORK/control.sock|$WORK/control2.sock|" "$WORK/sg2.conf"
if S "$SYNGUARD" -f -c "$WORK/sg2.conf" >"$WORK/second.log" 2>&1; then
	fail "a second daemon attached to the same interface"
fi
grep -q "cannot attach to veth-s" "$WORK/second.log" ||
	{ cat "$WORK/second.log"; fail "no clear error for a taken interface"; }
xdp_on veth-s || fail "the refused daemon took the first one's program off"
echo "ok: a second program on veth-s refused: $(grep -o 'cannot attach.*' "$WORK/second.log" | head -1)"

# A clean stop takes the program off.
kill "$SG_PID"
wait_for 5 xdp_off veth-s ||
	fail "the program stayed on veth-s after the daemon stopped"
wait "$SG_PID" 2>/dev/null

# 2. xdp_above: on under a flood, off after it.
write_conf "$WORK/sg.conf" 8080 auto 1024 \
	'xdp_interfaces = [ "veth-s" ]; xdp_above = 5000;'
start_synguard "$WORK/sg.conf"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 20 || fail "calm clients"
stat_is xdp_answered 0 || fail "answered in XDP while calm: $(stat xdp_answered)"
stat_ge syn_received 20 || fail "the workers did not answer while calm"
stat_ge xdp_passed 20 || fail "xdp_passed $(stat xdp_passed)"
# 60,000 SYNs at about 30,000 a second, from random sources; the client
# host, which holds none of their addresses, drops their SYN-ACKs.
C timeout 10 hping3 -q -S -p 8080 --rand-source -i u30 -c 60000 $SRV4 \
	>/dev/null 2>&1 &
_flood=$!
wait_for 10 grep -q "segment rate above xdp_above" "$WORK/synguard.log" ||
	fail "the program did not come on under the flood"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 50 -c 5 ||
	fail "clients during the flood"
wait "$_flood"
wait_for 5 grep -q "segment rate low again" "$WORK/synguard.log" ||
	fail "the program did not go off after the flood"
stat_ge xdp_answered 1000 || fail "xdp_answered $(stat xdp_answered)"
_s0=$(stat syn_received) _x0=$(stat xdp_answered)
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 10 || fail "calm again"
stat_ge syn_received $((_s0 + 10)) || fail "the workers did not take SYNs again"
stat_is xdp_answered "$_x0" || fail "XDP still answering after the flood"
echo "ok: on under a SYN flood (xdp_answered $_x0), off after it"

# An ACK flood turns it on too: the workers are busy with the flood, and
# the clients' SYNs are answered in XDP meanwhile.
C timeout 10 hping3 -q -A -p 8080 --rand-source -i u30 -c 60000 $SRV4 \
	>/dev/null 2>&1 &
_flood=$!
wait_for 10 sh -c "[ \$(grep -c 'segment rate above xdp_above' \
	'$WORK/synguard.log') -ge 2 ]" || fail "not on under the ACK flood"
_x1=$(stat xdp_answered)
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 20 -c 2 ||
	fail "clients during the ACK flood"
wait "$_flood"
stat_ge xdp_answered $((_x1 + 20)) ||
	fail "SYNs not answered in XDP during the ACK flood: $(stat xdp_answered)"
wait_for 5 sh -c "[ \$(grep -c 'segment rate low again' \
	'$WORK/synguard.log') -ge 2 ]" || fail "not off after the ACK flood"
echo "ok: on under an ACK flood too"

# An interface that goes away takes the program with it, and the log says
# so; the others keep it.
S ip link add sgdummy0 type veth peer name sgdummy1 && S ip link set sgdummy0 up ||
	fail "cannot make a second veth pair"
kill "$SG_PID"; wait "$SG_PID" 2>/dev/null
write_conf "$WORK/sg.conf" 8080 auto 1024 \
	'xdp_interfaces = [ "veth-s", "sgdummy0" ]; xdp_above = 0;'
start_synguard "$WORK/sg.conf"
xdp_on sgdummy0 || fail "not on sgdummy0"
S ip link del sgdummy0
wait_for 5 grep -q "sgdummy0 is gone" "$WORK/synguard.log" ||
	fail "no word of the interface that went"
C python3 "$TOOLS/sgclient.py" echo $SRV4 8080 -n 10 ||
	fail "clients after the other interface went"
xdp_on veth-s || fail "the program left veth-s too"
echo "ok: an interface that went is said, the rest keep the program"

# SIGKILL: the kernel takes the program off with the daemon's last fd.
kill -9 "$SG_PID"
wait_for 5 xdp_off veth-s ||
	fail "the program stayed on veth-s after SIGKILL"
# Its listening sockets can outlive the link for a moment: until it is
# reaped, a new daemon may find the port taken.
wait "$SG_PID" 2>/dev/null
echo "ok: off the interface after SIGKILL"

# As systemd runs it (User=, AmbientCapabilities= with CAP_BPF): not
# root, the capabilities ambient; once the program is on, it gives CAP_BPF
# up and keeps the three it works with, and the program still answers.
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	chmod 0755 "$WORK"
	mkdir "$WORK/run" && chown nobody "$WORK/run"
	chmod 0777 "$WORK/echo.sock"
	write_conf "$WORK/user.conf" 8097 auto 1024 \
		'xdp_interfaces = [ "veth-s" ]; xdp_above = 0;'
	sed -i "s|$WORK/control.sock|$WORK/run/control.sock|" "$WORK/user.conf"
	_caps=+net_raw,+net_admin,+net_bind_service,+bpf
	ip netns exec srv setpriv --reuid=nobody --regid="$(id -g nobody)" \
		--clear-groups --inh-caps=$_caps --ambient-caps=$_caps \
		"$SYNGUARD" -f -c "$WORK/user.conf" >"$WORK/user.log" 2>&1 &
	_upid=$!
	bg $_upid
	wait_for 10 "$SYNGUARDCTL" -s "$WORK/run/control.sock" stats \
		>/dev/null || { cat "$WORK/user.log"; fail "did not start as nobody"; }
	_eff=$(awk '/^CapEff/ { print $2 }' /proc/$_upid/status)
	[ $(((0x$_eff >> 39) & 1)) = 0 ] || fail "kept CAP_BPF: CapEff $_eff"
	[ $(((0x$_eff >> 12) & 1)) = 1 ] || fail "lost CAP_NET_ADMIN: CapEff $_eff"
	C python3 "$TOOLS/sgclient.py" echo $SRV4 8097 -n 10 ||
		fail "clients to the daemon run as nobody"
	_xa=$("$SYNGUARDCTL" -s "$WORK/run/control.sock" stats |
		awk '$1 == "xdp_answered" { print $2 }')
	[ "$_xa" -ge 10 ] || fail "as nobody: xdp_answered $_xa"
	kill $_upid; wait $_upid 2>/dev/null
	echo "ok: run as nobody with ambient capabilities, CAP_BPF given up (CapEff $_eff)"
fi

# Refused at start, with a reason: an interface that is not Ethernet, and
# one with a VLAN on top (its frames would reach the program untagged).
S ip tuntap add dev sgtun0 mode tun && S ip link set sgtun0 up ||
	fail "cannot make a tun interface"
write_conf "$WORK/bad.conf" 8095 auto 1024 'xdp_interfaces = [ "sgtun0" ];'
sed -i "s|$WORK/control.sock|$WORK/control3.sock|" "$WORK/bad.conf"
S "$SYNGUARD" -f -c "$WORK/bad.conf" >"$WORK/bad.log" 2>&1 &&
	fail "started on a tun interface"
grep -q "sgtun0 is not an Ethernet interface" "$WORK/bad.log" ||
	{ cat "$WORK/bad.log"; fail "no reason given for the tun interface"; }
if S ip link add link veth-s name veth-s.5 type vlan id 5 2>/dev/null; then
	write_conf "$WORK/bad.conf" 8095 auto 1024 \
		'xdp_interfaces = [ "veth-s" ];'
	sed -i "s|$WORK/control.sock|$WORK/control3.sock|" "$WORK/bad.conf"
	S "$SYNGUARD" -f -c "$WORK/bad.conf" >"$WORK/bad.log" 2>&1 &&
		fail "started on an interface that carries a VLAN"
	grep -q "veth-s carries VLANs" "$WORK/bad.log" ||
		{ cat "$WORK/bad.log"; fail "no reason given for the VLAN"; }
	echo "ok: refused a tun interface and one carrying a VLAN"
else
	echo "ok: refused a tun interface (no VLAN support here to try)"
fi
