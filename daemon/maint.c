/*
 * maint.c: maintenance windows from the conf.  A window covers checks by
 * host and probe name globs and host tags, one-time or every week on some
 * days, in a named time zone read from the system's TZif files (no TZ
 * environment games: the RRD thread reads the environment concurrently).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

/* A zone as transitions: from at[i] on, the offset is off[i] seconds east. */
struct maint_zone {
	int64_t	*at;
	int32_t	*off;
	size_t	 n;
	int32_t	 before;	/* before the first transition */
};

#define TZ_DIR		"/usr/share/zoneinfo"
#define TZ_MAXFILE	(1 << 20)

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/*
 * TZif (RFC 8536): a v1 block of 32-bit times, then in v2+ a second header
 * and 64-bit times.  We read the 64-bit block when it is there.  Times past
 * the last transition keep its offset: Debian's zone files are "fat" (they
 * list transitions to 2037), so the POSIX footer rule is not needed here.
 */
struct maint_zone *
maint_zone_load(const char *name, const char **why)
{
	char		 path[512];
	unsigned char	*buf, *p, *end;
	FILE		*f;
	size_t		 len, cnt[6], tsz = 4, skip;
	struct maint_zone *z;

	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
		z = xcalloc(1, sizeof(*z));
		return z;
	}
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL) {
		*why = "not a zone name (like Europe/Berlin)";
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
	if ((f = fopen(path, "rb")) == NULL) {
		*why = errno == ENOENT ? "no such zone in " TZ_DIR : "cannot read the zone file";
		return NULL;
	}
	buf = xmalloc(TZ_MAXFILE);
	len = fread(buf, 1, TZ_MAXFILE, f);
	fclose(f);
	end = buf + len;
	p = buf;
	for (int pass = 0; pass < 2; pass++) {
		if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
			goto bad;
		for (int i = 0; i < 6; i++)
			cnt[i] = be32(p + 20 + 4 * i);
		/* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
		skip = cnt[3] * tsz + cnt[3] + cnt[4] * 6 + cnt[5] + cnt[2] * (tsz + 4) +
		    cnt[1] + cnt[0];
		if (pass == 0 && p[4] >= '2') {
			if ((size_t)(end - p) < 44 + skip)
				goto bad;
			p += 44 + skip;
			tsz = 8;
			continue;
		}
		break;
	}
	if ((size_t)(end - p) < 44 + cnt[3] * tsz + cnt[3] + cnt[4] * 6 || cnt[4] == 0)
		goto bad;
	{
		const unsigned char *t = p + 44, *ix = t + cnt[3] * tsz, *ti = ix + cnt[3];

		z = xcalloc(1, sizeof(*z));
		z->n = cnt[3];
		z->at = xcalloc(z->n ? z->n : 1, sizeof(*z->at));
		z->off = xcalloc(z->n ? z->n : 1, sizeof(*z->off));
		z->before = (int32_t)be32(ti);
		for (size_t i = 0; i < cnt[4]; i++)	/* the first standard-time type */
			if (ti[6 * i + 4] == 0) {
				z->before = (int32_t)be32(ti + 6 * i);
				break;
			}
		for (size_t i = 0; i < z->n; i++) {
			if (ix[i] >= cnt[4]) {
				maint_zone_free(z);
				goto bad;
			}
			z->at[i] = tsz == 8 ? be64(t + 8 * i) : (int32_t)be32(t + 4 * i);
			z->off[i] = (int32_t)be32(ti + 6 * ix[i]);
		}
	}
	free(buf);
	return z;
 bad:
	free(buf);
	*why = "not a valid TZif zone file";
	return NULL;
}

void
maint_zone_free(struct maint_zone *z)
{
	if (z == NULL)
		return;
	free(z->at);
	free(z->off);
	free(z);
}

int64_t
maint_local(const struct maint_zone *z, int64_t utc)
{
	size_t	lo = 0, hi;

	if (z == NULL || z->n == 0)
		return utc + (z != NULL ? z->before : 0);
	if (utc < z->at[0])
		return utc + z->before;
	hi = z->n;
	while (hi - lo > 1) {		/* the last transition at or before utc */
		size_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= utc)
			lo = mid;
		else
			hi = mid;
	}
	return utc + z->off[lo];
}

static int64_t
floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

bool
maint_time_active(const struct maint_time *t, const struct maint_zone *z, int64_t now)
{
	int64_t	local, day;
	int	wday, min;

	if (t->once)
		return now >= t->start && now < t->end;
	local = maint_local(z, now);
	day = floordiv(local, 86400);
	wday = (int)(((day + 4) % 7 + 7) % 7);	/* 1970-01-01 was a Thursday */
	min = (int)((local - day * 86400) / 60);
	if (t->from_min < t->to_min)
		return (t->days & 1u << wday) && min >= t->from_min && min < t->to_min;
	/* Over midnight: the evening belongs to its day, the morning to the day before. */
	return ((t->days & 1u << wday) && min >= t->from_min) ||
	    ((t->days & 1u << ((wday + 6) % 7)) && min < t->to_min);
}

static bool
glob_any(char *const *pat, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(pat[i], s, 0) == 0)
			return true;
	return false;
}

bool
maint_covers(const struct maint_window *w, const struct host *h, const char *probe)
{
	bool	tag = w->ntags == 0;

	if (w->nhosts > 0 && !glob_any(w->hosts, w->nhosts, h->name))
		return false;
	if (w->nprobes > 0 && !glob_any(w->probes, w->nprobes, probe))
		return false;
	for (size_t i = 0; !tag && i < h->ntags; i++)
		tag = glob_any(w->tags, w->ntags, h->tags[i]);
	return tag;
}

const struct maint_window *
maint_find(const struct maint_window *w, size_t n, const struct host *h, const char *probe,
    int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		if (!maint_covers(&w[i], h, probe))
			continue;
		for (size_t j = 0; j < w[i].ntimes; j++)
			if (maint_time_active(&w[i].times[j], w[i].zone, now))
				return &w[i];
	}
	return NULL;
}

/* --------------------------------------------------------- conf values */

static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int
day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* "day" (every day), or a comma list of days and ranges: "mon-fri,sun". */
int
maint_parse_days(const char *s, unsigned *days, const char **why)
{
	*days = 0;
	if (strcmp(s, "day") == 0) {
		*days = 0x7f;
		return 0;
	}
	while (*s != '\0') {
		size_t	len = strcspn(s, ",");
		int	a = day_index(s, len < 3 ? len : 3), b = a;

		if (len == 7 && s[3] == '-')
			b = day_index(s + 4, 3);
		else if (len != 3)
			a = -1;
		if (a < 0 || b < 0) {
			*why = "days are sun mon tue wed thu fri sat, lists (mon,wed), "
			    "ranges (mon-fri) or 'day'";
			return -1;
		}
		for (int d = a;; d = (d + 1) % 7) {
			*days |= 1u << d;
			if (d == b)
				break;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

static int
hhmm(const char *s, int *min)
{
	int	h, m, n = 0;

	if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || h < 0 || h > 24 ||
	    m < 0 || m > 59 || (h == 24 && m != 0))
		return -1;
	*min = h * 60 + m;
	return 0;
}

/* "02:00-04:00"; an end at or before the start runs over midnight. */
int
maint_parse_span(const char *s, int *from, int *to, const char **why)
{
	if (strlen(s) != 11 || s[5] != '-' || hhmm(s, from) == -1 ||
	    hhmm(s + 6, to) == -1 || *from == 1440) {
		*why = "use HH:MM-HH:MM (24-hour clock, 24:00 allowed as an end)";
		return -1;
	}
	if (*from == *to) {
		*why = "the window is empty (start equals end)";
		return -1;
	}
	return 0;
}

/* Local time in the zone to UTC: the offset is looked up at the guess twice. */
static int64_t
maint_utc(const struct maint_zone *z, int64_t local)
{
	int64_t	guess = local - (maint_local(z, local) - local);

	return local - (maint_local(z, guess) - guess);
}

static int64_t
days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t	era = (y >= 0 ? y : y - 399) / 400;
	int64_t	yoe = y - era * 400;
	int64_t	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM[:SS]" in the window's zone, or "@EPOCH". */
int
maint_parse_when(const char *s, const struct maint_zone *z, int64_t *out, const char **why)
{
	int	y, mo, d, h, mi, sec = 0, n = 0;
	char	*end;

	if (s[0] == '@') {
		errno = 0;
		long long v = strtoll(s + 1, &end, 10);
		if (errno != 0 || end == s + 1 || *end != '\0')
			goto bad;
		*out = v;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d %2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5)
		goto bad;
	if (s[n] == ':') {
		int	k = 0;

		if (sscanf(s + n, ":%2d%n", &sec, &k) != 1)
			goto bad;
		n += k;
	}
	if (s[n] != '\0')
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		goto bad;
	*out = maint_utc(z, days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
	return 0;
 bad:
	*why = "use \"YYYY-MM-DD HH:MM[:SS]\" (in the window's zone) or @EPOCH";
	return -1;
}
