#!/bin/sh
# unit-security.sh -- systemd/synguard.service passes `systemd-analyze
# verify` without a complaint and `systemd-analyze security` rates its
# exposure at most SG_MAX_EXPOSURE (2.0, "OK"). Skipped (77) where
# systemd-analyze is missing.
#
# Run by `make check`, by `make check-unit` (which shows both reports), or
# by hand: SG_TOP_SRCDIR=. tests/unit-security.sh
set -eu
SRC=${SG_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
MAX=${SG_MAX_EXPOSURE:-2.0}
VERBOSE=${SG_VERBOSE:-0}

fail() { echo "FAIL: unit-security: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || {
	echo "SKIP: systemd-analyze not found (apt-get install systemd)"
	exit 77
}
IN=$SRC/systemd/synguard.service.in
[ -f "$IN" ] || fail "$IN missing"

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-unit.XXXXXX") || fail mktemp
trap 'rm -rf "$T"' EXIT
# verify insists that the programs a unit runs exist: stand-ins do, here.
mkdir -p "$T/sbin" "$T/etc" "$T/unit"
for p in synguard synguardctl; do
	printf '#!/bin/sh\nexit 0\n' > "$T/sbin/$p"
	chmod 755 "$T/sbin/$p"
done
sed -e "s|@sbindir@|$T/sbin|g" -e "s|@sysconfdir@|$T/etc|g" "$IN" \
    > "$T/unit/synguard.service"
U=$T/unit/synguard.service
grep -q '@[a-z]*@' "$U" && fail "unsubstituted @variable@ left in the unit"

# verify: any output at all is a finding (it prints nothing when clean).
systemd-analyze verify --man=no "$U" > "$T/verify" 2>&1 ||
	fail "systemd-analyze verify failed: $(cat "$T/verify")"
[ ! -s "$T/verify" ] || fail "systemd-analyze verify: $(cat "$T/verify")"
[ "$VERBOSE" = 1 ] && echo "systemd-analyze verify: clean"

# security: the last line is "-> Overall exposure level for X: N.N OK :-)".
systemd-analyze security --offline=true --no-pager "$U" > "$T/security" 2>&1 ||
	true  # it exits non-zero when the score is above --threshold (100)
[ "$VERBOSE" = 1 ] && cat "$T/security"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
    "$T/security")
[ -n "$score" ] || fail "no exposure level in: $(cat "$T/security")"
awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
	fail "exposure $score is above $MAX: $(grep '✗' "$T/security")"
echo "PASS: unit-security: verify clean, exposure $score (at most $MAX)"
