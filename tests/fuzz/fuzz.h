/*
 * fuzz.h -- what every fuzz target in tests/fuzz defines, and the check
 * they use to state an invariant.
 *
 * Each fuzz_*.c is built twice: with libFuzzer (clang -fsanitize=fuzzer,
 * by tests/fuzz/run.sh, `make fuzz`), and with replay.c, a main() that
 * feeds it files, so that the seeds and every input that ever crashed a
 * target are replayed by `make check` (tests/fuzz-regress.sh).
 *
 * A target must never keep state from one input to the next that changes
 * what the next one does, never leak memory or a descriptor, and never
 * write outside its own temporary directory.
 */
#ifndef SG_FUZZ_H
#define SG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input, by libFuzzer and by replay.c, if the
 * target defines it (weak, as libFuzzer declares it). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Called for each input; returns 0, or -1 for an input not worth keeping. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant: when it does not hold, say which and abort (a "crash"). */
#define FUZZ_CHECK(cond)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",    \
			    __FILE__, __LINE__, #cond);                     \
			abort();                                            \
		}                                                           \
	} while (0)

/* Reads an input field by field; past the end every byte reads as 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* The next byte of the input, or 0 past its end. */
static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	return in->off < in->len ? in->p[in->off++] : 0;
}

/* The next 16 bits, big-endian. */
static inline uint16_t
fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = (uint16_t)(fuzz_u8(in) << 8);

	return (uint16_t)(v | fuzz_u8(in));
}

/* The next 32 bits, big-endian. */
static inline uint32_t
fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = (uint32_t)fuzz_u16(in) << 16;

	return v | fuzz_u16(in);
}

/* The next n bytes into buf. */
static inline void
fuzz_bytes(struct fuzz_in *in, void *buf, size_t n)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < n; i++)
		b[i] = fuzz_u8(in);
}

#endif
