/*
 * service.c: business services.  A service's state is derived from its
 * members' hard states (and its dependencies') by its rule, each time a
 * member's hard state or maintenance flag changes; that change, and every
 * change of a host's availability, is written to the availability journal
 * (avail.c), from which PostgreSQL computes SLAs.
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

/*
 * One watched check: a service member or a host's availability check, with
 * the aggregate last seen (worst hard state of its instances).  Sorted by
 * check pointer, for check_done's lookup.
 */
struct watched {
	const struct check	*c;
	enum severity		 state;
	bool			 maint;
	bool			 known;		/* has been evaluated in this run */
	bool			 host_avail;	/* its host's availability check */
	size_t			*svcs;		/* services it is a member of */
	size_t			 nsvcs;
};

struct svc_rt {
	const struct service	*def;
	struct watched		**members;	/* def->members order; NULL: not found */
	size_t			 *dependants;	/* services that depend on this one */
	size_t			  ndependants;
	/*
	 * svc_derive's scratch, made once per configure and sized by the
	 * member count: a derivation runs on every member change.  weights
	 * never change, so they are filled here once.
	 */
	enum severity		 *best, *worst;
	int			 *weights;
	enum severity		  state;
	bool			  maint;
	bool			  decided;	/* state known (not waiting on first runs) */
	bool			  mark;		/* derivation in progress (configure) */
};

/* What the journal last heard per subject; kept across reloads. */
struct journaled {
	char		*key;		/* "kind\tsubject" */
	enum severity	 state;
	bool		 maint;
};

static struct {
	const struct config	*cfg;
	struct watched		*w;
	size_t			 nw;
	struct svc_rt		*s;
	size_t			 ns;
	void			*journal;	/* tsearch tree of struct journaled */
	char			**subjects;	/* "kind\tname" of every service and host */
	size_t			  nsubjects;
	bool			  stopping;	/* unknown journaled: nothing more to say */
} sv;

static int
journaled_cmp(const void *a, const void *b)
{
	return strcmp(((const struct journaled *)a)->key, ((const struct journaled *)b)->key);
}

/* Journal a subject's state unless it is what the journal already has. */
static bool
journal(const char *kind, const char *subject, enum severity st, bool maint, uint64_t when)
{
	struct journaled	 probe, *j, **slot;

	probe.key = xasprintf("%s\t%s", kind, subject);
	if ((slot = tsearch(&probe, &sv.journal, journaled_cmp)) == NULL)
		fatalx("service: out of memory");
	j = *slot;
	if (j == &probe) {
		j = xcalloc(1, sizeof(*j));
		j->key = probe.key;
		*slot = j;
	} else {
		free(probe.key);
		if (j->state == st && j->maint == maint)
			return false;
	}
	j->state = st;
	j->maint = maint;
	avail_record(kind, subject, st, maint, when);
	return true;
}

static int
subject_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A subject the new conf no longer has (a service or host removed by a
 * reload) is no longer watched: its open interval ends as unknown rather
 * than running on as its last state.  The new subjects are sorted and each
 * old one looked up, so a reload of ten thousand of them stays fast.
 */
static void
journal_forget_removed(const struct config *cfg, uint64_t now)
{
	char	**cur, **sorted;
	size_t	  ncur = cfg != NULL ? cfg->nservices + cfg->nhosts : 0;

	cur = xcalloc(ncur > 0 ? ncur : 1, sizeof(*cur));
	for (size_t i = 0; i < ncur; i++)
		cur[i] = i < cfg->nservices ?
		    xasprintf("service\t%s", cfg->services[i].name) :
		    xasprintf("host\t%s", cfg->hosts[i - cfg->nservices].name);
	sorted = xcalloc(ncur > 0 ? ncur : 1, sizeof(*sorted));
	memcpy(sorted, cur, ncur * sizeof(*sorted));
	qsort(sorted, ncur, sizeof(*sorted), subject_cmp);
	for (size_t i = 0; i < sv.nsubjects; i++) {
		char		*tab = strchr(sv.subjects[i], '\t');
		const char	*name = tab + 1;
		struct journaled probe = { .key = sv.subjects[i] };

		if (bsearch(&sv.subjects[i], sorted, ncur, sizeof(*sorted),
		    subject_cmp) == NULL &&
		    tfind(&probe, &sv.journal, journaled_cmp) != NULL) {
			*tab = '\0';
			log_info("%s %s: no longer configured; its availability is unknown "
			    "from now on", sv.subjects[i], name);
			journal(sv.subjects[i], name, SEV_UNKNOWN, false, now);
		}
		free(sv.subjects[i]);
	}
	free(sv.subjects);
	free(sorted);
	sv.subjects = cur;
	sv.nsubjects = ncur;
}

/*
 * The rule alone.  Up is OK or WARNING; SEV_UNKNOWN stands for a member
 * whose state is not known.  UNKNOWN comes out when the unknown members
 * could tip the rule either way, so no data never passes for up.
 */
enum severity
service_rule_eval(enum service_rule rule, int at_least, double weighted_pct,
    const enum severity *st, const int *weight, size_t n)
{
	double		 total = 0, up = 0, unknown = 0, need;
	enum severity	 worst = SEV_OK;

	if (n == 0)
		return SEV_UNKNOWN;
	for (size_t i = 0; i < n; i++) {
		double	w = rule == SVC_WEIGHTED && weight != NULL ? weight[i] : 1;

		worst = sev_worse(worst, st[i]);
		total += w;
		if (st[i] == SEV_OK || st[i] == SEV_WARNING)
			up += w;
		else if (st[i] == SEV_UNKNOWN)
			unknown += w;
	}
	switch (rule) {
	case SVC_ALL:
		return worst;
	case SVC_AT_LEAST:
		need = at_least;
		break;
	case SVC_WEIGHTED:
	default:
		/* a hair under, so 2 of 3 meets 66.67% despite rounding */
		need = total * weighted_pct / 100.0 - 1e-9;
		break;
	}
	if (up >= need)
		return worst == SEV_OK ? SEV_OK : SEV_WARNING;
	if (up + unknown >= need)
		return SEV_UNKNOWN;
	return SEV_CRITICAL;
}

/* The aggregate of a check: worst hard state over its instances. */
static void
watched_read(const struct check *c, enum severity *st, bool *maint, bool *known)
{
	*st = SEV_OK;
	*maint = false;
	*known = c->ninst > 0 && c->inst[0]->st.nhist > 0;
	for (size_t i = 0; i < c->ninst; i++) {
		const struct check_state *s = &c->inst[i]->st;

		if (s->nhist == 0)
			continue;
		*st = sev_worse(*st, s->state);
		*maint = *maint || s->maintenance;
	}
	if (!*known)
		*st = SEV_UNKNOWN;
}

static int
watched_cmp(const void *a, const void *b)
{
	const struct check	*x = ((const struct watched *)a)->c;
	const struct check	*y = ((const struct watched *)b)->c;

	return x < y ? -1 : x > y;
}

static struct watched *
watched_find(const struct check *c)
{
	struct watched	key = { .c = c };

	if (sv.nw == 0)
		return NULL;
	return bsearch(&key, sv.w, sv.nw, sizeof(*sv.w), watched_cmp);
}

static const char *
rule_text(const struct service *d, char *buf, size_t len)
{
	switch (d->rule) {
	case SVC_AT_LEAST:
		snprintf(buf, len, "at-least %d of %zu", d->at_least, d->nmembers);
		break;
	case SVC_WEIGHTED:
		snprintf(buf, len, "weighted %g%%", d->weighted_pct);
		break;
	default:
		snprintf(buf, len, "all of %zu", d->nmembers);
		break;
	}
	return buf;
}

static void	svc_derive(size_t, uint64_t, int);

static void
svc_set(size_t i, enum severity st, bool maint, uint64_t when, int depth)
{
	struct svc_rt	*r = &sv.s[i];
	char		 rb[64];

	if (r->decided && r->state == st && r->maint == maint)
		return;
	r->decided = true;
	r->state = st;
	r->maint = maint;
	/* after a reload the journal knows it already: no new line then */
	if (journal("service", r->def->name, st, maint, when))
		log_info("service %s: %s (rule %s%s)", r->def->name, severity_name(st),
		    rule_text(r->def, rb, sizeof(rb)), maint ? "; in maintenance" : "");
	/* Loops are conf errors, so this ends; depth guards a mistake there. */
	for (size_t k = 0; k < r->ndependants && depth < 64; k++)
		svc_derive(r->dependants[k], when, depth + 1);
}

static void
svc_derive(size_t i, uint64_t when, int depth)
{
	struct svc_rt		*r = &sv.s[i];
	const struct service	*d = r->def;
	enum severity		*best = r->best, *worst = r->worst;
	enum severity		 res, alt;
	bool			 maint = false;

	/*
	 * A member not run yet (a start, a reload) is taken both ways: OK and
	 * CRITICAL.  Until the two agree, the service is not decided, so a
	 * restart never journals a made-up state for the seconds it takes.
	 */
	for (size_t k = 0; k < d->nmembers; k++) {
		const struct watched *m = r->members[k];

		if (m == NULL || !m->known) {
			best[k] = SEV_OK;
			worst[k] = SEV_CRITICAL;
			continue;
		}
		best[k] = worst[k] = m->state;
		maint = maint || m->maint;
	}
	res = service_rule_eval(d->rule, d->at_least, d->weighted_pct, best, r->weights,
	    d->nmembers);
	alt = service_rule_eval(d->rule, d->at_least, d->weighted_pct, worst, r->weights,
	    d->nmembers);
	for (size_t k = 0; k < d->ndepends; k++) {
		const struct svc_rt *dep = &sv.s[d->depends[k]];

		if (!dep->decided)
			alt = SEV_CRITICAL;	/* it may yet be down: wait for it */
		else if (dep->state == SEV_CRITICAL) {
			res = alt = SEV_CRITICAL;
			maint = maint || dep->maint;
		}
	}
	if (res != alt)
		return;
	/* Planned work only matters while it takes the service down. */
	svc_set(i, res, maint && res != SEV_OK, when, depth);
}

/* From check_done(): c's hard state may have moved. */
void
service_check_done(const struct check *c)
{
	struct watched	*m;
	enum severity	 st;
	bool		 maint, known;
	uint64_t	 when = c->result.finished_wall_ms != 0 ? c->result.finished_wall_ms :
			    wall_ms();

	/* Runs ending while the database drains must not undo the unknowns. */
	if (sv.stopping || (m = watched_find(c)) == NULL)
		return;
	watched_read(c, &st, &maint, &known);
	if (m->known == known && m->state == st && m->maint == maint)
		return;
	m->known = known;
	m->state = st;
	m->maint = maint;
	if (!known)
		return;
	if (m->host_avail)
		journal("host", c->host->name, st, maint, when);
	for (size_t k = 0; k < m->nsvcs; k++)
		svc_derive(m->svcs[k], when, 0);
}

static void
rt_free(void)
{
	for (size_t i = 0; i < sv.nw; i++)
		free(sv.w[i].svcs);
	for (size_t i = 0; i < sv.ns; i++) {
		free(sv.s[i].members);
		free(sv.s[i].dependants);
		free(sv.s[i].best);
		free(sv.s[i].worst);
		free(sv.s[i].weights);
	}
	free(sv.w);
	free(sv.s);
	sv.w = NULL;
	sv.s = NULL;
	sv.nw = sv.ns = 0;
}

static int
host_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct host *const *)a)->name,
	    (*(const struct host *const *)b)->name);
}

/* hosts: the conf's hosts sorted by name (a scan per member was quadratic). */
static const struct check *
member_check(const struct host **hosts, size_t nhosts, const struct checkset *cs,
    const struct service_member *m)
{
	const struct check	*c;
	const struct host	 key = { .name = m->host }, *kp = &key, **h;
	char			*kstr;

	if (m->probe != NULL) {
		kstr = xasprintf("%s/%s", m->host, m->probe);
		c = checks_find(cs, kstr);
		free(kstr);
		return c;
	}
	h = bsearch(&kp, hosts, nhosts, sizeof(*hosts), host_cmp);
	return h != NULL ? (*h)->avail_check : NULL;
}

/* Deps first, so a service sees its dependencies' states of this round. */
static void
configure_derive(size_t i, uint64_t now)
{
	struct svc_rt	*r = &sv.s[i];

	if (r->mark)
		return;
	r->mark = true;
	for (size_t k = 0; k < r->def->ndepends; k++)
		configure_derive(r->def->depends[k], now);
	svc_derive(i, now, 64);		/* dependants come in their own turn */
}

void
service_configure(const struct config *cfg, const struct checkset *cs)
{
	const struct check	**cv;
	const struct host	**hosts;
	size_t			  ncv = 0, cap;
	uint64_t		  now = wall_ms();

	rt_free();
	sv.cfg = cfg;
	if (cfg == NULL || cs == NULL)
		return;
	journal_forget_removed(cfg, now);
	hosts = xcalloc(cfg->nhosts + 1, sizeof(*hosts));
	for (size_t i = 0; i < cfg->nhosts; i++)
		hosts[i] = &cfg->hosts[i];
	qsort(hosts, cfg->nhosts, sizeof(*hosts), host_cmp);

	/* every host's availability check and every member's check, once */
	cap = cfg->nhosts;
	for (size_t i = 0; i < cfg->nservices; i++)
		cap += cfg->services[i].nmembers;
	cv = xcalloc(cap > 0 ? cap : 1, sizeof(*cv));
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (cfg->hosts[i].avail_check != NULL)
			cv[ncv++] = cfg->hosts[i].avail_check;
	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t k = 0; k < cfg->services[i].nmembers; k++)
			if ((cv[ncv] = member_check(hosts, cfg->nhosts, cs,
			    &cfg->services[i].members[k])) != NULL)
				ncv++;
	sv.w = xcalloc(ncv > 0 ? ncv : 1, sizeof(*sv.w));
	for (size_t i = 0; i < ncv; i++)
		sv.w[i].c = cv[i];
	qsort(sv.w, ncv, sizeof(*sv.w), watched_cmp);
	for (size_t i = 0; i < ncv; i++)
		if (sv.nw == 0 || sv.w[sv.nw - 1].c != sv.w[i].c)
			sv.w[sv.nw++] = sv.w[i];
	free(cv);
	for (size_t i = 0; i < sv.nw; i++) {
		struct watched	*m = &sv.w[i];

		m->host_avail = m->c->host->avail_check == m->c;
		watched_read(m->c, &m->state, &m->maint, &m->known);
		/* after a reload the checks keep their states: journal if new */
		if (m->host_avail && m->known)
			journal("host", m->c->host->name, m->state, m->maint, now);
	}

	sv.ns = cfg->nservices;
	sv.s = xcalloc(sv.ns > 0 ? sv.ns : 1, sizeof(*sv.s));
	for (size_t i = 0; i < sv.ns; i++) {
		const struct service	*d = &cfg->services[i];
		struct svc_rt		*r = &sv.s[i];

		r->def = d;
		r->members = xcalloc(d->nmembers > 0 ? d->nmembers : 1, sizeof(*r->members));
		r->best = xcalloc(d->nmembers + 1, sizeof(*r->best));
		r->worst = xcalloc(d->nmembers + 1, sizeof(*r->worst));
		r->weights = xcalloc(d->nmembers + 1, sizeof(*r->weights));
		for (size_t k = 0; k < d->nmembers; k++)
			r->weights[k] = d->members[k].weight;
		for (size_t k = 0; k < d->nmembers; k++) {
			const struct check	*c = member_check(hosts, cfg->nhosts, cs,
			    &d->members[k]);
			struct watched		*m;

			if (c == NULL || (m = watched_find(c)) == NULL) {
				log_warnx("service %s: member %s%s%s has no check; counted as "
				    "unknown", d->name, d->members[k].host,
				    d->members[k].probe ? "/" : "",
				    d->members[k].probe ? d->members[k].probe : "");
				continue;
			}
			r->members[k] = m;
			if (m->nsvcs == 0 || m->svcs[m->nsvcs - 1] != i) {
				m->svcs = xgrowarray(m->svcs, m->nsvcs, sizeof(*m->svcs));
				m->svcs[m->nsvcs++] = i;
			}
		}
		for (size_t k = 0; k < d->ndepends; k++) {
			struct svc_rt	*dep = &sv.s[d->depends[k]];

			dep->dependants = xgrowarray(dep->dependants, dep->ndependants,
			    sizeof(*dep->dependants));
			dep->dependants[dep->ndependants++] = i;
		}
	}
	free(hosts);
	for (size_t i = 0; i < sv.ns; i++)
		configure_derive(i, now);
}

bool
service_is(const char *name)
{
	for (size_t i = 0; sv.cfg != NULL && i < sv.cfg->nservices; i++)
		if (strcmp(sv.cfg->services[i].name, name) == 0)
			return true;
	return false;
}

static void
journal_unknown(const void *node, VISIT which, int depth)
{
	struct journaled	*j = *(struct journaled *const *)node;
	char			*kind, *tab;

	(void)depth;
	if ((which != postorder && which != leaf) || j->state == SEV_UNKNOWN)
		return;
	kind = xstrdup(j->key);
	if ((tab = strchr(kind, '\t')) != NULL) {
		*tab = '\0';
		avail_record(kind, tab + 1, SEV_UNKNOWN, false, 0);
	}
	j->state = SEV_UNKNOWN;
	j->maint = false;
	free(kind);
}

/*
 * A clean stop: from now on nobody watches, so every subject's interval
 * ends and the time until the next start is unknown, not counted as up.
 * (After a crash the last state runs on until the restart decides again.)
 */
void
service_stopping(void)
{
	twalk(sv.journal, journal_unknown);
	sv.stopping = true;
}

static void
journaled_free(void *p)
{
	struct journaled	*j = p;

	free(j->key);
	free(j);
}

void
service_shutdown(void)
{
	rt_free();
	sv.cfg = NULL;
	for (size_t i = 0; i < sv.nsubjects; i++)
		free(sv.subjects[i]);
	free(sv.subjects);
	sv.subjects = NULL;
	sv.nsubjects = 0;
	tdestroy(sv.journal, journaled_free);
	sv.journal = NULL;
}
