/*
 * tcp.c: the TCP connect probe.  A run resolves the host (evdns), makes a
 * non-blocking connect on the loop and, when asked, sends a line and waits
 * for an expected banner.  Yields the connect time, and the time to the
 * banner when one is expected.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "itsmd.h"

#define TCP_BANNER_MAX	4096	/* bytes read while looking for `expect` */

enum tcp_metric { TM_TIME, TM_RESPONSE, TM__COUNT };
enum tcp_keyid { TK_PORT, TK_EXPECT, TK_SEND, TK__COUNT };

struct tcp_def {
	unsigned	 port;
	char		*expect;	/* substring of the first TCP_BANNER_MAX bytes */
	char		*send;		/* written once connected */
	struct conf_pos	 seen[TK__COUNT];
	bool		 have[TK__COUNT];
};

/*
 * A run walks TP_IDLE -> TP_RESOLVING -> TP_CONNECTING -> [TP_READING] ->
 * TP_ENDING -> TP_IDLE.  check_done() is only called from the timer in
 * TP_ENDING, never from inside start() or an evdns callback.
 */
enum tcp_phase { TP_IDLE, TP_RESOLVING, TP_CONNECTING, TP_READING, TP_ENDING };

/* Runtime state of one check (check->probe_state). */
struct tcp_state {
	struct check		*check;
	enum tcp_phase		 phase;
	int			 fd;
	struct event		*ev;		/* fd: writable (connect), readable (banner) */
	struct event		*timer;		/* the run's deadline, then its end */
	struct evdns_getaddrinfo_request *dns;
	uint64_t		 start_us;
	double			 connect_s, response_s;
	bool			 connected, answered;
	enum probe_status	 status;
	char			 reason[256];
	char			 addr[INET6_ADDRSTRLEN + 8];
	char			 buf[TCP_BANNER_MAX];
	size_t			 len;
	LIST_ENTRY(tcp_state)	 entry;
};

static struct event_base	*tcp_base;
static struct evdns_base	*tcp_dns;
static LIST_HEAD(, tcp_state)	 tcp_states = LIST_HEAD_INITIALIZER(tcp_states);

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ conf */

static struct tcp_def *
tcp_def_get(struct probe_def *def)
{
	if (def->priv == NULL)
		def->priv = xcalloc(1, sizeof(struct tcp_def));
	return def->priv;
}

static int
set_port(struct tcp_def *td, const struct conf_node *n, struct conf_err *err)
{
	const char	*s = n->args[0];
	unsigned long	 v = 0;

	for (; *s >= '0' && *s <= '9' && v <= 65535; s++)
		v = v * 10 + (unsigned long)(*s - '0');
	if (n->args[0][0] == '\0' || *s != '\0' || v < 1 || v > 65535) {
		conf_error(err, &n->argpos[0], "bad port '%s': 1 to 65535", n->args[0]);
		return -1;
	}
	td->port = (unsigned)v;
	return 0;
}

static int
set_expect(struct tcp_def *td, const struct conf_node *n, struct conf_err *err)
{
	if (n->args[0][0] == '\0' || strlen(n->args[0]) >= TCP_BANNER_MAX) {
		conf_error(err, &n->argpos[0], "bad expect: 1 to %d bytes", TCP_BANNER_MAX - 1);
		return -1;
	}
	td->expect = xstrdup(n->args[0]);
	return 0;
}

static int
set_send(struct tcp_def *td, const struct conf_node *n, struct conf_err *err)
{
	if (n->args[0][0] == '\0' || strlen(n->args[0]) > 1024) {
		conf_error(err, &n->argpos[0], "bad send: 1 to 1024 bytes");
		return -1;
	}
	td->send = xstrdup(n->args[0]);
	return 0;
}

static const struct {
	const char	*name;
	int		(*set)(struct tcp_def *, const struct conf_node *, struct conf_err *);
} tcp_keys[TK__COUNT] = {
	[TK_PORT] =	{ "port",	set_port },
	[TK_EXPECT] =	{ "expect",	set_expect },
	[TK_SEND] =	{ "send",	set_send },
};

static int
tcp_parse(struct probe_def *def, const struct conf_node *n, struct conf_err *err)
{
	struct tcp_def	*td;
	size_t		 i;

	for (i = 0; i < TK__COUNT; i++)
		if (strcmp(n->name, tcp_keys[i].name) == 0)
			break;
	if (i == TK__COUNT)
		return 1;
	td = tcp_def_get(def);
	if (probe_key_check(n, false, 1, 1, &td->have[i], &td->seen[i], err) == -1)
		return -1;
	return tcp_keys[i].set(td, n, err);
}

static int
tcp_finish(struct probe_def *def, struct conf_err *err)
{
	static const char *const names[TM__COUNT] = { "time", "response" };
	struct tcp_def	*td = tcp_def_get(def);
	size_t		 n;

	if (td->port == 0) {
		if (!td->have[TK_PORT])
			conf_error(err, &def->pos, "tcp probe '%s' needs a port", def->name);
		return -1;
	}
	/* Without an expected banner there is no response to time. */
	n = td->expect != NULL ? TM__COUNT : 1;
	def->metrics = xcalloc(n, sizeof(*def->metrics));
	def->nmetrics = n;
	for (size_t i = 0; i < n; i++) {
		def->metrics[i].name = xstrdup(names[i]);
		def->metrics[i].unit = xstrdup("s");
		def->metrics[i].kind = MK_GAUGE;
		def->metrics[i].pos = def->pos;
	}
	return 0;
}

static void
tcp_free_def(struct probe_def *def)
{
	struct tcp_def	*td = def->priv;

	if (td == NULL)
		return;
	free(td->expect);
	free(td->send);
	free(td);
	def->priv = NULL;
}

/* ------------------------------------------------------------ runs */

/* The run's outcome so far: a status and its reason. */
static void __attribute__((format(printf, 3, 4)))
run_set(struct tcp_state *st, enum probe_status ps, const char *fmt, ...)
{
	va_list	ap;

	st->status = ps;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

static void
close_fd(struct tcp_state *st)
{
	if (st->ev != NULL) {
		event_free(st->ev);
		st->ev = NULL;
	}
	if (st->fd != -1) {
		close(st->fd);
		st->fd = -1;
	}
}

/* The run's result is settled: end it from the timer, on the next loop turn. */
static void
end_soon(struct tcp_state *st)
{
	struct timeval	tv = { 0, 0 };

	close_fd(st);
	st->phase = TP_ENDING;
	evtimer_add(st->timer, &tv);
}

static void
set_sample(struct sample *s, bool ok, double v, const struct tcp_state *st)
{
	*s = (struct sample){ 0 };
	s->ok = ok;
	s->kind = MK_GAUGE;
	s->value = ok ? v : 0;
	s->status = ok ? PS_OK : st->status;
	if (!ok) {
		/* cut short on purpose: the run's reason in full is in result.reason */
		size_t n = strnlen(st->reason, sizeof(s->reason) - 1);
		memcpy(s->reason, st->reason, n);
		s->reason[n] = '\0';
	}
}

static void
finish(struct tcp_state *st)
{
	struct check		*c = st->check;
	struct probe_result	*r = &c->result;

	st->phase = TP_IDLE;
	evtimer_del(st->timer);
	close_fd(st);
	r->status = st->status;
	snprintf(r->reason, sizeof(r->reason), "%s", st->reason);
	for (size_t i = 0; i < c->def->nmetrics; i++)
		set_sample(&r->values[i], i == TM_TIME ? st->connected : st->answered,
		    i == TM_TIME ? st->connect_s : st->response_s, st);
	r->finished_wall_ms = wall_ms();
	log_debug("%s: %s", c->key, r->reason);
	check_done(c);
}

static void
ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_state	*st = arg;
	const struct tcp_def	*td = st->check->def->priv;
	int			 e = 0;
	socklen_t		 el = sizeof(e);
	ssize_t			 n;

	(void)what;
	if (st->phase == TP_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
			e = errno;
		if (e != 0) {
			run_set(st, e == ECONNREFUSED ? PS_REFUSED : PS_CONNECT_ERROR,
			    "connect to %s: %s", st->addr, strerror(e));
			end_soon(st);
			return;
		}
		st->connect_s = (double)(now_us() - st->start_us) / 1e6;
		st->connected = true;
		if (td->send != NULL && send(fd, td->send, strlen(td->send),
		    MSG_NOSIGNAL | MSG_DONTWAIT) == -1 && errno != EAGAIN) {
			run_set(st, PS_BAD_RESPONSE, "send to %s: %s", st->addr, strerror(errno));
			end_soon(st);
			return;
		}
		if (td->expect == NULL) {
			run_set(st, PS_OK, "connected to %s in %.3f ms", st->addr,
			    st->connect_s * 1e3);
			end_soon(st);
			return;
		}
		st->phase = TP_READING;
		event_free(st->ev);
		st->ev = event_new(tcp_base, fd, EV_READ | EV_PERSIST, ev_cb, st);
		if (st->ev == NULL || event_add(st->ev, NULL) == -1) {
			run_set(st, PS_ERROR, "cannot watch the connection to %s", st->addr);
			end_soon(st);
		}
		return;
	}
	if (st->phase != TP_READING)
		return;
	n = recv(fd, st->buf + st->len, sizeof(st->buf) - 1 - st->len, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		st->len += (size_t)n;
		if (memmem(st->buf, st->len, td->expect, strlen(td->expect)) != NULL) {
			st->response_s = (double)(now_us() - st->start_us) / 1e6;
			st->answered = true;
			run_set(st, PS_OK, "%s answered \"%s\" in %.3f ms", st->addr,
			    td->expect, st->response_s * 1e3);
			end_soon(st);
			return;
		}
		if (st->len < sizeof(st->buf) - 1)
			return;
		run_set(st, PS_BAD_RESPONSE, "no \"%s\" in the first %zu bytes from %s",
		    td->expect, st->len, st->addr);
	} else if (n == 0)
		run_set(st, PS_BAD_RESPONSE, "%s closed after %zu bytes without \"%s\"",
		    st->addr, st->len, td->expect);
	else
		run_set(st, PS_BAD_RESPONSE, "reading from %s: %s", st->addr, strerror(errno));
	end_soon(st);
}

static void
start_connect(struct tcp_state *st, const struct sockaddr *sa, socklen_t salen)
{
	if ((st->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		run_set(st, PS_ERROR, "socket: %s", strerror(errno));
		end_soon(st);
		return;
	}
	st->phase = TP_CONNECTING;
	if (connect(st->fd, sa, salen) == -1 && errno != EINPROGRESS) {
		run_set(st, errno == ECONNREFUSED ? PS_REFUSED : PS_CONNECT_ERROR,
		    "connect to %s: %s", st->addr, strerror(errno));
		end_soon(st);
		return;
	}
	/* Even an immediate success is read from the event, in one place. */
	if ((st->ev = event_new(tcp_base, st->fd, EV_WRITE, ev_cb, st)) == NULL ||
	    event_add(st->ev, NULL) == -1) {
		run_set(st, PS_ERROR, "cannot watch the connection to %s", st->addr);
		end_soon(st);
	}
}

/* evdns may call this before evdns_getaddrinfo() returns: it never ends a run itself. */
static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct tcp_state	*st = arg;
	const struct tcp_def	*td;
	struct sockaddr_storage	 ss;
	char			 ip[INET6_ADDRSTRLEN];
	socklen_t		 len;

	if (result == EVUTIL_EAI_CANCEL)
		return;			/* st may be gone */
	st->dns = NULL;
	if (st->phase != TP_RESOLVING || result != 0 || res == NULL) {
		if (st->phase == TP_RESOLVING) {
			run_set(st, PS_CONNECT_ERROR, "cannot resolve %s: %s",
			    st->check->host->address, result != 0 ?
			    evutil_gai_strerror(result) : "no address");
			end_soon(st);
		}
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	td = st->check->def->priv;
	len = res->ai_addrlen < sizeof(ss) ? (socklen_t)res->ai_addrlen : sizeof(ss);
	memcpy(&ss, res->ai_addr, len);
	evutil_freeaddrinfo(res);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_port = htons((uint16_t)td->port);
		evutil_inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(st->addr, sizeof(st->addr), "[%s]:%u", ip, td->port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_port = htons((uint16_t)td->port);
		evutil_inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(st->addr, sizeof(st->addr), "%s:%u", ip, td->port);
	}
	start_connect(st, (struct sockaddr *)&ss, len);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_state	*st = arg;
	const struct tcp_def	*td = st->check->def->priv;
	unsigned long long	 ms = (unsigned long long)st->check->def->timeout_ms;

	(void)fd;
	(void)what;
	switch (st->phase) {
	case TP_IDLE:
		return;
	case TP_RESOLVING:
		if (st->dns != NULL)
			evdns_getaddrinfo_cancel(st->dns);
		st->dns = NULL;
		run_set(st, PS_CONNECT_ERROR, "cannot resolve %s: no answer in %llu ms",
		    st->check->host->address, ms);
		break;
	case TP_CONNECTING:
		run_set(st, PS_TIMEOUT, "connect to %s: no answer in %llu ms", st->addr, ms);
		break;
	case TP_READING:
		run_set(st, PS_TIMEOUT, "no \"%s\" from %s in %llu ms (%zu bytes read)",
		    td->expect, st->addr, ms, st->len);
		break;
	case TP_ENDING:
		break;
	}
	finish(st);
}

static void
tcp_abandon(struct tcp_state *st)
{
	st->phase = TP_IDLE;
	if (st->dns != NULL)
		evdns_getaddrinfo_cancel(st->dns);
	st->dns = NULL;
	if (st->timer != NULL)
		evtimer_del(st->timer);
	close_fd(st);
}

static void
tcp_start(struct check *c)
{
	struct tcp_state	*st = c->probe_state;
	struct evutil_addrinfo	 hints;
	struct timeval		 tv;

	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		st->fd = -1;
		if ((st->timer = evtimer_new(tcp_base, timer_cb, st)) == NULL)
			fatalx("%s: cannot create a timer", c->key);
		LIST_INSERT_HEAD(&tcp_states, st, entry);
		c->probe_state = st;
	}
	if (st->phase != TP_IDLE) {
		log_warnx("%s: tcp run started while one is in flight; abandoning it", c->key);
		tcp_abandon(st);
	}
	st->check = c;
	st->connected = st->answered = false;
	st->connect_s = st->response_s = 0;
	st->len = 0;
	st->status = PS_OK;
	st->reason[0] = '\0';
	snprintf(st->addr, sizeof(st->addr), "%s", c->host->address);
	st->start_us = now_us();
	tv.tv_sec = c->def->timeout_ms / 1000;
	tv.tv_usec = (c->def->timeout_ms % 1000) * 1000;
	evtimer_add(st->timer, &tv);
	st->phase = TP_RESOLVING;
	if (tcp_dns == NULL) {
		run_set(st, PS_ERROR, "no DNS resolver");
		end_soon(st);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	st->dns = evdns_getaddrinfo(tcp_dns, c->host->address, NULL, &hints, dns_cb, st);
}

static void
tcp_cancel(struct check *c)
{
	if (c->probe_state != NULL)
		tcp_abandon(c->probe_state);
}

static void
tcp_free_state(struct check *c)
{
	struct tcp_state	*st = c->probe_state;

	if (st == NULL)
		return;
	tcp_abandon(st);
	if (st->timer != NULL)
		event_free(st->timer);
	LIST_REMOVE(st, entry);
	free(st);
	c->probe_state = NULL;
}

static int
tcp_init(struct event_base *base)
{
	tcp_base = base;
	if (tcp_dns != NULL)
		return 0;
	/* resolv.conf and the hosts file are read once, here, before the loop runs */
	tcp_dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (tcp_dns == NULL)
		log_warnx("tcp probes: no DNS resolver; hosts given by name will fail");
	return 0;
}

static void
tcp_shutdown(void)
{
	struct tcp_state	*st;

	LIST_FOREACH(st, &tcp_states, entry) {
		tcp_abandon(st);
		if (st->timer != NULL)
			event_free(st->timer);
		st->timer = NULL;
	}
	if (tcp_dns != NULL)
		evdns_base_free(tcp_dns, 0);
	tcp_dns = NULL;
}

const struct probe_ops tcp_probe_ops = {
	.name = "tcp",
	.init = tcp_init,
	.shutdown = tcp_shutdown,
	.parse = tcp_parse,
	.finish = tcp_finish,
	.start = tcp_start,
	.cancel = tcp_cancel,
	.free_state = tcp_free_state,
	.free_def = tcp_free_def,
};
