/*
 * state.c: the state machine of one check instance.  It turns each run's
 * severity into a hard state (after fail-after bad runs in a row, retried
 * faster while soft), watches for flapping, and decides what incident
 * management hears: an incident of its own, an attachment to a parent
 * host's incident, nothing new inside a maintenance window, and always the
 * ITIL priority.  Everything goes out through incident_change().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "itsmd.h"

#define HIST		((int)sizeof(((struct check_state *)0)->hist))
#define DBMAINT_MS	15000		/* how often windows from itsmctl are read */
#define DBMAINT_ERR_MS	300000		/* ... and after a failed read (no table yet) */

static const struct config	*state_cfg;	/* the running one, from checks_build() */

/*
 * Windows made with `itsmctl maintenance add` live in the database
 * (schema/002, table maintenance).  A timer reads the ones active now;
 * a check is covered when its host, "host/probe" or one of its host's
 * tags is a target.  Up to DBMAINT_MS late, which is fine for windows
 * of minutes and hours.
 */
static struct {
	struct event	*timer;
	bool		 busy;
	char		**kind, **target, **name;
	size_t		 n;
} dbm;

static const char sql_dbmaint[] =
	"SELECT target_kind, target, id FROM maintenance m"
	" WHERE itsmd_maintenance_active(m, now())";

static void	dbm_arm(uint64_t);

static void
dbm_clear(void)
{
	for (size_t i = 0; i < dbm.n; i++) {
		free(dbm.kind[i]);
		free(dbm.target[i]);
		free(dbm.name[i]);
	}
	free(dbm.kind);
	free(dbm.target);
	free(dbm.name);
	dbm.kind = dbm.target = dbm.name = NULL;
	dbm.n = 0;
}

static void
dbm_read(void *arg, const struct pg_result *res, const char *error)
{
	int	n;

	(void)arg;
	dbm.busy = false;
	if (error != NULL) {
		dbm_arm(DBMAINT_ERR_MS);	/* db.c has logged it; the list stays */
		return;
	}
	dbm_clear();
	n = db_ntuples(res);
	dbm.kind = xcalloc(n > 0 ? n : 1, sizeof(*dbm.kind));
	dbm.target = xcalloc(n > 0 ? n : 1, sizeof(*dbm.target));
	dbm.name = xcalloc(n > 0 ? n : 1, sizeof(*dbm.name));
	for (int i = 0; i < n; i++) {
		const char *k = db_value(res, i, 0), *t = db_value(res, i, 1);
		const char *id = db_value(res, i, 2);

		if (k == NULL || t == NULL)
			continue;
		dbm.kind[dbm.n] = xstrdup(k);
		dbm.name[dbm.n] = xasprintf("#%s (itsmctl)", id != NULL ? id : "?");
		dbm.target[dbm.n++] = xstrdup(t);
	}
	dbm_arm(DBMAINT_MS);
}

static void
dbm_fire(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	if (itsmd_stopping)
		return;
	if (!dbm.busy) {
		dbm.busy = true;
		db_exec(sql_dbmaint, 0, NULL, dbm_read, NULL);
	}
}

static void
dbm_arm(uint64_t ms)
{
	struct timeval	tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (dbm.timer != NULL && !itsmd_stopping)
		evtimer_add(dbm.timer, &tv);
}

static const char *
dbm_find(const struct check *c)
{
	const struct host	*h = c->host;
	size_t			 hl = strlen(h->name);

	for (size_t i = 0; i < dbm.n; i++) {
		const char *k = dbm.kind[i], *t = dbm.target[i];

		if (strcmp(k, "host") == 0 && strcmp(t, h->name) == 0)
			return dbm.name[i];
		if (strcmp(k, "check") == 0 && strncmp(t, h->name, hl) == 0 &&
		    t[hl] == '/' && strcmp(t + hl + 1, c->def->name) == 0)
			return dbm.name[i];
		for (size_t j = 0; strcmp(k, "tag") == 0 && j < h->ntags; j++)
			if (strcmp(t, h->tags[j]) == 0)
				return dbm.name[i];
	}
	return NULL;
}

void
state_configure(const struct config *cfg)
{
	state_cfg = cfg;
	if (dbm.timer == NULL && itsmd_base != NULL) {
		if ((dbm.timer = evtimer_new(itsmd_base, dbm_fire, NULL)) == NULL)
			fatalx("state: cannot create the maintenance timer");
		dbm_arm(0);
	}
}

void
state_free(struct check_state *s)
{
	free(s->summary);
	free(s->att_host);
	free(s->att_check);
	s->summary = s->att_host = s->att_check = NULL;
}

/* ---------------------------------------------------------------- priority */

/* ITIL's usual 3 x 3: impact 1 (high) .. 3 (low) by urgency 1 .. 3. */
void
priority_default(int m[3][3])
{
	static const int def[3][3] = { { 1, 2, 3 }, { 2, 3, 4 }, { 3, 4, 5 } };

	memcpy(m, def, sizeof(def));
}

/* Urgency from the severity: critical 1, warning 2, unknown 3. */
int
priority_of(const int m[3][3], int impact, enum severity sev)
{
	int	u;

	switch (sev) {
	case SEV_CRITICAL:	u = 1; break;
	case SEV_WARNING:	u = 2; break;
	case SEV_UNKNOWN:	u = 3; break;
	default:		return 0;
	}
	if (impact < 1 || impact > 3)
		impact = 2;
	return m[impact - 1][u - 1];
}

/* ---------------------------------------------------------------- flapping */

/*
 * The last 21 results, Nagios style.  A new history is filled with its
 * first result, so a check that has just started is not "flapping" on two
 * samples; the percentage is always over the same 20 transitions.
 */
void
flap_record(struct check_state *s, enum severity sev)
{
	if (s->nhist == 0) {
		memset(s->hist, sev, sizeof(s->hist));
		s->nhist = HIST;
		s->hpos = 0;
		return;
	}
	s->hist[s->hpos] = (uint8_t)sev;
	s->hpos = (uint8_t)((s->hpos + 1) % HIST);
}

/*
 * Percent state change over the 20 transitions of the history, the newest
 * weighing 1.25 and the oldest 0.75 (linear in between), so a check that
 * has stopped changing leaves the flapping range sooner than one that has
 * just started.
 */
double
flap_percent(const struct check_state *s)
{
	double	total = 0;

	if (s->nhist < HIST)
		return 0;
	for (int i = 1; i < HIST; i++) {
		uint8_t a = s->hist[(s->hpos + i - 1) % HIST], b = s->hist[(s->hpos + i) % HIST];

		if (a != b)
			total += 0.75 + (double)(i - 1) * 0.5 / (HIST - 2);
	}
	return total * 100.0 / (HIST - 1);
}

/* ------------------------------------------------------------ the machine */

static const char *
inst_label(const struct check *c, const struct check_inst *ci, char *buf, size_t len)
{
	if (ci->name[0] == '\0')
		return c->key;
	snprintf(buf, len, "%s/%s", c->key, ci->name);
	return buf;
}

static int
prio(const struct check *c, enum severity sev)
{
	int	def[3][3];

	if (state_cfg != NULL)
		return priority_of(state_cfg->priority, c->host->impact, sev);
	priority_default(def);
	return priority_of(def, c->host->impact, sev);
}

static void
tell(const struct check *c, const struct check_inst *ci, enum severity sev, const char *sum,
    const char *phost, const char *pcheck, bool maint)
{
	struct incident_change	ch;

	memset(&ch, 0, sizeof(ch));
	ch.host = c->host->name;
	ch.check = ci->incident_key;
	ch.sev = sev;
	ch.summary = sum;
	ch.when_ms = c->result.finished_wall_ms;
	ch.priority = prio(c, sev);
	ch.flapping = ci->st.flapping;
	ch.maintenance = maint;
	ch.parent_host = phost;
	ch.parent_check = pcheck;
	incident_change(&ch);
}

enum parent_state { PARENT_UP, PARENT_PENDING, PARENT_DOWN, PARENT_MAINT };

static bool
sev_down(enum severity s)
{
	return s == SEV_CRITICAL || s == SEV_UNKNOWN;
}

/*
 * A parent is down when its availability check is hard CRITICAL or
 * UNKNOWN, its last run still says so (a warning is not an outage) and it
 * has an incident or joined one; pending while that run is bad but its
 * verdict is not in (soft, or settling on its own parents), since the
 * incident to join does not exist yet; in maintenance when down inside a window,
 * where planned work explains the children too.  The incident to join is
 * the root of the chain: a parent that is itself attached to its own
 * parent's incident hands that one on.
 */
static enum parent_state
parent_down(const struct host *h, const char **phost, const char **pcheck)
{
	enum parent_state	 best = PARENT_UP;

	for (size_t i = 0; i < h->nparents; i++) {
		const struct host	*p = h->parents[i];
		const struct check	*ac = p->avail_check;
		const struct check_state *ps;

		if (ac == NULL || ac->ninst == 0)
			continue;
		ps = &ac->inst[0]->st;
		if (ps->nhist == 0 || !sev_down(ps->last))
			continue;
		if (ps->maintenance && sev_down(ps->state))
			return PARENT_MAINT;
		/*
		 * Soft, or hard but undecided (waiting on its own parents): its
		 * incident, or the one it joins, is not known yet.
		 */
		if (!sev_down(ps->state) || (ps->att_host == NULL && ps->incident != INC_OPEN)) {
			best = PARENT_PENDING;
			continue;
		}
		if (ps->att_host != NULL) {
			*phost = ps->att_host;
			*pcheck = ps->att_check;
		} else {
			*phost = p->name;
			*pcheck = ac->inst[0]->incident_key;
		}
		return PARENT_DOWN;
	}
	return best;
}

static void
detach(const struct check *c, struct check_inst *ci, const char *why)
{
	struct check_state	*s = &ci->st;

	if (s->att_host == NULL)
		return;
	tell(c, ci, SEV_OK, why, s->att_host, s->att_check, false);
	free(s->att_host);
	free(s->att_check);
	s->att_host = s->att_check = NULL;
}

/* Recovered (or settled out of flapping while OK): resolve what there is. */
static void
recover(struct check *c, struct check_inst *ci, const char *lb)
{
	struct check_state	*s = &ci->st;

	if (s->state != SEV_OK)
		log_info("%s: recovered", lb);
	s->state = SEV_OK;
	free(s->summary);
	s->summary = NULL;
	s->settle_until_ms = 0;
	detach(c, ci, "recovered");
	/* INC_UNKNOWN after a start: resolve whatever a previous run left open. */
	if (s->incident != INC_NONE)
		tell(c, ci, SEV_OK, "recovered", NULL, NULL, false);
	s->incident = INC_NONE;
	s->maintenance = false;
}

/*
 * The dependency gate before an incident of a child's own: attach to a
 * down parent's incident; else re-probe the parents at once and wait the
 * settle window, so a child polled just before its parent cannot win the
 * race.  Returns true when the child must not open its own incident now.
 */
static bool
depend_hold(struct check *c, struct check_inst *ci, enum severity sev, const char *sum,
    const char *lb, bool was_maint)
{
	struct check_state	*s = &ci->st;
	const struct host	*h = c->host;
	const char		*ph, *pc;
	uint64_t		 now = mono_ms(), settle;

	if (h->nparents == 0 || (s->incident == INC_OPEN && s->att_host == NULL))
		return false;
	settle = state_cfg != NULL ? state_cfg->settle_ms : 0;
	switch (parent_down(h, &ph, &pc)) {
	case PARENT_MAINT:
		/* Planned work upstream: as if this check were in the window too. */
		if (!was_maint)
			log_info("%s: %s while parent is down in maintenance: no new incident",
			    lb, severity_name(sev));
		s->maintenance = true;
		detach(c, ci, "parent in maintenance");
		tell(c, ci, sev, sum, NULL, NULL, true);
		return true;
	case PARENT_PENDING:
		/* The parent's incident is not there yet: wait for its verdict. */
		log_debug("%s: %s; parent bad but not yet hard, waiting", lb,
		    severity_name(sev));
		if (s->settle_until_ms == 0)
			s->settle_until_ms = now + settle;
		sched_run_within(c, settle > 0 ? settle : c->def->interval_ms);
		return true;
	case PARENT_UP:
		break;
	case PARENT_DOWN:
		if (s->att_host == NULL || strcmp(s->att_host, ph) != 0 ||
		    strcmp(s->att_check, pc) != 0) {
			detach(c, ci, "moved to another parent incident");
			log_info("%s: %s, attached to the incident of %s/%s (parent down): %s",
			    lb, severity_name(sev), ph, pc, sum);
			s->att_host = xstrdup(ph);
			s->att_check = xstrdup(pc);
		}
		s->settle_until_ms = 0;
		tell(c, ci, sev, sum, s->att_host, s->att_check, false);
		return true;
	}
	if (s->att_host != NULL) {
		/* The parent is back and we are still bad: our own incident now. */
		log_info("%s: parent %s recovered, still %s: own incident", lb, s->att_host,
		    severity_name(sev));
		detach(c, ci, "parent recovered; the child opens its own incident");
		s->settle_until_ms = 0;
		return false;
	}
	if (settle == 0)
		return false;
	if (s->settle_until_ms == 0) {
		s->settle_until_ms = now + settle;
		log_debug("%s: %s; re-probing %zu parent(s), deciding in %llu ms", lb,
		    severity_name(sev), h->nparents, (unsigned long long)settle);
		for (size_t i = 0; i < h->nparents; i++)
			if (h->parents[i]->avail_check != NULL)
				sched_run_within(h->parents[i]->avail_check, 0);
		sched_run_within(c, settle);
		return true;
	}
	if (now < s->settle_until_ms) {
		/* Early (a retry, or a timer a hair ahead): decide at the deadline. */
		sched_run_within(c, s->settle_until_ms - now);
		return true;
	}
	s->settle_until_ms = 0;
	return false;
}

static bool
in_maintenance(const struct check *c, const char **name)
{
	const struct maint_window	*w;

	if ((*name = dbm_find(c)) != NULL)
		return true;
	if (state_cfg == NULL || state_cfg->nmaint == 0)
		return false;
	w = maint_find(state_cfg->maint, state_cfg->nmaint, c->host, c->def->name,
	    (int64_t)(wall_ms() / 1000));
	if (w != NULL)
		*name = w->name;
	return w != NULL;
}

void
state_update(struct check *c, struct check_inst *ci, enum severity sev, const char *sum)
{
	struct check_state	*s = &ci->st;
	const struct probe_def	*d = c->def;
	const char		*lb, *mw = NULL;
	char			 lbuf[256];
	double			 pct;
	bool			 maint, was_maint, held, was_flapping = s->flapping;

	lb = inst_label(c, ci, lbuf, sizeof(lbuf));
	s->last = sev;
	flap_record(s, sev);
	pct = flap_percent(s);
	if (!s->flapping && d->flap_high > 0 && pct >= d->flap_high) {
		s->flapping = true;
		log_info("%s: flapping started (%.0f%% state change): one incident until it "
		    "settles", lb, pct);
	} else if (s->flapping && pct < d->flap_low) {
		s->flapping = false;
		log_info("%s: flapping stopped (%.0f%% state change), now %s", lb, pct,
		    severity_name(sev));
	}

	if (sev == SEV_OK) {
		s->bad_count = 0;
		if (s->flapping) {
			/* Hold the incident open; tell it that it is flapping, once. */
			if (!was_flapping && s->state != SEV_OK && s->incident == INC_OPEN)
				tell(c, ci, s->state, s->summary, s->att_host, s->att_check,
				    s->maintenance);
			return;
		}
		recover(c, ci, lb);
		return;
	}

	if (++s->bad_count < d->fail_after && s->state == SEV_OK) {
		log_debug("%s: %s (%d of %d before an incident): %s", lb, severity_name(sev),
		    s->bad_count, d->fail_after, sum);
		if (d->retry_ms > 0 && d->retry_ms < d->interval_ms)
			sched_run_within(c, d->retry_ms);
		return;
	}
	s->bad_count = d->fail_after;	/* no overflow on a check that fails for years */
	if (s->state != sev || s->summary == NULL)
		log_info("%s: %s: %s", lb, severity_name(sev), sum);
	s->state = sev;
	free(s->summary);
	s->summary = xstrdup(sum);

	/*
	 * Maintenance: data keeps flowing (the RRD has it already) and nothing
	 * new opens.  The change still goes out marked, since after a restart
	 * only the database knows whether an incident is open: one that is gets
	 * marked, none is opened (incident_change's contract).
	 */
	maint = in_maintenance(c, &mw);
	if (maint) {
		if (!s->maintenance)
			log_info("%s: %s in maintenance window '%s': %s", lb,
			    severity_name(sev), mw, s->incident == INC_OPEN ?
			    "its open incident is marked" : "no new incident");
		s->maintenance = true;
		s->settle_until_ms = 0;
		tell(c, ci, sev, sum, s->att_host, s->att_check, true);
		return;
	}
	was_maint = s->maintenance;
	s->maintenance = false;
	held = depend_hold(c, ci, sev, sum, lb, was_maint);
	if (was_maint && !s->maintenance)
		log_info("%s: maintenance over, still %s", lb, severity_name(sev));
	if (held)
		return;
	/* Every bad run refreshes last_seen_at; the database keeps it one row. */
	tell(c, ci, sev, sum, NULL, NULL, false);
	s->incident = INC_OPEN;
}

/* The instance is going away (row gone, check removed): close its incident. */
void
state_forget(struct check *c, struct check_inst *ci, const char *why)
{
	char	lb[256];

	detach(c, ci, why);
	if (ci->st.incident == INC_NONE)
		return;
	log_info("%s: %s", inst_label(c, ci, lb, sizeof(lb)), why);
	tell(c, ci, SEV_OK, why, NULL, NULL, false);
	ci->st.incident = INC_NONE;
}
