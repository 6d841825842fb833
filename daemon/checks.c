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
			c->inst = xcalloc(1, sizeof(*c->inst));
			c->inst[0] = check_inst_new(c, "");
			c->ninst = 1;
			set->v[set->n++] = c;
			if (def == host->avail)
				host->avail_check = c;
		}
	}
	qsort(set->v, set->n, sizeof(*set->v), check_cmp);
	state_configure(cfg);
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
 * The instances, with their hard state and incident knowledge, always move:
 * a changed threshold must still be able to resolve the incident the old
 * one opened.  Counter history and the schedule phase move only when the
 * probe and its target are unchanged, since a new OID list, interval or
 * address makes them meaningless.
 */
void
checks_adopt(struct checkset *new, struct checkset *old)
{
	for (size_t i = 0; i < new->n; i++) {
		struct check	*n = new->v[i], *o = checks_find(old, n->key);
		bool		 same;

		if (o == NULL)
			continue;
		same = strcmp(n->def->fingerprint, o->def->fingerprint) == 0 &&
		    same_target(n->host, o->host);
		for (size_t j = 0; j < n->ninst; j++)
			check_inst_free(n->inst[j]);
		free(n->inst);
		n->inst = o->inst;
		n->ninst = o->ninst;
		o->inst = NULL;			/* moved: retire must not resolve them */
		o->ninst = 0;
		if (!n->def->table) {		/* was a table probe: its rows are gone */
			for (size_t j = 1; j < n->ninst; j++) {
				state_forget(n, n->inst[j], "no longer in the configuration");
				check_inst_free(n->inst[j]);
			}
			n->ninst = 1;
		}
		/* kept files are per metric name: the new def may name others */
		for (size_t j = 0; j < n->ninst; j++) {
			free(n->inst[j]->series);
			n->inst[j]->series = NULL;
		}
		if (same) {
			n->next_due_ms = o->next_due_ms;
			n->runs = o->runs;
			n->overruns = o->overruns;
			continue;
		}
		for (size_t j = 0; j < n->ninst; j++) {
			struct check_inst *ci = n->inst[j];
			free(ci->prev);
			ci->nprev = n->def->nmetrics;
			ci->prev = xcalloc(ci->nprev ? ci->nprev : 1, sizeof(*ci->prev));
			ci->st.th_active = 0;	/* bits name thresholds of the old definition */
		}
	}
}

void
checks_retire(struct checkset *old, const struct checkset *new)
{
	for (size_t i = 0; i < old->n; i++) {
		struct check	*o = old->v[i];

		if (checks_find(new, o->key) != NULL)
			continue;
		for (size_t j = 0; j < o->ninst; j++)
			state_forget(o, o->inst[j], "check removed from the configuration");
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
		for (size_t j = 0; j < c->ninst; j++)
			check_inst_free(c->inst[j]);
		free(c->inst);
		free(c);
	}
	free(set->v);
	free(set);
}
