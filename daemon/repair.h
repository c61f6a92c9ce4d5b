/*
 * repair.h -- materializing: turn a handshake that synguard completed into an
 * ordinary ESTABLISHED kernel TCP socket with TCP_REPAIR, carrying everything
 * that was negotiated, and the data that rode on the completing segment.
 */
#ifndef SG_REPAIR_H
#define SG_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "tuple.h"

struct sg_conn_params {
	struct sg_tuple tuple;  /* peer = client, local = our listen address */
	uint32_t client_isn;    /* the SYN's sequence number */
	uint32_t our_isn;       /* our SYN-ACK's sequence number */
	uint8_t optflags;       /* SG_OPT_* both sides agreed on */
	uint8_t peer_wscale;    /* the client's shift (if SG_OPT_WSCALE) */
	uint8_t our_wscale;     /* the shift our SYN-ACK offered */
	uint16_t peer_mss;      /* the client's MSS (536 if it sent none) */
	uint16_t our_mss;       /* the MSS our SYN-ACK offered */
	uint32_t peer_window;   /* window field of the completing segment,
				   unscaled */
	uint32_t our_window;    /* window field our SYN-ACK offered */
	uint32_t ts_recent;     /* the client's latest TSval */
	uint32_t ts_next;       /* the TSval the socket's next segment should
				   carry (>= the one our SYN-ACK sent) */
	const uint8_t *data;    /* payload of the completing segment */
	size_t data_len;
};

/*
 * Make the socket. Returns the fd (blocking mode off, close-on-exec on), or
 * -1 with errno set: EADDRNOTAVAIL/EADDRINUSE when a socket for this 4-tuple
 * already exists (the connection was materialized before), ENXIO when the
 * local address cannot be bound (not, or no longer, on this host), anything
 * else when the kernel refused a step.
 */
int repair_materialize(const struct sg_conn_params *p);

#endif
