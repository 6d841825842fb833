/*
 * rrd_bench.c: one update stream for the RRD benchmark (tests/bench/rrd.sh):
 * NFILES files, each updated once per PERIOD seconds, spread evenly, from a
 * libevent loop that also measures its own lag with a 10 ms timer.  The
 * stream goes either into the real writer (rrd_writer.c, as check.c hands
 * it over) or, with -c PORT, to collectd's network plugin as binary
 * packets, so both daemons get the same updates at the same times.
 *
 *	rrd_bench [-c PORT] [-d DELAY] [-n] [-p PID]... [-s unix:SOCKET] [-w WARMUP]
 *	    DIR NFILES PERIOD SECONDS [unix:SOCKET]
 *
 * -d: itsmd's rrd-write-delay, in seconds (default 0: write every round);
 * -n: the writer is not started (rrdw_update returns at once): what the
 *     loop and this driver cost by themselves;
 * -p: also report that process's CPU (utime+stime) over the window;
 * -s: rrdcached's UpdatesReceived over the window, to check what arrived;
 * the last argument: itsmd's writer goes through that rrdcached.
 * The first WARMUP (default PERIOD) seconds are a warm-up (every file is
 * seen once, as after a start); the figures cover the SECONDS after.
 * Prints one line of key=value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <rrd.h>
#include <rrd_client.h>

#include "itsmd.h"

#define MAX_PIDS	4
#define PKT_MAX		1452		/* collectd's default MaxPacketSize */

static unsigned long	 nfiles, period, seconds, warmup, next_file, sent;
static uint64_t		 t_start, t_last_tick, t_measure;
static unsigned long	 sent_at_measure;
static double		 cpu_at_measure;
static double		*lags;
static size_t		 nlags, caplags;
static struct event	*ev_tick, *ev_lag;
static int		 udp = -1;	/* collectd mode */
static unsigned char	 pkt[PKT_MAX];
static size_t		 plen;
static pid_t		 pids[MAX_PIDS];
static double		 pid_cpu0[MAX_PIDS];
static size_t		 npids;
static const char	*stats_sock;
static uint64_t		 stats0;
static bool		 nowriter;	/* -n: rrdw_update returns at once */

static double
cpu_s(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of another process, in seconds. */
static double
pid_cpu(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut = 0, st = 0;
	FILE			*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
	fclose(f);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t
rrdcached_received(void)
{
	rrdc_stats_t	*st, *s;
	uint64_t	 n = 0;

	if (rrdc_connect(stats_sock) != 0 || rrdc_stats_get(&st) != 0)
		return 0;
	for (s = st; s != NULL; s = s->next)
		if (strcmp(s->name, "UpdatesReceived") == 0)
			n = s->type == RRDC_STATS_TYPE_COUNTER ? s->value.counter :
			    (uint64_t)s->value.gauge;
	rrdc_stats_free(st);
	return n;
}

/* The file of update i: itsmd's DIR/h/pN/mM.rrd, or collectd's
 * DataDir/h/p-N/gauge-mM.rrd (host h, plugin p, type gauge). */
static char *
file_path(const char *dir, unsigned long i)
{
	if (udp != -1)
		return xasprintf("%s/h/p-%lu/gauge-m%lu.rrd", dir, i / 1000, i % 1000);
	return xasprintf("%s/h/p%lu/m%lu.rrd", dir, i / 1000, i % 1000);
}

/*
 * The bench layout: a step of PERIOD, a day at full resolution, a week
 * hourly, AVERAGE only, so 100,000 files fit on disk.  Made here, for both
 * daemons, as copies of one file: neither is measured creating files.
 */
static void
make_files(const char *dir)
{
	char		 ds[64], r1[64], r2[64];
	const char	*argv[] = { ds, r1, r2 };
	char		*t, *buf;
	struct stat	 st;
	int		 fd;

	snprintf(ds, sizeof(ds), "DS:value:GAUGE:%lu:U:U", period * 2);
	snprintf(r1, sizeof(r1), "RRA:AVERAGE:0.5:1:%lu", 86400 / period);
	snprintf(r2, sizeof(r2), "RRA:AVERAGE:0.5:%lu:168", 3600 / period ? 3600 / period : 1);
	t = xasprintf("%s/template.rrd", dir);
	unlink(t);
	if (rrd_create_r(t, period, time(NULL) - 10, 3, argv) != 0)
		fatalx("create %s: %s", t, rrd_get_error());
	if ((fd = open(t, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		fatal("%s", t);
	buf = xmalloc((size_t)st.st_size);
	if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		fatal("read %s", t);
	close(fd);
	unlink(t);
	free(t);
	t = xasprintf("%s/h", dir);
	mkdir(t, 0755);
	free(t);
	for (unsigned long i = 0; i < nfiles; i++) {
		char *p = file_path(dir, i);
		if (i % 1000 == 0) {
			*strrchr(p, '/') = '\0';
			mkdir(p, 0755);
			free(p);
			p = file_path(dir, i);
		}
		if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)) != -1) {
			if (write(fd, buf, (size_t)st.st_size) != st.st_size)
				fatal("write %s", p);
			close(fd);
		}
		free(p);
	}
	free(buf);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Every 10 ms: how late is this timer? */
static void
on_lag(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	now = mono_ms();
	struct timeval	tv = { 0, 10000 };

	(void)fd;
	(void)ev;
	(void)arg;
	if (t_last_tick != 0 && t_measure != 0) {
		if (nlags == caplags) {
			caplags = caplags ? caplags * 2 : 4096;
			lags = xreallocarray(lags, caplags, sizeof(*lags));
		}
		lags[nlags++] = (double)(now - t_last_tick) - 10;
	}
	t_last_tick = now;
	evtimer_add(ev_lag, &tv);
}

/* ------------------------------------------------ collectd's network protocol */
static void
put16(uint16_t v)
{
	pkt[plen++] = v >> 8;
	pkt[plen++] = v & 0xff;
}

static void
part_str(uint16_t type, const char *s)
{
	size_t	n = strlen(s) + 1;

	put16(type);
	put16((uint16_t)(4 + n));
	memcpy(pkt + plen, s, n);
	plen += n;
}

static void
part_u64(uint16_t type, uint64_t v)
{
	put16(type);
	put16(12);
	for (int i = 7; i >= 0; i--)
		pkt[plen++] = (v >> (8 * i)) & 0xff;
}

static void
pkt_send(void)
{
	if (plen > 0 && send(udp, pkt, plen, 0) == -1 && errno != ECONNREFUSED)
		log_warn("send to collectd");
	plen = 0;
}

/* One gauge value: plugin instance, type instance, time, value (host,
 * plugin, type and interval once per packet). */
static void
collectd_put(unsigned long i, uint64_t when_ms, double v)
{
	char	pi[24], ti[24];

	if (plen + 80 > sizeof(pkt))
		pkt_send();
	if (plen == 0) {
		part_str(0x0000, "h");			/* host */
		part_str(0x0002, "p");			/* plugin */
		part_str(0x0004, "gauge");		/* type */
		part_u64(0x0009, (uint64_t)period << 30);	/* interval, 2^-30 s */
	}
	snprintf(pi, sizeof(pi), "%lu", i / 1000);
	snprintf(ti, sizeof(ti), "m%lu", i % 1000);
	part_str(0x0003, pi);
	part_str(0x0005, ti);
	part_u64(0x0008, ((when_ms / 1000) << 30) + ((when_ms % 1000) << 30) / 1000);
	put16(0x0006);					/* values */
	put16(4 + 2 + 1 + 8);
	put16(1);
	pkt[plen++] = 1;				/* gauge: a little-endian double */
	memcpy(pkt + plen, &v, 8);
	plen += 8;
}

/* Every 10 ms: hand the files due in this slice over. */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 10000 };
	uint64_t	 now = mono_ms(), el = now - t_start;
	unsigned long	 due = (unsigned long)((double)el / 1000.0 * (double)nfiles / (double)period);
	char		 probe[32], metric[32];

	(void)fd;
	(void)ev;
	(void)arg;
	if (t_measure == 0 && el >= warmup * 1000) {
		t_measure = now;
		sent_at_measure = sent;
		cpu_at_measure = cpu_s();
		for (size_t p = 0; p < npids; p++)
			pid_cpu0[p] = pid_cpu(pids[p]);
		if (stats_sock)
			stats0 = rrdcached_received();
	}
	if (el >= (warmup + seconds) * 1000) {
		event_base_loopexit(itsmd_base, NULL);
		return;
	}
	for (; sent < due; sent++) {
		unsigned long i = next_file++ % nfiles;
		if (udp != -1) {
			collectd_put(i, wall_ms(), (double)(sent % 1000));
			continue;
		}
		snprintf(probe, sizeof(probe), "p%lu", i / 1000);
		snprintf(metric, sizeof(metric), "m%lu", i % 1000);
		rrdw_update("h", probe, NULL, metric, period * 1000, wall_ms(), true,
		    (double)(sent % 1000));
	}
	pkt_send();
	evtimer_add(ev_tick, &tv);
}

static void
usage(void)
{
	fatalx("usage: rrd_bench [-c PORT] [-d DELAY] [-n] [-p PID]... [-s unix:SOCKET] "
	    "[-w WARMUP] "
	    "DIR NFILES PERIOD SECONDS [unix:SOCKET]");
}

int
main(int argc, char **argv)
{
	double		 c1, p99 = 0, max = 0, pc[MAX_PIDS];
	uint64_t	 t_end, t_drained, stats1 = 0;
	struct timeval	 tv = { 0, 10000 };
	struct rusage	 ru;
	long		 wu = -1;
	int		 ch;

	log_init("rrd_bench", true, 4);
	while ((ch = getopt(argc, argv, "c:d:np:s:w:")) != -1) {
		switch (ch) {
		case 'd':
			rrdw_set_delay((uint64_t)strtoul(optarg, NULL, 10) * 1000);
			break;
		case 'n':
			nowriter = true;
			break;
		case 'c': {
			struct sockaddr_in sin = { .sin_family = AF_INET,
			    .sin_port = htons((uint16_t)atoi(optarg)),
			    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			if ((udp = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
			    connect(udp, (struct sockaddr *)&sin, sizeof(sin)) == -1)
				fatal("udp socket");
			break;
		}
		case 'p':
			if (npids == MAX_PIDS)
				usage();
			pids[npids++] = (pid_t)atoi(optarg);
			break;
		case 's':
			stats_sock = optarg;
			break;
		case 'w':
			wu = atol(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 4)
		usage();
	nfiles = strtoul(argv[1], NULL, 10);
	period = strtoul(argv[2], NULL, 10);
	seconds = strtoul(argv[3], NULL, 10);
	warmup = wu >= 0 ? (unsigned long)wu : period;
	make_files(argv[0]);
	itsmd_base = event_base_new();
	if (udp == -1 && !nowriter && rrdw_start(argv[0], argc > 4 ? argv[4] : NULL) == -1)
		fatalx("rrdw_start");
	ev_tick = evtimer_new(itsmd_base, on_tick, NULL);
	ev_lag = evtimer_new(itsmd_base, on_lag, NULL);
	t_start = mono_ms();
	evtimer_add(ev_tick, &tv);
	evtimer_add(ev_lag, &tv);
	event_base_dispatch(itsmd_base);
	t_end = mono_ms();
	c1 = cpu_s();
	for (size_t p = 0; p < npids; p++)
		pc[p] = pid_cpu(pids[p]) - pid_cpu0[p];
	if (stats_sock)
		stats1 = rrdcached_received();
	if (udp == -1)
		rrdw_stop();		/* what was accepted, written */
	t_drained = mono_ms();
	qsort(lags, nlags, sizeof(*lags), cmp_double);
	if (nlags) {
		p99 = lags[(size_t)((double)nlags * 0.99)];
		max = lags[nlags - 1];
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("updates=%lu run_s=%.1f drain_s=%.2f rate=%.0f cpu_s=%.2f "
	    "us_per_update=%.2f lag_p99_ms=%.1f lag_max_ms=%.1f rss_kib=%ld",
	    sent - sent_at_measure, (t_end - t_measure) / 1000.0, (t_drained - t_end) / 1000.0,
	    (sent - sent_at_measure) / ((t_end - t_measure) / 1000.0), c1 - cpu_at_measure,
	    sent > sent_at_measure ? (c1 - cpu_at_measure) * 1e6 / (sent - sent_at_measure) : 0,
	    p99, max, ru.ru_maxrss);
	for (size_t p = 0; p < npids; p++)
		printf(" cpu_pid%zu=%.2f", p, pc[p]);
	if (stats_sock)
		printf(" rrdcached_received=%llu", (unsigned long long)(stats1 - stats0));
	printf("\n");
	return 0;
}
