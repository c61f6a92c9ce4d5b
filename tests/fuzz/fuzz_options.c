/*
 * fuzz_options.c -- fuzz target: a TCP options area through
 * codec_parse_options (the input is the area, any length, even more than
 * the 40 bytes a real header can hold).
 *
 * Invariants: only known option flags are reported; a field is set only
 * with its flag; wscale is never above 14 (RFC 7323 2.3); the result does
 * not depend on bytes after an EOL; and a segment built by codec_build with
 * the parsed options (the SYN-ACK layout Linux uses) parses back into the
 * same options.
 */
#include <string.h>
#include <sys/socket.h>

#include "codec.h"
#include "fuzz.h"

#define OPT_KNOWN (SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS)

/* Build a SYN-ACK carrying o and parse its options back. */
static void
round_trip(const struct sg_tcpopts *o)
{
	static const uint8_t a[4] = {198, 18, 0, 1}, b[4] = {198, 18, 0, 2};
	struct sg_reply r;
	struct sg_tcpopts back;
	uint8_t buf[SG_REPLY_MAX];
	size_t n, doff;

	memset(&r, 0, sizeof(r));
	tuple_init_v4(&r.tuple, b, 40000, a, 443);
	r.flags = SG_TCP_SYN | SG_TCP_ACK;
	r.opts = *o;
	n = codec_build(&r, buf, sizeof(buf));
	FUZZ_CHECK(n >= 40);
	doff = (size_t)(buf[20 + 12] >> 4) * 4;
	FUZZ_CHECK(doff >= 20 && 20 + doff == n && doff % 4 == 0);
	FUZZ_CHECK(codec_parse_options(buf + 40, doff - 20, &back) ==
	    SG_R_NONE);
	FUZZ_CHECK(memcmp(&back, o, sizeof(back)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t junk[] = {0, 2, 1, 3, 3, 0xff};
	struct sg_tcpopts o, more;
	enum sg_reason r;
	uint8_t *ext;

	r = codec_parse_options(data, size, &o);
	FUZZ_CHECK(r == SG_R_NONE || r == SG_R_OPT_TRUNCATED ||
	    r == SG_R_OPT_BAD_LEN);
	if (r != SG_R_NONE)
		return 0;
	FUZZ_CHECK((o.flags & ~OPT_KNOWN) == 0);
	FUZZ_CHECK(o.wscale <= 14);
	if (!(o.flags & SG_OPT_MSS))
		FUZZ_CHECK(o.mss == 0);
	if (!(o.flags & SG_OPT_WSCALE))
		FUZZ_CHECK(o.wscale == 0);
	if (!(o.flags & SG_OPT_TS))
		FUZZ_CHECK(o.tsval == 0 && o.tsecr == 0);

	/* An EOL ends the list (RFC 9293 3.2): a parse that succeeded ended
	 * on an option boundary, so an EOL put there, and junk after it,
	 * change nothing. */
	if ((ext = malloc(size + sizeof(junk))) != NULL) {
		if (size > 0)
			memcpy(ext, data, size);
		memcpy(ext + size, junk, sizeof(junk));
		FUZZ_CHECK(codec_parse_options(ext, size + sizeof(junk), &more) ==
		    SG_R_NONE);
		FUZZ_CHECK(memcmp(&more, &o, sizeof(o)) == 0);
		free(ext);
	}

	round_trip(&o);
	return 0;
}
