/*
 * test_service.c: business services.  The rules (all, at-least N, weighted)
 * as a table of member states; the `service` block of the conf, good and
 * bad, with the exact FILE:LINE:COL errors; and the derivation on real
 * checks (no database: the journal's statements just queue).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "itsmd.h"
#include "unit.h"

#define O SEV_OK
#define W SEV_WARNING
#define C SEV_CRITICAL
#define U SEV_UNKNOWN

/* ---------------------------------------------------------------- rules */

static const struct {
	const char		*name;
	enum service_rule	 rule;
	int			 n;
	double			 pct;
	size_t			 count;
	enum severity		 st[4];
	int			 wt[4];
	enum severity		 want;
} rules[] = {
	{ "all: every member ok", SVC_ALL, 0, 0, 3, { O, O, O }, { 1, 1, 1 }, O },
	{ "all: a warning", SVC_ALL, 0, 0, 3, { O, W, O }, { 1, 1, 1 }, W },
	{ "all: worst member wins", SVC_ALL, 0, 0, 3, { W, C, U }, { 1, 1, 1 }, C },
	{ "all: an unknown is not up", SVC_ALL, 0, 0, 2, { O, U }, { 1, 1 }, U },
	{ "at-least 2 of 3: one down still holds (warning)", SVC_AT_LEAST, 2, 0, 3,
	    { O, C, O }, { 1, 1, 1 }, W },
	{ "at-least 2 of 3: all up", SVC_AT_LEAST, 2, 0, 3, { O, O, O }, { 1, 1, 1 }, O },
	{ "at-least 2 of 3: a warning member counts as up", SVC_AT_LEAST, 2, 0, 3,
	    { W, C, W }, { 1, 1, 1 }, W },
	{ "at-least 2 of 3: two down is critical", SVC_AT_LEAST, 2, 0, 3, { C, O, C },
	    { 1, 1, 1 }, C },
	{ "at-least 2 of 3: undecided with an unknown", SVC_AT_LEAST, 2, 0, 3, { O, C, U },
	    { 1, 1, 1 }, U },
	{ "at-least 2 of 3: held with an unknown (warning)", SVC_AT_LEAST, 2, 0, 3,
	    { O, O, U }, { 1, 1, 1 }, W },
	{ "at-least 1 of 2: both down", SVC_AT_LEAST, 1, 0, 2, { C, C }, { 1, 1 }, C },
	{ "weighted 60%: 3 of 4 up by weight", SVC_WEIGHTED, 0, 60, 2, { O, C }, { 3, 1 }, W },
	{ "weighted 60%: 1 of 4 up by weight", SVC_WEIGHTED, 0, 60, 2, { C, O }, { 3, 1 }, C },
	{ "weighted 66.67%: 2 of 3 meets it", SVC_WEIGHTED, 0, 200.0 / 3, 3, { O, O, C },
	    { 1, 1, 1 }, W },
	{ "weighted 100%: all up", SVC_WEIGHTED, 0, 100, 2, { O, O }, { 1, 5 }, O },
	{ "weighted 50%: unknown heavy member undecides", SVC_WEIGHTED, 0, 50, 2, { C, U },
	    { 1, 3 }, U },
	{ "no members: unknown", SVC_ALL, 0, 0, 0, { O }, { 1 }, U },
};

static void
test_rules(void)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		enum severity got = service_rule_eval(rules[i].rule, rules[i].n, rules[i].pct,
		    rules[i].st, rules[i].wt, rules[i].count);

		UNIT_CHECK(got == rules[i].want, rules[i].name, "got %s want %s",
		    severity_name(got), severity_name(rules[i].want));
	}
}

/* ----------------------------------------------------------------- conf */

#define HOSTS								\
	"host web1 {\n address 127.0.0.1\n probe home tcp { port 80 }\n}\n"	\
	"host web2 {\n address 127.0.0.2\n probe home tcp { port 80 }\n}\n"	\
	"host db1 {\n address 127.0.0.3\n probe pg tcp { port 5432 }\n}\n"

static void
test_conf_good(void)
{
	char		*errs;
	struct config	*cfg = unit_conf_load(HOSTS
	    "sla-interval 5s\n"
	    "service payments { member db1 }\n"
	    "service webshop {\n"
	    "  rule weighted 60%\n"
	    "  member web1 home\n"
	    "  member web2 home weight 2\n"
	    "  member db1\n"
	    "  depends payments\n"
	    "  impact 1\n"
	    "  sla monthly {\n"
	    "    target 99.9%\n"
	    "    period month\n"
	    "    time-zone \"Europe/Berlin\"\n"
	    "    hours mon-fri 08:00-18:00\n"
	    "    hours sat,sun 10:00-14:00\n"
	    "    holidays 2026-12-24 2026-12-25\n"
	    "    holidays 2026-12-31\n"
	    "    down critical warning\n"
	    "    maintenance up\n"
	    "    burn-rate 14.4 60s 10s\n"
	    "  }\n"
	    "  sla daily { target 99%; period day; maintenance exclude }\n"
	    "}\n", &errs);
	const struct service	*s;
	const struct sla_def	*d;

	UNIT_CHECK(cfg != NULL, "a full service block builds", "errors: %s", errs);
	if (cfg == NULL)
		return;
	UNIT_CHECK(cfg->nservices == 2 && cfg->sla_interval_ms == 5000,
	    "two services, sla-interval 5s", "%zu %llu", cfg->nservices,
	    (unsigned long long)cfg->sla_interval_ms);
	s = &cfg->services[1];
	UNIT_CHECK(s->rule == SVC_WEIGHTED && s->weighted_pct == 60 && s->impact == 1,
	    "rule weighted 60%, impact 1", "rule %d pct %g impact %d", s->rule,
	    s->weighted_pct, s->impact);
	UNIT_CHECK(s->nmembers == 3 && strcmp(s->members[0].probe, "home") == 0 &&
	    s->members[0].weight == 1 && s->members[1].weight == 2 &&
	    s->members[2].probe == NULL, "members with probes, weights, a host alone",
	    "n %zu", s->nmembers);
	UNIT_CHECK(s->ndepends == 1 && s->depends[0] == 0, "depends resolved to the index",
	    "n %zu", s->ndepends);
	UNIT_CHECK(cfg->services[0].impact == 2 && cfg->services[0].rule == SVC_ALL,
	    "defaults: impact 2, rule all", "impact %d", cfg->services[0].impact);
	d = &s->slas[0];
	UNIT_CHECK(s->nslas == 2 && d->target == 99.9 && strcmp(d->period, "month") == 0 &&
	    strcmp(d->tz, "Europe/Berlin") == 0, "sla target, period, zone", "%g %s %s",
	    d->target, d->period, d->tz);
	UNIT_CHECK(strcmp(d->hours, "mon-fri 08:00-18:00,sat-sun 10:00-14:00") == 0,
	    "hours as Monday-first runs of days", "'%s'", d->hours);
	UNIT_CHECK(strcmp(d->holidays, "2026-12-24,2026-12-25,2026-12-31") == 0,
	    "holidays joined", "'%s'", d->holidays);
	UNIT_CHECK(d->down_warning && d->maint_up, "down critical warning, maintenance up",
	    "%d %d", d->down_warning, d->maint_up);
	UNIT_CHECK(d->nburn == 1 && d->burn[0].factor == 14.4 && d->burn[0].long_ms == 60000 &&
	    d->burn[0].short_ms == 10000, "burn-rate as written", "n %zu", d->nburn);
	d = &s->slas[1];
	UNIT_CHECK(strcmp(d->tz, "UTC") == 0 && d->hours[0] == '\0' && !d->down_warning &&
	    !d->maint_up, "sla defaults: UTC, 24x7, critical only", "%s '%s'", d->tz,
	    d->hours);
	UNIT_CHECK(d->nburn == 2 && d->burn[0].factor == 14.4 && d->burn[0].long_ms ==
	    3600000 && d->burn[0].short_ms == 300000 && d->burn[1].factor == 6 &&
	    d->burn[1].long_ms == 21600000 && d->burn[1].short_ms == 1800000,
	    "default burn rates: 14.4 1h 5m and 6 6h 30m", "n %zu", d->nburn);
	conf_free(cfg);
}

static const struct {
	const char	*name;
	const char	*text;
	const char	*want;		/* every error, in order */
} bad[] = {
	{ "unknown member host", HOSTS "service s {\n  member web9 home\n}\n",
	    "t.conf:14:10: service 's': unknown host 'web9'\n" },
	{ "unknown member probe", HOSTS "service s {\n  member web1 nope\n}\n",
	    "t.conf:14:15: service 's': host 'web1' has no probe 'nope'\n" },
	{ "unknown dependency", HOSTS "service s {\n  member db1\n  depends ghost\n}\n",
	    "t.conf:15:11: service 's' depends on unknown service 'ghost'\n" },
	{ "dependency loop", HOSTS "service a {\n  member db1\n  depends b\n}\n"
	    "service b {\n  depends a\n}\n",
	    "t.conf:18:11: service dependency loop: 'b' depends on 'a', which depends on "
	    "'b' in turn\n" },
	{ "depends on itself", HOSTS "service a {\n  member db1\n  depends a\n}\n",
	    "t.conf:15:11: service 'a' depends on itself\n" },
	{ "duplicate service", HOSTS "service a { member db1 }\nservice a { member db1 }\n",
	    "t.conf:14:9: duplicate service 'a' (first at t.conf:13:9)\n" },
	{ "duplicate sla across services", HOSTS
	    "service a { member db1\n sla m { target 99%; maintenance up }\n}\n"
	    "service b { member db1\n sla m { target 99%; maintenance up }\n}\n",
	    "t.conf:17:6: duplicate sla 'm' (first at t.conf:14:6): SLA names are unique "
	    "across services\n" },
	{ "at-least more than members", HOSTS "service s {\n  rule at-least 3\n"
	    "  member web1 home\n  member web2 home\n}\n",
	    "t.conf:14:17: rule at-least 3: service 's' has only 2 members\n" },
	{ "bad rule", HOSTS "service s {\n  rule most\n  member db1\n}\n",
	    "t.conf:14:8: bad rule 'most': use all, at-least N, or weighted PERCENT\n" },
	{ "weights without weighted", HOSTS "service s {\n  member db1 weight 2\n}\n",
	    "t.conf:13:1: service 's': member weights need 'rule weighted PERCENT'\n" },
	{ "no members", HOSTS "service s {\n  impact 1\n}\n",
	    "t.conf:13:1: service 's' has no 'member' and no 'depends'\n" },
	{ "sla mistakes, all reported", HOSTS "service s {\n  member db1\n"
	    "  sla x {\n    target 100%\n    period fortnight\n    time-zone \"Mars/Olympus\"\n"
	    "    hours mon-fri 18:00-08:00\n    holidays 2026-02-30\n    down warning\n"
	    "    burn-rate 2 5m 1h\n  }\n}\n",
	    "t.conf:16:12: bad target '100%': a percentage above 0% and below 100% (like "
	    "99.9%)\n"
	    "t.conf:17:12: bad period 'fortnight': use day, week, month, quarter or year\n"
	    "t.conf:18:15: bad time-zone 'Mars/Olympus': no such zone in /usr/share/zoneinfo\n"
	    "t.conf:19:19: bad time range '18:00-08:00' for 'hours': service hours end after "
	    "they start on the same day (use 24:00, and a second 'hours' line for the next "
	    "day)\n"
	    "t.conf:20:14: bad holiday '2026-02-30': a date like 2026-12-24\n"
	    "t.conf:21:5: 'down' must include critical\n"
	    "t.conf:22:20: bad short window '1h' for 'burn-rate': at least 1s and shorter "
	    "than the long window\n"
	    "t.conf:15:3: sla 'x' needs 'maintenance exclude' or 'maintenance up'\n" },
	{ "sla without target", HOSTS "service s {\n  member db1\n"
	    "  sla x { maintenance exclude }\n}\n",
	    "t.conf:15:3: sla 'x' needs a 'target' (like 99.9%)\n" },
	{ "a service named like a host", HOSTS "service web1 { member web1 }\n",
	    "t.conf:13:9: service 'web1' has the name of a host: SLA incidents would be filed "
	    "under that host\n" },
	{ "sla-interval under a second", HOSTS "sla-interval 500ms\n",
	    "t.conf:13:14: bad duration '500ms' for 'sla-interval': must be at least 1s\n" },
};

static void
test_conf_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char		*errs;
		struct config	*cfg = unit_conf_load(bad[i].text, &errs);

		UNIT_CHECK(cfg == NULL && strcmp(errs, bad[i].want) == 0, bad[i].name,
		    "got '%s' want '%s'", errs, bad[i].want);
		conf_free(cfg);
	}
}

/* ---------------------------------------------------------- derivation */

/* A check's hard state as state.c leaves it, without running a probe. */
static void
set_state(struct check *c, enum severity sev, bool maint)
{
	c->inst[0]->st.nhist = 21;
	c->inst[0]->st.state = sev;
	c->inst[0]->st.maintenance = maint;
	c->result.finished_wall_ms = 1000;
	service_check_done(c);
}

static void
test_derive(void)
{
	char		 *errs;
	struct config	 *cfg = unit_conf_load(HOSTS
	    "service db { member db1 }\n"
	    "service shop {\n  rule at-least 1\n  member web1 home\n  member web2 home\n"
	    "  depends db\n}\n", &errs);
	struct checkset	 *cs;
	struct check	 *w1, *w2, *db;
	char		 *log;

	if (cfg == NULL) {
		UNIT_CHECK(0, "derivation conf builds", "%s", errs);
		return;
	}
	/* No database here: the journal is off, so nothing queues (and leaks). */
	avail_shutdown();
	cs = checks_build(cfg);
	w1 = checks_find(cs, "web1/home");
	w2 = checks_find(cs, "web2/home");
	db = checks_find(cs, "db1/pg");
	unit_capture_start();
	service_configure(cfg, cs);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service") == NULL, "nothing is decided before the first runs",
	    "log: %s", log);

	unit_capture_start();
	set_state(w1, SEV_OK, false);
	set_state(w2, SEV_OK, false);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service") == NULL, "members up but a dependency undecided: "
	    "wait", "log: %s", log);
	unit_capture_start();
	set_state(w2, SEV_UNKNOWN, false);
	w2->inst[0]->st.nhist = 0;	/* as if web2 had not run yet */
	service_check_done(w2);
	set_state(db, SEV_OK, false);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service db: ok") != NULL && strstr(log, "service shop") ==
	    NULL, "db decided; shop waits for web2 (undecided)", "log: %s", log);

	unit_capture_start();
	set_state(w2, SEV_CRITICAL, false);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service shop: warning (rule at-least 1 of 2)") != NULL,
	    "one of two down: warning", "log: %s", log);

	unit_capture_start();
	set_state(w1, SEV_CRITICAL, true);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service shop: critical (rule at-least 1 of 2; in "
	    "maintenance)") != NULL, "both down, one in maintenance: critical, flagged",
	    "log: %s", log);

	unit_capture_start();
	set_state(w1, SEV_OK, false);
	set_state(w2, SEV_OK, false);
	set_state(db, SEV_CRITICAL, false);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service db: critical") != NULL &&
	    strstr(log, "service shop: critical") != NULL &&
	    strstr(log, "service shop: ok") != NULL,
	    "a critical dependency makes the service critical", "log: %s", log);

	unit_capture_start();
	set_state(db, SEV_WARNING, false);
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "service shop: ok") != NULL, "a warning dependency does not",
	    "log: %s", log);
	UNIT_CHECK(service_is("shop") && !service_is("web1"), "service_is names services",
	    "%s", "wrong");

	/* a reload without shop and web1: their intervals end as unknown */
	{
		struct config	*cfg2 = unit_conf_load("host db1 {\n address 127.0.0.3\n probe pg tcp "
		    "{ port 5432 }\n}\nservice db { member db1 }\n", &errs);
		struct checkset	*cs2 = cfg2 != NULL ? checks_build(cfg2) : NULL;

		unit_capture_start();
		if (cs2 != NULL)
			service_configure(cfg2, cs2);
		log = unit_capture_end();
		UNIT_CHECK(strstr(log, "service shop: no longer configured") != NULL &&
		    strstr(log, "host web1: no longer configured") != NULL &&
		    strstr(log, "service db:") == NULL && strstr(log, "host db1:") == NULL,
		    "a reload ends removed services and hosts as unknown, only them",
		    "log: %s errs: %s", log, errs);
		service_shutdown();
		checks_free(cs2);
		conf_free(cfg2);
	}
	checks_free(cs);
	conf_free(cfg);
}

/*
 * A conf of N hosts and as many services (each with an SLA) builds,
 * configures and reloads in time linear in N when names are looked up by
 * hash or by sorting; a scan per lookup (duplicate services and SLAs, member
 * hosts, the subjects a reload keeps) took over 10 s at 20,000.  Linear is
 * asserted as a ratio of CPU times at 5,000 and 20,000 (linear ~4x,
 * quadratic ~16x), not a wall-clock limit, which a loaded machine or a
 * sanitizer build could break on its own.
 */
#define SCALE_SMALL	5000
#define SCALE_N		20000
#define SCALE_RATIO	8	/* t(20,000) < 8 * t(5,000) + SCALE_SLACK_MS */
#define SCALE_SLACK_MS	50

/* dup: services n/2 and n-1 name their SLA m0 too (a 2nd and a 3rd m0) */
static char *
scale_conf(size_t n, bool dup)
{
	size_t	 cap = n * 160 + 256, len = 0;
	char	*t = xmalloc(cap);

	for (size_t i = 0; i < n; i++)
		len += snprintf(t + len, cap - len, "host h%zu {\n address 127.0.0.1\n probe t "
		    "tcp { port 9 }\n}\n", i);
	for (size_t i = 0; i < n; i++)
		len += snprintf(t + len, cap - len, "service s%zu {\n member h%zu\n sla m%zu { "
		    "target 99.9%%; maintenance exclude }\n}\n", i, i,
		    dup && (i == n / 2 || i == n - 1) ? 0 : i);
	return t;
}

static double
cpu_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * Build, configure and reload a conf of n services; the CPU time of the
 * build and of configure+reload in *build_ms and *conf_ms; false (and a
 * failed check) if it does not build.  Before the reload, three checks
 * (first, middle, last) get a known state, journaling their host and
 * service: a reload that lost any of them would say "no longer configured".
 */
static bool
scale_run(size_t n, double *build_ms, double *conf_ms)
{
	char		*text = scale_conf(n, false), *errs, *log, name[64];
	struct config	*cfg, *cfg2;
	struct checkset	*cs, *cs2;
	double		 t0;
	size_t		 known[3] = { 0, n / 2 - 1, n - 1 };
	bool		 journaled = true;

	t0 = cpu_ms();
	cfg = unit_conf_load(text, &errs);
	*build_ms = cpu_ms() - t0;
	if (cfg == NULL) {
		UNIT_CHECK(0, "a conf of N services builds", "N %zu: %.300s", n, errs);
		free(text);
		return false;
	}
	avail_shutdown();
	cs = checks_build(cfg);
	cfg2 = unit_conf_load(text, &errs);
	cs2 = checks_build(cfg2);
	t0 = cpu_ms();
	unit_capture_start();
	service_configure(cfg, cs);
	for (size_t k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "h%zu/t", known[k]);
		set_state(checks_find(cs, name), SEV_OK, false);
	}
	service_configure(cfg2, cs2);	/* a reload that keeps every subject */
	log = unit_capture_end();
	*conf_ms = cpu_ms() - t0;
	for (size_t k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "service s%zu: ok", known[k]);
		journaled = journaled && strstr(log, name) != NULL;
	}
	snprintf(name, sizeof(name), "a reload of %zu services keeps every subject", n);
	UNIT_CHECK(journaled && strstr(log, "no longer configured") == NULL &&
	    strstr(log, "has no check") == NULL, name, "log: %.300s", log);
	service_shutdown();
	checks_free(cs2);
	conf_free(cfg2);
	checks_free(cs);
	conf_free(cfg);
	free(text);
	return true;
}

static void
test_scale(void)
{
	char		*text, *errs, *lines, *nl, want[128];
	double		 b5, c5, b20, c20;
	size_t		 nlines = 0, hits = 0;
	struct config	*cfg;

	if (!scale_run(SCALE_SMALL, &b5, &c5) || !scale_run(SCALE_N, &b20, &c20))
		return;
	UNIT_CHECK(b20 < SCALE_RATIO * b5 + SCALE_SLACK_MS, "a conf of hosts and services "
	    "builds in linear time", "CPU %.0f ms at %d, %.0f ms at %d", b5, SCALE_SMALL, b20,
	    SCALE_N);
	UNIT_CHECK(c20 < SCALE_RATIO * c5 + SCALE_SLACK_MS, "services configure and reload "
	    "in linear time", "CPU %.0f ms at %d, %.0f ms at %d", c5, SCALE_SMALL, c20,
	    SCALE_N);

	/*
	 * Services s(n/2) and s(n-1) repeat s0's SLA name: two errors, each
	 * naming the first's place (s0's sla line: after 4 lines per host,
	 * s0's block opens and its sla is the third line).
	 */
	text = scale_conf(SCALE_N, true);
	cfg = unit_conf_load(text, &errs);
	snprintf(want, sizeof(want), ": duplicate sla 'm0' (first at t.conf:%d:",
	    SCALE_N * 4 + 3);
	lines = xstrdup(errs);
	for (char *l = lines; cfg == NULL && l != NULL && *l != '\0'; l = nl) {
		nl = strchr(l, '\n');
		nlines++;
		if (nl != NULL)
			*nl++ = '\0';
		hits += strstr(l, want) != NULL;
	}
	UNIT_CHECK(cfg == NULL && nlines == 2 && hits == 2, "a 2nd and a 3rd SLA of one name "
	    "among 20,000 are reported each, naming the first's place", "%zu lines, %zu with "
	    "'%s': %.300s", nlines, hits, want, errs);
	free(lines);
	conf_free(cfg);
	free(text);
}

int
main(void)
{
	log_init("test_service", true, LOG_INFO);
	test_rules();
	test_conf_good();
	test_conf_bad();
	test_derive();
	test_scale();
	return UNIT_DONE();
}
