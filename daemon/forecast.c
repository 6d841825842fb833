/*
 * forecast.c: when will a metric reach its capacity limit?  A least-squares
 * line over the window of an RRD archive, with its fit (r squared) as the
 * confidence; a slope that noise alone could explain gives no date at all.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rrd.h>

#include "itsmd.h"

/* Fewer points than this say nothing about a trend. */
#define FC_MIN_POINTS	6
/* The slope must stand this many standard errors clear of zero: about one
 * chance in a thousand for a series without trend. */
#define FC_MIN_T	3.5

int
forecast_linear(const double *t, const double *v, size_t n, double limit,
    struct forecast *fc)
{
	double	 st = 0, sv = 0, stt = 0, stv = 0, svv = 0, mt, mv;
	double	 sxx, sxy, syy, sse, se, tstat, tlast = 0;
	size_t	 m = 0;

	memset(fc, 0, sizeof(*fc));
	fc->limit = limit;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			continue;
		st += t[i];
		sv += v[i];
		m++;
		if (t[i] > tlast || m == 1)
			tlast = t[i];
	}
	fc->n = m;
	if (m < FC_MIN_POINTS)
		return -1;
	mt = st / m;
	mv = sv / m;
	/* Centred sums: epoch seconds squared would lose every digit. */
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			continue;
		stt += (t[i] - mt) * (t[i] - mt);
		stv += (t[i] - mt) * (v[i] - mv);
		svv += (v[i] - mv) * (v[i] - mv);
	}
	sxx = stt;
	sxy = stv;
	syy = svv;
	if (sxx <= 0)
		return -1;
	fc->slope = sxy / sxx;
	fc->intercept = mv - fc->slope * mt;
	fc->current = fc->intercept + fc->slope * tlast;
	fc->last_t = tlast;
	sse = syy - fc->slope * sxy;
	if (sse < 0)
		sse = 0;
	fc->r2 = syy > 0 ? 1 - sse / syy : 0;
	if (fc->r2 < 0)
		fc->r2 = 0;
	se = sqrt(sse / (double)(m - 2) / sxx);
	tstat = se > 0 ? fabs(fc->slope) / se : (fc->slope != 0 ? INFINITY : 0);
	fc->trend = tstat >= FC_MIN_T && fc->slope != 0;
	if (!fc->trend)
		return 0;
	/* A limit is a ceiling (space used, link utilisation): only a
	 * rising line reaches it, and a line already over it is due now. */
	if (fc->current >= limit) {
		fc->found = true;
		fc->when = tlast;
	} else if (fc->slope > 0) {
		fc->found = true;
		fc->when = (limit - fc->intercept) / fc->slope;
	}
	return 0;
}

/*
 * Reads the AVERAGE archive over [now - window, now] at the coarsest step
 * that still gives enough points (hourly for windows of days, the full
 * resolution for short ones), then fits.  -1 with why set if the file
 * cannot be read.
 */
int
forecast_rrd(const char *path, uint64_t window_s, time_t now, double limit,
    struct forecast *fc, char *why, size_t whylen)
{
	time_t		 start = now - (time_t)window_s, end = now;
	unsigned long	 step, nds;
	char		**names = NULL;
	rrd_value_t	*data = NULL;
	double		*t, *v;
	size_t		 n;

	/* Hourly when the window holds two days or more: 48 points and up. */
	step = window_s >= 2 * 86400 ? 3600 : 1;
	rrd_clear_error();
	if (rrd_fetch_r(path, "AVERAGE", &start, &end, &step, &nds, &names, &data) != 0) {
		snprintf(why, whylen, "%s", rrd_get_error());
		memset(fc, 0, sizeof(*fc));
		return -1;
	}
	n = step ? (size_t)((end - start) / (time_t)step) : 0;
	t = xcalloc(n ? n : 1, sizeof(*t));
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		/* An average stands for the middle of its step, not its end. */
		t[i] = (double)start + ((double)i + 0.5) * (double)step;
		v[i] = nds ? data[i * nds] : NAN;
	}
	forecast_linear(t, v, n, limit, fc);
	fc->step = step;
	free(t);
	free(v);
	for (unsigned long i = 0; i < nds; i++)
		rrd_freemem(names[i]);
	rrd_freemem(names);
	rrd_freemem(data);
	return 0;
}
