#!/bin/sh
# config-check.sh -- `synguard -t` accepts the documented example and refuses
# a bad file with exit status 1 and a message naming the file, the line and
# the setting.
#
# Run by `make check`, or by hand from the source tree:
#	SG_TOP_BUILDDIR=build tests/config-check.sh
. "$(dirname "$0")/lib.sh"

[ -x "$SYNGUARD" ] || fail "$SYNGUARD not built (set SG_TOP_BUILDDIR)"
CONF=$SG_TOP_SRCDIR/tests/fixtures/conf
OUT=$(mktemp -d "${TMPDIR:-/tmp}/sg-config-check.XXXXXX") || fail "mktemp"
trap 'rm -rf "$OUT"' EXIT

# check_ok FILE: synguard -t accepts FILE and says so.
check_ok() {
	"$SYNGUARD" -t -c "$1" 2>"$OUT/err" ||
		fail "$1 rejected: $(cat "$OUT/err")"
	grep -q "test is successful" "$OUT/err" ||
		fail "$1: no success message: $(cat "$OUT/err")"
}

# check_bad FILE EXPECTED: synguard -t exits 1 and stderr holds EXPECTED.
check_bad() {
	_rc=0
	"$SYNGUARD" -t -c "$1" 2>"$OUT/err" || _rc=$?
	[ "$_rc" -eq 1 ] || fail "$1: exit status $_rc, wanted 1"
	grep -qF -- "$2" "$OUT/err" ||
		fail "$1: stderr lacks \"$2\": $(cat "$OUT/err")"
	grep -q "test failed" "$OUT/err" ||
		fail "$1: no failure message: $(cat "$OUT/err")"
}

check_ok "$SG_TOP_SRCDIR/conf/synguard.conf"
check_ok "$CONF/good-full.conf"

# A typo: the line and the setting are named, and the right name suggested.
check_bad "$CONF/typo.conf" \
	"synguard: $CONF/typo.conf:6: setting 'handshake.queue_sise': unknown"
check_bad "$CONF/typo.conf" "did you mean 'queue_size'?"

# Every other bad fixture is refused too, each with its file named.
for f in "$CONF"/*.conf; do
	case $(basename "$f") in
	good-*) continue ;;
	include-main.conf) check_bad "$f" "include-part.conf:4:" ;;
	*) check_bad "$f" "synguard: $f" ;;
	esac
done

# A missing file is an error, not a crash.
check_bad "$OUT/absent.conf" "$OUT/absent.conf: cannot read"

# The example, with one value changed, is checked again: what passes is
# what was documented, not a file that is never looked at.
sed 's/^workers = 0;/workers = 65;/' "$SG_TOP_SRCDIR/conf/synguard.conf" \
	>"$OUT/workers.conf"
check_bad "$OUT/workers.conf" "setting 'workers': 65 is out of range"

echo "PASS: config-check"
