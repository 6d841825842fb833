/*
 * incident.c: `itsmctl incident show|ack|resolve|comment ID`: one incident,
 * its timeline and affected CIs, and what operators do to it.  Every change
 * is one transaction that writes its timeline event with the operator's name.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itsmd.h"
#include "itsmctl.h"

#define TS(col)	"to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

/* Who is acting: -u, else the user behind sudo, else the login. */
static const char *
ctl_who(const char *given)
{
	const char	*s;
	struct passwd	*pw;

	if (given != NULL && *given != '\0')
		return given;
	if ((s = getenv("SUDO_USER")) != NULL && *s != '\0')
		return s;
	if ((pw = getpwuid(getuid())) != NULL)
		return pw->pw_name;
	return "unknown";
}

static const char *
ctl_incident_id(const char *s)
{
	const char	*p = s;

	if (*p == '#')
		p++;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 18)
		ctl_die("bad incident id '%s': a number", s);
	return p;
}

/* Words after the id make the comment; all of them, spaces kept single. */
static char *
ctl_words(int argc, char **argv)
{
	size_t	 len = 1;
	char	*s, *clean;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = xcalloc(1, len);
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	clean = incident_text_clean(s);
	free(s);
	return clean;
}

/* -u WHO, --json; leaves optind at the id. */
static void
ctl_incident_opts(struct ctl *ctl, int argc, char **argv, const char **who)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "ju:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctl->json = true;
			break;
		case 'u':
			*who = optarg;
			break;
		default:
			fprintf(stderr, "itsmctl: incident %s: unknown option\n", argv[0]);
			ctl_usage(stderr, 1);
		}
	}
	if (optind >= argc)
		ctl_usage(stderr, 1);
}

int
ctl_incident_show(struct ctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "FIELD", "VALUE" };
	static const char *const ehead[] = { "AT", "EVENT", "WHO", "FROM", "TO", "TEXT" };
	static const char *const chead[] = { "HOST", "CHECK", "SEVERITY", "ATTACHED", "DETACHED",
	    "SUMMARY" };
	static const char sql_one[] =
	    "SELECT f, v FROM incidents i, LATERAL (VALUES"
	    " (1, 'id', i.id::text), (2, 'host', i.host), (3, 'check', i.check_name),"
	    " (4, 'status', i.status), (5, 'severity', i.severity),"
	    " (6, 'priority', coalesce('P' || i.priority, '-')),"
	    " (7, 'flapping', CASE WHEN i.flapping THEN 'yes' ELSE 'no' END),"
	    " (8, 'maintenance', CASE WHEN i.maintenance THEN 'yes' ELSE 'no' END),"
	    " (9, 'opened', " TS("i.opened_at") "), (10, 'last-seen', " TS("i.last_seen_at") "),"
	    " (11, 'acknowledged', coalesce(" TS("i.acknowledged_at") " || ' by ' ||"
	    "  i.acknowledged_by, '-')),"
	    " (12, 'resolved', coalesce(" TS("i.resolved_at") " || ': ' || i.resolution, '-')),"
	    " (13, 'closed', coalesce(" TS("i.closed_at") ", '-')),"
	    " (14, 'reopened', i.reopened::text), (15, 'problem', coalesce('#' || i.problem_id, '-')),"
	    " (16, 'summary', i.summary)) AS x(n, f, v)"
	    " WHERE i.id = $1::bigint ORDER BY n";
	static const char sql_json[] =
	    "SELECT to_json(i) FROM incidents i WHERE i.id = $1::bigint";
	static const char sql_events[] =
	    "SELECT " TS("at") " AS at, kind AS event, who, coalesce(old_value, '') AS old,"
	    " coalesce(new_value, '') AS new, text FROM incident_events"
	    " WHERE incident_id = $1::bigint ORDER BY at, id";
	static const char sql_cis[] =
	    "SELECT host, check_name AS check, severity, " TS("attached_at") " AS attached,"
	    " coalesce(" TS("detached_at") ", '-') AS detached, summary FROM incident_cis"
	    " WHERE incident_id = $1::bigint ORDER BY host, check_name";
	const char	*who = NULL, *id;
	PGresult	*r;

	ctl_incident_opts(ctl, argc, argv, &who);
	if (optind + 1 != argc)
		ctl_usage(stderr, 1);
	id = ctl_incident_id(argv[optind]);
	r = ctl_run(ctl_db(ctl), "cannot show the incident", sql_json, 1, &id);
	if (PQntuples(r) == 0)
		ctl_die("no incident #%s", id);
	if (ctl->json) {
		PQclear(r);
		r = ctl_run(ctl_db(ctl), "cannot show the incident",
		    "SELECT json_build_object('incident', (SELECT to_json(i) FROM incidents i"
		    " WHERE i.id = $1::bigint),"
		    " 'events', (SELECT coalesce(json_agg(e ORDER BY e.at, e.id), '[]')"
		    "  FROM incident_events e WHERE e.incident_id = $1::bigint),"
		    " 'cis', (SELECT coalesce(json_agg(c ORDER BY c.host, c.check_name), '[]')"
		    "  FROM incident_cis c WHERE c.incident_id = $1::bigint))", 1, &id);
		printf("%s\n", PQgetvalue(r, 0, 0));
		PQclear(r);
		return 0;
	}
	PQclear(r);
	r = ctl_run(ctl_db(ctl), "cannot show the incident", sql_one, 1, &id);
	for (int i = 0; i < PQntuples(r); i++) {
		printf("%-13s ", PQgetvalue(r, i, 0));
		/* control characters (a newline in a summary) shown as blanks */
		for (const char *p = PQgetvalue(r, i, 1); *p != '\0'; p++)
			putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
		putchar('\n');
	}
	(void)head;
	PQclear(r);
	printf("\ntimeline:\n");
	ctl_query_print(ctl, "cannot list the timeline", sql_events, 1, &id, ehead, 6,
	    "no events");
	r = ctl_run(ctl_db(ctl), "cannot list affected CIs", sql_cis, 1, &id);
	if (PQntuples(r) > 0) {
		printf("\naffected CIs:\n");
		ctl_print_table(r, chead, 6);
	}
	PQclear(r);
	return 0;
}

/*
 * The operator's change and its event in one statement; it reports what
 * the incident was, so a refusal can say why.
 */
static int
ctl_incident_act(struct ctl *ctl, int argc, char **argv, const char *verb,
    const char *sql, const char *done)
{
	const char	*who = NULL, *params[3];
	char		*comment;
	PGresult	*r;
	int		 rc = 0;

	ctl_incident_opts(ctl, argc, argv, &who);
	params[0] = ctl_incident_id(argv[optind]);
	comment = ctl_words(argc - optind - 1, argv + optind + 1);
	if (strcmp(verb, "comment") == 0 && *comment == '\0')
		ctl_die("incident comment: no text given");
	params[1] = who = ctl_who(who);
	params[2] = comment;
	ctl_exec(ctl_db(ctl), "begin", "BEGIN", 0, NULL);
	r = ctl_run(ctl_db(ctl), verb, sql, 3, params);
	if (PQntuples(r) == 0)
		ctl_die("no incident #%s", params[0]);
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		fprintf(stderr, "itsmctl: incident #%s is %s; not %s\n", params[0],
		    PQgetvalue(r, 0, 0), done);
		rc = 1;
	} else
		printf("incident #%s %s by %s\n", params[0], done, who);
	PQclear(r);
	ctl_exec(ctl_db(ctl), "commit", "COMMIT", 0, NULL);
	free(comment);
	return rc;
}

int
ctl_incident_ack(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] =
	    "WITH cur AS (SELECT id, status FROM incidents WHERE id = $1::bigint FOR UPDATE),"
	    " upd AS (UPDATE incidents i SET status = 'acknowledged', acknowledged_at = now(),"
	    "  acknowledged_by = $2 FROM cur WHERE i.id = cur.id AND cur.status = 'new'"
	    "  RETURNING i.id),"
	    " ev AS (INSERT INTO incident_events (incident_id, at, kind, who, text)"
	    "  SELECT id, now(), 'acknowledged', $2, $3 FROM upd)"
	    " SELECT cur.status, EXISTS (SELECT 1 FROM upd) FROM cur";

	return ctl_incident_act(ctl, argc, argv, "ack", sql, "acknowledged");
}

int
ctl_incident_resolve(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] =
	    "WITH cur AS (SELECT id, status FROM incidents WHERE id = $1::bigint FOR UPDATE),"
	    " upd AS (UPDATE incidents i SET status = 'resolved',"
	    "  resolved_at = GREATEST(now(), i.opened_at),"
	    "  resolution = 'resolved by ' || $2 || CASE WHEN $3 = '' THEN '' ELSE ': ' || $3 END"
	    "  FROM cur WHERE i.id = cur.id AND i.resolved_at IS NULL RETURNING i.id),"
	    " cis AS (UPDATE incident_cis c SET detached_at = now() FROM upd"
	    "  WHERE c.incident_id = upd.id AND c.detached_at IS NULL),"
	    " ev AS (INSERT INTO incident_events (incident_id, at, kind, who, old_value, new_value,"
	    "  text) SELECT id, now(), 'resolved', $2, NULL, 'by hand', $3 FROM upd)"
	    " SELECT cur.status, EXISTS (SELECT 1 FROM upd) FROM cur";

	return ctl_incident_act(ctl, argc, argv, "resolve", sql, "resolved");
}

int
ctl_incident_comment(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] =
	    "WITH cur AS (SELECT id, status FROM incidents WHERE id = $1::bigint),"
	    " ev AS (INSERT INTO incident_events (incident_id, at, kind, who, text)"
	    "  SELECT id, now(), 'comment', $2, $3 FROM cur RETURNING id)"
	    " SELECT cur.status, EXISTS (SELECT 1 FROM ev) FROM cur";

	return ctl_incident_act(ctl, argc, argv, "comment", sql, "commented");
}

int
ctl_problems(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head[] = {
		"ID", "HOST", "CHECK", "STATUS", "OPENED", "INCIDENTS", "LAST", "SUMMARY",
	};
	static const char sql[] =
	    "SELECT p.id, p.host, p.check_name AS check, p.status, " TS("p.opened_at") " AS opened,"
	    " (SELECT count(*) FROM incidents i WHERE i.problem_id = p.id) AS incidents,"
	    " coalesce((SELECT " TS("max(i.opened_at)") " FROM incidents i"
	    "  WHERE i.problem_id = p.id), '-') AS last, p.summary"
	    " FROM problems p WHERE $1::bool OR p.status = 'open' ORDER BY p.opened_at, p.id";
	const char	*all = "f";
	int		 ch;

	while ((ch = getopt_long(argc, argv, "+aj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			all = "t";
			break;
		case 'j':
			ctl->json = true;
			break;
		default:
			fprintf(stderr, "itsmctl: problems: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind != argc)
		ctl_usage(stderr, 1);
	ctl_query_print(ctl, "cannot list problems", sql, 1, &all, head, 8, "no problems");
	return 0;
}
