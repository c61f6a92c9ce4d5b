/*
 * config.h -- the configuration, parsed once from a libconfig file into one
 * plain struct that the rest of the daemon reads and never re-parses.
 *
 * Every error names the file, the line and the setting, with the allowed
 * range or values. An unknown setting is an error: typos must not pass.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SG_CONFIG_MAX_LISTEN 64
#define SG_CONFIG_MAX_BACKENDS 64
#define SG_CONFIG_NAME_MAX 64
#define SG_CONFIG_PATH_MAX 108 /* sizeof(sun_path) */
#define SG_CONFIG_MAX_XDP 8

enum sg_cookie_mode { SG_COOKIES_NEVER, SG_COOKIES_AUTO, SG_COOKIES_ALWAYS };
enum sg_backend_mode { SG_BACKEND_FD, SG_BACKEND_PROXY };
enum sg_no_backend { SG_NO_BACKEND_RESET, SG_NO_BACKEND_HOLD };
enum sg_tx_path { SG_TX_XDP, SG_TX_PACKET };
enum sg_log_level {
	SG_LOG_ERR = 3, /* syslog priorities, as the journal wants them */
	SG_LOG_WARNING = 4,
	SG_LOG_NOTICE = 5,
	SG_LOG_INFO = 6,
	SG_LOG_DEBUG = 7,
};

struct sg_listen_conf {
	int family;                /* AF_INET or AF_INET6 */
	uint8_t addr[16];          /* network byte order; IPv4 in first 4 */
	uint16_t port;             /* host byte order */
	char address[64];          /* as written, for messages */
};

#define SG_ANY_UID UINT32_MAX

struct sg_backend_conf {
	char name[SG_CONFIG_NAME_MAX];
	char path[SG_CONFIG_PATH_MAX];
	enum sg_backend_mode mode;
	uint32_t weight;           /* 1..1000 */
	uint32_t allowed_uid;      /* the backend's uid, checked with
				      SO_PEERCRED; SG_ANY_UID: any */
};

struct sg_config {
	char file[4096];           /* where it was read from */

	struct sg_listen_conf listen[SG_CONFIG_MAX_LISTEN];
	unsigned nlisten;
	unsigned workers;          /* 0: one per CPU */
	uint32_t rx_batch_ms;      /* the tap ring's block timeout; 0: no
				      ring, each segment read as it comes */
	uint32_t rx_ring_above;    /* frames/s per worker above which it
				      reads through the ring; 0: always */
	enum sg_tx_path tx_path;   /* how replies to a hop leave */
	char xdp_interfaces[SG_CONFIG_MAX_XDP][16]; /* where the XDP
				      program answers SYNs */
	unsigned nxdp;
	uint32_t xdp_above;        /* SYN/s above which it does; 0: always */

	/* handshake { } */
	enum sg_cookie_mode cookies;
	uint32_t queue_size;       /* half-open entries, per daemon */
	uint32_t synack_retries;
	uint32_t synack_timeout_ms;
	uint32_t cookie_period_s;
	uint32_t syn_rate_per_source;  /* SYN/s from one address; 0: off */
	uint32_t syn_burst_per_source; /* SYNs above the rate; 0: the rate */
	char cookie_key_file[4096]; /* "" : a random secret per start */

	struct sg_backend_conf backends[SG_CONFIG_MAX_BACKENDS];
	unsigned nbackends;
	enum sg_no_backend on_no_backend;
	uint32_t hold_timeout_ms;

	char control_socket[SG_CONFIG_PATH_MAX];
	char user[64];             /* "" : do not change user */
	enum sg_log_level log_level;
};

/* Defaults for every setting, as documented in conf/synguard.conf. */
void config_defaults(struct sg_config *c);

/*
 * Read and validate path into *c (which is first set to the defaults).
 * Returns 0, or -1 with one line in err (truncated to errlen):
 *	FILE:LINE: setting 'NAME': problem (allowed: RANGE or VALUES)
 *	FILE:LINE: syntax error			(libconfig's words)
 *	FILE: setting 'NAME': missing (allowed: ...)	(a required setting)
 *	FILE: cannot read: REASON
 * FILE is the file the setting was read from (an @include'd one, maybe);
 * NAME is its full path, e.g. "handshake.queue_size" or "listen[1].port".
 * On error *c holds whatever was read so far: do not use it.
 */
int config_load(const char *path, struct sg_config *c, char *err,
    size_t errlen);

/* The names used in the file, for messages and the control socket. */
const char *config_cookie_mode_name(enum sg_cookie_mode m);
const char *config_backend_mode_name(enum sg_backend_mode m);
const char *config_no_backend_name(enum sg_no_backend m);
const char *config_log_level_name(enum sg_log_level level);

#endif
