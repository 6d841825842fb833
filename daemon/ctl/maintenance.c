/*
 * maintenance.c: `itsmctl maintenance add|list|end`: maintenance windows
 * kept in PostgreSQL (table maintenance, schema/002), one-time or
 * recurring, on a host, a check (HOST/PROBE) or a tag.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>

#include "itsmd.h"
#include "itsmctl.h"

#define TS(col)	"to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

static char *
ctl_seconds(const char *opt, const char *s)
{
	uint64_t	 ms;
	const char	*why;

	if (conf_duration_ms(s, &ms, &why) == -1 || ms < 1000)
		ctl_die("maintenance add: bad duration '%s' for %s: %s", s, opt,
		    ms < 1000 ? "at least 1s" : why);
	return xasprintf("%" PRIu64, ms / 1000);
}

/*
 * maintenance add host|check|tag TARGET [--start TIME] (--end TIME | --for DUR)
 *     [--every DUR] [-m COMMENT]
 * TIME is anything PostgreSQL takes as a timestamptz ("now", "2026-12-01 22:00").
 */
int
ctl_maintenance_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "start", required_argument, NULL, 's' },
		{ "end", required_argument, NULL, 'e' },
		{ "for", required_argument, NULL, 'f' },
		{ "every", required_argument, NULL, 'r' },
		{ "comment", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	static const char sql[] =
	    "INSERT INTO maintenance (target_kind, target, starts_at, ends_at, duration, every,"
	    " comment, created_by) VALUES ($1, $2, $3::timestamptz,"
	    " CASE WHEN $4::text IS NOT NULL THEN $4::text::timestamptz"
	    "  WHEN $7::text IS NULL THEN $3::timestamptz + make_interval(secs => $5::float8) END,"
	    " CASE WHEN $7::text IS NOT NULL THEN make_interval(secs => $5::float8) END,"
	    " make_interval(secs => $7::text::float8), $6, $8)"
	    " RETURNING id, " TS("starts_at") ", coalesce(" TS("ends_at") ", 'never')";
	const char	*start = "now", *end = NULL, *comment = "", *who = NULL, *params[8];
	char		*dur = NULL, *every = NULL, *clean;
	struct passwd	*pw;
	PGresult	*r;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "m:u:", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': start = optarg; break;
		case 'e': end = optarg; break;
		case 'f': free(dur); dur = ctl_seconds("--for", optarg); break;
		case 'r': free(every); every = ctl_seconds("--every", optarg); break;
		case 'm': comment = optarg; break;
		case 'u': who = optarg; break;
		default:
			fprintf(stderr, "itsmctl: maintenance add: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind + 2 != argc)
		ctl_usage(stderr, 1);
	if (strcmp(argv[optind], "host") != 0 && strcmp(argv[optind], "check") != 0 &&
	    strcmp(argv[optind], "tag") != 0)
		ctl_die("maintenance add: '%s' is not host, check or tag", argv[optind]);
	if (every != NULL && dur == NULL)
		ctl_die("maintenance add: --every needs --for (how long each window lasts)");
	if (every == NULL && (end == NULL) == (dur == NULL))
		ctl_die("maintenance add: give one of --end TIME or --for DURATION");
	if (who == NULL && (who = getenv("SUDO_USER")) == NULL)
		who = (pw = getpwuid(getuid())) != NULL ? pw->pw_name : "unknown";
	clean = incident_text_clean(comment);
	params[0] = argv[optind];
	params[1] = argv[optind + 1];
	params[2] = start;
	params[3] = end;
	params[4] = dur != NULL ? dur : "0";
	params[5] = clean;
	params[6] = every;
	params[7] = who;
	r = ctl_run(ctl_db(ctl), "cannot add the maintenance window", sql, 8, params);
	printf("maintenance #%s: %s %s from %s until %s%s%s\n", PQgetvalue(r, 0, 0),
	    argv[optind], argv[optind + 1], PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
	    every != NULL ? ", recurring" : "", "");
	PQclear(r);
	free(clean);
	free(dur);
	free(every);
	return 0;
}

int
ctl_maintenance_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head[] = {
		"ID", "KIND", "TARGET", "START", "END", "FOR", "EVERY", "ACTIVE", "BY", "COMMENT",
	};
	static const char sql[] =
	    "SELECT id, target_kind AS kind, target, " TS("starts_at") " AS start,"
	    " coalesce(" TS("ends_at") ", '-') AS end, coalesce(duration::text, '-') AS for,"
	    " coalesce(every::text, '-') AS every,"
	    " CASE WHEN itsmd_maintenance_active(m, now()) THEN 'yes' ELSE 'no' END AS active,"
	    " created_by AS by, comment FROM maintenance m"
	    " WHERE $1::bool OR (ended_at IS NULL AND (ends_at IS NULL OR ends_at > now()))"
	    " ORDER BY starts_at, id";
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
			fprintf(stderr, "itsmctl: maintenance list: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind != argc)
		ctl_usage(stderr, 1);
	ctl_query_print(ctl, "cannot list maintenance windows", sql, 1, &all, head, 10,
	    "no maintenance windows");
	return 0;
}

int
ctl_maintenance_end(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] =
	    "UPDATE maintenance SET ended_at = now() WHERE id = $1::bigint AND ended_at IS NULL"
	    " RETURNING id";
	const char	*id;
	PGresult	*r;

	if (argc != 2 || argv[1][0] == '\0' || strspn(argv[1], "0123456789") != strlen(argv[1]))
		ctl_usage(stderr, 1);
	id = argv[1];
	r = ctl_run(ctl_db(ctl), "cannot end the maintenance window", sql, 1, &id);
	if (PQntuples(r) == 0)
		ctl_die("no maintenance window #%s in effect", id);
	printf("maintenance #%s ended\n", id);
	PQclear(r);
	return 0;
}
