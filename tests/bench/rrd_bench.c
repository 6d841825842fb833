/*
 * rrd_bench.c: drives the real writer (rrd_writer.c) the way the scheduler
 * does: NFILES files, each updated once per PERIOD seconds, spread evenly,
 * from a libevent loop that also measures its own lag with a 10 ms timer.
 * Built and run by tests/bench/rrd.sh; prints one line of key=value.
 *
 *	rrd_bench DIR NFILES PERIOD SECONDS [unix:SOCKET]
 *
 * The first PERIOD seconds are a warm-up (every file is seen once, as
 * after a start); CPU, rate and lag are measured over the SECONDS after.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <rrd.h>

#include "itsmd.h"


static unsigned long	 nfiles, period, seconds, next_file, sent;
static uint64_t		 t_start, t_last_tick, t_measure;
static unsigned long	 sent_at_measure;
static double		 cpu_at_measure;
static double		 cpu_s(void);
static double		*lags;
static size_t		 nlags, caplags;
static struct event	*ev_tick, *ev_lag;

/* The bench layout: a step of PERIOD, a day at full resolution, a week
 * hourly.  Made here (not by the writer) so 100,000 files fit on disk. */
static void
make_files(const char *dir)
{
	char		 ds[64], r1[64], r2[64];
	const char	*argv[] = { ds, r1, r2 };
	char		*d;

	snprintf(ds, sizeof(ds), "DS:value:GAUGE:%lu:U:U", period * 2);
	snprintf(r1, sizeof(r1), "RRA:AVERAGE:0.5:1:%lu", 86400 / period);
	snprintf(r2, sizeof(r2), "RRA:AVERAGE:0.5:%lu:168", 3600 / period ? 3600 / period : 1);
	d = xasprintf("%s/h", dir);
	mkdir(d, 0755);
	free(d);
	for (unsigned long i = 0; i < nfiles; i++) {
		char *p = xasprintf("%s/h/p%lu", dir, i / 1000);
		mkdir(p, 0755);
		free(p);
		p = xasprintf("%s/h/p%lu/m%lu.rrd", dir, i / 1000, i % 1000);
		if (access(p, F_OK) != 0 &&
		    rrd_create_r(p, period, time(NULL) - 10, 3, argv) != 0)
			fatalx("create %s: %s", p, rrd_get_error());
		free(p);
	}
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

/* Every 10 ms: hand the files due in this slice to the writer. */
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
	if (t_measure == 0 && el >= period * 1000) {
		t_measure = now;
		sent_at_measure = sent;
		cpu_at_measure = cpu_s();
	}
	if (el >= (period + seconds) * 1000) {
		event_base_loopexit(itsmd_base, NULL);
		return;
	}
	for (; sent < due; sent++) {
		unsigned long i = next_file++ % nfiles;
		snprintf(probe, sizeof(probe), "p%lu", i / 1000);
		snprintf(metric, sizeof(metric), "m%lu", i % 1000);
		rrdw_update("h", probe, NULL, metric, period * 1000, wall_ms(), true,
		    (double)(sent % 1000));
	}
	evtimer_add(ev_tick, &tv);
}

static double
cpu_s(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
main(int argc, char **argv)
{
	double		 c1, p99, max = 0;
	uint64_t	 t_end, t_drained;
	struct timeval	 tv = { 0, 10000 };
	struct rusage	 ru;

	if (argc < 5)
		fatalx("usage: rrd_bench DIR NFILES PERIOD SECONDS [unix:SOCKET]");
	log_init("rrd_bench", true, 4);
	nfiles = strtoul(argv[2], NULL, 10);
	period = strtoul(argv[3], NULL, 10);
	seconds = strtoul(argv[4], NULL, 10);
	make_files(argv[1]);
	itsmd_base = event_base_new();
	if (rrdw_start(argv[1], argc > 5 ? argv[5] : NULL) == -1)
		fatalx("rrdw_start");
	ev_tick = evtimer_new(itsmd_base, on_tick, NULL);
	ev_lag = evtimer_new(itsmd_base, on_lag, NULL);
	t_start = mono_ms();
	evtimer_add(ev_tick, &tv);
	evtimer_add(ev_lag, &tv);
	event_base_dispatch(itsmd_base);
	t_end = mono_ms();
	c1 = cpu_s();
	rrdw_stop();			/* what was accepted, written */
	t_drained = mono_ms();
	qsort(lags, nlags, sizeof(*lags), cmp_double);
	p99 = nlags ? lags[(size_t)((double)nlags * 0.99)] : 0;
	if (nlags)
		max = lags[nlags - 1];
	getrusage(RUSAGE_SELF, &ru);
	printf("updates=%lu run_s=%.1f drain_s=%.2f rate=%.0f cpu_s=%.2f "
	    "us_per_update=%.2f lag_p99_ms=%.1f lag_max_ms=%.1f rss_kib=%ld\n",
	    sent - sent_at_measure, (t_end - t_measure) / 1000.0, (t_drained - t_end) / 1000.0,
	    (sent - sent_at_measure) / ((t_end - t_measure) / 1000.0), c1 - cpu_at_measure,
	    sent > sent_at_measure ? (c1 - cpu_at_measure) * 1e6 / (sent - sent_at_measure) : 0,
	    p99, max, ru.ru_maxrss);
	return 0;
}
