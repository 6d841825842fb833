/*
 * rrd_writer.c: every sample's way into an RRD file.  The loop only appends
 * to a buffer of its own, handed to one worker thread once per loop pass
 * (one lock, one wake-up); the worker creates missing files and writes,
 * through rrdcached when configured (one BATCH of many files per round
 * trip), else with librrd directly; either way what is queued for one file
 * goes out in one call.  A stalled disk or a dead rrdcached therefore delays
 * graphs, never probes, and a full disk becomes an incident on itsmd's own
 * storage (rrdw_watch).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rrd.h>
#include <rrd_client.h>
#include <event2/event.h>

#include "itsmd.h"

/* Past this many queued updates new ones are dropped (and counted), so a
 * dead disk cannot grow the daemon without bound. */
#define RRDW_QUEUE_MAX	(1u << 20)
#define SERIES_BUCKETS0	4096
/* Updates of one file in one librrd call at most. */
#define RRDW_BATCH	256
/* rrdcached: commands per BATCH; its command lines must stay under 4 KiB. */
#define BATCH_CMDS	8192
#define BATCH_LINE	3900
/* rrdcached slower than this on one batch is taken for gone (updates held). */
#define BATCH_TIMEOUT_S	30
/* The worker writes at most this often: a round per loop pass would cost a
 * wake-up and, with rrdcached, a round trip for a handful of updates. */
#define RRDW_ROUND_MS	200
/* rrd-write-delay: a reader waits this long for the writer to turn to its
 * request (rrdw_flush); tests shorten it (rrdw_flush_wait). */
#define RRDW_FLUSH_WAIT_MS	10000
/* A file's held samples keep their array up to this many between writes. */
#define RRDW_HOLD_KEEP	64
/* Failing files logged one by one per interval; the rest only counted. */
#define RRDW_LOG_FILES	20
#define STORAGE_HOST	"itsmd"
#define STORAGE_CHECK	"storage"

/*
 * One RRD file, made on the loop the first time its series is updated and
 * kept until rrdw_stop, so an update carries a pointer instead of four
 * strings.  key and path never change once made (the worker reads path);
 * the fields after them belong to the worker thread alone.
 */
struct rrd_series {
	struct rrd_series	*hnext;		/* loop: hash chain */
	uint32_t	 hash;
	size_t		 keylen;
	char		*key;		/* host \0 probe \0 row \0 metric \0 */
	char		*path;
	/* worker thread only */
	char		*cpath;		/* the path as rrdcached gets it */
	bool		 exists;
	double		 min, max;	/* the bounds it was made or checked with */
	uint64_t	 quiet_until_ms;
	uint64_t	 gen;		/* the round its items were last grouped in */
	size_t		 first, last;	/* that round's items: a chain through next[] */
	/* worker thread only, with rrd-write-delay: samples held for one call */
	struct held_sample *hv;		/* in time order */
	uint32_t	 hn, hcap;
	unsigned	 hstep_s;	/* their step, for write_held's complaints */
	uint64_t	 last_ms;	/* the newest sample passed to librrd */
	uint64_t	 ndup;		/* samples dropped: not after the last */
	bool		 inwheel;	/* on a wheel slot's chain (wnext) */
	bool		 indexed;	/* in the by-path table (pnext) */
	struct rrd_series *wnext;
	struct rrd_series *pnext;
};

/* A sample held for rrd-write-delay: 16 bytes (NaN is unknown). */
struct held_sample {
	uint64_t	 when_ms;
	double		 value;
};

/* A reader's rrdw_flush(), on its own stack until done. */
struct flush_req {
	struct flush_req	*next;
	const char *const	*paths;
	size_t			 n;
	bool			 taken;		/* the writer serves it now: wait for done */
	bool			 done;
};

struct rrd_item {
	struct rrd_series	*k;
	uint64_t	 when_ms;
	double		 value;
	unsigned	 step_s;
	bool		 ok;
	bool		 done;		/* worker: written (or given up) */
	struct rrd_ds	 ds;		/* what the file is made with (rrd_layout.c) */
};

/* A growable array of items. */
struct items {
	struct rrd_item	*v;
	size_t		 n, cap;
};

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	bool		 started;
	bool		 stop;
	bool		 idle;		/* the worker waits for work: wake it */
	struct items	 q;		/* handed over by the loop, under mu */
	size_t		 len;		/* q + what the worker holds, under mu */
	uint64_t	 dropped;
	bool		 drop_logged;
	char		*dir;
	char		*daemon;	/* "unix:/path" or NULL */
	bool		 daemon_down;	/* logged once, until it is back */
	/* storage health, under mu: the worker sets, the loop's timer reads */
	uint64_t	 storage_fail_ms;	/* mono time of the last storage error */
	unsigned	 storage_step_s;
	char		 storage_why[320];
	bool		 storage_reported;	/* loop side: incident raised */
	struct event	*watch;
	uint64_t	 written;
	unsigned	 gen;		/* starts and stops: see rrdw_generation */
	uint64_t	 delay_ms;	/* rrd-write-delay; 0: every round */
	struct flush_req *flushq;	/* readers waiting for their files */
	struct flush_req *roundq;	/* those whose samples are in this round */
	pthread_cond_t	 fcv;		/* flush requests done */
	uint64_t	 flush_wait_ms;	/* RRDW_FLUSH_WAIT_MS */
} W = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .fcv = PTHREAD_COND_INITIALIZER, .flush_wait_ms = RRDW_FLUSH_WAIT_MS };

/* The loop's side: the series table and this pass's updates. */
static struct {
	struct rrd_series	**tab;
	size_t		  nbuckets, count;
	struct items	  buf;
	struct event	 *flush;	/* active once per pass with updates */
	bool		  pending;
} L;

/* The worker's side. */
static struct {
	struct items	 held;		/* taken from W.q, not yet written */
	size_t		*next;		/* per held item: next of the same file */
	size_t		 nextcap;
	struct rrd_series	**touched;	/* this round's files, first-seen order */
	size_t		 ntouched, touchedcap;
	uint64_t	 gen;
	bool		 resend;	/* a batch is sent again after a cut */
	int		 sock;		/* our own rrdcached connection, or -1 */
	char		*cdir;		/* realpath of the rrd dir, for rrdcached */
	char		*out;		/* the batch being built */
	size_t		 outlen, outcap;
	struct rrd_series	**cmd;		/* the batch's commands: which file */
	size_t		 ncmd, cmdcap;
	struct rrd_item	**cmditems;	/* and which items each covers */
	size_t		 ncmditems, cmditemscap;
	size_t		*cmdfirst;	/* first of cmditems per command, ncmd + 1 */
	char		 rbuf[8192];	/* replies being read */
	size_t		 rlen;
	/* failures this interval: one summary line */
	uint64_t	 fail_start_ms;
	unsigned	 fail_step_s;
	size_t		 fail_files;
	char		 fail_why[200];
	/* rrd-write-delay (direct writes only): a file's samples are held
	 * and written in one call when its second of the delay comes round */
	uint64_t	 delay_ms;	/* what the wheel is made for */
	struct rrd_series **wheel;	/* one chain per second of the delay */
	size_t		 nslots;	/* 0: nothing is held */
	uint64_t	 wheel_s;	/* the last second whose slot was written */
	size_t		 nwheel;	/* files on the wheel */
	struct rrd_series **ptab;	/* files by path, for rrdw_flush */
	size_t		 pnb, pcount;
} T = { .sock = -1 };

char *
rrdw_path(const char *dir, const char *host, const char *probe, const char *row,
    const char *metric)
{
	if (row != NULL && row[0] != '\0')
		return xasprintf("%s/%s/%s/%s/%s.rrd", dir, host, probe, row, metric);
	return xasprintf("%s/%s/%s/%s.rrd", dir, host, probe, metric);
}

/* Room for n more items. */
static void
items_reserve(struct items *it, size_t n)
{
	if (it->n + n > it->cap) {
		size_t cap = it->cap ? it->cap : 1024;
		while (cap < it->n + n)
			cap *= 2;
		it->v = xreallocarray(it->v, cap, sizeof(*it->v));
		it->cap = cap;
	}
}

static void
items_push(struct items *it, const struct rrd_item *x, size_t n)
{
	items_reserve(it, n);
	memcpy(it->v + it->n, x, n * sizeof(*x));
	it->n += n;
}

/* Appends src to dst and empties src, by swapping when dst is empty. */
static void
items_move(struct items *dst, struct items *src)
{
	if (dst->n == 0) {
		struct items t = *dst;
		*dst = *src;
		*src = t;
	} else
		items_push(dst, src->v, src->n);
	src->n = 0;
}

/* FNV-1a over the four names, each with its terminating NUL. */
static uint32_t
key_hash(const char *const s[4])
{
	uint32_t	h = 2166136261u;

	for (int i = 0; i < 4; i++) {
		const char *p = s[i];
		do {
			h ^= (unsigned char)*p;
			h *= 16777619u;
		} while (*p++ != '\0');
	}
	return h;
}

static bool
key_eq(const struct rrd_series *k, const char *const s[4])
{
	const char	*p = k->key;

	for (int i = 0; i < 4; i++) {
		size_t n = strlen(s[i]) + 1;
		if ((size_t)(p - k->key) + n > k->keylen || memcmp(p, s[i], n) != 0)
			return false;
		p += n;
	}
	return (size_t)(p - k->key) == k->keylen;
}

static void
series_grow(void)
{
	size_t		  nb = L.nbuckets ? L.nbuckets * 4 : SERIES_BUCKETS0;
	struct rrd_series	**tab = xcalloc(nb, sizeof(*tab));

	for (size_t i = 0; i < L.nbuckets; i++)
		while (L.tab[i] != NULL) {
			struct rrd_series *k = L.tab[i];
			L.tab[i] = k->hnext;
			k->hnext = tab[k->hash & (nb - 1)];
			tab[k->hash & (nb - 1)] = k;
		}
	free(L.tab);
	L.tab = tab;
	L.nbuckets = nb;
}

/* The file of a series, found by its names or made (loop side). */
static struct rrd_series *
series_get(const char *host, const char *probe, const char *row, const char *metric)
{
	const char	*s[4] = { host, probe, row ? row : "", metric };
	uint32_t	 h = key_hash(s);
	struct rrd_series	*k;
	size_t		 len = 0;

	if (L.nbuckets > 0)
		for (k = L.tab[h & (L.nbuckets - 1)]; k != NULL; k = k->hnext)
			if (k->hash == h && key_eq(k, s))
				return k;
	if (L.count >= L.nbuckets * 2)
		series_grow();
	k = xcalloc(1, sizeof(*k));
	for (int i = 0; i < 4; i++)
		len += strlen(s[i]) + 1;
	k->key = xmalloc(len);
	k->keylen = len;
	len = 0;
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(s[i]) + 1;
		memcpy(k->key + len, s[i], n);
		len += n;
	}
	k->hash = h;
	k->path = rrdw_path(W.dir, host, probe, row, metric);
	k->hnext = L.tab[h & (L.nbuckets - 1)];
	L.tab[h & (L.nbuckets - 1)] = k;
	L.count++;
	return k;
}

/* This pass's updates to the worker: one lock, and a wake-up only when it
 * is idle (busy, it takes them at its next round). */
static void
hand_over(void)
{
	size_t	n = L.buf.n, room;

	L.pending = false;
	if (n == 0)
		return;
	pthread_mutex_lock(&W.mu);
	room = W.len < RRDW_QUEUE_MAX ? RRDW_QUEUE_MAX - W.len : 0;
	if (n > room) {
		W.dropped += n - room;
		if (!W.drop_logged)
			log_warnx("rrd: write queue full (%zu updates); dropping updates "
			    "until the writer catches up", W.len);
		W.drop_logged = true;
		L.buf.n = room;
	}
	if (L.buf.n > 0) {
		W.len += L.buf.n;
		items_move(&W.q, &L.buf);
		if (W.idle)
			pthread_cond_signal(&W.cv);
	}
	pthread_mutex_unlock(&W.mu);
	L.buf.n = 0;
}

static void
flush_pass(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	hand_over();
}

/*
 * On the loop only.  The update joins this pass's buffer; the first one of
 * a pass activates the hand-over event, which libevent runs after the
 * callbacks already active, so a probe storing seven metrics, or a table
 * walk storing hundreds, costs one lock and one wake-up.
 */
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
	rrdw_put(rrdw_series(host, probe, row, metric), step_ms, when_wall_ms, ok, value, ds);
}

/*
 * A series' file, for a caller to keep (check.c keeps one per metric of an
 * instance): the lookup by four names is then paid once, not per sample.
 * Valid while rrdw_generation() is unchanged; NULL while the writer is off.
 */
struct rrd_series *
rrdw_series(const char *host, const char *probe, const char *row, const char *metric)
{
	return W.started ? series_get(host, probe, row, metric) : NULL;
}

/* Changes at every rrdw_start and rrdw_stop: handles kept from before are stale. */
unsigned
rrdw_generation(void)
{
	return W.gen;
}

void
rrdw_put(struct rrd_series *k, uint64_t step_ms, uint64_t when_wall_ms, bool ok, double value,
    const struct rrd_ds *ds)
{
	struct rrd_item	*it;

	if (!W.started || k == NULL)
		return;
	if (L.buf.n == L.buf.cap)
		items_reserve(&L.buf, 1);
	it = &L.buf.v[L.buf.n++];
	it->k = k;
	it->step_s = step_ms >= 1000 ? (unsigned)(step_ms / 1000) : 1;
	it->when_ms = when_wall_ms;
	it->ok = ok;
	it->value = value;
	it->done = false;
	if (ds != NULL)
		it->ds = *ds;
	else
		it->ds = (struct rrd_ds){ rrdl_default(), NAN, NAN };
	if (L.flush == NULL)
		hand_over();		/* no loop (tools, tests): at once */
	else if (!L.pending) {
		L.pending = true;
		event_active(L.flush, EV_TIMEOUT, 0);
	}
}

/*
 * One line per file per step at most, and past RRDW_LOG_FILES files in an
 * interval only a count: a full disk under 10,000 files must not write
 * 10,000 lines a minute.  fail_summary() says how many there were.
 */
static void
complain(struct rrd_series *k, unsigned step_s, const char *what)
{
	uint64_t	now = mono_ms();

	if (now < k->quiet_until_ms)
		return;
	k->quiet_until_ms = now + (uint64_t)step_s * 1000;
	if (T.fail_files == 0) {
		T.fail_start_ms = now;
		T.fail_step_s = step_s;
		snprintf(T.fail_why, sizeof(T.fail_why), "%s: %s", what, rrd_get_error());
	}
	if (++T.fail_files <= RRDW_LOG_FILES)
		log_warnx("rrd: %s: %s: %s", k->path, what, rrd_get_error());
	else
		log_debug("rrd: %s: %s: %s", k->path, what, rrd_get_error());
}

static void
fail_summary(bool force)
{
	if (T.fail_files == 0 ||
	    (!force && mono_ms() - T.fail_start_ms < (uint64_t)T.fail_step_s * 1000))
		return;
	log_warnx("rrd: %zu file%s failed in the last %us%s (first: %s)", T.fail_files,
	    T.fail_files == 1 ? "" : "s", T.fail_step_s,
	    T.fail_files > RRDW_LOG_FILES ? ", the first ones logged above" : "", T.fail_why);
	T.fail_files = 0;
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
rrd_make(struct rrd_series *k, unsigned step, uint64_t when_ms, const struct rrd_ds *ds)
{
	char		*args[RRDL_MAX_ARGS];
	const char	*argv[RRDL_MAX_ARGS];
	int		 argc, rc;

	argc = rrdl_create_args(ds, step, args);
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];

	if (mkdir_parents(k->path) == -1) {
		int err = errno;
		rrdl_args_free(args, argc);
		rrd_set_error("%s", strerror(err));
		complain(k, step, "cannot create its directory");
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

static void
csock_close(void)
{
	if (T.sock != -1)
		close(T.sock);
	T.sock = -1;
	T.rlen = 0;
}

/* The unix socket path of rrdcached, or NULL for a network address. */
static const char *
daemon_unix_path(void)
{
	const char	*p = W.daemon;

	if (strncmp(p, "unix:", 5) == 0)
		p += 5;
	return p[0] == '/' ? p : NULL;
}

/*
 * Our own connection to rrdcached, for BATCH: librrd's client has no batch
 * call and answers every UPDATE before the next.  Blocking with a time-out
 * is fine here: only the worker thread waits on it.
 */
static bool
csock_open(void)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct timeval		 tv = { BATCH_TIMEOUT_S, 0 };
	const char		*p = daemon_unix_path();

	if (T.sock != -1)
		return true;
	if (p == NULL || strlen(p) >= sizeof(sun.sun_path)) {
		rrd_set_error("%s: not a unix socket path", W.daemon);
		return false;
	}
	memcpy(sun.sun_path, p, strlen(p) + 1);
	if ((T.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(T.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(T.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(T.sock, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		rrd_set_error("%s", strerror(errno));
		csock_close();
		return false;
	}
	T.rlen = 0;
	return true;
}

/* rrdcached is wanted and reachable (connecting if need be). */
static bool
daemon_up(void)
{
	bool	up = rrdc_is_connected(W.daemon) ||
		    (rrdc_connect(W.daemon) == 0 && rrdc_is_connected(W.daemon));

	if (up && daemon_unix_path() != NULL)
		up = csock_open();
	if (!up) {
		if (!W.daemon_down)
			log_warnx("rrd: rrdcached %s: cannot connect (%s); holding updates",
			    W.daemon, rrd_get_error());
		W.daemon_down = true;
		csock_close();
		rrdc_disconnect();
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
layout_check(struct rrd_series *k, unsigned step, const struct rrd_ds *ds)
{
	rrd_info_t	*info;
	char		 why[160];

	if ((info = rrd_info_r(k->path)) == NULL) {
		rrd_clear_error();
		return;
	}
	rrdl_check(info, ds, step, why, sizeof(why));
	if (why[0] != '\0')
		log_info("rrd: %s keeps its layout (%s): to migrate, rrdtool create "
		    "--source with the new layout", k->path, why);
	rrd_info_free(info);
}

static void
out_add(const char *s, size_t n)
{
	if (T.outlen + n + 1 > T.outcap) {
		T.outcap = T.outcap ? T.outcap * 2 : 65536;
		while (T.outlen + n + 1 > T.outcap)
			T.outcap *= 2;
		T.out = xreallocarray(T.out, T.outcap, 1);
	}
	memcpy(T.out + T.outlen, s, n);
	T.outlen += n;
	T.out[T.outlen] = '\0';
}

/* The file's name as rrdcached wants it: absolute, spaces and \ escaped
 * (what librrd's client does for a unix socket). */
static const char *
cpath(struct rrd_series *k)
{
	char	*abs, *e, *o;

	if (k->cpath != NULL)
		return k->cpath;
	if (k->path[0] == '/' || T.cdir == NULL)
		abs = xstrdup(k->path);
	else
		abs = xasprintf("%s/%s", T.cdir, k->path + strlen(W.dir) + 1);
	e = o = xmalloc(2 * strlen(abs) + 1);
	for (const char *p = abs; *p; p++) {
		if (*p == ' ' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o = '\0';
	free(abs);
	return k->cpath = e;
}

static size_t
value_fmt(char *buf, size_t len, uint64_t when_ms, bool ok, double value)
{
	int	n;

	if (ok)
		n = snprintf(buf, len, "%llu.%03u:%.17g", (unsigned long long)(when_ms / 1000),
		    (unsigned)(when_ms % 1000), value);
	else
		n = snprintf(buf, len, "%llu.%03u:U", (unsigned long long)(when_ms / 1000),
		    (unsigned)(when_ms % 1000));
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

static size_t
sample_fmt(char *buf, size_t len, const struct rrd_item *it)
{
	return value_fmt(buf, len, it->when_ms, it->ok, it->value);
}

static void
batch_reset(void)
{
	T.outlen = 0;
	T.ncmd = 0;
	T.ncmditems = 0;
}

static void
cmd_begin(struct rrd_series *k)
{
	const char	*p = cpath(k);

	if (T.ncmd == 0) {
		batch_reset();
		out_add("BATCH\n", 6);
	}
	if (T.ncmd + 2 > T.cmdcap) {
		T.cmdcap = T.cmdcap ? T.cmdcap * 2 : 1024;
		T.cmd = xreallocarray(T.cmd, T.cmdcap, sizeof(*T.cmd));
		T.cmdfirst = xreallocarray(T.cmdfirst, T.cmdcap, sizeof(*T.cmdfirst));
	}
	T.cmd[T.ncmd] = k;
	T.cmdfirst[T.ncmd] = T.ncmditems;
	T.ncmd++;
	out_add("UPDATE ", 7);
	out_add(p, strlen(p));
}

/* n updates of one file into the batch: one UPDATE line, or more when
 * the samples would not fit in rrdcached's command buffer. */
static void
batch_add(struct rrd_series *k, struct rrd_item **v, size_t n)
{
	char	s[64];
	size_t	line = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = sample_fmt(s + 1, sizeof(s) - 1, v[i]) + 1;
		s[0] = ' ';
		if (i == 0 || line + len > BATCH_LINE) {
			if (i > 0)
				out_add("\n", 1);
			cmd_begin(k);
			line = strlen(k->cpath) + 7;
		}
		out_add(s, len);
		line += len;
		if (T.ncmditems == T.cmditemscap) {
			T.cmditemscap = T.cmditemscap ? T.cmditemscap * 2 : 4096;
			T.cmditems = xreallocarray(T.cmditems, T.cmditemscap, sizeof(*T.cmditems));
		}
		T.cmditems[T.ncmditems++] = v[i];
	}
	out_add("\n", 1);
}

/* One reply line from rrdcached, NUL-terminated in place, or NULL. */
static char *
read_line(char *line, size_t len)
{
	for (;;) {
		char *nl = memchr(T.rbuf, '\n', T.rlen);
		if (nl != NULL || T.rlen == sizeof(T.rbuf)) {
			size_t n = nl ? (size_t)(nl - T.rbuf) : T.rlen;
			snprintf(line, len, "%.*s", (int)n, T.rbuf);
			n = nl ? n + 1 : n;
			memmove(T.rbuf, T.rbuf + n, T.rlen - n);
			T.rlen -= n;
			return line;
		}
		ssize_t r = recv(T.sock, T.rbuf + T.rlen, sizeof(T.rbuf) - T.rlen, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			rrd_set_error("%s", r == 0 ? "connection closed" : strerror(errno));
			return NULL;
		}
		T.rlen += (size_t)r;
	}
}

/*
 * Sends the batch: "BATCH", the UPDATE lines, "." in one write, then reads
 * the go-ahead and the error count with one line per failed command.
 * rrdcached says nothing on success inside a batch, and holds its errors
 * until the end, so nothing it writes can block it while we send.  Returns
 * -1 when the connection failed: the batch's items are not done and wait.
 */
static int
batch_send(void)
{
	char		 line[4200], *end;
	size_t		 off = 0, nerr, good;
	long		 cmdno;

	if (T.ncmd == 0)
		return 0;
	T.cmdfirst[T.ncmd] = T.ncmditems;
	out_add(".\n", 2);
	while (off < T.outlen) {
		ssize_t w = send(T.sock, T.out + off, T.outlen - off, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			rrd_set_error("%s", strerror(errno));
			goto cut;
		}
		off += (size_t)w;
	}
	if (read_line(line, sizeof(line)) == NULL)
		goto cut;
	if (strtol(line, NULL, 10) != 0) {	/* BATCH refused */
		rrd_set_error("BATCH refused: %s", line);
		goto cut;
	}
	if (read_line(line, sizeof(line)) == NULL)
		goto cut;
	nerr = strtoul(line, NULL, 10);
	good = T.ncmditems;
	for (size_t e = 0; e < nerr; e++) {
		if (read_line(line, sizeof(line)) == NULL)
			goto cut;
		cmdno = strtol(line, &end, 10);
		if (cmdno < 1 || (size_t)cmdno > T.ncmd)
			continue;
		struct rrd_series *k = T.cmd[cmdno - 1];
		struct rrd_item *it = T.cmditems[T.cmdfirst[cmdno - 1]];
		good -= T.cmdfirst[cmdno] - T.cmdfirst[cmdno - 1];
		/* A batch sent again after a cut may repeat what got through. */
		if (T.resend && strstr(end, "illegal attempt") != NULL)
			continue;
		rrd_set_error("rrdcached:%s", end);
		if (strstr(end, "No such file") != NULL)
			k->exists = false;	/* removed behind our back: create again */
		complain(k, it->step_s, "update failed");
		storage_check(k->path, it->step_s, 0, false);
	}
	for (size_t i = 0; i < T.ncmditems; i++)
		T.cmditems[i]->done = true;
	pthread_mutex_lock(&W.mu);
	W.written += good;
	pthread_mutex_unlock(&W.mu);
	T.resend = false;
	batch_reset();
	return 0;
cut:
	if (!W.daemon_down)
		log_warnx("rrd: rrdcached %s: connection lost with a batch of %zu updates "
		    "unconfirmed (%s); holding updates", W.daemon, T.ncmditems, rrd_get_error());
	W.daemon_down = true;
	T.resend = true;
	csock_close();
	rrdc_disconnect();
	batch_reset();
	return -1;
}

/*
 * The file of n updates, made first if need be (the first update's layout
 * and time).  1: ready; 0: it cannot be made, the updates are dropped
 * (the failure was reported); -1: rrdcached is unreachable, they wait.
 */
static int
file_ready(struct rrd_series *k, struct rrd_item **v, size_t n, bool cached)
{
	struct stat	st;

	if (k->exists) {
		/* new bounds (a reload, a link's new speed) are tuned in now,
		 * not at the next start; an unknown one (a speed not read this
		 * time) has nothing to tune and keeps the one the file has */
		double min = v[0]->ds.min, max = v[0]->ds.max;
		bool newmin = !isnan(min) && !rrdl_same_bound(k->min, min);
		bool newmax = !isnan(max) && !rrdl_same_bound(k->max, max);
		if (newmin || newmax) {
			layout_check(k, v[0]->step_s, &v[0]->ds);
			k->min = newmin ? min : k->min;
			k->max = newmax ? max : k->max;
		}
		return 1;
	}
	if (stat(k->path, &st) == 0) {
		k->exists = true;
		layout_check(k, v[0]->step_s, &v[0]->ds);
	} else if (mono_ms() < k->quiet_until_ms || rrd_make(k, v[0]->step_s,
	    v[0]->when_ms, &v[0]->ds) == -1) {
		if (cached && !rrdc_is_connected(W.daemon))
			return -1;
		for (size_t i = 0; i < n; i++)
			v[i]->done = true;
		return 0;
	} else
		k->exists = true;
	k->min = v[0]->ds.min;
	k->max = v[0]->ds.max;
	return 1;
}

/* FNV-1a of a path, for the by-path table. */
static uint32_t
path_hash(const char *p)
{
	uint32_t	h = 2166136261u;

	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	return h;
}

static void
path_index(struct rrd_series *k)
{
	uint32_t	h;

	if (T.pcount >= T.pnb) {
		size_t nb = T.pnb ? T.pnb * 4 : 4096;
		struct rrd_series **tab = xcalloc(nb, sizeof(*tab));
		for (size_t i = 0; i < T.pnb; i++)
			while (T.ptab[i] != NULL) {
				struct rrd_series *x = T.ptab[i];
				T.ptab[i] = x->pnext;
				h = path_hash(x->path) & (nb - 1);
				x->pnext = tab[h];
				tab[h] = x;
			}
		free(T.ptab);
		T.ptab = tab;
		T.pnb = nb;
	}
	h = path_hash(k->path) & (T.pnb - 1);
	k->pnext = T.ptab[h];
	T.ptab[h] = k;
	k->indexed = true;
	T.pcount++;
}

static struct rrd_series *
path_find(const char *path)
{
	struct rrd_series	*k;

	if (T.pnb == 0)
		return NULL;
	for (k = T.ptab[path_hash(path) & (T.pnb - 1)]; k != NULL; k = k->pnext)
		if (strcmp(k->path, path) == 0)
			return k;
	return NULL;
}

/*
 * A file's held samples in one librrd call (RRDW_BATCH at a time): what
 * rrd-write-delay buys, since librrd's cost is mostly per call (open, map,
 * read the header, unmap, close), not per sample.
 */
static void
write_held(struct rrd_series *k)
{
	char		 upd[RRDW_BATCH][64];
	const char	*argv[RRDW_BATCH];
	/* A held file is written once per delay, not per step: a failure
	 * keeps the storage incident (two of these to clear) and the file's
	 * quiet time that long, or it would resolve and reopen every cycle. */
	unsigned	 step = k->hstep_s > T.delay_ms / 1000 ? k->hstep_s :
			    (unsigned)(T.delay_ms / 1000);

	if (k->hn > 0)
		k->last_ms = k->hv[k->hn - 1].when_ms;
	for (size_t off = 0; off < k->hn;) {
		size_t m = k->hn - off < RRDW_BATCH ? k->hn - off : RRDW_BATCH;
		for (size_t i = 0; i < m; i++) {
			const struct held_sample *h = &k->hv[off + i];
			value_fmt(upd[i], sizeof(upd[i]), h->when_ms, !isnan(h->value), h->value);
			argv[i] = upd[i];
		}
		rrd_clear_error();
		errno = 0;
		if (rrd_update_r(k->path, NULL, (int)m, argv) != 0) {
			int err = errno;
			if (err == ENOENT)
				k->exists = false;	/* removed behind our back */
			complain(k, step, "update failed");
			storage_check(k->path, step, err, false);
		} else {
			pthread_mutex_lock(&W.mu);
			W.written += m;
			pthread_mutex_unlock(&W.mu);
		}
		off += m;
	}
	k->hn = 0;
	if (k->hcap > RRDW_HOLD_KEEP) {	/* a burst (a long delay, a short step) */
		free(k->hv);
		k->hv = NULL;
		k->hcap = 0;
	}
}

/*
 * Writes the files whose second of the delay has come since the last
 * call (every slot once with `all`: at stop, or when the delay changes).
 * A file's slot is its hash modulo the delay, so 100,000 files under a
 * 300 s delay make about 333 calls a second, not a burst per interval,
 * and none waits longer than the delay.
 */
static void
wheel_run(bool all)
{
	uint64_t	now_s = mono_ms() / 1000, from, to;

	if (T.nslots == 0)
		return;
	if (all) {
		from = 0;
		to = T.nslots - 1;
	} else {
		from = T.wheel_s + 1;
		to = now_s;
		if (to < from)
			return;
		if (to - from >= T.nslots)
			from = to - T.nslots + 1;
		T.wheel_s = now_s;
	}
	for (uint64_t s = from; s <= to; s++) {
		struct rrd_series *k = T.wheel[s % T.nslots], *next;
		T.wheel[s % T.nslots] = NULL;
		for (; k != NULL; k = next) {
			next = k->wnext;
			k->wnext = NULL;
			k->inwheel = false;
			T.nwheel--;
			if (k->hn > 0)
				write_held(k);
		}
	}
}

/* The wheel for a new delay (without W.mu): what the old one held is written. */
static void
wheel_setup(uint64_t delay_ms)
{
	wheel_run(true);
	free(T.wheel);
	T.wheel = NULL;
	T.delay_ms = delay_ms;
	T.nslots = delay_ms == 0 || W.daemon != NULL ? 0 :
	    delay_ms < 1000 ? 1 : (size_t)(delay_ms / 1000);
	if (T.nslots > 0) {
		T.wheel = xcalloc(T.nslots, sizeof(*T.wheel));
		log_info("rrd: each file's updates held up to %zus and written in one "
		    "call (rrd-write-delay)", T.nslots);
	}
	T.wheel_s = mono_ms() / 1000;
}

/*
 * Drops (done, counted, said once per file) an update not after the file's
 * last one, held or passed to librrd: librrd stops at the first time it
 * refuses in a call, so one repeated time (a clock step back) would lose
 * every later sample of the call.  Returns how many of v are kept, in order.
 */
static size_t
drop_stale(struct rrd_series *k, struct rrd_item **v, size_t n)
{
	uint64_t	last = k->hn > 0 ? k->hv[k->hn - 1].when_ms : k->last_ms;
	size_t		m = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i]->when_ms > last) {
			last = v[i]->when_ms;
			v[m++] = v[i];
			continue;
		}
		v[i]->done = true;
		if (k->ndup++ == 0)
			log_debug("rrd: %s: an update at %llu ms is not after the file's last "
			    "(%llu ms): dropped, and later ones counted only", k->path,
			    (unsigned long long)v[i]->when_ms, (unsigned long long)last);
	}
	return m;
}

/* n updates of one file held for its slot (rrd-write-delay). */
static void
hold_file(struct rrd_series *k, struct rrd_item **v, size_t n)
{
	if (file_ready(k, v, n, false) == 0 || (n = drop_stale(k, v, n)) == 0)
		return;
	if (!k->indexed)
		path_index(k);
	if (k->hn + n > k->hcap) {
		size_t cap = k->hcap ? k->hcap : T.delay_ms / 1000 / v[0]->step_s + 2;
		while (cap < k->hn + n)
			cap *= 2;
		k->hv = xreallocarray(k->hv, cap, sizeof(*k->hv));
		k->hcap = (uint32_t)cap;
	}
	for (size_t i = 0; i < n; i++) {
		k->hv[k->hn].when_ms = v[i]->when_ms;
		k->hv[k->hn++].value = v[i]->ok ? v[i]->value : NAN;
		v[i]->done = true;
	}
	k->hstep_s = v[n - 1]->step_s;
	if (!k->inwheel) {
		size_t slot = (k->hash ^ (k->hash >> 16)) % T.nslots;
		k->wnext = T.wheel[slot];
		T.wheel[slot] = k;
		k->inwheel = true;
		T.nwheel++;
	}
}

/* The readers' requests: their files' held samples written now. */
static void
flush_serve(struct flush_req *fq)
{
	for (struct flush_req *r = fq; r != NULL; r = r->next)
		for (size_t i = 0; i < r->n; i++) {
			struct rrd_series *k = path_find(r->paths[i]);
			if (k != NULL && k->hn > 0)
				write_held(k);
		}
}

/*
 * n updates of one file (time order): created first if need be, then into
 * the rrdcached batch, or written in one librrd call.  Returns -1 only when
 * rrdcached is unreachable: the items must wait.
 */
static int
write_file(struct rrd_series *k, struct rrd_item **v, size_t n, bool cached)
{
	char		 upd[RRDW_BATCH][64];
	const char	*argv[RRDW_BATCH];
	int		 rc;

	if (T.nslots > 0 && !cached) {
		hold_file(k, v, n);
		return 0;
	}
	if ((rc = file_ready(k, v, n, cached)) != 1)
		return rc;
	if (!cached && (n = drop_stale(k, v, n)) == 0)
		return 0;
	if (cached && daemon_unix_path() != NULL) {
		batch_add(k, v, n);
		if (T.ncmd >= BATCH_CMDS || T.outlen >= (1u << 20))
			return batch_send();
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		sample_fmt(upd[i], sizeof(upd[i]), v[i]);
		argv[i] = upd[i];
	}
	rrd_clear_error();
	errno = 0;
	if (!cached)
		k->last_ms = v[n - 1]->when_ms;
	rc = cached ? rrdc_update(k->path, (int)n, argv) :
	    rrd_update_r(k->path, NULL, (int)n, argv);
	if (rc != 0) {
		int err = errno;
		if (cached && !rrdc_is_connected(W.daemon))
			return -1;
		if (err == ENOENT)
			k->exists = false;	/* removed behind our back: create again */
		complain(k, v[0]->step_s, "update failed");
		storage_check(k->path, v[0]->step_s, err, false);
	} else {
		pthread_mutex_lock(&W.mu);
		W.written += n;
		pthread_mutex_unlock(&W.mu);
	}
	for (size_t i = 0; i < n; i++)
		v[i]->done = true;
	return 0;
}

/*
 * Writes what the worker holds, file by file (a file's items in queue
 * order, which is time order), without sorting: each file's items are
 * chained through T.next in one pass.  What rrdcached could not take stays
 * held, in order.  Returns false when rrdcached is unreachable.
 */
static bool
write_round(bool direct)
{
	size_t		 n = T.held.n, kept = 0, done;
	bool		 cached = W.daemon != NULL && !direct, ok = true;
	struct rrd_item	*v[RRDW_BATCH];

	if (cached && !daemon_up())
		return false;
	if (n > T.nextcap) {
		T.nextcap = n;
		T.next = xreallocarray(T.next, n, sizeof(*T.next));
	}
	T.gen++;
	T.ntouched = 0;
	for (size_t i = 0; i < n; i++) {
		struct rrd_series *k = T.held.v[i].k;
		if (k->gen != T.gen) {
			k->gen = T.gen;
			k->first = i;
			if (T.ntouched == T.touchedcap) {
				T.touchedcap = T.touchedcap ? T.touchedcap * 2 : 1024;
				T.touched = xreallocarray(T.touched, T.touchedcap, sizeof(*T.touched));
			}
			T.touched[T.ntouched++] = k;
		} else
			T.next[k->last] = i;
		k->last = i;
		T.next[i] = SIZE_MAX;
	}
	batch_reset();
	for (size_t t = 0; t < T.ntouched && ok; t++) {
		struct rrd_series *k = T.touched[t];
		for (size_t i = k->first; i != SIZE_MAX && ok;) {
			size_t m = 0;
			for (; i != SIZE_MAX && m < RRDW_BATCH; i = T.next[i])
				v[m++] = &T.held.v[i];
			ok = write_file(k, v, m, cached) == 0;
		}
	}
	if (ok && cached)
		ok = batch_send() == 0;
	else
		batch_reset();
	for (size_t i = 0; i < n; i++)
		if (!T.held.v[i].done)
			T.held.v[kept++] = T.held.v[i];
	T.held.n = kept;
	done = n - kept;
	pthread_mutex_lock(&W.mu);
	W.len -= done;
	if (W.len == 0)
		W.drop_logged = false;
	pthread_mutex_unlock(&W.mu);
	return ok;
}

/* The monotonic time `until` as the realtime deadline a condvar takes. */
static struct timespec
deadline(uint64_t until)
{
	struct timespec	ts;
	uint64_t	now = mono_ms(), ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_nsec + (until > now ? until - now : 0) * 1000000;
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return ts;
}

/* Under W.mu: sleeps until the monotonic time `until` (true), or the stop
 * or a reader's flush request (false). */
static bool
sleep_until(uint64_t until)
{
	struct timespec	ts;

	if (mono_ms() >= until)
		return true;
	ts = deadline(until);
	while (!W.stop && W.flushq == NULL)
		if (pthread_cond_timedwait(&W.cv, &W.mu, &ts) == ETIMEDOUT)
			return true;
	return false;
}

/* Under W.mu: the requests served; their callers may return. */
static void
flush_done(struct flush_req *fq)
{
	struct flush_req	*next;

	if (fq == NULL)
		return;
	for (; fq != NULL; fq = next) {
		next = fq->next;	/* fq is gone once done and W.mu is free */
		fq->done = true;
	}
	pthread_cond_broadcast(&W.fcv);
}

static void *
rrdw_main(void *arg)
{
	bool		 ok = true, stop;
	uint64_t	 last = 0, delay;
	int		 nice;
	struct flush_req *fq;

	(void)arg;
	/* Below the loop thread: on a busy machine the loop's timers come
	 * first, the RRD files can wait a little (nice is per thread). */
	errno = 0;
	nice = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0)
		setpriority(PRIO_PROCESS, (id_t)gettid(), nice + 5 > 19 ? 19 : nice + 5);
	pthread_mutex_lock(&W.mu);
	for (;;) {
		if (ok) {
			W.idle = true;
			while (W.q.n == 0 && !W.stop && W.flushq == NULL) {
				if (T.nwheel == 0)
					pthread_cond_wait(&W.cv, &W.mu);
				else if (sleep_until((mono_ms() / 1000 + 1) * 1000))
					break;	/* files held: the next second's slot */
			}
			W.idle = false;
			/* At most a round per RRDW_ROUND_MS: what comes in
			 * meanwhile joins it (no wake-up: not idle), so a steady
			 * stream costs a few rounds a second, not one a pass. */
			sleep_until(last + RRDW_ROUND_MS);
		} else
			/* rrdcached is down: try again in a second, whatever
			 * arrives meanwhile; at stop the items held are written
			 * directly (rrdw_stop). */
			sleep_until(mono_ms() + 1000);
		last = mono_ms();
		stop = W.stop;
		if (!ok && stop)
			break;
		if (W.q.n > 0)
			items_move(&T.held, &W.q);
		/* these requests' samples (handed over before them) are in the
		 * round; later ones wait for the next */
		W.roundq = W.flushq;
		W.flushq = NULL;
		delay = W.delay_ms;
		pthread_mutex_unlock(&W.mu);
		if (delay != T.delay_ms)
			wheel_setup(delay);
		ok = T.held.n == 0 || write_round(false);
		wheel_run(stop);
		/* The readers' requests are taken only now, after the round (which
		 * can take minutes: files made at start), so a reader whose
		 * request is taken waits for a few files' writes, no more, and one
		 * not taken in time can give up (rrdw_flush). */
		pthread_mutex_lock(&W.mu);
		fq = W.roundq;
		W.roundq = NULL;
		for (struct flush_req *r = fq; r != NULL; r = r->next)
			r->taken = true;
		pthread_mutex_unlock(&W.mu);
		flush_serve(fq);
		fail_summary(false);
		pthread_mutex_lock(&W.mu);
		flush_done(fq);
		if (stop && (!ok || W.q.n == 0))
			break;
	}
	flush_done(W.flushq);
	W.flushq = NULL;
	pthread_mutex_unlock(&W.mu);
	return NULL;
}

void
rrdw_set_delay(uint64_t delay_ms)
{
	pthread_mutex_lock(&W.mu);
	W.delay_ms = delay_ms;
	pthread_mutex_unlock(&W.mu);
}

/* Under W.mu: r taken off the list at *head, if it is there. */
static bool
req_unlink(struct flush_req **head, struct flush_req *r)
{
	for (struct flush_req **pp = head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return true;
		}
	return false;
}

/*
 * Off the loop (graphs, forecasts): the writer writes what it holds for
 * these files now, and this waits for it, so a reader sees every sample
 * handed over before the call despite rrd-write-delay.  The writer turns
 * to the request after its current round; if it has not within
 * RRDW_FLUSH_WAIT_MS (a long round: files made at start, a hung disk), the
 * request is withdrawn and the reader reads what is on disk.  Once taken,
 * the reader waits for it to be served: a few files' writes.
 */
void
rrdw_flush(const char *const *paths, size_t n)
{
	struct flush_req	r = { .paths = paths, .n = n };
	struct timespec		ts;

	pthread_mutex_lock(&W.mu);
	if (!W.started || W.delay_ms == 0 || W.daemon != NULL || n == 0) {
		pthread_mutex_unlock(&W.mu);
		return;
	}
	r.next = W.flushq;
	W.flushq = &r;
	pthread_cond_signal(&W.cv);
	ts = deadline(mono_ms() + W.flush_wait_ms);
	while (!r.done) {
		if (r.taken) {
			pthread_cond_wait(&W.fcv, &W.mu);
			continue;
		}
		if (pthread_cond_timedwait(&W.fcv, &W.mu, &ts) != ETIMEDOUT || r.taken || r.done)
			continue;
		if (!req_unlink(&W.flushq, &r))
			req_unlink(&W.roundq, &r);
		log_warnx("rrd: %s%s: the writer did not turn to it in %.1fs (a long round); "
		    "reading what is on disk", paths[0], n > 1 ? " and others" : "",
		    (double)W.flush_wait_ms / 1000);
		break;
	}
	pthread_mutex_unlock(&W.mu);
}

/* Tests: how long rrdw_flush waits for the writer to turn to a request. */
void
rrdw_flush_wait(uint64_t ms)
{
	pthread_mutex_lock(&W.mu);
	W.flush_wait_ms = ms;
	pthread_mutex_unlock(&W.mu);
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
	W.len = 0;
	if (mkdir(W.dir, 0755) == -1 && errno != EEXIST)
		log_warn("rrd: cannot create %s", W.dir);
	T.cdir = realpath(W.dir, NULL);
	/* The loop, when there is one, hands updates over once per pass. */
	if (itsmd_base != NULL)
		L.flush = event_new(itsmd_base, -1, 0, flush_pass, NULL);
	if (pthread_create(&W.thread, NULL, rrdw_main, NULL) != 0) {
		log_warnx("rrd: cannot start the writer thread");
		return -1;
	}
	W.started = true;
	W.gen++;
	return 0;
}

void
rrdw_stop(void)
{
	if (!W.started)
		return;
	hand_over();			/* the last pass's updates */
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.thread, NULL);
	W.started = false;
	W.gen++;		/* the handles freed below are stale, start or not */
	if (W.watch != NULL)
		event_free(W.watch);
	W.watch = NULL;
	if (L.flush != NULL)
		event_free(L.flush);
	L.flush = NULL;
	L.pending = false;
	/*
	 * Whatever rrdcached could not take is written straight to the files,
	 * so a stop loses no accepted sample.  (rrdcached replays its journal
	 * when it returns; an update older than the file's is then refused by
	 * librrd, never written twice.)
	 */
	items_move(&T.held, &W.q);
	if (T.held.n > 0) {
		log_warnx("rrd: rrdcached %s unreachable at stop: writing %zu updates "
		    "directly", W.daemon, T.held.n);
		write_round(true);
		if (T.held.n > 0)
			log_warnx("rrd: %zu updates not written", T.held.n);
	}
	wheel_run(true);		/* rrd-write-delay: nothing held is lost */
	fail_summary(true);
	W.len = 0;
	if (W.dropped)
		log_warnx("rrd: %llu updates were dropped while the queue was full",
		    (unsigned long long)W.dropped);
	if (W.daemon)
		rrdc_disconnect();
	csock_close();
	for (size_t i = 0; i < L.nbuckets; i++)
		while (L.tab[i] != NULL) {
			struct rrd_series *k = L.tab[i];
			L.tab[i] = k->hnext;
			free(k->key);
			free(k->path);
			free(k->cpath);
			free(k->hv);
			free(k);
		}
	free(L.tab);
	L.tab = NULL;
	L.nbuckets = L.count = 0;
	free(L.buf.v);
	free(W.q.v);
	free(T.held.v);
	free(T.next);
	free(T.touched);
	free(T.out);
	free(T.cmd);
	free(T.cmditems);
	free(T.cmdfirst);
	free(T.cdir);
	free(T.wheel);
	free(T.ptab);
	memset(&L.buf, 0, sizeof(L.buf));
	memset(&W.q, 0, sizeof(W.q));
	memset(&T, 0, sizeof(T));
	T.sock = -1;
	free(W.dir);
	free(W.daemon);
	W.dir = W.daemon = NULL;
}
