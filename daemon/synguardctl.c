/*
 * synguardctl.c -- talk to a running synguard over its control socket:
 * send one command line, print the answer, exit 0 if it says "ok".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

/* Seconds to wait for the daemon's answer. */
#define CTL_TIMEOUT_S 10

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: synguardctl [-s SOCKET | -c FILE] COMMAND\n"
	    "commands:\n"
	    "  stats [--prometheus]  counters, as a table or for Prometheus\n"
	    "  backends              each backend's state and counts\n"
	    "  reload                re-read the configuration\n"
	    "The socket defaults to control_socket of " SYSCONFDIR
	    "/synguard.conf.\n");
}

/* Send the request and copy the answer to stdout. Returns the exit code. */
static int
request(const char *path, const char *cmd)
{
	struct sockaddr_un sun;
	char buf[4096];
	ssize_t n;
	int fd, first = 1, ok = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "synguardctl: %s: path too long\n", path);
		return 2;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "synguardctl: %s: %s\n", path, strerror(errno));
		return 2;
	}
	/* An answer within CTL_TIMEOUT_S, or give up: a daemon that cannot
	 * accept (out of descriptors) must not hang its operator. */
	struct timeval tv = {CTL_TIMEOUT_S, 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* A refusal arrives before the request is read: if writing fails,
	 * the answer may still be there to read. */
	size_t len = strlen(cmd);
	ssize_t w = write(fd, cmd, len);
	if (w == (ssize_t)len)
		w = write(fd, "\n", 1);
	(void)w;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;
		if (first) {
			/* The status line: "ok" or "error: WHY". */
			char *nl = memchr(buf, '\n', (size_t)n);
			size_t sl = nl ? (size_t)(nl - buf) : (size_t)n;
			ok = sl == 2 && memcmp(buf, "ok", 2) == 0;
			if (!ok)
				fprintf(stderr, "synguardctl: %.*s\n", (int)sl, buf);
			p = nl ? nl + 1 : buf + n;
			first = 0;
		}
		fwrite(p, 1, (size_t)(buf + n - p), stdout);
	}
	if (n == -1 && first) {
		fprintf(stderr, "synguardctl: no answer from %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return 2;
	}
	if (first) {
		fprintf(stderr, "synguardctl: %s closed without an answer\n",
		    path);
		close(fd);
		return 2;
	}
	close(fd);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static struct sg_config conf;
	signal(SIGPIPE, SIG_IGN);
	const char *sock = NULL, *file = SYSCONFDIR "/synguard.conf";
	char cmd[256], err[512];
	int ch;

	while ((ch = getopt(argc, argv, "+s:c:h")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "stats") == 0 && argc == 2 &&
	    strcmp(argv[1], "--prometheus") == 0)
		snprintf(cmd, sizeof(cmd), "stats prometheus");
	else if (argc == 1 && (strcmp(argv[0], "stats") == 0 ||
	    strcmp(argv[0], "backends") == 0 || strcmp(argv[0], "reload") == 0 ||
	    strcmp(argv[0], "help") == 0))
		snprintf(cmd, sizeof(cmd), "%s", argv[0]);
	else {
		usage(stderr);
		return 2;
	}
	if (sock == NULL) {
		if (config_load(file, &conf, err, sizeof(err)) == -1) {
			fprintf(stderr, "synguardctl: %s\n", err);
			return 2;
		}
		if (conf.control_socket[0] == '\0') {
			fprintf(stderr, "synguardctl: %s sets no control_socket\n",
			    file);
			return 2;
		}
		sock = conf.control_socket;
	}
	return request(sock, cmd);
}
