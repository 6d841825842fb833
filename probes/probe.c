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

/*
 * What every probe kind's own keys share: no block, given once unless the
 * key may repeat, and between min and max arguments, worded like
 * conf_build's keys.  The key counts as given even when it is wrong, so
 * finish() does not also call it missing.  0, or -1 with the error said.
 */
int
probe_key_check(const struct conf_node *n, bool multi, size_t min, size_t max,
    bool *have, struct conf_pos *seen, struct conf_err *err)
{
	if (n->block) {
		conf_error(err, &n->pos, "'%s' does not take a block", n->name);
		return -1;
	}
	if (*have && !multi) {
		conf_error(err, &n->pos, "duplicate key '%s' (first at %s:%d:%d)", n->name,
		    seen->file, seen->line, seen->col);
		return -1;
	}
	*have = true;
	*seen = n->pos;
	if (n->nargs >= min && n->nargs <= max)
		return 0;
	if (min == max)
		conf_error(err, &n->pos, "'%s' takes %zu argument%s (got %zu)", n->name, min,
		    min == 1 ? "" : "s", n->nargs);
	else
		conf_error(err, &n->pos, "'%s' takes %zu to %zu arguments (got %zu)", n->name,
		    min, max, n->nargs);
	return -1;
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
