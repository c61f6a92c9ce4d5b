/*
 * fuzz_config.c -- fuzz target: a configuration file through config_load
 * (libconfig parses, config.c validates).
 *
 * The input is written to a file in a private directory (on /dev/shm, a
 * tmpfs, when there is one: no disk I/O per input), beside an
 * include-part.conf for @include to find. An input whose @include names a
 * path with '/' or '\' is refused: it could name /dev/zero or a FIFO and
 * hang the run, which is the operator's business, not an attacker's.
 *
 * Invariants: config_load returns 0 or -1; the error is one line, NUL
 * terminated inside the buffer (whose size varies with the input, and
 * which AddressSanitizer watches to the byte); on success every count is
 * within its limit, every string terminated, and the values in range.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* The private directory: PARENT/sg-fuzz-config.PID. */
#define PREFIX "sg-fuzz-config."

static char dir[128];
static char main_path[160];
static char part_path[160];

/* What include-main.conf (tests/fixtures/conf) pulls in, give or take. */
static const char part[] =
    "backends = ( { name = \"app\"; path = \"/run/app.sock\"; } );\n"
    "handshake: { queue_size = 1024; };\n";

/* Remove the private directory at exit. */
static void
cleanup(void)
{
	unlink(part_path);
	unlink(main_path);
	rmdir(dir);
}

/* Write len bytes of data to path; 0 or -1. */
static int
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/*
 * Remove the directories of runs that are gone: a crash ends a run with
 * abort() or _exit(), and atexit handlers never run. The directory name
 * carries the owner's pid.
 */
static void
remove_stale(const char *parent)
{
	static const char *const files[] = {"main.conf", "include-part.conf",
	    ""};
	char path[512];
	struct dirent *e;
	DIR *d;
	long pid;
	char *end;

	if ((d = opendir(parent)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(PREFIX), &end, 10);
		if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		/* The two files, then the directory itself. */
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			int n = snprintf(path, sizeof(path), "%s/%s/%s", parent,
			    e->d_name, files[i]);

			if (n < 0 || (size_t)n >= sizeof(path))
				break;
			if (files[i][0] != '\0')
				unlink(path);
			else
				rmdir(path);
		}
	}
	closedir(d);
}

/* Make the private directory under parent; 0 or -1. */
static int
make_dir(const char *parent)
{
	remove_stale(parent);
	snprintf(dir, sizeof(dir), "%s/" PREFIX "%ld", parent, (long)getpid());
	return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (make_dir("/dev/shm") == -1 &&
	    make_dir(tmp != NULL && strlen(tmp) < 64 ? tmp : "/tmp") == -1) {
		perror("fuzz_config: mkdir");
		exit(1);
	}
	snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
	snprintf(part_path, sizeof(part_path), "%s/include-part.conf", dir);
	if (write_file(part_path, part, sizeof(part) - 1) == -1) {
		perror("fuzz_config: include-part.conf");
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

/*
 * Whether the input has an @include that could leave the directory. The
 * word is looked for in any case and anywhere, and the rest of its line
 * is refused if it holds a '/' or a '\' (an escape could spell one).
 */
static int
include_escapes(const uint8_t *d, size_t n)
{
	static const char word[] = "include";
	const size_t wl = sizeof(word) - 1;

	for (size_t i = 0; i + wl <= n; i++) {
		size_t k;

		for (k = 0; k < wl; k++)
			if (tolower(d[i + k]) != word[k])
				break;
		if (k < wl)
			continue;
		for (k = i + wl; k < n && d[k] != '\n'; k++)
			if (d[k] == '/' || d[k] == '\\')
				return 1;
	}
	return 0;
}

/* Whether s is NUL-terminated within size bytes. */
static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* What a configuration config_load accepted must look like. */
static void
check_config(const struct sg_config *c)
{
	FUZZ_CHECK(c->nlisten >= 1 && c->nlisten <= SG_CONFIG_MAX_LISTEN);
	FUZZ_CHECK(c->nbackends >= 1 && c->nbackends <= SG_CONFIG_MAX_BACKENDS);
	for (unsigned i = 0; i < c->nlisten; i++) {
		FUZZ_CHECK(c->listen[i].family == AF_INET ||
		    c->listen[i].family == AF_INET6);
		FUZZ_CHECK(c->listen[i].port != 0);
		FUZZ_CHECK(terminated(c->listen[i].address,
		    sizeof(c->listen[i].address)));
	}
	for (unsigned i = 0; i < c->nbackends; i++) {
		FUZZ_CHECK(terminated(c->backends[i].name,
		    sizeof(c->backends[i].name)));
		FUZZ_CHECK(terminated(c->backends[i].path,
		    sizeof(c->backends[i].path)));
		FUZZ_CHECK(c->backends[i].weight >= 1 &&
		    c->backends[i].weight <= 1000);
	}
	FUZZ_CHECK(c->queue_size >= 1 && c->queue_size <= (1u << 24));
	FUZZ_CHECK(c->cookie_period_s >= 1);
	FUZZ_CHECK(terminated(c->file, sizeof(c->file)));
	FUZZ_CHECK(terminated(c->cookie_key_file, sizeof(c->cookie_key_file)));
	FUZZ_CHECK(terminated(c->control_socket, sizeof(c->control_socket)));
	FUZZ_CHECK(terminated(c->user, sizeof(c->user)));
	FUZZ_CHECK(config_cookie_mode_name(c->cookies) != NULL);
	FUZZ_CHECK(config_log_level_name(c->log_level) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_config *c;
	size_t errlen;
	char *err;
	int rc;

	/* libconfig reads files of any size; a config is a few KB. */
	if (size > 16384 || include_escapes(data, size))
		return -1;
	if (write_file(main_path, data, size) == -1) {
		perror("fuzz_config: write");
		abort();
	}
	/* Mostly the daemon's 512 bytes; some inputs get a tiny buffer, to
	 * check truncation. */
	errlen = size % 5 == 0 ? 1 + size % 61 : 512;
	err = malloc(errlen);
	c = malloc(sizeof(*c));
	FUZZ_CHECK(err != NULL && c != NULL);
	memset(err, 'x', errlen);

	rc = config_load(main_path, c, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(terminated(err, errlen));
	if (rc == 0) {
		FUZZ_CHECK(err[0] == '\0');
		check_config(c);
	} else {
		FUZZ_CHECK(errlen == 1 || err[0] != '\0');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
	}
	free(c);
	free(err);
	return 0;
}
