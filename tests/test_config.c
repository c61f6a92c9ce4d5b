/*
 * test_config.c -- the configuration file: defaults, the documented example,
 * and every kind of mistake, each refused with the file, the line and the
 * setting named.
 *
 * Bad files live in tests/fixtures/conf/, one mistake each. Cases that vary
 * one value (ranges, paths, addresses) are written from here into a
 * temporary directory.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif
#define CONF FIXTURES "/conf/"
#define EXAMPLE FIXTURES "/../../conf/synguard.conf"

/* A listen and a backend line that make a file complete. */
#define LISTEN "listen = ( { address = \"198.18.0.1\"; port = 8080; } );\n"
#define BACKEND \
	"backends = ( { name = \"app\"; path = \"/run/synguard-app/app.sock\"; " \
	"} );\n"

static struct sg_config conf;
static char err[1024];
static char tmpdir[64];
static char written[8][128];
static unsigned nwritten;

/* A fresh directory for the files a test writes. */
static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sg-test-config-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	nwritten = 0;
}

/* Remove what tmp_setup and write_conf made. */
static void
tmp_teardown(void)
{
	while (nwritten > 0)
		unlink(written[--nwritten]);
	rmdir(tmpdir);
}

/* Write text to a new file in the test's directory; returns its path. */
static const char *
write_conf(const char *text)
{
	char *path;
	FILE *f;

	cr_assert_lt(nwritten, 8);
	path = written[nwritten];
	snprintf(path, sizeof(written[0]), "%s/%u.conf", tmpdir, nwritten);
	nwritten++;
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	return path;
}

/* Load path and assert that it is accepted. */
static void
expect_ok(const char *path)
{
	int rc = config_load(path, &conf, err, sizeof(err));

	cr_assert_eq(rc, 0, "%s refused: %s", path, err);
}

/*
 * Load path and assert that it is refused with a message that starts with
 * "path:line: " (or "path: " for line 0), names the setting as
 * "setting 'name'" (unless name is NULL) and contains fragment.
 */
static void
expect_error(const char *path, unsigned line, const char *name,
    const char *fragment)
{
	char want[512];

	cr_assert_eq(config_load(path, &conf, err, sizeof(err)), -1,
	    "%s was accepted", path);
	if (line != 0)
		snprintf(want, sizeof(want), "%s:%u: ", path, line);
	else
		snprintf(want, sizeof(want), "%s: ", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0,
	    "message \"%s\" does not start with \"%s\"", err, want);
	if (name != NULL) {
		snprintf(want, sizeof(want), "setting '%s': ", name);
		cr_assert_not_null(strstr(err, want),
		    "message \"%s\" does not name %s", err, want);
	}
	if (fragment != NULL)
		cr_assert_not_null(strstr(err, fragment),
		    "message \"%s\" lacks \"%s\"", err, fragment);
}

/* A file with LISTEN and BACKEND after text; returns its path. */
static const char *
write_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *
write_with(const char *fmt, ...)
{
	char text[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return write_conf(text);
}

TestSuite(config, .init = tmp_setup, .fini = tmp_teardown);

Test(config, defaults_match_the_documentation)
{
	config_defaults(&conf);
	cr_assert_eq(conf.nlisten, 0);
	cr_assert_eq(conf.nbackends, 0);
	cr_assert_eq(conf.workers, 0);
	cr_assert_eq(conf.cookies, SG_COOKIES_AUTO);
	cr_assert_eq(conf.queue_size, 65536);
	cr_assert_eq(conf.synack_retries, 5);
	cr_assert_eq(conf.synack_timeout_ms, 1000);
	cr_assert_eq(conf.cookie_period_s, 64);
	cr_assert_str_eq(conf.cookie_key_file, "");
	cr_assert_eq(conf.on_no_backend, SG_NO_BACKEND_RESET);
	cr_assert_eq(conf.hold_timeout_ms, 2000);
	cr_assert_eq(conf.rx_batch_ms, 1);
	cr_assert_eq(conf.rx_ring_above, 25000);
	cr_assert_eq(conf.tx_path, SG_TX_XDP);
	cr_assert_str_eq(conf.control_socket, "/run/synguard/control.sock");
	cr_assert_str_eq(conf.user, "synguard");
	cr_assert_eq(conf.log_level, SG_LOG_INFO);
}

Test(config, example_file_loads_with_its_documented_values)
{
	static const uint8_t any4[4] = { 0, 0, 0, 0 };

	expect_ok(EXAMPLE);
	cr_assert_str_eq(conf.file, EXAMPLE);
	cr_assert_eq(conf.nlisten, 1);
	cr_assert_eq(conf.listen[0].family, AF_INET);
	cr_assert_eq(memcmp(conf.listen[0].addr, any4, 4), 0);
	cr_assert_eq(conf.listen[0].port, 8080);
	cr_assert_str_eq(conf.listen[0].address, "0.0.0.0");
	cr_assert_eq(conf.nbackends, 1);
	cr_assert_str_eq(conf.backends[0].name, "app");
	cr_assert_str_eq(conf.backends[0].path, "/run/synguard-app/app.sock");
	cr_assert_eq(conf.backends[0].mode, SG_BACKEND_FD);
	cr_assert_eq(conf.backends[0].weight, 1);

	/* Everything else is written out at its default. */
	struct sg_config defaults;
	config_defaults(&defaults);
	cr_assert_eq(conf.workers, defaults.workers);
	cr_assert_eq(conf.rx_batch_ms, defaults.rx_batch_ms);
	cr_assert_eq(conf.rx_ring_above, defaults.rx_ring_above);
	cr_assert_eq(conf.tx_path, defaults.tx_path);
	cr_assert_eq(conf.cookies, defaults.cookies);
	cr_assert_eq(conf.queue_size, defaults.queue_size);
	cr_assert_eq(conf.synack_retries, defaults.synack_retries);
	cr_assert_eq(conf.synack_timeout_ms, defaults.synack_timeout_ms);
	cr_assert_eq(conf.cookie_period_s, defaults.cookie_period_s);
	cr_assert_str_eq(conf.cookie_key_file, defaults.cookie_key_file);
	cr_assert_eq(conf.on_no_backend, defaults.on_no_backend);
	cr_assert_eq(conf.hold_timeout_ms, defaults.hold_timeout_ms);
	cr_assert_str_eq(conf.control_socket, defaults.control_socket);
	cr_assert_str_eq(conf.user, defaults.user);
	cr_assert_eq(conf.log_level, defaults.log_level);
}

Test(config, full_file_sets_every_setting)
{
	uint8_t v6[16];

	expect_ok(CONF "good-full.conf");
	cr_assert_eq(conf.nlisten, 3);
	cr_assert_eq(conf.listen[0].family, AF_INET);
	cr_assert_eq(memcmp(conf.listen[0].addr, "\xc6\x12\x00\x01", 4), 0);
	cr_assert_eq(conf.listen[0].port, 443);
	cr_assert_eq(conf.listen[1].family, AF_INET6);
	cr_assert_eq(inet_pton(AF_INET6, "fd00:198:18::1", v6), 1);
	cr_assert_eq(memcmp(conf.listen[1].addr, v6, 16), 0);
	cr_assert_str_eq(conf.listen[1].address, "fd00:198:18::1");
	cr_assert_eq(conf.listen[2].family, AF_INET6);
	cr_assert_eq(conf.listen[2].port, 8443);
	cr_assert_eq(conf.workers, 4);
	cr_assert_eq(conf.tx_path, SG_TX_PACKET);
	cr_assert_eq(conf.cookies, SG_COOKIES_ALWAYS);
	cr_assert_eq(conf.queue_size, 16777216);
	cr_assert_eq(conf.synack_retries, 0);
	cr_assert_eq(conf.synack_timeout_ms, 250);
	cr_assert_eq(conf.cookie_period_s, 30);
	cr_assert_str_eq(conf.cookie_key_file, "/etc/synguard/cookie.key");
	cr_assert_eq(conf.nbackends, 2);
	cr_assert_str_eq(conf.backends[0].name, "web-1");
	cr_assert_eq(conf.backends[0].mode, SG_BACKEND_PROXY);
	cr_assert_eq(conf.backends[0].weight, 1000);
	cr_assert_str_eq(conf.backends[1].name, "web_2.b");
	cr_assert_str_eq(conf.backends[1].path, "/run/web/2.sock");
	cr_assert_eq(conf.backends[1].mode, SG_BACKEND_FD, "mode defaults");
	cr_assert_eq(conf.backends[1].weight, 1, "weight defaults");
	cr_assert_eq(conf.on_no_backend, SG_NO_BACKEND_HOLD);
	cr_assert_eq(conf.hold_timeout_ms, 60000);
	cr_assert_str_eq(conf.control_socket, "");
	cr_assert_str_eq(conf.user, "");
	cr_assert_eq(conf.log_level, SG_LOG_DEBUG);
}

/*
 * Every numeric setting, in one template: the value under test replaces
 * its default on a known line.
 */
#define TEMPLATE                                                             \
	"listen = ( { address = \"198.18.0.1\"; port = %s; } );\n"          \
	"workers = %s;\n"                                                    \
	"handshake: {\n"                                                     \
	"\tqueue_size = %s;\n"                                               \
	"\tsynack_retries = %s;\n"                                           \
	"\tsynack_timeout_ms = %s;\n"                                        \
	"\tcookie_period_s = %s;\n"                                          \
	"};\n"                                                               \
	"backends = ( { name = \"app\"; path = \"/run/a.sock\"; "           \
	"weight = %s; } );\n"                                                \
	"hold_timeout_ms = %s;\n"                                            \
	"rx_batch_ms = %s;\n"                                                \
	"rx_ring_above = %s;\n"

static const struct numeric {
	const char *name;    /* as the message names it */
	unsigned line;       /* in TEMPLATE */
	long long min, max;
	const char *value;   /* a valid value, for the other tests */
} numerics[] = {
	{ "listen[0].port", 1, 1, 65535, "8080" },
	{ "workers", 2, 0, 64, "0" },
	{ "handshake.queue_size", 4, 1, 16777216, "65536" },
	{ "handshake.synack_retries", 5, 0, 15, "5" },
	{ "handshake.synack_timeout_ms", 6, 10, 60000, "1000" },
	{ "handshake.cookie_period_s", 7, 1, 3600, "64" },
	{ "backends[0].weight", 9, 1, 1000, "1" },
	{ "hold_timeout_ms", 10, 1, 60000, "2000" },
	{ "rx_batch_ms", 11, 0, 100, "1" },
	{ "rx_ring_above", 12, 0, 10000000, "25000" },
};
#define NNUMERICS (sizeof(numerics) / sizeof(numerics[0]))

/* The template with setting i set to v and the others valid. */
static const char *
write_numeric(size_t i, long long v)
{
	char s[NNUMERICS][32];
	char text[2048];
	size_t j;

	for (j = 0; j < NNUMERICS; j++)
		snprintf(s[j], sizeof(s[j]), "%s", numerics[j].value);
	snprintf(s[i], sizeof(s[i]), "%lld", v);
	snprintf(text, sizeof(text), TEMPLATE, s[0], s[1], s[2], s[3], s[4],
	    s[5], s[6], s[7], s[8], s[9]);
	return write_conf(text);
}

/* The value setting i landed in. */
static long long
numeric_value(size_t i)
{
	switch (i) {
	case 0: return conf.listen[0].port;
	case 1: return conf.workers;
	case 2: return conf.queue_size;
	case 3: return conf.synack_retries;
	case 4: return conf.synack_timeout_ms;
	case 5: return conf.cookie_period_s;
	case 6: return conf.backends[0].weight;
	case 7: return conf.hold_timeout_ms;
	case 8: return conf.rx_batch_ms;
	case 9: return conf.rx_ring_above;
	}
	return -1;
}

Test(config, numeric_settings_accept_their_bounds)
{
	size_t i;

	for (i = 0; i < NNUMERICS; i++) {
		expect_ok(write_numeric(i, numerics[i].min));
		cr_assert_eq(numeric_value(i), numerics[i].min, "%s",
		    numerics[i].name);
		expect_ok(write_numeric(i, numerics[i].max));
		cr_assert_eq(numeric_value(i), numerics[i].max, "%s",
		    numerics[i].name);
		tmp_teardown();
		tmp_setup();
	}
}

Test(config, numeric_settings_reject_one_past_each_bound)
{
	char allowed[64];
	size_t i;

	for (i = 0; i < NNUMERICS; i++) {
		snprintf(allowed, sizeof(allowed), "(allowed: %lld..%lld)",
		    numerics[i].min, numerics[i].max);
		expect_error(write_numeric(i, numerics[i].min - 1),
		    numerics[i].line, numerics[i].name, allowed);
		expect_error(write_numeric(i, numerics[i].max + 1),
		    numerics[i].line, numerics[i].name, allowed);
		tmp_teardown();
		tmp_setup();
	}
}

Test(config, rejects_syntax_error_at_its_line)
{
	expect_error(CONF "syntax.conf", 3, NULL, "syntax error");
}

Test(config, rejects_unknown_top_level_setting)
{
	expect_error(CONF "unknown-top.conf", 4, "colour",
	    "unknown setting at the top level");
}

Test(config, rejects_unknown_setting_in_handshake)
{
	expect_error(CONF "unknown-handshake.conf", 6, "handshake.backlog",
	    "unknown setting inside handshake");
}

Test(config, rejects_unknown_key_in_listen_entry)
{
	expect_error(CONF "unknown-listen-key.conf", 5, "listen[1].interface",
	    "(allowed: address, port)");
}

Test(config, rejects_unknown_key_in_backend_entry)
{
	expect_error(CONF "unknown-backend-key.conf", 5, "backends[0].timeout",
	    "(allowed: name, path, mode, weight, allowed_uid)");
}

Test(config, rejects_typo_and_suggests_the_name)
{
	expect_error(CONF "typo.conf", 6, "handshake.queue_sise",
	    "did you mean 'queue_size'?");
}

Test(config, rejects_setting_in_the_wrong_group_and_says_where)
{
	expect_error(CONF "misplaced.conf", 4, "cookies",
	    "it belongs inside handshake");
}

Test(config, rejects_string_where_integer_expected)
{
	expect_error(CONF "wrong-type-int.conf", 4, "workers",
	    "expected an integer, found a string (allowed: 0..64)");
}

Test(config, rejects_integer_where_string_expected)
{
	expect_error(CONF "wrong-type-string.conf", 4, "log_level",
	    "expected a string, found an integer");
}

Test(config, rejects_float_and_boolean_where_integer_expected)
{
	expect_error(write_with(LISTEN BACKEND "handshake: {\n"
	    "\tsynack_timeout_ms = 1.5;\n};\n"), 4,
	    "handshake.synack_timeout_ms", "found a floating-point number");
	expect_error(write_with(LISTEN BACKEND "workers = true;\n"), 3,
	    "workers", "found a boolean");
}

Test(config, rejects_scalar_where_group_expected)
{
	expect_error(CONF "wrong-type-group.conf", 4, "handshake",
	    "expected a group");
}

Test(config, rejects_group_where_list_expected)
{
	expect_error(CONF "wrong-type-list.conf", 2, "listen",
	    "expected a list");
}

Test(config, rejects_list_entry_that_is_not_a_group)
{
	/*
	 * libconfig 1.5 stamps a scalar list element with the line of the
	 * token after it: keep that token on the same line.
	 */
	expect_error(write_with(BACKEND "listen = (\n"
	    "\t{ address = \"198.18.0.1\"; port = 1; },\n"
	    "\t\"198.18.0.2:1\" );\n"), 4, "listen[1]", "expected a group");
}

Test(config, rejects_integer_literal_that_libconfig_would_truncate)
{
	/* libconfig 1.5 alone would read 4294967297 as 1 and accept it. */
	expect_error(CONF "oversized-int.conf", 5, "queue_size",
	    "does not fit in 32 bits");
	expect_error(write_with(LISTEN BACKEND "\nworkers = 0x100000001;\n"),
	    4, "workers", "does not fit in 32 bits");
	expect_error(write_with(LISTEN BACKEND "workers = -2147483649;\n"), 3,
	    "workers", "does not fit in 32 bits");
}

Test(config, ignores_big_numbers_in_comments_and_strings)
{
	expect_ok(write_with(LISTEN BACKEND
	    "# queue_size = 99999999999\n"
	    "// 99999999999\n"
	    "/* 99999999999\n   99999999999 */\n"
	    "handshake: {\n"
	    "\tcookie_key_file = \"/etc/99999999999\\\".key\";\n"
	    "\tqueue_size = 42;\n"
	    "};\n"));
	cr_assert_eq(conf.queue_size, 42);
	cr_assert_str_eq(conf.cookie_key_file, "/etc/99999999999\".key");
}

Test(config, takes_64_bit_literals_by_value)
{
	expect_ok(write_with(LISTEN BACKEND "workers = 4L;\n"));
	cr_assert_eq(conf.workers, 4);
	expect_error(write_with(LISTEN BACKEND "workers = 4294967296L;\n"), 3,
	    "workers", "4294967296 is out of range");
}

Test(config, rejects_unknown_cookies_value)
{
	expect_error(CONF "bad-cookies.conf", 5, "handshake.cookies",
	    "(allowed: never, auto, always)");
}

Test(config, rejects_unknown_backend_mode)
{
	expect_error(CONF "bad-mode.conf", 5, "backends[0].mode",
	    "(allowed: fd, proxy)");
}

Test(config, rejects_unknown_log_level)
{
	expect_error(CONF "bad-log-level.conf", 4, "log_level",
	    "(allowed: err, warning, notice, info, debug)");
}

Test(config, rejects_unknown_on_no_backend_value)
{
	expect_error(CONF "bad-on-no-backend.conf", 4, "on_no_backend",
	    "(allowed: reset, hold)");
}

Test(config, rejects_unknown_tx_path)
{
	expect_error(CONF "bad-tx-path.conf", 4, "tx_path",
	    "(allowed: xdp, packet)");
}

Test(config, enum_values_map_to_their_names)
{
	expect_ok(write_with(LISTEN BACKEND "log_level = \"warning\";\n"));
	cr_assert_eq(conf.log_level, SG_LOG_WARNING);
	cr_assert_str_eq(config_log_level_name(conf.log_level), "warning");
	cr_assert_str_eq(config_cookie_mode_name(SG_COOKIES_NEVER), "never");
	cr_assert_str_eq(config_backend_mode_name(SG_BACKEND_PROXY), "proxy");
	cr_assert_str_eq(config_no_backend_name(SG_NO_BACKEND_HOLD), "hold");
}

Test(config, rejects_address_that_is_not_a_numeric_ip)
{
	expect_error(CONF "bad-address.conf", 4, "listen[1].address",
	    "\"198.18.0.300\" is not an address");
	expect_error(write_with(BACKEND
	    "listen = ( { address = \"localhost\"; port = 1; } );\n"), 2,
	    "listen[0].address", "not an address");
}

Test(config, rejects_ipv4_mapped_ipv6_address)
{
	expect_error(write_with(BACKEND
	    "listen = ( { address = \"::ffff:198.18.0.1\"; port = 1; } );\n"),
	    2, "listen[0].address", "IPv4-mapped");
}

Test(config, rejects_duplicate_listen)
{
	expect_error(CONF "dup-listen.conf", 5, "listen[2]",
	    "already listed as listen[0]");
}

Test(config, duplicate_listen_compares_addresses_not_spelling)
{
	expect_error(write_with(BACKEND "listen = (\n"
	    "\t{ address = \"fd00:198:18::1\"; port = 80; },\n"
	    "\t{ address = \"fd00:198:18:0:0:0:0:1\"; port = 80; }\n);\n"),
	    4, "listen[1]", "already listed");
}

Test(config, same_port_on_other_address_or_family_is_no_duplicate)
{
	expect_ok(write_with(BACKEND "listen = (\n"
	    "\t{ address = \"0.0.0.0\"; port = 80; },\n"
	    "\t{ address = \"::\"; port = 80; },\n"
	    "\t{ address = \"198.18.0.1\"; port = 80; },\n"
	    "\t{ address = \"0.0.0.0\"; port = 81; }\n);\n"));
	cr_assert_eq(conf.nlisten, 4);
}

Test(config, rejects_duplicate_backend_name)
{
	expect_error(CONF "dup-backend.conf", 5, "backends[1].name",
	    "already the name of backends[0]");
}

Test(config, rejects_backend_name_that_is_not_one_word)
{
	expect_error(write_with(LISTEN
	    "backends = ( { name = \"my app\"; path = \"/run/a.sock\"; } );\n"),
	    2, "backends[0].name", "not a valid name");
	expect_error(write_with(LISTEN
	    "backends = ( { name = \"\"; path = \"/run/a.sock\"; } );\n"),
	    2, "backends[0].name", "not a valid name");
}

Test(config, rejects_relative_paths)
{
	expect_error(CONF "relative-path.conf", 4, "backends[0].path",
	    "not an absolute path");
	expect_error(write_with(LISTEN BACKEND
	    "control_socket = \"control.sock\";\n"), 3, "control_socket",
	    "not an absolute path");
	expect_error(write_with(LISTEN BACKEND
	    "handshake: { cookie_key_file = \"cookie.key\"; };\n"), 3,
	    "handshake.cookie_key_file", "not an absolute path");
}

Test(config, rejects_socket_path_longer_than_sun_path)
{
	expect_error(CONF "long-path.conf", 5, "backends[0].path",
	    "path is 108 bytes long (allowed: an absolute path of at most "
	    "107 bytes)");
}

Test(config, accepts_socket_path_that_just_fits_sun_path)
{
	char path[108];

	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	expect_ok(write_with(LISTEN "backends = ( { name = \"a\"; "
	    "path = \"%s\"; } );\ncontrol_socket = \"%s\";\n", path, path));
	cr_assert_str_eq(conf.backends[0].path, path);
	cr_assert_str_eq(conf.control_socket, path);
}

Test(config, empty_control_socket_disables_it_but_empty_path_is_refused)
{
	expect_ok(write_with(LISTEN BACKEND "control_socket = \"\";\n"));
	cr_assert_str_eq(conf.control_socket, "");
	expect_error(write_with(LISTEN
	    "backends = ( { name = \"a\"; path = \"\"; } );\n"), 2,
	    "backends[0].path", "not an absolute path");
}

Test(config, rejects_missing_listen)
{
	expect_error(CONF "no-listen.conf", 0, "listen", "missing");
}

Test(config, rejects_empty_listen_list)
{
	expect_error(CONF "empty-listen.conf", 2, "listen", "empty");
}

Test(config, rejects_missing_backends)
{
	expect_error(CONF "no-backend.conf", 0, "backends", "missing");
}

Test(config, rejects_empty_backends_list)
{
	expect_error(CONF "empty-backends.conf", 3, "backends", "empty");
}

Test(config, rejects_listen_entry_without_port)
{
	expect_error(CONF "missing-port.conf", 4, "listen[1].port", "missing");
}

Test(config, rejects_more_listen_entries_than_it_can_hold)
{
	char text[8192];
	size_t used;
	int i;

	used = (size_t)snprintf(text, sizeof(text), "%slisten = (\n",
	    BACKEND);
	for (i = 0; i <= SG_CONFIG_MAX_LISTEN; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    "\t{ address = \"198.18.0.1\"; port = %d; }%s\n", i + 1,
		    i == SG_CONFIG_MAX_LISTEN ? "" : ",");
	snprintf(text + used, sizeof(text) - used, ");\n");
	cr_assert_lt(used, sizeof(text) - 4);
	/* Entry 65 is on line 2 + 65. */
	expect_error(write_conf(text), 3 + SG_CONFIG_MAX_LISTEN, "listen",
	    "more than 64 entries");
}

Test(config, reports_errors_in_an_included_file_by_its_path)
{
	const char *want = CONF "include-part.conf:4: setting "
	    "'handshake.queue_sise': ";

	cr_assert_eq(config_load(CONF "include-main.conf", &conf, err,
	    sizeof(err)), -1);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
}

Test(config, reports_a_file_it_cannot_read)
{
	expect_error(CONF "no-such-file.conf", 0, NULL,
	    "cannot read: No such file or directory");
}

Test(config, never_writes_past_a_small_error_buffer)
{
	char small[16 + 1];

	memset(small, '#', sizeof(small));
	cr_assert_eq(config_load(CONF "typo.conf", &conf, small, 16), -1);
	cr_assert_eq(small[16], '#', "wrote past errlen");
	cr_assert_eq(strlen(small), 15);
	cr_assert_eq(strncmp(small, CONF "typo.conf", 15), 0);
	cr_assert_eq(config_load(CONF "typo.conf", &conf, small, 0), -1);
	cr_assert_eq(config_load(CONF "typo.conf", &conf, NULL, 0), -1);
}

Test(config, xdp_interfaces_default_off_and_parsed)
{
	expect_ok(write_with(LISTEN BACKEND));
	cr_assert_eq(conf.nxdp, 0);
	cr_assert_eq(conf.xdp_above, 20000);
	expect_ok(write_with(LISTEN BACKEND "xdp_interfaces = [ \"eth0\", "
	    "\"veth-s.1\" ];\nxdp_above = 0;\n"));
	cr_assert_eq(conf.nxdp, 2);
	cr_assert_str_eq(conf.xdp_interfaces[0], "eth0");
	cr_assert_str_eq(conf.xdp_interfaces[1], "veth-s.1");
	cr_assert_eq(conf.xdp_above, 0);
	expect_ok(write_with(LISTEN BACKEND "xdp_interfaces = [ ];\n"));
	cr_assert_eq(conf.nxdp, 0);
}

Test(config, rejects_bad_xdp_interfaces)
{
	expect_error(write_with(LISTEN BACKEND "xdp_interfaces = \"eth0\";\n"),
	    3, "xdp_interfaces", "(allowed: an array of at most 8");
	expect_error(write_with(LISTEN BACKEND "xdp_interfaces = [ 1 ];\n"),
	    3, "xdp_interfaces", "interface names");
	expect_error(write_with(LISTEN BACKEND
	    "xdp_interfaces = [ \"a-very-long-name0\" ];\n"), 3,
	    "xdp_interfaces", "is not an interface name");
	expect_error(write_with(LISTEN BACKEND
	    "xdp_interfaces = [ \"eth 0\" ];\n"), 3, "xdp_interfaces",
	    "is not an interface name");
	expect_error(write_with(LISTEN BACKEND
	    "xdp_interfaces = [ \"eth0\", \"eth0\" ];\n"), 3,
	    "xdp_interfaces", "listed twice");
	expect_error(write_with(LISTEN BACKEND "xdp_interfaces = [ \"a\", "
	    "\"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\" ];\n"), 3,
	    "xdp_interfaces", "more than 8 entries");
	expect_error(write_with(LISTEN BACKEND "xdp_above = -1;\n"), 3,
	    "xdp_above", NULL);
}

Test(config, rejects_xdp_without_cookies)
{
	const char *p = write_with(LISTEN BACKEND
	    "handshake: { cookies = \"never\"; };\n"
	    "xdp_interfaces = [ \"eth0\" ];\n");

	expect_error(p, 0, "xdp_interfaces", "cookies is \"never\"");
}
