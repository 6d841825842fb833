/*
 * rrd_writer.c: every sample's way into an RRD file.  The loop only appends
 * to a queue; one worker thread creates missing files and writes updates,
 * through rrdcached when configured, else with librrd directly; either way
 * what is queued for one file goes out in one call.  A stalled disk or a
 * dead rrdcached therefore delays graphs, never probes, and a full disk
 * becomes an incident on itsmd's own storage (rrdw_watch).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <rrd.h>
#include <rrd_client.h>
#include <event2/event.h>

#include "itsmd.h"

/* Past this many queued updates new ones are dropped (and counted), so a
 * dead disk cannot grow the daemon without bound. */
#define RRDW_QUEUE_MAX	(1u << 20)
#define KNOWN_BUCKETS	4096
/* Updates of one file in one librrd call at most. */
#define RRDW_BATCH	256
#define STORAGE_HOST	"itsmd"
#define STORAGE_CHECK	"storage"

struct rrd_item {
	struct rrd_item	*next;
	uint64_t	 seq;		/* queue order */
	char		*path;
	unsigned	 step_s;
	uint64_t	 when_ms;
	bool		 ok;
	double		 value;
	struct rrd_ds	 ds;		/* what the file is made with (rrd_layout.c) */
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
	/* storage health, under mu: the worker sets, the loop's timer reads */
	uint64_t	 storage_fail_ms;	/* mono time of the last storage error */
	unsigned	 storage_step_s;
	char		 storage_why[320];
	bool		 storage_reported;	/* loop side: incident raised */
	struct event	*watch;
	uint64_t	 written;
	uint64_t	 seq;
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
	rrdw_update_ds(host, probe, row, metric, step_ms, when_wall_ms, ok, value, NULL);
}

void
rrdw_update_ds(const char *host, const char *probe, const char *row, const char *metric,
    uint64_t step_ms, uint64_t when_wall_ms, bool ok, double value, const struct rrd_ds *ds)
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
	if (ds != NULL)
		it->ds = *ds;
	else
		it->ds = (struct rrd_ds){ rrdl_default(), NAN, NAN };

	pthread_mutex_lock(&W.mu);
	it->seq = W.seq++;
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

/*
 * A failure the disk caused (full, read-only, permissions) rather than the
 * data: those make the storage incident.  librrd keeps errno only as text.
 */
static void
storage_check(const char *path, unsigned step_s, int err, bool always)
{
	static const char *const texts[] = {
		"No space left", "Disk quota", "Permission denied", "Read-only file system",
		"Input/output error", "short write",
	};
	const char	*e = rrd_get_error();
	bool		 disk = always || err == ENOSPC || err == EDQUOT || err == EACCES || err == EROFS ||
			    err == EIO || err == EPERM;

	for (size_t i = 0; !disk && i < sizeof(texts) / sizeof(texts[0]); i++)
		disk = strstr(e, texts[i]) != NULL;
	if (!disk)
		return;
	pthread_mutex_lock(&W.mu);
	W.storage_fail_ms = mono_ms();
	W.storage_step_s = step_s;
	snprintf(W.storage_why, sizeof(W.storage_why), "cannot write %s: %s", path,
	    e[0] ? e : strerror(err));
	pthread_mutex_unlock(&W.mu);
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

/* The layout is rrd_layout.c's (the conf's `rrd { }`, the metric's bounds). */
static int
rrd_make(struct known *k, unsigned step, uint64_t when_ms, const struct rrd_ds *ds)
{
	char		*args[RRDL_MAX_ARGS];
	const char	*argv[RRDL_MAX_ARGS];
	int		 argc, rc;

	argc = rrdl_create_args(ds, step, args);
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];

	if (mkdir_parents(k->path) == -1) {
		int err = errno;
		if (mono_ms() >= k->quiet_until_ms)
			log_warn("rrd: %s: cannot create its directory", k->path);
		k->quiet_until_ms = mono_ms() + (uint64_t)step * 1000;
		rrd_set_error("%s", strerror(err));
		storage_check(k->path, step, err, true);
		return -1;
	}
	rrd_clear_error();
	errno = 0;
	time_t last_up = (time_t)(when_ms / 1000) - 1;
	if (W.daemon)
		rc = rrdc_create(k->path, step, last_up, 1, argc, argv);
	else
		rc = rrd_create_r(k->path, step, last_up, argc, argv);
	rrdl_args_free(args, argc);
	if (rc != 0) {
		int err = errno;
		struct stat st;
		if (stat(k->path, &st) == 0)	/* lost a race, or it was there after all */
			return 0;
		/* librrd can fail a short write without a message and with
		 * errno from its cleanup: look at the disk ourselves. */
		struct statvfs vfs;
		if ((rrd_get_error()[0] == '\0' || err == ENOENT) &&
		    statvfs(W.dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (8u << 20))
			rrd_set_error("no space left on the device (%llu KiB free)",
			    (unsigned long long)vfs.f_bavail * vfs.f_frsize / 1024);
		else if (rrd_get_error()[0] == '\0' && err != 0)
			rrd_set_error("%s", strerror(err));
		complain(k, step, "cannot create");
		/* The layout is ours and fixed: a file that cannot be made is the
		 * disk's doing (librrd leaves errno to its cleanup, so no test). */
		storage_check(k->path, step, err, W.daemon == NULL || rrdc_is_connected(W.daemon));
		return -1;
	}
	log_info("rrd: created %s (step %us)", k->path, step);
	return 0;
}

/* rrdcached is wanted and reachable (connecting if need be). */
static bool
daemon_up(void)
{
	if (rrdc_is_connected(W.daemon))
		return true;
	if (rrdc_connect(W.daemon) != 0 || !rrdc_is_connected(W.daemon)) {
		if (!W.daemon_down)
			log_warnx("rrd: rrdcached %s: cannot connect (%s); holding updates",
			    W.daemon, rrd_get_error());
		W.daemon_down = true;
		return false;
	}
	if (W.daemon_down)
		log_info("rrd: rrdcached %s: connected; writing the updates held", W.daemon);
	W.daemon_down = false;
	return true;
}

/*
 * An existing file keeps the layout it was made with: librrd cannot change
 * a step in place, and a new file would lose the history.  Said once.
 */
static void
layout_check(struct known *k, unsigned step, const struct rrd_ds *ds)
{
	rrd_info_t	*info;
	char		 why[160];

	if ((info = rrd_info_r(k->path)) == NULL) {
		rrd_clear_error();
		return;
	}
	rrdl_differs(info, ds, step, why, sizeof(why));
	if (why[0] != '\0')
		log_info("rrd: %s keeps its layout (%s): to migrate, rrdtool create "
		    "--source with the new layout", k->path, why);
	rrd_info_free(info);
}

/*
 * Writes n updates of one file (same path, time order) in one call.
 * Returns -1 only when rrdcached is unreachable: the items must wait.
 */
static int
rrd_write(struct rrd_item **v, size_t n, bool direct)
{
	struct known	*k = known_get(v[0]->path);
	char		 upd[RRDW_BATCH][64];
	const char	*argv[RRDW_BATCH];
	bool		 cached = W.daemon != NULL && !direct;
	int		 rc;

	if (cached && !daemon_up())
		return -1;
	if (!k->exists) {
		struct stat st;
		if (stat(v[0]->path, &st) == 0) {
			k->exists = true;
			layout_check(k, v[0]->step_s, &v[0]->ds);
		} else if (mono_ms() < k->quiet_until_ms || rrd_make(k, v[0]->step_s,
		    v[0]->when_ms, &v[0]->ds) == -1) {
			if (cached && !rrdc_is_connected(W.daemon))
				return -1;
			return 0;	/* dropped; the failure was reported */
		} else
			k->exists = true;
	}
	for (size_t i = 0; i < n; i++) {
		struct rrd_item *it = v[i];
		if (it->ok)
			snprintf(upd[i], sizeof(upd[i]), "%llu.%03u:%.17g",
			    (unsigned long long)(it->when_ms / 1000),
			    (unsigned)(it->when_ms % 1000), it->value);
		else
			snprintf(upd[i], sizeof(upd[i]), "%llu.%03u:U",
			    (unsigned long long)(it->when_ms / 1000),
			    (unsigned)(it->when_ms % 1000));
		argv[i] = upd[i];
	}
	rrd_clear_error();
	errno = 0;
	rc = cached ? rrdc_update(v[0]->path, (int)n, argv) :
	    rrd_update_r(v[0]->path, NULL, (int)n, argv);
	if (rc != 0) {
		int err = errno;
		if (cached && !rrdc_is_connected(W.daemon))
			return -1;
		if (err == ENOENT)
			k->exists = false;	/* removed behind our back: create again */
		complain(k, v[0]->step_s, "update failed");
		storage_check(v[0]->path, v[0]->step_s, err, false);
	} else {
		pthread_mutex_lock(&W.mu);
		W.written += n;
		pthread_mutex_unlock(&W.mu);
	}
	return 0;
}

/* Path order; queue order within a path (it is time order). */
static int
item_cmp(const void *a, const void *b)
{
	const struct rrd_item	*x = *(struct rrd_item *const *)a;
	const struct rrd_item	*y = *(struct rrd_item *const *)b;
	int			 c = strcmp(x->path, y->path);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
item_free(struct rrd_item *it)
{
	free(it->path);
	free(it);
}

/*
 * Writes everything in v (sorted), file by file.  What rrdcached could not
 * take is returned to the head of the queue, in order; returns how many.
 */
static size_t
write_batch(struct rrd_item **v, size_t n, bool direct)
{
	size_t	i = 0, j, done = 0;

	while (i < n) {
		for (j = i + 1; j < n && j - i < RRDW_BATCH &&
		    strcmp(v[j]->path, v[i]->path) == 0; j++)
			;
		if (rrd_write(v + i, j - i, direct) == -1)
			break;
		for (size_t x = i; x < j; x++)
			item_free(v[x]);
		done += j - i;
		i = j;
	}
	pthread_mutex_lock(&W.mu);
	W.len -= done;
	if (i < n) {
		/* back in front, in sequence order so rrdcached gets time order */
		struct rrd_item *head = W.head;
		qsort(v + i, n - i, sizeof(*v), item_cmp);
		for (size_t x = n; x-- > i;) {
			v[x]->next = head;
			head = v[x];
		}
		if (W.head == NULL) {
			W.tail = v[n - 1];
			W.tail->next = NULL;
		}
		W.head = head;
	}
	if (W.len == 0)
		W.drop_logged = false;
	pthread_mutex_unlock(&W.mu);
	return n - i;
}

static void *
rrdw_main(void *arg)
{
	struct rrd_item	**v = NULL;
	size_t		  cap = 0;

	(void)arg;
	pthread_mutex_lock(&W.mu);
	for (;;) {
		while (W.head == NULL && !W.stop)
			pthread_cond_wait(&W.cv, &W.mu);
		if (W.head == NULL && W.stop)
			break;
		/* Take the whole queue: the longer the writer lagged, the bigger
		 * the batches, so it catches up. */
		struct rrd_item *list = W.head;
		W.head = W.tail = NULL;
		pthread_mutex_unlock(&W.mu);

		size_t n = 0;
		for (struct rrd_item *it = list; it != NULL; it = it->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			v[n++] = it;
		}
		qsort(v, n, sizeof(*v), item_cmp);
		size_t left = write_batch(v, n, false);

		pthread_mutex_lock(&W.mu);
		if (left > 0) {
			/* rrdcached is down: keep the items, try again in a second;
			 * at stop they are written directly (rrdw_stop). */
			if (W.stop)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&W.cv, &W.mu, &ts);
		}
	}
	pthread_mutex_unlock(&W.mu);
	free(v);
	return NULL;
}

/*
 * On the loop: raise the storage incident while writes fail for lack of
 * disk, resolve it once every failing file has had two steps to fail again
 * and none did.
 */
static void
storage_watch(evutil_socket_t fd, short ev, void *arg)
{
	struct incident_change	 ic = { .host = STORAGE_HOST, .check = STORAGE_CHECK };
	char			 why[sizeof(W.storage_why)];
	bool			 bad;
	uint64_t		 now = mono_ms();

	(void)fd;
	(void)ev;
	(void)arg;
	pthread_mutex_lock(&W.mu);
	bad = W.storage_fail_ms != 0 &&
	    now - W.storage_fail_ms < 2000 * (uint64_t)W.storage_step_s + 1000;
	snprintf(why, sizeof(why), "%s", W.storage_why);
	pthread_mutex_unlock(&W.mu);
	if (bad == W.storage_reported)
		return;
	W.storage_reported = bad;
	if (bad) {
		log_warnx("rrd: storage failing in %s: %s", W.dir, why);
		ic.sev = SEV_CRITICAL;
		ic.summary = why;
	} else {
		log_info("rrd: storage in %s writable again", W.dir);
		ic.sev = SEV_OK;
		ic.summary = "RRD files are written again";
	}
	incident_change(&ic);
}

void
rrdw_watch(struct event_base *base)
{
	struct timeval	tv = { 1, 0 };

	W.watch = event_new(base, -1, EV_PERSIST, storage_watch, NULL);
	event_add(W.watch, &tv);
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
	struct rrd_item	**v;
	size_t		  n = 0, lost;

	if (!W.started)
		return;
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.thread, NULL);
	W.started = false;
	if (W.watch != NULL)
		event_free(W.watch);
	W.watch = NULL;
	/*
	 * Whatever rrdcached could not take is written straight to the files,
	 * so a stop loses no accepted sample.  (rrdcached replays its journal
	 * when it returns; an update older than the file's is then refused by
	 * librrd, never written twice.)
	 */
	v = xcalloc(W.len ? W.len : 1, sizeof(*v));
	for (struct rrd_item *it = W.head; it != NULL; it = it->next)
		v[n++] = it;
	W.head = W.tail = NULL;
	if (n > 0) {
		log_warnx("rrd: rrdcached %s unreachable at stop: writing %zu updates "
		    "directly", W.daemon, n);
		qsort(v, n, sizeof(*v), item_cmp);
		lost = write_batch(v, n, true);
		if (lost)
			log_warnx("rrd: %zu updates not written", lost);
	}
	free(v);
	W.len = 0;
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
