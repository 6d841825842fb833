/*
 * scheduler.c: when each check runs.  One libevent timer per check; the
 * first run is spread over the interval by a hash of the check's key, so a
 * restart never fires every probe at once and a given check always keeps
 * the same phase.  A check still running when it is due again is skipped
 * and counted as an overrun, never started twice.  A check that times out
 * again and again (an unreachable SNMP agent) is spaced out, up to its
 * def's backoff_max intervals, and back on its phase at the first answer.
 */
#include <limits.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "itsmd.h"

/*
 * Overruns come in floods (a loop held up, a slow origin, the first minute
 * of 100,000 new RRD files): past SCHED_LOG_LINES in a window only a count,
 * said once when the window ends.  GET /status has every check's count.
 */
#define SCHED_LOG_LINES		20

static struct event_base *sched_base;
static struct check	**sched_list;	/* every scheduled check, for status.c */
static size_t		  sched_n, sched_cap;
static struct {
	uint64_t	window_ms;	/* 10 s; tests shorten it */
	uint64_t	start_ms;	/* mono: the window's start */
	unsigned	lines;		/* logged one by one in it */
	uint64_t	quiet;		/* not logged in it */
	struct event	ev;		/* the window's end, when quiet > 0 */
} sched_log = { .window_ms = 10000 };

static void
overrun_summary(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (sched_log.quiet > 0)
		log_warnx("%llu more checks overran in the last %.1f s, not logged one by one "
		    "(GET /status counts overruns per check)", (unsigned long long)sched_log.quiet,
		    (double)sched_log.window_ms / 1000);
	sched_log.quiet = 0;
	sched_log.lines = 0;
	sched_log.start_ms = mono_ms();
}

static void
overrun_log(const struct check *c, uint64_t now)
{
	struct timeval	tv;
	uint64_t	left;

	if (now - sched_log.start_ms >= sched_log.window_ms && sched_log.quiet == 0) {
		sched_log.start_ms = now;
		sched_log.lines = 0;
	}
	if (sched_log.lines < SCHED_LOG_LINES) {
		sched_log.lines++;
		log_warnx("%s: previous run still in progress after %llu ms; skipping (overrun)",
		    c->key, (unsigned long long)(now - c->result.started_mono_ms));
		return;
	}
	if (sched_base == NULL) {	/* no loop to end the window: count, then start anew */
		sched_log.quiet++;
		overrun_summary(-1, 0, NULL);
		return;
	}
	if (sched_log.quiet++ > 0)
		return;
	left = sched_log.start_ms + sched_log.window_ms > now ?
	    sched_log.start_ms + sched_log.window_ms - now : 0;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(&sched_log.ev, &tv);
}

void
sched_log_window(uint64_t ms)
{
	sched_log.window_ms = ms;
}

void
sched_init(struct event_base *base)
{
	sched_base = base;
	/* static, not event_new: nothing to free at exit */
	evtimer_assign(&sched_log.ev, base, overrun_summary, NULL);
}

/* Stable across runs and builds, so a restart keeps every check's phase. */
uint64_t
sched_first_offset(const char *key, uint64_t interval_ms)
{
	return interval_ms == 0 ? 0 : hash_str(key) % interval_ms;
}

static void
sched_arm(struct check *c, uint64_t now)
{
	uint64_t	 wait = c->next_due_ms > now ? c->next_due_ms - now : 0;
	struct timeval	 tv = { .tv_sec = wait / 1000, .tv_usec = (wait % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

static void
sched_fire(evutil_socket_t fd, short events, void *arg)
{
	struct check	*c = arg;
	uint64_t	 now = mono_ms(), iv = c->def->interval_ms;

	(void)fd;
	(void)events;
	/* Next due time first: start() may finish synchronously and must see it. */
	c->next_due_ms += iv;
	if (c->next_due_ms <= now)	/* the loop was held up: skip missed slots, keep phase */
		c->next_due_ms += ((now - c->next_due_ms) / iv + 1) * iv;
	sched_arm(c, now);

	if (c->running) {
		c->overruns++;
		if (!c->overrun_logged)
			overrun_log(c, now);
		c->overrun_logged = true;
		return;
	}
	c->overrun_logged = false;
	c->running = true;
	c->runs++;
	c->result.started_mono_ms = now;
	c->def->ops->start(c);
}

void
sched_add(struct check *c)
{
	uint64_t	now = mono_ms();

	if ((c->timer = evtimer_new(sched_base, sched_fire, c)) == NULL)
		fatalx("%s: cannot create timer", c->key);
	if (sched_n == sched_cap) {
		sched_cap = sched_cap ? sched_cap * 2 : 64;
		sched_list = xreallocarray(sched_list, sched_cap, sizeof(*sched_list));
	}
	sched_list[sched_n++] = c;
	c->sched_slot = sched_n;
	if (c->backoff == 0)
		c->backoff = 1;
	/* A check adopted across a reload keeps its phase. */
	if (c->next_due_ms == 0)
		c->next_due_ms = now + sched_first_offset(c->key, c->def->interval_ms);
	sched_arm(c, now);
}

/*
 * Brings the next run forward to at most `ms` from now: a retry while soft,
 * or a parent re-probed at once so its child can tell an outage of its
 * own from one upstream.  A run in flight is answer enough; the regular
 * phase resumes after the early run.
 */
void
sched_run_within(struct check *c, uint64_t ms)
{
	uint64_t	now = mono_ms();

	if (c->timer == NULL || c->running || c->next_due_ms <= now + ms)
		return;
	c->next_due_ms = now + ms;
	sched_arm(c, now);
}

void
sched_remove(struct check *c)
{
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	if (c->sched_slot > 0 && c->sched_slot <= sched_n &&
	    sched_list[c->sched_slot - 1] == c) {
		sched_list[c->sched_slot - 1] = sched_list[--sched_n];
		sched_list[c->sched_slot - 1]->sched_slot = c->sched_slot;
		c->sched_slot = 0;
	}
	if (c->running) {
		c->def->ops->cancel(c);
		c->running = false;
	}
}

/*
 * Called by check_done() before the result is judged, so that state.c may
 * still bring the next run forward (a soft retry, a parent re-probed for its
 * child).  The first timeouts keep the interval: backoff starts at the
 * second one in a row, or once the check is hard (fail-after), and doubles
 * up to backoff_max intervals.  The spacing is whole intervals, so the
 * check keeps its phase, and it is this check's timer alone: no other
 * check waits for it.
 */
void
sched_backoff(struct check *c, bool timed_out)
{
	uint64_t	iv = c->def->interval_ms;
	unsigned	max = c->def->backoff_max, start, f;

	if (!timed_out) {
		if (c->backoff > 1)
			log_info("%s: answers again; back to every %llu ms", c->key,
			    (unsigned long long)iv);
		c->timeouts = 0;
		c->backoff = 1;
		return;
	}
	if (c->timeouts < UINT_MAX)
		c->timeouts++;
	if (max <= 1 || c->timer == NULL || iv == 0)
		return;
	start = c->def->fail_after > 2 ? (unsigned)c->def->fail_after : 2;
	if (c->timeouts < start)
		return;
	f = 2U << (c->timeouts - start < 16 ? c->timeouts - start : 16);
	if (f > max)
		f = max;
	if (f != c->backoff)
		log_info("%s: no answer %u times in a row; running every %u intervals "
		    "(%llu ms) until it answers", c->key, c->timeouts, f,
		    (unsigned long long)(f * iv));
	c->backoff = f;
	/* next_due_ms is the slot after this run's: push it by whole intervals */
	c->next_due_ms += (uint64_t)(f - 1) * iv;
	sched_arm(c, mono_ms());
}

struct check *const *
sched_checks(size_t *n)
{
	*n = sched_n;
	return sched_list;
}
