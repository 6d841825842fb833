/*
 * sla.c: `itsmctl sla`: service-level figures per SLA for a period (table,
 * --json, --csv) and `itsmctl sla report -o DIR`, the report for all
 * services at once as three files.  The arithmetic is sla_reports() in
 * schema/004_sla.sql, which the HTTP API's GET /sla runs too.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itsmd.h"
#include "itsmctl.h"

/* For programs: every figure, seconds rounded to the millisecond. */
#define SLA_FROM	" FROM sla_reports($1, $2, $3)"
#define SLA_FROM_TEMP	" FROM sla_out ORDER BY service, sla"	/* `sla report` */
static const char sla_sql_raw[] = "SELECT *" SLA_FROM;

/*
 * For people: durations as [Nd ]HH:MM:SS; the achieved percentage cut (not
 * rounded) to three decimals, so 99.9996% never shows as 100.000%; the
 * period as local dates, both included; the maintenance policy beside the
 * maintenance time, since it decides what the figures mean.
 */
#define SLA_TABLE_COLS \
    "SELECT service, sla," \
    " to_char(period_from AT TIME ZONE time_zone, 'YYYY-MM-DD') || '..' ||" \
    " to_char((period_to AT TIME ZONE time_zone) - interval '1 day', 'YYYY-MM-DD') ||" \
    " CASE WHEN time_zone <> 'UTC' THEN ' ' || time_zone ELSE '' END," \
    " target::text || '%'," \
    " trunc(achieved_pct, 3)::text || '%'," \
    " sla_duration(down_s::float8), sla_duration(budget_left_s::float8)," \
    " incidents::text, sla_duration(mttr_s::float8), sla_duration(mtbf_s::float8)," \
    " sla_duration(unknown_s::float8)," \
    " CASE maintenance_policy WHEN 'up' THEN 'as up ' ELSE 'excluded ' END ||" \
    " sla_duration(maintenance_s::float8)"
static const char sla_sql_table[] = SLA_TABLE_COLS SLA_FROM;

static const char *const sla_head[] = {
	"SERVICE", "SLA", "PERIOD", "TARGET", "ACHIEVED", "DOWNTIME", "BUDGET LEFT",
	"INCIDENTS", "MTTR", "MTBF", "UNKNOWN", "MAINTENANCE",
};
#define SLA_NHEAD	(int)(sizeof(sla_head) / sizeof(sla_head[0]))

static const char sla_none[] = "no SLA defined (or none matches)";

/* RFC 4180: quote every field that needs it, double the quotes inside. */
static void
csv_field(FILE *fp, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', fp);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', fp);
			fputc(*s, fp);
		}
		fputc('"', fp);
	} else
		fputs(s, fp);
	fputc(last ? '\n' : ',', fp);
}

static void
csv_print(FILE *fp, const PGresult *res)
{
	int	ncols = PQnfields(res);

	for (int c = 0; c < ncols; c++)
		csv_field(fp, PQfname(res, c), c == ncols - 1);
	for (int r = 0; r < PQntuples(res); r++)
		for (int c = 0; c < ncols; c++)
			csv_field(fp, PQgetvalue(res, r, c), c == ncols - 1);
}

static const char *const sla_legend =
    "MTTR: mean service-hours downtime per incident; MTBF: service-hours up time\n"
    "per incident; UNKNOWN: no data, counted neither up nor down.\n";

/*
 * One file of the report: written beside its name and renamed over it, so a
 * reader never sees half a report.  The table printer writes to stdout,
 * so stdout is pointed at the file for the duration.
 */
static void
report_file(PGconn *conn, const char *dir, const char *base, const char *ext,
    const char *period)
{
	char		*path = xasprintf("%s/%s.%s", dir, base, ext);
	char		*tmp = xasprintf("%s.tmp", path);
	PGresult	*res;
	FILE		*fp;
	int		 saved, fd;

	/* The query first: a failure leaves no half-written file behind. */
	if (strcmp(ext, "json") == 0)
		res = ctl_run(conn, "SLA report",
		    "SELECT coalesce(json_agg(q), '[]') FROM (SELECT *" SLA_FROM_TEMP ") q",
		    0, NULL);
	else if (strcmp(ext, "csv") == 0)
		res = ctl_run(conn, "SLA report", "SELECT *" SLA_FROM_TEMP, 0, NULL);
	else
		res = ctl_run(conn, "SLA report", SLA_TABLE_COLS SLA_FROM_TEMP, 0, NULL);
	if ((fp = fopen(tmp, "w")) == NULL)
		ctl_die("%s: %s", tmp, strerror(errno));
	if (strcmp(ext, "json") == 0)
		fprintf(fp, "%s\n", PQgetvalue(res, 0, 0));
	else if (strcmp(ext, "csv") == 0)
		csv_print(fp, res);
	else {
		fflush(stdout);
		if ((saved = dup(STDOUT_FILENO)) == -1 ||
		    (fd = fileno(fp)) == -1 || dup2(fd, STDOUT_FILENO) == -1)
			ctl_die("%s: %s", tmp, strerror(errno));
		printf("SLA report, period %s\n\n", period[0] ? period : "current");
		if (PQntuples(res) == 0)
			printf("%s\n", sla_none);
		else
			ctl_print_table(res, sla_head, SLA_NHEAD);
		printf("\n%s", sla_legend);
		fflush(stdout);
		if (dup2(saved, STDOUT_FILENO) == -1)
			ctl_die("stdout: %s", strerror(errno));
		close(saved);
	}
	PQclear(res);
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) == -1)
		ctl_die("%s: %s", tmp, strerror(errno));
	fclose(fp);
	if (rename(tmp, path) == -1)
		ctl_die("%s: %s", path, strerror(errno));
	printf("wrote %s\n", path);
	free(tmp);
	free(path);
}

/* A period label safe as part of a file name: the spec's own characters. */
static bool
period_ok(const char *p)
{
	if (strlen(p) > 32)
		return false;
	for (; *p; p++)
		if (!(*p >= '0' && *p <= '9') && !(*p >= 'a' && *p <= 'z') &&
		    !(*p >= 'A' && *p <= 'Z') && *p != '-')
			return false;
	return true;
}

int
ctl_sla(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'C' },
		{ "service", required_argument, NULL, 's' },
		{ "sla", required_argument, NULL, 'n' },
		{ "period", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*params[3] = { "", "", "" };	/* period, service, sla */
	const char	*dir = NULL;
	bool		 csv = false, report = false;
	int		 ch;

	if (argc > 1 && strcmp(argv[1], "report") == 0) {
		report = true;
		argc--;
		argv++;
	}
	while ((ch = getopt_long(argc, argv, "+s:n:p:o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctl->json = true;
			break;
		case 'C':
			csv = true;
			break;
		case 's':
			params[1] = optarg;
			break;
		case 'n':
			params[2] = optarg;
			break;
		case 'p':
			params[0] = optarg;
			break;
		case 'o':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "itsmctl: sla: %s\n", ch == ':' ?
			    "missing argument" : "unknown option");
			ctl_usage(stderr, 1);
		}
	}
	if (optind != argc || (csv && ctl->json) || (report != (dir != NULL)) ||
	    (report && (csv || ctl->json)))
		ctl_usage(stderr, 1);
	if (!period_ok(params[0]))
		ctl_die("sla: period \"%s\": want YYYY, YYYY-Qn, YYYY-MM, YYYY-Www, "
		    "YYYY-MM-DD, current or previous", params[0]);

	if (report) {
		struct stat	 st;
		char		*base;
		PGconn		*conn;

		if (stat(dir, &st) == -1 && (errno != ENOENT || mkdir(dir, 0755) == -1))
			ctl_die("%s: %s", dir, strerror(errno));
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
			ctl_die("%s: not a directory", dir);
		conn = ctl_db(ctl);
		/* The figures once, then three renderings of them. */
		ctl_exec(conn, "SLA report", "CREATE TEMP TABLE sla_out AS SELECT *" SLA_FROM,
		    3, params);
		base = xasprintf("sla-%s", params[0][0] ? params[0] : "current");
		report_file(conn, dir, base, "txt", params[0]);
		report_file(conn, dir, base, "csv", params[0]);
		report_file(conn, dir, base, "json", params[0]);
		free(base);
		return 0;
	}
	if (csv) {
		PGresult *res = ctl_run(ctl_db(ctl), "SLA report", sla_sql_raw, 3, params);
		csv_print(stdout, res);
		PQclear(res);
		return 0;
	}
	if (ctl->json) {
		ctl_query_print(ctl, "SLA report", sla_sql_raw, 3, params, sla_head,
		    SLA_NHEAD, sla_none);
		return 0;
	}
	ctl_query_print(ctl, "SLA report", sla_sql_table, 3, params, sla_head,
	    SLA_NHEAD, sla_none);
	return 0;
}
