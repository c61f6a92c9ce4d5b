/*
 * notify.c -- sd_notify(3) messages. See notify.h.
 * Reloads follow systemd's Type=notify-reload protocol: RELOADING=1 with
 * MONOTONIC_USEC, then READY=1 when the new configuration is in force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

int
notify_enabled(void)
{
	return getenv("NOTIFY_SOCKET") != NULL;
}

void
notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}
