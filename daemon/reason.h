/*
 * reason.h -- why a segment was dropped or not acted on.
 *
 * One list, used by the codec and the handshake engine to report, by the
 * stats to count, by logs to name and by tests to assert. Add a reason here,
 * never a bare number elsewhere.
 */
#ifndef SG_REASON_H
#define SG_REASON_H

#define SG_REASONS(X)                                                        \
	X(NONE, "none")                                                      \
	/* link and network layer */                                         \
	X(LINK_TRUNCATED, "link_truncated")                                  \
	X(LINK_NOT_IP, "link_not_ip")                                        \
	X(IP_TRUNCATED, "ip_truncated")                                      \
	X(IP_BAD_VERSION, "ip_bad_version")                                  \
	X(IP_BAD_HDRLEN, "ip_bad_hdrlen")                                    \
	X(IP_BAD_TOTLEN, "ip_bad_totlen")                                    \
	X(IP_BAD_CSUM, "ip_bad_csum")                                        \
	X(IP_FRAGMENT, "ip_fragment")                                        \
	X(IP_NOT_TCP, "ip_not_tcp")                                          \
	X(IP_BAD_ADDR, "ip_bad_addr")                                        \
	X(IP6_EXTHDR_BAD, "ip6_exthdr_bad")                                  \
	/* transport layer */                                                \
	X(TCP_TRUNCATED, "tcp_truncated")                                    \
	X(TCP_BAD_DOFF, "tcp_bad_doff")                                      \
	X(TCP_BAD_CSUM, "tcp_bad_csum")                                      \
	X(TCP_BAD_PORT, "tcp_bad_port")                                      \
	X(OPT_TRUNCATED, "opt_truncated")                                    \
	X(OPT_BAD_LEN, "opt_bad_len")                                        \
	/* handshake engine */                                               \
	X(BAD_FLAGS, "bad_flags")                                            \
	X(NOT_OUR_PORT, "not_our_port")                                      \
	X(TABLE_FULL, "table_full")                                          \
	X(COOKIE_INVALID, "cookie_invalid")                                  \
	X(ACK_NO_STATE, "ack_no_state")                                      \
	X(ACK_BAD_SEQ, "ack_bad_seq")                                        \
	X(RST_NO_STATE, "rst_no_state")                                      \
	X(RST_OUT_OF_WINDOW, "rst_out_of_window")                            \
	X(ALREADY_ESTABLISHED, "already_established")                        \
	X(SYN_RATE_LIMIT, "syn_rate_limit")                                  \
	X(MATERIALIZE_FAILED, "materialize_failed")                          \
	X(TX_FAILED, "tx_failed")

enum sg_reason {
#define SG_REASON_ENUM(id, name) SG_R_##id,
	SG_REASONS(SG_REASON_ENUM)
#undef SG_REASON_ENUM
	SG_R__COUNT
};

/* Stable, lower-case name of a reason, for stats and logs. */
const char *reason_name(enum sg_reason r);

#endif
