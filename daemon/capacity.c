/*
 * capacity.c: proactive capacity records.  A timer on the loop snapshots
 * every metric that has a `capacity` limit; a worker thread reads the RRD
 * files and fits a trend (forecast.c); the results come back to the loop
 * through a pipe and go to the capacity_records table through db.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <rrd.h>
#include <rrd_client.h>

#include "itsmd.h"

/* The first forecast soon after start, then every capacity-every. */
#define CAP_FIRST_MS	3000

/* One metric to forecast (a table probe's rows are found by the worker). */
struct cap_item {
	char		*host;
	char		*probe;
	char		*metric;
	double		 limit;
	bool		 of_max;	/* limit is a percentage of the file's maximum */
	bool		 table;
};

struct cap_result {
	struct cap_result *next;
	char		*host;
	char		*label;		/* probe/metric or probe[row]/metric */
	bool		 record;	/* within the horizon */
	struct forecast	 fc;
	char		 summary[320];
};

struct cap_run {
	struct cap_item	*items;
	size_t		 nitems;
	char		*dir;
	char		*rrdcached;
	uint64_t	 window_s, horizon_s;
	time_t		 now;
	struct cap_result *results;
};

static struct {
	const struct config	*cfg;
	struct event_base	*base;
	struct event		*timer, *ev_done;
	int			 pipefd[2];
	pthread_t		 thread;
	bool			 busy;		/* a run is out on the thread */
	bool			 started;
	atomic_bool		 stopping;	/* read by the thread: end a run early */
} C = { .pipefd = { -1, -1 } };

static const char sql_open[] =
	"WITH upd AS ("
	" UPDATE capacity_records SET current = $3::float8, capacity_limit = $4::float8,"
	"  trend_per_day = $5::float8, predicted_at = to_timestamp($6::float8),"
	"  confidence = $7::float8, summary = $8, updated_at = to_timestamp($9::float8),"
	"  updates = updates + 1"
	" WHERE host = $1 AND metric = $2 AND resolved_at IS NULL"
	" RETURNING id, false AS opened"
	"), ins AS ("
	" INSERT INTO capacity_records (host, metric, current, capacity_limit,"
	"  trend_per_day, predicted_at, confidence, summary, opened_at, updated_at)"
	" SELECT $1, $2, $3::float8, $4::float8, $5::float8, to_timestamp($6::float8),"
	"  $7::float8, $8, to_timestamp($9::float8), to_timestamp($9::float8)"
	" WHERE NOT EXISTS (SELECT 1 FROM upd)"
	" ON CONFLICT (host, metric) WHERE resolved_at IS NULL DO NOTHING"
	" RETURNING id, true AS opened"
	")"
	" SELECT id, opened FROM upd UNION ALL SELECT id, opened FROM ins";

static const char sql_resolve[] =
	"UPDATE capacity_records SET resolved_at = to_timestamp($3::float8), resolution = $4"
	" WHERE host = $1 AND metric = $2 AND resolved_at IS NULL RETURNING id";

static void
result_free(struct cap_result *r)
{
	free(r->host);
	free(r->label);
	free(r);
}

static void
run_free(struct cap_run *run)
{
	for (size_t i = 0; i < run->nitems; i++) {
		free(run->items[i].host);
		free(run->items[i].probe);
		free(run->items[i].metric);
	}
	free(run->items);
	free(run->dir);
	free(run->rrdcached);
	while (run->results != NULL) {
		struct cap_result *r = run->results;
		run->results = r->next;
		result_free(r);
	}
	free(run);
}

/* ------------------------------------------------------ worker thread */

static void
fmt_date(double t, char *buf, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
forecast_one(struct cap_run *run, const char *host, const char *label, const char *path,
    double limit, bool of_max)
{
	struct cap_result	*r = xcalloc(1, sizeof(*r));
	char			 why[256], date[40], lim[96], how[48];
	double			 days, pct = limit;
	int			 rc;

	r->host = xstrdup(host);
	r->label = xstrdup(label);
	/* rrdcached may hold the latest hours: have it write them first. */
	if (run->rrdcached != NULL && rrdc_flush_if_daemon(run->rrdcached, path) != 0)
		rrd_clear_error();
	if ((rc = forecast_rrd(path, run->window_s, run->now, limit, of_max, &r->fc, why,
	    sizeof(why))) == -1) {
		log_debug("capacity: %s: %s", path, why);
		r->fc.found = false;
	}
	if (rc == 0)
		limit = r->fc.limit;	/* of_max: now in the metric's unit */
	/* Say where an of-speed limit came from, and which method dated it. */
	if (of_max && rc == 0)
		snprintf(lim, sizeof(lim), "%g (%g%% of %g)", limit, pct, limit * 100 / pct);
	else if (of_max)	/* the file could not be read: no maximum known */
		snprintf(lim, sizeof(lim), "%g%% of its maximum", pct);
	else
		snprintf(lim, sizeof(lim), "%g", limit);
	if (r->fc.hw)
		snprintf(how, sizeof(how), ", Holt-Winters, season %zu points", r->fc.season);
	else
		how[0] = '\0';
	if (r->fc.found) {
		days = (r->fc.when - (double)run->now) / 86400;
		r->record = r->fc.when - (double)run->now <= (double)run->horizon_s;
		fmt_date(r->fc.when, date, sizeof(date));
		if (days <= 0)
			snprintf(r->summary, sizeof(r->summary), "%s at its capacity limit %s "
			    "(now %.4g, %+.4g/day, confidence %.2f%s)", label, lim,
			    r->fc.current, r->fc.slope * 86400, r->fc.r2, how);
		else
			snprintf(r->summary, sizeof(r->summary), "%s reaches %s on %s, in %.1f "
			    "days (now %.4g, %+.4g/day, confidence %.2f over %llu points%s)",
			    label, lim, date, days, r->fc.current, r->fc.slope * 86400,
			    r->fc.r2, (unsigned long long)r->fc.n, how);
	} else if (rc == -1 && of_max)
		snprintf(r->summary, sizeof(r->summary), "%s: no forecast: %s", label, why);
	else
		snprintf(r->summary, sizeof(r->summary), "%s: no trend toward %s", label, lim);
	r->next = run->results;
	run->results = r;
}

/* One file of a run: its item and its label. */
struct cap_file {
	const struct cap_item	*it;
	char			*label;
};

static void
file_add(struct cap_file **v, const char ***paths, size_t *n, size_t *cap,
    const struct cap_item *it, char *path, char *label)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xreallocarray(*v, *cap, sizeof(**v));
		*paths = xreallocarray(*paths, *cap, sizeof(**paths));
	}
	(*v)[*n] = (struct cap_file){ it, label };
	(*paths)[(*n)++] = path;
}

static void *
cap_main(void *arg)
{
	struct cap_run	*run = arg;
	struct cap_file	*files = NULL;
	const char	**paths = NULL;
	size_t		 n = 0, cap = 0;

	for (size_t i = 0; i < run->nitems && !atomic_load(&C.stopping); i++) {
		struct cap_item	*it = &run->items[i];
		char		*path, *pdir;
		DIR		*d;
		struct dirent	*de;

		if (!it->table) {
			file_add(&files, &paths, &n, &cap, it,
			    rrdw_path(run->dir, it->host, it->probe, NULL, it->metric),
			    xasprintf("%s/%s", it->probe, it->metric));
			continue;
		}
		pdir = xasprintf("%s/%s/%s", run->dir, it->host, it->probe);
		if ((d = opendir(pdir)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				struct stat st;
				if (de->d_name[0] == '.')
					continue;
				path = rrdw_path(run->dir, it->host, it->probe, de->d_name,
				    it->metric);
				if (stat(path, &st) == 0)
					file_add(&files, &paths, &n, &cap, it, path,
					    xasprintf("%s[%s]/%s", it->probe, de->d_name,
					    it->metric));
				else
					free(path);
			}
			closedir(d);
		}
		free(pdir);
	}
	/* Our own writer may hold their latest samples (rrd-write-delay):
	 * all of the run's files in one request, one round trip. */
	rrdw_flush(paths, n);
	for (size_t f = 0; f < n; f++) {
		if (!atomic_load(&C.stopping))
			forecast_one(run, files[f].it->host, files[f].label, paths[f],
			    files[f].it->limit, files[f].it->of_max);
		free(files[f].label);
		free((char *)paths[f]);
	}
	free(files);
	free(paths);
	if (write(C.pipefd[1], &run, sizeof(run)) != sizeof(run))
		log_warn("capacity: cannot hand results to the loop");
	return NULL;
}

/* ------------------------------------------------------------ the loop */

struct cap_job {
	char	*host;
	char	*label;
	char	*summary;
	bool	 opening;
};

static void
cap_job_free(struct cap_job *j)
{
	free(j->host);
	free(j->label);
	free(j->summary);
	free(j);
}

static void
cap_db_done(void *arg, const struct pg_result *res, const char *error)
{
	struct cap_job	*j = arg;

	if (error == NULL && res != NULL && db_ntuples(res) == 1) {
		const char *id = db_value(res, 0, 0);
		if (!j->opening)
			log_info("capacity record #%s resolved: %s %s: %s", id, j->host,
			    j->label, j->summary);
		else if (strcmp(db_value(res, 0, 1), "t") == 0)
			log_info("capacity record #%s opened: %s %s", id, j->host, j->summary);
		else
			log_debug("capacity record #%s updated: %s %s", id, j->host, j->summary);
	}
	cap_job_free(j);
}

static void
send_result(const struct cap_run *run, const struct cap_result *r)
{
	struct cap_job	*j = xcalloc(1, sizeof(*j));
	char		 cur[32], lim[32], trend[32], when[32], conf[32], now[32];

	j->host = xstrdup(r->host);
	j->label = xstrdup(r->label);
	j->summary = xstrdup(r->summary);
	j->opening = r->record;
	snprintf(now, sizeof(now), "%lld", (long long)run->now);
	if (r->record) {
		const char *p[9] = { r->host, r->label, cur, lim, trend, when, conf,
		    r->summary, now };
		snprintf(cur, sizeof(cur), "%.17g", r->fc.current);
		snprintf(lim, sizeof(lim), "%.17g", r->fc.limit);
		snprintf(trend, sizeof(trend), "%.17g", r->fc.slope * 86400);
		snprintf(when, sizeof(when), "%.3f", r->fc.when);
		snprintf(conf, sizeof(conf), "%.4f", r->fc.r2);
		db_exec(sql_open, 9, p, cap_db_done, j);
	} else {
		const char *res = r->fc.found ? "forecast left the horizon" :
		    "no growth toward the limit";
		const char *p[4] = { r->host, r->label, now, res };
		free(j->summary);
		j->summary = xstrdup(res);
		db_exec(sql_resolve, 4, p, cap_db_done, j);
	}
}

static void
on_done(evutil_socket_t fd, short ev, void *arg)
{
	struct cap_run	*run;

	(void)ev;
	(void)arg;
	if (read(fd, &run, sizeof(run)) != sizeof(run))
		return;
	pthread_join(C.thread, NULL);
	C.busy = false;
	for (struct cap_result *r = run->results; r != NULL; r = r->next)
		send_result(run, r);
	run_free(run);
}

static void
schedule(uint64_t ms)
{
	struct timeval	tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(C.timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	const struct config	*cfg = C.cfg;
	struct cap_run		*run;

	(void)fd;
	(void)ev;
	(void)arg;
	schedule(cfg->capacity_every_ms);
	if (C.busy)
		return;	/* the last run is still reading: skip this one */
	run = xcalloc(1, sizeof(*run));
	for (size_t h = 0; h < cfg->nhosts; h++) {
		const struct host *host = &cfg->hosts[h];
		for (size_t p = 0; p < host->nprobes; p++) {
			const struct probe_def *d = host->probes[p];
			for (size_t k = 0; k < d->ncapacity; k++) {
				struct cap_item *it;
				run->items = xreallocarray(run->items, run->nitems + 1,
				    sizeof(*run->items));
				it = &run->items[run->nitems++];
				it->host = xstrdup(host->name);
				it->probe = xstrdup(d->name);
				it->metric = xstrdup(d->metrics[d->capacity[k].metric].name);
				it->limit = d->capacity[k].limit;
				it->of_max = d->capacity[k].of_max;
				it->table = d->table;
			}
		}
	}
	if (run->nitems == 0) {
		run_free(run);
		return;
	}
	run->dir = xstrdup(cfg->rrd_dir);
	run->rrdcached = cfg->rrdcached ? xstrdup(cfg->rrdcached) : NULL;
	run->window_s = cfg->capacity_window_ms / 1000;
	run->horizon_s = cfg->capacity_horizon_ms / 1000;
	run->now = time(NULL);
	if (pthread_create(&C.thread, NULL, cap_main, run) != 0) {
		log_warnx("capacity: cannot start the forecast thread; next try in %llus",
		    (unsigned long long)(cfg->capacity_every_ms / 1000));
		run_free(run);
		return;
	}
	C.busy = true;
}

void
capacity_start(struct event_base *base, const struct config *cfg)
{
	C.base = base;
	C.cfg = cfg;
	if (pipe2(C.pipefd, O_CLOEXEC) == -1)
		fatal("capacity: pipe");
	C.ev_done = event_new(base, C.pipefd[0], EV_READ | EV_PERSIST, on_done, NULL);
	event_add(C.ev_done, NULL);
	atomic_store(&C.stopping, false);
	C.timer = evtimer_new(base, on_timer, NULL);
	schedule(cfg->capacity_every_ms < CAP_FIRST_MS ? cfg->capacity_every_ms : CAP_FIRST_MS);
	C.started = true;
}

void
capacity_reconfigure(const struct config *cfg)
{
	C.cfg = cfg;
}

void
capacity_stop(void)
{
	struct cap_run	*run;

	if (!C.started)
		return;
	/* A run in flight ends early; its results are dropped: the next start
	 * forecasts again. */
	atomic_store(&C.stopping, true);
	if (C.busy && read(C.pipefd[0], &run, sizeof(run)) == sizeof(run)) {
		pthread_join(C.thread, NULL);
		run_free(run);
	}
	C.busy = false;
	event_free(C.timer);
	event_free(C.ev_done);
	close(C.pipefd[0]);
	close(C.pipefd[1]);
	C.started = false;
}
