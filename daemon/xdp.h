/*
 * xdp.h -- the XDP program that answers SYNs with cookies in the receive
 * path (xdp_syn.bpf.c), seen from the daemon: load it, attach it, keep its
 * maps in step with the configuration, turn it on under a flood.
 *
 * Linux 5.18 or later (bpf_xdp_get_buff_len, multi-buffer XDP).
 * Loading needs CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN) in the initial
 * user namespace, so it happens before the privilege drop. Each attachment
 * is a BPF link: when the daemon ends, however it ends, the kernel takes the
 * program off the interface. The maps are written through their fds, which
 * needs no capability on current kernels (seen on 6.18 with
 * kernel.unprivileged_bpf_disabled = 2); a kernel that refuses it makes the
 * daemon log "cannot update the XDP program's settings", and the program
 * stops answering XDP_STALE_MS later: keep such a daemon running as root.
 */
#ifndef SG_XDP_H
#define SG_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "cookie.h"
#include "tuple.h"

struct sg_xdp;

/* Whether this build has the XDP program at all (configure --disable-xdp
 * or no BPF compiler: no). */
bool xdp_built(void);

/*
 * Load the program with secret's keys. NULL with a message in err when the
 * build has none, the kernel refuses it (EPERM: no CAP_BPF) or libbpf
 * fails.
 */
struct sg_xdp *xdp_new(const struct sg_cookie_secret *secret, char *err,
    size_t errlen);

/* Attach to an interface by name. Returns 0, or -1 with a message. */
int xdp_attach(struct sg_xdp *x, const char *ifname, char *err,
    size_t errlen);

/*
 * Write the listen entries, the window and shift our SYN-ACKs offer
 * (worker_synack_window), the host's addresses (for wildcard entries; NULL
 * or empty: every address is ours, as in the engine) and each attached
 * interface's MSS. Returns 0, or -1 with errno (the old contents then
 * partly stay).
 */
int xdp_sync(struct sg_xdp *x, const struct sg_config *conf,
    const struct sg_addrset *local, uint16_t window, uint8_t wscale);

/*
 * Set the cookie counter, whether the program answers (on), and how many
 * SYNs to a listen entry within a 10 ms window on one CPU make it answer
 * at once, on every CPU (burst, 0: never), before the daemon's rule can
 * tell.
 * The settings hold for XDP_STALE_MS: the program answers nothing on
 * settings the daemon stopped refreshing. 0, or -1 with errno.
 */
#define XDP_STALE_MS 10000
int xdp_set(struct sg_xdp *x, uint32_t counter, bool on, uint32_t burst);

/* The program's counters summed over the CPUs: SG_XDP_ANSWERED, ... */
uint64_t xdp_count(struct sg_xdp *x, unsigned idx);

/* The time the program has run, in ns, and how often: counted only while
 * BPF run-time statistics are on (sysctl kernel.bpf_stats_enabled, or a
 * BPF_ENABLE_STATS descriptor held open); 0 otherwise. */
void xdp_runtime(struct sg_xdp *x, uint64_t *ns, uint64_t *runs);

/* The program's fd, for tests (bpf_prog_test_run). */
int xdp_prog_fd(const struct sg_xdp *x);

/* Detach from every interface and unload. */
void xdp_free(struct sg_xdp *x);

/*
 * The on/off rule, pure: on while the rate of segments for our ports (those
 * the workers read, and the SYNs answered here; segs is their running
 * count) is above `above` a second, over samples 20 ms apart or more; off
 * after a second below a quarter of it. above 0: always on.
 */
struct sg_xdp_gate {
	bool on;
	uint64_t last_ms;   /* the last sample */
	uint64_t last_segs; /* the count then */
	uint64_t low_since_ms;
};
bool xdp_gate(struct sg_xdp_gate *g, uint32_t above, uint64_t now_ms,
    uint64_t segs);

#endif
