/*
 * fuzz_handoff.c -- fuzz target: a message on the handoff socket, as a
 * backend receives it with sg_handoff_recv (include/synguard/handoff.h).
 *
 * Input: one byte whose low 4 bits are how many descriptors to attach
 * (0..15; SG_HANDOFF_MAX_FDS is 8, so some overflow the receiver's control
 * buffer), then the message's data (at most 512 bytes), sent in one
 * sendmsg over an AF_UNIX SOCK_SEQPACKET socketpair.
 *
 * Invariants:
 *  - no descriptor is ever leaked: after the call, the only one open that
 *    was not before is the one returned, and it is close-on-exec;
 *  - an fd is returned exactly when the message is one well-formed header
 *    (size, magic, version, hdr_size, family) with exactly one fd;
 *    otherwise errno is EPROTO, or ECONNRESET for an empty message with no
 *    fd (which on SOCK_SEQPACKET reads like end-of-file);
 *  - the message is consumed whole: nothing is left on the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <synguard/handoff.h>

#include "fuzz.h"

#define MAX_SEND_FDS 15
#define MAX_DATA 512
#define FD_SCAN 256 /* descriptors checked for leaks */

static int sv[2] = {-1, -1};
static int devnull = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		perror("fuzz_handoff: socketpair");
		exit(1);
	}
	/* Never block: the message is always queued before the receive. */
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Which of the first FD_SCAN descriptors are open. */
static void
open_fds(uint8_t open_[FD_SCAN])
{
	for (int fd = 0; fd < FD_SCAN; fd++)
		open_[fd] = fcntl(fd, F_GETFD) != -1;
}

/* Send data with nfds duplicates of /dev/null attached. */
static void
send_msg(const uint8_t *data, size_t len, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(MAX_SEND_FDS * sizeof(int))];
	} ctl;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *c;
	int fds[MAX_SEND_FDS];

	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (nfds > 0) {
		for (int i = 0; i < nfds; i++)
			fds[i] = devnull;
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	FUZZ_CHECK(sendmsg(sv[0], &m, MSG_NOSIGNAL) == (ssize_t)len);
}

/* Whether data is a header sg_handoff_recv must accept. */
static int
well_formed(const uint8_t *data, size_t len)
{
	struct sg_handoff_hdr h;

	if (len != sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	return h.magic == SG_HANDOFF_MAGIC &&
	    h.version == SG_HANDOFF_VERSION && h.hdr_size == sizeof(h) &&
	    (h.family == AF_INET || h.family == AF_INET6);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t before[FD_SCAN], after[FD_SCAN];
	struct sg_handoff_hdr h;
	char spare[8];
	int nfds, fd, err;

	if (size < 1 || size - 1 > MAX_DATA)
		return -1;
	nfds = data[0] & 0x0f;
	data++;
	size--;

	open_fds(before);
	send_msg(data, size, nfds);
	errno = 0;
	fd = sg_handoff_recv(sv[1], &h);
	err = errno;

	if (fd >= 0) {
		FUZZ_CHECK(nfds == 1 && well_formed(data, size));
		FUZZ_CHECK(memcmp(&h, data, sizeof(h)) == 0);
		FUZZ_CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	} else {
		FUZZ_CHECK(!(nfds == 1 && well_formed(data, size)));
		if (size == 0 && nfds == 0)
			FUZZ_CHECK(err == ECONNRESET);
		else
			FUZZ_CHECK(err == EPROTO);
	}

	/* Consumed whole: the next receive finds nothing. */
	FUZZ_CHECK(recv(sv[1], spare, sizeof(spare), MSG_DONTWAIT) == -1 &&
	    errno == EAGAIN);

	open_fds(after);
	for (int i = 0; i < FD_SCAN; i++) {
		if (i == fd)
			FUZZ_CHECK(!before[i] && after[i]);
		else
			FUZZ_CHECK(before[i] == after[i]);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}
