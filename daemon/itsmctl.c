/*
 * itsmctl.c: the operator's command line: apply schema migrations and list
 * incidents.  A short-lived program, so plain synchronous libpq is fine here;
 * it shares the core objects with the daemon only for conf_load().
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libpq-fe.h>

#include "itsmd.h"

#ifndef SCHEMADIR
#define SCHEMADIR	"/usr/local/share/itsmd/schema"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/usr/local/etc/itsmd"
#endif

/* "itsmd" in ASCII: the advisory lock that serializes concurrent migrates. */
#define MIGRATE_LOCK	"452925287780"

/* Core objects may refer to these; itsmctl runs no event loop. */
struct event_base	*itsmd_base;
volatile bool		 itsmd_stopping;

struct migration {
	int	 version;
	char	*name;		/* file name, e.g. 001_incidents.sql */
};

static _Noreturn void
usage(FILE *fp, int code)
{
	fprintf(fp,
	    "usage: itsmctl [-hV] [-c conf] [-d conninfo] command\n"
	    "commands:\n"
	    "  db migrate [-s schemadir]  apply the schema files not yet applied\n"
	    "  incidents [-a]             list open incidents; -a adds the 50 latest resolved\n"
	    "The database is -d, else `database` in the conf (default %s/itsmd.conf).\n"
	    "The schema directory is -s, else $ITSMD_SCHEMADIR, else %s.\n",
	    SYSCONFDIR, SCHEMADIR);
	exit(code);
}

static _Noreturn void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("itsmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* First line of a libpq message, which ends in a newline and may run on. */
static const char *
firstline(const char *msg)
{
	static char	buf[512];
	size_t		n;

	if (msg == NULL || *msg == '\0')
		return "unknown error";
	n = strcspn(msg, "\n");
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
	return buf;
}

/* The primary message of a failed result, without the "ERROR:  " prefix. */
static const char *
result_error(const PGresult *r)
{
	const char	*m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	return firstline(m != NULL ? m : PQresultErrorMessage(r));
}

static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *
connect_db(const char *conninfo)
{
	PQconninfoOption	*opts;
	PGconn			*conn;
	char			*err = NULL;

	/* A parse error quotes the conninfo around the mistake: maybe the password. */
	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		PQfreemem(err);
		die("cannot connect to database: invalid connection string");
	}
	PQconninfoFree(opts);

	conn = PQconnectdb(conninfo);
	if (conn == NULL)
		die("cannot connect to database: out of memory");
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect to database: %s", firstline(PQerrorMessage(conn)));
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	return conn;
}

/* Run a statement; on failure say what we were doing and exit. */
static PGresult *
run(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult	*r;
	ExecStatusType	 st;

	if (n > 0)
		r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	else
		r = PQexec(conn, sql);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if (PQstatus(conn) == CONNECTION_BAD)
			die("%s: %s", what, firstline(PQerrorMessage(conn)));
		die("%s: %s", what, result_error(r));
	}
	return r;
}

static void
exec_ok(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
	PQclear(run(conn, what, sql, n, params));
}

/* ------------------------------------------------------------- migrate */

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration	*x = a, *y = b;

	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* NNN_anything.sql, NNN at least one digit; anything else is not ours. */
static int
migration_version(const char *name)
{
	const char	*p = name;
	size_t		 len = strlen(name);
	long		 v;

	if (*p < '0' || *p > '9' || len < 6 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	v = 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > 1000000)
			return -1;
		p++;
	}
	if (*p != '_')
		return -1;
	return (int)v;
}

static struct migration *
migrations_list(const char *dir, size_t *np)
{
	struct migration	*v = NULL;
	struct dirent		*de;
	DIR			*d;
	size_t			 n = 0;
	int			 ver;

	if ((d = opendir(dir)) == NULL)
		die("schema directory %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if ((ver = migration_version(de->d_name)) < 0)
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n].version = ver;
		v[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(d);
	if (n == 0)
		die("schema directory %s: no NNN_*.sql files", dir);
	qsort(v, n, sizeof(*v), migration_cmp);
	for (size_t i = 1; i < n; i++)
		if (v[i].version == v[i - 1].version)
			die("schema directory %s: %s and %s have the same number",
			    dir, v[i - 1].name, v[i].name);
	*np = n;
	return v;
}

static char *
slurp(const char *path)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, got;
	char	 chunk[8192];

	if ((fp = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf = xreallocarray(buf, len + got + 1, 1);
		memcpy(buf + len, chunk, got);
		len += got;
	}
	if (ferror(fp))
		die("%s: read error", path);
	fclose(fp);
	if (buf == NULL)
		buf = xstrdup("");
	else
		buf[len] = '\0';
	return buf;
}

/*
 * Each file runs in its own transaction with its schema_version row, so a
 * failed file leaves nothing behind and a finished one is never rerun.  The
 * advisory lock makes a second migrate wait, then see the row and skip.
 */
static bool
migrate_one(PGconn *conn, const char *dir, const struct migration *m)
{
	const char	*lock[1] = { MIGRATE_LOCK };
	const char	*params[2];
	char		 ver[16], *path, *sql;
	PGresult	*r;
	bool		 have;

	snprintf(ver, sizeof(ver), "%d", m->version);
	params[0] = ver;
	params[1] = m->name;

	exec_ok(conn, "begin", "BEGIN", 0, NULL);
	exec_ok(conn, "lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock);
	exec_ok(conn, "schema_version",
	    "CREATE TABLE IF NOT EXISTS schema_version ("
	    " version int PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL);
	r = run(conn, "schema_version", "SELECT 1 FROM schema_version WHERE version = $1::int",
	    1, params);
	have = PQntuples(r) > 0;
	PQclear(r);
	if (have) {
		exec_ok(conn, "commit", "COMMIT", 0, NULL);
		return false;
	}

	path = xasprintf("%s/%s", dir, m->name);
	sql = slurp(path);
	/* PQexec runs a multi-statement script inside our open transaction. */
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("%s: %s; nothing applied from it", path,
		    PQstatus(conn) == CONNECTION_BAD ?
		    firstline(PQerrorMessage(conn)) : result_error(r));
	PQclear(r);
	exec_ok(conn, m->name,
	    "INSERT INTO schema_version (version, name) VALUES ($1::int, $2)", 2, params);
	exec_ok(conn, m->name, "COMMIT", 0, NULL);
	free(sql);
	free(path);
	return true;
}

static int
cmd_migrate(PGconn *conn, const char *dir)
{
	struct migration	*v;
	size_t			 n;
	int			 applied = 0;
	PGresult		*r;

	v = migrations_list(dir, &n);
	for (size_t i = 0; i < n; i++) {
		if (migrate_one(conn, dir, &v[i])) {
			printf("applied %s\n", v[i].name);
			fflush(stdout);
			applied++;
		}
	}
	if (applied == 0) {
		r = run(conn, "schema_version",
		    "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL);
		printf("schema is up to date (version %s)\n", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return 0;
}

/* ----------------------------------------------------------- incidents */

/* Columns are padded by characters, not bytes, so UTF-8 names line up. */
static size_t
textwidth(const char *s)
{
	size_t	w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
putcell(const char *s, size_t width, bool last)
{
	for (const char *p = s; *p != '\0'; p++)
		putchar(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
	if (!last)
		for (size_t w = textwidth(s); w < width + 2; w++)
			putchar(' ');
}

static void
print_table(const PGresult *r, const char *const *head, int ncols)
{
	size_t	width[16];
	int	rows = PQntuples(r);

	for (int c = 0; c < ncols; c++) {
		width[c] = textwidth(head[c]);
		for (int i = 0; i < rows; i++)
			if (textwidth(PQgetvalue(r, i, c)) > width[c])
				width[c] = textwidth(PQgetvalue(r, i, c));
	}
	for (int c = 0; c < ncols; c++)
		putcell(head[c], width[c], c == ncols - 1);
	putchar('\n');
	for (int i = 0; i < rows; i++) {
		for (int c = 0; c < ncols; c++)
			putcell(PQgetvalue(r, i, c), width[c], c == ncols - 1);
		putchar('\n');
	}
}

#define TS(col)	"to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

static int
cmd_incidents(PGconn *conn, bool all)
{
	static const char *const head_open[] = {
		"ID", "HOST", "CHECK", "SEVERITY", "OPENED", "LAST-SEEN", "SUMMARY",
	};
	static const char *const head_all[] = {
		"ID", "HOST", "CHECK", "SEVERITY", "OPENED", "LAST-SEEN", "RESOLVED", "SUMMARY",
	};
	static const char sql_open[] =
	    "SELECT id, host, check_name, severity, " TS("opened_at") ", "
	    TS("last_seen_at") ", summary"
	    " FROM incidents WHERE resolved_at IS NULL ORDER BY opened_at, id";
	/* Open ones first (oldest first), then the latest resolved. */
	static const char sql_all[] =
	    "SELECT id, host, check_name, severity, " TS("opened_at") ", "
	    TS("last_seen_at") ", coalesce(" TS("resolved_at") ", '-'), summary"
	    " FROM ("
	    "  (SELECT * FROM incidents WHERE resolved_at IS NULL)"
	    "  UNION ALL"
	    "  (SELECT * FROM incidents WHERE resolved_at IS NOT NULL"
	    "   ORDER BY resolved_at DESC, id DESC LIMIT 50)"
	    " ) i ORDER BY resolved_at IS NOT NULL,"
	    "  CASE WHEN resolved_at IS NULL THEN opened_at END, resolved_at DESC, id";
	PGresult	*r;
	ExecStatusType	 st;
	const char	*state;

	r = PQexec(conn, all ? sql_all : sql_open);
	st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK) {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P01") == 0)
			die("no incidents table; run `itsmctl db migrate` first");
		die("cannot list incidents: %s", PQstatus(conn) == CONNECTION_BAD ?
		    firstline(PQerrorMessage(conn)) : result_error(r));
	}
	if (PQntuples(r) == 0)
		printf("%s\n", all ? "no incidents" : "no open incidents");
	else if (all)
		print_table(r, head_all, 8);
	else
		print_table(r, head_open, 7);
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- main */

static char *
conninfo_from_conf(const char *path)
{
	struct conf_err	 err = { 0 };
	struct config	*conf;
	char		*ci;

	if ((conf = conf_load(path, &err)) == NULL)
		die("%s: %d error%s in the configuration", path, err.count,
		    err.count == 1 ? "" : "s");
	if (conf->database == NULL || *conf->database == '\0')
		die("%s: no `database` set; give one with -d", path);
	ci = xstrdup(conf->database);
	conf_free(conf);
	return ci;
}

int
main(int argc, char **argv)
{
	const char	*confpath = SYSCONFDIR "/itsmd.conf";
	const char	*schemadir = getenv("ITSMD_SCHEMADIR");
	char		*conninfo = NULL;
	PGconn		*conn;
	bool		 migrate, all = false;
	int		 ch, rc;

	log_init("itsmctl", true, LOG_WARNING);
	while ((ch = getopt(argc, argv, "+c:d:hV")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'd':
			free(conninfo);
			conninfo = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout, 0);
		case 'V':
			printf("itsmctl %s\n", ITSMD_VERSION);
			return 0;
		default:
			usage(stderr, 1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(stderr, 1);

	/* The whole command line is checked before the conf or the database. */
	if (strcmp(argv[0], "db") == 0) {
		if (argc < 2 || strcmp(argv[1], "migrate") != 0)
			usage(stderr, 1);
		migrate = true;
		argc--;
		argv++;
	} else if (strcmp(argv[0], "incidents") == 0)
		migrate = false;
	else
		usage(stderr, 1);
	if (schemadir == NULL || *schemadir == '\0')
		schemadir = SCHEMADIR;
	optind = 0;		/* glibc: start over on the command's own words */
	opterr = 0;		/* getopt would name argv[0], the command */
	while ((ch = getopt(argc, argv, migrate ? "+s:" : "+a")) != -1) {
		switch (ch) {
		case 's':
			schemadir = optarg;
			break;
		case 'a':
			all = true;
			break;
		default:
			fprintf(stderr, "itsmctl: %s: %s -%c\n", argv[0],
			    ch == ':' || (optopt == 's' && migrate) ?
			    "missing argument to" : "unknown option", optopt);
			usage(stderr, 1);
		}
	}
	if (optind != argc)
		usage(stderr, 1);

	if (conninfo == NULL)
		conninfo = conninfo_from_conf(confpath);
	conn = connect_db(conninfo);
	explicit_bzero(conninfo, strlen(conninfo));
	free(conninfo);

	rc = migrate ? cmd_migrate(conn, schemadir) : cmd_incidents(conn, all);
	PQfinish(conn);
	return rc;
}
