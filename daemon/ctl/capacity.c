/*
 * capacity.c: `itsmctl capacity`: the open capacity records, most urgent
 * (earliest predicted date) first, as a table, --json or --csv for the
 * planners' spreadsheets.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"
#include "itsmctl.h"

/* RFC 4180: quote every field that needs it, double the quotes inside. */
static void
csv_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else
		fputs(s, stdout);
	putchar(last ? '\n' : ',');
}

int
ctl_capacity(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head[] = {
		"HOST", "METRIC", "CURRENT", "LIMIT", "TREND/DAY", "PREDICTED", "DAYS",
		"CONFIDENCE", "STATE",
	};
	/* Urgency is the date: the earliest first; resolved ones (--all) last. */
	static const char sql[] =
	    "SELECT host, metric, round(current::numeric, 3)::text AS current,"
	    " round(capacity_limit::numeric, 3)::text AS limit,"
	    " round(trend_per_day::numeric, 3)::text AS trend_per_day,"
	    " to_char(predicted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS predicted,"
	    " round((extract(epoch FROM predicted_at - now()) / 86400)::numeric, 1)::text AS days,"
	    " round(confidence::numeric, 2)::text AS confidence,"
	    " CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END AS state"
	    " FROM capacity_records"
	    " WHERE resolved_at IS NULL OR $1::bool"
	    " ORDER BY resolved_at IS NOT NULL, predicted_at, host, metric";
	const char	*params[1] = { "false" };
	bool		 csv = false;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "+jca", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctl->json = true;
			break;
		case 'c':
			csv = true;
			break;
		case 'a':
			params[0] = "true";
			break;
		default:
			fprintf(stderr, "itsmctl: capacity: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind != argc || (csv && ctl->json))
		ctl_usage(stderr, 1);
	if (csv) {
		PGresult *res = ctl_run(ctl_db(ctl), "capacity records", sql, 1, params);
		int ncols = PQnfields(res);
		for (int c = 0; c < ncols; c++)
			csv_field(PQfname(res, c), c == ncols - 1);
		for (int r = 0; r < PQntuples(res); r++)
			for (int c = 0; c < ncols; c++)
				csv_field(PQgetvalue(res, r, c), c == ncols - 1);
		PQclear(res);
		return 0;
	}
	ctl_query_print(ctl, "capacity records", sql, 1, params, head,
	    (int)(sizeof(head) / sizeof(head[0])), "no capacity record open");
	return 0;
}
