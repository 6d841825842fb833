/*
 * check.c: check_done(), where every probe run ends whatever its kind.  It
 * turns raw samples into values (counter rates), hands them to the RRD
 * writer, evaluates thresholds into a severity per instance (the check
 * itself, or each row of a table probe), and passes that to state.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

/*
 * Counter math stays in unsigned 64-bit until the final division, so a
 * Counter64 near 2^64 loses no precision.  A 32-bit counter that went
 * backwards wrapped once; a 64-bit counter that went backwards was reset
 * (it cannot wrap in any real lifetime), so that interval has no rate.  A
 * discontinuity the probe saw (agent restart) or a rate faster than the
 * link can carry also gives no rate: a gap in a graph is honest, a spike
 * of petabits is not.
 */
/*
 * The same, saying why a rate was thrown away (NULL: kept, or no previous
 * sample to compare with, which is no loss).  *why is static text; *rate
 * holds the impossible rate when it was above the bound.
 */
static bool
counter_rate_why(struct counter_prev *p, const struct sample *s, uint64_t now_ms,
    uint64_t min_ms, double *rate, const char **why)
{
	uint64_t	delta = 0;
	uint64_t	raw = s->kind == MK_COUNTER ? s->raw : (uint64_t)s->value;
	bool		ok = true;

	*why = NULL;
	/*
	 * Two samples much closer together than the schedule spaces them (a
	 * run brought forward, clocks of a loaded machine) would turn a few
	 * ticks into a spike: keep the older sample and rate over a longer
	 * span next time.
	 */
	if (p->have && !s->discontinuity && now_ms > p->mono_ms && now_ms - p->mono_ms < min_ms)
		return false;
	if (!p->have || now_ms <= p->mono_ms)
		ok = false;
	else if (s->discontinuity) {
		ok = false;
		*why = "discontinuity: agent restart or counters re-based";
	} else if (s->young_agent && p->raw == 0 && raw != 0) {
		/*
		 * A freshly started agent may answer 0 until it first reads its
		 * source (net-snmp's CPU counters, for their 5 s cache): the jump
		 * to the real total is not a rate.
		 */
		ok = false;
		*why = "counter started from 0 on a freshly started agent";
	} else if (raw >= p->raw)
		delta = raw - p->raw;
	else if (s->width == 32 && p->raw <= UINT32_MAX && raw <= UINT32_MAX)
		delta = (UINT32_MAX - p->raw) + raw + 1;
	else {
		ok = false;
		*why = "counter went backwards without a restart";
	}
	if (ok) {
		*rate = (double)delta * 1000.0 / (double)(now_ms - p->mono_ms);
		if (s->max_rate > 0 && *rate > s->max_rate) {
			ok = false;
			*why = "above the link speed";
		}
	}
	p->have = true;
	p->raw = raw;
	p->mono_ms = now_ms;
	return ok;
}

bool
counter_rate(struct counter_prev *p, const struct sample *s, uint64_t now_ms, uint64_t min_ms,
    double *rate)
{
	const char	*why;

	return counter_rate_why(p, s, now_ms, min_ms, rate, &why);
}

#define DISCARD_LOG_WINDOW_MS	60000
#define DISCARD_LOG_BURST	10

/*
 * A dropped rate is counted (status_text() shows it) and logged, at most
 * DISCARD_LOG_BURST lines per check a minute: an agent that glitches on
 * every poll of a thousand interfaces must not flood the log.  The next
 * line after a quiet spell says how many went unlogged.
 */
static void
discard_note(struct check *c, const struct check_inst *ci, const char *metric,
    const char *why, const struct sample *s, double rate, uint64_t now)
{
	char	extra[96] = "";

	c->discards++;
	if (now - c->discard_log_ms >= DISCARD_LOG_WINDOW_MS) {
		if (c->discards_quiet > 0)
			log_info("%s: %llu more counter rates discarded in the last minute "
			    "(%llu in all)", c->key, (unsigned long long)c->discards_quiet,
			    (unsigned long long)c->discards);
		c->discard_log_ms = now;
		c->discard_logged = 0;
		c->discards_quiet = 0;
	}
	if (c->discard_logged >= DISCARD_LOG_BURST) {
		c->discards_quiet++;
		return;
	}
	c->discard_logged++;
	if (s->max_rate > 0 && rate > s->max_rate)
		snprintf(extra, sizeof(extra), ": %.6g/s > %.6g/s", rate, s->max_rate);
	log_info("%s/%s%s%s%s: %s: rate discarded (%s%s)", c->host->name, c->def->name,
	    ci->name[0] ? "[" : "", ci->name, ci->name[0] ? "]" : "", metric, why, extra);
}

bool
threshold_hit(const struct threshold *t, double v)
{
	switch (t->op) {
	case CMP_GT:	return v > t->limit;
	case CMP_GE:	return v >= t->limit;
	case CMP_LT:	return v < t->limit;
	case CMP_LE:	return v <= t->limit;
	case CMP_EQ:	return v == t->limit;
	case CMP_NE:	return v != t->limit;
	}
	return false;
}

static const char *
op_text(enum cmp_op op)
{
	static const char *const t[] = {
		[CMP_GT] = ">", [CMP_GE] = ">=", [CMP_LT] = "<",
		[CMP_LE] = "<=", [CMP_EQ] = "==", [CMP_NE] = "!=",
	};
	return t[op];
}

/* Appends "; part" to the summary of the worst severity seen so far. */
static void
note(enum severity *worst, enum severity sev, char *sum, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
note(enum severity *worst, enum severity sev, char *sum, size_t len, const char *fmt, ...)
{
	va_list	ap;
	size_t	used;

	if (sev_worse(*worst, sev) != sev)
		return;			/* milder than what we already report */
	if (sev != *worst)
		sum[0] = '\0';		/* worse: earlier, milder parts no longer matter */
	*worst = sev;
	used = strlen(sum);
	if (used > 0 && used + 2 < len) {
		memcpy(sum + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	if (used < len)
		vsnprintf(sum + used, len - used, fmt, ap);
	va_end(ap);
}

/*
 * The severity of one run of one instance: the probe's own verdict, any
 * value the target could not give (UNKNOWN, never zero), and every
 * threshold crossed.  The summary names what made it that bad.
 */
enum severity
check_evaluate(const struct probe_def *d, enum probe_status status, const char *reason,
    const struct sample *s, const double *v, const bool *have, char *sum, size_t len)
{
	return check_evaluate_hyst(d, status, reason, s, v, have, NULL, sum, len);
}

/*
 * A threshold with `recover` that was hit last run stays hit until its
 * value meets the recovery condition (open at > 90, recover at < 85), so a
 * value hovering at the limit does not open and resolve on every poll.  A
 * missing value keeps nothing: it is UNKNOWN on its own.
 */
enum severity
check_evaluate_hyst(const struct probe_def *d, enum probe_status status, const char *reason,
    const struct sample *s, const double *v, const bool *have, uint64_t *active,
    char *sum, size_t len)
{
	enum severity	worst = SEV_OK;
	uint64_t	was = active != NULL ? *active : 0, now = 0;

	sum[0] = '\0';
	if (status != PS_OK)
		note(&worst, probe_status_severity(status), sum, len, "%s", reason);
	for (size_t i = 0; s != NULL && i < d->nmetrics; i++)
		if (!s[i].ok && status == PS_OK)
			note(&worst, probe_status_severity(s[i].status == PS_OK ? PS_ERROR :
			    s[i].status), sum, len, "%s: %s", d->metrics[i].name, s[i].reason);
	for (size_t i = 0; have != NULL && i < d->nthresholds; i++) {
		const struct threshold	*t = &d->thresholds[i];
		const struct metric_def	*m = &d->metrics[t->metric];
		const char		*u = m->unit ? m->unit : "";

		bool hit, held = false;

		if (!have[t->metric]) {
			if (i < 64)	/* no value: remember what was hit for when one comes */
				now |= was & 1ULL << i;
			continue;
		}
		hit = threshold_hit(t, v[t->metric]);
		if (!hit && t->has_recover && i < 64 && (was & 1ULL << i)) {
			struct threshold r = *t;

			r.op = t->recover_op;
			r.limit = t->recover_limit;
			held = hit = !threshold_hit(&r, v[t->metric]);
		}
		if (!hit)
			continue;
		if (i < 64)
			now |= 1ULL << i;
		if (held)
			note(&worst, t->sev, sum, len, "%s = %.6g%s, not yet %s %.6g%s",
			    m->name, v[t->metric], u, op_text(t->recover_op),
			    t->recover_limit, u);
		else
			note(&worst, t->sev, sum, len, "%s = %.6g%s %s %.6g%s", m->name,
			    v[t->metric], u, op_text(t->op), t->limit, u);
	}
	if (active != NULL && have != NULL)
		*active = now;
	if (worst == SEV_OK)
		snprintf(sum, len, "ok");
	return worst;
}

/* A row label as a path component: anything but [A-Za-z0-9._-] becomes '_'. */
static char *
safe_name(const char *row)
{
	char	*p = xstrdup(row);

	for (char *q = p; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= '0' && *q <= '9') || *q == '.' || *q == '_' || *q == '-'))
			*q = '_';
	if (p[0] == '.')
		p[0] = '_';
	return p;
}

struct check_inst *
check_inst_new(const struct check *c, const char *row)
{
	struct check_inst	*ci = xcalloc(1, sizeof(*ci));

	ci->name = xstrdup(row);
	ci->incident_key = row[0] ? xasprintf("%s[%s]", c->def->name, row) :
	    xstrdup(c->def->name);
	ci->rrd_name = row[0] ? safe_name(row) : xstrdup("");
	ci->nprev = c->def->nmetrics;
	ci->prev = xcalloc(ci->nprev ? ci->nprev : 1, sizeof(*ci->prev));
	ci->st.state = ci->st.last = SEV_OK;
	ci->st.incident = INC_UNKNOWN;
	return ci;
}

void
check_inst_free(struct check_inst *ci)
{
	if (ci == NULL)
		return;
	free(ci->name);
	free(ci->incident_key);
	free(ci->rrd_name);
	free(ci->prev);
	free(ci->series);
	state_free(&ci->st);
	free(ci);
}

static int
inst_cmp(const void *a, const void *b)
{
	return strcmp((*(struct check_inst *const *)a)->name,
	    (*(struct check_inst *const *)b)->name);
}

/* The row's instance, made on first sight; inst[0] ("") is never searched. */
static struct check_inst *
inst_get(struct check *c, const char *row)
{
	struct check_inst	 k = { .name = (char *)row }, *kp = &k, **f, *ci;

	if (c->ninst > 1 && (f = bsearch(&kp, c->inst + 1, c->ninst - 1, sizeof(*c->inst),
	    inst_cmp)) != NULL)
		return *f;
	ci = check_inst_new(c, row);
	c->inst = xreallocarray(c->inst, c->ninst + 1, sizeof(*c->inst));
	c->inst[c->ninst++] = ci;
	qsort(c->inst + 1, c->ninst - 1, sizeof(*c->inst), inst_cmp);
	return ci;
}

/*
 * The instance's file for metric i: looked up by name once, then kept (at
 * 15,000 probes a second the lookups were a sixth of the loop's time).
 */
static struct rrd_series *
series_of(const struct check *c, struct check_inst *ci, size_t i)
{
	const struct probe_def	*d = c->def;

	if (ci->series == NULL || ci->series_gen != rrdw_generation()) {
		free(ci->series);
		ci->series = xcalloc(d->nmetrics ? d->nmetrics : 1, sizeof(*ci->series));
		ci->series_gen = rrdw_generation();
	}
	if (ci->series[i] == NULL)
		ci->series[i] = rrdw_series(c->host->name, d->name, ci->rrd_name,
		    d->metrics[i].name);
	return ci->series[i];
}

/* Values of one instance into the RRD writer and a severity into state.c. */
static void
judge(struct check *c, struct check_inst *ci, enum probe_status status, const char *reason,
    const struct sample *s, uint64_t now)
{
	const struct probe_def	*d = c->def;
	size_t			 n = d->nmetrics ? d->nmetrics : 1;
	double			 v[n];
	bool			 have[n];
	char			 sum[512];

	for (size_t i = 0; i < d->nmetrics; i++) {
		enum metric_kind k = d->metrics[i].kind != MK_AUTO ? d->metrics[i].kind : s[i].kind;

		have[i] = false;
		v[i] = NAN;
		if (s[i].ok && k == MK_COUNTER) {
			const char	*why;

			/* The run's start, not this moment: when the answer is
			 * read late (a busy loop), the agent still counted at
			 * about the time it was asked. */
			have[i] = counter_rate_why(&ci->prev[i], &s[i],
			    c->result.started_mono_ms != 0 ? c->result.started_mono_ms : now,
			    d->interval_ms / 4, &v[i], &why);
			if (!have[i] && why != NULL)
				discard_note(c, ci, d->metrics[i].name, why, &s[i], v[i], now);
			if (!have[i])
				v[i] = NAN;
		} else if (s[i].ok) {
			v[i] = s[i].kind == MK_COUNTER ? (double)s[i].raw : s[i].value;
			have[i] = isfinite(v[i]);
		}
		struct rrd_ds ds;
		rrdl_ds(d, c->host, i, s[i].max_rate, &ds);
		rrdw_put(series_of(c, ci, i), d->interval_ms, c->result.finished_wall_ms,
		    have[i], v[i], &ds);
	}
	state_update(c, ci, check_evaluate_hyst(d, status, reason, s, v, have, &ci->st.th_active,
	    sum, sizeof(sum)), sum);
}

/*
 * A table probe's run: the check itself judges only the run (a time-out is
 * the device's failure, not each interface's), every row judges its values,
 * and after a successful run rows the device no longer has are forgotten.
 */
static void
judge_table(struct check *c, uint64_t now)
{
	struct probe_result	*r = &c->result;
	char			 sum[512];
	size_t			 kept = 1;

	state_update(c, c->inst[0], check_evaluate(c->def, r->status, r->reason, NULL, NULL,
	    NULL, sum, sizeof(sum)), sum);
	if (r->status != PS_OK)
		return;
	for (size_t i = 1; i < c->ninst; i++)
		c->inst[i]->seen = false;
	for (size_t i = 0; i < r->nrows; i++) {
		struct check_inst *ci = inst_get(c, r->rows[i].name);
		ci->seen = true;
		judge(c, ci, PS_OK, "", r->rows[i].values, now);
	}
	for (size_t i = 1; i < c->ninst; i++) {
		struct check_inst *ci = c->inst[i];
		if (!ci->seen) {
			state_forget(c, ci, "no longer present on the device");
			check_inst_free(ci);
		} else
			c->inst[kept++] = ci;
	}
	c->ninst = kept;
}

void
check_done(struct check *c)
{
	const struct probe_def	*d = c->def;
	struct probe_result	*r = &c->result;
	uint64_t		 now = mono_ms();

	c->running = false;
	if (r->finished_wall_ms == 0)
		r->finished_wall_ms = wall_ms();
	sched_backoff(c, r->status == PS_TIMEOUT);	/* before state.c may hurry it */
	if (d->table)
		judge_table(c, now);
	else
		judge(c, c->inst[0], r->status, r->reason, r->values, now);
	service_check_done(c);		/* services and availability (service.c) */
	/* The next run starts from a clean result: no stale value can pass for new. */
	memset(r->values, 0, d->nmetrics * sizeof(*r->values));
	r->status = PS_OK;
	r->reason[0] = '\0';
	r->rows = NULL;
	r->nrows = 0;
	r->finished_wall_ms = 0;
}
