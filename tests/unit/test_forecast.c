/*
 * test_forecast.c: the least-squares forecast on tables of synthetic
 * series: straight growth gives its exact date, flat and trendless noisy
 * series give none, a series already over its limit is due now.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

	/* Too few points say nothing. */
	UNIT_CHECK(forecast_linear(t + 1, v + 1, 4, 90, &fc) == -1 && !fc.found,
	    "forecast: four points are too few", "found %d", fc.found);
	return UNIT_DONE();
}
