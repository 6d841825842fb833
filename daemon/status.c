/*
 * status.c: the fixed tables of probe statuses and check severities.  A
 * probe never reports a bare -1: it picks a row here and adds a reason.
 * Also the daemon's status text: what each scheduled check has done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int
key_cmp(const void *a, const void *b)
{
	return strcmp((*(struct check *const *)a)->key, (*(struct check *const *)b)->key);
}

/*
 * One line per scheduled check, by key: runs, overruns, consecutive
 * timeouts and the backoff they caused, counter rates discarded.  Read on
 * the loop (the API's /status), so it is a snapshot without locking.
 */
char *
status_text(void)
{
	struct check *const	*v;
	struct check		**by;
	size_t			 n, len = 0, cap;
	char			*out;
	int			 k;

	v = sched_checks(&n);
	by = xcalloc(n ? n : 1, sizeof(*by));
	memcpy(by, v, n * sizeof(*by));
	qsort(by, n, sizeof(*by), key_cmp);
	cap = 128 + n * 160;
	out = xmalloc(cap);
	len = (size_t)snprintf(out, cap, "# check runs overruns timeouts backoff discards\n");
	for (size_t i = 0; i < n; i++) {
		const struct check *c = by[i];

		for (;;) {
			k = snprintf(out + len, cap - len, "%s runs=%llu overruns=%llu "
			    "timeouts=%u backoff=%ux discards=%llu\n", c->key,
			    (unsigned long long)c->runs, (unsigned long long)c->overruns,
			    c->timeouts, c->backoff ? c->backoff : 1,
			    (unsigned long long)c->discards);
			if (k >= 0 && (size_t)k < cap - len)
				break;
			cap *= 2;
			out = xreallocarray(out, cap, 1);
		}
		len += (size_t)k;
	}
	free(by);
	return out;
}
