/*
 * config.c -- reads the configuration file, once, at start-up, into the one
 * struct sg_config that the rest of the daemon reads.
 *
 * libconfig parses; this file validates. Each group of settings is a table
 * of fields (name, type, range, where it lands in the struct), walked by one
 * function, so every group refuses unknown names the same way and every
 * message has the same form:
 *
 *	FILE:LINE: setting 'NAME': problem (allowed: RANGE or VALUES)
 *
 * It must never accept what it does not understand (an unknown name, a wrong
 * type, a value out of range), never let a libconfig quirk change a value
 * silently, and never write past the caller's error buffer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "cookie.h"
#include "halfopen.h"

/*
 * Fixed, not derived from the build's runstatedir: it is the documented
 * default, and /run is where systemd's RuntimeDirectory= puts it.
 */
#define CONTROL_SOCKET_DEFAULT "/run/synguard/control.sock"

/*
 * The half-open table cannot hold more than 2^24 entries (its timer links
 * are 24 bits, halfopen.h). That is already 1.4 GiB at 80 bytes an entry
 * plus two 4-byte hash buckets; a bigger queue would only give a flood more
 * memory to fill, and cookies take over when it is full anyway.
 */
#ifdef HALFOPEN_MAX_CAPACITY
#define QUEUE_MAX HALFOPEN_MAX_CAPACITY
#else
#define QUEUE_MAX (1 << 24)
#endif
#define WORKERS_MAX 64 /* main.c starts at most this many */

/* The longest setting path we print, e.g. "backends[12].weight". */
#define NAME_LEN 128
/* "a, b, c" lists of names or values in messages. */
#define ALLOWED_LEN 256

struct loader {
	const char *path;          /* the file named by the caller */
	char dir[4096];            /* its directory, where @include looks */
	char *err;
	size_t errlen;
	const char *scanned[8];    /* files whose integer literals were checked */
	unsigned nscanned;
};

struct field;
typedef int (*field_fn)(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);

/* A string value and what it stands for. */
struct choice {
	const char *name;
	int value;
};

/* One known setting: its name, its parser and where its value lands. */
struct field {
	const char *name;
	field_fn set;
	size_t off;                /* offset of the member in the target */
	size_t size;               /* size of that member */
	long long min, max;        /* integers; for strings, min is 1 if "" is
				      refused */
	const struct choice *choices;
};

/* A group of settings, for walking and for "belongs in ..." hints. */
struct group {
	const char *where;         /* "inside handshake { }", for hints */
	const struct field *fields;
	size_t nfields;
};

static int set_int(struct loader *, const config_setting_t *, const char *,
    const struct field *, void *);
static int set_choice(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);
static int set_path(struct loader *, const config_setting_t *, const char *,
    const struct field *, void *);
static int set_name(struct loader *, const config_setting_t *, const char *,
    const struct field *, void *);
static int set_user(struct loader *, const config_setting_t *, const char *,
    const struct field *, void *);
static int set_address(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);
static int set_handshake(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);
static int set_listen(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);
static int set_xdp_interfaces(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);
static int set_backends(struct loader *, const config_setting_t *,
    const char *, const struct field *, void *);

#define MEMBER(type, m) offsetof(type, m), sizeof(((type *)0)->m)
#define F_INT(n, type, m, lo, hi) { n, set_int, MEMBER(type, m), lo, hi, NULL }
#define F_CHOICE(n, type, m, ch) { n, set_choice, MEMBER(type, m), 0, 0, ch }
#define F_STR(n, fn, type, m, nonempty) \
	{ n, fn, MEMBER(type, m), nonempty, 0, NULL }
#define F_SUB(n, fn) { n, fn, 0, 0, 0, 0, NULL }
#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct choice cookie_modes[] = {
	{ "never", SG_COOKIES_NEVER },
	{ "auto", SG_COOKIES_AUTO },
	{ "always", SG_COOKIES_ALWAYS },
	{ NULL, 0 },
};
static const struct choice backend_modes[] = {
	{ "fd", SG_BACKEND_FD },
	{ "proxy", SG_BACKEND_PROXY },
	{ NULL, 0 },
};
static const struct choice no_backend_modes[] = {
	{ "reset", SG_NO_BACKEND_RESET },
	{ "hold", SG_NO_BACKEND_HOLD },
	{ NULL, 0 },
};
static const struct choice tx_paths[] = {
	{ "xdp", SG_TX_XDP },
	{ "packet", SG_TX_PACKET },
	{ NULL, 0 },
};
static const struct choice log_levels[] = {
	{ "err", SG_LOG_ERR },
	{ "warning", SG_LOG_WARNING },
	{ "notice", SG_LOG_NOTICE },
	{ "info", SG_LOG_INFO },
	{ "debug", SG_LOG_DEBUG },
	{ NULL, 0 },
};

static const struct field top_fields[] = {
	F_SUB("listen", set_listen),
	F_INT("workers", struct sg_config, workers, 0, WORKERS_MAX),
	F_INT("rx_batch_ms", struct sg_config, rx_batch_ms, 0, 100),
	F_INT("rx_ring_above", struct sg_config, rx_ring_above, 0, 10000000),
	F_CHOICE("tx_path", struct sg_config, tx_path, tx_paths),
	F_SUB("xdp_interfaces", set_xdp_interfaces),
	F_INT("xdp_above", struct sg_config, xdp_above, 0, 100000000),
	F_SUB("handshake", set_handshake),
	F_SUB("backends", set_backends),
	F_CHOICE("on_no_backend", struct sg_config, on_no_backend,
	    no_backend_modes),
	F_INT("hold_timeout_ms", struct sg_config, hold_timeout_ms, 1, 60000),
	F_STR("control_socket", set_path, struct sg_config, control_socket, 0),
	F_STR("user", set_user, struct sg_config, user, 0),
	F_CHOICE("log_level", struct sg_config, log_level, log_levels),
};

static const struct field handshake_fields[] = {
	F_CHOICE("cookies", struct sg_config, cookies, cookie_modes),
	F_INT("queue_size", struct sg_config, queue_size, 1, QUEUE_MAX),
	F_INT("synack_retries", struct sg_config, synack_retries, 0,
	    HALFOPEN_MAX_RETRIES),
	F_INT("synack_timeout_ms", struct sg_config, synack_timeout_ms, 10,
	    60000),
	F_INT("cookie_period_s", struct sg_config, cookie_period_s, 1, 3600),
	F_INT("syn_rate_per_source", struct sg_config, syn_rate_per_source, 0,
	    1000000),
	F_INT("syn_burst_per_source", struct sg_config, syn_burst_per_source,
	    0, 1000000),
	F_STR("cookie_key_file", set_path, struct sg_config, cookie_key_file,
	    0),
};

/* In entries, the first two fields are required (see walk_entry). */
static const struct field listen_fields[] = {
	F_SUB("address", set_address),
	F_INT("port", struct sg_listen_conf, port, 1, 65535),
};

static const struct field backend_fields[] = {
	F_STR("name", set_name, struct sg_backend_conf, name, 1),
	F_STR("path", set_path, struct sg_backend_conf, path, 1),
	F_CHOICE("mode", struct sg_backend_conf, mode, backend_modes),
	F_INT("weight", struct sg_backend_conf, weight, 1, 1000),
	F_INT("allowed_uid", struct sg_backend_conf, allowed_uid, 0,
	    4294967294LL),
};
#define ENTRY_REQUIRED 0x3u

static const struct group top_group = {
	"at the top level", top_fields, NITEMS(top_fields)
};
static const struct group handshake_group = {
	"inside handshake { }", handshake_fields, NITEMS(handshake_fields)
};
static const struct group listen_group = {
	"inside a listen entry", listen_fields, NITEMS(listen_fields)
};
static const struct group backend_group = {
	"inside a backends entry", backend_fields, NITEMS(backend_fields)
};

/* Write "FILE[:LINE]: [setting 'NAME': ]message" into the error buffer. */
static int __attribute__((format(printf, 5, 0)))
vfail_at(struct loader *l, const char *file, unsigned line, const char *name,
    const char *fmt, va_list ap)
{
	char what[512], where[32] = "", setting[NAME_LEN + 16] = "";

	if (l->err == NULL || l->errlen == 0)
		return -1;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (line != 0)
		snprintf(where, sizeof(where), ":%u", line);
	if (name != NULL)
		snprintf(setting, sizeof(setting), "setting '%s': ", name);
	snprintf(l->err, l->errlen, "%s%s: %s%s", file, where, setting, what);
	/* One printable line: values are echoed from the file, and a string
	 * may hold any byte ("\n", "\x1b"); the line goes to a terminal or
	 * the journal. */
	for (char *p = l->err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

/* Report a problem at a known file and line (0: no line). Returns -1. */
static int __attribute__((format(printf, 5, 6)))
fail_at(struct loader *l, const char *file, unsigned line, const char *name,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(l, file, line, name, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The file a setting was read from, as a path that opens from here: libconfig
 * 1.5 records an @include'd file by the name written in the directive,
 * which is relative to the include directory.
 */
static const char *
source_file(struct loader *l, const char *file, char *buf, size_t len)
{
	if (file == NULL)
		return l->path;
	if (strcmp(file, l->path) == 0 || file[0] == '/' || l->dir[0] == '\0')
		return file;
	snprintf(buf, len, "%s%s%s", l->dir,
	    l->dir[strlen(l->dir) - 1] == '/' ? "" : "/", file);
	return buf;
}

/* Report a problem with setting s (NULL: one that is absent). Returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail(struct loader *l, const config_setting_t *s, const char *name,
    const char *fmt, ...)
{
	char buf[sizeof(l->dir) + 256];
	const char *file = l->path;
	unsigned line = 0;
	va_list ap;

	/*
	 * libconfig 1.5 keeps the line in an unsigned short: past line 65535
	 * it wraps. Nobody writes such a file by hand.
	 */
	if (s != NULL) {
		file = source_file(l, config_setting_source_file(s), buf,
		    sizeof(buf));
		line = config_setting_source_line(s);
	}
	va_start(ap, fmt);
	vfail_at(l, file, line, name, fmt, ap);
	va_end(ap);
	return -1;
}

/* The name of a libconfig type, for "expected X, found Y". */
static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ]";
	case CONFIG_TYPE_LIST:
		return "a list ( )";
	}
	return "nothing";
}

/* Report that s has the wrong type. */
static int
fail_type(struct loader *l, const config_setting_t *s, const char *name,
    int want, const char *allowed)
{
	return fail(l, s, name, "expected %s, found %s (allowed: %s)",
	    type_name(want), type_name(config_setting_type(s)), allowed);
}

/* Join the names of a choice list: "never, auto, always". */
static const char *
choices_text(const struct choice *ch, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (; ch->name != NULL; ch++) {
		n = snprintf(buf + used, len - used, "%s%s",
		    used == 0 ? "" : ", ", ch->name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* Join the field names of a group: "address, port". */
static const char *
fields_text(const struct group *g, char *buf, size_t len)
{
	size_t used = 0, i;
	int n;

	buf[0] = '\0';
	for (i = 0; i < g->nfields; i++) {
		n = snprintf(buf + used, len - used, "%s%s",
		    used == 0 ? "" : ", ", g->fields[i].name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* Levenshtein distance of two short names; large for long ones. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, row[NAME_LEN + 1];
	size_t diag, up, cost;

	if (la > NAME_LEN || lb > NAME_LEN)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			cost = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < cost)
				cost = up + 1;
			if (row[j - 1] + 1 < cost)
				cost = row[j - 1] + 1;
			row[j] = cost;
			diag = up;
		}
	}
	return row[lb];
}

/* The known field of g named name, or NULL. */
static const struct field *
find_field(const struct group *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->nfields; i++) {
		if (strcmp(g->fields[i].name, name) == 0)
			return &g->fields[i];
	}
	return NULL;
}

/*
 * Report an unknown setting, with a hint: a known name one or two typos
 * away, or the group where this name does belong.
 */
static int
fail_unknown(struct loader *l, const config_setting_t *s, const char *full,
    const char *name, const struct group *g, const struct group *other)
{
	char allowed[ALLOWED_LEN], hint[NAME_LEN + 64] = "";
	size_t i, d, best = 3;

	if (other != NULL && find_field(other, name) != NULL)
		snprintf(hint, sizeof(hint), "; it belongs %s", other->where);
	for (i = 0; hint[0] == '\0' && i < g->nfields; i++) {
		d = distance(name, g->fields[i].name);
		if (d < best && d < strlen(name)) {
			best = d;
			snprintf(hint, sizeof(hint), "; did you mean '%s'?",
			    g->fields[i].name);
		}
	}
	return fail(l, s, full, "unknown setting %s%s (allowed: %s)", g->where,
	    hint, fields_text(g, allowed, sizeof(allowed)));
}

/*
 * Walk the settings of a group: each must be known to g, and is handed to
 * its field's parser with base as the target. Bit i of *seen is set for
 * field i found (libconfig refuses a name given twice).
 */
static int
walk(struct loader *l, const config_setting_t *grp, const char *prefix,
    const struct group *g, const struct group *other, void *base,
    unsigned *seen)
{
	const config_setting_t *s;
	const struct field *f;
	const char *name;
	char full[NAME_LEN];
	int i, n;

	*seen = 0;
	n = config_setting_length(grp);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(grp, (unsigned)i);
		name = config_setting_name(s);
		if (name == NULL)
			name = "?";
		snprintf(full, sizeof(full), "%s%s", prefix, name);
		if ((f = find_field(g, name)) == NULL)
			return fail_unknown(l, s, full, name, g, other);
		if (f->set(l, s, full, f, base) == -1)
			return -1;
		*seen |= 1u << (f - g->fields);
	}
	return 0;
}

/* Whether file was already scanned for oversized integer literals. */
static bool
scanned(struct loader *l, const char *file)
{
	unsigned i;

	for (i = 0; i < l->nscanned; i++) {
		if (strcmp(l->scanned[i], file) == 0)
			return true;
	}
	if (l->nscanned < NITEMS(l->scanned))
		l->scanned[l->nscanned++] = file;
	return false;
}

/* A byte stream with a line counter, for scan_literals. */
struct scanner {
	FILE *f;
	unsigned line;
};

/* Next byte, counting lines. */
static int
next(struct scanner *sc)
{
	int ch = getc(sc->f);

	if (ch == '\n')
		sc->line++;
	return ch;
}

/* Give back a byte read by next(). */
static void
back(struct scanner *sc, int ch)
{
	if (ch == EOF)
		return;
	if (ch == '\n')
		sc->line--;
	ungetc(ch, sc->f);
}

/* Peek at the next byte. */
static int
peek(struct scanner *sc)
{
	int ch = getc(sc->f);

	if (ch != EOF)
		ungetc(ch, sc->f);
	return ch;
}

/* Skip a comment or string whose opening was just read as ch. */
static void
skip_comment_or_string(struct scanner *sc, int ch)
{
	int prev = 0;

	if (ch == '"') {
		while ((ch = next(sc)) != EOF && ch != '"') {
			if (ch == '\\')
				next(sc);
		}
	} else if (ch == '*') { /* after '/' */
		while ((ch = next(sc)) != EOF && !(prev == '*' && ch == '/'))
			prev = ch;
	} else {
		while ((ch = next(sc)) != EOF && ch != '\n')
			;
	}
}

/* Whether ch may continue a name (libconfig: [A-Za-z*][-A-Za-z0-9_*]*). */
static bool
name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '*';
}

/* Value of ch as a digit in base 10 or 16, or -1. */
static int
digit(int ch, bool hex)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (hex && ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (hex && ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Read a number whose first byte (a digit, a sign or a dot) is ch. Returns
 * true if it is a plain integer literal (no L suffix, not a float) that does
 * not fit in 32 bits.
 */
static bool
oversized_number(struct scanner *sc, int ch)
{
	bool neg = false, hex = false, plain = true, big = false;
	uint64_t v = 0, base, limit;
	int d;

	if (ch == '-' || ch == '+') {
		neg = ch == '-';
		ch = next(sc);
	}
	if (ch == '0' && (peek(sc) == 'x' || peek(sc) == 'X')) {
		hex = true;
		next(sc);
		ch = next(sc);
	}
	base = hex ? 16 : 10;
	for (;; ch = next(sc)) {
		if ((d = digit(ch, hex)) != -1) {
			if (v > (UINT64_MAX - (unsigned)d) / base)
				big = true;
			else
				v = v * base + (unsigned)d;
			continue;
		}
		if (ch == '.' || ch == 'L' || name_char(ch)) {
			plain = false; /* a float or a 64-bit literal */
			if (!hex && (ch == 'e' || ch == 'E') &&
			    (peek(sc) == '-' || peek(sc) == '+'))
				next(sc);
			continue;
		}
		break;
	}
	back(sc, ch);
	limit = neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX;
	return plain && (big || v > limit);
}

/*
 * libconfig 1.5 reads an integer literal without an L suffix with atoi():
 * 4294967297 becomes 1, silently. The parsed value cannot tell, so the file
 * itself is scanned, once, for such literals: outside strings and comments,
 * any that does not fit in a signed 32-bit int is an error.
 */
static int
scan_literals(struct loader *l, const char *source)
{
	struct scanner sc = { NULL, 1 };
	char name[NAME_LEN] = "?", buf[sizeof(l->dir) + 256];
	const char *file;
	unsigned start;
	size_t n;
	int ch, rc = 0;

	file = source_file(l, source, buf, sizeof(buf));
	if (scanned(l, source != NULL ? source : l->path))
		return 0;
	if ((sc.f = fopen(file, "r")) == NULL)
		return fail_at(l, file, 0, NULL, "cannot read: %s",
		    strerror(errno));
	while (rc == 0 && (ch = next(&sc)) != EOF) {
		if (ch == '"' || ch == '#') {
			skip_comment_or_string(&sc, ch);
		} else if (ch == '/' && (peek(&sc) == '/' || peek(&sc) == '*')) {
			skip_comment_or_string(&sc, next(&sc));
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    ch == '*') {
			n = 0;
			for (; name_char(ch); ch = next(&sc)) {
				if (n < sizeof(name) - 1)
					name[n++] = (char)ch;
			}
			name[n] = '\0';
			back(&sc, ch);
		} else if (digit(ch, false) != -1 ||
		    ((ch == '-' || ch == '+' || ch == '.') &&
			digit(peek(&sc), false) != -1)) {
			start = sc.line;
			if (ch == '.') {
				oversized_number(&sc, next(&sc));
				continue;
			}
			if (oversized_number(&sc, ch))
				rc = fail_at(l, file, start, name,
				    "integer does not fit in 32 bits "
				    "(allowed: -2147483648..2147483647)");
		}
	}
	fclose(sc.f);
	return rc;
}

/* An integer setting, range-checked, stored in its unsigned member. */
static int
set_int(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[64];
	long long v;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	snprintf(allowed, sizeof(allowed), "%lld..%lld", f->min, f->max);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail_type(l, s, name, CONFIG_TYPE_INT, allowed);
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    scan_literals(l, config_setting_source_file(s)) == -1)
		return -1;
	v = config_setting_get_int64(s);
	if (v < f->min || v > f->max)
		return fail(l, s, name, "%lld is out of range (allowed: %s)", v,
		    allowed);
	switch (f->size) {
	case sizeof(v8):
		v8 = (uint8_t)v;
		memcpy((char *)base + f->off, &v8, sizeof(v8));
		break;
	case sizeof(v16):
		v16 = (uint16_t)v;
		memcpy((char *)base + f->off, &v16, sizeof(v16));
		break;
	case sizeof(v32):
		v32 = (uint32_t)v;
		memcpy((char *)base + f->off, &v32, sizeof(v32));
		break;
	default:
		return fail(l, s, name, "no room for %zu-byte integers",
		    f->size);
	}
	return 0;
}

/* The string value of s, or NULL after reporting a wrong type. */
static const char *
get_string(struct loader *l, const config_setting_t *s, const char *name,
    const char *allowed)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    (v = config_setting_get_string(s)) == NULL) {
		fail_type(l, s, name, CONFIG_TYPE_STRING, allowed);
		return NULL;
	}
	return v;
}

/* A string that must be one of the field's choices, stored as an enum. */
static int
set_choice(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[ALLOWED_LEN];
	const struct choice *ch;
	const char *v;
	int value;

	_Static_assert(sizeof(enum sg_cookie_mode) == sizeof(int) &&
	    sizeof(enum sg_backend_mode) == sizeof(int) &&
	    sizeof(enum sg_no_backend) == sizeof(int) &&
	    sizeof(enum sg_tx_path) == sizeof(int) &&
	    sizeof(enum sg_log_level) == sizeof(int), "enums are ints");

	choices_text(f->choices, allowed, sizeof(allowed));
	if ((v = get_string(l, s, name, allowed)) == NULL)
		return -1;
	for (ch = f->choices; ch->name != NULL; ch++) {
		if (strcmp(ch->name, v) == 0) {
			value = ch->value;
			memcpy((char *)base + f->off, &value, sizeof(value));
			return 0;
		}
	}
	return fail(l, s, name, "\"%s\" is not a known value (allowed: %s)", v,
	    allowed);
}

/* Copy a checked string into a member of f->size bytes. */
static void
store_string(const struct field *f, void *base, const char *v)
{
	memcpy((char *)base + f->off, v, strlen(v) + 1);
}

/*
 * An absolute path that fits its member: for sockets, sun_path (108 bytes
 * with the terminating NUL). "" means "none" unless f->min says otherwise.
 * Relative paths are refused: the daemon's working directory is not the
 * operator's.
 */
static int
set_path(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[128];
	const char *v;

	snprintf(allowed, sizeof(allowed), "an absolute path of at most %zu "
	    "bytes%s", f->size - 1, f->min ? "" : ", or \"\" for none");
	if ((v = get_string(l, s, name, allowed)) == NULL)
		return -1;
	if (v[0] == '\0' && f->min == 0) {
		store_string(f, base, v);
		return 0;
	}
	if (v[0] != '/')
		return fail(l, s, name, "\"%s\" is not an absolute path "
		    "(allowed: %s)", v, allowed);
	if (strlen(v) >= f->size)
		return fail(l, s, name, "path is %zu bytes long (allowed: %s)",
		    strlen(v), allowed);
	store_string(f, base, v);
	return 0;
}

/* Whether v is made only of letters, digits, '.', '_' and '-'. */
static bool
plain_word(const char *v)
{
	for (; *v != '\0'; v++) {
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		    (*v >= '0' && *v <= '9') || *v == '.' || *v == '_' ||
		    *v == '-'))
			return false;
	}
	return true;
}

/*
 * A backend name: it shows up in logs, stats and control output, so it is
 * kept to one plain word that needs no quoting there.
 */
static int
set_name(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[128];
	const char *v;

	snprintf(allowed, sizeof(allowed), "1..%zu of A-Z a-z 0-9 . _ -",
	    f->size - 1);
	if ((v = get_string(l, s, name, allowed)) == NULL)
		return -1;
	if (v[0] == '\0' || strlen(v) >= f->size || !plain_word(v))
		return fail(l, s, name, "\"%.*s\" is not a valid name "
		    "(allowed: %s)", (int)(f->size - 1), v, allowed);
	store_string(f, base, v);
	return 0;
}

/*
 * The user to run as. Only its form is checked here: whether it exists is
 * for start-up to find out, on the host that runs the daemon.
 */
static int
set_user(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[128];
	const char *v;

	snprintf(allowed, sizeof(allowed), "a user name of 1..%zu of "
	    "A-Z a-z 0-9 . _ - not starting with -, or \"\" to keep the "
	    "current user", f->size - 1);
	if ((v = get_string(l, s, name, allowed)) == NULL)
		return -1;
	if (strlen(v) >= f->size || !plain_word(v) || v[0] == '-')
		return fail(l, s, name, "\"%.*s\" is not a valid user name "
		    "(allowed: %s)", (int)(f->size - 1), v, allowed);
	store_string(f, base, v);
	return 0;
}

/*
 * A listen address, IPv4 or IPv6, numeric. An IPv4-mapped IPv6 address is
 * refused: such traffic arrives as IPv4 and would never match.
 */
static int
set_address(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	static const char allowed[] = "a numeric IPv4 or IPv6 address, "
	    "e.g. 0.0.0.0 or ::";
	struct sg_listen_conf *lc = base;
	struct in6_addr a6;
	const char *v;

	(void)f;
	if ((v = get_string(l, s, name, allowed)) == NULL)
		return -1;
	if (strlen(v) < sizeof(lc->address) &&
	    inet_pton(AF_INET, v, lc->addr) == 1) {
		lc->family = AF_INET;
	} else if (strlen(v) < sizeof(lc->address) &&
	    inet_pton(AF_INET6, v, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6))
			return fail(l, s, name, "\"%s\" is IPv4-mapped; write "
			    "the IPv4 address (allowed: %s)", v, allowed);
		lc->family = AF_INET6;
		memcpy(lc->addr, &a6, sizeof(lc->addr));
	} else {
		return fail(l, s, name, "\"%.64s\" is not an address "
		    "(allowed: %s)", v, allowed);
	}
	memcpy(lc->address, v, strlen(v) + 1);
	return 0;
}

/* handshake { }: its settings land in the top-level struct. */
static int
set_handshake(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	char allowed[ALLOWED_LEN];
	unsigned seen;

	(void)f;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return fail_type(l, s, name, CONFIG_TYPE_GROUP,
		    fields_text(&handshake_group, allowed, sizeof(allowed)));
	return walk(l, s, "handshake.", &handshake_group, &top_group, base,
	    &seen);
}

/*
 * Check that s is a list of 1..max groups. Returns the count, or -1.
 */
static int
check_list(struct loader *l, const config_setting_t *s, const char *name,
    unsigned max, const char *what)
{
	char allowed[ALLOWED_LEN];
	int n;

	snprintf(allowed, sizeof(allowed), "a list of 1..%u %s", max, what);
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail_type(l, s, name, CONFIG_TYPE_LIST, allowed);
	n = config_setting_length(s);
	if (n == 0)
		return fail(l, s, name, "the list is empty (allowed: %s)",
		    allowed);
	if ((unsigned)n > max)
		return fail(l, config_setting_get_elem(s, max), name,
		    "more than %u entries (allowed: %s)", max, allowed);
	return n;
}

/*
 * One entry of a list: a group, walked with g, that must set g's first two
 * fields. Returns -1 on error.
 */
static int
walk_entry(struct loader *l, const config_setting_t *e, const char *entry,
    const struct group *g, void *base)
{
	char allowed[ALLOWED_LEN], full[NAME_LEN];
	unsigned seen, i;

	fields_text(g, allowed, sizeof(allowed));
	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return fail_type(l, e, entry, CONFIG_TYPE_GROUP, allowed);
	snprintf(full, sizeof(full), "%s.", entry);
	if (walk(l, e, full, g, NULL, base, &seen) == -1)
		return -1;
	for (i = 0; i < g->nfields; i++) {
		if ((ENTRY_REQUIRED & (1u << i)) && !(seen & (1u << i))) {
			snprintf(full, sizeof(full), "%s.%s", entry,
			    g->fields[i].name);
			return fail(l, e, full, "missing (allowed: every entry "
			    "sets %s and %s)", g->fields[0].name,
			    g->fields[1].name);
		}
	}
	return 0;
}

/* listen = ( { address; port; }, ... ): distinct addresses and ports. */
static int
set_listen(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	struct sg_config *c = base;
	struct sg_listen_conf *lc;
	const config_setting_t *e;
	char entry[NAME_LEN];
	int n, i, j;

	(void)f;
	if ((n = check_list(l, s, name, SG_CONFIG_MAX_LISTEN,
	    "groups { address = \"...\"; port = N; }")) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		lc = &c->listen[i];
		memset(lc, 0, sizeof(*lc));
		snprintf(entry, sizeof(entry), "%s[%d]", name, i);
		if (walk_entry(l, e, entry, &listen_group, lc) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			if (c->listen[j].family == lc->family &&
			    c->listen[j].port == lc->port &&
			    memcmp(c->listen[j].addr, lc->addr,
			    sizeof(lc->addr)) == 0)
				return fail(l, e, entry, "%s port %u is "
				    "already listed as %s[%d] (allowed: each "
				    "address and port once)", lc->address,
				    lc->port, name, j);
		}
		c->nlisten = (unsigned)i + 1;
	}
	return 0;
}

/*
 * xdp_interfaces = [ "eth0", ... ]: distinct interface names (IFNAMSIZ, and
 * the characters ip(8) lets through in practice). Whether they exist is for
 * start-up to find out. An empty array turns the XDP program off.
 */
static int
set_xdp_interfaces(struct loader *l, const config_setting_t *s,
    const char *name, const struct field *f, void *base)
{
	struct sg_config *c = base;
	char allowed[160];
	int n, i, j;

	(void)f;
	snprintf(allowed, sizeof(allowed), "an array of at most %d interface "
	    "names of 1..15 of A-Z a-z 0-9 . _ -, e.g. [ \"eth0\" ]",
	    SG_CONFIG_MAX_XDP);
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY)
		return fail_type(l, s, name, CONFIG_TYPE_ARRAY, allowed);
	n = config_setting_length(s);
	if (n > SG_CONFIG_MAX_XDP)
		return fail(l, s, name, "more than %d entries (allowed: %s)",
		    SG_CONFIG_MAX_XDP, allowed);
	c->nxdp = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		const char *v = get_string(l, e, name, allowed);

		if (v == NULL)
			return -1;
		if (v[0] == '\0' || strlen(v) >= sizeof(c->xdp_interfaces[0]) ||
		    !plain_word(v))
			return fail(l, e, name, "\"%.32s\" is not an interface "
			    "name (allowed: %s)", v, allowed);
		for (j = 0; j < i; j++)
			if (strcmp(c->xdp_interfaces[j], v) == 0)
				return fail(l, e, name, "\"%s\" is listed "
				    "twice (allowed: each interface once)", v);
		memcpy(c->xdp_interfaces[i], v, strlen(v) + 1);
		c->nxdp = (unsigned)i + 1;
	}
	return 0;
}

/* backends = ( { name; path; mode; weight; }, ... ): distinct names. */
static int
set_backends(struct loader *l, const config_setting_t *s, const char *name,
    const struct field *f, void *base)
{
	struct sg_config *c = base;
	struct sg_backend_conf *b;
	const config_setting_t *e;
	char entry[NAME_LEN], full[NAME_LEN + 8];
	int n, i, j;

	(void)f;
	if ((n = check_list(l, s, name, SG_CONFIG_MAX_BACKENDS,
	    "groups { name = \"...\"; path = \"/...\"; }")) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		b = &c->backends[i];
		memset(b, 0, sizeof(*b));
		b->mode = SG_BACKEND_FD;
		b->weight = 1;
		b->allowed_uid = SG_ANY_UID;
		snprintf(entry, sizeof(entry), "%s[%d]", name, i);
		if (walk_entry(l, e, entry, &backend_group, b) == -1)
			return -1;
		snprintf(full, sizeof(full), "%s.name", entry);
		for (j = 0; j < i; j++) {
			if (strcmp(c->backends[j].name, b->name) == 0)
				return fail(l, config_setting_get_member(e,
				    "name"), full, "\"%s\" is already the "
				    "name of %s[%d] (allowed: each name once)",
				    b->name, name, j);
		}
		c->nbackends = (unsigned)i + 1;
	}
	return 0;
}

void
config_defaults(struct sg_config *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 0;
	c->rx_batch_ms = 1;
	c->rx_ring_above = 25000;
	c->tx_path = SG_TX_XDP;
	c->xdp_above = 20000;
	c->cookies = SG_COOKIES_AUTO;
	c->queue_size = 65536;
	c->synack_retries = 5;      /* as Linux's tcp_synack_retries */
	c->synack_timeout_ms = 1000; /* RFC 6298 initial RTO */
	c->cookie_period_s = COOKIE_PERIOD_DEFAULT;
	c->on_no_backend = SG_NO_BACKEND_RESET;
	c->hold_timeout_ms = 2000;
	snprintf(c->control_socket, sizeof(c->control_socket), "%s",
	    CONTROL_SOCKET_DEFAULT);
	snprintf(c->user, sizeof(c->user), "synguard");
	c->log_level = SG_LOG_INFO;
}

/* libconfig 1.5 nests @include at most this deep (MAX_INCLUDE_DEPTH). */
#define INCLUDE_DEPTH_MAX 10

/*
 * Check, before libconfig reads file, that each of its @include lines names
 * a regular file or nothing. libconfig 1.5 opens whatever it is given, and
 * its flex scanner calls exit() when a read fails, as on a directory
 * ("input in flex scanner failed"); a FIFO or a device would block or never
 * end. On a reload that would take the running daemon down. A line is read
 * as libconfig's scanner reads it: optional blanks, "@include", blanks, a
 * quoted name (up to a NUL, as a C string), found in the include directory.
 */
static int
includes_ok(struct loader *l, const char *file, int depth)
{
	char *line = NULL, name[4096], path[sizeof(l->dir) + sizeof(name) + 1];
	size_t cap = 0, n;
	unsigned lineno = 0;
	struct stat st;
	const char *p;
	FILE *f;
	int rc = 0;

	/* Too deep or unreadable: libconfig says so itself. */
	if (depth > INCLUDE_DEPTH_MAX || (f = fopen(file, "r")) == NULL)
		return 0;
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		lineno++;
		p = line + strspn(line, " \t");
		if (strncmp(p, "@include", 8) != 0 ||
		    (p[8] != ' ' && p[8] != '\t'))
			continue;
		p += 8 + strspn(p + 8, " \t");
		if (*p++ != '"')
			continue;
		for (n = 0; *p != '\0' && *p != '"' && n < sizeof(name) - 1; p++) {
			if (*p == '\\' && (p[1] == '\\' || p[1] == '"'))
				p++;
			name[n++] = *p;
		}
		name[n] = '\0';
		snprintf(path, sizeof(path), "%s%s%s", l->dir,
		    l->dir[0] != '\0' ? "/" : "", name);
		if (stat(path, &st) == -1)
			continue; /* "cannot open include file", from libconfig */
		if (!S_ISREG(st.st_mode))
			rc = fail_at(l, file, lineno, NULL, "@include \"%s\": "
			    "not a regular file", name);
		else
			rc = includes_ok(l, path, depth + 1);
	}
	free(line);
	fclose(f);
	return rc;
}

/* Read the file; report syntax and I/O errors in the common form. */
static int
parse(struct loader *l, config_t *cf)
{
	char buf[sizeof(l->dir) + 256], *slash;
	int saved;

	/* @include "x" is found beside the file, not in the cwd. */
	snprintf(l->dir, sizeof(l->dir), "%s", l->path);
	if ((slash = strrchr(l->dir, '/')) != NULL) {
		if (slash == l->dir)
			slash++; /* the file is in "/" */
		*slash = '\0';
	} else {
		l->dir[0] = '\0';
	}
	if (l->dir[0] != '\0')
		config_set_include_dir(cf, l->dir);
	if (includes_ok(l, l->path, 0) == -1)
		return -1;
	errno = 0;
	if (config_read_file(cf, l->path) == CONFIG_TRUE)
		return 0;
	saved = errno;
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
		return fail_at(l, l->path, 0, NULL, "cannot read: %s",
		    saved != 0 ? strerror(saved) : "I/O error");
	return fail_at(l, source_file(l, config_error_file(cf), buf,
	    sizeof(buf)), (unsigned)config_error_line(cf), NULL, "%s",
	    config_error_text(cf));
}

int
config_load(const char *path, struct sg_config *c, char *err, size_t errlen)
{
	struct loader l = { path, "", err, errlen, { NULL }, 0 };
	config_setting_t *root;
	config_t cf;
	unsigned seen;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	config_defaults(c);
	if (strlen(path) >= sizeof(c->file))
		return fail_at(&l, path, 0, NULL, "file name too long");
	memcpy(c->file, path, strlen(path) + 1);

	config_init(&cf);
	if (parse(&l, &cf) == -1)
		goto out;
	root = config_root_setting(&cf);
	if (walk(&l, root, "", &top_group, &handshake_group, c, &seen) == -1)
		goto out;
	if (c->nlisten == 0) {
		fail(&l, NULL, "listen", "missing (allowed: a list of 1..%d "
		    "groups { address = \"...\"; port = N; })",
		    SG_CONFIG_MAX_LISTEN);
		goto out;
	}
	if (c->nbackends == 0) {
		fail(&l, NULL, "backends", "missing (allowed: a list of 1..%d "
		    "groups { name = \"...\"; path = \"/...\"; })",
		    SG_CONFIG_MAX_BACKENDS);
		goto out;
	}
	if (c->nxdp > 0 && c->cookies == SG_COOKIES_NEVER) {
		fail(&l, NULL, "xdp_interfaces", "the XDP program answers with "
		    "SYN cookies, and handshake.cookies is \"never\" (allowed: "
		    "[ ] with cookies = \"never\")");
		goto out;
	}
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

/* The name of v in a choice list, or "?". */
static const char *
choice_name(const struct choice *ch, int v)
{
	for (; ch->name != NULL; ch++) {
		if (ch->value == v)
			return ch->name;
	}
	return "?";
}

const char *
config_cookie_mode_name(enum sg_cookie_mode m)
{
	return choice_name(cookie_modes, (int)m);
}

const char *
config_backend_mode_name(enum sg_backend_mode m)
{
	return choice_name(backend_modes, (int)m);
}

const char *
config_no_backend_name(enum sg_no_backend m)
{
	return choice_name(no_backend_modes, (int)m);
}

const char *
config_log_level_name(enum sg_log_level level)
{
	return choice_name(log_levels, (int)level);
}
