/*
 * probe.c: the table of probe kinds.  A new kind is one file in probes/
 * and one line here; nothing else in the daemon names a kind.
 */
#include <string.h>

#include "itsmd.h"

static const struct probe_ops *const probe_kinds[] = {
	&snmp_probe_ops,
	&http_probe_ops,
	&tcp_probe_ops,
	&icmp_probe_ops,
};
#define NKINDS	(sizeof(probe_kinds) / sizeof(probe_kinds[0]))

const struct probe_ops *
probe_lookup(const char *name)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(probe_kinds[i]->name, name) == 0)
			return probe_kinds[i];
	return NULL;
}

const struct probe_ops *
probe_kind(size_t i)
{
	return i < NKINDS ? probe_kinds[i] : NULL;
}

int
probe_init_all(struct event_base *base)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (probe_kinds[i]->init != NULL && probe_kinds[i]->init(base) == -1) {
			log_warnx("%s probes: initialisation failed", probe_kinds[i]->name);
			return -1;
		}
	return 0;
}

void
probe_shutdown_all(void)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (probe_kinds[i]->shutdown != NULL)
			probe_kinds[i]->shutdown();
}
