/*
 * test_state.c: the decision side of incident management as tables:
 * flapping percentages, ITIL priorities, recovery thresholds, maintenance
 * times (zones, days, midnight), and the conf keys that feed them, with
 * their exact FILE:LINE:COL errors (parent loops, unknown parents, ...).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"

/* ------------------------------------------------------------ flapping */

static const struct {
	const char	*name;
	const char	*seq;		/* o ok, w warning, c critical, u unknown */
	double		 lo, hi;	/* expected percent range after the sequence */
} flap_cases[] = {
	{ "steady ok", "oooooooooooooooooooooooooooooo", 0, 0 },
	{ "one outage", "oooooooooooooooooooooccccccc", 5, 15 },
	{ "alternating 21", "ococococococococococo", 99.9, 100.1 },
	{ "alternating then still", "ocococococococococococccccccccc", 45, 50 },
	{ "first result fills history", "c", 0, 0 },
	{ "recent changes weigh more", "ooooooooooooooooooocoo", 10.5, 12.6 },
	{ "old changes weigh less", "ocooooooooooooooooooo", 6, 8.2 },
	{ "severity changes count", "wcwcwcwcwcwcwcwcwcwcw", 99.9, 100.1 },
};

static enum severity
sev_of(char ch)
{
	switch (ch) {
	case 'w':	return SEV_WARNING;
	case 'c':	return SEV_CRITICAL;
	case 'u':	return SEV_UNKNOWN;
	default:	return SEV_OK;
	}
}

static void
test_flapping(void)
{
	for (size_t i = 0; i < sizeof(flap_cases) / sizeof(flap_cases[0]); i++) {
		struct check_state	s = { 0 };
		double			p;

		for (const char *q = flap_cases[i].seq; *q; q++)
			flap_record(&s, sev_of(*q));
		p = flap_percent(&s);
		UNIT_CHECK(p >= flap_cases[i].lo && p <= flap_cases[i].hi, flap_cases[i].name,
		    "%.2f%% not in [%g, %g]", p, flap_cases[i].lo, flap_cases[i].hi);
	}
}

/* ------------------------------------------------------------ priority */

static void
test_priority(void)
{
	static const struct {
		int		 impact;
		enum severity	 sev;
		int		 want;
	} t[] = {
		{ 1, SEV_CRITICAL, 1 }, { 1, SEV_WARNING, 2 }, { 1, SEV_UNKNOWN, 3 },
		{ 2, SEV_CRITICAL, 2 }, { 2, SEV_WARNING, 3 }, { 2, SEV_UNKNOWN, 4 },
		{ 3, SEV_CRITICAL, 3 }, { 3, SEV_WARNING, 4 }, { 3, SEV_UNKNOWN, 5 },
		{ 2, SEV_OK, 0 }, { 0, SEV_CRITICAL, 2 }, { 9, SEV_CRITICAL, 2 },
	};
	int	m[3][3];
	char	name[64];

	priority_default(m);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = priority_of(m, t[i].impact, t[i].sev);

		snprintf(name, sizeof(name), "priority impact %d %s", t[i].impact,
		    severity_name(t[i].sev));
		UNIT_CHECK(got == t[i].want, name, "P%d, want P%d", got, t[i].want);
	}
}

/* ------------------------------------------------------------ recover */

static void
test_recover(void)
{
	struct metric_def	m = { .name = "value" };
	struct threshold	th = { .sev = SEV_CRITICAL, .op = CMP_GT, .limit = 90,
	    .has_recover = true, .recover_op = CMP_LT, .recover_limit = 85 };
	struct probe_def	d = { .name = "p", .metrics = &m, .nmetrics = 1,
	    .thresholds = &th, .nthresholds = 1 };
	static const struct {
		double		 v;
		bool		 have;
		enum severity	 want;
	} seq[] = {
		{ 80, true, SEV_OK }, { 89, true, SEV_OK }, { 91, true, SEV_CRITICAL },
		{ 88, true, SEV_CRITICAL }, { 85, true, SEV_CRITICAL },
		{ NAN, false, SEV_OK },		/* no value: nothing judged, memory kept */
		{ 86, true, SEV_CRITICAL }, { 84.9, true, SEV_OK }, { 88, true, SEV_OK },
		{ 95, true, SEV_CRITICAL },
	};
	uint64_t		active = 0;
	char			sum[256], name[64];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		double v = seq[i].v;
		bool have = seq[i].have;
		enum severity got = check_evaluate_hyst(&d, PS_OK, "", NULL, &v, &have,
		    &active, sum, sizeof(sum));

		snprintf(name, sizeof(name), "recover: step %zu value %g", i, v);
		UNIT_CHECK(got == seq[i].want, name, "%s (%s), want %s", severity_name(got),
		    sum, severity_name(seq[i].want));
	}
}

/* ------------------------------------------------------------ maintenance */

static void
test_maint_time(void)
{
	struct maint_zone	*ber, *utc;
	const char		*why = NULL;
	int64_t			 t;
	static const struct {
		const char	*days, *span;
		bool		 berlin;
		const char	*when;		/* in the zone */
		bool		 want;
	} c[] = {
		{ "sun", "02:00-04:00", true, "2026-11-29 02:30", true },	/* a Sunday */
		{ "sun", "02:00-04:00", true, "2026-11-29 04:00", false },
		{ "sun", "02:00-04:00", true, "2026-11-29 01:59", false },
		{ "sun", "02:00-04:00", true, "2026-11-30 02:30", false },	/* Monday */
		{ "sat", "22:00-02:00", false, "2026-11-28 23:00", true },	/* over midnight */
		{ "sat", "22:00-02:00", false, "2026-11-29 01:00", true },
		{ "sat", "22:00-02:00", false, "2026-11-29 02:00", false },
		{ "sat", "22:00-02:00", false, "2026-11-28 01:00", false },
		{ "mon-fri", "09:00-17:00", true, "2026-07-01 09:30", true },	/* summer time */
		{ "mon-fri", "09:00-17:00", true, "2026-07-04 09:30", false },	/* Saturday */
		{ "fri-mon", "00:00-24:00", false, "2026-11-29 12:00", true },	/* wraps the week */
		{ "day", "00:00-00:30", false, "2026-11-26 00:10", true },
	};
	char	name[128];

	ber = maint_zone_load("Europe/Berlin", &why);
	UNIT_CHECK(ber != NULL, "zone Europe/Berlin loads", "%s", why ? why : "");
	utc = maint_zone_load("UTC", &why);
	UNIT_CHECK(maint_zone_load("Mars/Olympus", &why) == NULL && strstr(why, "no such"),
	    "unknown zone refused", "why: %s", why ? why : "(null)");
	UNIT_CHECK(maint_zone_load("../etc/passwd", &why) == NULL, "zone path refused", "loaded");
	if (ber == NULL)
		return;
	/* 2026-03-29 01:30 UTC is 03:30 CEST; 2026-01-15 12:00 UTC is 13:00 CET. */
	UNIT_CHECK(maint_local(ber, 1774747800) - 1774747800 == 7200, "berlin summer offset",
	    "%lld", (long long)(maint_local(ber, 1774747800) - 1774747800));
	UNIT_CHECK(maint_local(ber, 1768478400) - 1768478400 == 3600, "berlin winter offset",
	    "%lld", (long long)(maint_local(ber, 1768478400) - 1768478400));
	UNIT_CHECK(maint_parse_when("2026-01-15 13:00", ber, &t, &why) == 0 && t == 1768478400,
	    "local time to utc (winter)", "%lld", (long long)t);
	UNIT_CHECK(maint_parse_when("2026-07-01 12:00:30", ber, &t, &why) == 0 &&
	    t == 1782900030, "local time to utc (summer, seconds)", "%lld", (long long)t);
	UNIT_CHECK(maint_parse_when("@1700000000", NULL, &t, &why) == 0 && t == 1700000000,
	    "epoch form", "%lld", (long long)t);
	UNIT_CHECK(maint_parse_when("2026-13-01 00:00", ber, &t, &why) == -1, "bad month",
	    "accepted");
	UNIT_CHECK(maint_parse_when("2026-01-01 00:00x", ber, &t, &why) == -1, "trailing junk",
	    "accepted");

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct maint_time	mt = { 0 };
		const struct maint_zone	*z = c[i].berlin ? ber : utc;
		int			ok = maint_parse_days(c[i].days, &mt.days, &why) == 0 &&
		    maint_parse_span(c[i].span, &mt.from_min, &mt.to_min, &why) == 0 &&
		    maint_parse_when(c[i].when, z, &t, &why) == 0;

		snprintf(name, sizeof(name), "window %s %s at %s %s", c[i].days, c[i].span,
		    c[i].when, c[i].berlin ? "Berlin" : "UTC");
		UNIT_CHECK(ok && maint_time_active(&mt, z, t) == c[i].want, name,
		    "active %d, want %d (parse %d)", ok ? maint_time_active(&mt, z, t) : -1,
		    c[i].want, ok);
	}
	{
		unsigned d;
		int a, b;

		UNIT_CHECK(maint_parse_days("mon,xyz", &d, &why) == -1, "bad day refused", "ok");
		UNIT_CHECK(maint_parse_span("04:00-04:00", &a, &b, &why) == -1,
		    "empty span refused", "ok");
		UNIT_CHECK(maint_parse_span("4:00-05:00", &a, &b, &why) == -1,
		    "span needs HH:MM", "ok");
	}
	maint_zone_free(ber);
	maint_zone_free(utc);
}

/* ------------------------------------------------------------ conf */

#define H(name, extra) "host " name " { address 127.0.0.1; " extra \
	"probe p http { url \"http://127.0.0.1/\" } }\n"

static const struct {
	const char	*name;
	const char	*text;
	const char	*err;		/* NULL: builds; else a substring of the errors */
} conf_cases[] = {
	{ "parents resolve", H("a", "") H("b", "parent a; impact 1; tag dmz web; ") , NULL },
	{ "unknown parent", H("a", "parent nope; "), "t.conf:1:36: unknown parent host 'nope'" },
	{ "own parent", H("a", "parent a; "), "t.conf:1:36: host 'a' cannot be its own parent" },
	{ "parent loop", H("a", "parent b; ") H("b", "parent c; ") H("c", "parent a; "),
	    "t.conf:3:36: parent loop: a -> b -> c -> a" },
	{ "duplicate parent", H("a", "") H("b", "parent a; parent a; "),
	    "t.conf:2:46: parent 'a' is already given" },
	{ "impact range", H("a", "impact 4; "), "bad impact '4'" },
	{ "availability unknown", H("a", "availability q; "),
	    "host 'a' has no probe 'q' for 'availability'" },
	{ "recover parses",
	    "host a { address 127.0.0.1; probe p http { url \"http://x/\"\n"
	    "critical time > 2s recover < 1s; retry-interval 5s; flap-low 10%; flap-high 40% } }",
	    NULL },
	{ "recover never",
	    "host a { address 127.0.0.1; probe p http { url \"http://x/\"\n"
	    "critical time > 2s recover > 3s } }",
	    "t.conf:2:28: 'recover > 3s' leaves no value outside '> 2s'" },
	{ "recover bad shape",
	    "host a { address 127.0.0.1; probe p http { url \"http://x/\"\n"
	    "critical time > 2s < 1s } }", "'critical' takes [METRIC] OP VALUE" },
	{ "flap percent range",
	    "host a { address 127.0.0.1; probe p http { url \"http://x/\"; flap-high 120% } }",
	    "bad percentage '120%' for 'flap-high'" },
	{ "flap-low above flap-high",
	    "host a { address 127.0.0.1; probe p http { url \"http://x/\"\n"
	    "flap-high 30%; flap-low 40% } }",
	    "t.conf:2:16: flap-low 40% is above flap-high 30% in probe 'p'" },
	{ "priority matrix",
	    "priority-matrix { impact 1 P1 P1 P2; impact 3 4 5 5 }\n" H("a", ""), NULL },
	{ "priority matrix bad",
	    "priority-matrix { impact 1 P1 P6 P2 }\n", "t.conf:1:31: bad priority 'P6'" },
	{ "maintenance ok",
	    "maintenance patch { hosts \"web*\"; tags dmz; every sun 02:00-04:00\n"
	    "zone \"Europe/Berlin\"; once \"2026-12-24 18:00\" \"2026-12-27 08:00\" }\n", NULL },
	{ "maintenance covers nothing",
	    "maintenance m { every day 01:00-02:00 }\n", "maintenance 'm' covers nothing" },
	{ "maintenance no time", "maintenance m { hosts a }\n", "maintenance 'm' has no time" },
	{ "maintenance backwards",
	    "maintenance m { hosts a; once \"2026-01-02 00:00\" \"2026-01-01 00:00\" }\n",
	    "maintenance 'm' ends before it starts" },
	{ "maintenance bad zone", "maintenance m { hosts a; every day 01:00-02:00; zone X/Y }\n",
	    "t.conf:1:54: bad zone 'X/Y'" },
	{ "settle", "settle 2s\n", NULL },
};

static void
test_conf(void)
{
	char	*errs;

	for (size_t i = 0; i < sizeof(conf_cases) / sizeof(conf_cases[0]); i++) {
		struct config *cfg = unit_conf_load(conf_cases[i].text, &errs);

		if (conf_cases[i].err == NULL)
			UNIT_CHECK(cfg != NULL, conf_cases[i].name, "errors: %s", errs);
		else
			UNIT_CHECK(cfg == NULL && strstr(errs, conf_cases[i].err) != NULL,
			    conf_cases[i].name, "got: %s", errs);
		conf_free(cfg);
	}
}

static void
test_conf_values(void)
{
	char			*errs;
	struct config		*cfg;
	const struct probe_def	*d;

	cfg = unit_conf_load(H("a", "") H("b", "parent a; impact 1; tag dmz web; availability p; ")
	    "settle 2s\npriority-matrix { impact 1 P1 P1 P2 }\n"
	    "maintenance m { hosts b; probes p; every sat,sun 22:00-02:00 }\n",
	    &errs);
	UNIT_CHECK(cfg != NULL, "values: builds", "%s", errs);
	if (cfg == NULL)
		return;
	UNIT_CHECK(cfg->hosts[1].nparents == 1 && cfg->hosts[1].parents[0] == &cfg->hosts[0],
	    "values: parent pointer", "nparents %zu", cfg->hosts[1].nparents);
	UNIT_CHECK(cfg->hosts[0].impact == 2 && cfg->hosts[1].impact == 1, "values: impact",
	    "%d %d", cfg->hosts[0].impact, cfg->hosts[1].impact);
	UNIT_CHECK(cfg->hosts[1].ntags == 2 && strcmp(cfg->hosts[1].tags[1], "web") == 0,
	    "values: tags", "%zu", cfg->hosts[1].ntags);
	UNIT_CHECK(cfg->hosts[0].avail == cfg->hosts[0].probes[0], "values: availability "
	    "defaults to the first probe", "%p", (const void *)cfg->hosts[0].avail);
	UNIT_CHECK(cfg->settle_ms == 2000, "values: settle", "%llu",
	    (unsigned long long)cfg->settle_ms);
	UNIT_CHECK(cfg->priority[0][1] == 1 && cfg->priority[1][0] == 2, "values: matrix row "
	    "replaced, others default", "%d %d", cfg->priority[0][1], cfg->priority[1][0]);
	UNIT_CHECK(cfg->nmaint == 1 && cfg->maint[0].ntimes == 1 &&
	    cfg->maint[0].times[0].days == 0x41, "values: maintenance days", "%u",
	    cfg->nmaint ? cfg->maint[0].times[0].days : 0);
	UNIT_CHECK(maint_covers(&cfg->maint[0], &cfg->hosts[1], "p") &&
	    !maint_covers(&cfg->maint[0], &cfg->hosts[0], "p") &&
	    !maint_covers(&cfg->maint[0], &cfg->hosts[1], "q"), "values: covers",
	    "mismatch");
	d = cfg->hosts[0].probes[0];
	UNIT_CHECK(d->flap_low == 25 && d->flap_high == 50 && d->retry_ms == 0,
	    "values: flap defaults", "%g %g", d->flap_low, d->flap_high);
	conf_free(cfg);
}

/* An impact nobody wrote: 1 with ten or more children, else 2. */
static void
test_impact_derived(void)
{
	char		 text[8192], *errs;
	size_t		 len = 0;
	struct config	*cfg;

	len += (size_t)snprintf(text + len, sizeof(text) - len, H("core", "") H("edge", ""));
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "host c%d { address 127.0.0.1; parent core; %s probe p http "
		    "{ url \"http://127.0.0.1/\" } }\n", i, i == 0 ? "parent edge;" : "");
	cfg = unit_conf_load(text, &errs);
	UNIT_CHECK(cfg != NULL, "impact: builds", "%s", errs);
	if (cfg == NULL)
		return;
	UNIT_CHECK(cfg->hosts[0].impact == 1, "impact: ten children make it 1", "%d",
	    cfg->hosts[0].impact);
	UNIT_CHECK(cfg->hosts[1].impact == 2, "impact: one child leaves it 2", "%d",
	    cfg->hosts[1].impact);
	UNIT_CHECK(cfg->hosts[2].nparents == 2, "impact: two parents kept", "%zu",
	    cfg->hosts[2].nparents);
	conf_free(cfg);
}

int
main(void)
{
	log_init("test_state", true, LOG_INFO);
	test_flapping();
	test_priority();
	test_recover();
	test_maint_time();
	test_conf();
	test_conf_values();
	test_impact_derived();
	return UNIT_DONE();
}
