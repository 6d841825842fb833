/*
 * test_incident.c: the pure and file-level pieces of incident management:
 * text made valid UTF-8 for the database, notification kinds, and the
 * spool (real files in a temp dir): round trip in order, truncation once
 * committed, a torn tail cut off, the size bound, and a file that stays
 * small under a steady stream of records taken out of order.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"

static const struct {
	const char	*in;
	const char	*out;
	const char	*name;
} utf8[] = {
	{ "plain ascii", "plain ascii", "ascii kept" },
	{ "it's \"x\"; DROP TABLE t;--\nnext", "it's \"x\"; DROP TABLE t;--\nnext",
	    "quotes, SQL and newline kept" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "valid 2, 3 and 4 byte sequences kept" },
	{ "a\xff" "b", "a\xef\xbf\xbd" "b", "0xff replaced" },
	{ "\xc3\x28", "\xef\xbf\xbd(", "bad continuation: lead byte replaced" },
	{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "overlong 2-byte refused" },
	{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "overlong 3-byte refused" },
	{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate refused" },
	{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "above U+10FFFF refused" },
	{ "end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd", "truncated sequence at the end" },
	{ "", "", "empty" },
};

static const struct {
	const char	*in;
	int		 kind;
} kinds[] = {
	{ "open", NOTIFY_OPEN }, { "escalate", NOTIFY_ESCALATE },
	{ "acknowledge", NOTIFY_ACKNOWLEDGE }, { "ack", NOTIFY_ACKNOWLEDGE },
	{ "resolve", NOTIFY_RESOLVE }, { "opened", -1 }, { "", -1 },
};

/* What the spool handed back on open. */
static struct {
	int	 n;
	char	*rec[8][4];
	int	 np[8];
} got;

static void
collect(uint64_t seq, char **params, int n, void *arg)
{
	(void)seq;
	(void)arg;
	if (got.n >= 8)
		return;
	got.np[got.n] = n;
	for (int i = 0; i < n && i < 4; i++)
		got.rec[got.n][i] = params[i] != NULL ? xstrdup(params[i]) : NULL;
	got.n++;
}

static void
got_reset(void)
{
	for (int r = 0; r < got.n; r++)
		for (int i = 0; i < 4; i++)
			free(got.rec[r][i]);
	memset(&got, 0, sizeof(got));
}

static off_t
fsize(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * A steady stream: record i is taken STREAM_LAG records later if even and
 * twice that if odd (incident.c's batches and avail.c's single statements
 * commit out of order), so something is always in flight and the spool is
 * never empty.  Before records were taken one by one, the file only
 * shrank when it was, and grew to the whole stream (about 4 MB here).
 */
#define STREAM_N	20000
#define STREAM_LAG	50
#define STREAM_MAX	(128 * 1024)

static struct {
	long	 last;		/* key of the last record replayed */
	bool	 ordered;
	bool	 seen[STREAM_N];
	uint64_t seqs[STREAM_N];	/* the seqs the replay gave, to take */
	int	 n;
} st_got;

static void
stream_collect(uint64_t seq, char **params, int n, void *arg)
{
	long	k = n == 2 && params[0] != NULL ? strtol(params[0], NULL, 10) : -1;

	(void)arg;
	if (k < 0 || k >= STREAM_N || k <= st_got.last)
		st_got.ordered = false;
	else
		st_got.seen[k] = true;
	st_got.last = k;
	if (st_got.n < STREAM_N)
		st_got.seqs[st_got.n++] = seq;
}

static void
test_stream(const char *dir, const char *path)
{
	char		 key[16], pad[200];
	const char	*rec[2] = { key, pad };
	uint64_t	 seqs[STREAM_N];
	off_t		 max = 0, sz;
	int		 lost = 0;

	memset(&st_got, 0, sizeof(st_got));
	st_got.last = -1;
	st_got.ordered = true;
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	spool_open(dir, 64 << 20, stream_collect, NULL);
	for (int i = 0; i < STREAM_N; i++) {
		snprintf(key, sizeof(key), "%d", i);
		seqs[i] = spool_append(rec, 2);
		if (i >= STREAM_LAG && (i - STREAM_LAG) % 2 == 0)
			spool_committed(seqs[i - STREAM_LAG]);
		if (i >= 2 * STREAM_LAG && (i - 2 * STREAM_LAG) % 2 == 1)
			spool_committed(seqs[i - 2 * STREAM_LAG]);
		if ((sz = fsize(path)) > max)
			max = sz;
	}
	spool_close();
	if ((sz = fsize(path)) > max)
		max = sz;
	UNIT_CHECK(max > 0 && max <= STREAM_MAX, "spool: under a steady stream taken out of "
	    "order the file stays about what is in flight", "largest %lld bytes, bound %d",
	    (long long)max, STREAM_MAX);

	/* after the stream: each record not taken must still come back, in order */
	UNIT_CHECK(st_got.n == 0, "spool: the stream starts from an empty file", "%d replayed",
	    st_got.n);
	memset(&st_got, 0, sizeof(st_got));
	st_got.last = -1;
	st_got.ordered = true;
	spool_open(dir, 64 << 20, stream_collect, NULL);
	for (int i = 0; i < STREAM_N; i++) {
		bool taken = (i % 2 == 0 && i + STREAM_LAG < STREAM_N) ||
		    (i % 2 == 1 && i + 2 * STREAM_LAG < STREAM_N);

		if (!taken && !st_got.seen[i])
			lost++;
	}
	UNIT_CHECK(lost == 0 && st_got.ordered, "spool: the cuts keep every record not "
	    "taken, in order", "%d lost, ordered %d", lost, st_got.ordered);
	for (int i = 0; i < st_got.n; i++)
		spool_committed(st_got.seqs[i]);
	spool_close();
	UNIT_CHECK(fsize(path) == 0, "spool: truncated once the stream is all taken",
	    "size %lld", (long long)fsize(path));
}

/*
 * A replay that skips malformed records (as incident_replay does: taken at
 * once, they never will be) and keeps the seqs of the good ones.
 */
static struct {
	int		 n, good;
	uint64_t	 seqs[8];
	char		 keys[8];	/* each record's first byte */
} sk;

static void
skip_bad(uint64_t seq, char **params, int n, void *arg)
{
	(void)arg;
	if (sk.n < 8)
		sk.keys[sk.n] = n > 0 && params[0] != NULL ? params[0][0] : '?';
	sk.n++;
	if (n != 3) {
		spool_committed(seq);
		return;
	}
	if (sk.good < 8)
		sk.seqs[sk.good] = seq;
	sk.good++;
}

/*
 * A malformed record at the start, skipped (taken) during the replay,
 * must not truncate the file while the good ones after it are still in
 * flight.
 */
static void
test_skip(const char *dir, const char *path)
{
	const char	*bad[1] = { "bad" };
	const char	*good[3] = { "good", "x", "y" };

	spool_open(dir, 1 << 20, skip_bad, NULL);
	spool_append(bad, 1);
	for (int i = 0; i < 5; i++)
		spool_append(good, 3);
	spool_close();
	memset(&sk, 0, sizeof(sk));
	spool_open(dir, 1 << 20, skip_bad, NULL);
	spool_close();
	UNIT_CHECK(sk.n == 6 && sk.good == 5, "spool: a malformed record and the good ones "
	    "after it are replayed", "%d replayed, %d good", sk.n, sk.good);
	memset(&sk, 0, sizeof(sk));
	spool_open(dir, 1 << 20, skip_bad, NULL);
	UNIT_CHECK(sk.good == 5, "spool: skipping a malformed record at the start does not "
	    "truncate the good ones still in flight", "%d good replayed", sk.good);
	for (int i = 0; i < sk.good && i < 8; i++)
		spool_committed(sk.seqs[i]);
	spool_close();
	UNIT_CHECK(fsize(path) == 0, "spool: truncated once the good ones are taken",
	    "size %lld", (long long)fsize(path));
}

/*
 * An append that fails (RLIMIT_FSIZE: EFBIG after a partial write) leaves
 * the loop's byte counts ahead of the file; a cut of the first two records
 * must not then fall inside (or past) the third.
 */
static void
test_failed_write(const char *dir, const char *path)
{
	static char	 a[70000], b[20000], c[20000];
	const char	*ra[3] = { a, "", "" }, *rb[3] = { b, "", "" }, *rc[3] = { c, "", "" };
	struct rlimit	 old, low;
	uint64_t	 sa, sb;

	memset(a, 'a', sizeof(a) - 1);
	memset(b, 'b', sizeof(b) - 1);
	memset(c, 'c', sizeof(c) - 1);
	signal(SIGXFSZ, SIG_IGN);	/* EFBIG instead of the signal */
	if (getrlimit(RLIMIT_FSIZE, &old) == -1) {
		perror("getrlimit");
		return;
	}
	low = old;
	low.rlim_cur = 60000;		/* b and c fit, a does not */
	spool_open(dir, 1 << 20, skip_bad, NULL);
	if (setrlimit(RLIMIT_FSIZE, &low) == -1)
		perror("setrlimit");
	sa = spool_append(ra, 3);
	sb = spool_append(rb, 3);
	spool_append(rc, 3);
	spool_committed(sa);
	spool_committed(sb);		/* a and b taken: 90 KB to cut, c in flight */
	spool_close();
	if (setrlimit(RLIMIT_FSIZE, &old) == -1)
		perror("setrlimit");
	memset(&sk, 0, sizeof(sk));
	spool_open(dir, 1 << 20, skip_bad, NULL);
	UNIT_CHECK(sk.n == 2 && sk.keys[0] == 'b' && sk.keys[1] == 'c', "spool: after a "
	    "failed write no cut falls inside a record (the one in flight is replayed)",
	    "%d replayed, first keys %.2s", sk.n, sk.keys);
	for (int i = 0; i < sk.good && i < 8; i++)
		spool_committed(sk.seqs[i]);
	spool_close();
	UNIT_CHECK(fsize(path) == 0, "spool: truncated after the failed write once all is "
	    "taken", "size %lld", (long long)fsize(path));
}

/*
 * A small spool-max-size still gets cuts: with two records always in
 * flight the file never empties, and a fixed 64 KiB threshold would let
 * it fill and refuse appends.
 */
static void
test_small_max(const char *dir, const char *path)
{
	char		 big[1000];
	const char	*r[3] = { big, "", "" };
	uint64_t	 seqs[40];
	int		 refused = 0;
	char		*tmp = xasprintf("%s.new", path);
	int		 fd;

	/* a crash during a cut leaves its copy: it is removed at open */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1)
		close(fd);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	spool_open(dir, 8192, skip_bad, NULL);
	UNIT_CHECK(access(tmp, F_OK) == -1, "spool: a cut's leftover copy is removed at open",
	    "%s still there", tmp);
	for (int i = 0; i < 40; i++) {
		if ((seqs[i] = spool_append(r, 3)) == 0)
			refused++;
		if (i >= 2)
			spool_committed(seqs[i - 2]);
	}
	spool_committed(seqs[38]);
	spool_committed(seqs[39]);
	spool_close();
	UNIT_CHECK(refused == 0, "spool: a small spool-max-size is cut, not filled, under a "
	    "steady stream", "%d of 40 refused", refused);
	UNIT_CHECK(fsize(path) == 0, "spool: truncated after the small stream", "size %lld",
	    (long long)fsize(path));
	free(tmp);
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
main(void)
{
	char		 dir[] = "/tmp/itsmd-unit-spool.XXXXXX", *path;
	const char	*r1[3] = { "k1", NULL, "bin\n\"'\xff" };
	const char	*r2[3] = { "k2", "", "two" };
	const char	*r3[3] = { "k3", "x", NULL };
	uint64_t	 s1, s2, s3;
	int		 fd;

	log_init("test_incident", true, 3);
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		char *o = incident_text_clean(utf8[i].in);
		UNIT_CHECK(strcmp(o, utf8[i].out) == 0, utf8[i].name, "got '%s'", o);
		free(o);
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		UNIT_CHECK(notify_kind_parse(kinds[i].in) == kinds[i].kind, kinds[i].in,
		    "got %d", notify_kind_parse(kinds[i].in));

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	path = xasprintf("%s/incidents.spool", dir);

	UNIT_CHECK(spool_open(dir, 1 << 20, collect, NULL) == 0 && got.n == 0,
	    "spool: a new spool replays nothing", "n %d", got.n);
	s1 = spool_append(r1, 3);
	s2 = spool_append(r2, 3);
	s3 = spool_append(r3, 3);
	UNIT_CHECK(s1 == 1 && s2 == 2 && s3 == 3, "spool: appends are numbered in order",
	    "%llu %llu %llu", (unsigned long long)s1, (unsigned long long)s2,
	    (unsigned long long)s3);
	spool_close();
	UNIT_CHECK(fsize(path) > 0, "spool: records reach the file", "size %lld",
	    (long long)fsize(path));

	/* a crash mid-write: half a record at the end */
	if ((fd = open(path, O_WRONLY | O_APPEND)) != -1) {
		if (write(fd, "\x49\x53\x50\x31\x40\x00\x00\x00junk", 12) != 12)
			perror("write");
		close(fd);
	}
	spool_open(dir, 1 << 20, collect, NULL);
	UNIT_CHECK(got.n == 3, "spool: the records come back after a restart", "n %d", got.n);
	UNIT_CHECK(got.n == 3 && got.np[0] == 3 && same(got.rec[0][0], "k1") &&
	    got.rec[0][1] == NULL && same(got.rec[0][2], r1[2]),
	    "spool: NULL and arbitrary bytes survive", "first record differs");
	UNIT_CHECK(got.n == 3 && same(got.rec[1][0], "k2") && same(got.rec[1][1], "") &&
	    same(got.rec[2][0], "k3") && got.rec[2][2] == NULL,
	    "spool: replayed in the order appended", "order differs");
	s1 = spool_append(r1, 3);
	UNIT_CHECK(s1 == 4, "spool: numbering goes on after the replayed records", "seq %llu",
	    (unsigned long long)s1);
	spool_committed(3);		/* not the last one: nothing may go */
	spool_close();
	got_reset();
	spool_open(dir, 1 << 20, collect, NULL);
	UNIT_CHECK(got.n == 4, "spool: a torn tail is cut, a partial commit truncates nothing",
	    "n %d", got.n);
	spool_committed(4);
	spool_committed(2);
	spool_committed(1);		/* 3 still in flight: the file stays */
	spool_close();
	got_reset();
	spool_open(dir, 1 << 20, collect, NULL);
	UNIT_CHECK(got.n == 4, "spool: records taken out of order stay while an earlier one "
	    "is in flight", "n %d", got.n);
	spool_committed(4);
	spool_committed(2);
	spool_committed(1);
	spool_committed(3);
	spool_close();
	UNIT_CHECK(fsize(path) == 0, "spool: truncated once everything is committed",
	    "size %lld", (long long)fsize(path));

	test_skip(dir, path);
	test_failed_write(dir, path);
	test_small_max(dir, path);

	got_reset();
	test_stream(dir, path);

	got_reset();
	spool_open(dir, 4096, collect, NULL);
	{
		char		 big[1500];
		const char	*rb[1] = { big };
		int		 n = 0;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		while (n < 10 && spool_append(rb, 1) != 0)
			n++;
		UNIT_CHECK(n == 2, "spool: spool-max-size stops appending", "took %d", n);
	}
	spool_close();
	UNIT_CHECK(fsize(path) <= 4096, "spool: the file stays within its bound", "size %lld",
	    (long long)fsize(path));

	got_reset();
	unlink(path);
	rmdir(dir);
	free(path);
	return UNIT_DONE();
}
