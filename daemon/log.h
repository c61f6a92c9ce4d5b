/*
 * log.h -- logging in the OpenBSD manner: log_warn (with errno),
 * log_warnx, log_info, log_debug, and fatal/fatalx for start-up errors only.
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line starts
 * with "<N>", the syslog priority, so the journal keeps the level. Per-packet
 * events are never logged here: they are counted (reason.h).
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdarg.h>

/* level: a syslog priority, 3 (err) to 7 (debug). */
void log_init(int level, const char *progname);
/* After detaching from the terminal: send lines to syslog instead. */
void log_to_syslog(void);
void log_setlevel(int level);
int log_getlevel(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
