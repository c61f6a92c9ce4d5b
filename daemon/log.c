/*
 * log.c -- stderr logging with journal priorities. See log.h.
 * Safe to call from several threads: each line is one write(2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int log_level = 6;
static int log_prefix; /* "<N>" prefixes for the journal */
static const char *log_name = "synguard";
static int log_syslog; /* detached: lines go to syslog */

void
log_init(int level, const char *progname)
{
	log_level = level;
	log_name = progname;
	log_prefix = getenv("JOURNAL_STREAM") != NULL;
}

void
log_to_syslog(void)
{
	openlog(log_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

/* Format one line and write it at once. */
static void vlog(int pri, const char *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int pri, const char *err, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = 0;

	if (pri > log_level)
		return;
	if (log_syslog)
		n = 0;
	else if (log_prefix)
		n = snprintf(buf, sizeof(buf), "<%d>", pri);
	else
		n = snprintf(buf, sizeof(buf), "%s: ", log_name);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	if (err != NULL) {
		m = snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", err);
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(buf) - 1)
			n = (int)sizeof(buf) - 2;
	}
	if (log_syslog) {
		buf[n] = '\0';
		syslog(pri, "%s", buf);
		return;
	}
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
	(void)w;
}

#define LOG_FN(name, pri, with_errno)                                         \
	void name(const char *fmt, ...)                                       \
	{                                                                     \
		int saved = errno;                                            \
		va_list ap;                                                   \
		va_start(ap, fmt);                                            \
		vlog(pri, with_errno ? strerror(saved) : NULL, fmt, ap);      \
		va_end(ap);                                                   \
		errno = saved;                                                \
	}

LOG_FN(log_warn, 4, 1)
LOG_FN(log_warnx, 4, 0)
LOG_FN(log_notice, 5, 0)
LOG_FN(log_info, 6, 0)
LOG_FN(log_debug, 7, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(3, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(3, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
