/*
 * test_check.c: the pure logic of check.c and scheduler.c: counter rates,
 * thresholds, run evaluation, the first-run spread and the backoff of
 * checks that keep timing out.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <event2/event.h>

#include "itsmd.h"
#include "unit.h"

static void
test_counter_rate(void)
{
	static const struct {
		const char	*name;
		uint64_t	 prev, raw;
		unsigned	 width;
		uint64_t	 dt_ms;
		bool		 ok;
		double		 rate;
	} cases[] = {
		{ "counter: plain delta", 1000, 2000, 64, 1000, true, 1000 },
		{ "counter: over 10 s", 0, 5000, 32, 10000, true, 500 },
		{ "counter: 32-bit wrap", UINT32_MAX - 99, 100, 32, 1000, true, 200 },
		{ "counter: 32-bit wrap from max", UINT32_MAX, 0, 32, 2000, true, 0.5 },
		{ "counter: 64-bit going back is a reset, no rate", 5000, 10, 64, 1000, false, 0 },
		{ "counter: 64-bit near 2^64 keeps precision", UINT64_MAX - 1000000, UINT64_MAX, 64, 1000, true, 1000000 },
		{ "counter: no time passed, no rate", 10, 20, 64, 0, false, 0 },
		{ "counter: unchanged is a zero rate", 77, 77, 32, 1000, true, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct counter_prev	p = { 0 };
		double			r = -1;
		struct sample		a = { .ok = true, .kind = MK_COUNTER, .raw = cases[i].prev,
					    .width = cases[i].width };
		struct sample		b = { .ok = true, .kind = MK_COUNTER, .raw = cases[i].raw,
					    .width = cases[i].width };
		bool			first = counter_rate(&p, &a, 1000, 0, &r);
		bool			ok = counter_rate(&p, &b, 1000 + cases[i].dt_ms, 0, &r);
		UNIT_CHECK(!first && ok == cases[i].ok && (!ok || fabs(r - cases[i].rate) < 1e-9),
		    cases[i].name, "first=%d ok=%d rate=%.17g want ok=%d rate=%g", first, ok, r,
		    cases[i].ok, cases[i].rate);
	}
}

/* What the probe knows beyond the numbers: a restart, a physical bound. */
static void
test_counter_guards(void)
{
	struct counter_prev	p = { 0 };
	struct sample		s = { .ok = true, .kind = MK_COUNTER, .raw = 1000, .width = 64 };
	double			r = -1;
	bool			ok;

	counter_rate(&p, &s, 1000, 0, &r);
	s.raw = 2000;
	s.discontinuity = true;
	ok = counter_rate(&p, &s, 2000, 0, &r);
	UNIT_CHECK(!ok, "counter: agent restart gives no rate", "rate %g", r);
	s.discontinuity = false;
	s.raw = 3000;
	ok = counter_rate(&p, &s, 3000, 0, &r);
	UNIT_CHECK(ok && r == 1000, "counter: the run after a restart has a rate again", "%d %g", ok, r);
	s.raw = 3000 + 125000000ULL * 2;	/* 2 Gbit/s worth of bytes in 1 s */
	s.max_rate = 125000000.0;		/* a 1 Gbit/s link */
	ok = counter_rate(&p, &s, 4000, 0, &r);
	UNIT_CHECK(!ok, "counter: a rate above the link speed is discarded", "rate %g", r);
	s.raw += 1000;
	ok = counter_rate(&p, &s, 5000, 0, &r);
	UNIT_CHECK(ok && r == 1000, "counter: after a discarded jump rates resume", "%d %g", ok, r);

	/* A second sample 2 ms after the last (a late answer, then a prompt
	 * one): 1 tick would read as 500/s.  No rate; the next one spans the
	 * whole second from the kept sample. */
	s = (struct sample){ .ok = true, .kind = MK_COUNTER, .raw = 100, .width = 32 };
	p = (struct counter_prev){ 0 };
	counter_rate(&p, &s, 10000, 250, &r);
	s.raw = 101;
	ok = counter_rate(&p, &s, 10002, 250, &r);
	UNIT_CHECK(!ok, "counter: no rate over a span shorter than the minimum", "rate %g", r);
	s.raw = 200;
	ok = counter_rate(&p, &s, 11000, 250, &r);
	UNIT_CHECK(ok && r == 100, "counter: the next rate spans from the kept sample",
	    "%d %g", ok, r);
	/* A restart seen too soon still re-bases: no false rate after it. */
	s.raw = 5;
	s.discontinuity = true;
	counter_rate(&p, &s, 11002, 250, &r);
	s.raw = 105;
	s.discontinuity = false;
	ok = counter_rate(&p, &s, 12002, 250, &r);
	UNIT_CHECK(ok && r == 100, "counter: a restart sample arriving early still re-bases",
	    "%d %g", ok, r);

	/* A young agent's counter leaving 0 (its first read of the source):
	 * no rate; on an older agent 0 -> 5 is a rate like any other. */
	s = (struct sample){ .ok = true, .kind = MK_COUNTER, .raw = 0, .width = 32,
	    .young_agent = true };
	p = (struct counter_prev){ 0 };
	counter_rate(&p, &s, 20000, 0, &r);
	s.raw = 240000;
	ok = counter_rate(&p, &s, 21000, 0, &r);
	UNIT_CHECK(!ok, "counter: a young agent's counter leaving 0 gives no rate", "rate %g", r);
	s.raw = 240100;
	ok = counter_rate(&p, &s, 22000, 0, &r);
	UNIT_CHECK(ok && r == 100, "counter: the young agent's next rate is kept", "%d %g", ok, r);
	s = (struct sample){ .ok = true, .kind = MK_COUNTER, .raw = 0, .width = 32 };
	p = (struct counter_prev){ 0 };
	counter_rate(&p, &s, 20000, 0, &r);
	s.raw = 5;
	ok = counter_rate(&p, &s, 21000, 0, &r);
	UNIT_CHECK(ok && r == 5, "counter: 0 -> 5 on an agent up for long is a rate", "%d %g", ok, r);
}

static void
test_thresholds(void)
{
	static const struct {
		enum cmp_op	op;
		double		limit, v;
		bool		hit;
	} cases[] = {
		{ CMP_GT, 90, 90, false }, { CMP_GT, 90, 90.5, true },
		{ CMP_GE, 90, 90, true }, { CMP_LT, 1, 0.5, true },
		{ CMP_LE, 1, 1.5, false }, { CMP_EQ, 2, 2, true },
		{ CMP_NE, 2, 2, false }, { CMP_GT, 90, NAN, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct threshold t = { .op = cases[i].op, .limit = cases[i].limit };
		char name[64];
		snprintf(name, sizeof(name), "threshold case %zu", i);
		UNIT_CHECK(threshold_hit(&t, cases[i].v) == cases[i].hit, name, "got %d",
		    !cases[i].hit);
	}
}

static void
test_evaluate(void)
{
	struct metric_def	m[2] = { { .name = "load" }, { .name = "time", .unit = "s" } };
	struct threshold	th[3] = {
		{ .sev = SEV_WARNING, .metric = 0, .op = CMP_GT, .limit = 70 },
		{ .sev = SEV_CRITICAL, .metric = 0, .op = CMP_GT, .limit = 90 },
		{ .sev = SEV_CRITICAL, .metric = 1, .op = CMP_GT, .limit = 2 },
	};
	struct probe_def	d = { .name = "p", .metrics = m, .nmetrics = 2,
				    .thresholds = th, .nthresholds = 3 };
	struct sample		s[2];
	double			v[2];
	bool			have[2] = { true, true };
	char			sum[256];
	enum severity		sev;
	enum probe_status	st = PS_OK;
	char			reason[64] = "";

	memset(s, 0, sizeof(s));
	s[0].ok = s[1].ok = true;
	v[0] = 50; v[1] = 0.1;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_OK && strcmp(sum, "ok") == 0, "evaluate: all fine", "%d %s", sev, sum);

	v[0] = 75;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_WARNING && strcmp(sum, "load = 75 > 70") == 0, "evaluate: warning",
	    "%d '%s'", sev, sum);

	v[0] = 95; v[1] = 3;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_CRITICAL && strcmp(sum, "load = 95 > 90; time = 3s > 2s") == 0,
	    "evaluate: critical wins and names both breaches", "%d '%s'", sev, sum);

	v[0] = 10; v[1] = 0.1;
	s[0].ok = false;
	s[0].status = PS_NO_SUCH_OBJECT;
	snprintf(s[0].reason, sizeof(s[0].reason), "noSuchInstance");
	have[0] = false;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_UNKNOWN && strcmp(sum, "load: noSuchInstance") == 0,
	    "evaluate: missing value is UNKNOWN, not zero", "%d '%s'", sev, sum);

	st = PS_TIMEOUT;
	snprintf(reason, sizeof(reason), "no SNMP response");
	s[1].ok = false;
	have[1] = false;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_CRITICAL && strcmp(sum, "no SNMP response") == 0,
	    "evaluate: timeout is CRITICAL with the probe's reason", "%d '%s'", sev, sum);

	st = PS_BAD_STATUS;
	snprintf(reason, sizeof(reason), "HTTP 500");
	s[1].ok = true; have[1] = true; v[1] = 5;
	sev = check_evaluate(&d, st, reason, s, v, have, sum, sizeof(sum));
	UNIT_CHECK(sev == SEV_CRITICAL && strcmp(sum, "HTTP 500; time = 5s > 2s") == 0,
	    "evaluate: bad status and slow response both named", "%d '%s'", sev, sum);
}

static void
set_rows(struct check *c, struct result_row *rows, size_t n)
{
	c->result.rows = rows;
	c->result.nrows = n;
	c->result.status = PS_OK;
}

/* Table probes: a row is an instance with its own state and incident key. */
static void
test_table(void)
{
	struct metric_def	m[1] = { { .name = "in", .kind = MK_GAUGE } };
	struct threshold	th[1] = { { .sev = SEV_CRITICAL, .metric = 0, .op = CMP_GT, .limit = 100 } };
	struct probe_def	d = { .name = "ifaces", .metrics = m, .nmetrics = 1,
				    .thresholds = th, .nthresholds = 1, .fail_after = 1,
				    .interval_ms = 1000, .table = true };
	struct host		h = { .name = "sw1" };
	struct check		c = { .key = "sw1/ifaces", .host = &h, .def = &d };
	struct sample		a = { .ok = true, .kind = MK_GAUGE, .value = 50 };
	struct sample		b = { .ok = true, .kind = MK_GAUGE, .value = 150 };
	struct result_row	rows[2] = { { "Gi0/2", &b }, { "Gi0/1", &a } };

	c.result.values = xcalloc(1, sizeof(struct sample));
	c.inst = xcalloc(1, sizeof(*c.inst));
	c.inst[0] = check_inst_new(&c, "");
	c.ninst = 1;

	set_rows(&c, rows, 2);
	check_done(&c);
	UNIT_CHECK(c.ninst == 3 && strcmp(c.inst[1]->name, "Gi0/1") == 0 &&
	    strcmp(c.inst[2]->name, "Gi0/2") == 0, "table: each row becomes an instance, sorted",
	    "ninst %zu", c.ninst);
	UNIT_CHECK(c.ninst == 3 && c.inst[2]->st.state == SEV_CRITICAL &&
	    c.inst[2]->st.incident == INC_OPEN && c.inst[1]->st.state == SEV_OK &&
	    c.inst[0]->st.state == SEV_OK, "table: only the breaching row is critical",
	    "states %d %d %d", c.inst[0]->st.state, c.inst[1]->st.state, c.inst[2]->st.state);
	UNIT_CHECK(c.ninst == 3 && strcmp(c.inst[2]->incident_key, "ifaces[Gi0/2]") == 0 &&
	    strcmp(c.inst[2]->rrd_name, "Gi0_2") == 0,
	    "table: row incident key keeps the label, RRD name is path-safe", "%s %s",
	    c.inst[2]->incident_key, c.inst[2]->rrd_name);

	c.result.status = PS_TIMEOUT;
	snprintf(c.result.reason, sizeof(c.result.reason), "no SNMP response");
	c.result.nrows = 0;
	check_done(&c);
	UNIT_CHECK(c.ninst == 3 && c.inst[0]->st.state == SEV_CRITICAL &&
	    c.inst[2]->st.state == SEV_CRITICAL && c.inst[1]->st.state == SEV_OK,
	    "table: a failed run is the check's failure and keeps every row",
	    "ninst %zu states %d", c.ninst, c.inst[0]->st.state);

	set_rows(&c, rows + 1, 1);
	check_done(&c);
	UNIT_CHECK(c.ninst == 2 && strcmp(c.inst[1]->name, "Gi0/1") == 0 &&
	    c.inst[0]->st.state == SEV_OK, "table: a row gone from the device is forgotten",
	    "ninst %zu", c.ninst);

	for (size_t i = 0; i < c.ninst; i++)
		check_inst_free(c.inst[i]);
	free(c.inst);
	free(c.result.values);
}

static void
test_spread(void)
{
	uint64_t	a = sched_first_offset("core-sw1/ifaces", 60000);
	uint64_t	b = sched_first_offset("core-sw1/ifaces", 60000);
	unsigned	buckets[10] = { 0 };
	char		key[32];
	bool		even = true;

	UNIT_CHECK(a == b && a < 60000, "spread: deterministic and inside the interval", "%llu %llu",
	    (unsigned long long)a, (unsigned long long)b);
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "host%d/load", i);
		buckets[sched_first_offset(key, 60000) / 6000]++;
	}
	for (int i = 0; i < 10; i++)
		if (buckets[i] < 800 || buckets[i] > 1200)
			even = false;
	UNIT_CHECK(even, "spread: 10000 checks spread evenly over the interval",
	    "bucket counts %u %u %u ...", buckets[0], buckets[1], buckets[2]);
}

/*
 * A run's result after run: how many intervals until the next one (the
 * shift sched_backoff gives next_due_ms, in intervals, plus one).  'T' a
 * time-out, '.' an answer.
 */
static void
test_backoff(void)
{
	static const struct {
		const char	*name;
		int		 fail_after;
		unsigned	 max;
		const char	*runs;
		const char	*want;	/* intervals to the next run, per run */
	} cases[] = {
		{ "backoff: default doubles from the 2nd time-out up to 4", 1, 4, "TTTTT", "12444" },
		{ "backoff: the first answer is back on the interval", 1, 4, "TTT.T", "12411" },
		{ "backoff: a failing check backs off again after an answer", 1, 4, "TT.TTT", "121124" },
		{ "backoff: starts once the check is hard (fail-after 3)", 3, 4, "TTTTT", "11244" },
		{ "backoff: a bound that is not a power of two", 1, 3, "TTTT", "1233" },
		{ "backoff: backoff-max 1 turns it off", 1, 1, "TTTT", "1111" },
		{ "backoff: 0 (other probe kinds) never spaces a check out", 1, 0, "TTTT", "1111" },
		{ "backoff: answers never move a run", 1, 4, "....", "1111" },
	};
	struct event_base	*base = event_base_new();

	sched_init(base);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe_def	d = { .interval_ms = 1000, .fail_after = cases[i].fail_after,
					    .backoff_max = cases[i].max };
		struct check		c = { .key = (char *)"h/p", .def = &d };
		char			got[16] = "";
		size_t			n = strlen(cases[i].runs);

		sched_add(&c);
		for (size_t k = 0; k < n && k < sizeof(got) - 1; k++) {
			uint64_t	due;

			/* as sched_fire leaves it: the slot after this run's */
			c.next_due_ms += d.interval_ms;
			due = c.next_due_ms;
			sched_backoff(&c, cases[i].runs[k] == 'T');
			got[k] = (char)('0' + (c.next_due_ms - due) / d.interval_ms + 1);
		}
		UNIT_CHECK(strcmp(got, cases[i].want) == 0, cases[i].name, "runs %s: got %s, want %s",
		    cases[i].runs, got, cases[i].want);
		sched_remove(&c);
	}
	event_base_free(base);
}

static void	hang_start(struct check *c) { (void)c; }	/* never done: every fire overruns */
static void	hang_cancel(struct check *c) { (void)c; }

static size_t
count_lines(const char *text, const char *needle)
{
	size_t	n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* 30 checks overrunning at once: 20 lines, then one count at the window's end. */
static void
test_overrun_log(void)
{
	static const struct probe_ops	hang = { .name = "hang", .start = hang_start,
					    .cancel = hang_cancel };
	struct event_base	*base = event_base_new();
	struct probe_def	 d = { .interval_ms = 40, .ops = &hang };
	struct check		 c[30];
	char			 keys[30][16];
	struct timeval		 run = { 0, 300000 };
	const char		*out;

	sched_init(base);
	sched_log_window(200);
	memset(c, 0, sizeof(c));
	for (size_t i = 0; i < 30; i++) {
		snprintf(keys[i], sizeof(keys[i]), "h%zu/p", i);
		c[i].key = keys[i];
		c[i].def = &d;
		sched_add(&c[i]);
	}
	unit_capture_start();
	event_base_loopexit(base, &run);
	event_base_dispatch(base);
	out = unit_capture_end();
	UNIT_CHECK(count_lines(out, "skipping (overrun)") == 20,
	    "overruns: 30 checks overrunning log 20 lines in a window", "%zu lines:\n%s",
	    count_lines(out, "skipping (overrun)"), out);
	UNIT_CHECK(count_lines(out, "10 more checks overran in the last 0.2 s") == 1,
	    "overruns: the rest are counted in one line when the window ends", "%s", out);
	size_t counted = 0;
	for (size_t i = 0; i < 30; i++)
		counted += c[i].overruns >= 1;
	UNIT_CHECK(counted == 30, "overruns: each check counts its own, logged or not",
	    "%zu of 30 counted", counted);
	/* a later window logs one by one again: the runs start anew and overrun again */
	for (size_t i = 0; i < 30; i++)
		c[i].running = c[i].overrun_logged = false;
	unit_capture_start();
	event_base_loopexit(base, &run);
	event_base_dispatch(base);
	out = unit_capture_end();
	UNIT_CHECK(count_lines(out, "skipping (overrun)") == 20,
	    "overruns: the next window logs 20 lines again", "%zu lines:\n%s",
	    count_lines(out, "skipping (overrun)"), out);
	for (size_t i = 0; i < 30; i++)
		sched_remove(&c[i]);
	sched_log_window(10000);
	event_base_free(base);
}

int
main(void)
{
	test_counter_rate();
	test_counter_guards();
	test_thresholds();
	test_evaluate();
	test_table();
	test_spread();
	test_backoff();
	test_overrun_log();
	return UNIT_DONE();
}
