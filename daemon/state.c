/*
 * state.c: the state machine of one check instance.  It turns a run's
 * severity into a hard state (after fail-after bad runs in a row) and the
 * hard state into incident calls: raise while bad, resolve on recovery.
 */
#include <stdio.h>
#include <stdlib.h>

#include "itsmd.h"

static const char *
inst_label(const struct check *c, const struct check_inst *ci, char *buf, size_t len)
{
	if (ci->name[0] == '\0')
		return c->key;
	snprintf(buf, len, "%s/%s", c->key, ci->name);
	return buf;
}

void
state_update(struct check *c, struct check_inst *ci, enum severity sev, const char *sum)
{
	struct check_state	*s = &ci->st;
	const struct probe_def	*d = c->def;
	char			 lb[256];

	s->last = sev;
	if (sev == SEV_OK) {
		if (s->state != SEV_OK)
			log_info("%s: recovered", inst_label(c, ci, lb, sizeof(lb)));
		s->state = SEV_OK;
		s->bad_count = 0;
		free(s->summary);
		s->summary = NULL;
		/* INC_UNKNOWN after a start: resolve whatever a previous run left open. */
		if (s->incident != INC_NONE)
			incident_resolve(c->host->name, ci->incident_key, "recovered");
		s->incident = INC_NONE;
		return;
	}
	if (++s->bad_count < d->fail_after) {
		log_debug("%s: %s (%d of %d before an incident): %s",
		    inst_label(c, ci, lb, sizeof(lb)), severity_name(sev), s->bad_count,
		    d->fail_after, sum);
		return;
	}
	s->bad_count = d->fail_after;	/* no overflow on a check that fails for years */
	if (s->state != sev || s->summary == NULL)
		log_info("%s: %s: %s", inst_label(c, ci, lb, sizeof(lb)), severity_name(sev), sum);
	s->state = sev;
	free(s->summary);
	s->summary = xstrdup(sum);
	/* Every bad run refreshes last_seen_at; the database keeps it one row. */
	incident_raise(c->host->name, ci->incident_key, sev, sum);
	s->incident = INC_OPEN;
}

/* The instance is going away (row gone, check removed): close its incident. */
void
state_forget(struct check *c, struct check_inst *ci, const char *why)
{
	char	lb[256];

	if (ci->st.incident == INC_NONE)
		return;
	log_info("%s: %s", inst_label(c, ci, lb, sizeof(lb)), why);
	incident_resolve(c->host->name, ci->incident_key, why);
	ci->st.incident = INC_NONE;
}
