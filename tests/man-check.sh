#!/bin/sh
# man-check.sh -- the manual pages are well-formed and complete: they pass
# `mandoc -T lint` and `groff -ww` without a message (whichever of the two
# is installed), and they name every setting config.c accepts, every
# counter of stats.h, every drop reason of reason.h, every control command
# of control.c and every option of both programs. A setting, counter or
# option added to the code without its documentation fails here.
#
# Skipped (77) only when no man page linter is installed and the pages are
# otherwise complete. Run by `make check`, or by hand from the source tree:
#	tests/man-check.sh
. "$(dirname "$0")/lib.sh"

MAN=$SG_TOP_SRCDIR/man
DAEMON=$SG_TOP_SRCDIR/daemon
PAGES="$MAN/synguard.8 $MAN/synguard.conf.5 $MAN/synguardctl.8"
for p in $PAGES; do
	[ -r "$p" ] || fail "$p is missing"
done

# has_item PAGE WORD MACRO: PAGE has a list item ".It ... MACRO WORD",
# the way every setting, counter and reason is introduced.
has_item() {
	grep -Eq "^\.It (.* )?$3 $2( |,|\$)" "$1"
}

# has_section PAGE NAME: PAGE has the section ".Sh NAME".
has_section() {
	grep -qx "\.Sh $2" "$1"
}

# Sections every page has, and those of each page.
for p in $PAGES; do
	for s in NAME DESCRIPTION FILES EXAMPLES "SEE ALSO"; do
		has_section "$p" "$s" || fail "${p##*/}: no section $s"
	done
done
for s in SYNOPSIS OPTIONS "HOW IT WORKS" BACKENDS SIGNALS SECURITY \
    "EXIT STATUS"; do
	has_section "$MAN/synguard.8" "$s" || fail "synguard.8: no section $s"
done
for s in SYNOPSIS OPTIONS COMMANDS COUNTERS "DROP REASONS" PROTOCOL \
    "EXIT STATUS"; do
	has_section "$MAN/synguardctl.8" "$s" ||
		fail "synguardctl.8: no section $s"
done
for x in sd_notify.3 systemd.service.5 tcp.7 packet.7; do
	grep -q "^\.Xr ${x%.*} ${x##*.}" "$MAN/synguard.8" ||
		fail "synguard.8: SEE ALSO lacks ${x%.*}(${x##*.})"
done

# Every setting config.c knows (its field tables) is an item of
# synguard.conf(5).
settings=$(sed -n 's/.*F_[A-Z]*("\([a-z_]*\)".*/\1/p' "$DAEMON/config.c")
[ "$(echo "$settings" | wc -w)" -ge 19 ] ||
	fail "found only $(echo "$settings" | wc -w) settings in config.c"
for s in $settings; do
	has_item "$MAN/synguard.conf.5" "$s" Ic ||
		fail "synguard.conf.5 does not document the setting $s"
done

# Every counter and gauge (stats.h) and drop reason (reason.h) is an item
# of synguardctl(8).
counters=$(sed -n 's/^[[:space:]]*X(\([a-z_0-9]*\),.*/\1/p' "$DAEMON/stats.h")
[ -n "$counters" ] || fail "found no counters in stats.h"
for c in $counters; do
	has_item "$MAN/synguardctl.8" "$c" Li ||
		fail "synguardctl.8 does not document the counter or gauge $c"
done
reasons=$(sed -n 's/.*X([A-Z0-9_]*, "\([a-z0-9_]*\)").*/\1/p' "$DAEMON/reason.h")
[ -n "$reasons" ] || fail "found no drop reasons in reason.h"
for r in $reasons; do
	[ "$r" = none ] && continue
	has_item "$MAN/synguardctl.8" "$r" Li ||
		fail "synguardctl.8 does not document the drop reason $r"
done

# Every request the control socket answers (control.c) is in PROTOCOL.
cmds=$(grep -o 'IS("[a-z ]*")' "$DAEMON/control.c" | sed 's/IS("\(.*\)")/\1/' |
	tr ' ' '_')
[ -n "$cmds" ] || fail "found no control commands in control.c"
for c in $cmds; do
	c=$(echo "$c" | tr '_' ' ')
	grep -Eq "^\.Li $c( [,.])?\$" "$MAN/synguardctl.8" ||
		fail "synguardctl.8 does not document the request '$c'"
done

# Every option of each program (its getopt string and long options).
# check_opts PAGE SOURCE
check_opts() {
	_getopt=$(sed -n 's/.*getopt[_a-z]*(argc, argv, "\([^"]*\)".*/\1/p' "$2")
	[ -n "$_getopt" ] || fail "${2##*/}: no getopt string found"
	for _o in $(echo "$_getopt" | tr -d ':+' | sed 's/./& /g'); do
		grep -Eq "^\.It Fl $_o( |\$)" "$1" ||
			fail "${1##*/} does not document the option -$_o"
	done
	for _o in $(sed -n 's/.*{"\([a-z-]*\)", [a-z_]*_argument.*/\1/p' "$2"); do
		grep -Eq "^\.It (.* )?Fl -$_o( |\$)" "$1" ||
			fail "${1##*/} does not document the option --$_o"
	done
}
check_opts "$MAN/synguard.8" "$DAEMON/main.c"
check_opts "$MAN/synguardctl.8" "$DAEMON/synguardctl.c"

# The linters: any message at all is a failure.
linted=0
if command -v mandoc >/dev/null 2>&1; then
	for p in $PAGES; do
		out=$(mandoc -T lint -W warning "$p" 2>&1) ||
			fail "mandoc -T lint ${p##*/}: $out"
		[ -z "$out" ] || fail "mandoc -T lint ${p##*/}: $out"
	done
	linted=1
fi
if command -v groff >/dev/null 2>&1; then
	for p in $PAGES; do
		out=$(groff -mandoc -ww -z "$p" 2>&1) ||
			fail "groff ${p##*/}: $out"
		[ -z "$out" ] || fail "groff -ww ${p##*/}: $out"
	done
	linted=1
fi
if [ "$linted" = 0 ]; then
	echo "SKIP: no man page linter (install mandoc or groff-base)"
	exit 77
fi
echo "man-check: 3 pages complete and lint-free"
