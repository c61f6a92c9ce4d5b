/*
 * notify.h -- telling the service manager how we are: sd_notify(3) READY,
 * STATUS, WATCHDOG, RELOADING and STOPPING. Without NOTIFY_SOCKET every call
 * is a no-op, so the daemon runs the same by hand.
 */
#ifndef SG_NOTIFY_H
#define SG_NOTIFY_H

#include <stdint.h>

/* Whether a service manager listens (NOTIFY_SOCKET is set). */
int notify_enabled(void);

void notify_ready(const char *status);
void notify_status(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);

/* The watchdog interval the manager asked for, in microseconds (0: none). */
uint64_t notify_watchdog_usec(void);

#endif
