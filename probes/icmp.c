/*
 * icmp.c: the ICMP echo probe.  One socket per address family serves every
 * check: an unprivileged ping socket (SOCK_DGRAM) where the kernel allows
 * it, a raw socket with CAP_NET_RAW otherwise.  A run sends N echo requests
 * and yields packet loss and min/avg/max round-trip time.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>

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

#define ICMP_DEFAULT_PACKETS	3
#define ICMP_MAX_PACKETS	100
#define ICMP_DEFAULT_GAP_MS	200
#define ICMP_MIN_GAP_MS		10
#define ICMP_PAYLOAD		32	/* cookie, run, packet index, padding */
#define ICMP_READ_BURST		256	/* datagrams read per wakeup, so one busy socket
					   cannot starve the loop */

enum icmp_metric { IM_LOSS, IM_MIN, IM_AVG, IM_MAX, IM__COUNT };
enum icmp_keyid { IK_PACKETS, IK_GAP, IK__COUNT };

struct icmp_def {
	int		 packets;
	uint64_t	 gap_ms;
	struct conf_pos	 seen[IK__COUNT];
	bool		 have[IK__COUNT];
};

/*
 * TP_ENDING: the result is settled, check_done() is due from the timer;
 * it is never called from inside start(), evdns or a socket callback that
 * is still looping over packets.
 */
enum icmp_phase { IP_IDLE, IP_RESOLVING, IP_PINGING, IP_ENDING };

/* One family's socket, shared by every check. */
struct icmp_sock {
	int		 family;
	int		 fd;
	bool		 raw;		/* raw: IPv4 replies carry the IP header; we set the id */
	struct event	*ev;
	char		 why[512];	/* why there is no socket, for run reasons */
};

/*
 * Runtime state of one check (check->probe_state).  Replies find their run
 * through the sequence number; the payload repeats it with the run number
 * and a per-process cookie, so a late reply of an old run never counts.
 */
struct icmp_state {
	struct check		*check;
	enum icmp_phase		 phase;
	struct event		*timer;		/* next send, then the deadline, then the end */
	struct evdns_getaddrinfo_request *dns;
	struct sockaddr_storage	 to;
	socklen_t		 tolen;
	struct icmp_sock	*sock;
	char			 addr[INET6_ADDRSTRLEN];
	uint32_t		 run;
	int			 npackets, sent, received;
	uint16_t		 seq0;		/* sequence of packet 0 */
	uint64_t		 start_us, deadline_us;
	uint64_t		*sent_us;	/* per packet, 0 = not sent */
	bool			*got;
	double			 rtt_min, rtt_max, rtt_sum;
	int			 send_errno;
	enum probe_status	 status;
	char			 reason[256];
	LIST_ENTRY(icmp_state)	 entry;
};

static struct event_base	*icmp_base;
static struct evdns_base	*icmp_dns;
static struct icmp_sock		 icmp_v4 = { AF_INET, -1, false, NULL, "" };
static struct icmp_sock		 icmp_v6 = { AF_INET6, -1, false, NULL, "" };
/* Raw sockets opened while still root (icmp_prepare), for after the drop. */
static int			 icmp_raw_v4 = -1, icmp_raw_v6 = -1;
static uint64_t			 icmp_cookie;
static uint16_t			 icmp_ident;	/* raw IPv4 only: ping sockets pick their own */
static uint16_t			 icmp_next_seq;
static uint32_t			 icmp_runs;
/* Sequence number -> the run that sent it.  Runs take consecutive ranges. */
static struct icmp_state	*icmp_seq_owner[65536];
static LIST_HEAD(, icmp_state)	 icmp_states = LIST_HEAD_INITIALIZER(icmp_states);

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ conf */

static struct icmp_def *
icmp_def_get(struct probe_def *def)
{
	struct icmp_def	*id = def->priv;

	if (id == NULL) {
		id = xcalloc(1, sizeof(*id));
		id->packets = ICMP_DEFAULT_PACKETS;
		id->gap_ms = ICMP_DEFAULT_GAP_MS;
		def->priv = id;
	}
	return id;
}

static int
set_packets(struct icmp_def *id, const struct conf_node *n, struct conf_err *err)
{
	const char	*s = n->args[0];
	long		 v = 0;

	for (; *s >= '0' && *s <= '9' && v <= ICMP_MAX_PACKETS; s++)
		v = v * 10 + (*s - '0');
	if (n->args[0][0] == '\0' || *s != '\0' || v < 1 || v > ICMP_MAX_PACKETS) {
		conf_error(err, &n->argpos[0], "bad packets '%s': 1 to %d", n->args[0],
		    ICMP_MAX_PACKETS);
		return -1;
	}
	id->packets = (int)v;
	return 0;
}

static int
set_gap(struct icmp_def *id, const struct conf_node *n, struct conf_err *err)
{
	const char	*why;

	if (conf_duration_ms(n->args[0], &id->gap_ms, &why) == -1) {
		conf_error(err, &n->argpos[0], "bad duration '%s' for 'packet-interval': %s",
		    n->args[0], why);
		return -1;
	}
	if (id->gap_ms < ICMP_MIN_GAP_MS) {
		conf_error(err, &n->argpos[0], "bad duration '%s' for 'packet-interval': "
		    "at least %dms", n->args[0], ICMP_MIN_GAP_MS);
		return -1;
	}
	return 0;
}

static const struct {
	const char	*name;
	int		(*set)(struct icmp_def *, const struct conf_node *, struct conf_err *);
} icmp_keys[IK__COUNT] = {
	[IK_PACKETS] =	{ "packets",		set_packets },
	[IK_GAP] =	{ "packet-interval",	set_gap },
};

static int
icmp_parse(struct probe_def *def, const struct conf_node *n, struct conf_err *err)
{
	struct icmp_def	*id;
	size_t		 i;

	for (i = 0; i < IK__COUNT; i++)
		if (strcmp(n->name, icmp_keys[i].name) == 0)
			break;
	if (i == IK__COUNT)
		return 1;
	id = icmp_def_get(def);
	if (probe_key_check(n, false, 1, 1, &id->have[i], &id->seen[i], err) == -1)
		return -1;
	return icmp_keys[i].set(id, n, err);
}

static void
declare_metrics(struct probe_def *def)
{
	static const struct { const char *name, *unit; } m[IM__COUNT] = {
		[IM_LOSS] = { "loss", "%" },
		[IM_MIN] = { "rtt-min", "s" },
		[IM_AVG] = { "rtt-avg", "s" },
		[IM_MAX] = { "rtt-max", "s" },
	};

	def->metrics = xcalloc(IM__COUNT, sizeof(*def->metrics));
	def->nmetrics = IM__COUNT;
	for (size_t i = 0; i < IM__COUNT; i++) {
		def->metrics[i].name = xstrdup(m[i].name);
		def->metrics[i].unit = xstrdup(m[i].unit);
		def->metrics[i].kind = MK_GAUGE;
		def->metrics[i].pos = def->pos;
	}
}

static int
icmp_finish(struct probe_def *def, struct conf_err *err)
{
	struct icmp_def	*id = icmp_def_get(def);

	/* The last request needs some of the timeout to be answered in. */
	if ((uint64_t)(id->packets - 1) * id->gap_ms >= def->timeout_ms) {
		conf_error(err, &def->pos, "icmp probe '%s': %d packets %llums apart do not "
		    "fit in its timeout of %llums", def->name, id->packets,
		    (unsigned long long)id->gap_ms, (unsigned long long)def->timeout_ms);
		return -1;
	}
	declare_metrics(def);
	return 0;
}

static void
icmp_free_def(struct probe_def *def)
{
	free(def->priv);
	def->priv = NULL;
}

/*
 * The default availability check of a host that has no other probe:
 * `probe NAME icmp { }` with the given timing, filled into a zeroed def as
 * conf_build would.  The caller owns def and frees it like any other.
 */
void
icmp_availability_def(struct probe_def *def, const char *name, uint64_t interval_ms,
    uint64_t timeout_ms, const struct conf_pos *pos)
{
	struct icmp_def	*id;

	memset(def, 0, sizeof(*def));
	def->name = xstrdup(name);
	def->ops = &icmp_probe_ops;
	def->pos = *pos;
	def->interval_ms = interval_ms;
	def->timeout_ms = timeout_ms;
	def->fail_after = 1;
	id = icmp_def_get(def);
	/* Short timeouts still get their packets in. */
	while (id->packets > 1 && (uint64_t)(id->packets - 1) * id->gap_ms >= timeout_ms)
		id->packets--;
	declare_metrics(def);
	def->fingerprint = xasprintf("kind icmp\ninterval %llu\ntimeout %llu\n"
	    "fail-after 1\npackets %d\n", (unsigned long long)interval_ms,
	    (unsigned long long)timeout_ms, id->packets);
}

/* ------------------------------------------------------------ sockets */

static uint16_t
cksum(const void *data, size_t len)
{
	const uint8_t	*p = data;
	uint32_t	 sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len == 1)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* What lets this process ping, said once, for logs and run reasons. */
static void
explain(struct icmp_sock *s, int dgram_errno, int raw_errno)
{
	char	range[64] = "?";
	FILE	*f;

	if (s->family == AF_INET && (f = fopen("/proc/sys/net/ipv4/ping_group_range", "r"))) {
		if (fgets(range, sizeof(range), f) != NULL)
			range[strcspn(range, "\n")] = '\0';
		for (char *p = range; *p; p++)
			if (*p == '\t')
				*p = ' ';
		fclose(f);
	}
	snprintf(s->why, sizeof(s->why), "no ICMP%s socket: ping socket: %s "
	    "(net.ipv4.ping_group_range is %s, gid %ld); raw socket: %s (needs CAP_NET_RAW)",
	    s->family == AF_INET6 ? "v6" : "", strerror(dgram_errno), range,
	    (long)getegid(), strerror(raw_errno));
}

static void	read_cb(evutil_socket_t, short, void *);

/*
 * Opened on first use rather than at start: a daemon with no icmp probe
 * never asks for either kind of socket.
 */
static struct icmp_sock *
sock_get(int family)
{
	struct icmp_sock	*s = family == AF_INET6 ? &icmp_v6 : &icmp_v4;
	int			 proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int			*kept = family == AF_INET6 ? &icmp_raw_v6 : &icmp_raw_v4;
	int			 e1, e2;

	if (s->fd != -1 || s->why[0] != '\0')
		return s;
	if ((s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)) != -1) {
		s->raw = false;
		if (*kept != -1)	/* a privilege not needed is not kept */
			close(*kept);
		*kept = -1;
	} else if (*kept != -1) {
		s->fd = *kept;		/* opened before the drop to the itsmd user */
		*kept = -1;
		s->raw = true;
	} else {
		e1 = errno;
		if ((s->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)) == -1) {
			e2 = errno;
			explain(s, e1, e2);
			log_warnx("icmp probes: %s", s->why);
			return s;
		}
		s->raw = true;
	}
	if (family == AF_INET6 && s->raw) {
		struct icmp6_filter	flt;

		ICMP6_FILTER_SETBLOCKALL(&flt);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &flt);
		setsockopt(s->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof(flt));
	}
	if ((s->ev = event_new(icmp_base, s->fd, EV_READ | EV_PERSIST, read_cb, s)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("icmp probes: cannot watch the ICMP socket");
	log_info("icmp probes: using a %s ICMP%s socket", s->raw ? "raw" : "ping",
	    family == AF_INET6 ? "v6" : "");
	return s;
}

static void
sock_close(struct icmp_sock *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->why[0] = '\0';
}

/*
 * The address family a host is pinged over: a literal address says it; a
 * name may resolve to either (AF_UNSPEC).
 */
static int
host_family(const char *address)
{
	struct in6_addr	a;

	if (inet_pton(AF_INET, address, &a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, address, &a) == 1)
		return AF_INET6;
	return AF_UNSPEC;
}

/*
 * itsmd reads its conf as root and only then drops to its user (main()),
 * and a raw ICMP socket can only be opened with CAP_NET_RAW.  So at start
 * a raw socket is opened here for each address family the conf's icmp
 * checks use, and for no other: sock_get uses it only where the kernel's
 * ping sockets are closed to itsmd's group (net.ipv4.ping_group_range),
 * and closes it otherwise.  Without root nothing is opened here: a process
 * given CAP_NET_RAW (systemd AmbientCapabilities) opens its own later.
 *
 * At a reload (the loop runs, root is gone) a family new to the conf gets
 * its socket now, a ping socket where the kernel allows one; where it does
 * not, the log says which host cannot be pinged and why, once per family.
 * Only a literal address counts then: a name's family is known when it
 * resolves, and its first run says what is missing.
 */
void
icmp_prepare(const struct config *cfg)
{
	const struct host	*first[2] = { NULL, NULL };	/* v4, v6 */
	bool			 reload = icmp_base != NULL;

	for (size_t i = 0; i < cfg->nhosts; i++) {
		const struct host	*h = &cfg->hosts[i];
		bool			 icmp = false;
		int			 fam;

		for (size_t k = 0; k < h->nprobes && !icmp; k++)
			icmp = h->probes[k]->ops == &icmp_probe_ops;
		if (!icmp || h->address == NULL)
			continue;
		if ((fam = host_family(h->address)) == AF_UNSPEC && reload)
			continue;
		if (fam != AF_INET6 && first[0] == NULL)
			first[0] = h;
		if (fam != AF_INET && first[1] == NULL)
			first[1] = h;
	}
	for (int f = 0; f < 2; f++) {
		int			 family = f == 0 ? AF_INET : AF_INET6;
		int			*kept = f == 0 ? &icmp_raw_v4 : &icmp_raw_v6;
		struct icmp_sock	*s = f == 0 ? &icmp_v4 : &icmp_v6;

		if (first[f] == NULL || s->fd != -1 || *kept != -1)
			continue;
		if (!reload) {		/* at start, before the drop */
			if (geteuid() == 0)
				*kept = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    f == 0 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
			continue;
		}
		if (s->why[0] != '\0')
			continue;		/* said already */
		if (sock_get(family)->fd == -1)
			log_warnx("icmp probes: host %s (%s) cannot be pinged: %s; raw "
			    "sockets are opened only at start (as root), for the address "
			    "families the conf pings then", first[f]->name, first[f]->address,
			    s->why);
	}
}

/* ------------------------------------------------------------ runs */

static void __attribute__((format(printf, 3, 4)))
run_set(struct icmp_state *st, enum probe_status ps, const char *fmt, ...)
{
	va_list	ap;

	st->status = ps;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

static void
release_seqs(struct icmp_state *st)
{
	for (int i = 0; i < st->npackets; i++) {
		uint16_t seq = (uint16_t)(st->seq0 + i);
		if (icmp_seq_owner[seq] == st)
			icmp_seq_owner[seq] = NULL;
	}
}

static void
arm(struct icmp_state *st, uint64_t at_us)
{
	uint64_t	now = now_us(), d = at_us > now ? at_us - now : 0;
	struct timeval	tv = { (time_t)(d / 1000000), (suseconds_t)(d % 1000000) };

	evtimer_add(st->timer, &tv);
}

static void
end_soon(struct icmp_state *st)
{
	st->phase = IP_ENDING;
	arm(st, 0);
}

static void
set_sample(struct sample *s, bool ok, double v, const struct icmp_state *st)
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
finish(struct icmp_state *st)
{
	struct check		*c = st->check;
	struct probe_result	*r = &c->result;
	bool			 rtt = st->received > 0;
	double			 loss = 0;

	st->phase = IP_IDLE;
	evtimer_del(st->timer);
	release_seqs(st);
	if (st->status == PS_OK && st->sent > 0) {
		loss = 100.0 * (st->npackets - st->received) / st->npackets;
		if (st->received == 0)
			run_set(st, PS_TIMEOUT, "%s: no reply to %d echo requests%s%s", st->addr,
			    st->npackets, st->send_errno ? "; send: " : "",
			    st->send_errno ? strerror(st->send_errno) : "");
		else
			run_set(st, PS_OK, "%s: %d/%d replies, rtt min/avg/max "
			    "%.3f/%.3f/%.3f ms", st->addr, st->received, st->npackets,
			    st->rtt_min * 1e3, st->rtt_sum / st->received * 1e3,
			    st->rtt_max * 1e3);
	}
	r->status = st->status;
	snprintf(r->reason, sizeof(r->reason), "%s", st->reason);
	for (size_t i = 0; i < c->def->nmetrics; i++) {
		switch (i) {
		case IM_LOSS:
			/* all lost is still a measurement: 100% goes into the graph */
			set_sample(&r->values[i], st->sent > 0, loss, st);
			break;
		case IM_MIN:
			set_sample(&r->values[i], rtt, st->rtt_min, st);
			break;
		case IM_AVG:
			set_sample(&r->values[i], rtt, rtt ? st->rtt_sum / st->received : 0, st);
			break;
		case IM_MAX:
			set_sample(&r->values[i], rtt, st->rtt_max, st);
			break;
		}
	}
	r->finished_wall_ms = wall_ms();
	log_debug("%s: %s", c->key, r->reason);
	check_done(c);
}

/* Payload: cookie (8), run (4), packet index (4), then padding. */
static void
send_one(struct icmp_state *st)
{
	uint8_t		 pkt[8 + ICMP_PAYLOAD];
	int		 i = st->sent;
	uint16_t	 seq = (uint16_t)(st->seq0 + i);
	uint32_t	 run = st->run, idx = (uint32_t)i;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = st->sock->family == AF_INET6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = (uint8_t)(icmp_ident >> 8);
	pkt[5] = (uint8_t)icmp_ident;
	pkt[6] = (uint8_t)(seq >> 8);
	pkt[7] = (uint8_t)seq;
	memcpy(pkt + 8, &icmp_cookie, 8);
	memcpy(pkt + 16, &run, 4);
	memcpy(pkt + 20, &idx, 4);
	if (st->sock->family == AF_INET && st->sock->raw) {
		uint16_t ck = cksum(pkt, sizeof(pkt));
		memcpy(pkt + 2, &ck, 2);
	}
	icmp_seq_owner[seq] = st;
	st->sent_us[i] = now_us();
	st->sent++;
	if (sendto(st->sock->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&st->to,
	    st->tolen) == -1)
		st->send_errno = errno;		/* counts as lost */
}

/* Send the next request, or wait out the deadline after the last one. */
static void
tick(struct icmp_state *st)
{
	const struct icmp_def	*id = st->check->def->priv;

	if (st->sent < st->npackets) {
		send_one(st);
		if (st->sent < st->npackets) {
			arm(st, st->start_us + (uint64_t)st->sent * id->gap_ms * 1000);
			return;
		}
	}
	if (st->received == st->npackets)
		end_soon(st);
	else
		arm(st, st->deadline_us);
}

/* One echo reply: find its run and packet, note the round trip. */
static void
on_reply(struct icmp_sock *s, const uint8_t *p, size_t len, uint64_t now)
{
	struct icmp_state	*st;
	uint16_t		 seq, ident;
	uint32_t		 run, idx;
	uint64_t		 cookie;
	double			 rtt;

	if (s->family == AF_INET && s->raw) {
		size_t hl;
		if (len < 20 || (hl = (size_t)(p[0] & 0x0f) * 4) < 20 || len < hl)
			return;
		p += hl;
		len -= hl;
	}
	if (len < 8 + 16 || p[0] != (s->family == AF_INET6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY))
		return;
	ident = (uint16_t)(p[4] << 8 | p[5]);
	seq = (uint16_t)(p[6] << 8 | p[7]);
	memcpy(&cookie, p + 8, 8);
	memcpy(&run, p + 16, 4);
	memcpy(&idx, p + 20, 4);
	if (s->raw && ident != icmp_ident)
		return;			/* another pinger on this host */
	if (cookie != icmp_cookie || (st = icmp_seq_owner[seq]) == NULL ||
	    st->phase != IP_PINGING || st->run != run || idx >= (uint32_t)st->npackets ||
	    (uint16_t)(st->seq0 + idx) != seq || st->got[idx] || st->sent_us[idx] == 0)
		return;
	st->got[idx] = true;
	st->received++;
	rtt = (double)(now - st->sent_us[idx]) / 1e6;
	if (st->received == 1 || rtt < st->rtt_min)
		st->rtt_min = rtt;
	if (rtt > st->rtt_max)
		st->rtt_max = rtt;
	st->rtt_sum += rtt;
	if (st->received == st->npackets)
		end_soon(st);
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_sock	*s = arg;
	uint8_t			 buf[1500];
	ssize_t			 n;

	(void)what;
	for (int i = 0; i < ICMP_READ_BURST; i++) {
		if ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) == -1)
			return;		/* EAGAIN, or an error report: nothing to read */
		on_reply(s, buf, (size_t)n, now_us());
	}
}

/* Every run is reserved a fresh range of sequence numbers and starts sending. */
static void
start_ping(struct icmp_state *st)
{
	const struct icmp_def	*id = st->check->def->priv;

	st->sock = sock_get(st->to.ss_family);
	if (st->sock->fd == -1) {
		run_set(st, PS_ERROR, "%s", st->sock->why);
		end_soon(st);
		return;
	}
	st->npackets = id->packets;
	st->seq0 = icmp_next_seq;
	icmp_next_seq = (uint16_t)(icmp_next_seq + id->packets);
	st->run = ++icmp_runs;
	st->phase = IP_PINGING;
	tick(st);
}

static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct icmp_state	*st = arg;
	const void		*ap;

	if (result == EVUTIL_EAI_CANCEL)
		return;			/* st may be gone */
	st->dns = NULL;
	if (st->phase != IP_RESOLVING || result != 0 || res == NULL) {
		if (st->phase == IP_RESOLVING) {
			run_set(st, PS_CONNECT_ERROR, "cannot resolve %s: %s",
			    st->check->host->address, result != 0 ?
			    evutil_gai_strerror(result) : "no address");
			end_soon(st);
		}
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	st->tolen = res->ai_addrlen < sizeof(st->to) ? (socklen_t)res->ai_addrlen :
	    sizeof(st->to);
	memcpy(&st->to, res->ai_addr, st->tolen);
	evutil_freeaddrinfo(res);
	ap = st->to.ss_family == AF_INET6 ?
	    (const void *)&((struct sockaddr_in6 *)&st->to)->sin6_addr :
	    (const void *)&((struct sockaddr_in *)&st->to)->sin_addr;
	evutil_inet_ntop(st->to.ss_family, ap, st->addr, sizeof(st->addr));
	/* the port field is the ICMP id for ping sockets: leave it to the kernel */
	if (st->to.ss_family == AF_INET)
		((struct sockaddr_in *)&st->to)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&st->to)->sin6_port = 0;
	start_ping(st);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_state	*st = arg;

	(void)fd;
	(void)what;
	switch (st->phase) {
	case IP_IDLE:
		return;
	case IP_RESOLVING:
		if (st->dns != NULL)
			evdns_getaddrinfo_cancel(st->dns);
		st->dns = NULL;
		run_set(st, PS_CONNECT_ERROR, "cannot resolve %s: no answer in %llu ms",
		    st->check->host->address, (unsigned long long)st->check->def->timeout_ms);
		finish(st);
		return;
	case IP_PINGING:
		if (now_us() >= st->deadline_us) {
			finish(st);
			return;
		}
		tick(st);
		return;
	case IP_ENDING:
		finish(st);
		return;
	}
}

static void
icmp_abandon(struct icmp_state *st)
{
	st->phase = IP_IDLE;
	if (st->dns != NULL)
		evdns_getaddrinfo_cancel(st->dns);
	st->dns = NULL;
	if (st->timer != NULL)
		evtimer_del(st->timer);
	release_seqs(st);
}

static void
icmp_start(struct check *c)
{
	struct icmp_state	*st = c->probe_state;
	const struct icmp_def	*id = c->def->priv;
	struct evutil_addrinfo	 hints;

	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		if ((st->timer = evtimer_new(icmp_base, timer_cb, st)) == NULL)
			fatalx("%s: cannot create a timer", c->key);
		LIST_INSERT_HEAD(&icmp_states, st, entry);
		c->probe_state = st;
	}
	if (st->phase != IP_IDLE) {
		log_warnx("%s: icmp run started while one is in flight; abandoning it", c->key);
		icmp_abandon(st);
	}
	st->check = c;
	free(st->sent_us);
	free(st->got);
	st->sent_us = xcalloc((size_t)id->packets, sizeof(*st->sent_us));
	st->got = xcalloc((size_t)id->packets, sizeof(*st->got));
	st->npackets = 0;
	st->sent = st->received = 0;
	st->rtt_min = st->rtt_max = st->rtt_sum = 0;
	st->send_errno = 0;
	st->status = PS_OK;
	st->reason[0] = '\0';
	snprintf(st->addr, sizeof(st->addr), "%s", c->host->address);
	st->start_us = now_us();
	st->deadline_us = st->start_us + c->def->timeout_ms * 1000;
	st->phase = IP_RESOLVING;
	arm(st, st->deadline_us);
	if (icmp_dns == NULL) {
		run_set(st, PS_ERROR, "no DNS resolver");
		end_soon(st);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	st->dns = evdns_getaddrinfo(icmp_dns, c->host->address, NULL, &hints, dns_cb, st);
}

static void
icmp_cancel(struct check *c)
{
	if (c->probe_state != NULL)
		icmp_abandon(c->probe_state);
}

static void
icmp_free_state(struct check *c)
{
	struct icmp_state	*st = c->probe_state;

	if (st == NULL)
		return;
	icmp_abandon(st);
	if (st->timer != NULL)
		event_free(st->timer);
	LIST_REMOVE(st, entry);
	free(st->sent_us);
	free(st->got);
	free(st);
	c->probe_state = NULL;
}

static int
icmp_init(struct event_base *base)
{
	icmp_base = base;
	/*
	 * A raw socket kept from before the privilege drop is settled now: a
	 * ping socket where the kernel allows one (the raw one closed), else
	 * the raw one read and filtered.  Left until a run of its family came,
	 * it stayed open unread for good when none came (a name that resolves
	 * to IPv4 only keeps an IPv6 socket from start).
	 */
	if (icmp_raw_v4 != -1)
		(void)sock_get(AF_INET);
	if (icmp_raw_v6 != -1)
		(void)sock_get(AF_INET6);
	if (icmp_dns != NULL)
		return 0;
	evutil_secure_rng_get_bytes(&icmp_cookie, sizeof(icmp_cookie));
	evutil_secure_rng_get_bytes(&icmp_next_seq, sizeof(icmp_next_seq));
	icmp_ident = (uint16_t)getpid();
	icmp_dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (icmp_dns == NULL)
		log_warnx("icmp probes: no DNS resolver; hosts given by name will fail");
	return 0;
}

static void
icmp_shutdown(void)
{
	struct icmp_state	*st;

	LIST_FOREACH(st, &icmp_states, entry) {
		icmp_abandon(st);
		if (st->timer != NULL)
			event_free(st->timer);
		st->timer = NULL;
	}
	sock_close(&icmp_v4);
	sock_close(&icmp_v6);
	if (icmp_raw_v4 != -1)
		close(icmp_raw_v4);
	if (icmp_raw_v6 != -1)
		close(icmp_raw_v6);
	icmp_raw_v4 = icmp_raw_v6 = -1;
	if (icmp_dns != NULL)
		evdns_base_free(icmp_dns, 0);
	icmp_dns = NULL;
}

const struct probe_ops icmp_probe_ops = {
	.name = "icmp",
	.init = icmp_init,
	.shutdown = icmp_shutdown,
	.parse = icmp_parse,
	.finish = icmp_finish,
	.start = icmp_start,
	.cancel = icmp_cancel,
	.free_state = icmp_free_state,
	.free_def = icmp_free_def,
};
