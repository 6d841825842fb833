/*
 * test_forecast.c: the least-squares forecast on tables of synthetic
 * series: straight growth gives its exact date, flat and trendless noisy
 * series give none, a series already over its limit is due now.  Holt-
 * Winters on growth with a daily cycle: the date its peak reaches the limit
 * (within one step); and on an RRD file written with librrd's own update,
 * with the limit a percentage of the data source's maximum (link speed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rrd.h>

#include "itsmd.h"
#include "unit.h"

#define DAY	86400.0
#define NPTS	336	/* two weeks, hourly */

/* Deterministic noise in [-1, 1]: the same on every run. */
static double
noise(unsigned i)
{
	unsigned x = i * 2654435761u ^ 0x9e3779b9u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return (double)(x % 20001) / 10000.0 - 1.0;
}

static const struct {
	const char	*name;
	double		 start, per_day, amp;	/* v = start + per_day * days + amp * noise */
	double		 limit;
	bool		 found;
	double		 days_after;		/* the limit is reached this long after t0 */
} cases[] = {
	{ "linear growth 1%/day to 90%", 50, 1, 0, 90, true, 40 },
	{ "linear growth 2.5/day to 100", 10, 2.5, 0, 100, true, 36 },
	{ "growth with noise", 50, 1, 0.5, 90, true, 40 },
	{ "flat series", 50, 0, 0, 90, false, 0 },
	{ "noise without trend", 50, 0, 5, 90, false, 0 },
	{ "heavy noise, tiny drift", 50, 0.001, 8, 90, false, 0 },
	{ "falling away from the limit", 80, -1, 0, 90, false, 0 },
	{ "already above the limit", 95, 0.5, 0, 90, true, -1 },
};

/* growth per day, daily swing, noise: v = 50 + g*days + a*sin(day) + n*noise */
static double
seasonal(unsigned i, double per_day, double amp, double nz)
{
	return 50 + per_day * i / 24.0 + amp * sin(2 * M_PI * (i % 24) / 24.0) +
	    nz * noise(i + 1000);
}

/* The first hour at or after n whose value reaches limit (no noise). */
static double
first_reach(double t0, unsigned n, double per_day, double amp, double limit)
{
	for (unsigned i = n; i < n + 24 * 3650; i++)
		if (seasonal(i, per_day, amp, 0) >= limit)
			return t0 + i * 3600.0;
	return 0;
}

static void
holt_winters(void)
{
	static const struct {
		const char	*name;
		double		 per_day, amp, nz, limit;
		size_t		 season;
		bool		 found;
		unsigned	 gaps;		/* unknowns at both ends (a window's edges) */
	} cases[] = {
		{ "growth with a daily cycle: the peak's date", 1, 5, 0, 90, 24, true, 0 },
		{ "the same with gaps at both ends", 1, 5, 0, 90, 24, true, 3 },
		{ "steep growth with a wide cycle", 3, 10, 0, 100, 24, true, 0 },
		{ "growth with cycle and noise", 1, 5, 0.5, 90, 24, true, 0 },
		{ "growth without a cycle, Holt's linear", 1, 0, 0, 90, 0, true, 0 },
		{ "a cycle without growth: no date", 0, 5, 0, 90, 24, false, 0 },
		{ "a cycle with noise, no growth: no date", 0, 5, 2, 90, 24, false, 0 },
	};
	double		 t[NPTS], v[NPTS], t0 = 1.7e9;
	struct forecast	 fc;
	char		 name[160];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (unsigned i = 0; i < NPTS; i++) {
			t[i] = t0 + i * 3600.0;
			v[i] = seasonal(i, cases[c].per_day, cases[c].amp, cases[c].nz);
			if (i < cases[c].gaps || i >= NPTS - cases[c].gaps)
				v[i] = NAN;
		}
		int rc = forecast_holt(t, v, NPTS, cases[c].season, cases[c].limit, &fc);
		snprintf(name, sizeof(name), "holt-winters: %s", cases[c].name);
		if (!cases[c].found) {
			UNIT_CHECK(rc == 0 && !fc.found, name, "found %d when %.0f", fc.found,
			    fc.when);
			continue;
		}
		double want = first_reach(t0, NPTS, cases[c].per_day, cases[c].amp,
		    cases[c].limit);
		UNIT_CHECK(rc == 0 && fc.found && fc.hw && fabs(fc.when - want) <=
		    (cases[c].nz > 0 ? 6 * 3600 : 3600), name,
		    "found %d off by %.0f s (slope %g/day r2 %g)", fc.found, fc.when - want,
		    fc.slope * DAY, fc.r2);
	}
	/* The peak comes before the line: least squares alone is a day late. */
	for (unsigned i = 0; i < NPTS; i++) {
		t[i] = t0 + i * 3600.0;
		v[i] = seasonal(i, 1, 5, 0);
	}
	struct forecast lin;
	forecast_linear(t, v, NPTS, 90, &lin);
	forecast_holt(t, v, NPTS, 24, 90, &fc);
	UNIT_CHECK(lin.found && fc.found && lin.when - fc.when > 4 * DAY,
	    "holt-winters: the seasonal peak is due days before the average",
	    "linear %.0f hw %.0f", lin.when, fc.when);
}

/*
 * A file as itsmd makes it (hourly steps, bounded by a link speed, a daily
 * Holt-Winters archive), filled by rrd_update: the date 80% of the speed is
 * reached is found, and a file without a maximum has no `of-speed` date.
 */
static void
rrd_file(void)
{
	char		 tmpl[] = "/tmp/itsmd-fctest.XXXXXX", path[200], path2[200], upd[64];
	const char	*argv[1];
	time_t		 now = time(NULL), t0 = (now / 3600 - NPTS) * 3600;
	double		 speed = 1000;	/* bytes/s */
	struct forecast	 fc;
	char		 why[256];
	struct rrd_ds	 ds = { NULL, 0, 1000 };
	char		*cargs[RRDL_MAX_ARGS];
	const char	*cargv[RRDL_MAX_ARGS];
	struct conf_err	 err = { 0 };
	struct conf_tree *tree;

	if (mkdtemp(tmpl) == NULL)
		return;
	tree = conf_parse_string("t.conf", "rrd { archive 1M@step; consolidate average; "
	    "hwpredict 1d }", &err);
	ds.layout = rrdl_parse(&tree->root.children[0], false, &err);
	conf_tree_free(tree);
	int argc = rrdl_create_args(&ds, 3600, cargs);
	for (int i = 0; i < argc; i++)
		cargv[i] = cargs[i];
	snprintf(path, sizeof(path), "%s/in.rrd", tmpl);
	snprintf(path2, sizeof(path2), "%s/nomax.rrd", tmpl);
	UNIT_CHECK(rrd_create_r(path, 3600, t0 - 1, argc, cargv) == 0,
	    "forecast file: created with itsmd's layout", "%s", rrd_get_error());
	cargs[0][strlen(cargs[0]) - strlen("1000")] = 'U';
	cargs[0][strlen(cargs[0]) - strlen("000")] = '\0';
	UNIT_CHECK(rrd_create_r(path2, 3600, t0 - 1, argc, cargv) == 0,
	    "forecast file: one without a maximum", "%s (%s)", rrd_get_error(), cargs[0]);
	rrdl_args_free(cargs, argc);
	/* 40% of the speed rising 1%/day with a +-5% daily swing */
	for (unsigned i = 0; i < NPTS; i++) {
		double v = (seasonal(i, 1, 5, 0) - 10) / 100 * speed;
		snprintf(upd, sizeof(upd), "%lld:%.6f", (long long)(t0 + i * 3600), v);
		argv[0] = upd;
		rrd_update_r(path, NULL, 1, argv);
		rrd_update_r(path2, NULL, 1, argv);
	}
	int rc = forecast_rrd(path, 14 * 86400, t0 + NPTS * 3600, 80, true, &fc, why,
	    sizeof(why));
	/* (seasonal - 10)% reaches 80% when seasonal reaches 90 */
	double want = first_reach(t0, NPTS, 1, 5, 90);
	UNIT_CHECK(rc == 0 && fc.found && fc.hw && fc.season == 24 && fabs(fc.limit - 800) < 1e-9,
	    "forecast file: Holt-Winters with a 24-hour season, limit 80% of 1000 B/s",
	    "rc %d found %d hw %d season %zu limit %g (%s)", rc, fc.found, fc.hw, fc.season,
	    fc.limit, rc ? why : "");
	UNIT_CHECK(fc.found && fabs(fc.when - want) <= 3600,
	    "forecast file: the date 80% of the speed is reached, within one step",
	    "off by %.0f s", fc.when - want);
	rc = forecast_rrd(path2, 14 * 86400, t0 + NPTS * 3600, 80, true, &fc, why, sizeof(why));
	UNIT_CHECK(rc == -1 && !fc.found && strstr(why, "not known") != NULL,
	    "forecast file: no maximum, no of-speed date", "rc %d: %s", rc, why);
	unlink(path);
	unlink(path2);
	rmdir(tmpl);
}

int
main(void)
{
	double		 t[NPTS], v[NPTS], t0 = 1.7e9;
	struct forecast	 fc;
	char		 name[160];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (unsigned i = 0; i < NPTS; i++) {
			t[i] = t0 + i * 3600.0;
			v[i] = cases[c].start + cases[c].per_day * (i * 3600.0 / DAY) +
			    cases[c].amp * noise(i + 7 * (unsigned)c);
		}
		int rc = forecast_linear(t, v, NPTS, cases[c].limit, &fc);
		snprintf(name, sizeof(name), "forecast: %s: %s", cases[c].name,
		    cases[c].found ? "a date" : "no date");
		UNIT_CHECK(rc == 0 && fc.found == cases[c].found, name,
		    "rc %d found %d slope %g/day r2 %g", rc, fc.found, fc.slope * DAY, fc.r2);
		if (!cases[c].found || !fc.found)
			continue;
		if (cases[c].days_after < 0) {
			snprintf(name, sizeof(name), "forecast: %s: the date is now", cases[c].name);
			UNIT_CHECK(fc.when == fc.last_t, name, "when %.0f last %.0f", fc.when,
			    fc.last_t);
			continue;
		}
		double want = t0 + cases[c].days_after * DAY;
		snprintf(name, sizeof(name), "forecast: %s: date within one step", cases[c].name);
		/* exact series: one hourly step; noisy ones: one daily step */
		UNIT_CHECK(fabs(fc.when - want) <= (cases[c].amp == 0 ? 3600 : DAY), name,
		    "off by %.0f s", fc.when - want);
		snprintf(name, sizeof(name), "forecast: %s: trend per day", cases[c].name);
		UNIT_CHECK(fabs(fc.slope * DAY - cases[c].per_day) < 0.01 * fabs(cases[c].per_day),
		    name, "slope %g/day", fc.slope * DAY);
		snprintf(name, sizeof(name), "forecast: %s: confidence", cases[c].name);
		UNIT_CHECK(fc.r2 > (cases[c].amp == 0 ? 0.9999 : 0.9) && fc.r2 <= 1, name,
		    "r2 %g", fc.r2);
	}

	/* Unknowns (gaps) are skipped, not taken as zero. */
	for (unsigned i = 0; i < NPTS; i++) {
		t[i] = t0 + i * 3600.0;
		v[i] = i % 3 == 0 ? NAN : 50 + i * 3600.0 / DAY;
	}
	forecast_linear(t, v, NPTS, 90, &fc);
	UNIT_CHECK(fc.found && fabs(fc.when - (t0 + 40 * DAY)) <= 3600,
	    "forecast: gaps are skipped", "found %d off by %.0f s", fc.found,
	    fc.when - (t0 + 40 * DAY));
	UNIT_CHECK(fc.n == NPTS - NPTS / 3, "forecast: gaps do not count as points",
	    "n %zu", fc.n);

	holt_winters();
	rrd_file();

	/* Too few points say nothing. */
	UNIT_CHECK(forecast_linear(t + 1, v + 1, 4, 90, &fc) == -1 && !fc.found,
	    "forecast: four points are too few", "found %d", fc.found);
	return UNIT_DONE();
}
