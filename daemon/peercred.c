/*
 * peercred.c -- peer credentials of Unix sockets. See peercred.h.
 * The kernel records them at connect() (or listen()) time; a process that
 * changes its uid later is still judged by what it was then.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peercred.h"

/* Most supplementary groups looked at; more are not searched. */
#define PEER_GROUPS_MAX 256

int
peercred_control_ok(int fd, gid_t group, char *err, size_t errlen)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t groups[PEER_GROUPS_MAX];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	if (uc.uid == 0 || uc.uid == geteuid() || uc.gid == group)
		return 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (size_t i = 0; i < len / sizeof(groups[0]); i++)
			if (groups[i] == group)
				return 1;
	}
	snprintf(err, errlen, "uid %u is neither root, nor synguard's user, "
	    "nor in group %u", (unsigned)uc.uid, (unsigned)group);
	return 0;
}

int
peercred_uid_is(int fd, uint32_t uid, uint32_t *got)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	*got = (uint32_t)uc.uid;
	return (uint32_t)uc.uid == uid;
}
