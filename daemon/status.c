/*
 * status.c: the fixed tables of probe statuses and check severities.  A
 * probe never reports a bare -1: it picks a row here and adds a reason.
 */
#include "itsmd.h"

static const struct {
	const char	*code;
	enum severity	 sev;
} status_tab[PS__COUNT] = {
	[PS_OK]			= { "ok",		SEV_OK },
	[PS_TIMEOUT]		= { "timeout",		SEV_CRITICAL },
	[PS_REFUSED]		= { "refused",		SEV_CRITICAL },
	[PS_CONNECT_ERROR]	= { "connect-error",	SEV_CRITICAL },
	[PS_AUTH_FAILED]	= { "auth-failed",	SEV_CRITICAL },
	[PS_TLS_ERROR]		= { "tls-error",	SEV_CRITICAL },
	[PS_BAD_STATUS]		= { "bad-status",	SEV_CRITICAL },
	/* the target answered, but not with data: we do not know the state */
	[PS_BAD_RESPONSE]	= { "bad-response",	SEV_UNKNOWN },
	[PS_NO_SUCH_OBJECT]	= { "no-such-object",	SEV_UNKNOWN },
	[PS_ERROR]		= { "error",		SEV_UNKNOWN },
};

const char *
probe_status_code(enum probe_status s)
{
	return (s >= 0 && s < PS__COUNT) ? status_tab[s].code : "invalid";
}

enum severity
probe_status_severity(enum probe_status s)
{
	return (s >= 0 && s < PS__COUNT) ? status_tab[s].sev : SEV_UNKNOWN;
}

const char *
severity_name(enum severity s)
{
	switch (s) {
	case SEV_OK:		return "ok";
	case SEV_WARNING:	return "warning";
	case SEV_CRITICAL:	return "critical";
	case SEV_UNKNOWN:	return "unknown";
	}
	return "invalid";
}

/* CRITICAL outranks UNKNOWN: a known outage matters more than missing data. */
enum severity
sev_worse(enum severity a, enum severity b)
{
	static const int rank[] = {
		[SEV_OK] = 0, [SEV_WARNING] = 1, [SEV_UNKNOWN] = 2, [SEV_CRITICAL] = 3,
	};
	return rank[a] >= rank[b] ? a : b;
}
