/*
 * notify.c: webhook receivers.  Each receiver has its own queue, delivered
 * in order one POST at a time over the HTTP probe's curl multi handle; a
 * failed POST is retried with backoff until it succeeds, so a receiver that
 * is down for a while gets everything, once, when it returns.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "itsmd.h"

#define NOTIFY_BACKOFF_MIN_MS	1000
#define NOTIFY_BACKOFF_MAX_MS	60000
#define NOTIFY_QUEUE_MAX	10000
#define NOTIFY_POLL_MS		2000	/* operators' acks and resolves, from itsmctl */

static const char *const kind_names[NOTIFY__COUNT] = {
	"open", "escalate", "acknowledge", "resolve",
};

struct delivery {
	struct delivery	*next;
	char		*body;		/* the JSON document */
	long		 incident;
	enum notify_kind kind;
};

/* Our copy of a configured receiver, kept across reloads by name. */
struct rcv {
	struct receiver	 conf;		/* strings owned here */
	struct delivery	*head, *tail;
	int		 nqueued;
	bool		 busy;		/* a POST in flight */
	bool		 gone;		/* removed by a reload while busy */
	bool		 down_logged;
	uint64_t	 backoff_ms;
	struct event	*retry;
	void		*opened;	/* tsearch of incident ids whose open was queued */
	uint64_t	 seq;
};

static struct {
	struct event_base *base;
	struct rcv	**v;
	size_t		  n;
	struct event	*poll;
	bool		  polling;
	bool		  have_last;
	char		  last_event[24];	/* incident_events.id seen up to */
	uint64_t	  started_ms;
	uint64_t	  run;			/* random per run, for delivery ids */
} nt;

int
notify_kind_parse(const char *s)
{
	for (int i = 0; i < NOTIFY__COUNT; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	if (strcmp(s, "ack") == 0)
		return NOTIFY_ACKNOWLEDGE;
	return -1;
}

static int
id_cmp(const void *a, const void *b)
{
	long	x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------- JSON */
struct jbuf {
	char	*s;
	size_t	 len, cap;
};

static void
jb_add(struct jbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
jb_str(struct jbuf *b, const char *s)
{
	char	 esc[8];

	jb_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			jb_add(b, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			jb_add(b, esc, 6);
		} else
			jb_add(b, (const char *)p, 1);
	}
	jb_add(b, "\"", 1);
}

static void
jb_key(struct jbuf *b, const char *key, const char *val)
{
	char	*clean;

	jb_add(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
	jb_str(b, key);
	jb_add(b, ":", 1);
	if (val == NULL) {
		jb_add(b, "null", 4);
		return;
	}
	clean = incident_text_clean(val);	/* JSON must be valid UTF-8 */
	jb_str(b, clean);
	free(clean);
}

static void
jb_num(struct jbuf *b, const char *key, long v, bool null)
{
	char	num[24];

	jb_add(b, ",", 1);
	jb_str(b, key);
	jb_add(b, ":", 1);
	snprintf(num, sizeof(num), "%ld", v);
	if (null)
		jb_add(b, "null", 4);
	else
		jb_add(b, num, strlen(num));
}

static char *
notify_json(struct rcv *r, const struct notify_msg *m)
{
	struct jbuf	 b = { 0 };
	char		 id[64], when[32];
	time_t		 t = (time_t)((m->when_ms != 0 ? m->when_ms : wall_ms()) / 1000);
	struct tm	 tm;

	snprintf(id, sizeof(id), "%016" PRIx64 "-%s-%" PRIu64, nt.run, r->conf.name, ++r->seq);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	jb_add(&b, "{", 1);
	jb_key(&b, "id", id);
	jb_key(&b, "event", kind_names[m->kind]);
	jb_num(&b, "incident", m->incident, false);
	jb_key(&b, "host", m->host);
	jb_key(&b, "check", m->check);
	jb_key(&b, "severity", m->severity);
	jb_num(&b, "priority", m->priority, m->priority == 0);
	jb_key(&b, "summary", m->summary != NULL ? m->summary : "");
	jb_key(&b, "who", m->who);
	jb_key(&b, "comment", m->text);
	jb_key(&b, "time", when);
	jb_add(&b, "}", 1);
	return b.s;
}

/* ------------------------------------------------------------ delivery */
static void	notify_kick(struct rcv *);

static void
rcv_free(struct rcv *r)
{
	struct delivery	*d;

	while ((d = r->head) != NULL) {
		r->head = d->next;
		free(d->body);
		free(d);
	}
	if (r->retry != NULL)
		event_free(r->retry);
	tdestroy(r->opened, free);
	free(r->conf.name);
	free(r->conf.url);
	for (size_t i = 0; i < r->conf.nhosts; i++)
		free(r->conf.hosts[i]);
	free(r->conf.hosts);
	for (size_t i = 0; i < r->conf.nchecks; i++)
		free(r->conf.checks[i]);
	free(r->conf.checks);
	free(r);
}

static void
notify_sent(void *arg, long status, const char *error)
{
	struct rcv	*r = arg;
	struct delivery	*d = r->head;
	struct timeval	 tv;
	char		 why[128];

	r->busy = false;
	if (r->gone) {
		rcv_free(r);
		return;
	}
	if (d == NULL)
		return;
	if (error == NULL && status >= 200 && status < 300) {
		r->head = d->next;
		if (r->head == NULL)
			r->tail = NULL;
		r->nqueued--;
		log_debug("receiver %s: %s of incident #%ld delivered", r->conf.name,
		    kind_names[d->kind], d->incident);
		free(d->body);
		free(d);
		if (r->down_logged)
			log_info("receiver %s: delivering again; %d notifications queued",
			    r->conf.name, r->nqueued);
		r->down_logged = false;
		r->backoff_ms = NOTIFY_BACKOFF_MIN_MS;
		notify_kick(r);
		return;
	}
	if (error != NULL && strcmp(error, "aborted: shutting down") == 0)
		return;
	if (error != NULL)
		snprintf(why, sizeof(why), "%s", error);
	else
		snprintf(why, sizeof(why), "HTTP status %ld", status);
	/* The url may carry a token: name the receiver, never the url. */
	if (!r->down_logged)
		log_warnx("receiver %s: delivery failed (%s); retrying with backoff, "
		    "%d notifications queued", r->conf.name, why, r->nqueued);
	else
		log_debug("receiver %s: retry failed (%s)", r->conf.name, why);
	r->down_logged = true;
	tv.tv_sec = r->backoff_ms / 1000;
	tv.tv_usec = (r->backoff_ms % 1000) * 1000;
	evtimer_add(r->retry, &tv);
	r->backoff_ms *= 2;
	if (r->backoff_ms > NOTIFY_BACKOFF_MAX_MS)
		r->backoff_ms = NOTIFY_BACKOFF_MAX_MS;
}

static void
notify_kick(struct rcv *r)
{
	struct timeval	tv = { 1, 0 };

	if (r->busy || r->head == NULL || evtimer_pending(r->retry, NULL))
		return;
	if (http_request_submit(r->conf.url, "application/json", r->head->body,
	    r->conf.timeout_ms, notify_sent, r) == -1) {
		log_warnx("receiver %s: cannot start a request; retrying", r->conf.name);
		evtimer_add(r->retry, &tv);
		return;
	}
	r->busy = true;
}

static void
notify_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_kick(arg);
}

static bool
rcv_wants(const struct rcv *r, const struct notify_msg *m)
{
	bool	host_ok = r->conf.nhosts == 0, check_ok = r->conf.nchecks == 0;

	for (size_t i = 0; i < r->conf.nhosts && !host_ok; i++)
		host_ok = fnmatch(r->conf.hosts[i], m->host, 0) == 0;
	for (size_t i = 0; i < r->conf.nchecks && !check_ok; i++)
		check_ok = m->check != NULL && fnmatch(r->conf.checks[i], m->check, 0) == 0;
	return host_ok && check_ok && (r->conf.events & (1u << m->kind)) &&
	    (m->priority == 0 || m->priority <= r->conf.min_priority);
}

static void
rcv_queue(struct rcv *r, const struct notify_msg *m)
{
	struct delivery	*d;

	if (r->nqueued >= NOTIFY_QUEUE_MAX) {
		log_warnx("receiver %s: %d notifications queued; %s of incident #%ld "
		    "dropped", r->conf.name, r->nqueued, kind_names[m->kind], m->incident);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->body = notify_json(r, m);
	d->incident = m->incident;
	d->kind = m->kind;
	if (r->tail != NULL)
		r->tail->next = d;
	else
		r->head = d;
	r->tail = d;
	r->nqueued++;
	notify_kick(r);
}

/*
 * Opens, escalations and acks go where the filters let them.  A resolve
 * goes wherever the open went, filters or not; for an incident opened
 * before this run (the set is not kept across restarts) the filters decide.
 */
void
notify_incident(const struct notify_msg *m)
{
	for (size_t i = 0; i < nt.n; i++) {
		struct rcv	*r = nt.v[i];
		long		*key, **found;

		found = tfind(&m->incident, &r->opened, id_cmp);
		if (m->kind == NOTIFY_OPEN) {
			if (!rcv_wants(r, m))
				continue;
			if (found == NULL) {
				key = xmalloc(sizeof(*key));
				*key = m->incident;
				tsearch(key, &r->opened, id_cmp);
			}
			rcv_queue(r, m);
		} else if (m->kind == NOTIFY_RESOLVE) {
			if (found != NULL) {
				key = *found;
				tdelete(key, &r->opened, id_cmp);
				free(key);
				rcv_queue(r, m);
			} else if (rcv_wants(r, m))
				rcv_queue(r, m);
		} else if (found != NULL && (r->conf.events & (1u << m->kind)))
			rcv_queue(r, m);
		else if (found == NULL && rcv_wants(r, m))
			rcv_queue(r, m);
	}
}

/* --------------------------------------------- operators, via itsmctl */
static const char sql_last[] = "SELECT coalesce(max(id), 0) FROM incident_events";
/*
 * The highest priority the incident had, as itsmd_change() gives for a
 * resolve: after a restart (the sets of sent opens are gone) a receiver
 * that got the open still gets the operator's ack and resolve.
 */
static const char sql_ops[] =
	"SELECT e.id, e.kind, e.incident_id, e.who, e.text, i.host, i.check_name, i.severity,"
	" coalesce(least(i.priority, (SELECT min(least(substr(p.old_value, 2)::int,"
	"  substr(p.new_value, 2)::int)) FROM incident_events p"
	"  WHERE p.incident_id = i.id AND p.kind = 'priority')), 0),"
	" (extract(epoch FROM e.at) * 1000)::bigint, i.summary"
	" FROM incident_events e JOIN incidents i ON i.id = e.incident_id"
	" WHERE e.id > $1::bigint AND e.who <> 'itsmd'"
	" AND e.kind IN ('acknowledged', 'resolved') ORDER BY e.id LIMIT 500";

static void
notify_polled(void *arg, const struct pg_result *res, const char *error)
{
	const char	*v;

	(void)arg;
	nt.polling = false;
	if (error != NULL || nt.base == NULL)
		return;
	if (!nt.have_last) {
		if ((v = db_value(res, 0, 0)) != NULL) {
			snprintf(nt.last_event, sizeof(nt.last_event), "%s", v);
			nt.have_last = true;
		}
		return;
	}
	for (int i = 0; i < db_ntuples(res); i++) {
		struct notify_msg	m = { 0 };
		const char		*kind = db_value(res, i, 1);

		snprintf(nt.last_event, sizeof(nt.last_event), "%s", db_value(res, i, 0));
		m.kind = kind != NULL && strcmp(kind, "resolved") == 0 ? NOTIFY_RESOLVE :
		    NOTIFY_ACKNOWLEDGE;
		m.incident = strtol(db_value(res, i, 2), NULL, 10);
		m.who = db_value(res, i, 3);
		m.text = db_value(res, i, 4);
		m.host = db_value(res, i, 5);
		m.check = db_value(res, i, 6);
		m.severity = m.kind == NOTIFY_RESOLVE ? "ok" : db_value(res, i, 7);
		m.priority = (int)strtol(db_value(res, i, 8), NULL, 10);
		m.when_ms = strtoull(db_value(res, i, 9), NULL, 10);
		m.summary = db_value(res, i, 10);
		notify_incident(&m);
	}
}

static void
notify_poll(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { NOTIFY_POLL_MS / 1000, (NOTIFY_POLL_MS % 1000) * 1000 };
	const char	*p[1] = { nt.last_event };

	(void)fd;
	(void)what;
	(void)arg;
	if (nt.n > 0 && !nt.polling && db_up() && db_pending() < 100) {
		nt.polling = true;
		if (nt.have_last)
			db_exec(sql_ops, 1, p, notify_polled, NULL);
		else
			db_exec(sql_last, 0, NULL, notify_polled, NULL);
	}
	evtimer_add(nt.poll, &tv);
}

/* ------------------------------------------------------------ set up */
static struct rcv *
rcv_new(const struct receiver *c)
{
	struct rcv	*r = xcalloc(1, sizeof(*r));

	r->conf = *c;
	r->conf.name = xstrdup(c->name);
	r->conf.url = xstrdup(c->url);
	r->conf.hosts = c->nhosts > 0 ? xcalloc(c->nhosts, sizeof(char *)) : NULL;
	for (size_t i = 0; i < c->nhosts; i++)
		r->conf.hosts[i] = xstrdup(c->hosts[i]);
	r->conf.checks = c->nchecks > 0 ? xcalloc(c->nchecks, sizeof(char *)) : NULL;
	for (size_t i = 0; i < c->nchecks; i++)
		r->conf.checks[i] = xstrdup(c->checks[i]);
	r->backoff_ms = NOTIFY_BACKOFF_MIN_MS;
	if ((r->retry = evtimer_new(nt.base, notify_retry, r)) == NULL)
		fatalx("notify: cannot create a timer");
	return r;
}

/* A receiver kept by name keeps its queue; its settings are the new ones. */
void
notify_configure(struct event_base *base, const struct config *cfg)
{
	struct rcv	**v = cfg->nreceivers > 0 ?
			    xcalloc(cfg->nreceivers, sizeof(*v)) : NULL;

	if (nt.base == NULL) {
		nt.base = base;
		nt.started_ms = wall_ms();
		nt.run = wall_ms() ^ ((uint64_t)(uintptr_t)&nt << 16);
		if ((nt.poll = evtimer_new(base, notify_poll, NULL)) == NULL)
			fatalx("notify: cannot create the poll timer");
		struct timeval	tv = { 0, 100000 };

		evtimer_add(nt.poll, &tv);
	}
	for (size_t i = 0; i < cfg->nreceivers; i++) {
		const struct receiver	*c = &cfg->receivers[i];

		for (size_t j = 0; j < nt.n; j++) {
			struct rcv *old = nt.v[j];
			if (old != NULL && strcmp(old->conf.name, c->name) == 0) {
				struct rcv *nr = rcv_new(c);
				nr->head = old->head;
				nr->tail = old->tail;
				nr->nqueued = old->nqueued;
				nr->opened = old->opened;
				nr->seq = old->seq;
				old->head = old->tail = NULL;
				old->opened = NULL;
				nt.v[j] = NULL;
				if (old->busy) {
					/* the answer will be about nr's head */
					old->gone = true;
					nr->busy = false;
					struct timeval	tv = { 1, 0 };

					evtimer_add(nr->retry, &tv);
				} else
					rcv_free(old);
				v[i] = nr;
				break;
			}
		}
		if (v[i] == NULL)
			v[i] = rcv_new(c);
	}
	for (size_t j = 0; j < nt.n; j++) {
		if (nt.v[j] == NULL)
			continue;
		if (nt.v[j]->nqueued > 0)
			log_warnx("receiver %s removed: %d notifications not delivered",
			    nt.v[j]->conf.name, nt.v[j]->nqueued);
		if (nt.v[j]->busy)
			nt.v[j]->gone = true;
		else
			rcv_free(nt.v[j]);
	}
	free(nt.v);
	nt.v = v;
	nt.n = cfg->nreceivers;
}

void
notify_shutdown(void)
{
	for (size_t i = 0; i < nt.n; i++) {
		if (nt.v[i]->nqueued > 0)
			log_warnx("receiver %s: %d notifications not delivered",
			    nt.v[i]->conf.name, nt.v[i]->nqueued);
		rcv_free(nt.v[i]);
	}
	free(nt.v);
	if (nt.poll != NULL)
		event_free(nt.poll);
	memset(&nt, 0, sizeof(nt));
}
