/*
 * incident.c: turns check state changes into the incident lifecycle in
 * PostgreSQL.  Each change is one call of itsmd_change() (schema/002) with an
 * idempotency key made here, spooled first (spool.c) and then queued on
 * db.c, so a replay after an outage or a crash never applies it twice.
 */
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "itsmd.h"

#define DEFAULT_REOPEN_MS	(30 * 60 * 1000ULL)
/* A refresh (same state, new summary) is dropped when this much waits. */
#define REFRESH_MAX_PENDING	1000
/*
 * A silent host's checks say the same thing every poll; sending each one
 * cost a statement per failing check and interval (15% of the daemon's CPU
 * with thousands of them).  A new summary still goes at once, and so does
 * the first repeat after a transition (the row shows it was seen again);
 * further repeats of the same summary go once a minute, for last_seen_at.
 */
#define REFRESH_IDLE_MS		(60 * 1000ULL)

/*
 * Times are parameters taken when the state changed, not now() on the
 * server: a change queued through a database outage keeps its true time.
 */
static const char sql_change[] =
	"SELECT incident_id, action, notify, priority FROM itsmd_change("
	"$1, $2, $3, $4, $5, $6::float8, $7::int, $8::bool, $9::bool, $10, $11,"
	" $12::float8, $13::int, $14::float8)";
#define NPARAMS		14
#define INCIDENT_BATCH	500

/* The same for many changes: one statement, in order (WITH ORDINALITY). */
static const char sql_batch[] =
	"SELECT r.incident_id, r.action, r.notify, r.priority FROM unnest($1::text[],"
	" $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
	" $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])"
	" WITH ORDINALITY AS a(k, h, c, s, sm, w, p, f, m, ph, pc, ro, pn, pw, n),"
	" LATERAL itsmd_change(a.k, a.h, a.c, a.s, a.sm, a.w::float8, a.p::int, a.f::bool,"
	" a.m::bool, a.ph, a.pc, a.ro::float8, a.pn::int, a.pw::float8) AS r ORDER BY a.n";

/* Resolved incidents past the reopen window become closed, now and then. */
static const char sql_close[] = "SELECT itsmd_close_expired($1::float8)";
#define INCIDENT_CLOSE_MS	60000

static const char sql_open[] =
	"SELECT host, check_name FROM incidents WHERE resolved_at IS NULL";

/*
 * What was last sent for one check instance: a change that differs in any
 * of these is a transition (keyed, spooled); one that differs only in its
 * summary is a refresh of last_seen_at, sent without a key when the
 * database keeps up and dropped otherwise.
 */
struct last_sent {
	char		*host;
	char		*check;
	enum severity	 sev;
	int		 priority;
	bool		 flapping;
	bool		 maintenance;
	char		*parent;	/* "host\tcheck" or NULL */
	char		*summary;	/* as last sent */
	uint64_t	 sent_ms;	/* mono_ms() of the last send */
	bool		 repeated;	/* a repeat went since the transition */
};

/* Our copies: a reload may free the check before the database answers. */
struct incident_job {
	char		*host;
	char		*check;
	enum severity	 sev;
	char		*summary;
	uint64_t	 seq;		/* in the spool, or 0 */
	bool		 keyed;
	bool		 maintenance;
	uint64_t	 when_ms;
	char		*params[NPARAMS];	/* our copies, for a batch */
	struct incident_job *next;
};

static struct {
	uint64_t	 reopen_ms;
	int		 problem_n;
	uint64_t	 problem_ms;
	void		*sent;		/* tsearch tree of struct last_sent */
	const struct checkset *checks;
	uint64_t	 key_base;	/* random per run */
	uint64_t	 key_next;
	bool		 closing;
	struct incident_job *qhead, *qtail;	/* waiting for the batch in flight */
	int		 nqueued;
	bool		 inflight;
	struct incident_job *last_single;	/* in flight alone */
	struct event	*close_timer;
} inc = { .reopen_ms = DEFAULT_REOPEN_MS, .problem_n = 3,
    .problem_ms = 7 * 24 * 3600 * 1000ULL };

static int
sent_cmp(const void *a, const void *b)
{
	const struct last_sent	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->host, y->host)) != 0)
		return c;
	return strcmp(x->check, y->check);
}

static void
incident_job_free(struct incident_job *ij)
{
	for (int i = 0; i < NPARAMS; i++)
		free(ij->params[i]);
	free(ij->host);
	free(ij->check);
	free(ij->summary);
	free(ij);
}

/*
 * Unique across runs without coordination: 64 random bits drawn at start
 * and a counter.
 */
static void
incident_key(char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 "-%" PRIu64, inc.key_base, ++inc.key_next);
}

/* What itsmd_change() said about one change: row `row` of res. */
static void
incident_applied(struct incident_job *ij, const struct pg_result *res, int row)
{
	const char		*id, *action, *notify;

	id = db_value(res, row, 0);
	action = db_value(res, row, 1);
	notify = db_value(res, row, 2);
	/* In maintenance only a resolve is told (its open was). */
	if (notify != NULL && id != NULL && (!ij->maintenance || strcmp(notify, "resolve") == 0)) {
		const char	*prio = db_value(res, row, 3);
		int		 k = notify_kind_parse(notify);

		if (k != -1)
			notify_incident(&(struct notify_msg){ .kind = k,
			    .incident = strtol(id, NULL, 10), .host = ij->host,
			    .check = ij->check, .severity = severity_name(ij->sev),
			    .priority = prio != NULL ? atoi(prio) : 0,
			    .summary = ij->summary, .when_ms = ij->when_ms });
	}
	if (action == NULL)
		action = "?";
	if (strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0)
		log_info("incident #%s %s: %s/%s %s: %s", id, action, ij->host, ij->check,
		    severity_name(ij->sev), ij->summary);
	else if (strcmp(action, "resolved") == 0)
		log_info("incident #%s resolved: %s/%s: %s", id, ij->host, ij->check,
		    ij->summary);
	else if (strcmp(action, "attached") == 0 && ij->keyed)
		log_info("incident #%s: %s/%s attached as an affected CI (%s)", id,
		    ij->host, ij->check, severity_name(ij->sev));
	else if (strcmp(action, "suppressed") == 0 && ij->keyed)
		log_info("%s/%s: %s in maintenance; no incident", ij->host, ij->check,
		    severity_name(ij->sev));
	else
		log_debug("incident %s %s: %s/%s %s", id != NULL ? id : "-", action,
		    ij->host, ij->check, severity_name(ij->sev));
}

static void	incident_flush(void);

/* A change sent alone (the first of a burst, or a batch's fallback). */
static void
incident_done(void *arg, const struct pg_result *res, const char *error)
{
	struct incident_job	*ij = arg;

	/* At shutdown the change stays in the spool for the next run. */
	if (inc.closing && res == NULL) {
		incident_job_free(ij);
		return;
	}
	/* What waits goes first: PostgreSQL works while we read this answer. */
	if (ij == inc.last_single) {
		inc.last_single = NULL;
		inc.inflight = false;
		incident_flush();
	}
	/* An SQL error would fail again on replay: it counts as taken. */
	spool_committed(ij->seq);
	if (error == NULL && db_ntuples(res) == 1)
		incident_applied(ij, res, 0);
	incident_job_free(ij);
}

/* "{\"a\",NULL,...}": one column of a batch as a PostgreSQL text[] literal. */
static char *
incident_array(struct incident_job *head, int n, int col)
{
	size_t		 len = 3;
	char		*a, *o;
	struct incident_job *ij = head;

	for (int i = 0; i < n; i++, ij = ij->next)
		len += 5 + (ij->params[col] != NULL ? 2 * strlen(ij->params[col]) : 0);
	o = a = xmalloc(len);
	*o++ = '{';
	for (ij = head; n-- > 0; ij = ij->next) {
		if (ij->params[col] == NULL) {
			memcpy(o, "NULL", 4);
			o += 4;
		} else {
			*o++ = '"';
			for (const char *p = ij->params[col]; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					*o++ = '\\';
				*o++ = *p;
			}
			*o++ = '"';
		}
		if (n > 0)
			*o++ = ',';
	}
	*o++ = '}';
	*o = '\0';
	return a;
}

/*
 * A batch: one statement, one transaction, one commit for up to
 * INCIDENT_BATCH changes, applied in order.  If it fails as a whole (a bad
 * row), each change is sent again alone so one cannot sink the others.
 */
struct incident_batch {
	struct incident_job	*head;
	int			 n;
};

static void
incident_batch_done(void *arg, const struct pg_result *res, const char *error)
{
	struct incident_batch	*b = arg;
	struct incident_job	*ij, *next;
	int			 i;

	if (inc.closing && res == NULL) {
		for (ij = b->head; ij != NULL; ij = next) {
			next = ij->next;
			incident_job_free(ij);
		}
		free(b);
		return;
	}
	if (error != NULL) {
		/* Ahead of anything that waits, so the order holds. */
		log_warnx("incident batch of %d failed (%s); sending them one by one",
		    b->n, error);
		for (ij = b->head; ij != NULL; ij = next) {
			next = ij->next;
			ij->next = NULL;
			db_exec(sql_change, NPARAMS, (const char *const *)ij->params,
			    incident_done, ij);
		}
		free(b);
		inc.inflight = false;
		incident_flush();
		return;
	}
	/* The next batch goes first: PostgreSQL works while we read this one. */
	inc.inflight = false;
	incident_flush();
	for (ij = b->head, i = 0; ij != NULL; ij = next, i++) {
		next = ij->next;
		spool_committed(ij->seq);	/* the batch's one commit took each */
		if (i < db_ntuples(res))
			incident_applied(ij, res, i);
		incident_job_free(ij);
	}
	free(b);
}

/* Send what waits: alone if it is one change, else as a batch. */
static void
incident_flush(void)
{
	struct incident_batch	*b;
	struct incident_job	*ij;
	char			*arrays[NPARAMS];

	if (inc.inflight || inc.qhead == NULL)
		return;
	inc.inflight = true;
	if (inc.qhead->next == NULL) {
		ij = inc.qhead;
		inc.qhead = inc.qtail = NULL;
		inc.nqueued = 0;
		inc.last_single = ij;
		db_exec(sql_change, NPARAMS, (const char *const *)ij->params, incident_done, ij);
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->head = inc.qhead;
	for (ij = inc.qhead; ij != NULL && b->n < INCIDENT_BATCH; ij = ij->next) {
		b->n++;
		if (b->n == INCIDENT_BATCH || ij->next == NULL)
			break;
	}
	inc.qhead = ij->next;
	ij->next = NULL;
	if (inc.qhead == NULL)
		inc.qtail = NULL;
	inc.nqueued -= b->n;
	for (int i = 0; i < NPARAMS; i++)
		arrays[i] = incident_array(b->head, b->n, i);
	db_exec(sql_batch, NPARAMS, (const char *const *)arrays, incident_batch_done, b);
	for (int i = 0; i < NPARAMS; i++)
		free(arrays[i]);
}

/* Queue one itsmd_change() call; params[0] is the key or NULL. */
static void
incident_send(const char *const *params, uint64_t seq, enum severity sev)
{
	struct incident_job	*ij = xcalloc(1, sizeof(*ij));

	ij->host = xstrdup(params[1]);
	ij->check = xstrdup(params[2]);
	ij->summary = xstrdup(params[4] != NULL ? params[4] : "");
	ij->sev = sev;
	ij->seq = seq;
	ij->keyed = params[0] != NULL;
	ij->maintenance = params[8] != NULL && params[8][0] == 't';
	ij->when_ms = strtoull(params[5], NULL, 10);
	for (int i = 0; i < NPARAMS; i++)
		ij->params[i] = params[i] != NULL ? xstrdup(params[i]) : NULL;
	if (inc.qtail != NULL)
		inc.qtail->next = ij;
	else
		inc.qhead = ij;
	inc.qtail = ij;
	inc.nqueued++;
	incident_flush();
}

static enum severity
severity_parse(const char *s)
{
	for (enum severity v = SEV_OK; v <= SEV_UNKNOWN; v++)
		if (s != NULL && strcmp(s, severity_name(v)) == 0)
			return v;
	return SEV_UNKNOWN;
}

/* A record a previous run spooled: it goes first, as it was. */
static void
incident_replay(uint64_t seq, char **params, int n, void *arg)
{
	(void)arg;
	if (n > 0 && params[0] != NULL && strcmp(params[0], AVAIL_SPOOL_MARK) == 0) {
		avail_replay(seq, params, n);	/* the availability journal's record */
		return;
	}
	if (n != NPARAMS || params[1] == NULL || params[2] == NULL) {
		log_warnx("spool: record %" PRIu64 " has %d fields, not %d; skipped",
		    seq, n, NPARAMS);
		spool_committed(seq);	/* it never will be: not in the way of the rest */
		return;
	}
	incident_send((const char *const *)params, seq, severity_parse(params[3]));
}

static void
incident_windows(const struct config *cfg)
{
	inc.reopen_ms = cfg->reopen_window_ms;
	inc.problem_n = cfg->problem_count;
	inc.problem_ms = cfg->problem_window_ms;
}

static void
incident_close_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { INCIDENT_CLOSE_MS / 1000, 0 };
	char		 reopen[24];
	const char	*p[1] = { reopen };

	(void)fd;
	(void)what;
	(void)arg;
	if (db_up() && !inc.closing) {
		snprintf(reopen, sizeof(reopen), "%.3f", inc.reopen_ms / 1000.0);
		db_exec(sql_close, 1, p, NULL, NULL);
	}
	evtimer_add(inc.close_timer, &tv);
}

void
incident_init(struct event_base *base, const struct config *cfg)
{
	struct timeval	tv = { INCIDENT_CLOSE_MS / 1000, 0 };

	if ((inc.close_timer = evtimer_new(base, incident_close_tick, NULL)) == NULL)
		fatalx("incident: cannot create a timer");
	evtimer_add(inc.close_timer, &tv);
	if (getrandom(&inc.key_base, sizeof(inc.key_base), GRND_NONBLOCK) !=
	    sizeof(inc.key_base))
		inc.key_base = wall_ms() ^ ((uint64_t)getpid() << 40);
	incident_windows(cfg);
	if (cfg->spool_dir == NULL)
		log_warnx("no spool-dir: incident changes waiting for PostgreSQL are "
		    "lost if itsmd stops");
	else if (spool_open(cfg->spool_dir, cfg->spool_max_bytes, incident_replay,
	    NULL) == -1)
		log_warnx("spool %s cannot be used: incident changes waiting for "
		    "PostgreSQL are lost if itsmd stops", cfg->spool_dir);
}

void
incident_reconfigure(const struct config *cfg)
{
	incident_windows(cfg);
}

/* "probe" or "probe[row]": is HOST/PROBE a check of the running conf? */
static bool
incident_check_exists(const char *host, const char *check)
{
	char		*key;
	size_t		 n = strcspn(check, "[");
	bool		 found;

	key = xasprintf("%s/%.*s", host, (int)n, check);
	found = inc.checks != NULL && checks_find(inc.checks, key) != NULL;
	free(key);
	return found;
}

static void
incident_reconciled(void *arg, const struct pg_result *res, const char *error)
{
	const char	*host, *check;
	int		 n = 0;

	(void)arg;
	if (error != NULL || inc.closing)
		return;
	for (int i = 0; i < db_ntuples(res); i++) {
		host = db_value(res, i, 0);
		check = db_value(res, i, 1);
		if (host == NULL || check == NULL || strcmp(host, "itsmd") == 0 ||
		    sla_incident_is(host, check) ||
		    incident_check_exists(host, check))
			continue;
		incident_change(&(struct incident_change){ .host = host, .check = check,
		    .sev = SEV_OK, .summary = "check no longer in the configuration" });
		n++;
	}
	if (n > 0)
		log_info("reconcile: %d open incidents of checks no longer configured "
		    "resolved", n);
}

/*
 * Open incidents of checks still configured are settled by their first
 * evaluation (state INC_UNKNOWN); the others are resolved here.
 */
void
incident_reconcile(const struct checkset *cs)
{
	bool	first = inc.checks == NULL;

	inc.checks = cs;
	if (first)
		db_exec(sql_open, 0, NULL, incident_reconciled, NULL);
}

void
incident_shutdown(void)
{
	struct incident_job	*ij;

	inc.closing = true;
	inc.checks = NULL;
	/* never sent: they stay in the spool for the next run */
	while ((ij = inc.qhead) != NULL) {
		inc.qhead = ij->next;
		incident_job_free(ij);
	}
	inc.qtail = NULL;
	inc.nqueued = 0;
	if (inc.close_timer != NULL)
		event_free(inc.close_timer);
	inc.close_timer = NULL;
	spool_close();
}

static void
incident_sent(struct last_sent *ls, const char *summary)
{
	if (ls->summary != NULL && strcmp(ls->summary, summary != NULL ? summary : "") == 0)
		ls->repeated = true;
	free(ls->summary);
	ls->summary = xstrdup(summary != NULL ? summary : "");
	ls->sent_ms = mono_ms();
}

/*
 * Is ch the same as what was last sent?  Records it if not.  *due: a
 * refresh worth sending now (REFRESH_IDLE_MS); the caller records it with
 * incident_sent(*lsp) if it goes.
 */
static bool
incident_is_refresh(const struct incident_change *ch, struct last_sent **lsp, bool *due)
{
	struct last_sent	 probe = { .host = (char *)ch->host, .check = (char *)ch->check };
	struct last_sent	*ls, **slot;
	char			*parent = NULL;

	if (ch->parent_host != NULL)
		parent = xasprintf("%s\t%s", ch->parent_host,
		    ch->parent_check != NULL ? ch->parent_check : "");
	slot = tsearch(&probe, &inc.sent, sent_cmp);
	if (slot == NULL)
		fatalx("incident: out of memory");
	ls = *slot;
	if (ls == &probe) {
		ls = xcalloc(1, sizeof(*ls));
		ls->host = xstrdup(ch->host);
		ls->check = xstrdup(ch->check);
		*slot = ls;
	} else if (ls->sev == ch->sev && ls->priority == ch->priority &&
	    ls->flapping == ch->flapping && ls->maintenance == ch->maintenance &&
	    ((ls->parent == NULL && parent == NULL) ||
	    (ls->parent != NULL && parent != NULL && strcmp(ls->parent, parent) == 0))) {
		bool	same = ls->summary != NULL &&
			    strcmp(ls->summary, ch->summary != NULL ? ch->summary : "") == 0;

		free(parent);
		*lsp = ls;
		*due = !same || !ls->repeated || mono_ms() - ls->sent_ms >= REFRESH_IDLE_MS;
		return true;
	}
	ls->sev = ch->sev;
	ls->priority = ch->priority;
	ls->flapping = ch->flapping;
	ls->maintenance = ch->maintenance;
	free(ls->parent);
	ls->parent = parent;
	ls->repeated = false;
	free(ls->summary);
	ls->summary = NULL;
	incident_sent(ls, ch->summary);
	*lsp = ls;
	*due = true;
	return false;
}

/*
 * Text from devices (SNMP strings, row labels) may be any bytes; PostgreSQL
 * refuses invalid UTF-8 and would drop the whole change.  Each byte that
 * does not start a valid sequence becomes U+FFFD.
 */
char *
incident_text_clean(const char *in)
{
	const unsigned char	*p = (const unsigned char *)(in != NULL ? in : "");
	size_t			 len = strlen((const char *)p), n, o = 0;
	char			*out = xmalloc(len * 3 + 1);
	unsigned		 cp;

	while (*p != '\0') {
		if (p[0] < 0x80) {
			out[o++] = (char)*p++;
			continue;
		}
		if (p[0] >= 0xc2 && p[0] <= 0xdf)
			n = 1, cp = p[0] & 0x1f;
		else if (p[0] >= 0xe0 && p[0] <= 0xef)
			n = 2, cp = p[0] & 0x0f;
		else if (p[0] >= 0xf0 && p[0] <= 0xf4)
			n = 3, cp = p[0] & 0x07;
		else
			n = 0, cp = 0;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				n = 0;
				break;
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (n == 0 || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
			continue;
		}
		memcpy(out + o, p, n + 1);
		o += n + 1;
		p += n + 1;
	}
	out[o] = '\0';
	return out;
}

void
incident_change(const struct incident_change *ch)
{
	const char	*params[NPARAMS];
	char		 key[48], when[24], prio[8], reopen[24], pn[12], pw[24];
	char		*host, *check, *summary, *pcheck = NULL;
	uint64_t	 seq = 0;
	struct last_sent *ls;
	bool		 refresh, due;

	if (inc.closing)
		return;
	refresh = incident_is_refresh(ch, &ls, &due);
	if (refresh && (ch->sev == SEV_OK || !due || !db_up() ||
	    inc.nqueued + db_pending() > REFRESH_MAX_PENDING))
		return;
	if (refresh)
		incident_sent(ls, ch->summary);
	if (ch->parent_host != NULL)
		pcheck = incident_text_clean(ch->parent_check);
	snprintf(when, sizeof(when), "%" PRIu64, ch->when_ms != 0 ? ch->when_ms : wall_ms());
	snprintf(prio, sizeof(prio), "%d", ch->priority);
	snprintf(reopen, sizeof(reopen), "%.3f", inc.reopen_ms / 1000.0);
	snprintf(pn, sizeof(pn), "%d", inc.problem_n);
	snprintf(pw, sizeof(pw), "%.3f", inc.problem_ms / 1000.0);
	if (!refresh)
		incident_key(key, sizeof(key));
	host = incident_text_clean(ch->host);
	check = incident_text_clean(ch->check);
	summary = incident_text_clean(ch->summary);
	params[0] = refresh ? NULL : key;
	params[1] = host;
	params[2] = check;
	params[3] = severity_name(ch->sev);
	params[4] = summary;
	params[5] = when;
	params[6] = prio;
	params[7] = ch->flapping ? "t" : "f";
	params[8] = ch->maintenance ? "t" : "f";
	params[9] = ch->parent_host;
	params[10] = ch->parent_host != NULL ? pcheck : NULL;
	params[11] = reopen;
	params[12] = pn;
	params[13] = pw;
	if (!refresh)
		seq = spool_append(params, NPARAMS);
	incident_send(params, seq, ch->sev);
	free(host);
	free(check);
	free(summary);
	free(pcheck);
}

void
incident_raise(const char *host, const char *check, enum severity sev,
    const char *summary)
{
	if (sev == SEV_OK) {
		/* The table has no "ok" incidents; resolving is the other call. */
		log_warnx("incident %s/%s: raise with severity ok ignored", host, check);
		return;
	}
	incident_change(&(struct incident_change){ .host = host, .check = check,
	    .sev = sev, .summary = summary });
}

void
incident_resolve(const char *host, const char *check, const char *summary)
{
	incident_change(&(struct incident_change){ .host = host, .check = check,
	    .sev = SEV_OK, .summary = summary });
}
