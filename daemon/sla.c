/*
 * sla.c: service-level targets.  Each SLA of the conf is upserted into
 * PostgreSQL (itsmd_sla_define) at start and on reload; a timer then asks
 * PostgreSQL, one statement per SLA, for the error budget left in the
 * current period and the burn rate over each rule's two windows, and turns
 * the answer into incidents: "sla-breach[SLA]" (budget exhausted, CRITICAL)
 * and "sla-risk[SLA]" (budget burning too fast, WARNING), host = the service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "itsmd.h"

#define DEFAULT_SLA_INTERVAL_MS	60000
#define SLA_FAILED_MS		300000	/* after an SQL error (no schema 004?) */

static const char sql_define[] =
	"SELECT itsmd_sla_define($1, $2, $3::float8, $4, $5, $6, $7, $8, $9, $10::int)";

/*
 * The error budget is the whole period's allowance: the counted time so
 * far plus the service hours still ahead in the period, times (1 - target);
 * so a minute of downtime on the first day of a 99.9% month is not yet a
 * breach.  Downtime and the figures come from sla_report() (schema/004,
 * clamped to now); burn rates for every window of every rule, in order:
 * long, short.
 */
static const char sql_eval[] =
	"SELECT b.budget - r.down_s, b.budget, r.achieved_pct, r.down_s,"
	" ARRAY(SELECT sla_burn($1, now(), u.w) FROM unnest($2::float8[])"
	" WITH ORDINALITY AS u(w, n) ORDER BY u.n)::text"
	" FROM sla_period($1, now()) AS p(r)"
	" CROSS JOIN LATERAL sla_report($1, lower(p.r), upper(p.r)) AS r"
	" CROSS JOIN LATERAL (SELECT (1 - r.target / 100) * (r.counted_s + sla_seconds("
	"sla_hours_in($1, least(now(), upper(p.r)), upper(p.r)))) AS budget) AS b";

/* Our copies: a reload may free the conf before the answer comes. */
struct sla_eval {
	char		*sla;
	char		*service;
	int		 impact;
	double		 target;
	struct burn_rule *burn;
	size_t		 nburn;
};

static struct {
	struct event		*timer;
	const struct config	*cfg;
	uint64_t		 interval_ms;
	int			 inflight;
	bool			 down_said;
	bool			 closing;
	uint64_t		 failed_until;	/* monotonic: evaluation failed, wait */
	char			**known;	/* "service\tsla" of the running conf */
	size_t			  nknown;
} sl;

static void
eval_free(struct sla_eval *e)
{
	free(e->sla);
	free(e->service);
	free(e->burn);
	free(e);
}

static int
prio(int impact, enum severity sev)
{
	int	m[3][3];

	if (sl.cfg != NULL)
		return priority_of(sl.cfg->priority, impact, sev);
	priority_default(m);
	return priority_of(m, impact, sev);
}

/*
 * The incident's check is "sla-breach[NAME]" or "sla-risk[NAME]": a service
 * may have several SLAs (a monthly one and a business-hours one), each with
 * its own verdict, like the rows of a table probe.
 */
static void
sla_tell(const struct sla_eval *e, const char *kind, enum severity sev, const char *sum)
{
	char	check[192];

	snprintf(check, sizeof(check), "%s[%s]", kind, e->sla);
	incident_change(&(struct incident_change){ .host = e->service, .check = check,
	    .sev = sev, .summary = sum, .priority = prio(e->impact, sev) });
}

/* "{1.5,0,NULL}" to n doubles; NULL or missing is 0. */
static void
parse_array(const char *s, double *v, size_t n)
{
	char	*end;

	for (size_t i = 0; i < n; i++)
		v[i] = 0;
	if (s == NULL || *s++ != '{')
		return;
	for (size_t i = 0; i < n && *s != '\0' && *s != '}'; i++) {
		v[i] = strtod(s, &end);
		if (end == s)
			v[i] = 0;
		s = end + strcspn(end, ",}");
		if (*s == ',')
			s++;
	}
}

static void
sla_evaluated(void *arg, const struct pg_result *res, const char *error)
{
	struct sla_eval	*e = arg;
	const char	*left_s, *budget_s, *ach_s, *down_s;
	double		 left, budget, ach, down, burn[2 * (e->nburn > 0 ? e->nburn : 1)];
	char		 sum[256];
	int		 fired = -1;

	sl.inflight--;
	if (error != NULL && !sl.closing && sl.failed_until == 0) {
		/* db.c has logged the statement; one line here, not one a tick */
		log_warnx("sla %s: evaluation failed (%s); SLAs are evaluated again in "
		    "%d minutes", e->sla, error, SLA_FAILED_MS / 60000);
		sl.failed_until = mono_ms() + SLA_FAILED_MS;
	}
	if (sl.closing || error != NULL || db_ntuples(res) != 1) {
		eval_free(e);
		return;
	}
	left_s = db_value(res, 0, 0);
	budget_s = db_value(res, 0, 1);
	ach_s = db_value(res, 0, 2);
	down_s = db_value(res, 0, 3);
	left = left_s != NULL ? strtod(left_s, NULL) : 0;
	budget = budget_s != NULL ? strtod(budget_s, NULL) : 0;
	ach = ach_s != NULL ? strtod(ach_s, NULL) : 100;
	down = down_s != NULL ? strtod(down_s, NULL) : 0;
	parse_array(db_value(res, 0, 4), burn, 2 * e->nburn);

	/* No downtime is no breach, even with no budget (no service hours yet). */
	if (left <= 0 && down > 0) {
		snprintf(sum, sizeof(sum), "SLA %s breached: error budget of %.1f s exhausted "
		    "(%.1f s down, achieved %.3f%% of %g%%)", e->sla, budget, down, ach,
		    e->target);
		sla_tell(e, "sla-breach", SEV_CRITICAL, sum);
	} else {
		snprintf(sum, sizeof(sum), "SLA %s: %.1f s of %.1f s error budget left", e->sla,
		    left, budget);
		sla_tell(e, "sla-breach", SEV_OK, sum);
	}

	for (size_t i = 0; i < e->nburn && fired == -1; i++)
		if (burn[2 * i] > e->burn[i].factor && burn[2 * i + 1] > e->burn[i].factor)
			fired = (int)i;
	if (fired != -1) {
		const struct burn_rule *b = &e->burn[fired];

		snprintf(sum, sizeof(sum), "SLA %s at risk: error budget burning %.1fx over "
		    "%.0f s and %.1fx over %.0f s (rule %gx); %.1f s of %.1f s left", e->sla,
		    burn[2 * fired], b->long_ms / 1000.0, burn[2 * fired + 1],
		    b->short_ms / 1000.0, b->factor, left > 0 ? left : 0, budget);
		sla_tell(e, "sla-risk", SEV_WARNING, sum);
	} else {
		snprintf(sum, sizeof(sum), "SLA %s: burn rate back under every rule", e->sla);
		sla_tell(e, "sla-risk", SEV_OK, sum);
	}
	eval_free(e);
}

static void
sla_eval_one(const struct service *svc, const struct sla_def *d)
{
	struct sla_eval	*e = xcalloc(1, sizeof(*e));
	size_t		 len = 3;
	char		*arr, *o;
	const char	*p[2];

	e->sla = xstrdup(d->name);
	e->service = xstrdup(svc->name);
	e->impact = svc->impact;
	e->target = d->target;
	e->nburn = d->nburn;
	e->burn = xcalloc(d->nburn > 0 ? d->nburn : 1, sizeof(*e->burn));
	memcpy(e->burn, d->burn, d->nburn * sizeof(*d->burn));
	len += d->nburn * 2 * 32;
	o = arr = xmalloc(len);
	*o++ = '{';
	for (size_t i = 0; i < d->nburn; i++)
		o += snprintf(o, len - (size_t)(o - arr), "%s%.3f,%.3f", i > 0 ? "," : "",
		    d->burn[i].long_ms / 1000.0, d->burn[i].short_ms / 1000.0);
	*o++ = '}';
	*o = '\0';
	p[0] = d->name;
	p[1] = arr;
	sl.inflight++;
	db_exec(sql_eval, 2, p, sla_evaluated, e);
	free(arr);
}

static void
sla_arm(void)
{
	struct timeval	tv = { sl.interval_ms / 1000, (sl.interval_ms % 1000) * 1000 };

	if (sl.timer != NULL && !sl.closing)
		evtimer_add(sl.timer, &tv);
}

static void
sla_tick(evutil_socket_t fd, short what, void *arg)
{
	const struct config	*cfg = sl.cfg;

	(void)fd;
	(void)what;
	(void)arg;
	if (itsmd_stopping || cfg == NULL)
		return;
	sla_arm();
	if (!db_up()) {
		if (!sl.down_said && cfg->nservices > 0)
			log_warnx("sla: PostgreSQL is unreachable; SLA evaluation waits for it");
		sl.down_said = true;
		return;
	}
	if (sl.down_said)
		log_info("sla: PostgreSQL is back; evaluating SLAs again");
	sl.down_said = false;
	/* The previous round still running (a slow database): skip this one. */
	if (sl.inflight > 0)
		return;
	if (sl.failed_until != 0 && mono_ms() < sl.failed_until)
		return;
	sl.failed_until = 0;
	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t k = 0; k < cfg->services[i].nslas; k++)
			sla_eval_one(&cfg->services[i], &cfg->services[i].slas[k]);
}

static void
sla_define(const struct service *svc, const struct sla_def *d)
{
	char		 target[32], impact[8];
	const char	*p[10];

	snprintf(target, sizeof(target), "%.10g", d->target);
	snprintf(impact, sizeof(impact), "%d", svc->impact);
	p[0] = d->name;
	p[1] = svc->name;
	p[2] = target;
	p[3] = d->period;
	p[4] = d->tz;
	p[5] = d->hours;
	p[6] = d->holidays;
	p[7] = d->down_warning ? "critical,warning" : "critical";
	p[8] = d->maint_up ? "up" : "exclude";
	p[9] = impact;
	db_exec(sql_define, 10, p, NULL, NULL);
}

static const struct sla_def *
sla_find(const struct config *cfg, const char *service, const char *sla, size_t len)
{
	for (size_t i = 0; cfg != NULL && i < cfg->nservices; i++) {
		const struct service *s = &cfg->services[i];

		if (strcmp(s->name, service) != 0)
			continue;
		for (size_t k = 0; k < s->nslas; k++)
			if (strlen(s->slas[k].name) == len &&
			    strncmp(s->slas[k].name, sla, len) == 0)
				return &s->slas[k];
	}
	return NULL;
}

/*
 * A reload that drops an SLA (or its service) resolves its incidents:
 * nothing would evaluate them again.
 */
static void
sla_forget_removed(const struct config *cfg)
{
	char	 sum[256], check[192];

	for (size_t i = 0; i < sl.nknown; i++) {
		char		*tab = strchr(sl.known[i], '\t');
		const char	*kinds[] = { "sla-breach", "sla-risk" };

		*tab = '\0';
		if (sla_find(cfg, sl.known[i], tab + 1, strlen(tab + 1)) == NULL) {
			snprintf(sum, sizeof(sum), "SLA %s is no longer in the configuration",
			    tab + 1);
			for (int k = 0; k < 2; k++) {
				snprintf(check, sizeof(check), "%s[%s]", kinds[k], tab + 1);
				incident_change(&(struct incident_change){ .host = sl.known[i],
				    .check = check, .sev = SEV_OK, .summary = sum });
			}
		}
		free(sl.known[i]);
	}
	free(sl.known);
	sl.known = NULL;
	sl.nknown = 0;
	for (size_t i = 0; cfg != NULL && i < cfg->nservices; i++)
		for (size_t k = 0; k < cfg->services[i].nslas; k++) {
			sl.known = xreallocarray(sl.known, sl.nknown + 1, sizeof(*sl.known));
			sl.known[sl.nknown++] = xasprintf("%s\t%s", cfg->services[i].name,
			    cfg->services[i].slas[k].name);
		}
}

void
sla_configure(struct event_base *base, const struct config *cfg)
{
	sla_forget_removed(cfg);
	sl.cfg = cfg;
	sl.closing = false;
	sl.interval_ms = cfg->sla_interval_ms > 0 ? cfg->sla_interval_ms :
	    DEFAULT_SLA_INTERVAL_MS;
	for (size_t i = 0; i < cfg->nservices; i++)
		for (size_t k = 0; k < cfg->services[i].nslas; k++)
			sla_define(&cfg->services[i], &cfg->services[i].slas[k]);
	if (sl.timer == NULL && (sl.timer = evtimer_new(base, sla_tick, NULL)) == NULL)
		fatalx("sla: cannot create a timer");
	evtimer_del(sl.timer);
	sla_arm();
}

/* "sla-breach[NAME]" or "sla-risk[NAME]" of an SLA the service still has */
bool
sla_incident_is(const char *host, const char *check)
{
	const char	*name;
	size_t		 len;

	if (strncmp(check, "sla-breach[", 11) == 0)
		name = check + 11;
	else if (strncmp(check, "sla-risk[", 9) == 0)
		name = check + 9;
	else
		return false;
	len = strlen(name);
	return len > 1 && name[len - 1] == ']' && sla_find(sl.cfg, host, name, len - 1) != NULL;
}

void
sla_stop(void)
{
	sl.closing = true;
	for (size_t i = 0; i < sl.nknown; i++)
		free(sl.known[i]);
	free(sl.known);
	sl.known = NULL;
	sl.nknown = 0;
	if (sl.timer != NULL)
		event_free(sl.timer);
	sl.timer = NULL;
	sl.cfg = NULL;
}
