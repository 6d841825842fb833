/*
 * test_rrd_delay.c: rrd-write-delay in the writer thread.  A file's updates
 * are held and written in one call when its second of the delay comes round,
 * at once when a reader asks (rrdw_flush, graph_render), and all of them at
 * rrdw_stop: every sample stored once, none lost, none written twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <rrd.h>

#include "itsmd.h"
#include "unit.h"

/*
 * Under ASan (make test-asan): librrd 1.7.2's graph code leaks a few strings
 * per graph and fontconfig keeps its caches until exit; neither is ours
 * (tests/integration/graph.lsan says the same for the daemon).
 */
const char	*__lsan_default_suppressions(void);
const char	*__asan_default_options(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:librrd.so\nleak:libfontconfig.so\n";
}

/* librrd's strings come from glibc's vasprintf, which the fast unwinder
 * cannot walk out of: without this the stack stops before librrd */
const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

#define STEP	60

/* The file's last update, or -1. */
static time_t
last_update(const char *path)
{
	time_t		 t;
	unsigned long	 n;
	char		**names, **vals;

	if (rrd_lastupdate_r(path, &t, &n, &names, &vals) != 0) {
		rrd_clear_error();
		return -1;
	}
	for (unsigned long i = 0; i < n; i++) {
		free(names[i]);
		free(vals[i]);
	}
	free(names);
	free(vals);
	return t;
}

/* The full-resolution average of the step ending at t, NAN when unknown. */
static double
value_at(const char *path, time_t t)
{
	time_t		 start = t - 2 * STEP, end = t + STEP;
	unsigned long	 step = STEP, nds;	/* in: the resolution wanted */
	char		**names;
	rrd_value_t	*data;
	double		 v = NAN;

	if (rrd_fetch_r(path, "AVERAGE", &start, &end, &step, &nds, &names, &data) != 0) {
		rrd_clear_error();
		return NAN;
	}
	/* row k holds the step ending at start + (k + 1) * step */
	for (time_t k = 0; step == STEP && nds == 1 && start + (k + 1) * STEP <= end; k++)
		if (start + (k + 1) * STEP == t)
			v = data[k];
	for (unsigned long i = 0; i < nds; i++)
		free(names[i]);
	free(names);
	free(data);
	return v;
}

static void
put(const char *metric, time_t t0, int from, int to, double base)
{
	for (int i = from; i <= to; i++)
		rrdw_update("h", "p", NULL, metric, STEP * 1000,
		    (uint64_t)(t0 + (time_t)i * STEP) * 1000, true, base + i);
}

static bool
wait_exists(const char *path, int ms)
{
	struct stat	st;

	for (; ms > 0; ms -= 20) {
		if (stat(path, &st) == 0)
			return true;
		usleep(20000);
	}
	return false;
}

/* A reader thread: rrdw_flush of one file, its own CPU time and return. */
struct reader {
	const char	*path;
	double		 cpu_ms;
	volatile int	 returned;
	pthread_t	 th;
};

static void *
reader_main(void *arg)
{
	struct reader	*r = arg;
	struct timespec	 a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	rrdw_flush(&r->path, 1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	r->cpu_ms = (double)(b.tv_sec - a.tv_sec) * 1000 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	__atomic_store_n(&r->returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Lets the writer, blocked opening the FIFO (its round), go on: true once it
 * was waiting there (a writer-side open succeeds only then). */
static bool
fifo_release(const char *path, int ms)
{
	int	fd;

	for (; ms > 0; ms -= 20) {
		if ((fd = open(path, O_WRONLY | O_NONBLOCK)) != -1) {
			close(fd);
			return true;
		}
		usleep(20000);
	}
	return false;
}

/*
 * A reader's request behind a long round (the writer blocked opening a FIFO
 * where a file should be, as a slow disk or a start making files would):
 * the reader gives up after the wait (here 1 s) and reads what is on disk,
 * without spinning; it used to be taken at the round's start and then spin
 * on an expired deadline until the round ended.  Then a file's repeated
 * time: librrd stops at the first refused sample of a call, so it must not
 * be passed on, or every later one is lost.
 */
static void
reader_cases(const char *dir, time_t t0)
{
	char		*x = rrdw_path(dir, "h", "p", NULL, "x");
	char		*y = rrdw_path(dir, "h", "p", NULL, "y");
	char		*f = rrdw_path(dir, "h", "p", NULL, "m");
	char		*d = rrdw_path(dir, "h", "p", NULL, "d");
	struct reader	 r = { .path = f };
	uint64_t	 t, gave_up_ms;
	bool		 blocked, released, gave_up;
	int		 bad;
	char		*log;

	unit_capture_start();
	rrdw_set_delay(86400 * 1000);
	rrdw_flush_wait(1000);
	if (rrdw_start(dir, NULL) == -1)
		exit(1);
	unlink(x);
	unlink(y);
	if (mkfifo(x, 0600) == -1 || mkfifo(y, 0600) == -1) {
		perror("mkfifo");
		exit(1);
	}
	put("x", t0, 0, 0, 1);			/* round 1 blocks on x */
	usleep(300000);
	put("y", t0, 0, 0, 1);			/* round 2 will block on y */
	pthread_create(&r.th, NULL, reader_main, &r);
	usleep(200000);				/* the request is in before round 2 */
	blocked = fifo_release(x, 5000);	/* round 1 ends, round 2 blocks */
	t = mono_ms();
	while (!__atomic_load_n(&r.returned, __ATOMIC_SEQ_CST) && mono_ms() - t < 3000)
		usleep(20000);
	gave_up = __atomic_load_n(&r.returned, __ATOMIC_SEQ_CST);
	gave_up_ms = mono_ms() - t;
	usleep(100000);
	released = fifo_release(y, 5000);	/* round 2 ends */
	pthread_join(r.th, NULL);
	UNIT_CHECK(blocked && released,
	    "flush: the writer was held in two long rounds (the test's set-up)",
	    "blocked %d, released %d", blocked, released);
	UNIT_CHECK(r.cpu_ms < 300,
	    "flush: a reader waiting behind a long round does not spin",
	    "%.0f ms of CPU in rrdw_flush", r.cpu_ms);
	UNIT_CHECK(gave_up, "flush: a reader not served within the wait returns during the round",
	    "still waiting after %llu ms", (unsigned long long)gave_up_ms);
	unlink(x);
	unlink(y);

	/* One held time twice (a clock step back, a repeated poll), then
	 * later ones: all of those are stored. */
	put("d", t0, 0, 3, 1);
	put("d", t0, 3, 3, 1);
	put("d", t0, 4, 8, 1);
	usleep(300000);
	rrdw_flush((const char *const *)&d, 1);
	UNIT_CHECK(last_update(d) == t0 + 8 * STEP,
	    "hold: a repeated time is dropped, the samples after it are stored",
	    "last %lld, want %lld", (long long)last_update(d), (long long)(t0 + 8 * STEP));
	/* and one already written */
	put("d", t0, 8, 10, 1);
	usleep(300000);
	rrdw_flush((const char *const *)&d, 1);
	UNIT_CHECK(last_update(d) == t0 + 10 * STEP,
	    "hold: a time already written is dropped, the later ones stored",
	    "last %lld, want %lld", (long long)last_update(d), (long long)(t0 + 10 * STEP));
	rrdw_stop();
	log = unit_capture_end();
	UNIT_CHECK(strstr(log, "did not turn to it") != NULL,
	    "flush: a reader that gives up says so", "%s", log);
	UNIT_CHECK(strstr(log, "h/p/d.rrd: update failed") == NULL,
	    "hold: no refused time reaches librrd", "%s", log);
	bad = 0;
	for (int i = 1; i <= 10; i++)
		if (value_at(d, t0 + (time_t)i * STEP) != 1 + i)
			bad++;
	UNIT_CHECK(bad == 0, "hold: every stored sample at its time", "%d of 10 wrong", bad);
	rrdw_flush_wait(10000);
	unlink(d);
	free(x);
	free(y);
	free(f);
	free(d);
}

/*
 * Without the delay: an update whose max is unknown (a link speed not read
 * this time) after one bounded 0..100 leaves the file alone, with no
 * "keeps its layout" line: there is nothing to tune.
 */
static void
bound_cases(const char *dir, time_t t0)
{
	char		*b = rrdw_path(dir, "h", "p", NULL, "b");
	struct rrd_ds	 known = { rrdl_default(), 0, 100 }, unknown = { rrdl_default(), 0, NAN };
	char		*log;

	unit_capture_start();
	log_setlevel(LOG_INFO);
	if (rrdw_start(dir, NULL) == -1)
		exit(1);
	rrdw_update_ds("h", "p", NULL, "b", STEP * 1000, (uint64_t)(t0 + STEP) * 1000, true, 50,
	    &known);
	usleep(400000);
	rrdw_update_ds("h", "p", NULL, "b", STEP * 1000, (uint64_t)(t0 + 2 * STEP) * 1000, true,
	    60, &unknown);
	rrdw_stop();
	log_setlevel(LOG_WARNING);
	log = unit_capture_end();
	UNIT_CHECK(last_update(b) == t0 + 2 * STEP && strstr(log, "keeps its layout") == NULL,
	    "bounds: an unknown new max is no change to check or tune", "last %lld: %s",
	    (long long)last_update(b), log);
	unlink(b);
	free(b);
}

/* The conf key: 0 (the default) or 1s to 1d. */
static void
conf_cases(void)
{
	static const struct {
		const char	*text;
		bool		 ok;
		uint64_t	 ms;
	} cases[] = {
		{ "# nothing\n", true, 0 },
		{ "rrd-write-delay 5m\n", true, 300000 },
		{ "rrd-write-delay 0\n", true, 0 },
		{ "rrd-write-delay 1d\n", true, 86400000 },
		{ "rrd-write-delay 500ms\n", false, 0 },
		{ "rrd-write-delay 2d\n", false, 0 },
		{ "rrd-write-delay soon\n", false, 0 },
	};
	char		*errors, name[96];
	struct config	*cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = unit_conf_load(cases[i].text, &errors);
		snprintf(name, sizeof(name), "conf: %.*s %s", (int)strcspn(cases[i].text, "\n"),
		    cases[i].text, cases[i].ok ? "loads" : "is refused");
		UNIT_CHECK(cases[i].ok ? cfg != NULL && cfg->rrd_write_delay_ms == cases[i].ms :
		    cfg == NULL && strstr(errors, "rrd-write-delay") != NULL, name, "%s", errors);
		if (cfg != NULL)
			conf_free(cfg);
	}
}

int
main(void)
{
	char		 tmpl[] = "/tmp/itsmd-rrddelay.XXXXXX", *dir, *f, *g, *h, *log;
	time_t		 now = time(NULL), t0 = (now / STEP - 60) * STEP, t;
	int		 bad, rc, kind;
	unsigned char	*img;
	size_t		 len;
	char		 why[256];
	uint64_t	 t_start;
	unsigned	 gen;

	log_init("test_rrd_delay", true, LOG_WARNING);
	if ((dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	f = rrdw_path(dir, "h", "p", NULL, "m");
	g = rrdw_path(dir, "h", "p", NULL, "g");
	h = rrdw_path(dir, "h", "p", NULL, "w");
	conf_cases();

	/* A day's delay: no file's slot comes round during the test (a few
	 * seconds of 86,400), so only a reader or the stop writes. */
	unit_capture_start();
	rrdw_set_delay(86400 * 1000);
	if (rrdw_start(dir, NULL) == -1)
		return 1;
	put("m", t0, 0, 10, 1);
	put("g", t0, 0, 10, 100);
	UNIT_CHECK(wait_exists(f, 5000) && wait_exists(g, 5000),
	    "delay: the writer makes a new file at once", "%s", f);
	usleep(300000);		/* a round or so: the samples are taken and held */
	UNIT_CHECK(last_update(f) == t0 - 1 && last_update(g) == t0 - 1,
	    "delay: the updates are held, none written yet", "last %lld, want %lld",
	    (long long)last_update(f), (long long)t0 - 1);
	rrdw_flush((const char *const *)&f, 1);
	UNIT_CHECK(last_update(f) == t0 + 10 * STEP,
	    "delay: rrdw_flush writes the file's held updates before it returns",
	    "last %lld, want %lld", (long long)last_update(f), (long long)(t0 + 10 * STEP));
	UNIT_CHECK(last_update(g) == t0 - 1, "delay: another file's updates stay held",
	    "last %lld", (long long)last_update(g));

	/* A graph in the daemon (api worker thread): graph_render flushes. */
	put("m", t0, 11, 20, 1);
	struct graph_req rq = { .dir = dir, .host = "h", .what = "p/m",
	    .start = t0, .end = t0 + 30 * STEP };
	rc = graph_render(&rq, &img, &len, &kind, why, sizeof(why));
	UNIT_CHECK(rc == 0 && len > 0, "delay: the graph is drawn", "%s", why);
	free(img);
	UNIT_CHECK(last_update(f) == t0 + 20 * STEP,
	    "delay: a graph request sees the updates handed over before it",
	    "last %lld, want %lld", (long long)last_update(f), (long long)(t0 + 20 * STEP));

	/* The stop writes every file's held updates. */
	put("m", t0, 21, 30, 1);
	put("g", t0, 11, 30, 100);
	gen = rrdw_generation();
	rrdw_stop();
	UNIT_CHECK(rrdw_generation() != gen,
	    "stop: series handles kept from before it are stale", "generation %u", gen);
	log = unit_capture_end();
	UNIT_CHECK(last_update(f) == t0 + 30 * STEP && last_update(g) == t0 + 30 * STEP,
	    "delay: rrdw_stop writes every held update", "last %lld and %lld, want %lld",
	    (long long)last_update(f), (long long)last_update(g), (long long)(t0 + 30 * STEP));
	bad = 0;
	for (int i = 1; i <= 30; i++) {
		t = t0 + (time_t)i * STEP;
		if (value_at(f, t) != 1 + i || value_at(g, t) != 100 + i)
			bad++;
	}
	UNIT_CHECK(bad == 0, "delay: every sample is stored, each at its time",
	    "%d of 60 steps wrong", bad);
	UNIT_CHECK(strstr(log, "update failed") == NULL && strstr(log, "not written") == NULL,
	    "delay: no update written twice or lost (librrd refuses a repeated time)",
	    "%s", log);

	/* A short delay: the file's slot comes round within it, unasked. */
	rrdw_set_delay(2000);
	if (rrdw_start(dir, NULL) == -1)
		return 1;
	put("w", t0, 0, 5, 1);
	t_start = mono_ms();
	while (last_update(h) != t0 + 5 * STEP && mono_ms() - t_start < 8000)
		usleep(50000);
	UNIT_CHECK(last_update(h) == t0 + 5 * STEP && mono_ms() - t_start < 2000 + 1500,
	    "delay: a file's updates are written when its slot comes, within the delay",
	    "last %lld after %llu ms", (long long)last_update(h),
	    (unsigned long long)(mono_ms() - t_start));
	rrdw_stop();
	reader_cases(dir, t0);
	rrdw_set_delay(0);
	bound_cases(dir, t0);

	unlink(f);
	unlink(g);
	unlink(h);
	free(f);
	free(g);
	free(h);
	{
		char p1[300];
		snprintf(p1, sizeof(p1), "%s/h/p", dir);
		rmdir(p1);
		snprintf(p1, sizeof(p1), "%s/h", dir);
		rmdir(p1);
		rmdir(dir);
	}
	return UNIT_DONE();
}
