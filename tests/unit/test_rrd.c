/*
 * test_rrd.c: the RRD layout as documented, through the writer's own path
 * (rrdw_update, librrd's update, timestamps in the past): the archives and
 * their sizes, and what each resolution consolidates to (read back with
 * rrd_fetch, as `rrdtool fetch` does).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rrd.h>

#include "itsmd.h"
#include "unit.h"

#define STEP	60

/* The value written at t: the minute of the hour, 0..59. */
static double
minute(time_t t)
{
	return (double)((t / 60) % 60);
}

/* What a bucket of `n` minutes ending at T consolidates to. */
static double
expect(time_t end, int n, const char *cf)
{
	double	sum = 0, lo = INFINITY, hi = -INFINITY;

	for (int k = 0; k < n; k++) {
		double v = minute(end - (time_t)k * 60);
		sum += v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (strcmp(cf, "MIN") == 0)
		return lo;
	if (strcmp(cf, "MAX") == 0)
		return hi;
	return sum / n;
}

/* The value of the row ending at `at` in the archive of `step` s, or NAN. */
static double
fetch_at(const char *path, const char *cf, unsigned long want_step, time_t at,
    unsigned long *got_step)
{
	time_t		 start = at - (time_t)want_step, end = at;
	unsigned long	 step = want_step, nds;
	char		**names;
	rrd_value_t	*data;
	double		 v = NAN;

	rrd_clear_error();
	if (rrd_fetch_r(path, cf, &start, &end, &step, &nds, &names, &data) != 0) {
		printf("# fetch %s %lu: %s\n", cf, want_step, rrd_get_error());
		return NAN;
	}
	*got_step = step;
	for (time_t t = start + (time_t)step, i = 0; t <= end; t += (time_t)step, i++)
		if (t == at)
			v = data[i * nds];
	for (unsigned long i = 0; i < nds; i++)
		rrd_freemem(names[i]);
	rrd_freemem(names);
	rrd_freemem(data);
	return v;
}

static long
info_cnt(rrd_info_t *info, const char *key)
{
	for (rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, key) == 0)
			return i->type == RD_I_CNT ? (long)i->value.u_cnt : -2;
	return -1;
}

static const char *
info_str(rrd_info_t *info, const char *key)
{
	for (rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, key) == 0 && i->type == RD_I_STR)
			return i->value.u_str;
	return "";
}

int
main(void)
{
	static const struct {
		unsigned long	 step;		/* archive resolution, s */
		long		 rows;		/* documented span / resolution */
		int		 minutes;	/* minutes per row */
	} tiers[] = {
		{ 60, 2880, 1 },		/* full resolution, 2 days */
		{ 300, 4032, 5 },		/* 5 minutes, 2 weeks */
		{ 3600, 9480, 60 },		/* 1 hour, 13 months (395 days) */
		{ 86400, 1826, 1440 },		/* 1 day, 5 years */
	};
	static const char *const cfs[] = { "MIN", "AVERAGE", "MAX" };
	char		 tmpl[] = "/tmp/itsmd-rrdtest.XXXXXX", name[160], key[64];
	char		*dir, *path, *hpath;
	time_t		 t0, now = time(NULL);
	rrd_info_t	*info;

	log_init("test_rrd", true, 3);
	if ((dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* Three days ago at midnight UTC, two days and a bit of minutes. */
	t0 = (now / 86400 - 3) * 86400;
	if (rrdw_start(dir, NULL) == -1)
		return 1;
	for (time_t t = t0; t <= t0 + 2 * 86400 + 3600; t += STEP)
		rrdw_update("h", "p", NULL, "m", STEP * 1000, (uint64_t)t * 1000, true, minute(t));
	/* An hourly probe: no 5-minute or hourly tier, only full and daily. */
	for (time_t t = t0; t <= t0 + 86400; t += 3600)
		rrdw_update("h", "hourly", NULL, "m", 3600 * 1000, (uint64_t)t * 1000, true, 1);
	rrdw_stop();		/* drains the queue: every accepted sample is written */

	path = rrdw_path(dir, "h", "p", NULL, "m");
	hpath = rrdw_path(dir, "h", "hourly", NULL, "m");
	info = rrd_info_r(path);
	UNIT_CHECK(info != NULL, "rrd: the writer created the file", "%s", rrd_get_error());
	if (info == NULL)
		return UNIT_DONE();
	UNIT_CHECK(info_cnt(info, "step") == STEP, "rrd: step is the probe interval", "step %ld",
	    info_cnt(info, "step"));
	UNIT_CHECK(info_cnt(info, "ds[value].minimal_heartbeat") == 2 * STEP,
	    "rrd: heartbeat is two steps", "%ld", info_cnt(info, "ds[value].minimal_heartbeat"));
	UNIT_CHECK(strcmp(info_str(info, "ds[value].type"), "GAUGE") == 0,
	    "rrd: one GAUGE data source (rates are computed by itsmd)", "%s",
	    info_str(info, "ds[value].type"));
	for (size_t t = 0; t < 4; t++)
		for (size_t c = 0; c < 3; c++) {
			size_t r = t * 3 + c;
			snprintf(key, sizeof(key), "rra[%zu].rows", r);
			long rows = info_cnt(info, key);
			snprintf(key, sizeof(key), "rra[%zu].pdp_per_row", r);
			long ppr = info_cnt(info, key);
			snprintf(key, sizeof(key), "rra[%zu].cf", r);
			snprintf(name, sizeof(name), "rrd: %s archive every %lus holds %ld rows",
			    cfs[c], tiers[t].step, tiers[t].rows);
			UNIT_CHECK(strcmp(info_str(info, key), cfs[c]) == 0 &&
			    ppr * STEP == (long)tiers[t].step && rows == tiers[t].rows, name,
			    "cf %s pdp_per_row %ld rows %ld", info_str(info, key), ppr, rows);
		}
	UNIT_CHECK(info_cnt(info, "rra[12].rows") == -1, "rrd: no other archive", "%ld",
	    info_cnt(info, "rra[12].rows"));
	rrd_info_free(info);

	/* Each resolution, each function, at a few row ends. */
	for (size_t t = 0; t < 4; t++)
		for (size_t c = 0; c < 3; c++) {
			time_t	 at[3];
			int	 bad = 0;
			double	 got = 0, want = 0;
			unsigned long gs = 0;

			if (tiers[t].step == 86400) {
				at[0] = at[1] = at[2] = t0 + 2 * 86400;
			} else {
				at[0] = t0 + 86400 + 3600;			/* on the hour */
				at[1] = t0 + 86400 + 3600 + (time_t)tiers[t].step;
				at[2] = t0 + 86400 + 7 * 3600 - (time_t)tiers[t].step;
			}
			for (int k = 0; k < 3; k++) {
				got = fetch_at(path, cfs[c], tiers[t].step, at[k], &gs);
				want = expect(at[k], tiers[t].minutes, cfs[c]);
				if (gs != tiers[t].step || !(fabs(got - want) < 1e-9))
					bad = 1;
				if (bad)
					break;
			}
			snprintf(name, sizeof(name), "rrd: fetch %s at %lus consolidates as "
			    "documented", cfs[c], tiers[t].step);
			UNIT_CHECK(!bad, name, "step %lu got %g want %g", gs, got, want);
		}

	info = rrd_info_r(hpath);
	UNIT_CHECK(info != NULL && info_cnt(info, "step") == 3600 &&
	    info_cnt(info, "rra[0].pdp_per_row") == 1 && info_cnt(info, "rra[3].pdp_per_row") == 24 &&
	    info_cnt(info, "rra[6].rows") == -1,
	    "rrd: an hourly probe gets only the full and daily tiers", "step %ld",
	    info ? info_cnt(info, "step") : -1);
	if (info)
		rrd_info_free(info);

	unlink(path);
	unlink(hpath);
	free(path);
	free(hpath);
	snprintf(name, sizeof(name), "rm -rf '%s'", dir);
	if (system(name) != 0)
		printf("# could not remove %s\n", dir);
	return UNIT_DONE();
}
