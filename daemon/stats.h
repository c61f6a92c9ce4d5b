/*
 * stats.h -- named counters. Each worker owns one struct sg_stats and is the
 * only writer; readers sum the workers' copies on demand (memcached's way:
 * no lock on the hot path). Word-sized relaxed reads are good enough for
 * figures that are only ever displayed.
 */
#ifndef SG_STATS_H
#define SG_STATS_H

#include <stdint.h>

#include "reason.h"

/* name, help text. Prometheus exposes each as synguard_<name>_total. */
#define SG_COUNTERS(X)                                                       \
	X(rx_frames, "frames read from the packet tap")                      \
	X(rx_truncated, "frames longer than the receive buffer")             \
	X(rx_dropped, "frames the kernel dropped because the tap's buffer "  \
		      "was full (the worker fell behind)")                   \
	X(syn_received, "SYN segments received")                             \
	X(synack_sent, "SYN-ACK segments sent, retransmissions included")    \
	X(synack_retransmitted, "SYN-ACK segments retransmitted on a timer") \
	X(synack_retransmit_skipped, "retransmissions skipped because the "  \
				     "table was more than half full")        \
	X(cookie_sent, "SYN-ACK segments that carried a SYN cookie")         \
	X(cookie_valid, "ACKs that completed a handshake through a cookie")  \
	X(cookie_invalid, "ACKs matching no half-open entry whose cookie "    \
			  "failed validation (includes segments of "        \
			  "connections already handed off)")                 \
	X(halfopen_inserted, "half-open entries created")                    \
	X(halfopen_completed, "handshakes completed from the half-open table") \
	X(halfopen_expired, "half-open entries expired after the last "      \
			    "retransmission")                                \
	X(halfopen_reset, "half-open entries cleared by an RST")             \
	X(established, "connections materialized as kernel sockets")        \
	X(handoff, "connections handed to a backend, or held for one "       \
		   "while the hold lasts (on_no_backend = hold)")            \
	X(handoff_reset, "connections reset because no backend could take "   \
			 "them, at once or when their hold ran out")        \
	X(early_data_bytes, "bytes that rode on the completing segment and "  \
			    "were queued in the new socket")                 \
	X(reinjected, "segments with data that arrived before their "      \
		      "connection's socket existed, handed to it again")     \
	X(tx_errors, "segments the kernel refused, or that an AF_XDP "      \
		     "socket still held when it closed")                    \
	X(tx_xdp, "segments sent through an AF_XDP socket (tx_path = "      \
		  "\"xdp\")")                                               \
	X(tx_xdp_missed, "answers that left through AF_PACKET although "    \
			 "tx_path is \"xdp\": no AF_XDP socket for the "    \
			 "interface, or none of its memory free")            \
	X(xdp_answered, "SYNs the XDP program answered with a cookie "      \
			"(xdp_interfaces; not in syn_received or "          \
			"cookie_sent)")                                      \
	X(xdp_passed, "SYNs to a listen entry the XDP program left to the " \
		      "workers: it was off (the segment rate below "        \
		      "xdp_above), or the SYN was unusual")                  \
	X(xdp_dropped, "SYNs to a listen entry the XDP program dropped "    \
		       "while on: from or to an address no SYN may have "   \
		       "(what the workers count as ip_bad_addr)")            \
	X(xdp_runs, "frames the XDP program ran on, while BPF run-time "    \
		    "statistics were on (kernel.bpf_stats_enabled)")         \
	X(xdp_run_ns, "nanoseconds the XDP program ran, over those "        \
		      "xdp_runs")                                            \
	X(rx_to_ring, "times a worker moved to its receive ring (its rate "  \
		      "rose above rx_ring_above, or its plain tap dropped "  \
		      "frames)")                                             \
	X(rx_to_plain, "times a worker moved back to reading each segment "  \
		       "as it comes (its rate stayed low for a second)")

struct sg_stats {
#define SG_STATS_FIELD(name, help) uint64_t name;
	SG_COUNTERS(SG_STATS_FIELD)
	uint64_t drops[SG_R__COUNT];
};

/* Gauges: figures of the moment, summed over the workers. Prometheus
 * exposes each as synguard_<name>. */
#define SG_GAUGES(X)                                                         \
	X(halfopen_entries, "half-open entries now")                         \
	X(memory_bytes, "bytes the workers allocated: half-open tables, "   \
			"receive buffers and AF_XDP regions")                \
	X(rx_ring_workers, "workers reading from their receive ring now "    \
			   "(the others read each segment as it comes)")

struct sg_gauges {
	SG_GAUGES(SG_STATS_FIELD)
#undef SG_STATS_FIELD
};

#endif
