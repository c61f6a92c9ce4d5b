/* reason.c -- names of the drop reasons listed in reason.h. */
#include "reason.h"

static const char *const names[] = {
#define SG_REASON_NAME(id, name) name,
	SG_REASONS(SG_REASON_NAME)
#undef SG_REASON_NAME
};

const char *
reason_name(enum sg_reason r)
{
	if ((unsigned)r >= SG_R__COUNT)
		return "unknown";
	return names[r];
}
