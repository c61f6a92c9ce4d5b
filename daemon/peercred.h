/*
 * peercred.h -- who is at the other end of a Unix socket (SO_PEERCRED,
 * SO_PEERGROUPS), for the two places that must know: the control socket
 * (root, our own user, or a member of the socket's group) and a backend
 * with allowed_uid (only its own user may receive connections).
 */
#ifndef SG_PEERCRED_H
#define SG_PEERCRED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Whether the peer of fd may use the control socket: its uid is 0 or ours,
 * or its primary or a supplementary group is group. 1 yes, 0 no (why in
 * err), -1 if the credentials cannot be read.
 */
int peercred_control_ok(int fd, gid_t group, char *err, size_t errlen);

/* Whether the peer of fd runs as uid. 1 yes, 0 no (its uid in *got), -1 if
 * the credentials cannot be read. */
int peercred_uid_is(int fd, uint32_t uid, uint32_t *got);

#endif
