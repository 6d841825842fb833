/*
 * graph.c: PNG and SVG graphs of RRD files through librrd's rrd_graph_v,
 * whose image comes back in memory.  Shared by the daemon's api worker
 * thread and itsmctl; nothing here may run on the event loop.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rrd.h>

#include "itsmd.h"

#define GRAPH_MAX_ARGS	96
#define PANEL_MAX	12

struct args {
	char	*v[GRAPH_MAX_ARGS];
	int	 n;
};

static void
arg(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
arg(struct args *a, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if (a->n >= GRAPH_MAX_ARGS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	a->v[a->n++] = s;
}

static void
args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* rrd_graph splits DEF on ':'; a path holding one must escape it. */
static char *
def_path(const char *path)
{
	char	*out = xmalloc(strlen(path) * 2 + 1), *o = out;

	for (; *path; path++) {
		if (*path == ':' || *path == '\\')
			*o++ = '\\';
		*o++ = *path;
	}
	*o = '\0';
	return out;
}

static bool
is_file(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Names come from a URL: only what itsmd itself writes, no way out of DIR. */
static bool
safe_what(const char *s)
{
	const char	*seg = s;

	for (const char *p = s;; p++) {
		if (*p == '/' || *p == '\0') {
			if (p == seg || *seg == '.')
				return false;
			if (*p == '\0')
				return true;
			seg = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .rrd files in DIR/HOST down to two directory levels, sorted. */
static size_t
host_files(const char *hostdir, const char *sub, int depth, char ***v, size_t n)
{
	char		*dpath = sub[0] ? xasprintf("%s/%s", hostdir, sub) : xstrdup(hostdir);
	DIR		*d = opendir(dpath);
	struct dirent	*de;

	if (d == NULL) {
		free(dpath);
		return n;
	}
	while ((de = readdir(d)) != NULL) {
		size_t	 len = strlen(de->d_name);
		char	*rel;

		if (de->d_name[0] == '.')
			continue;
		rel = sub[0] ? xasprintf("%s/%s", sub, de->d_name) : xstrdup(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".rrd") == 0) {
			rel[strlen(rel) - 4] = '\0';
			*v = xreallocarray(*v, n + 1, sizeof(**v));
			(*v)[n++] = rel;
			continue;
		}
		if (depth > 0)
			n = host_files(hostdir, rel, depth - 1, v, n);
		free(rel);
	}
	closedir(d);
	free(dpath);
	return n;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * "NAME": DIR/HOST/NAME/value.rrd, the one file of probe NAME, or the one
 * metric called NAME on the host.  Returns the path relative to the host
 * directory without ".rrd", or NULL.
 */
static char *
resolve_name(const char *hostdir, const char *name)
{
	char	**v = NULL, *found = NULL;
	size_t	  n = host_files(hostdir, "", 2, &v, 0), hits = 0, plen = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (strncmp(v[i], name, plen) == 0 && v[i][plen] == '/' &&
		    strchr(v[i] + plen + 1, '/') == NULL) {
			hits++;
			free(found);
			found = xstrdup(v[i]);
		}
	if (hits != 1) {
		free(found);
		found = NULL;
		hits = 0;
		for (size_t i = 0; i < n; i++) {
			const char *base = strrchr(v[i], '/');
			if (base != NULL && strcmp(base + 1, name) == 0) {
				hits++;
				free(found);
				found = xstrdup(v[i]);
			}
		}
		if (hits != 1) {
			free(found);
			found = NULL;
		}
	}
	free_list(v, n);
	return found;
}

static const char *const colours[PANEL_MAX] = {
	"1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd", "8c564b",
	"e377c2", "7f7f7f", "bcbd22", "17becf", "000080", "808000",
};

static void
metric_defs(struct args *a, const char *path, const char *label, int i, bool band)
{
	char	*p = def_path(path);

	arg(a, "DEF:avg%d=%s:value:AVERAGE", i, p);
	if (band) {
		arg(a, "DEF:min%d=%s:value:MIN", i, p);
		arg(a, "DEF:max%d=%s:value:MAX", i, p);
		arg(a, "CDEF:rng%d=max%d,min%d,-", i, i, i);
		arg(a, "LINE0:min%d", i);
		arg(a, "AREA:rng%d#%s40::STACK", i, colours[i % PANEL_MAX]);
	}
	arg(a, "LINE1:avg%d#%s:%s", i, colours[i % PANEL_MAX], label);
	arg(a, "VDEF:last%d=avg%d,LAST", i, i);
	arg(a, "VDEF:mean%d=avg%d,AVERAGE", i, i);
	arg(a, "VDEF:peak%d=avg%d,MAXIMUM", i, i);
	arg(a, "GPRINT:last%d:last %%.2lf%%s", i);
	arg(a, "GPRINT:mean%d:avg %%.2lf%%s", i);
	arg(a, "GPRINT:peak%d:max %%.2lf%%s\\n", i);
	free(p);
}

static void
if_defs(struct args *a, const char *dir)
{
	char	*in = xasprintf("%s/in.rrd", dir), *out = xasprintf("%s/out.rrd", dir);
	char	*pi = def_path(in), *po = def_path(out);

	/* Stored as bytes per second; people read links in bits. */
	arg(a, "DEF:inB=%s:value:AVERAGE", pi);
	arg(a, "DEF:outB=%s:value:AVERAGE", po);
	arg(a, "CDEF:in=inB,8,*");
	arg(a, "CDEF:out=outB,8,*");
	arg(a, "VDEF:in95=in,95,PERCENT");
	arg(a, "VDEF:out95=out,95,PERCENT");
	arg(a, "AREA:in#2ca02c80:in  ");
	arg(a, "GPRINT:in95:95th %%.2lf%%sb/s\\n");
	arg(a, "LINE1:out#1f77b4:out ");
	arg(a, "GPRINT:out95:95th %%.2lf%%sb/s\\n");
	arg(a, "LINE1:in95#006400:in 95th:dashes");
	arg(a, "LINE1:out95#000080:out 95th\\n:dashes");
	free(pi);
	free(po);
	free(in);
	free(out);
}

int
graph_range(const char *range, time_t now, time_t *start, time_t *end, const char **why)
{
	static const struct { const char *name; long secs; } named[] = {
		{ "1d", 86400 }, { "1w", 7 * 86400 }, { "1m", 31 * 86400 },
		{ "1y", 366 * 86400 },
	};
	uint64_t	ms;

	*end = now;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(range, named[i].name) == 0) {
			*start = now - named[i].secs;
			return 0;
		}
	if (conf_duration_ms(range, &ms, why) == -1)
		return -1;
	if (ms < 60000) {
		*why = "a range must be at least a minute";
		return -1;
	}
	*start = now - (time_t)(ms / 1000);
	return 0;
}

int
graph_render(const struct graph_req *rq, unsigned char **img, size_t *len, int *kind,
    char *why, size_t whylen)
{
	struct args	 a = { .n = 0 };
	char		*hostdir = NULL, *rel = NULL, *path = NULL, *title = NULL;
	char		**files = NULL;
	size_t		 nfiles = 0;
	rrd_info_t	*info, *i;
	int		 rc = -1;
	/* the files drawn: the daemon's writer may hold updates of them */
	char		*fl[PANEL_MAX + 2];
	size_t		 nfl = 0;

	*img = NULL;
	*len = 0;
	*kind = 2;
	if (!safe_what(rq->host) || (rq->what[0] != '\0' && !safe_what(rq->what))) {
		*kind = 1;
		snprintf(why, whylen, "no such host or metric (bad name)");
		return -1;
	}
	hostdir = xasprintf("%s/%s", rq->dir, rq->host);
	arg(&a, "graph");
	arg(&a, "-");
	if (rq->rrdcached != NULL)
		arg(&a, "--daemon=%s", rq->rrdcached);	/* stays a.v[2] */
	arg(&a, "--imgformat=%s", rq->svg ? "SVG" : "PNG");
	arg(&a, "--start=%lld", (long long)rq->start);
	arg(&a, "--end=%lld", (long long)rq->end);
	arg(&a, "--width=%u", rq->width ? rq->width : 700);
	arg(&a, "--height=%u", rq->height ? rq->height : 200);
	arg(&a, "--slope-mode");

	if (rq->what[0] == '\0') {
		/* The host's panel set: every metric on one page, a line each. */
		nfiles = host_files(hostdir, "", 2, &files, 0);
		if (nfiles == 0) {
			*kind = 1;
			snprintf(why, whylen, "no data for host '%s'", rq->host);
			goto out;
		}
		qsort(files, nfiles, sizeof(*files), cmp_str);
		arg(&a, "--title=%s", rq->host);
		for (size_t f = 0; f < nfiles && f < PANEL_MAX; f++) {
			path = xasprintf("%s/%s.rrd", hostdir, files[f]);
			metric_defs(&a, path, files[f], (int)f, false);
			fl[nfl++] = path;
		}
		path = NULL;
	} else if (strcmp(rq->what, "if") == 0 ||
	    (strlen(rq->what) > 3 && strcmp(rq->what + strlen(rq->what) - 3, "/if") == 0)) {
		char *dir = xasprintf("%s/%.*s", hostdir, (int)strlen(rq->what) - 3, rq->what);
		char *in = xasprintf("%s/in.rrd", dir), *out = xasprintf("%s/out.rrd", dir);
		bool ok = is_file(in) && is_file(out);

		fl[nfl++] = in;
		fl[nfl++] = out;
		if (!ok) {
			*kind = 1;
			snprintf(why, whylen, "no interface '%s' on host '%s' (needs in and "
			    "out metrics)", rq->what, rq->host);
			free(dir);
			goto out;
		}
		arg(&a, "--title=%s %.*s traffic", rq->host, (int)strlen(rq->what) - 3, rq->what);
		arg(&a, "--vertical-label=bits/s");
		if_defs(&a, dir);
		free(dir);
	} else {
		if (strchr(rq->what, '/') != NULL) {
			path = xasprintf("%s/%s.rrd", hostdir, rq->what);
			if (is_file(path))
				rel = xstrdup(rq->what);
			free(path);
			path = NULL;
		} else
			rel = resolve_name(hostdir, rq->what);
		if (rel == NULL) {
			*kind = 1;
			snprintf(why, whylen, "no metric '%s' on host '%s'", rq->what, rq->host);
			goto out;
		}
		path = xasprintf("%s/%s.rrd", hostdir, rel);
		arg(&a, "--title=%s %s", rq->host, rel);
		metric_defs(&a, path, rel, 0, true);
		fl[nfl++] = xstrdup(path);
	}
	/* In the daemon (an api worker thread), what its writer holds for
	 * these files under rrd-write-delay is written first. */
	rrdw_flush((const char *const *)fl, nfl);

	/* librrd's option parser permutes the argv it gets: give it a copy
	 * of the pointers, so a.v still holds every string to free. */
	char *gv[GRAPH_MAX_ARGS];
	int gn = 0;

	info = NULL;
	if (rq->rrdcached != NULL) {
		/* Flush what rrdcached holds for these files first; if it is down,
		 * draw what is on disk rather than nothing. */
		memcpy(gv, a.v, (size_t)a.n * sizeof(gv[0]));
		rrd_clear_error();
		info = rrd_graph_v(a.n, gv);
	}
	if (info == NULL) {
		for (int x = 0; x < a.n; x++)
			if (x != 2 || rq->rrdcached == NULL)	/* a.v[2]: --daemon */
				gv[gn++] = a.v[x];
		rrd_clear_error();
		info = rrd_graph_v(gn, gv);
	}
	if (info == NULL) {
		snprintf(why, whylen, "graph failed: %s", rrd_get_error());
		goto out;
	}
	for (i = info; i != NULL; i = i->next)
		if (strcmp(i->key, "image") == 0 && i->type == RD_I_BLO) {
			*img = xmalloc(i->value.u_blo.size ? i->value.u_blo.size : 1);
			memcpy(*img, i->value.u_blo.ptr, i->value.u_blo.size);
			*len = i->value.u_blo.size;
			rc = 0;
		}
	rrd_info_free(info);
	if (rc == -1)
		snprintf(why, whylen, "graph failed: librrd returned no image");
out:
	if (rc == 0)
		*kind = 0;
	free_list(files, nfiles);
	for (size_t f = 0; f < nfl; f++)
		free(fl[f]);
	free(title);
	free(rel);
	free(path);
	free(hostdir);
	args_free(&a);
	return rc;
}
