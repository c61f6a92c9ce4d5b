/*
 * xdp_abi.h -- what the daemon and its XDP program (xdp_syn.bpf.c) share:
 * the layout of the program's maps. Included by both, so only fixed-width
 * kernel types.
 *
 * The daemon writes; the program reads, except the per-CPU counters. Every
 * map lookup in the program that fails lets the packet go on to the
 * daemon's tap (XDP_PASS): the program only ever answers what it is sure
 * the daemon would answer the same way.
 */
#ifndef SG_XDP_ABI_H
#define SG_XDP_ABI_H

#include <linux/types.h>

/* The one entry of the sg_conf array. */
struct sg_xdp_conf {
	__u64 k0, k1;   /* the cookie secret (struct sg_sipkey) */
	__u64 ik0, ik1; /* the TSval offset key (engine_isn_key) */
	__u64 until_ns; /* CLOCK_MONOTONIC: past it, these settings are stale
			   (the daemon stopped writing them): answer nothing */
	__u32 counter;  /* the cookie counter now (cookie_counter) */
	__u32 on;       /* 1: answer SYNs to a listen entry with a cookie */
	__u32 burst;    /* SYNs within a SG_XDP_BURST_NS window on one CPU
			   that turn it on at once, on every CPU, for
			   SG_XDP_HOT_NS; 0: never */
	__u32 addrs_known; /* 1: a wildcard entry takes only sg_addrs */
	__u16 window;   /* the window our SYN-ACK offers */
	__u8 wscale;    /* the shift our SYN-ACK offers */
	__u8 pad;
};

/* A burst: SYNs counted on one CPU over windows of 10 ms. It keeps the
 * program answering, on every CPU, for 100 ms, by when the daemon's own
 * rule (every 25 ms) has taken over. */
#define SG_XDP_BURST_NS 10000000ULL
#define SG_XDP_HOT_NS 100000000ULL

/* A listen entry; the wildcard address is all zero. */
struct sg_xdp_listen {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad;
	__u16 port;  /* host byte order */
	__u8 addr[16];
};

/* One of the host's own addresses, for wildcard entries. */
struct sg_xdp_addr {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* Per interface (key: ifindex): the MSS to offer, MTU less the headers,
 * and its MAC address: a frame to any other (broadcast, multicast, another
 * host's on a promiscuous port) is not ours to answer. */
struct sg_xdp_if {
	__u16 mss4;
	__u16 mss6;
	__u8 mac[6];
	__u8 pad[2];
};

/* Per CPU: SYNs to a listen entry in the current burst window. */
struct sg_xdp_rate {
	__u64 win_ns;
	__u32 n;
	__u32 pad;
};

/* The per-CPU counters, by index. */
enum {
	SG_XDP_ANSWERED, /* SYNs answered here with a cookie */
	SG_XDP_PASSED,   /* SYNs to a listen entry left to the daemon: the
			    program was off, or the SYN was unusual */
	SG_XDP_DROPPED,  /* SYNs to a listen entry dropped here while on: a
			    source or destination no SYN may have (the
			    workers would drop them too, as ip_bad_addr) */
	SG_XDP__COUNT
};

#define SG_XDP_LISTEN_MAX 64
#define SG_XDP_ADDRS_MAX 256
#define SG_XDP_IFS_MAX 64

#endif
