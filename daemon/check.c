/*
 * check.c: check_done(), where every probe run ends whatever its kind.  It
 * turns raw samples into values (counter rates), hands them to the RRD
 * writer, evaluates thresholds into a severity, and moves the check's hard
 * state, which is what opens, updates and resolves incidents.
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
 * (it cannot wrap in any real lifetime), so that interval has no rate.
 */
bool
counter_rate(struct counter_prev *p, uint64_t raw, unsigned width, uint64_t now_ms,
    double *rate)
{
	uint64_t	delta;
	bool		ok = true;

	if (!p->have || now_ms <= p->mono_ms)
		ok = false;
	else if (raw >= p->raw)
		delta = raw - p->raw;
	else if (width == 32 && p->raw <= UINT32_MAX && raw <= UINT32_MAX)
		delta = (UINT32_MAX - p->raw) + raw + 1;
	else
		ok = false;
	if (ok)
		*rate = (double)delta * 1000.0 / (double)(now_ms - p->mono_ms);
	p->have = true;
	p->raw = raw;
	p->mono_ms = now_ms;
	return ok;
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
 * The severity of one run: the probe's own verdict, any value the target
 * could not give (UNKNOWN, never zero), and every threshold crossed.  The
 * summary names what made it that bad.
 */
enum severity
check_evaluate(const struct probe_def *d, const struct probe_result *r,
    const double *v, const bool *have, char *sum, size_t len)
{
	enum severity	worst = SEV_OK;

	sum[0] = '\0';
	if (r->status != PS_OK)
		note(&worst, probe_status_severity(r->status), sum, len, "%s", r->reason);
	for (size_t i = 0; i < d->nmetrics; i++) {
		const struct sample *s = &r->values[i];
		if (!s->ok && r->status == PS_OK)
			note(&worst, probe_status_severity(s->status == PS_OK ? PS_ERROR : s->status),
			    sum, len, "%s: %s", d->metrics[i].name, s->reason);
	}
	for (size_t i = 0; i < d->nthresholds; i++) {
		const struct threshold	*t = &d->thresholds[i];
		const struct metric_def	*m = &d->metrics[t->metric];
		const char		*u = m->unit ? m->unit : "";

		if (have[t->metric] && threshold_hit(t, v[t->metric]))
			note(&worst, t->sev, sum, len, "%s = %.6g%s %s %.6g%s", m->name,
			    v[t->metric], u, op_text(t->op), t->limit, u);
	}
	if (worst == SEV_OK)
		snprintf(sum, len, "ok");
	return worst;
}

static void
check_transition(struct check *c, enum severity sev, const char *sum)
{
	const struct probe_def	*d = c->def;

	c->last = sev;
	if (sev == SEV_OK) {
		if (c->state != SEV_OK)
			log_info("%s: recovered", c->key);
		c->state = SEV_OK;
		c->bad_count = 0;
		/* INC_UNKNOWN after a start: resolve whatever a previous run left open. */
		if (c->incident != INC_NONE)
			incident_resolve(c->host->name, d->name, "recovered");
		c->incident = INC_NONE;
		return;
	}
	if (++c->bad_count < d->fail_after) {
		log_debug("%s: %s (%d of %d before an incident): %s", c->key,
		    severity_name(sev), c->bad_count, d->fail_after, sum);
		return;
	}
	c->bad_count = d->fail_after;	/* no overflow on a check that fails for years */
	if (c->state != sev || c->summary == NULL)
		log_info("%s: %s: %s", c->key, severity_name(sev), sum);
	c->state = sev;
	free(c->summary);
	c->summary = xstrdup(sum);
	/* Every bad run refreshes last_seen_at; the upsert cannot make a second row. */
	incident_raise(c->host->name, d->name, sev, sum);
	c->incident = INC_OPEN;
}

void
check_done(struct check *c)
{
	const struct probe_def	*d = c->def;
	struct probe_result	*r = &c->result;
	uint64_t		 now = mono_ms();
	double			 v[d->nmetrics ? d->nmetrics : 1];
	bool			 have[d->nmetrics ? d->nmetrics : 1];
	char			 sum[512];

	c->running = false;
	if (r->finished_wall_ms == 0)
		r->finished_wall_ms = wall_ms();
	for (size_t i = 0; i < d->nmetrics; i++) {
		const struct sample	*s = &r->values[i];
		enum metric_kind	 k = d->metrics[i].kind != MK_AUTO ? d->metrics[i].kind : s->kind;

		have[i] = false;
		v[i] = NAN;
		if (s->ok && k == MK_COUNTER)
			have[i] = counter_rate(&c->prev[i], s->kind == MK_COUNTER ? s->raw :
			    (uint64_t)s->value, s->width ? s->width : 64, now, &v[i]);
		else if (s->ok) {
			v[i] = s->kind == MK_COUNTER ? (double)s->raw : s->value;
			have[i] = isfinite(v[i]);
		}
		rrdw_update(c->host->name, d->name, d->metrics[i].name, d->interval_ms, r->finished_wall_ms,
		    have[i], v[i]);
	}
	check_transition(c, check_evaluate(d, r, v, have, sum, sizeof(sum)), sum);
	/* The next run starts from a clean result: no stale value can pass for new. */
	memset(r->values, 0, d->nmetrics * sizeof(*r->values));
	r->status = PS_OK;
	r->reason[0] = '\0';
	r->finished_wall_ms = 0;
}
