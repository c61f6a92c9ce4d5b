#!/bin/sh
# fuzz-regress.sh -- replay every fuzz target's seeds (tests/fuzz/corpus)
# and every input that once made one fail (tests/fuzz/regress) through the
# targets built without libFuzzer (tests/fuzz/replay-*), so that what the
# fuzzer found stays fixed. Takes a second or two; the fuzzing itself is
# `make fuzz` (tests/fuzz/run.sh).
set -eu
src=${SG_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${SG_TOP_BUILDDIR:-$src}
LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

rc=0
for t in codec options cookie config handoff control; do
	bin="$build/tests/fuzz/replay-$t"
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin not built"
		rc=1
		continue
	fi
	dirs="$src/tests/fuzz/corpus/$t"
	[ -d "$src/tests/fuzz/regress/$t" ] && dirs="$dirs $src/tests/fuzz/regress/$t"
	# Every input file must exist and be replayed; replay fails otherwise.
	# shellcheck disable=SC2086
	if out=$("$bin" $dirs 2>&1); then
		echo "ok $t: $out"
	else
		echo "FAIL $t:"
		echo "$out" | tail -20
		rc=1
	fi
done
exit $rc
