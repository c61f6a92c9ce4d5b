/*
 * control.h -- the control socket: a Unix stream socket on which
 * synguardctl (or any client) sends one-line commands and reads the answer.
 *
 * Every request is hostile: a line is at most CONTROL_LINE_MAX bytes; a
 * client that sends more, or binary junk, gets an error and is closed; one
 * that sends nothing for CONTROL_IDLE_S seconds is closed; at most
 * CONTROL_MAX_CLIENTS are served at once. The daemon goes on.
 */
#ifndef SG_CONTROL_H
#define SG_CONTROL_H

#include <stddef.h>

#include "stats.h"

#define CONTROL_LINE_MAX 256
#define CONTROL_IDLE_S 10
#define CONTROL_MAX_CLIENTS 64

struct event_base;
struct evbuffer;
struct sg_control;

/* What the control socket asks of the daemon. */
struct sg_control_ops {
	/* Every worker's counters and gauges, summed. */
	void (*stats)(void *arg, struct sg_stats *out, struct sg_gauges *g);
	/* Append one line per backend: name state handed failed connects. */
	void (*backends)(void *arg, struct evbuffer *out);
	/* Re-read the configuration; 0 or -1 with a message in err. */
	int (*reload)(void *arg, char *err, size_t errlen);
};

/* Listen at path (a stale socket file is replaced), mode 0660. */
struct sg_control *control_new(struct event_base *base, const char *path,
    const struct sg_control_ops *ops, void *arg, char *err, size_t errlen);
void control_free(struct sg_control *c);

/*
 * Answer one request line (without its newline) into out. Returns 0 if the
 * connection may go on, -1 if it must be closed after the answer. Exposed
 * for tests.
 */
int control_handle(const struct sg_control_ops *ops, void *arg,
    const char *line, size_t len, struct evbuffer *out);

/* Write the counters and gauges in a readable table, or Prometheus text
 * format. */
void control_format_stats(struct evbuffer *out, const struct sg_stats *s,
    const struct sg_gauges *g, int prometheus);

#endif
