/*
 * db.c: the daemon's one PostgreSQL connection, driven by the event loop with
 * libpq's non-blocking API.  Statements wait in a FIFO and run one at a time,
 * so they reach the database in the order they were submitted.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "itsmd.h"

#define DB_BACKOFF_MIN_MS	1000
#define DB_BACKOFF_MAX_MS	30000
/*
 * libpq enforces connect_timeout only in its blocking calls, and a peer that
 * vanishes without a reset leaves a query waiting forever: our own deadlines.
 */
#define DB_CONNECT_TIMEOUT_MS	10000
#define DB_ANSWER_TIMEOUT_MS	60000

/* struct pg_result is only ever a PGresult seen through the accessors. */
#define PGRES(r)	((const PGresult *)(const void *)(r))

/*
 * One statement.  sql belongs to the caller (a string literal); params are
 * our copies, since the caller's strings may be gone before we send.
 */
struct db_job {
	struct db_job	 *next;
	const char	 *sql;
	int		  nparams;
	char		**params;
	db_cb		  cb;
	void		 *arg;
};

/*
 * DOWN: no connection; the retry timer is armed.
 * CONNECTING: PQconnectPoll decides whether we wait to read or to write.
 * IDLE: connected, nothing in flight; we still watch the socket so that a
 *     server restart is noticed now and not when the next statement fails.
 * BUSY: one job sent; flushing while `flushing`, then collecting results.
 */
enum db_state { DB_DOWN, DB_CONNECTING, DB_IDLE, DB_BUSY };

static struct {
	struct event_base *base;
	char		*conninfo;	/* secret: never logged */
	PGconn		*conn;
	enum db_state	 state;
	struct event	*ev;		/* on the socket; rebuilt when fd or events change */
	int		 ev_fd;
	short		 ev_what;
	struct event	*retry;
	struct event	*deadline;	/* connect or answer overdue */
	uint64_t	 backoff_ms;
	bool		 down_logged;	/* loss reported, recovery not yet */
	bool		 ever_up;
	bool		 badinfo;	/* conninfo does not parse: never try */
	char		 goodbye[256];	/* the server's last words, if any */

	struct db_job	*head, *tail;	/* waiting */
	int		 nqueued;
	struct db_job	*cur;		/* in flight */
	bool		 flushing;
	PGresult	*res;		/* result of cur, kept until the query ends */
} db;

static void	db_connect(void);
static void	db_io(evutil_socket_t, short, void *);
static void	db_kick(void);

/* libpq messages end in a newline and may run to several lines: keep the first. */
static void
db_reason(const char *msg, char *buf, size_t len)
{
	size_t	n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	n = strcspn(msg, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(buf, msg, n);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
}

static void
db_job_free(struct db_job *j)
{
	for (int i = 0; i < j->nparams; i++)
		free(j->params[i]);
	free(j->params);
	free(j);
}

static void
db_job_finish(struct db_job *j, const PGresult *res, const char *error)
{
	if (j->cb != NULL)
		j->cb(j->arg, (const struct pg_result *)(const void *)res, error);
	db_job_free(j);
}

static void
db_push_head(struct db_job *j)
{
	j->next = db.head;
	db.head = j;
	if (db.tail == NULL)
		db.tail = j;
	db.nqueued++;
}

static struct db_job *
db_pop(void)
{
	struct db_job	*j = db.head;

	if (j == NULL)
		return NULL;
	db.head = j->next;
	if (db.head == NULL)
		db.tail = NULL;
	j->next = NULL;
	db.nqueued--;
	return j;
}

static void
db_unwatch(void)
{
	if (db.ev != NULL) {
		event_free(db.ev);
		db.ev = NULL;
	}
	db.ev_fd = -1;
	db.ev_what = 0;
}

/* Watch the connection's current socket; libpq may change it while connecting. */
static void
db_watch(short what)
{
	int	fd = PQsocket(db.conn);

	if (db.ev != NULL && fd == db.ev_fd && what == db.ev_what)
		return;
	db_unwatch();
	if (fd < 0)
		return;
	db.ev = event_new(db.base, fd, what, db_io, NULL);
	if (db.ev == NULL || event_add(db.ev, NULL) == -1)
		fatalx("postgres: cannot add socket event");
	db.ev_fd = fd;
	db.ev_what = what;
}

/* Connect or answer must come within ms, else the connection is given up. */
static void
db_arm(uint64_t ms)
{
	struct timeval	tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(db.deadline, &tv);
}

/*
 * Without this libpq prints server notices on stderr.  A server that shuts
 * down says why before it closes the socket (SQLSTATE 57P01..57P03): keep
 * that as the reason, better than libpq's "server closed the connection".
 */
static void
db_notice(void *arg, const PGresult *r)
{
	const char	*state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char	*msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char		 reason[256];

	(void)arg;
	db_reason(msg != NULL ? msg : PQresultErrorMessage(r), reason, sizeof(reason));
	log_debug("postgres: %s", reason);
	if (state != NULL && strncmp(state, "57P", 3) == 0)
		memcpy(db.goodbye, reason, sizeof(db.goodbye));
}

/*
 * The connection is gone, or never came up.  The job in flight may or may
 * not have run; it goes back to the head of the queue (statements are
 * replay-safe by contract) so order is kept.  Only the first failure of a
 * streak is logged.
 */
static void
db_fail(const char *why)
{
	char		reason[256];
	struct timeval	tv;

	db_reason(db.goodbye[0] != '\0' ? db.goodbye : why, reason, sizeof(reason));
	db.goodbye[0] = '\0';
	if (db.res != NULL) {
		PQclear(db.res);
		db.res = NULL;
	}
	if (db.cur != NULL) {
		db_push_head(db.cur);
		db.cur = NULL;
	}
	db.flushing = false;
	db_unwatch();
	evtimer_del(db.deadline);
	if (db.conn != NULL) {
		PQfinish(db.conn);
		db.conn = NULL;
	}
	if (!db.down_logged) {
		if (db.ever_up)
			log_warnx("postgres: connection lost (%s); %d statements queued",
			    reason, db_pending());
		else
			log_warnx("postgres: cannot connect (%s); %d statements queued",
			    reason, db_pending());
		db.down_logged = true;
	} else
		log_debug("postgres: reconnect failed (%s)", reason);

	db.state = DB_DOWN;
	tv.tv_sec = db.backoff_ms / 1000;
	tv.tv_usec = (db.backoff_ms % 1000) * 1000;
	evtimer_add(db.retry, &tv);
	db.backoff_ms *= 2;
	if (db.backoff_ms > DB_BACKOFF_MAX_MS)
		db.backoff_ms = DB_BACKOFF_MAX_MS;
}

static void
db_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	db_connect();
}

static void
db_overdue(evutil_socket_t fd, short what, void *arg)
{
	char	why[64];

	(void)fd;
	(void)what;
	(void)arg;
	if (db.state == DB_CONNECTING)
		snprintf(why, sizeof(why), "no connection after %ds",
		    DB_CONNECT_TIMEOUT_MS / 1000);
	else
		snprintf(why, sizeof(why), "no answer after %ds",
		    DB_ANSWER_TIMEOUT_MS / 1000);
	db_fail(why);
}

static void
db_connected(void)
{
	evtimer_del(db.deadline);
	if (PQsetnonblocking(db.conn, 1) == -1) {
		db_fail(PQerrorMessage(db.conn));
		return;
	}
	db.state = DB_IDLE;
	db.backoff_ms = DB_BACKOFF_MIN_MS;
	db.ever_up = true;
	if (db.down_logged)
		log_info("postgres: connected; %d statements queued", db_pending());
	else
		log_info("postgres: connected");
	db.down_logged = false;
	db_kick();
}

/* One step of the connect state machine, as PQconnectPoll asks. */
static void
db_poll_connect(void)
{
	switch (PQconnectPoll(db.conn)) {
	case PGRES_POLLING_READING:
		db_watch(EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		db_watch(EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		db_connected();
		break;
	case PGRES_POLLING_FAILED:
	default:
		db_fail(PQerrorMessage(db.conn));
		break;
	}
}

static void
db_connect(void)
{
	db.state = DB_CONNECTING;
	if (db.badinfo) {
		db_fail("invalid connection string");
		return;
	}
	db.conn = PQconnectStart(db.conninfo);
	if (db.conn == NULL)
		fatalx("postgres: out of memory");
	if (PQstatus(db.conn) == CONNECTION_BAD) {
		db_fail(PQerrorMessage(db.conn));
		return;
	}
	PQsetNoticeReceiver(db.conn, db_notice, NULL);
	db_arm(DB_CONNECT_TIMEOUT_MS);
	/* libpq: before the first poll, behave as if it had said WRITING. */
	db_watch(EV_WRITE);
}

/*
 * An error that says the server is going away (admin shutdown, crash
 * recovery) or the link failed means the statement may never have run:
 * retry it rather than drop it.
 */
static bool
db_error_is_connection(const PGresult *r)
{
	const char	*state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (state == NULL)
		return true;		/* made up by libpq: the link, not the SQL */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/*
 * Errors of the moment, not of the statement: a serialization failure or
 * deadlock (class 40), the server out of disk or memory (class 53), a
 * statement or lock timeout an admin set (57014, 55P03).  The same
 * statement succeeds later, so it is retried, never dropped: an incident
 * must survive a full disk on the database server.
 */
static bool
db_error_is_transient(const PGresult *r)
{
	const char	*state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return state != NULL && (strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0);
}

/* Send the head of the queue, if we are connected and nothing is in flight. */
static void
db_kick(void)
{
	struct db_job	*j;

	while (db.state == DB_IDLE && db.head != NULL) {
		j = db_pop();
		db.cur = j;
		if (!PQsendQueryParams(db.conn, j->sql, j->nparams, NULL,
		    (const char *const *)j->params, NULL, NULL, 0)) {
			char	reason[256];

			if (PQstatus(db.conn) == CONNECTION_BAD) {
				db_fail(PQerrorMessage(db.conn));
				return;
			}
			db_reason(PQerrorMessage(db.conn), reason, sizeof(reason));
			log_warnx("postgres: cannot send statement (%s); dropped", reason);
			db.cur = NULL;
			db_job_finish(j, NULL, reason);
			continue;
		}
		db.state = DB_BUSY;
		db.flushing = true;
		db_arm(DB_ANSWER_TIMEOUT_MS);
	}
	if (db.state == DB_BUSY && db.flushing) {
		switch (PQflush(db.conn)) {
		case -1:
			db_fail(PQerrorMessage(db.conn));
			return;
		case 0:
			db.flushing = false;
			break;
		default:
			break;
		}
	}
	if (db.state == DB_IDLE || db.state == DB_BUSY)
		db_watch(db.flushing ? EV_READ | EV_WRITE | EV_PERSIST :
		    EV_READ | EV_PERSIST);
}

/* The query in flight has returned its last result. */
static void
db_query_done(void)
{
	struct db_job	*j = db.cur;
	PGresult	*r = db.res;
	ExecStatusType	 st;
	char		 reason[256];

	if (PQstatus(db.conn) == CONNECTION_BAD ||
	    (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR &&
	    db_error_is_connection(r))) {
		db_fail(r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(db.conn));
		return;
	}
	if (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR && db_error_is_transient(r)) {
		/* Through the reconnect path: the statement goes back to the
		 * head of the queue and is sent again after the backoff. */
		db_reason(PQresultErrorMessage(r), reason, sizeof(reason));
		if (!db.down_logged)
			log_warnx("postgres: statement failed for now (%s, SQLSTATE %s); "
			    "kept and retried", reason, PQresultErrorField(r, PG_DIAG_SQLSTATE));
		db_fail(PQresultErrorMessage(r));
		return;
	}
	evtimer_del(db.deadline);
	db.cur = NULL;
	db.res = NULL;
	db.state = DB_IDLE;

	st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		db_job_finish(j, r, NULL);
	else {
		const char	*msg = NULL;

		/* The primary message, without libpq's "ERROR:  " prefix. */
		if (r != NULL &&
		    (msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) == NULL)
			msg = PQresultErrorMessage(r);
		db_reason(msg != NULL ? msg : "no result", reason, sizeof(reason));
		log_warnx("postgres: statement failed (%s); dropped: %.60s",
		    reason, j->sql);
		db_job_finish(j, NULL, reason);
	}
	if (r != NULL)
		PQclear(r);
	db_kick();
}

static void
db_io(evutil_socket_t fd, short what, void *arg)
{
	PGresult	*r;

	(void)fd;
	(void)arg;

	if (db.state == DB_CONNECTING) {
		db_poll_connect();
		return;
	}
	if ((what & EV_READ) && !PQconsumeInput(db.conn)) {
		db_fail(PQerrorMessage(db.conn));
		return;
	}
	if (db.state == DB_IDLE) {
		PGnotify	*n;

		/*
		 * Nothing asked for: parse what arrived (a notice, the server's
		 * goodbye) so it is not taken for the next statement's answer.
		 */
		while ((n = PQnotifies(db.conn)) != NULL)
			PQfreemem(n);
		if (PQstatus(db.conn) == CONNECTION_BAD)
			db_fail(PQerrorMessage(db.conn));
		return;
	}
	if (db.flushing) {
		int	rc = PQflush(db.conn);

		if (rc == -1) {
			db_fail(PQerrorMessage(db.conn));
			return;
		}
		if (rc == 0) {
			db.flushing = false;
			db_watch(EV_READ | EV_PERSIST);
		}
	}
	while (db.state == DB_BUSY && !PQisBusy(db.conn)) {
		r = PQgetResult(db.conn);
		if (r == NULL) {
			db_query_done();
			return;
		}
		/* Keep the first error, else the last result. */
		if (db.res != NULL && PQresultStatus(db.res) == PGRES_FATAL_ERROR)
			PQclear(r);
		else {
			if (db.res != NULL)
				PQclear(db.res);
			db.res = r;
		}
	}
	if (PQstatus(db.conn) == CONNECTION_BAD)
		db_fail(PQerrorMessage(db.conn));
}

/*
 * libpq's parse errors quote the text around the mistake, which may be the
 * password; check first so that such a message is never logged.
 */
static bool
db_conninfo_ok(const char *conninfo)
{
	PQconninfoOption	*opts;
	char			*err = NULL;

	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		PQfreemem(err);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

void
db_init(struct event_base *base, const char *conninfo)
{
	struct db_job	*head = db.head, *tail = db.tail;
	int		 nqueued = db.nqueued;

	/* Statements queued before init are kept, not lost. */
	memset(&db, 0, sizeof(db));
	db.head = head;
	db.tail = tail;
	db.nqueued = nqueued;
	db.base = base;
	db.conninfo = xstrdup(conninfo != NULL ? conninfo : "");
	db.ev_fd = -1;
	db.backoff_ms = DB_BACKOFF_MIN_MS;
	db.badinfo = !db_conninfo_ok(db.conninfo);
	db.retry = evtimer_new(base, db_retry, NULL);
	db.deadline = evtimer_new(base, db_overdue, NULL);
	if (db.retry == NULL || db.deadline == NULL)
		fatalx("postgres: cannot create timers");
	db_connect();
}

void
db_exec(const char *sql, int nparams, const char *const *params, db_cb cb, void *arg)
{
	struct db_job	*j = xcalloc(1, sizeof(*j));

	j->sql = sql;
	j->nparams = nparams;
	if (nparams > 0) {
		j->params = xcalloc(nparams, sizeof(*j->params));
		for (int i = 0; i < nparams; i++)
			j->params[i] = params[i] != NULL ? xstrdup(params[i]) : NULL;
	}
	j->cb = cb;
	j->arg = arg;
	if (db.tail != NULL)
		db.tail->next = j;
	else
		db.head = j;
	db.tail = j;
	db.nqueued++;
	if (db.state == DB_IDLE)
		db_kick();
}

/* Connected: a statement queued now goes out at once. */
bool
db_up(void)
{
	return db.state == DB_IDLE || db.state == DB_BUSY;
}

int
db_pending(void)
{
	return db.nqueued + (db.cur != NULL ? 1 : 0);
}

/*
 * Whatever has not been written is lost; callbacks still run (with an
 * error) so that their owners can free what they passed as arg.
 */
void
db_shutdown(void)
{
	struct db_job	*j;
	int		 n = db_pending();

	if (db.base == NULL)
		return;
	if (n > 0)
		log_warnx("postgres: %d statements not written", n);
	if (db.cur != NULL) {
		db_push_head(db.cur);
		db.cur = NULL;
	}
	if (db.res != NULL)
		PQclear(db.res);
	db_unwatch();
	event_free(db.retry);
	event_free(db.deadline);
	if (db.conn != NULL)
		PQfinish(db.conn);
	while ((j = db_pop()) != NULL)
		db_job_finish(j, NULL, "not written: shutting down");
	if (db.conninfo != NULL) {
		explicit_bzero(db.conninfo, strlen(db.conninfo));
		free(db.conninfo);
	}
	memset(&db, 0, sizeof(db));
}

int
db_ntuples(const struct pg_result *r)
{
	return r != NULL ? PQntuples(PGRES(r)) : 0;
}

/* NULL for SQL NULL (libpq would say ""), so callers can tell them apart. */
const char *
db_value(const struct pg_result *r, int row, int col)
{
	if (r == NULL || row < 0 || col < 0 || row >= PQntuples(PGRES(r)) ||
	    col >= PQnfields(PGRES(r)) || PQgetisnull(PGRES(r), row, col))
		return NULL;
	return PQgetvalue(PGRES(r), row, col);
}

long
db_affected(const struct pg_result *r)
{
	const char	*s;

	if (r == NULL)
		return 0;
	s = PQcmdTuples((PGresult *)PGRES(r));
	return *s != '\0' ? strtol(s, NULL, 10) : 0;
}
