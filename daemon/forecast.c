/*
 * forecast.c: when will a metric reach its capacity limit?  A least-squares
 * line over the window of an RRD archive, with its fit (r squared) as the
 * confidence; a slope that noise alone could explain gives no date at all.
 * Where the file has a Holt-Winters archive, the date is Holt-Winters' (its
 * seasonal peak meets the limit before the average does).
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

/* One pass of additive Holt-Winters; returns the one-step squared error. */
static double
hw_run(const double *v, size_t n, size_t m, double a, double b, double g, double l0,
    double t0, const double *s0, double *L, double *T, double *S)
{
	double	sse = 0, lev = l0, tr = t0;

	for (size_t p = 0; p < m; p++)
		S[p] = s0[p];
	for (size_t i = 0; i < n; i++) {
		double	 sp = m ? S[i % m] : 0, nl;

		if (!isfinite(v[i])) {
			lev += tr;	/* a gap: carry the forecast on */
			continue;
		}
		double e = v[i] - (lev + tr + sp);
		sse += e * e;
		nl = a * (v[i] - sp) + (1 - a) * (lev + tr);
		tr = b * (nl - lev) + (1 - b) * tr;
		if (m)
			S[i % m] = g * (v[i] - nl) + (1 - g) * sp;
		lev = nl;
	}
	*L = lev;
	*T = tr;
	return sse;
}

int
forecast_holt(const double *t, const double *v, size_t n, size_t m, double limit,
    struct forecast *fc)
{
	static const double alphas[] = { 0.05, 0.1, 0.2, 0.4, 0.7 };
	static const double betas[] = { 0.005, 0.02, 0.1, 0.3 };
	static const double gammas[] = { 0.05, 0.15, 0.3, 0.6 };
	struct forecast	 lin;
	double		 step, l0, t0, best = INFINITY, ba = 0, bb = 0, bg = 0;
	double		 L, T, mean = 0, syy = 0, maxs = 0;
	double		*s0, *S, *cnt;
	size_t		 nf = 0;

	if (forecast_linear(t, v, n, limit, &lin) == -1) {
		*fc = lin;
		return -1;
	}
	*fc = lin;
	fc->hw = true;
	if (m < 2 || n < 2 * m)
		m = 0;		/* not two seasons: Holt's linear method */
	fc->season = m;
	step = (t[n - 1] - t[0]) / (double)(n - 1);
	s0 = xcalloc(m ? m : 1, sizeof(*s0));
	S = xcalloc(m ? m : 1, sizeof(*S));
	cnt = xcalloc(m ? m : 1, sizeof(*cnt));
	/*
	 * Start from the trend between the first and the last whole season's
	 * means (a cycle biases a least-squares slope, not these) and each
	 * phase's mean deviation from that line, so the smoothing need not
	 * learn them from scratch.  Without a season: the least-squares line.
	 */
	t0 = lin.slope * step;
	double base = lin.intercept + lin.slope * t[0];
	if (m) {
		/* the first and last seasons with no gap: a gap would tilt the mean */
		size_t	 k = n / m, kf = k, kl = k;
		double	 first = 0, last = 0;

		for (size_t j = 0; j < k; j++) {
			bool whole = true;
			for (size_t i = 0; i < m && whole; i++)
				whole = isfinite(v[j * m + i]);
			if (whole && kf == k)
				kf = j;
			if (whole)
				kl = j;
		}
		if (kf < k && kl > kf) {
			for (size_t i = 0; i < m; i++) {
				first += v[kf * m + i];
				last += v[kl * m + i];
			}
			t0 = (last - first) / (double)m / (double)((kl - kf) * m);
			base = first / (double)m - t0 * ((double)(m - 1) / 2 + (double)(kf * m));
		}
		for (size_t i = 0; i < n; i++)
			if (isfinite(v[i])) {
				s0[i % m] += v[i] - (base + t0 * (double)i);
				cnt[i % m]++;
			}
		for (size_t p = 0; p < m; p++)
			s0[p] = cnt[p] > 0 ? s0[p] / cnt[p] : 0;
	}
	l0 = base - t0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i])) {
			mean += v[i];
			nf++;
		}
	mean /= (double)nf;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			syy += (v[i] - mean) * (v[i] - mean);
	for (size_t ia = 0; ia < sizeof(alphas) / sizeof(alphas[0]); ia++)
		for (size_t ib = 0; ib < sizeof(betas) / sizeof(betas[0]); ib++)
			for (size_t ig = 0; ig < (m ? sizeof(gammas) / sizeof(gammas[0]) : 1);
			    ig++) {
				double e = hw_run(v, n, m, alphas[ia], betas[ib], gammas[ig], l0,
				    t0, s0, &L, &T, S);
				if (e < best) {
					best = e;
					ba = alphas[ia];
					bb = betas[ib];
					bg = gammas[ig];
				}
			}
	hw_run(v, n, m, ba, bb, bg, l0, t0, s0, &L, &T, S);
	for (size_t p = 0; p < m; p++)
		if (S[p] > maxs || p == 0)
			maxs = S[p];
	fc->slope = T / step;
	fc->current = L + (m ? S[(n - 1) % m] : 0);
	fc->last_t = t[n - 1];
	fc->r2 = syy > 0 ? 1 - best / syy : 0;
	if (fc->r2 < 0)
		fc->r2 = 0;
	fc->found = false;
	fc->when = 0;
	/* The trend test stays least squares': smoothing follows noise. */
	if (lin.trend && fc->current >= limit) {
		fc->found = true;
		fc->when = fc->last_t;
	} else if (lin.trend && T > 0) {
		double	h0 = ceil((limit - L - maxs) / T);
		size_t	h = h0 > 1 ? (size_t)h0 : 1;

		for (size_t k = 0; k <= (m ? m : 1) + 1; k++, h++)
			if (L + (double)h * T + (m ? S[(n - 1 + h) % m] : 0) >= limit) {
				fc->found = true;
				fc->when = t[n - 1] + (double)h * step;
				break;
			}
	}
	free(s0);
	free(S);
	free(cnt);
	return 0;
}

/*
 * What rrd_info says of the file: the data source's maximum (NAN if none)
 * and the Holt-Winters season in seconds (0 if no HWPREDICT archive).
 */
static void
file_facts(const char *path, double *max, uint64_t *season_s)
{
	rrd_info_t	*info, *i;
	unsigned long	 step = 0, seasonal_rows = 0;
	bool		 hw = false;

	*max = NAN;
	*season_s = 0;
	if ((info = rrd_info_r(path)) == NULL) {
		rrd_clear_error();
		return;
	}
	for (i = info; i != NULL; i = i->next) {
		if (strcmp(i->key, "step") == 0 && i->type == RD_I_CNT)
			step = i->value.u_cnt;
		else if (strcmp(i->key, "ds[value].max") == 0 && i->type == RD_I_VAL)
			*max = i->value.u_val;
		else if (strncmp(i->key, "rra[", 4) == 0 && i->type == RD_I_STR &&
		    strstr(i->key, "].cf") != NULL) {
			if (strcmp(i->value.u_str, "HWPREDICT") == 0 ||
			    strcmp(i->value.u_str, "MHWPREDICT") == 0)
				hw = true;
			else if (strcmp(i->value.u_str, "SEASONAL") == 0 && i->next != NULL &&
			    strstr(i->next->key, "].rows") != NULL && i->next->type == RD_I_CNT)
				seasonal_rows = i->next->value.u_cnt;
		}
	}
	if (hw && seasonal_rows > 0)
		*season_s = (uint64_t)seasonal_rows * step;
	rrd_info_free(info);
}

/*
 * Reads the AVERAGE archive over [now - window, now] at the coarsest step
 * that still gives enough points (hourly for windows of days, the full
 * resolution for short ones), then fits.  -1 with why set if the file
 * cannot be read.
 */
int
forecast_rrd(const char *path, uint64_t window_s, time_t now, double limit, bool of_max,
    struct forecast *fc, char *why, size_t whylen)
{
	time_t		 start = now - (time_t)window_s, end = now;
	unsigned long	 step, nds;
	char		**names = NULL;
	rrd_value_t	*data = NULL;
	double		*t, *v, max;
	uint64_t	 season_s;
	size_t		 n;

	file_facts(path, &max, &season_s);
	if (of_max) {
		if (isnan(max) || max <= 0) {
			snprintf(why, whylen, "its maximum (the link speed) is not known");
			memset(fc, 0, sizeof(*fc));
			return -1;
		}
		limit = limit / 100 * max;
	}

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
	if (season_s > 0 && n > 0)
		forecast_holt(t, v, n, season_s % step == 0 ? (size_t)(season_s / step) : 0,
		    limit, fc);
	else
		forecast_linear(t, v, n, limit, fc);
	fc->limit = limit;
	fc->step = step;
	free(t);
	free(v);
	for (unsigned long i = 0; i < nds; i++)
		rrd_freemem(names[i]);
	rrd_freemem(names);
	rrd_freemem(data);
	return 0;
}
