/*
 * rrd_writer.c: every sample's way into an RRD file.  The loop only appends
 * to a queue; one worker thread creates missing files and writes updates,
 * through rrdcached when configured (it batches), else with librrd directly.
 * A stalled disk or a dead rrdcached therefore delays graphs, never probes.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <rrd.h>
#include <rrd_client.h>

#include "itsmd.h"

/* Past this many queued updates new ones are dropped (and counted), so a
 * dead disk cannot grow the daemon without bound. */
#define RRDW_QUEUE_MAX	(1u << 20)
#define KNOWN_BUCKETS	4096

struct rrd_item {
	struct rrd_item	*next;
	char		*path;
	unsigned	 step_s;
	uint64_t	 when_ms;
	bool		 ok;
	double		 value;
};

/* What the thread knows of a file: it exists, or when to stop being quiet
 * about its errors.  Only the worker thread touches these. */
struct known {
	struct known	*next;
	char		*path;
	bool		 exists;
	uint64_t	 quiet_until_ms;
};

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	bool		 started;
	bool		 stop;
	struct rrd_item	*head, *tail;
	size_t		 len;
	uint64_t	 dropped;
	bool		 drop_logged;
	char		*dir;
	char		*daemon;	/* "unix:/path" or NULL */
	bool		 daemon_down;	/* logged once, until it is back */
	struct known	*known[KNOWN_BUCKETS];
} W = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

char *
rrdw_path(const char *dir, const char *host, const char *probe, const char *row,
    const char *metric)
{
	if (row != NULL && row[0] != '\0')
		return xasprintf("%s/%s/%s/%s/%s.rrd", dir, host, probe, row, metric);
	return xasprintf("%s/%s/%s/%s.rrd", dir, host, probe, metric);
}

void
rrdw_update(const char *host, const char *probe, const char *row, const char *metric,
    uint64_t step_ms,
    uint64_t when_wall_ms, bool ok, double value)
{
	struct rrd_item	*it;

	if (!W.started)
		return;
	pthread_mutex_lock(&W.mu);
	if (W.len >= RRDW_QUEUE_MAX) {
		W.dropped++;
		if (!W.drop_logged)
			log_warnx("rrd: write queue full (%zu updates); dropping updates "
			    "until the writer catches up", W.len);
		W.drop_logged = true;
		pthread_mutex_unlock(&W.mu);
		return;
	}
	pthread_mutex_unlock(&W.mu);

	it = xcalloc(1, sizeof(*it));
	it->path = rrdw_path(W.dir, host, probe, row, metric);
	it->step_s = step_ms >= 1000 ? (unsigned)(step_ms / 1000) : 1;
	it->when_ms = when_wall_ms;
	it->ok = ok;
	it->value = value;

	pthread_mutex_lock(&W.mu);
	if (W.tail)
		W.tail->next = it;
	else
		W.head = it;
	W.tail = it;
	W.len++;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
}

static struct known *
known_get(const char *path)
{
	uint64_t	 h = sched_first_offset(path, KNOWN_BUCKETS);
	struct known	*k;

	for (k = W.known[h]; k != NULL; k = k->next)
		if (strcmp(k->path, path) == 0)
			return k;
	k = xcalloc(1, sizeof(*k));
	k->path = xstrdup(path);
	k->next = W.known[h];
	W.known[h] = k;
	return k;
}

/* One line per file per step at most: a full disk must not flood the log. */
static void
complain(struct known *k, unsigned step_s, const char *what)
{
	uint64_t	now = mono_ms();

	if (now < k->quiet_until_ms)
		return;
	k->quiet_until_ms = now + (uint64_t)step_s * 1000;
	log_warnx("rrd: %s: %s: %s", k->path, what, rrd_get_error());
}

static int
mkdir_parents(const char *path)
{
	char	buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/*
 * The layout: step = probe interval, heartbeat = 2 steps, and for each of
 * MIN/AVERAGE/MAX full resolution for 2 days, 5-minute for 2 weeks, hourly
 * for 13 months and daily for 5 years.  A tier no coarser than the one
 * before it is left out (a 1 h step needs no 5-minute archive).
 */
static int
rrd_make(struct known *k, unsigned step, uint64_t when_ms)
{
	static const struct { unsigned secs; unsigned span_days; } tiers[] = {
		{ 0, 2 }, { 300, 14 }, { 3600, 395 }, { 86400, 1826 },
	};
	static const char *const cfs[] = { "MIN", "AVERAGE", "MAX" };
	char		 args[1 + 4 * 3][96];
	const char	*argv[1 + 4 * 3];
	int		 argc = 0, rc;
	unsigned	 last_pdp = 0;

	snprintf(args[argc], sizeof(args[0]), "DS:value:GAUGE:%u:U:U", step * 2);
	argc++;
	for (size_t t = 0; t < sizeof(tiers) / sizeof(tiers[0]); t++) {
		unsigned pdp = tiers[t].secs ? tiers[t].secs / step : 1;
		if (pdp == 0)
			pdp = 1;
		if (t > 0 && pdp <= last_pdp)
			continue;
		last_pdp = pdp;
		unsigned long rows = (unsigned long)tiers[t].span_days * 86400 / ((unsigned long)pdp * step);
		for (size_t c = 0; c < 3; c++, argc++)
			snprintf(args[argc], sizeof(args[0]), "RRA:%s:0.5:%u:%lu", cfs[c], pdp, rows);
	}
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];

	if (mkdir_parents(k->path) == -1) {
		log_warn("rrd: %s: cannot create its directory", k->path);
		k->quiet_until_ms = mono_ms() + (uint64_t)step * 1000;
		return -1;
	}
	rrd_clear_error();
	time_t last_up = (time_t)(when_ms / 1000) - 1;
	if (W.daemon)
		rc = rrdc_create(k->path, step, last_up, 1, argc, argv);
	else
		rc = rrd_create_r(k->path, step, last_up, argc, argv);
	if (rc != 0) {
		struct stat st;
		if (stat(k->path, &st) == 0)	/* lost a race, or it was there after all */
			return 0;
		complain(k, step, "cannot create");
		return -1;
	}
	log_info("rrd: created %s (step %us)", k->path, step);
	return 0;
}

/* Returns -1 only when rrdcached is unreachable: the item must wait. */
static int
rrd_write(struct rrd_item *it)
{
	struct known	*k = known_get(it->path);
	char		 upd[64];
	const char	*argv[1] = { upd };
	int		 rc;

	if (W.daemon && !rrdc_is_connected(W.daemon)) {
		if (rrdc_connect(W.daemon) != 0 || !rrdc_is_connected(W.daemon)) {
			if (!W.daemon_down)
				log_warnx("rrd: rrdcached %s: cannot connect (%s); holding updates",
				    W.daemon, rrd_get_error());
			W.daemon_down = true;
			return -1;
		}
		if (W.daemon_down)
			log_info("rrd: rrdcached %s: connected", W.daemon);
		W.daemon_down = false;
	}
	if (!k->exists) {
		struct stat st;
		if (stat(it->path, &st) == 0)
			k->exists = true;
		else if (mono_ms() < k->quiet_until_ms || rrd_make(k, it->step_s, it->when_ms) == -1)
			return 0;	/* dropped; the failure was reported */
		else
			k->exists = true;
	}
	if (it->ok)
		snprintf(upd, sizeof(upd), "%llu.%03u:%.17g",
		    (unsigned long long)(it->when_ms / 1000), (unsigned)(it->when_ms % 1000), it->value);
	else
		snprintf(upd, sizeof(upd), "%llu.%03u:U",
		    (unsigned long long)(it->when_ms / 1000), (unsigned)(it->when_ms % 1000));
	rrd_clear_error();
	rc = W.daemon ? rrdc_update(it->path, 1, argv) : rrd_update_r(it->path, NULL, 1, argv);
	if (rc != 0) {
		if (W.daemon && !rrdc_is_connected(W.daemon))
			return -1;
		if (errno == ENOENT)
			k->exists = false;	/* removed behind our back: create again */
		complain(k, it->step_s, "update failed");
	}
	return 0;
}

static void *
rrdw_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&W.mu);
	for (;;) {
		while (W.head == NULL && !W.stop)
			pthread_cond_wait(&W.cv, &W.mu);
		if (W.head == NULL && W.stop)
			break;
		struct rrd_item *it = W.head;
		pthread_mutex_unlock(&W.mu);

		int rc = rrd_write(it);

		pthread_mutex_lock(&W.mu);
		if (rc == -1) {
			/* rrdcached is down: keep the item, try again in a second,
			 * and give up only when asked to stop. */
			if (W.stop)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&W.cv, &W.mu, &ts);
			continue;
		}
		W.head = it->next;
		if (W.head == NULL)
			W.tail = NULL;
		W.len--;
		if (W.len == 0)
			W.drop_logged = false;
		free(it->path);
		free(it);
	}
	pthread_mutex_unlock(&W.mu);
	return NULL;
}

int
rrdw_start(const char *rrd_dir, const char *rrdcached)
{
	W.dir = xstrdup(rrd_dir);
	W.daemon = rrdcached ? xstrdup(rrdcached) : NULL;
	W.stop = false;
	if (mkdir(W.dir, 0755) == -1 && errno != EEXIST)
		log_warn("rrd: cannot create %s", W.dir);
	if (pthread_create(&W.thread, NULL, rrdw_main, NULL) != 0) {
		log_warnx("rrd: cannot start the writer thread");
		return -1;
	}
	W.started = true;
	return 0;
}

void
rrdw_stop(void)
{
	size_t	lost = 0;

	if (!W.started)
		return;
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.thread, NULL);
	W.started = false;
	while (W.head != NULL) {
		struct rrd_item *it = W.head;
		W.head = it->next;
		free(it->path);
		free(it);
		lost++;
	}
	W.tail = NULL;
	W.len = 0;
	if (lost)
		log_warnx("rrd: %zu updates not written (rrdcached unreachable at exit)", lost);
	if (W.dropped)
		log_warnx("rrd: %llu updates were dropped while the queue was full",
		    (unsigned long long)W.dropped);
	if (W.daemon)
		rrdc_disconnect();
	for (size_t i = 0; i < KNOWN_BUCKETS; i++)
		while (W.known[i] != NULL) {
			struct known *k = W.known[i];
			W.known[i] = k->next;
			free(k->path);
			free(k);
		}
	free(W.dir);
	free(W.daemon);
	W.dir = W.daemon = NULL;
}
