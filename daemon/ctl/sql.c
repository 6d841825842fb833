/*
 * sql.c: itsmctl's way to the database: connect without ever echoing the
 * connection string, run a statement, and on failure say what was being
 * done and exit.
 */
#include <string.h>

#include "itsmd.h"
#include "itsmctl.h"

/* First line of a libpq message, which ends in a newline and may run on. */
const char *
ctl_firstline(const char *msg)
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
const char *
ctl_result_error(const PGresult *r)
{
	const char	*m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	return ctl_firstline(m != NULL ? m : PQresultErrorMessage(r));
}

static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *
ctl_connect(const char *conninfo)
{
	PQconninfoOption	*opts;
	PGconn			*conn;
	char			*err = NULL;

	/* A parse error quotes the conninfo around the mistake: maybe the password. */
	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		PQfreemem(err);
		ctl_die("cannot connect to database: invalid connection string");
	}
	PQconninfoFree(opts);

	conn = PQconnectdb(conninfo);
	if (conn == NULL)
		ctl_die("cannot connect to database: out of memory");
	if (PQstatus(conn) != CONNECTION_OK)
		ctl_die("cannot connect to database: %s", ctl_firstline(PQerrorMessage(conn)));
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	return conn;
}

PGresult *
ctl_run(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult	*r;
	ExecStatusType	 st;
	const char	*state;

	if (n > 0)
		r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	else
		r = PQexec(conn, sql);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char	 msg[1024];
		bool	 nomigrate;

		/* The words first: they live in r, which goes before exit. */
		if (PQstatus(conn) == CONNECTION_BAD) {
			snprintf(msg, sizeof(msg), "%s", ctl_firstline(PQerrorMessage(conn)));
			nomigrate = false;
		} else {
			state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			nomigrate = state != NULL && strcmp(state, "42P01") == 0;
			snprintf(msg, sizeof(msg), "%s", ctl_result_error(r));
		}
		PQclear(r);
		ctl_die("%s: %s%s", what, msg, nomigrate ? "; run `itsmctl db migrate` first" : "");
	}
	return r;
}

void
ctl_exec(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
	PQclear(ctl_run(conn, what, sql, n, params));
}
