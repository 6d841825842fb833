/*
 * rrd_layout.c: what an RRD file is made with.  `rrd { }` blocks of the conf
 * become interned layouts; a layout, a step and the metric's bounds become
 * rrd_create's DS and RRA lines.  The writer thread calls rrdl_create_args()
 * only when a file does not exist yet: an existing file keeps its layout.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rrd.h>

#include "itsmd.h"

#define MONTH_S	2629800ULL	/* 365.25 / 12 days */
/* A typo like 100y@step must not make a file of gigabytes: 2^24 rows is
 * 128 MiB per archive already. */
#define MAX_ROWS	(1UL << 24)
#define YEAR_S	31557600ULL	/* 365.25 days */

/*
 * Today's layout: full resolution for 2 days, 5-minute for 2 weeks, hourly
 * for 13 months, daily for 5 years; MIN, AVERAGE and MAX of each;
 * heartbeat two steps.
 */
static const struct rrd_layout layout_default = {
	.archives = { { 0, 2 * 86400 }, { 300, 14 * 86400 }, { 3600, 13 * MONTH_S },
	    { 86400, 5 * YEAR_S } },
	.narchives = 4,
	.cfs = RRDL_MIN | RRDL_AVERAGE | RRDL_MAX,
	.heartbeat = 2,
	.xff = 0.5,
};

/* Interned layouts: a conf load may run while the writer reads one, and a
 * reload frees the config, not these. */
struct interned {
	struct interned		*next;
	struct rrd_layout	 l;
};
static struct interned	*interned;
static pthread_mutex_t	 intern_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct { const char *name, *cf; unsigned bit; } cf_names[] = {
	{ "min", "MIN", RRDL_MIN }, { "average", "AVERAGE", RRDL_AVERAGE },
	{ "max", "MAX", RRDL_MAX }, { "last", "LAST", RRDL_LAST },
};

const struct rrd_layout *
rrdl_default(void)
{
	return &layout_default;
}

static bool
layout_eq(const struct rrd_layout *a, const struct rrd_layout *b)
{
	if (a->narchives != b->narchives || a->cfs != b->cfs || a->heartbeat != b->heartbeat ||
	    a->xff != b->xff || a->hw_season_s != b->hw_season_s || a->hw_mult != b->hw_mult)
		return false;
	for (size_t i = 0; i < a->narchives; i++)
		if (a->archives[i].res_s != b->archives[i].res_s ||
		    a->archives[i].span_s != b->archives[i].span_s)
			return false;
	return true;
}

static const struct rrd_layout *
intern(const struct rrd_layout *l)
{
	struct interned	*i;

	if (layout_eq(l, &layout_default))
		return &layout_default;
	pthread_mutex_lock(&intern_mu);
	for (i = interned; i != NULL; i = i->next)
		if (layout_eq(&i->l, l))
			break;
	if (i == NULL) {
		i = xcalloc(1, sizeof(*i));
		i->l = *l;
		i->next = interned;
		interned = i;
	}
	pthread_mutex_unlock(&intern_mu);
	return &i->l;
}

/* A span or resolution: the conf's durations plus w, M (month) and y. */
static int
parse_span(const char *s, uint64_t *secs, const char **why)
{
	static const struct { char u; uint64_t s; } big[] = {
		{ 'w', 7 * 86400ULL }, { 'M', MONTH_S }, { 'y', YEAR_S },
	};
	uint64_t	 ms;
	char		*end;

	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		size_t len = strlen(s);
		if (len >= 2 && s[len - 1] == big[i].u) {
			unsigned long long n = strtoull(s, &end, 10);
			if (end != s + len - 1 || s[0] < '0' || s[0] > '9' || n == 0 || n > 1000) {
				*why = "use a whole number of w, M or y (1 to 1000)";
				return -1;
			}
			*secs = n * big[i].s;
			return 0;
		}
	}
	if (conf_duration_ms(s, &ms, why) == -1)
		return -1;
	if (ms < 1000 || ms % 1000 != 0) {
		*why = "must be whole seconds, at least 1s";
		return -1;
	}
	*secs = ms / 1000;
	return 0;
}

/* `archive SPAN@RES ...`: finest first; RES `step` is the probe interval. */
static bool
parse_archives(const struct conf_node *c, struct rrd_layout *l, struct conf_err *err)
{
	bool	ok = true;

	if (c->nargs > RRDL_MAX_ARCHIVES) {
		conf_error(err, &c->pos, "'archive' takes at most %d archives",
		    RRDL_MAX_ARCHIVES);
		return false;
	}
	l->narchives = 0;
	for (size_t i = 0; i < c->nargs; i++) {
		char		 buf[64];
		char		*at;
		const char	*why;
		struct rrd_archive a = { 0, 0 };

		snprintf(buf, sizeof(buf), "%s", c->args[i]);
		if ((at = strchr(buf, '@')) == NULL) {
			conf_error(err, &c->argpos[i], "bad archive '%s': write SPAN@RESOLUTION, "
			    "e.g. 2w@5m or 2d@step", c->args[i]);
			ok = false;
			continue;
		}
		*at++ = '\0';
		if (parse_span(buf, &a.span_s, &why) == -1) {
			conf_error(err, &c->argpos[i], "bad span '%s' in archive '%s': %s", buf,
			    c->args[i], why);
			ok = false;
			continue;
		}
		if (strcmp(at, "step") != 0 && parse_span(at, &a.res_s, &why) == -1) {
			conf_error(err, &c->argpos[i], "bad resolution '%s' in archive '%s': %s",
			    at, c->args[i], why);
			ok = false;
			continue;
		}
		if (a.res_s >= a.span_s) {
			conf_error(err, &c->argpos[i], "archive '%s' keeps less than one row: "
			    "its span must exceed its resolution", c->args[i]);
			ok = false;
			continue;
		}
		if (l->narchives > 0 && a.res_s <= l->archives[l->narchives - 1].res_s) {
			conf_error(err, &c->argpos[i], "archive '%s' is not coarser than the one "
			    "before it: list the finest first", c->args[i]);
			ok = false;
			continue;
		}
		l->archives[l->narchives++] = a;
	}
	return ok;
}

const struct rrd_layout *
rrdl_parse(const struct conf_node *block, bool bounds, struct conf_err *err)
{
	struct rrd_layout	 l = layout_default;
	int			 before = err->count;
	const char		*why;

	for (size_t i = 0; i < block->nchildren; i++) {
		const struct conf_node *c = &block->children[i];

		if (c->block) {
			conf_error(err, &c->pos, "'%s' takes no block", c->name);
			continue;
		}
		if (strcmp(c->name, "archive") == 0) {
			if (c->nargs == 0)
				conf_error(err, &c->pos, "'archive' needs at least one SPAN@RESOLUTION");
			else
				parse_archives(c, &l, err);
		} else if (strcmp(c->name, "consolidate") == 0) {
			l.cfs = 0;
			if (c->nargs == 0)
				conf_error(err, &c->pos, "'consolidate' needs at least one of min, "
				    "average, max, last");
			for (size_t a = 0; a < c->nargs; a++) {
				size_t k;
				for (k = 0; k < sizeof(cf_names) / sizeof(cf_names[0]); k++)
					if (strcasecmp(c->args[a], cf_names[k].name) == 0)
						break;
				if (k == sizeof(cf_names) / sizeof(cf_names[0]))
					conf_error(err, &c->argpos[a], "unknown consolidation '%s' "
					    "(use min, average, max, last)", c->args[a]);
				else
					l.cfs |= cf_names[k].bit;
			}
		} else if (strcmp(c->name, "heartbeat") == 0) {
			char		*end;
			unsigned long	 n;

			if (c->nargs != 1) {
				conf_error(err, &c->pos, "'heartbeat' takes one value, e.g. 2x");
				continue;
			}
			n = strtoul(c->args[0], &end, 10);
			if (end == c->args[0] || strcmp(end, "x") != 0 || n < 1 || n > 1000)
				conf_error(err, &c->argpos[0], "bad heartbeat '%s': write how many "
				    "steps, 1x to 1000x (e.g. 2x)", c->args[0]);
			else
				l.heartbeat = (unsigned)n;
		} else if (strcmp(c->name, "xff") == 0) {
			double pct;

			if (c->nargs != 1 || conf_percent(c->args[0], &pct, &why) == -1 ||
			    pct < 0 || pct >= 100)
				conf_error(err, &c->pos, "bad 'xff': one percentage from 0%% up to "
				    "but not 100%% (e.g. 50%%)");
			else
				l.xff = pct / 100;
		} else if (strcmp(c->name, "hwpredict") == 0) {
			if (c->nargs < 1 || c->nargs > 2) {
				conf_error(err, &c->pos, "'hwpredict' takes a season length and "
				    "optionally 'multiplicative'");
				continue;
			}
			if (parse_span(c->args[0], &l.hw_season_s, &why) == -1)
				conf_error(err, &c->argpos[0], "bad season '%s' for 'hwpredict': %s",
				    c->args[0], why);
			if (c->nargs == 2) {
				if (strcmp(c->args[1], "multiplicative") == 0)
					l.hw_mult = true;
				else if (strcmp(c->args[1], "additive") != 0)
					conf_error(err, &c->argpos[1], "bad 'hwpredict' variant '%s' "
					    "(use additive or multiplicative)", c->args[1]);
			}
		} else if (!(bounds && strcmp(c->name, "bounds") == 0))
			conf_error(err, &c->pos, "unknown key '%s' in rrd block (known: archive, "
			    "consolidate, heartbeat, xff, hwpredict%s)", c->name,
			    bounds ? ", bounds" : "");
	}
	if (err->count != before)
		return NULL;
	return intern(&l);
}

/* rrd_create's form: U for none, else every digit (a link speed is exact). */
static void
fmt_bound(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "U");
	else
		snprintf(buf, len, "%.17g", v);
}

/*
 * Each archive's rows cover its span at its resolution in steps (at least
 * one step per row).  An archive no coarser than the one before it is left
 * out: a 1 h step needs no 5-minute archive.
 */
int
rrdl_create_args(const struct rrd_ds *ds, unsigned step, char **argv)
{
	const struct rrd_layout	*l = ds && ds->layout ? ds->layout : &layout_default;
	char			 lo[32], hi[32];
	int			 argc = 0;
	unsigned long		 last_pdp = 0, first_rows = 0;

	if (step == 0)
		step = 1;
	fmt_bound(lo, sizeof(lo), ds ? ds->min : NAN);
	fmt_bound(hi, sizeof(hi), ds ? ds->max : NAN);
	argv[argc++] = xasprintf("DS:value:GAUGE:%lu:%s:%s",
	    (unsigned long)step * l->heartbeat, lo, hi);
	for (size_t t = 0; t < l->narchives; t++) {
		unsigned long pdp = l->archives[t].res_s / step;
		unsigned long rows;

		if (pdp == 0)
			pdp = 1;
		if (t > 0 && pdp <= last_pdp)
			continue;
		last_pdp = pdp;
		rows = (unsigned long)((l->archives[t].span_s + (uint64_t)pdp * step - 1) /
		    ((uint64_t)pdp * step));
		if (rows < 1)
			rows = 1;
		if (rows > MAX_ROWS) {
			log_warnx("rrd: an archive of %lu rows (%llus at %lus) is cut to %lu rows",
			    rows, (unsigned long long)l->archives[t].span_s, pdp * step,
			    (unsigned long)MAX_ROWS);
			rows = MAX_ROWS;
		}
		if (first_rows == 0)
			first_rows = rows;
		for (size_t c = 0; c < sizeof(cf_names) / sizeof(cf_names[0]); c++) {
			if (!(l->cfs & cf_names[c].bit))
				continue;
			argv[argc++] = xasprintf("RRA:%s:%g:%lu:%lu", cf_names[c].cf, l->xff,
			    pdp, rows);
		}
	}
	if (l->hw_season_s > 0) {
		/* Holt-Winters works on primary points: a season of that many
		 * steps, and predictions kept as long as the finest archive. */
		unsigned long season = (unsigned long)(l->hw_season_s / step);
		unsigned long rows;

		if (season < 2)
			season = 2;
		rows = first_rows > season ? first_rows : season;
		argv[argc++] = xasprintf("RRA:%s:%lu:0.1:0.0035:%lu",
		    l->hw_mult ? "MHWPREDICT" : "HWPREDICT", rows, season);
	}
	return argc;
}

void
rrdl_args_free(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

/*
 * What a unit says about a value's range: rates, durations, sizes and
 * counts are never negative, percentages stay within 0..100, an HTTP
 * status is three digits.  Unknown units stay unbounded.
 */
void
rrdl_metric_bounds(struct metric_def *m)
{
	static const struct { const char *unit; double min, max; } units[] = {
		{ "%", 0, 100 }, { "s", 0, NAN }, { "B", 0, NAN }, { "B/s", 0, NAN },
		{ "bit/s", 0, NAN }, { "/s", 0, NAN },
	};
	double	lo = NAN, hi = NAN;

	if (m->kind == MK_COUNTER)
		lo = 0;		/* a rate of a counter never falls */
	if (m->unit != NULL)
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(m->unit, units[i].unit) == 0) {
				lo = units[i].min;
				hi = units[i].max;
			}
	if (m->unit == NULL && strcmp(m->name, "status") == 0) {
		lo = 0;
		hi = 999;
	}
	if (!m->has_min && !isnan(lo)) {
		m->has_min = true;
		m->min = lo;
	}
	if (!m->has_max && !isnan(hi)) {
		m->has_max = true;
		m->max = hi;
	}
}

void
rrdl_ds(const struct probe_def *d, const struct host *h, size_t metric, double max_rate,
    struct rrd_ds *ds)
{
	const struct metric_def	*m = &d->metrics[metric];

	ds->layout = d->rrd ? d->rrd : h != NULL && h->rrd ? h->rrd : &layout_default;
	ds->min = m->has_min ? m->min : NAN;
	/* A row's own bound (its link speed) is tighter than any conf one. */
	ds->max = max_rate > 0 ? max_rate : m->has_max ? m->max : NAN;
}

static bool
same_bound(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b ||
	    (!isnan(a) && !isnan(b) && fabs(a - b) <= 1e-9 * fabs(b));
}

/* The writer's test of whether a file's bounds changed (same tolerance). */
bool
rrdl_same_bound(double a, double b)
{
	return same_bound(a, b);
}

/*
 * An existing file against what the conf would make now: the step, the
 * bounds, and the archives (count and resolutions), named for the log.
 */
void
rrdl_differs(const void *rrd_info, const struct rrd_ds *ds, unsigned step, char *why,
    size_t len)
{
	const rrd_info_t	*i;
	char			*want[RRDL_MAX_ARGS];
	int			 nwant;
	size_t			 nrra = 0, wrra = 0;
	unsigned long		 fstep = 0;
	double			 fmin = NAN, fmax = NAN;
	bool			 bounds_seen = false;

	why[0] = '\0';
	for (i = rrd_info; i != NULL; i = i->next) {
		if (strcmp(i->key, "step") == 0 && i->type == RD_I_CNT)
			fstep = i->value.u_cnt;
		else if (strcmp(i->key, "ds[value].min") == 0 && i->type == RD_I_VAL) {
			fmin = i->value.u_val;
			bounds_seen = true;
		} else if (strcmp(i->key, "ds[value].max") == 0 && i->type == RD_I_VAL)
			fmax = i->value.u_val;
		else if (strncmp(i->key, "rra[", 4) == 0 && strstr(i->key, "].cf") != NULL &&
		    i->type == RD_I_STR && strcmp(i->value.u_str, "SEASONAL") != 0 &&
		    strcmp(i->value.u_str, "DEVSEASONAL") != 0 &&
		    strcmp(i->value.u_str, "DEVPREDICT") != 0 &&
		    strcmp(i->value.u_str, "FAILURES") != 0)
			nrra++;
	}
	nwant = rrdl_create_args(ds, step, want);
	for (int a = 0; a < nwant; a++)
		if (strncmp(want[a], "RRA:", 4) == 0)
			wrra++;
	rrdl_args_free(want, nwant);
	if (fstep != 0 && fstep != step)
		snprintf(why, len, "step %lus; the configuration now says %us", fstep, step);
	else if (nrra != wrra)
		snprintf(why, len, "%zu archives; the configuration now makes %zu", nrra, wrra);
	else if (bounds_seen && ds != NULL && (!same_bound(fmin, ds->min) ||
	    !same_bound(fmax, ds->max))) {
		char	fl[32], fh[32], wl[32], wh[32];

		fmt_bound(fl, sizeof(fl), fmin);
		fmt_bound(fh, sizeof(fh), fmax);
		fmt_bound(wl, sizeof(wl), ds->min);
		fmt_bound(wh, sizeof(wh), ds->max);
		snprintf(why, len, "bounds %s..%s; the configuration now says %s..%s", fl, fh,
		    wl, wh);
	}
}

/* The file an rrd_info list describes, or NULL. */
static const char *
info_path(const rrd_info_t *info)
{
	for (const rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, "filename") == 0 && i->type == RD_I_STR)
			return i->value.u_str;
	return NULL;
}

/*
 * The writer's check of a file it finds: as rrdl_differs, except that when
 * only the bounds differ and the new ones are known, the file takes them
 * in place (rrd_tune, which touches the data-source header only): a link
 * that got faster must not turn its new peaks into unknowns.  An unknown
 * new bound (a speed not read this time) never widens a file's.
 */
void
rrdl_check(const void *rrd_info, const struct rrd_ds *ds, unsigned step, char *why,
    size_t len)
{
	const rrd_info_t	*info = rrd_info;
	const char		*path = info_path(info);
	char			 lo[32], hi[32], a1[48], a2[48];
	char			*argv[7];
	int			 argc = 0;

	double			 fmin = NAN, fmax = NAN;

	rrdl_differs(rrd_info, ds, step, why, len);
	if (strncmp(why, "bounds ", 7) != 0 || ds == NULL || path == NULL)
		return;
	for (const rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, "ds[value].min") == 0 && i->type == RD_I_VAL)
			fmin = i->value.u_val;
		else if (strcmp(i->key, "ds[value].max") == 0 && i->type == RD_I_VAL)
			fmax = i->value.u_val;
	bool tune_min = !isnan(ds->min) && !same_bound(fmin, ds->min);
	bool tune_max = !isnan(ds->max) && !same_bound(fmax, ds->max);
	if (!tune_min && !tune_max)
		return;
	fmt_bound(lo, sizeof(lo), ds->min);
	fmt_bound(hi, sizeof(hi), ds->max);
	argv[argc++] = "tune";
	argv[argc++] = (char *)path;
	if (tune_min) {
		snprintf(a1, sizeof(a1), "value:%s", lo);
		argv[argc++] = "--minimum";
		argv[argc++] = a1;
	}
	if (tune_max) {
		snprintf(a2, sizeof(a2), "value:%s", hi);
		argv[argc++] = "--maximum";
		argv[argc++] = a2;
	}
	argv[argc] = NULL;
	rrd_clear_error();
	if (rrd_tune(argc, argv) != 0) {
		log_warnx("rrd: %s: cannot take the new bounds (%s): %s", path, why + 7,
		    rrd_get_error());
		rrd_clear_error();
		return;
	}
	log_info("rrd: %s: %s: bounds tuned in place", path, why);
	why[0] = '\0';
}
