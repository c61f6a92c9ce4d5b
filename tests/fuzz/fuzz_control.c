/*
 * fuzz_control.c -- fuzz target: a request line on the control socket,
 * through control_handle with stand-in daemon operations.
 *
 * The input is the line as on_client_read passes it: any bytes, NUL
 * included, without the newline, at most CONTROL_LINE_MAX + 1 (longer
 * lines never reach control_handle). The stand-ins' answers are drawn from
 * the input too, so hostile backend names and reload messages are tried.
 *
 * Invariants: the answer starts with "ok\n" or "error: " and ends with a
 * newline; it never echoes a control character of the request; a request
 * that is not printable ASCII is refused; control_handle returns 0 or -1.
 */
#include <string.h>

#include <event2/buffer.h>

#include "control.h"
#include "fuzz.h"

/* What the stand-ins answer with: parts of the current input. */
struct fake {
	const uint8_t *data;
	size_t size;
	int calls;
};

/* Counters filled from the input's bytes; gauges at the extremes. */
static void
fake_stats(void *arg, struct sg_stats *out, struct sg_gauges *g)
{
	struct fake *f = arg;
	uint8_t *p = (uint8_t *)out;

	f->calls++;
	for (size_t i = 0; i < sizeof(*out); i++)
		p[i] = f->size > 0 ? f->data[i % f->size] : (uint8_t)i;
	g->halfopen_entries = f->size;
	g->memory_bytes = UINT64_MAX;
	g->rx_ring_workers = 0;
}

/* Two backends, one of them named after the request. */
static void
fake_backends(void *arg, struct evbuffer *out)
{
	struct fake *f = arg;

	f->calls++;
	evbuffer_add_printf(out, "app up 1 0 0\n");
	evbuffer_add_printf(out, "%.*s down 0 0 0\n", (int)(f->size % 40),
	    "0123456789012345678901234567890123456789");
}

/* A reload that fails with a message as long as the buffer. */
static int
fake_reload(void *arg, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->calls++;
	if (f->size % 2 == 0)
		return 0;
	memset(err, 'e', errlen - 1);
	err[errlen - 1] = '\0';
	return -1;
}

static const struct sg_control_ops ops = {
	fake_stats,
	fake_backends,
	fake_reload,
};

/* Whether the request is what control.c calls printable. */
static int
printable(const uint8_t *d, size_t n)
{
	if (n > 0 && d[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake f = {data, size, 0};
	struct evbuffer *out;
	size_t n;
	char *ans;
	int rc;

	if (size > CONTROL_LINE_MAX + 1)
		return -1;
	out = evbuffer_new();
	FUZZ_CHECK(out != NULL);
	rc = control_handle(&ops, &f, (const char *)data, size, out);
	FUZZ_CHECK(rc == 0 || rc == -1);

	n = evbuffer_get_length(out);
	FUZZ_CHECK(n >= 3);
	ans = (char *)evbuffer_pullup(out, -1);
	FUZZ_CHECK(ans != NULL);
	FUZZ_CHECK(memcmp(ans, "ok\n", 3) == 0 ||
	    (n >= 7 && memcmp(ans, "error: ", 7) == 0));
	FUZZ_CHECK(ans[n - 1] == '\n');
	if (!printable(data, size)) {
		FUZZ_CHECK(memcmp(ans, "error: ", 7) == 0);
		FUZZ_CHECK(f.calls == 0);
	}
	/* The answer is text: no byte of a hostile request comes back as a
	 * control character or a NUL. */
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(ans[i] == '\n' || (ans[i] >= 0x20 && ans[i] <= 0x7e));
	FUZZ_CHECK(f.calls <= 1);
	evbuffer_free(out);
	return 0;
}
