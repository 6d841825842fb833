/*
 * checks.c: the set of runtime checks built from a config, one per host and
 * probe.  On reload it moves what must survive (hard state, the knowledge
 * of an open incident, counter history, schedule phase) from the old set to
 * the new one, and resolves incidents of checks that no longer exist.
 */
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

static int
check_cmp(const void *a, const void *b)
{
	return strcmp((*(struct check *const *)a)->key, (*(struct check *const *)b)->key);
}

struct checkset *
checks_build(struct config *cfg)
{
	struct checkset	*set = xcalloc(1, sizeof(*set));
	size_t		 n = 0;

	for (size_t h = 0; h < cfg->nhosts; h++)
		n += cfg->hosts[h].nprobes;
	set->v = xcalloc(n, sizeof(*set->v));
	for (size_t h = 0; h < cfg->nhosts; h++) {
		struct host *host = &cfg->hosts[h];
		for (size_t p = 0; p < host->nprobes; p++) {
			const struct probe_def	*def = host->probes[p];
			struct check		*c = xcalloc(1, sizeof(*c));

			c->key = xasprintf("%s/%s", host->name, def->name);
			c->host = host;
			c->def = def;
			c->result.values = xcalloc(def->nmetrics, sizeof(struct sample));
			c->prev = xcalloc(def->nmetrics, sizeof(struct counter_prev));
			c->state = c->last = SEV_OK;
			c->incident = INC_UNKNOWN;
			set->v[set->n++] = c;
		}
	}
	qsort(set->v, set->n, sizeof(*set->v), check_cmp);
	return set;
}

struct check *
checks_find(const struct checkset *set, const char *key)
{
	struct check	 k = { .key = (char *)key }, *kp = &k, **found;

	found = bsearch(&kp, set->v, set->n, sizeof(*set->v), check_cmp);
	return found ? *found : NULL;
}

static bool
same_target(const struct host *a, const struct host *b)
{
	return strcmp(a->address, b->address) == 0 &&
	    a->snmp.version == b->snmp.version && a->snmp.port == b->snmp.port &&
	    a->snmp.retries == b->snmp.retries &&
	    (a->snmp.community == NULL) == (b->snmp.community == NULL) &&
	    (a->snmp.community == NULL || strcmp(a->snmp.community, b->snmp.community) == 0);
}

/*
 * The incident knowledge always moves: a changed threshold must still be
 * able to resolve the incident the old one opened.  Counter history and the
 * schedule phase move only when the probe itself is unchanged, since a new
 * OID list or interval makes them meaningless.
 */
void
checks_adopt(struct checkset *new, struct checkset *old)
{
	for (size_t i = 0; i < new->n; i++) {
		struct check	*n = new->v[i], *o = checks_find(old, n->key);

		if (o == NULL)
			continue;
		n->state = o->state;
		n->last = o->last;
		n->bad_count = o->bad_count;
		n->incident = o->incident;
		n->failing_logged = o->failing_logged;
		n->summary = o->summary;
		o->summary = NULL;
		o->incident = INC_NONE;		/* moved: retire must not resolve it */
		if (strcmp(n->def->fingerprint, o->def->fingerprint) == 0 &&
		    same_target(n->host, o->host)) {
			memcpy(n->prev, o->prev, n->def->nmetrics * sizeof(*n->prev));
			n->next_due_ms = o->next_due_ms;
			n->runs = o->runs;
			n->overruns = o->overruns;
		}
	}
}

void
checks_retire(struct checkset *old, const struct checkset *new)
{
	for (size_t i = 0; i < old->n; i++) {
		struct check	*o = old->v[i];

		if (checks_find(new, o->key) != NULL || o->incident == INC_NONE)
			continue;
		log_info("%s: check removed from the configuration", o->key);
		incident_resolve(o->host->name, o->def->name, "check removed from the configuration");
		o->incident = INC_NONE;
	}
}

void
checks_free(struct checkset *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct check *c = set->v[i];

		sched_remove(c);
		if (c->probe_state != NULL)
			c->def->ops->free_state(c);
		free(c->key);
		free(c->result.values);
		free(c->prev);
		free(c->summary);
		free(c);
	}
	free(set->v);
	free(set);
}
