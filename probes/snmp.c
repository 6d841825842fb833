/*
 * snmp.c: the SNMP probe at run time.  Each check owns one net-snmp single
 * session (snmp_sess_*) whose UDP socket and retry timer ride the libevent
 * loop.  A run GETs the probe's OIDs packed into few PDUs (split on tooBig);
 * a table probe first walks its label columns when rows are due for
 * discovery, then GETs every row's columns.  It ends in check_done().
 * Checks of one agent (address and port) share its in-flight limit: past
 * it their requests wait in order, so a device is never flooded.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>

#include "itsmd.h"
#include "snmp_int.h"

#define SNMP_MAX_VARBINDS	32	/* per GET PDU; agents choke on more (tooBig) */
#define SNMP_INFLIGHT		8	/* PDUs out at once per agent (snmp-max-inflight) */
#define SNMP_AGENT_BUCKETS	1024
#define SNMP_MAX_REP		25	/* GETBULK repetitions per walk step */
#define SNMP_MAX_ROWS		100000	/* a table longer than this is an agent bug */
#define SNMP_SETTLE_CS		3000	/* agent younger (sysUpTime, 1/100 s): a counter leaving 0 is no rate */
/* Past timeout_ms plus this, a run ends even if net-snmp never gave up. */
#define SNMP_GRACE_MS		500
/* A request needs at least this per try of what is left of the timeout. */
#define SNMP_MIN_TRY_MS		20

/*
 * A run walks SR_IDLE -> [SR_RESOLVING] -> SR_WAITING -> SR_ENDING -> SR_IDLE.
 * SR_ENDING means the result is complete and check_done() is due from the
 * timer: check_done() is only ever called from our own event callbacks, never
 * from inside start(), a net-snmp callback or an evdns callback, since any of
 * those may still use the session after we return to them.
 */
enum snmp_phase {
	SR_IDLE,
	SR_RESOLVING,
	SR_WAITING,
	SR_ENDING,
};

/*
 * What one varbind of a request is for: a metric of a row (scalar probes
 * have one row, their values[]), the agent's sysUpTime (restart detection)
 * or a row's discontinuity time.
 */
#define IT_UPTIME	(-1)
#define IT_DISC		(-2)
struct snmp_item {
	uint32_t	row;
	int32_t		col;		/* metric index, IT_UPTIME or IT_DISC */
};

/*
 * One PDU of a run.  GETs cover items[first .. first+count); a walk PDU
 * asks for the next OIDs of every label column still going.
 */
enum req_state { RQ_QUEUED, RQ_SENT, RQ_DONE };
struct snmp_req {
	int		 reqid;
	enum req_state	 state;
	bool		 walk;
	size_t		 first;
	size_t		 count;
};

/* A discovered row of a table probe; kept across runs until rediscovery. */
struct snmp_row {
	unsigned long	*idx;		/* the row's index sub-identifiers */
	size_t		 idxlen;
	char		*label;
	char		*labels[4];	/* walk: value of each label column, or NULL */
	struct sample	*values;	/* def->nmetrics */
	struct sample	 dsample;	/* this run's discontinuity time */
	uint32_t	 disc;		/* last discontinuity time seen */
	bool		 have_disc;
	bool		 keep;		/* passes the filters */
	bool		 had_data;	/* some column answered once: it can vanish */
};

/* A run is a walk (when rows are due for discovery) and then a poll. */
enum run_step { STEP_WALK, STEP_POLL, STEP_DONE };

/* A discovery walk in progress: where each label column has got to. */
struct snmp_walk {
	struct snmp_row	*rows;
	size_t		 nrows, cap;
	oid		 last[4][MAX_OID_LEN];
	size_t		 lastlen[4];
	bool		 done[4];
	size_t		 hint[4];	/* next row expected, per column */
};

/*
 * One agent (a peer "udp:ADDR:PORT") and the PDUs every session to it has
 * out.  States that may not send now wait in order; a freed slot wakes the
 * first of them from wake_ev, never from inside a net-snmp callback.
 */
struct snmp_state;
struct snmp_agent {
	char			*peer;
	int			 limit;		/* of the last host attached */
	int			 inflight;
	int			 refs;		/* states with a session to it */
	bool			 dirty;		/* on snmp_dirty: wake waiters */
	TAILQ_HEAD(, snmp_state) waiting;
	LIST_ENTRY(snmp_agent)	 entry;		/* hash bucket */
	LIST_ENTRY(snmp_agent)	 dentry;	/* snmp_dirty */
};

/*
 * Runtime state of one check (check->probe_state), allocated on its first
 * start() and freed by free_state().  Every state is on a list so that
 * shutdown can close sessions even if the checks are freed after it.
 */
struct snmp_state {
	struct check		*check;		/* set by each start() */
	enum snmp_phase		 phase;
	void			*sess;		/* snmp_sess_open() handle, or NULL */
	int			 fd;
	struct event		*rev;		/* EV_READ|EV_PERSIST on fd, added while it is open */
	struct event		*timer;		/* retries, deadline, deferred finish */
	bool			 closing;	/* in snmp_sess_close(): callbacks ignore */

	/* what the session was opened with; any change opens a new one */
	char			*peer;		/* "udp:192.0.2.1:161" */
	char			*auth;		/* auth_text() of the settings: secret */

	struct evdns_getaddrinfo_request *dns;
	char			*name;		/* host->address the cache is for */
	char			*resolved;	/* its numeric address, or NULL */

	uint64_t		 deadline;	/* mono ms: net-snmp should be done by then */
	int			 report_logged;	/* snmp_reports index + 1 last logged, 0 none */

	/* the run */
	enum run_step		 step;
	struct snmp_req		*reqs;
	size_t			 nreqs, reqs_cap;
	size_t			 pending;	/* reqs sent and not answered */
	struct snmp_agent	*agent;		/* while a session is open */
	bool			 queued;	/* on agent->waiting */
	TAILQ_ENTRY(snmp_state)	 wentry;
	struct snmp_item	*items;
	size_t			 nitems, items_cap;
	size_t			 next_item;	/* first item in no request yet */
	size_t			 max_vb;	/* varbinds per GET; halves on tooBig */
	int			 max_rep;	/* GETBULK repetitions; halves on tooBig */
	bool			 want_uptime;	/* counters seen: watch for restarts */
	struct sample		 up;		/* this run's sysUpTime */
	uint32_t		 uptime;	/* the last one seen */
	bool			 have_uptime;

	/* table probes */
	struct snmp_walk	*w;		/* discovery in progress, or NULL */
	struct snmp_row		*rows;		/* discovered rows */
	size_t			 nrows;
	uint64_t		 discovered_ms;	/* mono, of the last complete walk */
	bool			 discovered;
	bool			 rediscover;	/* a row left: walk at the next run */
	struct result_row	*res;		/* result.rows: the kept rows */
	size_t			 res_cap;
	LIST_ENTRY(snmp_state)	 entry;
};

static struct event_base	*snmp_base;
static struct evdns_base	*snmp_dns;
static bool			 snmp_ready;
static netsnmp_large_fd_set	 snmp_fds;	/* scratch: one fd at a time */
static LIST_HEAD(, snmp_state)	 snmp_states = LIST_HEAD_INITIALIZER(snmp_states);
static LIST_HEAD(, snmp_agent)	 snmp_agents[SNMP_AGENT_BUCKETS];
static LIST_HEAD(, snmp_agent)	 snmp_dirty = LIST_HEAD_INITIALIZER(snmp_dirty);
static struct event		*snmp_wake_ev;

/* Exported for tests/unit/test_snmp.c only; not part of itsmd.h. */
void	snmp_var_sample(const netsnmp_variable_list *, struct sample *);

_Static_assert(sizeof(oid) == sizeof(unsigned long), "net-snmp oid is not u_long");

/* ------------------------------------------------------------ pure parts */

/*
 * A numeric OID, optional leading dot: "1.3.6.1.2.1.1.3.0".  Our own parser,
 * so no MIB is ever read and a typo cannot turn into a name lookup.  The
 * first two arcs follow X.690 (0..2, and 0..39 under 0 and 1) since they
 * are packed into one byte on the wire.
 */
int
snmp_oid_parse(const char *s, unsigned long *sub, size_t max, size_t *len,
    const char **why)
{
	size_t	n = 0;

	if (*s == '.')
		s++;
	if (*s == '\0') {
		*why = "empty";
		return -1;
	}
	for (;;) {
		unsigned long long	v = 0;
		const char		*start = s;

		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > UINT32_MAX) {
				*why = "sub-identifier above 4294967295";
				return -1;
			}
			s++;
		}
		if (s == start) {
			*why = *s == '\0' || *s == '.' ? "empty sub-identifier" :
			    "only digits and dots are allowed (no MIB names)";
			return -1;
		}
		if (n == max) {
			*why = "too many sub-identifiers";
			return -1;
		}
		sub[n++] = (unsigned long)v;
		if (*s == '\0')
			break;
		if (*s != '.') {
			*why = "only digits and dots are allowed (no MIB names)";
			return -1;
		}
		s++;
	}
	if (n < 2) {
		*why = "needs at least two sub-identifiers";
		return -1;
	}
	if (sub[0] > 2) {
		*why = "first sub-identifier must be 0, 1 or 2";
		return -1;
	}
	if (sub[0] < 2 && sub[1] > 39) {
		*why = "second sub-identifier must be below 40 under 0 and 1";
		return -1;
	}
	*len = n;
	return 0;
}

/* Whole text as a finite number, blanks around allowed: UCD laLoad is "0.12". */
static bool
text_number(const u_char *p, size_t len, double *v)
{
	char	 buf[64], *end;

	if (len == 0 || len >= sizeof(buf) || memchr(p, '\0', len) != NULL)
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	if (end == buf || errno == ERANGE || !isfinite(*v))
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	return *end == '\0';
}

static const char *
asn_type_name(u_char type)
{
	switch (type) {
	case ASN_INTEGER:	return "INTEGER";
	case ASN_BIT_STR:	return "BIT STRING";
	case ASN_OCTET_STR:	return "OCTET STRING";
	case ASN_NULL:		return "NULL";
	case ASN_OBJECT_ID:	return "OBJECT IDENTIFIER";
	case ASN_IPADDRESS:	return "IpAddress";
	case ASN_COUNTER:	return "Counter32";
	case ASN_GAUGE:		return "Gauge32";
	case ASN_TIMETICKS:	return "TimeTicks";
	case ASN_OPAQUE:	return "Opaque";
	case ASN_NSAP:		return "NsapAddress";
	case ASN_COUNTER64:	return "Counter64";
	case ASN_UINTEGER:	return "UInteger32";
	}
	return NULL;
}

static void
sample_fail(struct sample *s, enum probe_status st, const char *reason)
{
	size_t	len;

	s->ok = false;
	s->kind = MK_AUTO;
	s->value = 0;
	s->raw = 0;
	s->width = 0;
	s->status = st;
	/* run reasons are longer than a sample's: keep what fits */
	len = strnlen(reason, sizeof(s->reason) - 1);
	memcpy(s->reason, reason, len);
	s->reason[len] = '\0';
}

static void
sample_gauge(struct sample *s, double v)
{
	s->ok = true;
	s->kind = MK_GAUGE;
	s->value = v;
	s->raw = 0;
	s->width = 0;
	s->status = PS_OK;
	s->reason[0] = '\0';
}

static void
sample_counter(struct sample *s, uint64_t raw, unsigned width)
{
	s->ok = true;
	s->kind = MK_COUNTER;
	s->value = 0;
	s->raw = raw;
	s->width = width;
	s->status = PS_OK;
	s->reason[0] = '\0';
}

/* One varbind of a response into one sample; every field is set. */
void
snmp_var_sample(const netsnmp_variable_list *v, struct sample *s)
{
	const char	*tn;
	char		 why[64];
	double		 d;

	switch (v->type) {
	case ASN_COUNTER:
		sample_counter(s, (uint32_t)*v->val.integer, 32);
		return;
	case ASN_COUNTER64:
		sample_counter(s, (uint64_t)v->val.counter64->high << 32 |
		    (uint32_t)v->val.counter64->low, 64);
		return;
	case ASN_INTEGER:
		sample_gauge(s, (double)*v->val.integer);
		return;
	case ASN_GAUGE:		/* also Unsigned32 */
	case ASN_TIMETICKS:
	case ASN_UINTEGER:
		sample_gauge(s, (double)(uint32_t)*v->val.integer);
		return;
#ifdef NETSNMP_WITH_OPAQUE_SPECIAL_TYPES
	/* UCD-SNMP's laLoadFloat and friends arrive wrapped in Opaque */
	case ASN_OPAQUE_FLOAT:
		sample_gauge(s, (double)*v->val.floatVal);
		return;
	case ASN_OPAQUE_DOUBLE:
		sample_gauge(s, *v->val.doubleVal);
		return;
	case ASN_OPAQUE_COUNTER64:
		sample_counter(s, (uint64_t)v->val.counter64->high << 32 |
		    (uint32_t)v->val.counter64->low, 64);
		return;
	case ASN_OPAQUE_U64:
		sample_gauge(s, (double)((uint64_t)v->val.counter64->high << 32 |
		    (uint32_t)v->val.counter64->low));
		return;
	case ASN_OPAQUE_I64:
		sample_gauge(s, (double)(int64_t)((uint64_t)v->val.counter64->high << 32 |
		    (uint32_t)v->val.counter64->low));
		return;
#endif
	case ASN_OCTET_STR:
		if (text_number(v->val.string, v->val_len, &d)) {
			sample_gauge(s, d);
			return;
		}
		break;
	case SNMP_NOSUCHOBJECT:
		sample_fail(s, PS_NO_SUCH_OBJECT, "noSuchObject");
		return;
	case SNMP_NOSUCHINSTANCE:
		sample_fail(s, PS_NO_SUCH_OBJECT, "noSuchInstance");
		return;
	case SNMP_ENDOFMIBVIEW:
		sample_fail(s, PS_NO_SUCH_OBJECT, "endOfMibView");
		return;
	}
	if ((tn = asn_type_name(v->type)) != NULL)
		snprintf(why, sizeof(why), "not a number (type %s)", tn);
	else
		snprintf(why, sizeof(why), "not a number (type 0x%02x)", v->type);
	sample_fail(s, PS_BAD_RESPONSE, why);
}

/* RFC 3416 error-status names, as agents and snmpget print them. */
static const char *
errstat_name(long e)
{
	static const char *const names[] = {
		"noError", "tooBig", "noSuchName", "badValue", "readOnly",
		"genErr", "noAccess", "wrongType", "wrongLength",
		"wrongEncoding", "wrongValue", "noCreation",
		"inconsistentValue", "resourceUnavailable", "commitFailed",
		"undoFailed", "authorizationError", "notWritable",
		"inconsistentName",
	};
	if (e >= 0 && (size_t)e < sizeof(names) / sizeof(names[0]))
		return names[e];
	return NULL;
}

/* ------------------------------------------------------------ net-snmp setup */

/* net-snmp's own chatter goes to debug, never to stdout. */
static int
snmp_log_cb(int major, int minor, void *server, void *client)
{
	const struct snmp_log_message	*m = server;
	size_t				 len;

	(void)major;
	(void)minor;
	(void)client;
	if (m == NULL || m->msg == NULL)
		return 0;
	len = strlen(m->msg);
	while (len > 0 && (m->msg[len - 1] == '\n' || m->msg[len - 1] == '\r'))
		len--;
	if (len > 0)
		log_debug("net-snmp: %.*s", (int)len, m->msg);
	return 0;
}

static void	wake_cb(evutil_socket_t, short, void *);

static int
snmp_probe_init(struct event_base *base)
{
	if (snmp_ready)
		return 0;
	snmp_base = base;

	/*
	 * No MIB is ever needed (OIDs are numeric), and none of the host's
	 * snmp.conf or persistent files may change how we behave: read no
	 * config, load no module from no directory, write nothing at exit.
	 */
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "", 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
	/* net-snmp alarms would otherwise arm SIGALRM; we never run them */
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);

	snmp_disable_log();
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING,
	    snmp_log_cb, NULL);
	snmp_enable_calllog();

	init_snmp("itsmd");
	netsnmp_large_fd_set_init(&snmp_fds, FD_SETSIZE);
	if ((snmp_wake_ev = event_new(base, -1, 0, wake_cb, NULL)) == NULL)
		fatalx("snmp: event_new failed");

	/*
	 * resolv.conf and the hosts file are read here, once, before the loop
	 * runs.  DISABLE_WHEN_INACTIVE lets the loop end when no lookup is out.
	 */
	snmp_dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (snmp_dns == NULL)
		log_warnx("snmp probes: no DNS resolver; hosts given by name will fail");
	snmp_ready = true;
	return 0;
}

static void	state_abandon(struct snmp_state *);
static void	session_close(struct snmp_state *);

static void
snmp_probe_shutdown(void)
{
	struct snmp_state	*st;

	if (!snmp_ready)
		return;
	LIST_FOREACH(st, &snmp_states, entry) {
		state_abandon(st);
		session_close(st);
		if (st->timer != NULL)
			event_free(st->timer);
		st->timer = NULL;
	}
	if (snmp_dns != NULL)
		evdns_base_free(snmp_dns, 0);
	snmp_dns = NULL;
	snmp_shutdown("itsmd");
	netsnmp_large_fd_set_cleanup(&snmp_fds);
	if (snmp_wake_ev != NULL)
		event_free(snmp_wake_ev);
	snmp_wake_ev = NULL;
	snmp_ready = false;
}

/* ------------------------------------------------------------ session */

/* "host:port" as a human reads it, for reasons: no community, ever. */
static void
target_text(const struct check *c, char *buf, size_t len)
{
	const char	*a = c->host->address;

	if (strchr(a, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", a, c->host->snmp.port);
	else
		snprintf(buf, len, "%s:%u", a, c->host->snmp.port);
}

static bool
is_ipv6(const char *a)
{
	struct in6_addr	in6;

	return evutil_inet_pton(AF_INET6, a, &in6) == 1;
}

static bool
is_ip_literal(const char *a)
{
	struct in_addr	in;

	return evutil_inet_pton(AF_INET, a, &in) == 1 || is_ipv6(a);
}

/* ------------------------------------------------------------ agents */

static unsigned
agent_hash(const char *s)
{
	return hash_str(s) % SNMP_AGENT_BUCKETS;
}

/* The agent of a new session, made on first use. */
static struct snmp_agent *
agent_get(const char *peer, int limit)
{
	struct snmp_agent	*a;
	unsigned		 h = agent_hash(peer);

	LIST_FOREACH(a, &snmp_agents[h], entry)
		if (strcmp(a->peer, peer) == 0)
			break;
	if (a == NULL) {
		a = xcalloc(1, sizeof(*a));
		a->peer = xstrdup(peer);
		TAILQ_INIT(&a->waiting);
		LIST_INSERT_HEAD(&snmp_agents[h], a, entry);
	}
	a->refs++;
	a->limit = limit > 0 ? limit : SNMP_INFLIGHT;
	return a;
}

/* A slot is free and someone waits: wake_cb hands it on from the loop. */
static void
agent_kick(struct snmp_agent *a)
{
	if (a->dirty || TAILQ_EMPTY(&a->waiting) || a->inflight >= a->limit)
		return;
	a->dirty = true;
	LIST_INSERT_HEAD(&snmp_dirty, a, dentry);
	event_active(snmp_wake_ev, EV_TIMEOUT, 0);
}

static void
agent_unqueue(struct snmp_state *st)
{
	if (!st->queued)
		return;
	TAILQ_REMOVE(&st->agent->waiting, st, wentry);
	st->queued = false;
}

static void
agent_queue(struct snmp_state *st)
{
	if (st->queued || st->agent == NULL)
		return;
	TAILQ_INSERT_TAIL(&st->agent->waiting, st, wentry);
	st->queued = true;
}

static void
pend_inc(struct snmp_state *st)
{
	st->pending++;
	if (st->agent != NULL)
		st->agent->inflight++;
}

static void
pend_dec(struct snmp_state *st)
{
	if (st->pending == 0)
		return;
	st->pending--;
	if (st->agent != NULL) {
		st->agent->inflight--;
		agent_kick(st->agent);
	}
}

/* The run stops waiting for what it sent: those slots are free again. */
static void
pend_clear(struct snmp_state *st)
{
	if (st->agent != NULL) {
		st->agent->inflight -= (int)st->pending;
		agent_kick(st->agent);
	}
	st->pending = 0;
}

static void
agent_put(struct snmp_state *st)
{
	struct snmp_agent	*a = st->agent;

	if (a == NULL)
		return;
	pend_clear(st);
	agent_unqueue(st);
	st->agent = NULL;
	if (--a->refs > 0)
		return;
	if (a->dirty)
		LIST_REMOVE(a, dentry);
	LIST_REMOVE(a, entry);
	free(a->peer);
	free(a);
}

/* May this run send one more PDU now?  Waiting runs go first, in order. */
static bool
may_send(const struct snmp_state *st)
{
	const struct snmp_agent	*a = st->agent;

	if (a == NULL)
		return st->pending < SNMP_INFLIGHT;
	if (a->inflight >= a->limit)
		return false;
	return TAILQ_EMPTY(&a->waiting) || TAILQ_FIRST(&a->waiting) == st;
}

static void	advance(struct snmp_state *);
static void	queue_timeout(struct snmp_state *);

/* Freed slots go to the runs waiting for them, first come first served. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_agent	*a;
	struct snmp_state	*st;

	(void)fd;
	(void)what;
	(void)arg;
	while ((a = LIST_FIRST(&snmp_dirty)) != NULL) {
		LIST_REMOVE(a, dentry);
		a->dirty = false;
		while (a->inflight < a->limit && (st = TAILQ_FIRST(&a->waiting)) != NULL) {
			advance(st);	/* sends, and leaves the queue unless still short */
			if (TAILQ_FIRST(&a->waiting) == st && a->inflight < a->limit) {
				agent_unqueue(st);	/* cannot happen; never spin */
				break;
			}
		}
	}
}

static void
session_close(struct snmp_state *st)
{
	agent_put(st);
	if (st->rev != NULL)
		event_free(st->rev);
	st->rev = NULL;
	if (st->sess != NULL) {
		/* it calls back for every request still out: see response_cb */
		st->closing = true;
		snmp_sess_close(st->sess);
		st->closing = false;
	}
	st->sess = NULL;
	st->fd = -1;
	free(st->peer);
	st->peer = NULL;

	if (st->auth != NULL) {
		explicit_bzero(st->auth, strlen(st->auth));
		free(st->auth);
	}
	st->auth = NULL;
}

/*
 * Every setting a session is opened with, as one text, so that a reload
 * that changes any of them opens a new session.  Holds secrets: compared,
 * then zeroed, never printed.
 */
static char *
auth_text(const struct snmp_auth *a)
{
#define S(x)	((x) ? (x) : "")
	return xasprintf("%d|%s|%s|%d|%s|%s|%s|%s|%s", a->version, S(a->community),
	    S(a->user), a->level, S(a->auth_proto), S(a->auth_key),
	    S(a->priv_proto), S(a->priv_key), S(a->context));
#undef S
}

/* Does *p start with s?  Moves *p past it. */
static bool
eat(const char **p, const char *s)
{
	size_t	n = strlen(s);

	if (strncmp(*p, s, n) != 0)
		return false;
	*p += n;
	return true;
}

static bool
eat_num(const char **p, long v)
{
	char		 buf[24], *b = buf + sizeof(buf);
	unsigned long	 u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	*--b = '\0';
	do
		*--b = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--b = '-';
	return eat(p, b);
}

/* auth_text(a) == text, without building it (every run asks). */
static bool
auth_matches(const char *text, const struct snmp_auth *a)
{
#define S(x)	((x) ? (x) : "")
	const char	*p = text;

	if (text == NULL)
		return false;
	return eat_num(&p, a->version) && eat(&p, "|") && eat(&p, S(a->community)) &&
	    eat(&p, "|") && eat(&p, S(a->user)) && eat(&p, "|") && eat_num(&p, a->level) &&
	    eat(&p, "|") && eat(&p, S(a->auth_proto)) && eat(&p, "|") &&
	    eat(&p, S(a->auth_key)) && eat(&p, "|") && eat(&p, S(a->priv_proto)) &&
	    eat(&p, "|") && eat(&p, S(a->priv_key)) && eat(&p, "|") &&
	    eat(&p, S(a->context)) && *p == '\0';
#undef S
}

/* The session's peer text is the one session_open() would build for addr. */
static bool
peer_matches(const char *peer, const char *addr, unsigned port)
{
	const char	*p = peer;
	bool		 v6 = strchr(addr, ':') != NULL;

	if (peer == NULL)
		return false;
	return (v6 ? eat(&p, "udp6:[") : eat(&p, "udp:")) && eat(&p, addr) &&
	    (v6 ? eat(&p, "]:") : eat(&p, ":")) && eat_num(&p, port) && *p == '\0';
}

/*
 * USM settings into a session: protocol OIDs from net-snmp's own name
 * tables (as snmpget -a/-x read them) and keys from the passphrases.
 * Engine ID discovery is left to net-snmp's reports on the first request
 * (SNMP_FLAGS_DONT_PROBE: its probe in snmp_sess_open() would block).
 */
static int
session_v3(netsnmp_session *ss, const struct snmp_auth *a, char *why, size_t whylen)
{
	const char	*pp;
	oid		*o;
	size_t		 olen = 0;
	int		 t;

	ss->version = SNMP_VERSION_3;
	ss->flags |= SNMP_FLAGS_DONT_PROBE;
	ss->securityName = a->user;
	ss->securityNameLen = strlen(a->user);
	ss->securityLevel = a->level == 3 ? SNMP_SEC_LEVEL_AUTHPRIV :
	    a->level == 2 ? SNMP_SEC_LEVEL_AUTHNOPRIV : SNMP_SEC_LEVEL_NOAUTH;
	if (a->context != NULL) {
		ss->contextName = a->context;
		ss->contextNameLen = strlen(a->context);
	}
	if (a->level < 2)
		return 0;
	if ((t = usm_lookup_auth_type(a->auth_proto)) < 0 ||
	    (o = sc_get_auth_oid(t, &olen)) == NULL) {
		snprintf(why, whylen, "auth protocol %s is not supported by this "
		    "net-snmp", a->auth_proto);
		return -1;
	}
	ss->securityAuthProto = snmp_duplicate_objid(o, olen);
	ss->securityAuthProtoLen = olen;
	ss->securityAuthKeyLen = USM_AUTH_KU_LEN;
	if (generate_Ku(ss->securityAuthProto, (u_int)olen, (const u_char *)a->auth_key,
	    strlen(a->auth_key), ss->securityAuthKey, &ss->securityAuthKeyLen) !=
	    SNMPERR_SUCCESS) {
		snprintf(why, whylen, "cannot derive the %s auth key", a->auth_proto);
		return -1;
	}
	if (a->level < 3)
		return 0;
	pp = strcmp(a->priv_proto, "AES-128") == 0 ? "AES" : a->priv_proto;
	if ((t = usm_lookup_priv_type(pp)) < 0 ||
	    (o = sc_get_priv_oid(t, &olen)) == NULL) {
		snprintf(why, whylen, "privacy protocol %s is not supported by "
		    "this net-snmp", a->priv_proto);
		return -1;
	}
	ss->securityPrivProto = snmp_duplicate_objid(o, olen);
	ss->securityPrivProtoLen = olen;
	ss->securityPrivKeyLen = USM_PRIV_KU_LEN;
	/* the privacy key is derived with the auth hash (RFC 3414 2.6) */
	if (generate_Ku(ss->securityAuthProto, (u_int)ss->securityAuthProtoLen,
	    (const u_char *)a->priv_key, strlen(a->priv_key), ss->securityPrivKey,
	    &ss->securityPrivKeyLen) != SNMPERR_SUCCESS) {
		snprintf(why, whylen, "cannot derive the %s privacy key", a->priv_proto);
		return -1;
	}
	return 0;
}

/* What session_v3() allocated; the keys are zeroed with the struct. */
static void
session_v3_clear(netsnmp_session *ss)
{
	free(ss->securityAuthProto);
	free(ss->securityPrivProto);
	ss->securityAuthProto = ss->securityPrivProto = NULL;
	explicit_bzero(ss->securityAuthKey, sizeof(ss->securityAuthKey));
	explicit_bzero(ss->securityPrivKey, sizeof(ss->securityPrivKey));
}

static void	read_cb(evutil_socket_t, short, void *);

/* A session to addr (numeric), reusing the open one unless a setting changed. */
static int
session_open(struct snmp_state *st, const char *addr, char *why, size_t whylen)
{
	const struct snmp_auth	*a = &st->check->host->snmp;
	netsnmp_session		 ss;
	netsnmp_transport	*t;
	char			*peer, *auth, *errstr = NULL;
	int			 liberr = 0, syserr = 0;

	/* the usual case, every run: compared in place, nothing allocated */
	if (st->sess != NULL && peer_matches(st->peer, addr, a->port) &&
	    auth_matches(st->auth, a))
		return 0;
	if (is_ipv6(addr))
		peer = xasprintf("udp6:[%s]:%u", addr, a->port);
	else
		peer = xasprintf("udp:%s:%u", addr, a->port);
	auth = auth_text(a);
	if (st->sess != NULL && strcmp(st->peer, peer) == 0 &&
	    strcmp(st->auth, auth) == 0) {
		free(peer);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		return 0;
	}
	session_close(st);

	snmp_sess_init(&ss);
	ss.peername = peer;
	ss.retries = a->retries;
	ss.timeout = 1000000;		/* set per run in send_run() */
	if (a->version == 3) {
		if (session_v3(&ss, a, why, whylen) == -1) {
			session_v3_clear(&ss);
			explicit_bzero(auth, strlen(auth));
			free(auth);
			free(peer);
			return -1;
		}
	} else {
		ss.version = a->version == 1 ? SNMP_VERSION_1 : SNMP_VERSION_2c;
		ss.community = (u_char *)a->community;
		ss.community_len = strlen(a->community);
	}
	st->sess = snmp_sess_open(&ss);
	if (st->sess == NULL) {
		snmp_error(&ss, &liberr, &syserr, &errstr);
		snprintf(why, whylen, "%s", errstr ? errstr : "snmp_sess_open failed");
		free(errstr);
	}
	session_v3_clear(&ss);
	if (st->sess == NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
		free(peer);
		return -1;
	}
	if ((t = snmp_sess_transport(st->sess)) == NULL || t->sock < 0) {
		snprintf(why, whylen, "session has no socket");
		snmp_sess_close(st->sess);
		st->sess = NULL;
		explicit_bzero(auth, strlen(auth));
		free(auth);
		free(peer);
		return -1;
	}
	st->fd = t->sock;
	st->peer = peer;
	st->auth = auth;
	st->agent = agent_get(peer, a->max_inflight);
	if ((st->rev = event_new(snmp_base, st->fd, EV_READ | EV_PERSIST,
	    read_cb, st)) == NULL || event_add(st->rev, NULL) == -1)
		fatalx("snmp: cannot watch the session's socket");
	return 0;
}

/* ------------------------------------------------------------ a run */

/* The run's verdict: the first failure names the run; later ones only their values. */
static void
run_status(struct snmp_state *st, enum probe_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
run_status(struct snmp_state *st, enum probe_status s, const char *fmt, ...)
{
	struct probe_result	*r = &st->check->result;
	va_list			 ap;

	if (r->status != PS_OK)
		return;
	r->status = s;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static const oid	sysuptime_oid[] = { 1, 3, 6, 1, 2, 1, 1, 3, 0 };

/* Where the answer for an item goes. */
static struct sample *
item_sample(struct snmp_state *st, const struct snmp_item *it)
{
	if (it->col == IT_UPTIME)
		return &st->up;
	if (it->col == IT_DISC)
		return &st->rows[it->row].dsample;
	if (st->check->def->table)
		return &st->rows[it->row].values[it->col];
	return &st->check->result.values[it->col];
}

/* The OID an item asks for: a column's gets the row's index appended. */
static size_t
item_oid(const struct snmp_state *st, const struct snmp_item *it, oid *out)
{
	const struct probe_def	*d = st->check->def;
	const struct snmp_table	*t = d->priv;
	const struct snmp_oid	*o;
	const struct snmp_row	*r;
	size_t			 n;

	if (it->col == IT_UPTIME) {
		memcpy(out, sysuptime_oid, sizeof(sysuptime_oid));
		return sizeof(sysuptime_oid) / sizeof(sysuptime_oid[0]);
	}
	o = it->col == IT_DISC ? t->disc : d->metrics[it->col].priv;
	memcpy(out, o->sub, o->len * sizeof(oid));
	n = o->len;
	if (!d->table)
		return n;
	r = &st->rows[it->row];
	if (n + r->idxlen > MAX_OID_LEN)
		return 0;		/* cannot happen: walked OIDs fit */
	memcpy(out + n, r->idx, r->idxlen * sizeof(oid));
	return n + r->idxlen;
}

static void
items_fail(struct snmp_state *st, size_t first, size_t count, enum probe_status s,
    const char *reason)
{
	for (size_t i = first; i < first + count && i < st->nitems; i++)
		sample_fail(item_sample(st, &st->items[i]), s, reason);
}

/* The whole run failed before any answer: every value says why. */
static void
run_fail(struct snmp_state *st, enum probe_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
run_fail(struct snmp_state *st, enum probe_status s, const char *fmt, ...)
{
	struct probe_result	*r = &st->check->result;
	va_list			 ap;

	r->status = s;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	if (!st->check->def->table)
		for (size_t i = 0; i < st->check->def->nmetrics; i++)
			sample_fail(&r->values[i], s, r->reason);
	for (size_t i = 0; i < st->nreqs; i++)
		st->reqs[i].state = RQ_DONE;
	pend_clear(st);
	if (st->agent != NULL)
		agent_unqueue(st);
	st->step = STEP_DONE;
}

/*
 * check_done() from the next loop turn (see enum snmp_phase): the timer
 * made active, not armed with a zero timeout (no trip through the heap).
 */
static void
end_soon(struct snmp_state *st)
{
	st->phase = SR_ENDING;
	evtimer_del(st->timer);
	event_active(st->timer, EV_TIMEOUT, 1);
}

/* The last thing any path does: check_done() may free the check and us. */
static void
finish(struct snmp_state *st)
{
	struct check	*c = st->check;

	st->phase = SR_IDLE;
	evtimer_del(st->timer);
	if (c->result.status != PS_OK && st->resolved != NULL) {
		free(st->resolved);	/* the address may have moved: look it up again */
		st->resolved = NULL;
	}
	if (c->result.status != PS_OK)
		c->result.nrows = 0;
	c->result.finished_wall_ms = wall_ms();
	check_done(c);
}

/* Wake for net-snmp's next retry or expiry, but never past the hard deadline. */
static void
arm_timer(struct snmp_state *st)
{
	struct timeval	tv = { 0, 0 };
	uint64_t	now = mono_ms(), left_us, snmp_us;
	int		numfds = 0, block = 1;

	left_us = (st->deadline + SNMP_GRACE_MS > now ?
	    st->deadline + SNMP_GRACE_MS - now : 0) * 1000;
	if (st->queued)		/* waiting for a slot: give up at the deadline */
		left_us = (st->deadline > now ? st->deadline - now : 0) * 1000;
	if (st->sess != NULL) {
		snmp_sess_select_info2_flags(st->sess, &numfds, &snmp_fds, &tv, &block,
		    NETSNMP_SELECT_NOALARMS);
		NETSNMP_LARGE_FD_CLR(st->fd, &snmp_fds);
		if (!block) {
			snmp_us = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
			if (snmp_us < left_us)
				left_us = snmp_us;
		}
	}
	tv.tv_sec = left_us / 1000000;
	tv.tv_usec = left_us % 1000000;
	evtimer_add(st->timer, &tv);
}

static size_t
req_new(struct snmp_state *st, bool walk, size_t first, size_t count)
{
	if (st->nreqs == st->reqs_cap) {
		st->reqs_cap = st->reqs_cap ? st->reqs_cap * 2 : 4;
		st->reqs = xreallocarray(st->reqs, st->reqs_cap, sizeof(*st->reqs));
	}
	st->reqs[st->nreqs] = (struct snmp_req){ 0, RQ_QUEUED, walk, first, count };
	return st->nreqs++;
}

static int	response_cb(int, netsnmp_session *, int, netsnmp_pdu *, void *);

/* Sends request i; a failure to send ends its items with the reason. */
static void
req_send(struct snmp_state *st, size_t i, netsnmp_pdu *pdu)
{
	struct snmp_req	*rq = &st->reqs[i];
	char		*errstr = NULL, target[300];
	int		 liberr, syserr;

	if ((rq->reqid = snmp_sess_async_send(st->sess, pdu, response_cb, st)) == 0) {
		snmp_sess_error(st->sess, &liberr, &syserr, &errstr);
		target_text(st->check, target, sizeof(target));
		run_status(st, PS_ERROR, "cannot send to %s: %s", target,
		    errstr ? errstr : "unknown error");
		free(errstr);
		snmp_free_pdu(pdu);
		if (!rq->walk)
			items_fail(st, rq->first, rq->count, PS_ERROR, "not sent");
		rq->state = RQ_DONE;
		return;
	}
	rq->state = RQ_SENT;
	pend_inc(st);
}

static void
send_get(struct snmp_state *st, size_t i)
{
	netsnmp_pdu	*pdu = snmp_pdu_create(SNMP_MSG_GET);
	oid		 name[MAX_OID_LEN];
	size_t		 len;

	for (size_t k = st->reqs[i].first; k < st->reqs[i].first + st->reqs[i].count; k++)
		if ((len = item_oid(st, &st->items[k], name)) > 0)
			snmp_add_null_var(pdu, name, len);
	req_send(st, i, pdu);
}

/*
 * The next step of a walk: one GETBULK (GETNEXT for SNMPv1) carrying the
 * last OID seen of every label column still going; `first` holds the mask
 * of those columns, so the answer can be matched back.
 */
static void
send_walk(struct snmp_state *st)
{
	const struct snmp_table	*t = st->check->def->priv;
	struct snmp_walk	*w = st->w;
	netsnmp_pdu		*pdu;
	size_t			 mask = 0, i;

	pdu = snmp_pdu_create(st->check->host->snmp.version == 1 ? SNMP_MSG_GETNEXT :
	    SNMP_MSG_GETBULK);
	if (pdu->command == SNMP_MSG_GETBULK) {
		pdu->non_repeaters = 0;
		pdu->max_repetitions = st->max_rep;
	}
	for (size_t c = 0; c < t->nlabels; c++) {
		if (w->done[c])
			continue;
		mask |= (size_t)1 << c;
		snmp_add_null_var(pdu, w->last[c], w->lastlen[c]);
	}
	i = req_new(st, true, mask, 0);
	req_send(st, i, pdu);
}

static bool
walk_finished(const struct snmp_state *st)
{
	const struct snmp_table	*t = st->check->def->priv;

	for (size_t c = 0; c < t->nlabels; c++)
		if (!st->w->done[c])
			return false;
	return true;
}

/* Is something of this step still to be sent? */
static bool
has_unsent(const struct snmp_state *st)
{
	if (st->step == STEP_WALK)
		return st->pending == 0 && !walk_finished(st);
	if (st->step != STEP_POLL)
		return false;
	for (size_t i = 0; i < st->nreqs; i++)
		if (st->reqs[i].state == RQ_QUEUED)
			return true;
	return st->next_item < st->nitems;
}

/*
 * Sends what may go now: the next walk step, or GETs, as far as the
 * agent's in-flight limit allows; what may not go yet queues the run on
 * the agent, behind the runs already waiting.
 */
static void
pump(struct snmp_state *st)
{
	size_t	n;
	bool	want = false;
	int	tries = (st->check->host->snmp.retries > 0 ?
		    st->check->host->snmp.retries : 0) + 1;
	uint64_t now = mono_ms(), left;

	if (st->check->result.status != PS_OK || st->sess == NULL) {
		agent_unqueue(st);	/* a failed run asks nothing more */
		return;
	}
	/*
	 * What is sent late (after a walk, or after waiting for a slot) gets
	 * its usual share of the timeout, but no more than is left until the
	 * run's hard end (deadline and grace), so the run still ends in time;
	 * with too little left, the rest is not sent at all.
	 */
	left = st->deadline + SNMP_GRACE_MS > now ? st->deadline + SNMP_GRACE_MS - now : 0;
	if (left < (uint64_t)SNMP_MIN_TRY_MS * (uint64_t)tries) {
		if (has_unsent(st))
			queue_timeout(st);
		agent_unqueue(st);
		return;
	}
	if (left > st->check->def->timeout_ms)
		left = st->check->def->timeout_ms;
	snmp_sess_session(st->sess)->timeout = (long)(left * 1000 / (uint64_t)tries);
	if (st->step == STEP_WALK) {
		if (st->pending == 0 && !walk_finished(st)) {
			if (may_send(st))
				send_walk(st);
			else
				want = true;
		}
	} else if (st->step == STEP_POLL) {
		for (size_t i = 0; i < st->nreqs && !want; i++)
			if (st->reqs[i].state == RQ_QUEUED) {
				if (may_send(st))
					send_get(st, i);
				else
					want = true;
			}
		while (!want && st->next_item < st->nitems) {
			if (!may_send(st)) {
				want = true;
				break;
			}
			n = st->nitems - st->next_item;
			if (n > st->max_vb)
				n = st->max_vb;
			st->next_item += n;
			send_get(st, req_new(st, false, st->next_item - n, n));
		}
	}
	if (want)
		agent_queue(st);
	else
		agent_unqueue(st);
}

/*
 * The run is out of time with requests unsent (it waited for a free slot,
 * or a walk took it all): they time out like unanswered ones, naming why.
 */
static void
queue_timeout(struct snmp_state *st)
{
	char	target[300];

	target_text(st->check, target, sizeof(target));
	if (st->queued)
		run_status(st, PS_TIMEOUT, "no SNMP response from %s in %llu ms (queued "
		    "behind %d requests already out to it: snmp-max-inflight)", target,
		    (unsigned long long)st->check->def->timeout_ms,
		    st->agent != NULL ? st->agent->inflight : 0);
	else
		run_status(st, PS_TIMEOUT, "no SNMP response from %s in %llu ms (no time "
		    "left for the rest of the run)", target,
		    (unsigned long long)st->check->def->timeout_ms);
	agent_unqueue(st);
	for (size_t i = 0; i < st->nreqs; i++)
		if (st->reqs[i].state == RQ_QUEUED) {
			if (!st->reqs[i].walk)
				items_fail(st, st->reqs[i].first, st->reqs[i].count,
				    PS_TIMEOUT, "not sent: the agent had enough requests out");
			st->reqs[i].state = RQ_DONE;
		}
	if (st->step == STEP_POLL && st->next_item < st->nitems)
		items_fail(st, st->next_item, st->nitems - st->next_item, PS_TIMEOUT,
		    "not sent: the agent had enough requests out");
	st->next_item = st->nitems;
}

/* A varbind's value as a row label: text as is (controls made '?'), numbers in decimal. */
static char *
label_text(const netsnmp_variable_list *v)
{
	char	*s;

	switch (v->type) {
	case ASN_OCTET_STR:
		s = xmalloc(v->val_len + 1);
		for (size_t i = 0; i < v->val_len; i++)
			s[i] = v->val.string[i] < 0x20 || v->val.string[i] == 0x7f ? '?' :
			    (char)v->val.string[i];
		s[v->val_len] = '\0';
		return s;
	case ASN_INTEGER:
		return xasprintf("%ld", *v->val.integer);
	case ASN_GAUGE:
	case ASN_COUNTER:
	case ASN_TIMETICKS:
	case ASN_UINTEGER:
		return xasprintf("%lu", (unsigned long)(uint32_t)*v->val.integer);
	}
	return xstrdup("");
}

/* The walk row with this index, made if new.  Columns share row order: look near the hint first. */
static size_t
walk_row(struct snmp_state *st, const oid *idx, size_t len, size_t *hint)
{
	struct snmp_walk	*w = st->w;
	struct snmp_row		*r;

	for (size_t k = 0; k < w->nrows; k++) {
		size_t	j = (*hint + k) % w->nrows;

		if (snmp_oid_compare(w->rows[j].idx, w->rows[j].idxlen, idx, len) == 0) {
			*hint = j + 1;
			return j;
		}
	}
	if (w->nrows == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->rows = xreallocarray(w->rows, w->cap, sizeof(*w->rows));
	}
	r = &w->rows[w->nrows];
	memset(r, 0, sizeof(*r));
	r->idx = xreallocarray(NULL, len ? len : 1, sizeof(*r->idx));
	memcpy(r->idx, idx, len * sizeof(*r->idx));
	r->idxlen = len;
	*hint = w->nrows + 1;
	return w->nrows++;
}

/* One answer of a walk: new rows and labels, and which columns ended. */
static void
take_walk(struct snmp_state *st, struct snmp_req *rq, netsnmp_pdu *pdu)
{
	const struct snmp_table	*t = st->check->def->priv;
	struct snmp_walk	*w = st->w;
	const netsnmp_variable_list *v;
	size_t			 act[8], nact = 0, k, c, row;
	bool			 ended[8] = { false };
	const char		*en;

	for (c = 0; c < t->nlabels; c++)
		if (rq->first & ((size_t)1 << c))
			act[nact++] = c;
	if (pdu->errstat == SNMP_ERR_TOOBIG) {
		if (st->max_rep > 1) {
			st->max_rep /= 2;	/* ask for fewer rows per answer */
			return;
		}
		run_status(st, PS_BAD_RESPONSE, "agent error: tooBig for a walk of one row");
		return;
	}
	if (pdu->errstat == SNMP_ERR_NOSUCHNAME && pdu->errindex >= 1 &&
	    (size_t)pdu->errindex <= nact) {
		/* SNMPv1's end of the MIB: that column is over, ask again for the rest */
		w->done[act[pdu->errindex - 1]] = true;
		return;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		if ((en = errstat_name(pdu->errstat)) != NULL)
			run_status(st, PS_BAD_RESPONSE, "agent error in a walk: %s", en);
		else
			run_status(st, PS_BAD_RESPONSE, "agent error in a walk: %ld",
			    pdu->errstat);
		return;
	}
	for (k = 0, v = pdu->variables; v != NULL; k++, v = v->next_variable) {
		const struct snmp_oid	*col;

		c = act[k % nact];
		col = t->labels[c];
		if (ended[c])
			continue;
		if (v->type == SNMP_ENDOFMIBVIEW || v->type == SNMP_NOSUCHOBJECT ||
		    v->type == SNMP_NOSUCHINSTANCE || v->name_length <= col->len ||
		    snmp_oid_compare(v->name, col->len, col->sub, col->len) != 0) {
			ended[c] = w->done[c] = true;
			continue;
		}
		if (snmp_oid_compare(v->name, v->name_length, w->last[c],
		    w->lastlen[c]) <= 0) {
			run_status(st, PS_BAD_RESPONSE, "agent walked backwards (OIDs not "
			    "increasing)");
			return;
		}
		memcpy(w->last[c], v->name, v->name_length * sizeof(oid));
		w->lastlen[c] = v->name_length;
		if (w->nrows >= SNMP_MAX_ROWS) {
			run_status(st, PS_BAD_RESPONSE, "table has more than %d rows",
			    SNMP_MAX_ROWS);
			return;
		}
		row = walk_row(st, v->name + col->len, v->name_length - col->len,
		    &w->hint[c]);
		free(w->rows[row].labels[c]);
		w->rows[row].labels[c] = label_text(v);
	}
	if (k == 0)			/* nothing at all: treat as the end */
		for (size_t j = 0; j < nact; j++)
			w->done[act[j]] = true;
}

static void
row_free(struct snmp_row *r)
{
	free(r->idx);
	free(r->label);
	for (size_t c = 0; c < sizeof(r->labels) / sizeof(r->labels[0]); c++)
		free(r->labels[c]);
	free(r->values);
}

static void
walk_free(struct snmp_state *st)
{
	if (st->w == NULL)
		return;
	for (size_t i = 0; i < st->w->nrows; i++)
		row_free(&st->w->rows[i]);
	free(st->w->rows);
	free(st->w);
	st->w = NULL;
}

static void
rows_free(struct snmp_state *st)
{
	for (size_t i = 0; i < st->nrows; i++)
		row_free(&st->rows[i]);
	free(st->rows);
	st->rows = NULL;
	st->nrows = 0;
}

static int
row_label_cmp(const void *a, const void *b)
{
	const struct snmp_row *const *x = a, *const *y = b;
	int	c = strcmp((*x)->label, (*y)->label);

	return c != 0 ? c : snmp_oid_compare((*x)->idx, (*x)->idxlen, (*y)->idx,
	    (*y)->idxlen);
}

/* "(a, b, c, ...)": the first few names of a list, for one log line. */
static void
names_add(char *buf, size_t len, size_t *n, const char *name)
{
	size_t	used;

	if (*n == 0)
		snprintf(buf, len, "(%.60s)", name);
	else if (*n < 4 && (used = strlen(buf)) > 0)
		snprintf(buf + used - 1, len - used + 1, ", %.60s)", name);
	else if (*n == 4 && (used = strlen(buf)) > 0)
		snprintf(buf + used - 1, len - used + 1, ", ...)");
	(*n)++;
}

/*
 * The walk's rows become the probe's: each named by its first non-empty
 * label (the index if none), twins told apart by "#index", filtered, and
 * given what the old rows knew of their counters' discontinuity.
 */
static void
rows_from_walk(struct snmp_state *st)
{
	const struct probe_def	*d = st->check->def;
	const struct snmp_table	*t = d->priv;
	struct snmp_walk	*w = st->w;
	struct snmp_row		**by;
	char			 ib[256], *prev, added[200] = "", gone[200] = "";
	size_t			 nadded = 0, ngone = 0;
	bool			*seen;

	for (size_t i = 0; i < w->nrows; i++) {
		struct snmp_row	*r = &w->rows[i];
		size_t		 len = 0;

		for (size_t c = 0; c < t->nlabels && r->label == NULL; c++)
			if (r->labels[c] != NULL && r->labels[c][0] != '\0')
				r->label = xstrdup(r->labels[c]);
		ib[0] = '\0';
		for (size_t k = 0; k < r->idxlen && len + 12 < sizeof(ib); k++)
			len += (size_t)snprintf(ib + len, sizeof(ib) - len, "%s%lu",
			    k ? "." : "", (unsigned long)r->idx[k]);
		if (r->label == NULL)
			r->label = xstrdup(ib);
	}
	by = xcalloc(w->nrows ? w->nrows : 1, sizeof(*by));
	for (size_t i = 0; i < w->nrows; i++)
		by[i] = &w->rows[i];
	qsort(by, w->nrows, sizeof(*by), row_label_cmp);
	prev = NULL;
	for (size_t i = 0; i < w->nrows; i++) {
		size_t	len = 0;
		char	*l;

		if (prev == NULL || strcmp(by[i]->label, prev) != 0) {
			free(prev);
			prev = xstrdup(by[i]->label);
			continue;
		}
		/* twins (two ports both named "eth0"): the later index says which */
		ib[0] = '\0';
		for (size_t k = 0; k < by[i]->idxlen && len + 12 < sizeof(ib); k++)
			len += (size_t)snprintf(ib + len, sizeof(ib) - len, "%s%lu",
			    k ? "." : "", (unsigned long)by[i]->idx[k]);
		l = xasprintf("%s#%s", by[i]->label, ib);
		free(by[i]->label);
		by[i]->label = l;
	}
	free(prev);
	free(by);
	seen = xcalloc(st->nrows ? st->nrows : 1, sizeof(*seen));
	for (size_t i = 0; i < w->nrows; i++) {
		struct snmp_row	*r = &w->rows[i];
		bool		 old = false;

		r->keep = snmp_table_keep(t, r->label);
		r->values = xcalloc(d->nmetrics ? d->nmetrics : 1, sizeof(*r->values));
		for (size_t j = 0; j < st->nrows; j++)
			if (snmp_oid_compare(st->rows[j].idx, st->rows[j].idxlen, r->idx,
			    r->idxlen) == 0) {
				r->disc = st->rows[j].disc;
				r->have_disc = st->rows[j].have_disc;
				r->had_data = st->rows[j].had_data;
				seen[j] = old = true;
				break;
			}
		if (!old && r->keep)
			names_add(added, sizeof(added), &nadded, r->label);
	}
	for (size_t j = 0; j < st->nrows; j++)
		if (!seen[j] && st->rows[j].keep)
			names_add(gone, sizeof(gone), &ngone, st->rows[j].label);
	free(seen);
	if (st->discovered && (nadded > 0 || ngone > 0))
		log_info("%s: rediscovery: %zu new row%s%s%s, %zu gone%s%s", st->check->key,
		    nadded, nadded == 1 ? "" : "s", nadded ? " " : "", added, ngone,
		    ngone ? " " : "", gone);
	else if (!st->discovered)
		log_debug("%s: %zu rows discovered", st->check->key, w->nrows);
	rows_free(st);
	st->rows = w->rows;
	st->nrows = w->nrows;
	w->rows = NULL;
	w->nrows = 0;
	walk_free(st);
	st->discovered_ms = mono_ms();
	st->discovered = true;
	st->rediscover = false;
}

/* The poll's items: sysUpTime if counters are read, then every row's columns. */
static void
items_build(struct snmp_state *st)
{
	const struct probe_def	*d = st->check->def;
	const struct snmp_table	*t = d->priv;
	size_t			 n = 0, nrows = d->table ? st->nrows : 1;

	if (d->table)
		n = st->nrows * (d->nmetrics + (t->disc ? 1 : 0));
	else
		n = d->nmetrics;
	n += 1;
	if (n > st->items_cap) {
		st->items = xreallocarray(st->items, n, sizeof(*st->items));
		st->items_cap = n;
	}
	st->nitems = 0;
	if (st->want_uptime)
		st->items[st->nitems++] = (struct snmp_item){ 0, IT_UPTIME };
	for (size_t r = 0; r < nrows; r++) {
		if (d->table && !st->rows[r].keep)
			continue;
		for (size_t m = 0; m < d->nmetrics; m++) {
			if (d->metrics[m].priv == NULL)
				continue;	/* a percent: computed, not asked */
			st->items[st->nitems++] = (struct snmp_item){ (uint32_t)r, (int32_t)m };
		}
		if (d->table && t->disc != NULL)
			st->items[st->nitems++] = (struct snmp_item){ (uint32_t)r, IT_DISC };
		if (d->table) {
			for (size_t m = 0; m < d->nmetrics; m++)
				sample_fail(&st->rows[r].values[m], PS_ERROR, "no result");
			sample_fail(&st->rows[r].dsample, PS_ERROR, "no result");
		}
	}
	sample_fail(&st->up, PS_ERROR, "no result");
	st->next_item = 0;
}

/* One answered GET: each varbind into its item's sample. */
static void
take_get(struct snmp_state *st, size_t ri, netsnmp_pdu *pdu)
{
	struct snmp_req		*rq = &st->reqs[ri];
	netsnmp_variable_list	*v;
	oid			 name[MAX_OID_LEN];
	const char		*en;
	char			 why[96];
	size_t			 i, len, first = rq->first, count = rq->count, half;

	if (pdu->errstat == SNMP_ERR_TOOBIG && count > 1) {
		/* the answer would not fit: ask in halves, and smaller from now on */
		half = count / 2;
		if (st->max_vb > half)
			st->max_vb = half;
		req_new(st, false, first, half);
		req_new(st, false, first + half, count - half);
		return;
	}
	if (pdu->errstat == SNMP_ERR_NOSUCHNAME && pdu->errindex >= 1 &&
	    (size_t)pdu->errindex <= count) {
		/* SNMPv1: one missing object voids the PDU; ask the others again */
		size_t	bad = first + (size_t)pdu->errindex - 1;

		sample_fail(item_sample(st, &st->items[bad]), PS_NO_SUCH_OBJECT, "noSuchName");
		if (bad > first)
			req_new(st, false, first, bad - first);
		if (bad + 1 < first + count)
			req_new(st, false, bad + 1, first + count - bad - 1);
		return;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		if ((en = errstat_name(pdu->errstat)) != NULL)
			snprintf(why, sizeof(why), "agent error: %s", en);
		else
			snprintf(why, sizeof(why), "agent error: %ld", pdu->errstat);
		run_status(st, PS_BAD_RESPONSE, "%s", why);
		items_fail(st, first, count, PS_BAD_RESPONSE, why);
		return;
	}
	for (i = 0, v = pdu->variables; i < count; i++, v = v ? v->next_variable : NULL) {
		struct snmp_item	*it = &st->items[first + i];
		struct sample		*s = item_sample(st, it);

		len = item_oid(st, it, name);
		if (v == NULL)
			sample_fail(s, PS_BAD_RESPONSE, "missing from the response");
		else if (snmp_oid_compare(v->name, v->name_length, name, len) != 0)
			sample_fail(s, PS_BAD_RESPONSE, "agent answered for another OID");
		else
			snmp_var_sample(v, s);
	}
}

/*
 * After the poll: restarts and discontinuities, link speeds, percents, and
 * the rows handed to check_done().  A row whose every column is gone left
 * the device: it is not returned, and the next run walks again.
 */
static void
poll_done(struct snmp_state *st)
{
	struct check		*c = st->check;
	const struct probe_def	*d = c->def;
	const struct snmp_table	*t = d->priv;
	bool			 restart = false, saw = false, young = false;
	size_t			 n = 0;

	if (st->up.ok) {
		uint32_t	u = (uint32_t)st->up.value;

		restart = st->have_uptime && u < st->uptime;
		st->uptime = u;
		st->have_uptime = true;
		if (restart)
			log_info("%s: agent restarted (sysUpTime went back); counter "
			    "rates skip this interval", c->key);
		young = u < SNMP_SETTLE_CS;
	}
	if (!d->table) {
		for (size_t m = 0; m < d->nmetrics; m++) {
			struct sample *s = &c->result.values[m];

			if (s->ok && s->kind == MK_COUNTER) {
				saw = true;
				s->discontinuity = restart;
				s->young_agent = young;
				s->max_rate = 0;
			}
		}
		st->want_uptime = saw;
		return;
	}
	if (st->nrows > st->res_cap) {
		st->res = xreallocarray(st->res, st->nrows, sizeof(*st->res));
		st->res_cap = st->nrows;
	}
	for (size_t r = 0; r < st->nrows; r++) {
		struct snmp_row	*row = &st->rows[r];
		bool		 disc = restart, gone = true, any = false;
		double		 max_rate = 0;

		if (!row->keep)
			continue;
		for (size_t m = 0; m < d->nmetrics; m++)
			if (d->metrics[m].priv != NULL) {
				any = true;
				if (row->values[m].ok ||
				    row->values[m].status != PS_NO_SUCH_OBJECT)
					gone = false;
			}
		/*
		 * A row that answered before and now has none of its columns
		 * was removed: drop it and walk again.  One that never answered
		 * (the label exists, the columns do not) stays, UNKNOWN.
		 */
		if (any && gone && row->had_data) {
			st->rediscover = true;
			continue;
		}
		if (!gone)
			row->had_data = true;
		if (t->disc != NULL && row->dsample.ok) {
			uint32_t	dt = (uint32_t)row->dsample.value;

			if (row->have_disc && dt != row->disc)
				disc = true;
			row->disc = dt;
			row->have_disc = true;
		}
		if (t->speed >= 0 && row->values[t->speed].ok &&
		    row->values[t->speed].kind == MK_GAUGE && row->values[t->speed].value > 0)
			max_rate = row->values[t->speed].value * 1e6 / 8;
		for (size_t m = 0; m < d->nmetrics; m++) {
			struct sample	*s = &row->values[m];

			if (t->part[m] != SIZE_MAX) {
				const struct sample *p = &row->values[t->part[m]];
				const struct sample *w = &row->values[t->whole[m]];

				if (!p->ok || !w->ok || p->kind != MK_GAUGE || w->kind != MK_GAUGE)
					sample_fail(s, PS_BAD_RESPONSE, "no value to compute from");
				else if (w->value <= 0)
					sample_fail(s, PS_BAD_RESPONSE, "whole is zero");
				else
					sample_gauge(s, 100.0 * p->value / w->value);
				continue;
			}
			if (s->ok && s->kind == MK_COUNTER) {
				saw = true;
				s->discontinuity = disc;
				s->young_agent = young;
				s->max_rate = max_rate;
			}
		}
		st->res[n].name = row->label;
		st->res[n].values = row->values;
		n++;
	}
	c->result.rows = st->res;
	c->result.nrows = n;
	st->want_uptime = saw || t->disc != NULL;
}

/*
 * Moves the run on after every answer or time-out: sends what is due, and
 * when nothing is out and nothing is left, goes from the walk to the poll,
 * or ends.  Never ends the run itself: end_soon() leaves that to the timer.
 */
static void
advance(struct snmp_state *st)
{
	for (;;) {
		pump(st);
		if (st->pending > 0 || st->queued) {
			arm_timer(st);
			return;
		}
		if (st->step == STEP_WALK && st->check->result.status == PS_OK) {
			rows_from_walk(st);
			st->step = STEP_POLL;
			items_build(st);
			continue;
		}
		break;
	}
	if (st->step == STEP_POLL && st->check->result.status == PS_OK)
		poll_done(st);
	st->step = STEP_DONE;
	end_soon(st);
}

/*
 * RFC 3414/3412 report counters, the agent's way of saying why it refused
 * an SNMPv3 request.  Time window and engine ID reports are part of
 * discovery: net-snmp answers them by resending, so they end nothing.
 */
static const struct {
	oid		 arc[11];
	size_t		 len;
	const char	*name, *what;
	bool		 transient;
} snmp_reports[] = {
	{ { 1,3,6,1,6,3,15,1,1,1,0 }, 11, "usmStatsUnsupportedSecLevels",
	    "security level not accepted", false },
	{ { 1,3,6,1,6,3,15,1,1,2,0 }, 11, "usmStatsNotInTimeWindows",
	    "not in time window", true },
	{ { 1,3,6,1,6,3,15,1,1,3,0 }, 11, "usmStatsUnknownUserNames",
	    "unknown user", false },
	{ { 1,3,6,1,6,3,15,1,1,4,0 }, 11, "usmStatsUnknownEngineIDs",
	    "unknown engine ID", true },
	{ { 1,3,6,1,6,3,15,1,1,5,0 }, 11, "usmStatsWrongDigests",
	    "authentication failure", false },
	{ { 1,3,6,1,6,3,15,1,1,6,0 }, 11, "usmStatsDecryptionErrors",
	    "decryption failure (wrong privacy key or protocol)", false },
	{ { 1,3,6,1,6,3,11,2,1,1,0 }, 11, "snmpUnknownSecurityModels",
	    "security model not supported", false },
	{ { 1,3,6,1,6,3,11,2,1,2,0 }, 11, "snmpInvalidMsgs",
	    "invalid message", false },
	{ { 1,3,6,1,6,3,11,2,1,3,0 }, 11, "snmpUnknownPDUHandlers",
	    "no PDU handler", false },
};

/* Index into snmp_reports of a report PDU's first varbind, or -1. */
static int
report_kind(const netsnmp_pdu *pdu)
{
	const netsnmp_variable_list	*v = pdu->variables;

	if (v == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(snmp_reports) / sizeof(snmp_reports[0]); i++)
		if (snmp_oid_compare(v->name, v->name_length, snmp_reports[i].arc,
		    snmp_reports[i].len) == 0)
			return (int)i;
	return -1;
}

/*
 * The agent refused the request with a report: the run fails with its
 * name, and the host's log says so once until it changes or recovers.
 */
static void
report_fail(struct snmp_state *st, const struct snmp_req *rq, int k)
{
	const char	*name = k >= 0 ? snmp_reports[k].name : "unknown report";
	char		 why[160];

	if (k >= 0)
		snprintf(why, sizeof(why), "SNMPv3 %s (%s)", snmp_reports[k].what, name);
	else
		snprintf(why, sizeof(why), "SNMPv3 request refused (unknown report)");
	run_status(st, PS_AUTH_FAILED, "%s", why);
	if (!rq->walk)
		items_fail(st, rq->first, rq->count, PS_AUTH_FAILED, why);
	if (st->report_logged != k + 1) {
		log_warnx("%s: %s", st->check->host->name, why);
		st->report_logged = k + 1;
	}
}

/*
 * net-snmp calls this from snmp_sess_read2(), snmp_sess_timeout() and
 * snmp_sess_close().  It only records: it must not end the run, since the
 * library still holds the request when it returns to us.
 */
static int
response_cb(int op, netsnmp_session *sp, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct snmp_state	*st = arg;
	struct snmp_req		*rq = NULL;
	char			 target[300];
	size_t			 ri = 0;
	int			 tries;

	(void)sp;
	if (st->closing || st->phase != SR_WAITING)
		return 1;
	if (op == NETSNMP_CALLBACK_OP_RESEND || op == NETSNMP_CALLBACK_OP_CONNECT)
		return 1;		/* news of a retry, not an end */
	for (size_t i = 0; i < st->nreqs; i++)
		if (st->reqs[i].reqid == reqid && st->reqs[i].state == RQ_SENT) {
			rq = &st->reqs[i];
			ri = i;
		}
	if (rq == NULL)
		return 1;		/* a request of an earlier run */
	if (pdu != NULL && pdu->command == SNMP_MSG_REPORT) {
		int	k = report_kind(pdu);

		if (k >= 0 && snmp_reports[k].transient)
			return 1;	/* discovery: net-snmp resends */
		rq->state = RQ_DONE;
		pend_dec(st);
		report_fail(st, rq, k);
		return 1;
	}
	if (op == NETSNMP_CALLBACK_OP_SEC_ERROR)
		return 1;		/* the report itself follows, or the timeout */
	rq->state = RQ_DONE;
	pend_dec(st);

	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (rq->walk)
			take_walk(st, rq, pdu);
		else
			take_get(st, ri, pdu);	/* may grow reqs: rq is stale after */
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		tries = (st->check->host->snmp.retries > 0 ?
		    st->check->host->snmp.retries : 0) + 1;
		target_text(st->check, target, sizeof(target));
		/* agents drop what they cannot decrypt: say so, it is the usual cause */
		run_status(st, PS_TIMEOUT, "no SNMP response from %s after %d %s%s",
		    target, tries, tries == 1 ? "try" : "tries",
		    st->check->host->snmp.version == 3 && st->check->host->snmp.level == 3 ?
		    " (SNMPv3 authPriv: a wrong privacy key looks the same)" : "");
		if (!rq->walk)
			items_fail(st, rq->first, rq->count, PS_TIMEOUT, "no SNMP response");
		break;
	default:
		run_status(st, PS_ERROR, "net-snmp gave up on the request (op %d)", op);
		if (!rq->walk)
			items_fail(st, rq->first, rq->count, PS_ERROR, "request failed");
		break;
	}
	return 1;
}

/* Open (or reuse) the session and start sending. */
static void
send_run(struct snmp_state *st, const char *addr)
{
	const struct snmp_auth	*a = &st->check->host->snmp;
	netsnmp_session		*s;
	char			 why[200], target[300];
	uint64_t		 now = mono_ms(), left;
	int			 retries;

	st->phase = SR_WAITING;
	if (session_open(st, addr, why, sizeof(why)) == -1) {
		target_text(st->check, target, sizeof(target));
		run_fail(st, PS_ERROR, "cannot open SNMP session to %s: %s", target, why);
		end_soon(st);
		return;
	}
	/*
	 * Spread what is left of the timeout over every try, so the run ends
	 * in time.  A walk and its poll share it: each PDU gets the whole
	 * per-try budget, and the hard deadline in timer_cb bounds the run.
	 */
	retries = a->retries > 0 ? a->retries : 0;
	left = st->deadline > now ? st->deadline - now : 1;
	s = snmp_sess_session(st->sess);
	st->agent->limit = a->max_inflight > 0 ? a->max_inflight : SNMP_INFLIGHT;
	s->retries = retries;
	s->timeout = (long)(left * 1000 / (uint64_t)(retries + 1));
	advance(st);
}

/*
 * evdns may call this before evdns_getaddrinfo() returns (hosts file, bad
 * name), so it never ends the run itself either.
 */
static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct snmp_state	*st = arg;
	struct evutil_addrinfo	*ai;
	const void		*ap = NULL;
	char			 buf[INET6_ADDRSTRLEN];
	int			 af = AF_UNSPEC;

	if (result == EVUTIL_EAI_CANCEL)
		return;			/* st may be gone: touch nothing */
	st->dns = NULL;
	if (st->phase != SR_RESOLVING) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	for (ai = result == 0 ? res : NULL; ai != NULL && ap == NULL; ai = ai->ai_next) {
		af = ai->ai_family;
		if (af == AF_INET)
			ap = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
		else if (af == AF_INET6)
			ap = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
	}
	if (ap == NULL || evutil_inet_ntop(af, ap, buf, sizeof(buf)) == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		run_fail(st, PS_CONNECT_ERROR, "cannot resolve %s: %s",
		    st->check->host->address, result != 0 ?
		    evutil_gai_strerror(result) : "no address");
		end_soon(st);
		return;
	}
	evutil_freeaddrinfo(res);
	free(st->resolved);
	free(st->name);
	st->resolved = xstrdup(buf);
	st->name = xstrdup(st->check->host->address);
	log_debug("%s: %s is %s", st->check->key, st->name, st->resolved);
	send_run(st, st->resolved);
}

/* Look host->address up without blocking; the whole timeout is the budget. */
static void
resolve(struct snmp_state *st)
{
	const struct check	*c = st->check;
	struct evutil_addrinfo	 hints;
	struct timeval		 tv;

	if (snmp_dns == NULL) {
		run_fail(st, PS_CONNECT_ERROR, "cannot resolve %s: no DNS resolver",
		    c->host->address);
		end_soon(st);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	st->phase = SR_RESOLVING;
	tv.tv_sec = c->def->timeout_ms / 1000;
	tv.tv_usec = (c->def->timeout_ms % 1000) * 1000;
	evtimer_add(st->timer, &tv);
	st->dns = evdns_getaddrinfo(snmp_dns, c->host->address, NULL, &hints, dns_cb, st);
	/* when dns_cb already ran, it cleared st->dns and this returned NULL */
}

/*
 * The socket is readable: net-snmp reads one datagram and calls response_cb.
 * The read event stays added as long as the session is open (no epoll_ctl
 * pair per run), so a late answer between runs is read too, and dropped by
 * response_cb.
 */
static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_state	*st = arg;

	(void)what;
	if (st->sess == NULL)
		return;
	NETSNMP_LARGE_FD_SET(fd, &snmp_fds);
	snmp_sess_read2(st->sess, &snmp_fds);
	NETSNMP_LARGE_FD_CLR(fd, &snmp_fds);
	if (st->phase == SR_WAITING)
		advance(st);
}

/* The one driver of a run's time: retries, deadlines, deferred ends. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_state	*st = arg;
	char			 target[300];

	(void)fd;
	(void)what;
	switch (st->phase) {
	case SR_IDLE:
		return;
	case SR_RESOLVING:
		if (st->dns != NULL)
			evdns_getaddrinfo_cancel(st->dns);
		st->dns = NULL;
		run_fail(st, PS_CONNECT_ERROR, "cannot resolve %s: no answer in %llu ms",
		    st->check->host->address,
		    (unsigned long long)st->check->def->timeout_ms);
		finish(st);
		return;
	case SR_WAITING:
		snmp_sess_timeout(st->sess);
		if (st->pending > 0 && mono_ms() >= st->deadline + SNMP_GRACE_MS) {
			/* net-snmp should have given up by now; stop waiting for it */
			target_text(st->check, target, sizeof(target));
			run_status(st, PS_TIMEOUT, "no SNMP response from %s in %llu ms",
			    target, (unsigned long long)st->check->def->timeout_ms);
			for (size_t i = 0; i < st->nreqs; i++)
				if (st->reqs[i].state == RQ_SENT && !st->reqs[i].walk)
					items_fail(st, st->reqs[i].first, st->reqs[i].count,
					    PS_TIMEOUT, "no SNMP response");
			st->phase = SR_ENDING;	/* close must not deliver into this run */
			session_close(st);
			st->phase = SR_WAITING;
			st->pending = 0;
		}
		if (st->queued && mono_ms() >= st->deadline)
			queue_timeout(st);
		advance(st);
		return;
	case SR_ENDING:
		finish(st);
		return;
	}
}

/* Stop whatever the run is waiting for; the run is over without check_done(). */
static void
state_abandon(struct snmp_state *st)
{
	enum snmp_phase	was = st->phase;

	st->phase = SR_IDLE;
	if (st->dns != NULL)
		evdns_getaddrinfo_cancel(st->dns);
	st->dns = NULL;
	if (st->timer != NULL)
		evtimer_del(st->timer);
	/* requests still out would land in the next run: drop them with the session */
	if (was == SR_WAITING)
		session_close(st);
}

/* ------------------------------------------------------------ probe ops */

static void
snmp_probe_start(struct check *c)
{
	struct snmp_state	*st = c->probe_state;
	const struct probe_def	*d = c->def;
	const struct snmp_auth	*a = &c->host->snmp;

	if (!snmp_ready)
		fatalx("snmp probe started before snmp_probe_init");
	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		st->fd = -1;
		if ((st->timer = evtimer_new(snmp_base, timer_cb, st)) == NULL)
			fatalx("snmp: evtimer_new failed");
		LIST_INSERT_HEAD(&snmp_states, st, entry);
		c->probe_state = st;
	}
	if (st->phase != SR_IDLE)
		state_abandon(st);	/* the scheduler never does this; be safe anyway */
	st->check = c;

	c->result.status = PS_OK;
	c->result.reason[0] = '\0';
	c->result.finished_wall_ms = 0;
	c->result.rows = NULL;
	c->result.nrows = 0;
	for (size_t i = 0; !d->table && i < d->nmetrics; i++)
		sample_fail(&c->result.values[i], PS_ERROR, "no result");

	st->nreqs = 0;
	st->pending = 0;
	if (st->max_vb == 0) {
		st->max_vb = SNMP_MAX_VARBINDS;
		st->max_rep = SNMP_MAX_REP;
	}
	st->deadline = mono_ms() + d->timeout_ms;
	walk_free(st);
	if (d->table && (!st->discovered || st->rediscover ||
	    mono_ms() - st->discovered_ms >= ((const struct snmp_table *)d->priv)->rediscover_ms)) {
		const struct snmp_table	*t = d->priv;

		st->step = STEP_WALK;
		st->w = xcalloc(1, sizeof(*st->w));
		for (size_t k = 0; k < t->nlabels; k++) {
			memcpy(st->w->last[k], t->labels[k]->sub,
			    t->labels[k]->len * sizeof(oid));
			st->w->lastlen[k] = t->labels[k]->len;
		}
	} else {
		st->step = STEP_POLL;
		items_build(st);
	}

	if (a->version != 3 && a->community == NULL) {
		run_fail(st, PS_ERROR, "no community configured");
		end_soon(st);
		return;
	}
	if (is_ip_literal(c->host->address)) {
		send_run(st, c->host->address);
		return;
	}
	if (st->resolved != NULL && strcmp(st->name, c->host->address) == 0) {
		send_run(st, st->resolved);
		return;
	}
	resolve(st);
}

static void
snmp_probe_cancel(struct check *c)
{
	struct snmp_state	*st = c->probe_state;

	if (st != NULL && st->phase != SR_IDLE)
		state_abandon(st);
}

static void
snmp_probe_free_state(struct check *c)
{
	struct snmp_state	*st = c->probe_state;

	if (st == NULL)
		return;
	state_abandon(st);
	session_close(st);
	if (st->timer != NULL)
		event_free(st->timer);
	LIST_REMOVE(st, entry);
	walk_free(st);
	rows_free(st);
	free(st->items);
	free(st->res);
	free(st->reqs);
	free(st->name);
	free(st->resolved);
	free(st);
	c->probe_state = NULL;
}

const struct probe_ops snmp_probe_ops = {
	.name = "snmp",
	.init = snmp_probe_init,
	.shutdown = snmp_probe_shutdown,
	.parse = snmp_conf_parse,
	.finish = snmp_conf_finish,
	.start = snmp_probe_start,
	.cancel = snmp_probe_cancel,
	.free_state = snmp_probe_free_state,
	.free_def = snmp_conf_free_def,
};
