/*
 * incident.c: turns check state changes into rows of the incidents table.
 * Each call is one idempotent statement queued on db.c; the partial unique
 * index in schema/001_incidents.sql keeps one open incident per host+check.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "itsmd.h"

/*
 * Times are parameters taken when the state changed, not now() on the
 * server: a statement queued through a database outage keeps its true time.
 * The open row is updated first and a row inserted only when there is none,
 * so the id sequence is not spent on every poll of a long outage (an
 * INSERT ... ON CONFLICT draws an id each time) and incident numbers stay
 * consecutive.  A replay only bumps `updates`; the CASE keeps a stale
 * replay from overwriting a newer severity.
 */
static const char sql_raise[] =
	"WITH upd AS ("
	" UPDATE incidents AS i SET"
	"  severity = CASE WHEN to_timestamp($5::float8 / 1000) >= i.last_seen_at"
	"   THEN $3 ELSE i.severity END,"
	"  summary = CASE WHEN to_timestamp($5::float8 / 1000) >= i.last_seen_at"
	"   THEN $4 ELSE i.summary END,"
	"  last_seen_at = GREATEST(i.last_seen_at, to_timestamp($5::float8 / 1000)),"
	"  updates = i.updates + 1"
	" WHERE host = $1 AND check_name = $2 AND resolved_at IS NULL"
	" RETURNING id, false AS opened"
	"), ins AS ("
	" INSERT INTO incidents"
	"  (host, check_name, severity, summary, opened_at, last_seen_at)"
	" SELECT $1, $2, $3, $4,"
	"  to_timestamp($5::float8 / 1000), to_timestamp($5::float8 / 1000)"
	" WHERE NOT EXISTS (SELECT 1 FROM upd)"
	" ON CONFLICT (host, check_name) WHERE resolved_at IS NULL DO NOTHING"
	" RETURNING id, true AS opened"
	")"
	" SELECT id, opened FROM upd UNION ALL SELECT id, opened FROM ins";

static const char sql_resolve[] =
	"UPDATE incidents"
	" SET resolved_at = GREATEST(to_timestamp($3::float8 / 1000), opened_at),"
	"  resolution = $4"
	" WHERE host = $1 AND check_name = $2 AND resolved_at IS NULL"
	" RETURNING id";

/* Our copies: a reload may free the check before the database answers. */
struct incident_job {
	char		*host;
	char		*check;
	enum severity	 sev;
	char		*summary;
};

static struct incident_job *
incident_job_new(const char *host, const char *check, enum severity sev,
    const char *summary)
{
	struct incident_job	*ij = xcalloc(1, sizeof(*ij));

	ij->host = xstrdup(host);
	ij->check = xstrdup(check);
	ij->sev = sev;
	ij->summary = xstrdup(summary != NULL ? summary : "");
	return ij;
}

static void
incident_job_free(struct incident_job *ij)
{
	free(ij->host);
	free(ij->check);
	free(ij->summary);
	free(ij);
}

/* db.c has already logged a failed statement; we only free our copies. */
static void
incident_raised(void *arg, const struct pg_result *res, const char *error)
{
	struct incident_job	*ij = arg;
	const char		*id, *opened;

	if (error == NULL && db_ntuples(res) == 1) {
		id = db_value(res, 0, 0);
		opened = db_value(res, 0, 1);
		if (opened != NULL && opened[0] == 't')
			log_info("incident #%s opened: %s/%s %s: %s", id,
			    ij->host, ij->check, severity_name(ij->sev), ij->summary);
		else
			log_debug("incident #%s updated: %s/%s %s: %s", id,
			    ij->host, ij->check, severity_name(ij->sev), ij->summary);
	}
	incident_job_free(ij);
}

static void
incident_resolved(void *arg, const struct pg_result *res, const char *error)
{
	struct incident_job	*ij = arg;

	if (error == NULL)
		for (int i = 0; i < db_ntuples(res); i++)
			log_info("incident #%s resolved: %s/%s: %s",
			    db_value(res, i, 0), ij->host, ij->check, ij->summary);
	incident_job_free(ij);
}

/*
 * The one way in.  Priority, flapping, maintenance and parents are carried
 * but not yet stored: the incident-management work gives them columns.
 */
void
incident_change(const struct incident_change *ch)
{
	if (ch->sev == SEV_OK)
		incident_resolve(ch->host, ch->check, ch->summary);
	else
		incident_raise(ch->host, ch->check, ch->sev, ch->summary);
}

void
incident_raise(const char *host, const char *check, enum severity sev,
    const char *summary)
{
	struct incident_job	*ij;
	char			 when[24];
	const char		*params[5];

	if (sev == SEV_OK) {
		/* The table has no "ok" incidents; resolving is the other call. */
		log_warnx("incident %s/%s: raise with severity ok ignored", host, check);
		return;
	}
	ij = incident_job_new(host, check, sev, summary);
	snprintf(when, sizeof(when), "%" PRIu64, wall_ms());
	params[0] = ij->host;
	params[1] = ij->check;
	params[2] = severity_name(sev);
	params[3] = ij->summary;
	params[4] = when;
	db_exec(sql_raise, 5, params, incident_raised, ij);
}

void
incident_resolve(const char *host, const char *check, const char *summary)
{
	struct incident_job	*ij;
	char			 when[24];
	const char		*params[4];

	ij = incident_job_new(host, check, SEV_OK, summary);
	snprintf(when, sizeof(when), "%" PRIu64, wall_ms());
	params[0] = ij->host;
	params[1] = ij->check;
	params[2] = when;
	params[3] = ij->summary;
	db_exec(sql_resolve, 4, params, incident_resolved, ij);
}
