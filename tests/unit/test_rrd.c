/*
 * test_rrd.c: the RRD layout as documented, through the writer's own path
 * (rrdw_update, librrd's update, timestamps in the past): the archives and
 * their sizes, and what each resolution consolidates to (read back with
 * rrd_fetch, as `rrdtool fetch` does).  Then `rrd { }` layouts (create
 * arguments and errors as tables), data-source bounds from units and the
 * conf, and a file made with both, read back with rrd_info.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
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

static double
info_val(rrd_info_t *info, const char *key)
{
	for (rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, key) == 0 && i->type == RD_I_VAL)
			return i->value.u_val;
	return -12345;
}

/* The create arguments of `text` (an `rrd { }` block) at step, joined by
 * spaces, or the errors it gives. */
static void
layout_args(const char *text, unsigned step, double min, double max, char *out, size_t len)
{
	struct conf_err		 err = { 0 };
	struct conf_tree	*tree;
	const struct rrd_layout	*l = NULL;
	char			*argv[RRDL_MAX_ARGS];
	int			 argc;

	out[0] = '\0';
	unit_capture_start();
	if ((tree = conf_parse_string("t.conf", text, &err)) != NULL)
		l = rrdl_parse(&tree->root.children[0], false, &err);
	snprintf(out, len, "%s", unit_capture_end());
	if (tree != NULL)
		conf_tree_free(tree);
	if (l == NULL)
		return;
	struct rrd_ds ds = { l, min, max };
	argc = rrdl_create_args(&ds, step, argv);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "%s%s", i ? " " : "", argv[i]);
	}
	rrdl_args_free(argv, argc);
}

static void
layout_tables(void)
{
	static const struct {
		const char	*name, *text;
		unsigned	 step;
		double		 min, max;
		const char	*want;		/* arguments, or a piece of the error */
	} cases[] = {
		{ "default layout, 1-minute step", "rrd { }", 60, NAN, NAN,
		  "DS:value:GAUGE:120:U:U RRA:MIN:0.5:1:2880 RRA:AVERAGE:0.5:1:2880 "
		  "RRA:MAX:0.5:1:2880 RRA:MIN:0.5:5:4032 RRA:AVERAGE:0.5:5:4032 "
		  "RRA:MAX:0.5:5:4032 RRA:MIN:0.5:60:9497 RRA:AVERAGE:0.5:60:9497 "
		  "RRA:MAX:0.5:60:9497 RRA:MIN:0.5:1440:1827 RRA:AVERAGE:0.5:1440:1827 "
		  "RRA:MAX:0.5:1440:1827" },
		{ "the default written out is the default",
		  "rrd { archive 2d@step 2w@5m 13M@1h 5y@1d; consolidate min average max; "
		  "heartbeat 2x; xff 50% }", 300, 0, 100,
		  "DS:value:GAUGE:600:0:100 RRA:MIN:0.5:1:576 RRA:AVERAGE:0.5:1:576 "
		  "RRA:MAX:0.5:1:576 RRA:MIN:0.5:12:9497 RRA:AVERAGE:0.5:12:9497 "
		  "RRA:MAX:0.5:12:9497 RRA:MIN:0.5:288:1827 RRA:AVERAGE:0.5:288:1827 "
		  "RRA:MAX:0.5:288:1827" },
		{ "small bench layout", "rrd { archive 1d@step 1y@1d; consolidate average }",
		  60, 0, NAN,
		  "DS:value:GAUGE:120:0:U RRA:AVERAGE:0.5:1:1440 RRA:AVERAGE:0.5:1440:366" },
		{ "heartbeat, xff, last, rate bound", "rrd { archive 1h@step 1w@1h; consolidate "
		  "last max; heartbeat 5x; xff 20% }", 10, 0, 125000000,
		  "DS:value:GAUGE:50:0:125000000 RRA:MAX:0.2:1:360 RRA:LAST:0.2:1:360 "
		  "RRA:MAX:0.2:360:168 RRA:LAST:0.2:360:168" },
		{ "Holt-Winters, daily season", "rrd { archive 2d@step 1M@1h; consolidate "
		  "average; hwpredict 1d }", 60, NAN, NAN,
		  "DS:value:GAUGE:120:U:U RRA:AVERAGE:0.5:1:2880 RRA:AVERAGE:0.5:60:731 "
		  "RRA:HWPREDICT:2880:0.1:0.0035:1440" },
		{ "multiplicative Holt-Winters", "rrd { archive 1d@step; consolidate average; "
		  "hwpredict 1w multiplicative }", 3600, NAN, NAN,
		  "DS:value:GAUGE:7200:U:U RRA:AVERAGE:0.5:1:24 RRA:MHWPREDICT:168:0.1:0.0035:168" },
		{ "a typo's huge archive is cut to 2^24 rows", "rrd { archive 100y@step; "
		  "consolidate average }", 1, NAN, NAN,
		  "DS:value:GAUGE:2:U:U RRA:AVERAGE:0.5:1:16777216" },
		{ "error: no @", "rrd { archive 2d }", 60, NAN, NAN,
		  "t.conf:1:15: bad archive '2d': write SPAN@RESOLUTION" },
		{ "error: finest first", "rrd { archive 2w@5m 2d@step }", 60, NAN, NAN,
		  "t.conf:1:21: archive '2d@step' is not coarser than the one before it" },
		{ "error: span within resolution", "rrd { archive 1h@1d }", 60, NAN, NAN,
		  "archive '1h@1d' keeps less than one row" },
		{ "error: unknown consolidation", "rrd { consolidate median }", 60, NAN, NAN,
		  "t.conf:1:19: unknown consolidation 'median'" },
		{ "error: heartbeat", "rrd { heartbeat 2 }", 60, NAN, NAN,
		  "bad heartbeat '2': write how many steps" },
		{ "error: unknown key", "rrd { step 5 }", 60, NAN, NAN,
		  "t.conf:1:7: unknown key 'step' in rrd block" },
		{ "error: bad season", "rrd { hwpredict 1q }", 60, NAN, NAN,
		  "bad season '1q' for 'hwpredict'" },
	};
	char	out[4096], name[160];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		layout_args(cases[c].text, cases[c].step, cases[c].min, cases[c].max, out,
		    sizeof(out));
		snprintf(name, sizeof(name), "rrd layout: %s", cases[c].name);
		UNIT_CHECK(strncmp(cases[c].name, "error", 5) == 0 ?
		    strstr(out, cases[c].want) != NULL : strcmp(out, cases[c].want) == 0,
		    name, "got '%s'", out);
	}
}

static void
bounds_table(void)
{
	static const struct {
		const char	*name, *unit;
		enum metric_kind kind;
		double		 min, max;	/* NAN: unbounded */
	} cases[] = {
		{ "usedpct", "%", MK_GAUGE, 0, 100 },
		{ "time", "s", MK_GAUGE, 0, NAN },
		{ "size", "B", MK_GAUGE, 0, NAN },
		{ "in", NULL, MK_COUNTER, 0, NAN },
		{ "status", NULL, MK_GAUGE, 0, 999 },
		{ "load1", NULL, MK_GAUGE, NAN, NAN },
		{ "cert-days", "d", MK_GAUGE, NAN, NAN },
	};
	char	name[160];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct metric_def m = { .name = (char *)cases[c].name,
		    .unit = (char *)cases[c].unit, .kind = cases[c].kind };
		rrdl_metric_bounds(&m);
		snprintf(name, sizeof(name), "rrd bounds: %s (%s) is %g..%g", cases[c].name,
		    cases[c].unit ? cases[c].unit : "no unit", cases[c].min, cases[c].max);
		UNIT_CHECK(m.has_min == !isnan(cases[c].min) && m.has_max == !isnan(cases[c].max) &&
		    (!m.has_min || m.min == cases[c].min) && (!m.has_max || m.max == cases[c].max),
		    name, "min %d %g max %d %g", m.has_min, m.min, m.has_max, m.max);
	}
}

/* The conf's precedence (probe, template, host, global), `bounds` lines,
 * `capacity ... of-speed`, and the rate bound a row passes. */
static void
conf_layouts(void)
{
	static const char text[] =
	    "rrd { archive 2d@step 1y@1d }\n"
	    "template \"t\" {\n"
	    "  rrd { archive 1d@step 1M@1h }\n"
	    "  probe \"web\" http { url \"http://127.0.0.1:1/\"; capacity time 80% of-speed }\n"
	    "  probe \"own\" tcp { port 1; rrd { archive 6h@step; bounds time 0 5 } }\n"
	    "}\n"
	    "host \"a\" { address 127.0.0.1; use \"t\"\n"
	    "  probe \"p\" http { url \"http://127.0.0.1:1/\" } }\n"
	    "host \"b\" { address 127.0.0.1; rrd { archive 3d@step }\n"
	    "  probe \"p\" http { url \"http://127.0.0.1:1/\" } }\n"
	    "host \"c\" { address 127.0.0.1 }\n";
	struct config		*cfg;
	char			*errors;
	struct rrd_ds		 ds;

	cfg = unit_conf_load(text, &errors);
	UNIT_CHECK(cfg != NULL, "rrd conf: layouts at every level load", "%s", errors);
	if (cfg == NULL)
		return;
	struct host *a = &cfg->hosts[0], *b = &cfg->hosts[1];
	const struct probe_def *web = a->probes[0], *own = a->probes[1], *ap = a->probes[2];
	UNIT_CHECK(web->rrd != NULL && web->rrd->narchives == 2 &&
	    web->rrd->archives[1].res_s == 3600, "rrd conf: a template's probe takes the "
	    "template's layout", "%zu", web->rrd ? web->rrd->narchives : 0);
	UNIT_CHECK(own->rrd != NULL && own->rrd->narchives == 1 &&
	    own->rrd->archives[0].span_s == 6 * 3600, "rrd conf: a probe's own layout wins", "%p",
	    (const void *)own->rrd);
	UNIT_CHECK(ap->rrd == NULL && a->rrd == cfg->rrd && cfg->rrd->archives[1].res_s == 86400,
	    "rrd conf: a host without one takes the global layout", "%p", (const void *)a->rrd);
	UNIT_CHECK(b->rrd != NULL && b->rrd != cfg->rrd && b->rrd->narchives == 1 &&
	    b->rrd->archives[0].span_s == 3 * 86400, "rrd conf: a host's own layout", "%p",
	    (const void *)b->rrd);
	rrdl_ds(ap, b, 0, 0, &ds);
	UNIT_CHECK(ds.layout == b->rrd, "rrd conf: a host probe takes its host's layout",
	    "%p", (const void *)ds.layout);
	rrdl_ds(own, a, 0, 0, &ds);
	UNIT_CHECK(ds.min == 0 && ds.max == 5, "rrd conf: `bounds` sets a metric's min and max",
	    "%g..%g", ds.min, ds.max);
	rrdl_ds(web, a, 0, 1.25e8, &ds);
	UNIT_CHECK(ds.min == 0 && ds.max == 1.25e8, "rrd conf: a row's rate bound (link "
	    "speed) is the maximum", "%g..%g", ds.min, ds.max);
	const struct probe_def *ping = cfg->hosts[2].probes[0];
	size_t loss = 0;
	while (loss < ping->nmetrics && strcmp(ping->metrics[loss].name, "loss") != 0)
		loss++;
	UNIT_CHECK(loss < ping->nmetrics && ping->metrics[loss].has_min &&
	    ping->metrics[loss].has_max && ping->metrics[loss].max == 100,
	    "rrd conf: a host's default ping keeps loss within 0..100%", "%zu of %zu", loss,
	    ping->nmetrics);
	UNIT_CHECK(web->ncapacity == 1 && web->capacity[0].of_max &&
	    web->capacity[0].limit == 80, "rrd conf: `capacity time 80% of-speed`",
	    "n %zu of_max %d limit %g", web->ncapacity,
	    web->ncapacity ? web->capacity[0].of_max : 0,
	    web->ncapacity ? web->capacity[0].limit : 0);
	conf_free(cfg);

	static const struct { const char *text, *want; } bad[] = {
	    { "host \"h\" { address 127.0.0.1; probe \"p\" http { url \"http://x/\"; "
	      "rrd { bounds nosuch 0 1 } } }", "unknown metric 'nosuch' in probe 'p'" },
	    { "host \"h\" { address 127.0.0.1; probe \"p\" http { url \"http://x/\"; "
	      "rrd { bounds time 5 1 } } }", "minimum 5 is not below maximum 1" },
	    { "host \"h\" { address 127.0.0.1; probe \"p\" http { url \"http://x/\"; "
	      "capacity time 120% of-speed } }", "a percentage above 0% and at most 100%" },
	    { "host \"h\" { address 127.0.0.1; probe \"p\" http { url \"http://x/\"; "
	      "capacity time 80 of-nothing } }", "bad word 'of-nothing' for 'capacity'" },
	    { "host \"h\" { address 127.0.0.1; rrd { bounds time 0 1 }; probe \"p\" http "
	      "{ url \"http://x/\" } }", "unknown key 'bounds' in rrd block" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[160];

		cfg = unit_conf_load(bad[i].text, &errors);
		snprintf(name, sizeof(name), "rrd conf: error \"%s\"", bad[i].want);
		UNIT_CHECK(cfg == NULL && strstr(errors, bad[i].want) != NULL, name, "%s", errors);
		if (cfg != NULL)
			conf_free(cfg);
	}
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
		{ 3600, 9497, 60 },		/* 1 hour, 13 months (395.7 days) */
		{ 86400, 1827, 1440 },		/* 1 day, 5 years (1826.25 days) */
	};
	static const char *const cfs[] = { "MIN", "AVERAGE", "MAX" };
	char		 tmpl[] = "/tmp/itsmd-rrdtest.XXXXXX", name[160], key[64];
	char		*dir, *path, *hpath;
	time_t		 t0, now = time(NULL);
	rrd_info_t	*info;

	log_init("test_rrd", true, LOG_WARNING);	/* conf errors are checked */
	layout_tables();
	bounds_table();
	conf_layouts();
	log_setlevel(LOG_ERR);
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
	/* A percentage (0..100) in a Holt-Winters layout: 150 is refused. */
	struct conf_err		 herr = { 0 };
	struct conf_tree	*htree = conf_parse_string("t.conf",
	    "rrd { archive 2d@step 1M@1h; consolidate average; hwpredict 1d }", &herr);
	struct rrd_ds		 pds = { rrdl_parse(&htree->root.children[0], false, &herr), 0, 100 };
	conf_tree_free(htree);
	for (time_t t = t0; t <= t0 + 3600; t += STEP)
		rrdw_update_ds("h", "pct", NULL, "m", STEP * 1000, (uint64_t)t * 1000, true,
		    t == t0 + 1800 ? 150 : 50, &pds);
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

	char *ppath = rrdw_path(dir, "h", "pct", NULL, "m");
	info = rrd_info_r(ppath);
	UNIT_CHECK(info != NULL && info_val(info, "ds[value].min") == 0 &&
	    info_val(info, "ds[value].max") == 100, "rrd: a percentage's file is bounded 0..100",
	    "min %g max %g", info ? info_val(info, "ds[value].min") : -1,
	    info ? info_val(info, "ds[value].max") : -1);
	UNIT_CHECK(info != NULL && strcmp(info_str(info, "rra[2].cf"), "HWPREDICT") == 0 &&
	    strcmp(info_str(info, "rra[3].cf"), "SEASONAL") == 0 &&
	    info_cnt(info, "rra[3].rows") == 1440, "rrd: hwpredict 1d adds Holt-Winters "
	    "archives with a 1440-step season", "cf %s", info ? info_str(info, "rra[2].cf") : "");
	if (info)
		rrd_info_free(info);
	unsigned long gs = 0;
	double over = fetch_at(ppath, "AVERAGE", STEP, t0 + 1800, &gs);
	double under = fetch_at(ppath, "AVERAGE", STEP, t0 + 1800 + STEP, &gs);
	UNIT_CHECK(isnan(over) && under == 50, "rrd: a value above the maximum is stored "
	    "unknown", "over %g under %g", over, under);
	/*
	 * A link that got faster: a new writer finds the file bounded 0..100
	 * and the rows now bounded 0..1000; the file takes the new bounds and
	 * 500 is stored.  An unknown bound (speed not read) never widens it.
	 */
	struct rrd_ds fast = { pds.layout, 0, 1000 }, unknown = { pds.layout, NAN, NAN };
	time_t t1 = t0 + 3600 + STEP;
	if (rrdw_start(dir, NULL) == 0) {
		rrdw_update_ds("h", "pct", NULL, "m", STEP * 1000, (uint64_t)t1 * 1000, true, 500,
		    &fast);
		rrdw_stop();
	}
	info = rrd_info_r(ppath);
	UNIT_CHECK(info != NULL && info_val(info, "ds[value].max") == 1000,
	    "rrd: an existing file takes a faster link's bound in place", "max %g",
	    info ? info_val(info, "ds[value].max") : -1);
	if (info)
		rrd_info_free(info);
	double got = fetch_at(ppath, "AVERAGE", STEP, t1, &gs);
	UNIT_CHECK(got == 500, "rrd: and the faster rate is stored", "got %g", got);
	if (rrdw_start(dir, NULL) == 0) {
		rrdw_update_ds("h", "pct", NULL, "m", STEP * 1000, (uint64_t)(t1 + STEP) * 1000,
		    true, 5, &unknown);
		rrdw_stop();
	}
	info = rrd_info_r(ppath);
	UNIT_CHECK(info != NULL && info_val(info, "ds[value].max") == 1000 &&
	    info_val(info, "ds[value].min") == 0, "rrd: an unknown bound leaves the file's",
	    "min %g max %g", info ? info_val(info, "ds[value].min") : -1,
	    info ? info_val(info, "ds[value].max") : -1);
	if (info)
		rrd_info_free(info);
	unlink(ppath);
	free(ppath);
	unlink(path);
	unlink(hpath);
	free(path);
	free(hpath);
	snprintf(name, sizeof(name), "rm -rf '%s'", dir);
	if (system(name) != 0)
		printf("# could not remove %s\n", dir);
	return UNIT_DONE();
}
