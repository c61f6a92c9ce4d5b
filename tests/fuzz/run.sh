#!/bin/sh
# run.sh -- build the fuzz targets with clang and libFuzzer and run each
# for a bounded time; fail if any of them finds a crash, a leak, a hang or
# a broken invariant.
#
#   tests/fuzz/run.sh [TARGET...]        (default: every fuzz_*.c here)
#
# Environment:
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_OUT      build and work folder (default build-fuzz at the top)
#   CLANG         the compiler (default clang; it must have libFuzzer:
#                 Debian's libclang-rt-14-dev)
#
# The seeds in tests/fuzz/corpus/TARGET are copied to FUZZ_OUT; what
# libFuzzer finds is kept there, never in the source tree. A crashing
# input is left in FUZZ_OUT/artifacts/TARGET/: copy it to
# tests/fuzz/regress/TARGET/ once fixed, and `make check` replays it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$top/build-fuzz}
cc=${CLANG:-clang}

if [ "$#" -gt 0 ]; then
	targets="$*"
else
	targets=$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

mkdir -p "$out/obj" "$out/bin"
pc=$(pkg-config --cflags --libs libevent_core libconfig) || {
	echo "fuzz: pkg-config cannot find libevent_core and libconfig" >&2
	exit 1; }
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE
	-I$top/daemon -I$top/include -I$here
	-DSYSCONFDIR=\"/etc\" -DRUNSTATEDIR=\"/run\""
san="-fsanitize=address,undefined -fno-sanitize-recover=all"

# The daemon's pure and thin modules, instrumented for coverage; each
# target links only what it uses out of the archive.
echo "fuzz: building with $cc into $out"
objs=""
for src in codec siphash cookie config control peercred log reason halfopen; do
	o="$out/obj/$src.o"
	if [ ! -f "$o" ] || [ "$top/daemon/$src.c" -nt "$o" ] ||
	    [ -n "$(find "$top/daemon" -name '*.h' -newer "$o")" ]; then
		# shellcheck disable=SC2086
		"$cc" $cflags $san -fsanitize=fuzzer-no-link \
		    -c "$top/daemon/$src.c" -o "$o"
	fi
	objs="$objs $o"
done
rm -f "$out/obj/libsg-fuzz.a"
# shellcheck disable=SC2086
ar cr "$out/obj/libsg-fuzz.a" $objs
for t in $targets; do
	# shellcheck disable=SC2086
	"$cc" $cflags $san -fsanitize=fuzzer "$here/fuzz_$t.c" \
	    "$out/obj/libsg-fuzz.a" $pc -o "$out/bin/fuzz_$t" || {
		echo "fuzz: cannot link fuzz_$t (is libclang-rt-14-dev installed?)" >&2
		exit 1; }
done

# Leaks in libraries that are not ours; see the file.
LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

failed=""
for t in $targets; do
	corpus="$out/corpus/$t"
	art="$out/artifacts/$t"
	mkdir -p "$corpus" "$art"
	[ -d "$here/corpus/$t" ] && cp -p "$here/corpus/$t"/* "$corpus/" 2>/dev/null || true
	regress=""
	[ -d "$here/regress/$t" ] && regress="$here/regress/$t"
	dict=""
	[ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
	log="$out/$t.log"
	status=0
	# Inputs in regress/ first: a known crash must stay fixed.
	# -timeout: an input that takes over 5 s is a hang; -rss_limit_mb:
	# the machine is shared.
	# shellcheck disable=SC2086
	"$out/bin/fuzz_$t" -max_total_time="$seconds" -timeout=5 \
	    -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$art/" \
	    $dict "$corpus" $regress ${FUZZ_EXTRA:-} </dev/null >"$log" 2>&1 || status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
	if [ "$status" -ne 0 ]; then
		echo "fuzz: $t: FAILED (exit $status) after ${execs:-?} inputs; log: $log"
		grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$log" | head -10
		failed="$failed $t"
	else
		echo "fuzz: $t: ok, ${execs:-?} inputs in ${seconds} s, coverage ${cov:-?} edges, corpus $(ls "$corpus" | wc -l)"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz: crashes in:$failed (inputs in $out/artifacts)"
	exit 1
fi
echo "fuzz: no crash in $seconds s per target"
