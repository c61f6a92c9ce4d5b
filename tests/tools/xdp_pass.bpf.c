/*
 * xdp_pass.bpf.c -- an XDP program that lets every frame through. The
 * tests attach it to the client's end of a veth pair: a veth takes the
 * frames its peer sends back with XDP_TX (the server's SYN-ACKs from
 * synguard's XDP program) only while it runs an XDP program of its own.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int
xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
