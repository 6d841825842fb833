/*
 * migrate.c: `itsmctl db migrate`: apply schema/NNN_*.sql files in order,
 * each once, each in its own transaction with its schema_version row.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"
#include "itsmctl.h"

#ifndef SCHEMADIR
#define SCHEMADIR	"/usr/local/share/itsmd/schema"
#endif

/* "itsmd" in ASCII: the advisory lock that serializes concurrent migrates. */
#define MIGRATE_LOCK	"452925287780"

struct migration {
	int	 version;
	char	*name;		/* file name, e.g. 001_incidents.sql */
};

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
		ctl_die("schema directory %s: %s", dir, strerror(errno));
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
		ctl_die("schema directory %s: no NNN_*.sql files", dir);
	qsort(v, n, sizeof(*v), migration_cmp);
	for (size_t i = 1; i < n; i++)
		if (v[i].version == v[i - 1].version)
			ctl_die("schema directory %s: %s and %s have the same number",
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
		ctl_die("%s: %s", path, strerror(errno));
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf = xreallocarray(buf, len + got + 1, 1);
		memcpy(buf + len, chunk, got);
		len += got;
	}
	if (ferror(fp))
		ctl_die("%s: read error", path);
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

	ctl_exec(conn, "begin", "BEGIN", 0, NULL);
	ctl_exec(conn, "lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock);
	ctl_exec(conn, "schema_version",
	    "CREATE TABLE IF NOT EXISTS schema_version ("
	    " version int PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL);
	r = ctl_run(conn, "schema_version", "SELECT 1 FROM schema_version WHERE version = $1::int",
	    1, params);
	have = PQntuples(r) > 0;
	PQclear(r);
	if (have) {
		ctl_exec(conn, "commit", "COMMIT", 0, NULL);
		return false;
	}

	path = xasprintf("%s/%s", dir, m->name);
	sql = slurp(path);
	/* PQexec runs a multi-statement script inside our open transaction. */
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		ctl_die("%s: %s; nothing applied from it", path,
		    PQstatus(conn) == CONNECTION_BAD ?
		    ctl_firstline(PQerrorMessage(conn)) : ctl_result_error(r));
	PQclear(r);
	ctl_exec(conn, m->name,
	    "INSERT INTO schema_version (version, name) VALUES ($1::int, $2)", 2, params);
	ctl_exec(conn, m->name, "COMMIT", 0, NULL);
	free(sql);
	free(path);
	return true;
}

int
ctl_migrate(struct ctl *ctl, int argc, char **argv)
{
	const char		*dir = getenv("ITSMD_SCHEMADIR");
	struct migration	*v;
	size_t			 n;
	int			 applied = 0, ch;
	PGresult		*r;
	PGconn			*conn;

	if (dir == NULL || *dir == '\0')
		dir = SCHEMADIR;
	while ((ch = getopt(argc, argv, "+s:")) != -1) {
		if (ch != 's') {
			fprintf(stderr, "itsmctl: db migrate: %s -%c\n", ch == ':' ?
			    "missing argument to" : "unknown option", optopt);
			ctl_usage(stderr, 1);
		}
		dir = optarg;
	}
	if (optind != argc)
		ctl_usage(stderr, 1);
	v = migrations_list(dir, &n);
	conn = ctl_db(ctl);
	for (size_t i = 0; i < n; i++) {
		if (migrate_one(conn, dir, &v[i])) {
			printf("applied %s\n", v[i].name);
			fflush(stdout);
			applied++;
		}
	}
	if (applied == 0) {
		r = ctl_run(conn, "schema_version",
		    "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL);
		printf("schema is up to date (version %s)\n", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return 0;
}

