/*
 * conf_build.c: the semantic pass, conf tree to struct config.  Keys are
 * tables per block (nginx style); every error is reported, then the build
 * fails as a whole.  Probe kinds see their own keys through probe_ops.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"

#define DEFAULT_DATABASE	"dbname=itsmd"
#define DEFAULT_RRD_DIR		"/var/lib/itsmd/rrd"
#define DEFAULT_USER		"itsmd"
#define DEFAULT_INTERVAL_MS	(60 * 1000)
#define DEFAULT_TIMEOUT_MS	(10 * 1000)
#define MIN_INTERVAL_MS		1000
#define MAX_NAME		128	/* a name is a path component of RRD files */
#define MAX_KEYS		32	/* entries in one key table */
#define DEFAULT_SETTLE_MS	5000
#define DEFAULT_FLAP_LOW	25.0
#define DEFAULT_FLAP_HIGH	50.0
#define IMPACT_DEPENDANTS	10	/* children that make an unset impact 1 */

/*
 * Names to indexes, for the lookups a conf makes per service, member,
 * dependency, parent and SLA: a scan per lookup made a conf of 10,000
 * services take seconds.  Open addressing on hash_str; the names belong to
 * the config being built and outlive the index.
 */
struct name_index {
	const char	**name;
	size_t		 *idx;
	size_t		  cap, n;	/* cap a power of two, at least twice n */
};

struct build {
	struct config		 *cfg;
	struct conf_err		 *err;
	const struct conf_node	**tmpl_nodes;
	size_t			  ntmpl_nodes;
	const struct conf_node	**host_nodes;
	size_t			  nhost_nodes;
	const struct conf_node	 *interval_node, *timeout_node;
	bool			  defaults_ok;	/* global interval/timeout agree */
	struct pending_parent	 *pp;		/* `parent` lines, resolved after all hosts */
	size_t			  npp;
	struct pending_dep	 *pdep;		/* `depends` lines, resolved after all services */
	size_t			  npdep;
	struct name_index	  svc_names;	/* service name -> index in cfg->services */
	struct name_index	  host_names;	/* host name -> index in cfg->hosts (the first) */
};

/*
 * One key of a block: argument count, whether it opens a block, whether it
 * may repeat, and the handler that stores it into `obj` (the config, a
 * template, a host or a probe being built).  The walker checks the shape,
 * so handlers only look at values.
 */
#define K_BLOCK	0x1
#define K_MULTI	0x2
struct conf_key {
	const char	*name;
	int		 minargs, maxargs;
	int		 flags;
	void		(*fn)(struct build *, void *, const struct conf_node *);
};

/* Called for a key not in the table; returns false if it is unknown. */
typedef bool (*other_fn)(struct build *, void *, const struct conf_node *);

static size_t
nidx_slot(const struct name_index *ni, const char *name)
{
	size_t	i = (size_t)hash_str(name) & (ni->cap - 1);

	while (ni->name[i] != NULL && strcmp(ni->name[i], name) != 0)
		i = (i + 1) & (ni->cap - 1);
	return i;
}

/* The index name was first added with, or SIZE_MAX. */
static size_t
nidx_find(const struct name_index *ni, const char *name)
{
	size_t	i;

	if (ni->cap == 0)
		return SIZE_MAX;
	i = nidx_slot(ni, name);
	return ni->name[i] != NULL ? ni->idx[i] : SIZE_MAX;
}

/* Adds name unless it is there: the first index given for a name stays. */
static void
nidx_add(struct name_index *ni, const char *name, size_t idx)
{
	size_t	i;

	if (2 * (ni->n + 1) > ni->cap) {
		struct name_index	bigger = { .cap = ni->cap > 0 ? 2 * ni->cap : 64 };

		bigger.name = xcalloc(bigger.cap, sizeof(*bigger.name));
		bigger.idx = xcalloc(bigger.cap, sizeof(*bigger.idx));
		for (i = 0; i < ni->cap; i++)
			if (ni->name[i] != NULL) {
				size_t	j = nidx_slot(&bigger, ni->name[i]);

				bigger.name[j] = ni->name[i];
				bigger.idx[j] = ni->idx[i];
			}
		bigger.n = ni->n;
		free(ni->name);
		free(ni->idx);
		*ni = bigger;
	}
	i = nidx_slot(ni, name);
	if (ni->name[i] != NULL)
		return;
	ni->name[i] = name;
	ni->idx[i] = idx;
	ni->n++;
}

static void
nidx_free(struct name_index *ni)
{
	free(ni->name);
	free(ni->idx);
	memset(ni, 0, sizeof(*ni));
}

/* A growing string, for fingerprints. */
struct buf {
	char	*s;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fatalx("fingerprint: vsnprintf failed");
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
}

/* Quoted so that ["a b"] and ["a", "b"] give different text. */
static void
buf_quoted(struct buf *b, const char *s)
{
	buf_add(b, " \"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_add(b, "\\%c", *s);
		else if (*s == '\n')
			buf_add(b, "\\n");
		else
			buf_add(b, "%c", *s);
	}
	buf_add(b, "\"");
}

static char *
fmt_pos(const struct conf_pos *pos)
{
	return xasprintf("%s:%d:%d", pos->file, pos->line, pos->col);
}

/* Exact, in the largest unit that divides it: 90000 -> "90s", 1500 -> "1500ms". */
static void
fmt_duration(uint64_t ms, char *out, size_t len)
{
	static const struct { uint64_t ms; const char *u; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	size_t	i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(out, len, "%llu%s",
			    (unsigned long long)(ms / units[i].ms), units[i].u);
			return;
		}
	snprintf(out, len, "%llums", (unsigned long long)ms);
}

/* Names become RRD path components and SQL values: keep them boring. */
static bool
check_name(struct build *b, const char *what, const char *name,
    const struct conf_pos *pos)
{
	const char	*p;

	if (strlen(name) > MAX_NAME) {
		conf_error(b->err, pos, "%s name '%.32s...' is longer than %d "
		    "characters", what, name, MAX_NAME);
		return false;
	}
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') ||
		    (p != name && (*p == '.' || *p == '_' || *p == '-'))))
			break;
	if (*name == '\0' || *p != '\0') {
		conf_error(b->err, pos, "bad %s name '%s': must match "
		    "[A-Za-z0-9][A-Za-z0-9._-]*", what, name);
		return false;
	}
	return true;
}

static size_t
count_children(const struct conf_node *n, const char *name)
{
	size_t	i, c = 0;

	for (i = 0; i < n->nchildren; i++)
		if (strcmp(n->children[i].name, name) == 0)
			c++;
	return c;
}

/*
 * Walks the directives of one block through its key table: unknown keys,
 * argument counts, blocks and duplicates are checked here, once for all
 * blocks; the handler then stores the value.
 */
static void
walk(struct build *b, const struct conf_key *keys, size_t nkeys,
    const struct conf_node *block, void *obj, other_fn other)
{
	const struct conf_node	*seen[MAX_KEYS] = { NULL };
	const struct conf_node	*c;
	const struct conf_key	*k;
	size_t			 i, j;
	char			*first;

	if (nkeys > MAX_KEYS)
		fatalx("conf: key table of %zu entries, limit %d", nkeys, MAX_KEYS);
	for (i = 0; i < block->nchildren; i++) {
		c = &block->children[i];
		for (j = 0; j < nkeys; j++)
			if (strcmp(keys[j].name, c->name) == 0)
				break;
		if (j == nkeys) {
			if (other == NULL || !other(b, obj, c))
				conf_error(b->err, &c->pos, "unknown key '%s'",
				    c->name);
			continue;
		}
		k = &keys[j];
		if ((k->flags & K_MULTI) == 0 && seen[j] != NULL) {
			first = fmt_pos(&seen[j]->pos);
			conf_error(b->err, &c->pos,
			    "duplicate key '%s' (first at %s)", c->name, first);
			free(first);
			continue;
		}
		seen[j] = c;
		if ((k->flags & K_BLOCK) && !c->block) {
			conf_error(b->err, &c->pos, "'%s' needs a block { ... }",
			    c->name);
			continue;
		}
		if (!(k->flags & K_BLOCK) && c->block) {
			conf_error(b->err, &c->pos, "'%s' takes no block",
			    c->name);
			continue;
		}
		if (c->nargs < (size_t)k->minargs ||
		    c->nargs > (size_t)k->maxargs) {
			if (k->minargs == k->maxargs)
				conf_error(b->err, &c->pos, "'%s' takes %d "
				    "argument%s (got %zu)", c->name, k->minargs,
				    k->minargs == 1 ? "" : "s", c->nargs);
			else
				conf_error(b->err, &c->pos, "'%s' takes %d to %d "
				    "arguments (got %zu)", c->name, k->minargs,
				    k->maxargs, c->nargs);
			continue;
		}
		k->fn(b, obj, c);
	}
}

static bool
get_duration(struct build *b, const struct conf_node *c, uint64_t *ms)
{
	const char	*why;

	if (conf_duration_ms(c->args[0], ms, &why) == -1) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for '%s': %s",
		    c->args[0], c->name, why);
		return false;
	}
	return true;
}

/* A duration that paces work (an interval): at least MIN_INTERVAL_MS. */
static bool
get_interval(struct build *b, const struct conf_node *c, uint64_t *ms)
{
	if (!get_duration(b, c, ms))
		return false;
	if (*ms < MIN_INTERVAL_MS) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for '%s': "
		    "must be at least 1s", c->args[0], c->name);
		return false;
	}
	return true;
}

static bool
get_int(struct build *b, const struct conf_node *c, long min, long max,
    long *v)
{
	const char	*s = c->args[0];
	long		 n = 0;

	if (*s == '\0')
		goto bad;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (*s - '0');
		if (n > max)
			goto bad;
	}
	if (*s != '\0' || n < min)
		goto bad;
	*v = n;
	return true;
 bad:
	conf_error(b->err, &c->argpos[0], "bad %s '%s': must be a whole number "
	    "from %ld to %ld", c->name, c->args[0], min, max);
	return false;
}

/*
 * Folds "." and ".." in an absolute path, in place, without touching the
 * file system (the target need not exist yet), so logs say /srv/var/rrd
 * rather than /srv/conf/../var/rrd.
 */
static void
path_fold(char *p)
{
	char	*out = p, *in = p;

	while (*in) {
		while (*in == '/')
			in++;
		char *seg = in;
		while (*in && *in != '/')
			in++;
		size_t len = (size_t)(in - seg);
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

/*
 * Symlinks on the way are resolved while the conf is read (as root, before
 * the privilege drop): the daemon then uses a path it can walk even when a
 * link sits under a directory only root may enter.  The last component may
 * not exist yet (a socket rrdcached has not made): its parent is resolved.
 */
static char *
path_real(char *p)
{
	char	*r, *slash, *dir;

	if ((r = realpath(p, NULL)) != NULL) {
		free(p);
		return r;
	}
	if ((slash = strrchr(p, '/')) == NULL || slash == p)
		return p;
	dir = xstrdup(p);
	dir[slash - p] = '\0';
	if ((r = realpath(dir, NULL)) != NULL) {
		char *out = xasprintf("%s%s", strcmp(r, "/") == 0 ? "" : r, slash);
		free(r);
		free(dir);
		free(p);
		return out;
	}
	free(dir);
	return p;
}

/* Relative paths are relative to the directory of the file that has them. */
static char *
abs_path(const struct conf_pos *pos, const char *path)
{
	const char	*slash;
	char		*dir, *real, *out, cwd[PATH_MAX];

	if (path[0] == '/')
		return xstrdup(path);
	slash = strrchr(pos->file, '/');
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == pos->file)
		dir = xstrdup("/");
	else {
		dir = xstrdup(pos->file);
		dir[slash - pos->file] = '\0';
	}
	if ((real = realpath(dir, NULL)) != NULL) {
		free(dir);
		dir = real;
	} else if (dir[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			fatal("getcwd");
		real = xasprintf("%s/%s", cwd, dir);
		free(dir);
		dir = real;
	}
	out = xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, path);
	free(dir);
	path_fold(out);
	return path_real(out);
}

static bool
nonempty(struct build *b, const struct conf_node *c)
{
	if (c->args[0][0] == '\0') {
		conf_error(b->err, &c->argpos[0], "'%s' must not be empty",
		    c->name);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ global */

static void
g_database(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;

	const char	*v;

	/* A conninfo may hold a password: it never goes into a message. */
	if (nonempty(b, c) &&
	    (v = conf_secret(c->args[0], &c->argpos[0], b->err)) != NULL)
		cfg->database = xstrdup(v);
}

/* Relative to the conf file, like every path; read when a name needs them. */
static void
g_mib_dirs(struct build *b, void *obj, const struct conf_node *c)
{
	char	**dirs = xcalloc(c->nargs, sizeof(*dirs));

	(void)obj;
	for (size_t i = 0; i < c->nargs; i++) {
		if (c->args[i][0] == '\0' || strchr(c->args[i], ':') != NULL)
			conf_error(b->err, &c->argpos[i], "bad mib-dirs entry '%s': "
			    "a directory path without ':'", c->args[i]);
		dirs[i] = abs_path(&c->argpos[i], c->args[i]);
	}
	snmp_mib_dirs((const char *const *)dirs, c->nargs);
	for (size_t i = 0; i < c->nargs; i++)
		free(dirs[i]);
	free(dirs);
}

/* `http-max-per-origin N`: the http probe's per-origin bound on transfers. */
static void
g_http_max_per_origin(struct build *b, void *obj, const struct conf_node *c)
{
	long	n;

	(void)obj;
	if (get_int(b, c, 1, 100000, &n))
		http_max_per_origin((unsigned)n);
}

/* Loaded by conf_build() before any other key; here only the shape counts. */
static void
g_secrets(struct build *b, void *obj, const struct conf_node *c)
{
	(void)obj;
	nonempty(b, c);
}

static void
g_rrd_dir(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;

	if (nonempty(b, c))
		cfg->rrd_dir = abs_path(&c->argpos[0], c->args[0]);
}

static void
g_rrdcached(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	const char	*path = c->args[0];
	char		*abs;

	if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	if (*path == '\0') {
		conf_error(b->err, &c->argpos[0], "'rrdcached' needs a socket "
		    "path (unix:PATH)");
		return;
	}
	abs = abs_path(&c->argpos[0], path);
	cfg->rrdcached = xasprintf("unix:%s", abs);
	free(abs);
}

/* rrd-write-delay: 0 (write at once) or 1s up to a day (a wheel slot a second). */
static void
g_rrd_write_delay(struct build *b, void *obj, const struct conf_node *c)
{
	uint64_t	ms = 0;

	if (strcmp(c->args[0], "0") != 0 && !get_duration(b, c, &ms))
		return;
	if (ms != 0 && (ms < 1000 || ms > 86400 * 1000ULL)) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for 'rrd-write-delay': "
		    "0 (write at once) or 1s to 1d", c->args[0]);
		return;
	}
	((struct config *)obj)->rrd_write_delay_ms = ms;
}

static void
g_user(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;

	if (nonempty(b, c))
		cfg->user = xstrdup(c->args[0]);
}

static void
g_pidfile(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;

	if (nonempty(b, c))
		cfg->pidfile = abs_path(&c->argpos[0], c->args[0]);
}

static void
g_log_level(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	int		 l;

	if ((l = log_level_parse(c->args[0])) == -1) {
		conf_error(b->err, &c->argpos[0], "unknown log level '%s' (use "
		    "error, warning, notice, info or debug)", c->args[0]);
		return;
	}
	cfg->log_level = l;
}

static void
g_interval(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	uint64_t	 ms;

	if (!get_interval(b, c, &ms))
		return;
	cfg->default_interval_ms = ms;
	b->interval_node = c;
}

static void
g_timeout(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	uint64_t	 ms;

	if (!get_duration(b, c, &ms))
		return;
	if (ms == 0) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for "
		    "'timeout': must be more than 0", c->args[0]);
		return;
	}
	cfg->default_timeout_ms = ms;
	b->timeout_node = c;
}

/* incident management: reopen-window, problem-after, spool-dir, spool-max-size */
static void
g_reopen_window(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	uint64_t	 ms;

	if (get_duration(b, c, &ms))
		cfg->reopen_window_ms = ms;
}

/* `problem-after N in WINDOW`, or `problem-after off` */
static void
g_problem_after(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	const char	*why;
	uint64_t	 ms;
	double		 n;

	if (c->nargs == 1 && strcmp(c->args[0], "off") == 0) {
		cfg->problem_count = 0;
		return;
	}
	if (c->nargs != 3 || strcmp(c->args[1], "in") != 0) {
		conf_error(b->err, &c->pos, "'problem-after' takes N in WINDOW "
		    "(e.g. 3 in 7d) or off");
		return;
	}
	if (conf_number(c->args[0], &n, &why) == -1 || n < 2 || n > 1000 ||
	    n != (int)n) {
		conf_error(b->err, &c->argpos[0], "bad count '%s' for 'problem-after': "
		    "a whole number from 2 to 1000", c->args[0]);
		return;
	}
	if (conf_duration_ms(c->args[2], &ms, &why) == -1)
		ms = 0;
	else if (ms == 0)
		why = "must be more than 0";
	if (ms == 0) {
		conf_error(b->err, &c->argpos[2], "bad duration '%s' for "
		    "'problem-after': %s", c->args[2], why);
		return;
	}
	cfg->problem_count = (int)n;
	cfg->problem_window_ms = ms;
}

static void
g_spool_dir(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;

	if (nonempty(b, c))
		cfg->spool_dir = abs_path(&c->argpos[0], c->args[0]);
}

static void
g_spool_max_size(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	const char	*why;
	uint64_t	 v;

	if (conf_size_bytes(c->args[0], &v, &why) == -1)
		v = 0;
	else if (v < 4096)
		why = "must be at least 4k";
	if (v < 4096) {
		conf_error(b->err, &c->argpos[0], "bad size '%s' for 'spool-max-size': %s",
		    c->args[0], why);
		return;
	}
	cfg->spool_max_bytes = v;
}

/* `listen ADDR:PORT`: the HTTP endpoint (api.c); loopback unless told. */
static void
g_listen(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	const char	*colon = strrchr(c->args[0], ':');
	char		*end;
	unsigned long	 port;

	if (colon == NULL || colon == c->args[0] ||
	    (port = strtoul(colon + 1, &end, 10)) == 0 || port > 65535 || *end != '\0') {
		conf_error(b->err, &c->argpos[0], "bad address '%s' for 'listen' "
		    "(use ADDRESS:PORT, e.g. 127.0.0.1:8080)", c->args[0]);
		return;
	}
	cfg->listen = xstrdup(c->args[0]);
}

/* capacity-every, capacity-window, capacity-horizon: durations for capacity.c */
static void
g_capacity_time(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	uint64_t	 ms;

	if (!get_interval(b, c, &ms))
		return;
	if (strcmp(c->name, "capacity-every") == 0)
		cfg->capacity_every_ms = ms;
	else if (strcmp(c->name, "capacity-window") == 0)
		cfg->capacity_window_ms = ms;
	else
		cfg->capacity_horizon_ms = ms;
}

/* ------------------------------------------- state: dependencies, ITIL */

/* A `parent` line, resolved once every host is known. */
struct pending_parent {
	struct host		*host;
	const char		*name;
	const struct conf_pos	*pos;
	struct host		*to;		/* resolved */
};

static void
g_settle(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	uint64_t	 ms;

	if (!get_duration(b, c, &ms))
		return;
	if (ms > 600000) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for 'settle': "
		    "at most 10m", c->args[0]);
		return;
	}
	cfg->settle_ms = ms;
}

/* `impact I P P P` rows: the priorities for urgency 1, 2 and 3. */
static void
pm_impact(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	int		 row[3];

	if (strlen(c->args[0]) != 1 || c->args[0][0] < '1' || c->args[0][0] > '3') {
		conf_error(b->err, &c->argpos[0], "bad impact '%s': use 1, 2 or 3",
		    c->args[0]);
		return;
	}
	for (int i = 0; i < 3; i++) {
		const char *a = c->args[i + 1];

		if (a[0] == 'P' || a[0] == 'p')
			a++;
		if (strlen(a) != 1 || a[0] < '1' || a[0] > '5') {
			conf_error(b->err, &c->argpos[i + 1], "bad priority '%s': use "
			    "1 to 5 (or P1 to P5)", c->args[i + 1]);
			return;
		}
		row[i] = a[0] - '0';
	}
	memcpy(cfg->priority[c->args[0][0] - '1'], row, sizeof(row));
}

static const struct conf_key prio_keys[] = {
	{ "impact",	4, 4, K_MULTI, pm_impact },
};

static void
g_priority_matrix(struct build *b, void *obj, const struct conf_node *c)
{
	walk(b, prio_keys, sizeof(prio_keys) / sizeof(prio_keys[0]), c, obj, NULL);
}

/* maintenance "NAME" { hosts/probes/tags GLOB...; every DAYS HH:MM-HH:MM; once FROM TO; zone Z } */
struct maint_build {
	struct maint_window	*w;
	const struct conf_node	**once;
	size_t			  nonce;
};

static char **
strv(const struct conf_node *c, char **v, size_t *n)
{
	v = xreallocarray(v, *n + c->nargs, sizeof(*v));
	for (size_t i = 0; i < c->nargs; i++)
		v[(*n)++] = xstrdup(c->args[i]);
	return v;
}

static void
mw_select(struct build *b, void *obj, const struct conf_node *c)
{
	struct maint_window	*w = ((struct maint_build *)obj)->w;

	(void)b;
	if (strcmp(c->name, "hosts") == 0)
		w->hosts = strv(c, w->hosts, &w->nhosts);
	else if (strcmp(c->name, "probes") == 0)
		w->probes = strv(c, w->probes, &w->nprobes);
	else
		w->tags = strv(c, w->tags, &w->ntags);
}

static void
mw_every(struct build *b, void *obj, const struct conf_node *c)
{
	struct maint_window	*w = ((struct maint_build *)obj)->w;
	struct maint_time	 t = { 0 };
	const char		*why;

	if (maint_parse_days(c->args[0], &t.days, &why) == -1) {
		conf_error(b->err, &c->argpos[0], "bad days '%s' for 'every': %s",
		    c->args[0], why);
		return;
	}
	if (maint_parse_span(c->args[1], &t.from_min, &t.to_min, &why) == -1) {
		conf_error(b->err, &c->argpos[1], "bad time range '%s' for 'every': %s",
		    c->args[1], why);
		return;
	}
	w->times = xreallocarray(w->times, w->ntimes + 1, sizeof(*w->times));
	w->times[w->ntimes++] = t;
}

/* Converted after the block: `zone` may come after `once`. */
static void
mw_once(struct build *b, void *obj, const struct conf_node *c)
{
	struct maint_build	*mb = obj;

	(void)b;
	mb->once = xreallocarray(mb->once, mb->nonce + 1, sizeof(*mb->once));
	mb->once[mb->nonce++] = c;
}

static void
mw_zone(struct build *b, void *obj, const struct conf_node *c)
{
	struct maint_window	*w = ((struct maint_build *)obj)->w;
	const char		*why;

	if ((w->zone = maint_zone_load(c->args[0], &why)) == NULL)
		conf_error(b->err, &c->argpos[0], "bad zone '%s': %s", c->args[0], why);
}

static const struct conf_key maint_keys[] = {
	{ "hosts",	1, 64, K_MULTI, mw_select },
	{ "probes",	1, 64, K_MULTI, mw_select },
	{ "tags",	1, 64, K_MULTI, mw_select },
	{ "every",	2, 2, K_MULTI, mw_every },
	{ "once",	2, 2, K_MULTI, mw_once },
	{ "zone",	1, 1, 0, mw_zone },
};

static void
g_maintenance(struct build *b, void *obj, const struct conf_node *c)
{
	struct config		*cfg = obj;
	struct maint_window	*w;
	struct maint_build	 mb = { 0 };
	const char		*why;

	cfg->maint = xreallocarray(cfg->maint, cfg->nmaint + 1, sizeof(*cfg->maint));
	w = &cfg->maint[cfg->nmaint++];
	memset(w, 0, sizeof(*w));
	w->name = xstrdup(c->args[0]);
	w->pos = c->pos;
	check_name(b, "maintenance", w->name, &c->argpos[0]);
	mb.w = w;
	walk(b, maint_keys, sizeof(maint_keys) / sizeof(maint_keys[0]), c, &mb, NULL);
	for (size_t i = 0; i < mb.nonce; i++) {
		const struct conf_node	*o = mb.once[i];
		struct maint_time	 t = { .once = true };

		if (maint_parse_when(o->args[0], w->zone, &t.start, &why) == -1) {
			conf_error(b->err, &o->argpos[0], "bad start '%s': %s", o->args[0], why);
			continue;
		}
		if (maint_parse_when(o->args[1], w->zone, &t.end, &why) == -1) {
			conf_error(b->err, &o->argpos[1], "bad end '%s': %s", o->args[1], why);
			continue;
		}
		if (t.end <= t.start) {
			conf_error(b->err, &o->argpos[1], "maintenance '%s' ends before it "
			    "starts", w->name);
			continue;
		}
		w->times = xreallocarray(w->times, w->ntimes + 1, sizeof(*w->times));
		w->times[w->ntimes++] = t;
	}
	free(mb.once);
	if (w->nhosts + w->nprobes + w->ntags == 0)
		conf_error(b->err, &c->pos, "maintenance '%s' covers nothing: give "
		    "hosts, probes or tags", w->name);
	if (w->ntimes == 0 && mb.nonce == 0 && count_children(c, "every") == 0)
		conf_error(b->err, &c->pos, "maintenance '%s' has no time: give "
		    "'every DAYS HH:MM-HH:MM' or 'once FROM TO'", w->name);
}

static void
maint_free(struct maint_window *w)
{
	for (size_t i = 0; i < w->nhosts; i++)
		free(w->hosts[i]);
	for (size_t i = 0; i < w->nprobes; i++)
		free(w->probes[i]);
	for (size_t i = 0; i < w->ntags; i++)
		free(w->tags[i]);
	free(w->hosts);
	free(w->probes);
	free(w->tags);
	free(w->times);
	free(w->name);
	maint_zone_free(w->zone);
}

static void
receiver_free(struct receiver *r)
{
	free(r->name);
	free(r->url);
	for (size_t i = 0; i < r->nhosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	for (size_t i = 0; i < r->nchecks; i++)
		free(r->checks[i]);
	free(r->checks);
}

static void
r_url(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;
	const char	*url;

	/* secret:NAME, since a webhook url often carries a token */
	if ((url = conf_secret(c->args[0], &c->argpos[0], b->err)) == NULL)
		return;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		conf_error(b->err, &c->argpos[0], "receiver url must be http:// or https://");
		return;
	}
	free(r->url);
	r->url = xstrdup(url);
}

static void
r_min_priority(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;
	long		 v;

	if (get_int(b, c, 1, 5, &v))
		r->min_priority = (int)v;
}

static void
r_events(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;
	int		 k;

	r->events = 0;
	for (size_t i = 0; i < c->nargs; i++) {
		if ((k = notify_kind_parse(c->args[i])) == -1)
			conf_error(b->err, &c->argpos[i], "unknown event '%s' (use open, "
			    "escalate, acknowledge or resolve)", c->args[i]);
		else
			r->events |= 1u << k;
	}
}

static void
r_hosts(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;

	(void)b;
	for (size_t i = 0; i < c->nargs; i++) {
		r->hosts = xreallocarray(r->hosts, r->nhosts + 1, sizeof(*r->hosts));
		r->hosts[r->nhosts++] = xstrdup(c->args[i]);
	}
}

/* `checks "disk*" "load"`: the kind of fault a receiver is for */
static void
r_checks(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;

	(void)b;
	for (size_t i = 0; i < c->nargs; i++) {
		r->checks = xreallocarray(r->checks, r->nchecks + 1, sizeof(*r->checks));
		r->checks[r->nchecks++] = xstrdup(c->args[i]);
	}
}

static void
r_timeout(struct build *b, void *obj, const struct conf_node *c)
{
	struct receiver	*r = obj;
	uint64_t	 ms;

	if (get_duration(b, c, &ms) && ms > 0)
		r->timeout_ms = ms;
}

static const struct conf_key receiver_keys[] = {
	{ "url",	1, 1, 0, r_url },
	{ "min-priority", 1, 1, 0, r_min_priority },
	{ "events",	1, 4, 0, r_events },
	{ "hosts",	1, 64, K_MULTI, r_hosts },
	{ "checks",	1, 64, K_MULTI, r_checks },
	{ "timeout",	1, 1, 0, r_timeout },
};

/* `receiver "NAME" { ... }`: a webhook (notify.c) */
static void
g_receiver(struct build *b, void *obj, const struct conf_node *c)
{
	struct config	*cfg = obj;
	struct receiver	*r;

	for (size_t i = 0; i < cfg->nreceivers; i++)
		if (strcmp(cfg->receivers[i].name, c->args[0]) == 0) {
			conf_error(b->err, &c->argpos[0], "duplicate receiver '%s'",
			    c->args[0]);
			return;
		}
	cfg->receivers = xreallocarray(cfg->receivers, cfg->nreceivers + 1,
	    sizeof(*cfg->receivers));
	r = &cfg->receivers[cfg->nreceivers++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(c->args[0]);
	r->pos = c->pos;
	r->min_priority = 5;
	r->events = (1u << NOTIFY__COUNT) - 1;
	r->timeout_ms = 10000;
	walk(b, receiver_keys, sizeof(receiver_keys) / sizeof(receiver_keys[0]), c, r, NULL);
	if (r->url == NULL)
		conf_error(b->err, &c->pos, "receiver '%s' needs a url", r->name);
}

/* `rrd { }`: the layout of every RRD file not given one closer (rrd_layout.c) */
static void
g_rrd(struct build *b, void *obj, const struct conf_node *c)
{
	((struct config *)obj)->rrd = rrdl_parse(c, false, b->err);
}

/* ------------------------------------------------------------ services */

/*
 * `service "NAME" { rule ...; member HOST [PROBE] [weight W]; depends SVC...;
 * impact N; sla "NAME" { ... } }`.  Members and dependencies are names
 * until resolve_services(), after every host and service is read.
 */
struct pending_dep {
	size_t			 svc;		/* index of the service that depends */
	const char		*name;
	const struct conf_pos	*pos;
};

struct svc_build {
	struct service		*s;
	const struct conf_node	*rule_node;
	bool			 weights;	/* some member has a weight */
};

static const char *const sd_periods[] = { "day", "week", "month", "quarter", "year" };
static const char *const sd_day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static void
sd_free(struct sla_def *d)
{
	free(d->name);
	free(d->period);
	free(d->tz);
	free(d->hours);
	free(d->holidays);
	free(d->burn);
}

static void
service_free(struct service *s)
{
	for (size_t i = 0; i < s->nmembers; i++) {
		free(s->members[i].host);
		free(s->members[i].probe);
	}
	free(s->members);
	free(s->depends);
	for (size_t i = 0; i < s->nslas; i++)
		sd_free(&s->slas[i]);
	free(s->slas);
	free(s->name);
}

/* Appends item to a comma list (an empty list is ""). */
static void
list_add(char **list, const char *item)
{
	char	*n = xasprintf("%s%s%s", *list, **list != '\0' ? "," : "", item);

	free(*list);
	*list = n;
}

static void
sd_target(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;
	const char	*why;

	if (conf_percent(c->args[0], &d->target, &why) == -1 || !(d->target > 0 &&
	    d->target < 100)) {
		conf_error(b->err, &c->argpos[0], "bad target '%s': a percentage above "
		    "0%% and below 100%% (like 99.9%%)", c->args[0]);
		d->target = 0;
	}
}

static void
sd_period(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;

	for (size_t i = 0; i < sizeof(sd_periods) / sizeof(sd_periods[0]); i++)
		if (strcmp(c->args[0], sd_periods[i]) == 0) {
			free(d->period);
			d->period = xstrdup(c->args[0]);
			return;
		}
	conf_error(b->err, &c->argpos[0], "bad period '%s': use day, week, month, quarter "
	    "or year", c->args[0]);
}

static void
sd_time_zone(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def		*d = obj;
	struct maint_zone	*z;
	const char		*why;

	if ((z = maint_zone_load(c->args[0], &why)) == NULL) {
		conf_error(b->err, &c->argpos[0], "bad time-zone '%s': %s", c->args[0], why);
		return;
	}
	maint_zone_free(z);
	free(d->tz);
	d->tz = xstrdup(c->args[0]);
}

/*
 * `hours DAYS HH:MM-HH:MM`, sent to PostgreSQL as one item per run of
 * consecutive days in Monday-first order ("mon-fri 08:00-18:00"), so the
 * SQL side never sees lists or a week wrapping around.
 */
static void
sd_hours(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;
	unsigned	 days;
	int		 from, to;
	const char	*why;
	char		 item[64];

	if (maint_parse_days(c->args[0], &days, &why) == -1) {
		conf_error(b->err, &c->argpos[0], "bad days '%s' for 'hours': %s",
		    c->args[0], why);
		return;
	}
	if (maint_parse_span(c->args[1], &from, &to, &why) == -1) {
		conf_error(b->err, &c->argpos[1], "bad time range '%s' for 'hours': %s",
		    c->args[1], why);
		return;
	}
	if (to <= from) {
		conf_error(b->err, &c->argpos[1], "bad time range '%s' for 'hours': service "
		    "hours end after they start on the same day (use 24:00, and a second "
		    "'hours' line for the next day)", c->args[1]);
		return;
	}
	for (int j = 0; j < 7; j++) {
		int	k = j;

		if (!(days & (1u << ((j + 1) % 7))))
			continue;
		while (k + 1 < 7 && (days & (1u << ((k + 2) % 7))))
			k++;
		if (k == j)
			snprintf(item, sizeof(item), "%s %s", sd_day_names[(j + 1) % 7],
			    c->args[1]);
		else
			snprintf(item, sizeof(item), "%s-%s %s", sd_day_names[(j + 1) % 7],
			    sd_day_names[(k + 1) % 7], c->args[1]);
		list_add(&d->hours, item);
		j = k;
	}
}

static bool
valid_date(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int		 y, m, dd, n = 0;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &dd, &n) != 3 || n != 10 || strlen(s) != 10 ||
	    y < 1970 || m < 1 || m > 12 || dd < 1 || dd > mdays[m - 1])
		return false;
	return !(m == 2 && dd == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static void
sd_holidays(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;

	for (size_t i = 0; i < c->nargs; i++) {
		if (!valid_date(c->args[i])) {
			conf_error(b->err, &c->argpos[i], "bad holiday '%s': a date like "
			    "2026-12-24", c->args[i]);
			continue;
		}
		list_add(&d->holidays, c->args[i]);
	}
}

static void
sd_down(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;
	bool		 crit = false;

	d->down_warning = false;
	for (size_t i = 0; i < c->nargs; i++) {
		if (strcmp(c->args[i], "critical") == 0)
			crit = true;
		else if (strcmp(c->args[i], "warning") == 0)
			d->down_warning = true;
		else
			conf_error(b->err, &c->argpos[i], "bad state '%s' for 'down': use "
			    "critical, or critical warning", c->args[i]);
	}
	if (!crit)
		conf_error(b->err, &c->pos, "'down' must include critical");
}

static void
sd_maintenance(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def	*d = obj;

	if (strcmp(c->args[0], "exclude") == 0)
		d->maint_up = false;
	else if (strcmp(c->args[0], "up") == 0)
		d->maint_up = true;
	else
		conf_error(b->err, &c->argpos[0], "bad maintenance '%s': use exclude "
		    "(not counted) or up (counted as up)", c->args[0]);
}

static void
sd_burn_rate(struct build *b, void *obj, const struct conf_node *c)
{
	struct sla_def		*d = obj;
	struct burn_rule	 r;
	const char		*why;

	if (conf_number(c->args[0], &r.factor, &why) == -1 || !(r.factor > 0)) {
		conf_error(b->err, &c->argpos[0], "bad burn-rate factor '%s': a number above "
		    "0 (like 14.4)", c->args[0]);
		return;
	}
	if (conf_duration_ms(c->args[1], &r.long_ms, &why) == -1 || r.long_ms < 1000) {
		conf_error(b->err, &c->argpos[1], "bad long window '%s' for 'burn-rate': %s",
		    c->args[1], r.long_ms < 1000 ? "at least 1s" : why);
		return;
	}
	if (conf_duration_ms(c->args[2], &r.short_ms, &why) == -1 || r.short_ms < 1000 ||
	    r.short_ms >= r.long_ms) {
		conf_error(b->err, &c->argpos[2], "bad short window '%s' for 'burn-rate': "
		    "at least 1s and shorter than the long window", c->args[2]);
		return;
	}
	d->burn = xreallocarray(d->burn, d->nburn + 1, sizeof(*d->burn));
	d->burn[d->nburn++] = r;
}

static const struct conf_key sd_keys[] = {
	{ "target",	1, 1, 0, sd_target },
	{ "period",	1, 1, 0, sd_period },
	{ "time-zone",	1, 1, 0, sd_time_zone },
	{ "hours",	2, 2, K_MULTI, sd_hours },
	{ "holidays",	1, 64, K_MULTI, sd_holidays },
	{ "down",	1, 2, 0, sd_down },
	{ "maintenance", 1, 1, 0, sd_maintenance },
	{ "burn-rate",	3, 3, K_MULTI, sd_burn_rate },
};

static void
svc_sla(struct build *b, void *obj, const struct conf_node *c)
{
	struct service	*s = ((struct svc_build *)obj)->s;
	struct sla_def	*d;

	s->slas = xreallocarray(s->slas, s->nslas + 1, sizeof(*s->slas));
	d = &s->slas[s->nslas++];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(c->args[0]);
	d->pos = c->argpos[0];
	d->period = xstrdup("month");
	d->tz = xstrdup("UTC");
	d->hours = xstrdup("");
	d->holidays = xstrdup("");
	check_name(b, "sla", d->name, &c->argpos[0]);
	walk(b, sd_keys, sizeof(sd_keys) / sizeof(sd_keys[0]), c, d, NULL);
	if (count_children(c, "target") == 0)
		conf_error(b->err, &c->pos, "sla '%s' needs a 'target' (like 99.9%%)", d->name);
	/* How maintenance counts changes the figure: no silent default. */
	if (count_children(c, "maintenance") == 0)
		conf_error(b->err, &c->pos, "sla '%s' needs 'maintenance exclude' or "
		    "'maintenance up'", d->name);
	/* Google SRE's two pairs: fast burn over 1h/5m, slow over 6h/30m. */
	if (d->nburn == 0 && count_children(c, "burn-rate") == 0) {
		d->burn = xcalloc(2, sizeof(*d->burn));
		d->burn[0] = (struct burn_rule){ 14.4, 3600000, 300000 };
		d->burn[1] = (struct burn_rule){ 6, 6 * 3600000, 1800000 };
		d->nburn = 2;
	}
}

static void
svc_rule(struct build *b, void *obj, const struct conf_node *c)
{
	struct svc_build	*sb = obj;
	struct service		*s = sb->s;
	const char		*why;
	long			 n;

	sb->rule_node = c;
	if (strcmp(c->args[0], "all") == 0 && c->nargs == 1)
		s->rule = SVC_ALL;
	else if (strcmp(c->args[0], "at-least") == 0 && c->nargs == 2) {
		s->rule = SVC_AT_LEAST;
		if (get_int(b, &(struct conf_node){ .name = "at-least", .args = c->args + 1,
		    .argpos = c->argpos + 1, .nargs = 1 }, 1, 10000, &n))
			s->at_least = (int)n;
	} else if (strcmp(c->args[0], "weighted") == 0 && c->nargs == 2) {
		s->rule = SVC_WEIGHTED;
		if (conf_percent(c->args[1], &s->weighted_pct, &why) == -1 ||
		    !(s->weighted_pct > 0 && s->weighted_pct <= 100))
			conf_error(b->err, &c->argpos[1], "bad share '%s' for 'rule weighted': "
			    "a percentage above 0%% up to 100%% (like 60%%)", c->args[1]);
	} else
		conf_error(b->err, &c->argpos[0], "bad rule '%s': use all, at-least N, or "
		    "weighted PERCENT", c->args[0]);
}

/* `member HOST [PROBE] [weight W]` */
static void
svc_member(struct build *b, void *obj, const struct conf_node *c)
{
	struct svc_build	*sb = obj;
	struct service		*s = sb->s;
	struct service_member	 m = { .weight = 1, .pos = c->argpos[0] };
	size_t			 i = 1;
	long			 w;

	if (c->nargs >= 2)
		m.probe_pos = c->argpos[1];

	if (c->nargs >= 2 && strcmp(c->args[1], "weight") != 0)
		i = 2;
	if (i < c->nargs) {
		if (strcmp(c->args[i], "weight") != 0 || i + 2 != c->nargs) {
			conf_error(b->err, &c->argpos[i], "bad member: use 'member HOST "
			    "[PROBE] [weight N]'");
			return;
		}
		if (!get_int(b, &(struct conf_node){ .name = "weight", .args = c->args + i + 1,
		    .argpos = c->argpos + i + 1, .nargs = 1 }, 1, 1000, &w))
			return;
		m.weight = (int)w;
		sb->weights = true;
	}
	for (size_t k = 0; k < s->nmembers; k++)
		if (strcmp(s->members[k].host, c->args[0]) == 0 &&
		    ((s->members[k].probe == NULL && i == 1) || (s->members[k].probe != NULL &&
		    i == 2 && strcmp(s->members[k].probe, c->args[1]) == 0))) {
			conf_error(b->err, &c->pos, "duplicate member '%s%s%s' in service '%s'",
			    c->args[0], i == 2 ? " " : "", i == 2 ? c->args[1] : "", s->name);
			return;
		}
	m.host = xstrdup(c->args[0]);
	m.probe = i == 2 ? xstrdup(c->args[1]) : NULL;
	s->members = xreallocarray(s->members, s->nmembers + 1, sizeof(*s->members));
	s->members[s->nmembers++] = m;
}

static void
svc_depends(struct build *b, void *obj, const struct conf_node *c)
{
	struct service	*s = ((struct svc_build *)obj)->s;

	for (size_t i = 0; i < c->nargs; i++) {
		b->pdep = xgrowarray(b->pdep, b->npdep, sizeof(*b->pdep));
		b->pdep[b->npdep++] = (struct pending_dep){ (size_t)(s - b->cfg->services),
		    c->args[i], &c->argpos[i] };
	}
}

static void
svc_impact(struct build *b, void *obj, const struct conf_node *c)
{
	long	n;

	if (get_int(b, c, 1, 3, &n))
		((struct svc_build *)obj)->s->impact = (int)n;
}

static const struct conf_key service_keys[] = {
	{ "rule",	1, 2, 0, svc_rule },
	{ "member",	1, 4, K_MULTI, svc_member },
	{ "depends",	1, 64, K_MULTI, svc_depends },
	{ "impact",	1, 1, 0, svc_impact },
	{ "sla",	1, 1, K_BLOCK | K_MULTI, svc_sla },
};

static void
g_service(struct build *b, void *obj, const struct conf_node *c)
{
	struct config		*cfg = obj;
	struct svc_build	 sb = { 0 };
	struct service		*s;
	size_t			 dup;

	if ((dup = nidx_find(&b->svc_names, c->args[0])) != SIZE_MAX) {
		char *first = fmt_pos(&cfg->services[dup].pos);

		conf_error(b->err, &c->argpos[0], "duplicate service '%s' (first at "
		    "%s)", c->args[0], first);
		free(first);
		return;
	}
	cfg->services = xgrowarray(cfg->services, cfg->nservices, sizeof(*cfg->services));
	s = &cfg->services[cfg->nservices++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(c->args[0]);
	s->pos = c->argpos[0];
	s->impact = 2;
	nidx_add(&b->svc_names, s->name, cfg->nservices - 1);
	check_name(b, "service", s->name, &c->argpos[0]);
	sb.s = s;
	walk(b, service_keys, sizeof(service_keys) / sizeof(service_keys[0]), c, &sb, NULL);
	if (s->nmembers == 0 && count_children(c, "depends") == 0)
		conf_error(b->err, &c->pos, "service '%s' has no 'member' and no 'depends'",
		    s->name);
	if (s->rule == SVC_AT_LEAST && s->at_least > 0 && (size_t)s->at_least > s->nmembers)
		conf_error(b->err, &sb.rule_node->argpos[1], "rule at-least %d: service '%s' "
		    "has only %zu member%s", s->at_least, s->name, s->nmembers,
		    s->nmembers == 1 ? "" : "s");
	if (sb.weights && s->rule != SVC_WEIGHTED)
		conf_error(b->err, &c->pos, "service '%s': member weights need 'rule "
		    "weighted PERCENT'", s->name);
}

static void
g_sla_interval(struct build *b, void *obj, const struct conf_node *c)
{
	get_interval(b, c, &((struct config *)obj)->sla_interval_ms);
}

static struct host *
find_host(struct build *b, const char *name)
{
	size_t	i = nidx_find(&b->host_names, name);

	return i != SIZE_MAX ? &b->cfg->hosts[i] : NULL;
}

/* DFS over depends: 1 while on the path, 2 when done.  Reports each loop once. */
static void
service_loops(struct build *b, size_t i, unsigned char *color,
    const struct conf_pos *const *const *dpos)
{
	struct service	*s = &b->cfg->services[i];

	color[i] = 1;
	for (size_t k = 0; k < s->ndepends; k++) {
		size_t	j = s->depends[k];

		if (color[j] == 1)
			conf_error(b->err, dpos[i][k], "service dependency loop: '%s' "
			    "depends on '%s', which depends on '%s' in turn", s->name,
			    b->cfg->services[j].name, s->name);
		else if (color[j] == 0)
			service_loops(b, j, color, dpos);
	}
	color[i] = 2;
}

/* Members name hosts and probes that exist; depends name services; no loops. */
static void
resolve_services(struct build *b)
{
	struct config		 *cfg = b->cfg;
	unsigned char		 *color;
	const struct conf_pos	***dpos;
	struct name_index	  sla_names = { 0 };
	const struct sla_def	**slas = NULL;	/* sla_names' indexes point here */
	size_t			  nslas = 0;

	for (size_t i = 0; i < cfg->nservices; i++)
		nslas += cfg->services[i].nslas;
	slas = xcalloc(nslas + 1, sizeof(*slas));
	nslas = 0;
	for (size_t i = 0; i < cfg->nservices; i++) {
		struct service	*s = &cfg->services[i];

		/* SLA incidents are filed under the service's name, as a CI */
		if (find_host(b, s->name) != NULL)
			conf_error(b->err, &s->pos, "service '%s' has the name of a host: SLA "
			    "incidents would be filed under that host", s->name);
		for (size_t k = 0; k < s->nmembers; k++) {
			struct service_member	*m = &s->members[k];
			struct host		*h = find_host(b, m->host);
			bool			 found = false;

			if (h == NULL) {
				conf_error(b->err, &m->pos, "service '%s': unknown host '%s'",
				    s->name, m->host);
				continue;
			}
			for (size_t p = 0; m->probe != NULL && p < h->nprobes; p++)
				found = found || strcmp(h->probes[p]->name, m->probe) == 0;
			if (m->probe != NULL && !found)
				conf_error(b->err, &m->probe_pos, "service '%s': host '%s' has no "
				    "probe '%s'", s->name, m->host, m->probe);
		}
		for (size_t k = 0; k < s->nslas; k++) {
			size_t		 first = nidx_find(&sla_names, s->slas[k].name);
			char		*fp;

			if (first == SIZE_MAX) {
				slas[nslas] = &s->slas[k];
				nidx_add(&sla_names, s->slas[k].name, nslas++);
				continue;
			}
			fp = fmt_pos(&slas[first]->pos);
			conf_error(b->err, &s->slas[k].pos, "duplicate sla '%s' (first at "
			    "%s): SLA names are unique across services", s->slas[k].name, fp);
			free(fp);
		}
	}
	nidx_free(&sla_names);
	free(slas);
	/* dpos[i][k]: where service i's k-th dependency was written */
	dpos = xcalloc(cfg->nservices + 1, sizeof(*dpos));
	for (size_t i = 0; i < b->npdep; i++) {
		struct pending_dep	*p = &b->pdep[i];
		struct service		*s = &cfg->services[p->svc];
		size_t			 j = nidx_find(&b->svc_names, p->name);

		if (j == SIZE_MAX) {
			conf_error(b->err, p->pos, "service '%s' depends on unknown service "
			    "'%s'", s->name, p->name);
			continue;
		}
		if (j == p->svc) {
			conf_error(b->err, p->pos, "service '%s' depends on itself", s->name);
			continue;
		}
		s->depends = xreallocarray(s->depends, s->ndepends + 1, sizeof(*s->depends));
		dpos[p->svc] = xreallocarray(dpos[p->svc], s->ndepends + 1, sizeof(**dpos));
		dpos[p->svc][s->ndepends] = p->pos;
		s->depends[s->ndepends++] = j;
	}
	color = xcalloc(cfg->nservices + 1, 1);
	for (size_t i = 0; i < cfg->nservices; i++)
		if (color[i] == 0)
			service_loops(b, i, color, (const struct conf_pos *const *const *)dpos);
	for (size_t i = 0; i < cfg->nservices; i++)
		free(dpos[i]);
	free(dpos);
	free(color);
	free(b->pdep);
	b->pdep = NULL;
	b->npdep = 0;
}

/* Templates and hosts are built after the whole global block is read, so
 * that `interval` may come after them and `use` may precede `template`. */
static void
g_template(struct build *b, void *obj, const struct conf_node *c)
{
	(void)obj;
	b->tmpl_nodes[b->ntmpl_nodes++] = c;
}

static void
g_host(struct build *b, void *obj, const struct conf_node *c)
{
	(void)obj;
	b->host_nodes[b->nhost_nodes++] = c;
}

static const struct conf_key global_keys[] = {
	{ "database",	1, 1, 0, g_database },
	{ "secrets",	1, 1, 0, g_secrets },
	{ "mib-dirs",	1, 8, 0, g_mib_dirs },
	{ "http-max-per-origin", 1, 1, 0, g_http_max_per_origin },
	{ "rrd-dir",	1, 1, 0, g_rrd_dir },
	{ "rrdcached",	1, 1, 0, g_rrdcached },
	{ "rrd-write-delay", 1, 1, 0, g_rrd_write_delay },
	{ "user",	1, 1, 0, g_user },
	{ "pidfile",	1, 1, 0, g_pidfile },
	{ "log-level",	1, 1, 0, g_log_level },
	{ "interval",	1, 1, 0, g_interval },
	{ "reopen-window", 1, 1, 0, g_reopen_window },
	{ "problem-after", 1, 3, 0, g_problem_after },
	{ "spool-dir",	1, 1, 0, g_spool_dir },
	{ "spool-max-size", 1, 1, 0, g_spool_max_size },
	{ "receiver",	1, 1, K_BLOCK | K_MULTI, g_receiver },
	{ "timeout",	1, 1, 0, g_timeout },
	{ "template",	1, 1, K_BLOCK | K_MULTI, g_template },
	{ "host",	1, 1, K_BLOCK | K_MULTI, g_host },
	{ "settle",	1, 1, 0, g_settle },
	{ "priority-matrix", 0, 0, K_BLOCK, g_priority_matrix },
	{ "maintenance", 1, 1, K_BLOCK | K_MULTI, g_maintenance },
	{ "listen",	1, 1, 0, g_listen },
	{ "capacity-every", 1, 1, 0, g_capacity_time },
	{ "capacity-window", 1, 1, 0, g_capacity_time },
	{ "capacity-horizon", 1, 1, 0, g_capacity_time },
	{ "service",	1, 1, K_BLOCK | K_MULTI, g_service },
	{ "sla-interval", 1, 1, 0, g_sla_interval },
	{ "rrd",	0, 0, K_BLOCK, g_rrd },
};

/* ------------------------------------------------------------ probes */

/* A threshold as written, resolved against the metrics after finish(). */
struct pending_threshold {
	const struct conf_node	*node;
	enum severity		 sev;
	const char		*metric;	/* NULL: the first metric */
	const struct conf_pos	*mpos;
	enum cmp_op		 op;
	double			 limit;
	bool			 has_recover;
	enum cmp_op		 recover_op;
	double			 recover_limit;
	bool			 of_max;	/* `capacity ... of-speed` */
};

struct probe_build {
	struct probe_def		*def;
	struct buf			 kind_text;	/* the kind's directives */
	struct pending_threshold	*th;
	size_t				 nth;
	struct pending_threshold	*cap;		/* `capacity`: op unused */
	size_t				 ncap;
	const struct conf_node		*interval_node, *timeout_node;
	const struct conf_node		*flap_node;	/* the last flap-low/-high */
	const struct conf_node		*rrd_node;	/* `rrd { }`, for its bounds lines */
};

static void
p_interval(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	uint64_t		 ms;

	if (!get_interval(b, c, &ms))
		return;
	pb->def->interval_ms = ms;
	pb->interval_node = c;
}

static void
p_timeout(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	uint64_t		 ms;

	if (!get_duration(b, c, &ms))
		return;
	if (ms == 0) {
		conf_error(b->err, &c->argpos[0], "bad duration '%s' for "
		    "'timeout': must be more than 0", c->args[0]);
		return;
	}
	pb->def->timeout_ms = ms;
	pb->timeout_node = c;
}

static void
p_fail_after(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	long			 n;

	if (get_int(b, c, 1, 1000, &n))
		pb->def->fail_after = (int)n;
}

static const struct {
	const char	*text;
	enum cmp_op	 op;
} cmp_ops[] = {
	{ ">", CMP_GT }, { ">=", CMP_GE }, { "<", CMP_LT }, { "<=", CMP_LE },
	{ "==", CMP_EQ }, { "!=", CMP_NE },
};

static const char *
cmp_text(enum cmp_op op)
{
	size_t	i;

	for (i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++)
		if (cmp_ops[i].op == op)
			return cmp_ops[i].text;
	return "?";
}

/* `OP VALUE` at args[a], args[a + 1]. */
static bool
get_cmp(struct build *b, const struct conf_node *c, size_t a, enum cmp_op *op,
    double *limit)
{
	size_t		 i;
	const char	*why;

	for (i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++)
		if (strcmp(cmp_ops[i].text, c->args[a]) == 0)
			break;
	if (i == sizeof(cmp_ops) / sizeof(cmp_ops[0])) {
		conf_error(b->err, &c->argpos[a], "bad operator '%s' for '%s' "
		    "(use >, >=, <, <=, == or !=)", c->args[a], c->name);
		return false;
	}
	*op = cmp_ops[i].op;
	if (conf_number(c->args[a + 1], limit, &why) == -1) {
		conf_error(b->err, &c->argpos[a + 1], "bad value '%s' for '%s': %s",
		    c->args[a + 1], c->name, why);
		return false;
	}
	return true;
}

/*
 * Some value must be out of the breach and meet the recovery condition,
 * or a breach would stick forever.  With one comparison each, the answer
 * is at one of the two limits, just beside them, or far out.
 */
static bool
can_recover(const struct pending_threshold *p)
{
	struct threshold	hit = { .op = p->op, .limit = p->limit };
	struct threshold	rec = { .op = p->recover_op, .limit = p->recover_limit };
	double			v[10], e;
	size_t			n = 0;

	for (int k = 0; k < 2; k++) {
		double l = k ? p->recover_limit : p->limit;

		e = (l < 0 ? -l : l) * 1e-9 + 1e-9;
		v[n++] = l;
		v[n++] = l - e;
		v[n++] = l + e;
	}
	v[n++] = -1e300;
	v[n++] = 1e300;
	for (size_t i = 0; i < n; i++)
		if (!threshold_hit(&hit, v[i]) && threshold_hit(&rec, v[i]))
			return true;
	return false;
}

/*
 * `warning|critical [METRIC] OP VALUE [recover OP VALUE]`; the metric is
 * resolved later.
 */
static void
p_threshold(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build		*pb = obj;
	struct pending_threshold	 t;
	size_t				 a = 0, n = c->nargs;

	memset(&t, 0, sizeof(t));
	t.node = c;
	t.sev = strcmp(c->name, "warning") == 0 ? SEV_WARNING : SEV_CRITICAL;
	if (n >= 5 && strcmp(c->args[n - 3], "recover") == 0) {
		if (!get_cmp(b, c, n - 2, &t.recover_op, &t.recover_limit))
			return;
		t.has_recover = true;
		n -= 3;
	}
	if (n < 2 || n > 3) {
		conf_error(b->err, &c->pos, "'%s' takes [METRIC] OP VALUE "
		    "[recover OP VALUE]", c->name);
		return;
	}
	if (n == 3) {
		t.metric = c->args[0];
		t.mpos = &c->argpos[0];
		a = 1;
	}
	if (!get_cmp(b, c, a, &t.op, &t.limit))
		return;
	if (t.has_recover && !can_recover(&t)) {
		conf_error(b->err, &c->argpos[c->nargs - 2], "'recover %s %s' leaves no "
		    "value outside '%s %s': it would never recover",
		    c->args[c->nargs - 2], c->args[c->nargs - 1], c->args[a],
		    c->args[a + 1]);
		return;
	}
	pb->th[pb->nth++] = t;
}

/* How often a soft (bad, not yet hard) check is tried again. */
static void
p_retry_interval(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	uint64_t		 ms;

	if (!get_interval(b, c, &ms))
		return;
	pb->def->retry_ms = ms;
}

/* flap-low / flap-high: percent state change; flap-high 0% turns detection off. */
static void
p_flap(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	const char		*why;
	double			 pct;

	if (conf_percent(c->args[0], &pct, &why) == -1 || pct < 0 || pct > 100) {
		conf_error(b->err, &c->argpos[0], "bad percentage '%s' for '%s': %s",
		    c->args[0], c->name, pct < 0 || pct > 100 ? "0% to 100%" : why);
		return;
	}
	if (strcmp(c->name, "flap-low") == 0)
		pb->def->flap_low = pct;
	else
		pb->def->flap_high = pct;
	pb->flap_node = c;
}

/* `capacity [METRIC] LIMIT`: capacity.c forecasts when LIMIT is reached. */
static void
p_capacity(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build		*pb = obj;
	struct pending_threshold	 t;
	const char			*why;

	size_t				 n = c->nargs;

	memset(&t, 0, sizeof(t));
	t.node = c;
	/* `... 80% of-speed`: a share of the file's maximum (the link speed) */
	if (n >= 2 && (strcmp(c->args[n - 1], "of-speed") == 0 ||
	    strcmp(c->args[n - 1], "of-max") == 0)) {
		t.of_max = true;
		n--;
	} else if (n == 3) {
		conf_error(b->err, &c->argpos[2], "bad word '%s' for 'capacity': write "
		    "`capacity [METRIC] LIMIT [of-speed]`", c->args[2]);
		return;
	}
	if (n == 2) {
		t.metric = c->args[0];
		t.mpos = &c->argpos[0];
	}
	if (t.of_max) {
		if (conf_percent(c->args[n - 1], &t.limit, &why) == -1 || t.limit <= 0 ||
		    t.limit > 100) {
			conf_error(b->err, &c->argpos[n - 1], "bad value '%s' for 'capacity "
			    "... %s': a percentage above 0%% and at most 100%%", c->args[n - 1],
			    c->args[c->nargs - 1]);
			return;
		}
	} else if (conf_number(c->args[n - 1], &t.limit, &why) == -1) {
		conf_error(b->err, &c->argpos[n - 1], "bad value '%s' for "
		    "'capacity': %s", c->args[n - 1], why);
		return;
	}
	pb->cap[pb->ncap++] = t;
}

/* `rrd { }` in a probe: its files' layout; `bounds` lines wait for finish() */
static void
p_rrd(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;

	pb->rrd_node = c;
	pb->def->rrd = rrdl_parse(c, true, b->err);
}

/* `bounds METRIC MIN MAX` (U: unbounded) over what the unit implies. */
static bool
resolve_bounds(struct build *b, struct probe_build *pb)
{
	struct probe_def	*def = pb->def;
	bool			 ok = true;

	for (size_t i = 0; i < def->nmetrics; i++)
		rrdl_metric_bounds(&def->metrics[i]);
	for (size_t i = 0; pb->rrd_node != NULL && i < pb->rrd_node->nchildren; i++) {
		const struct conf_node	*c = &pb->rrd_node->children[i];
		double			 v[2];
		size_t			 m;
		const char		*why;

		if (strcmp(c->name, "bounds") != 0)
			continue;
		if (c->nargs != 3) {
			conf_error(b->err, &c->pos, "'bounds' takes METRIC MIN MAX (U for none)");
			ok = false;
			continue;
		}
		for (m = 0; m < def->nmetrics; m++)
			if (strcmp(def->metrics[m].name, c->args[0]) == 0)
				break;
		if (m == def->nmetrics) {
			conf_error(b->err, &c->argpos[0], "unknown metric '%s' in probe '%s'",
			    c->args[0], def->name);
			ok = false;
			continue;
		}
		for (size_t a = 0; a < 2; a++) {
			if (strcmp(c->args[1 + a], "U") == 0)
				v[a] = NAN;
			else if (conf_number(c->args[1 + a], &v[a], &why) == -1) {
				conf_error(b->err, &c->argpos[1 + a], "bad bound '%s': %s",
				    c->args[1 + a], why);
				ok = false;
				v[a] = NAN;
			}
		}
		if (!isnan(v[0]) && !isnan(v[1]) && v[0] >= v[1]) {
			conf_error(b->err, &c->pos, "bounds of '%s': minimum %g is not below "
			    "maximum %g", c->args[0], v[0], v[1]);
			ok = false;
			continue;
		}
		def->metrics[m].has_min = !isnan(v[0]);
		def->metrics[m].min = v[0];
		def->metrics[m].has_max = !isnan(v[1]);
		def->metrics[m].max = v[1];
	}
	return ok;
}

static const struct conf_key probe_keys[] = {
	{ "interval",	1, 1, 0, p_interval },
	{ "timeout",	1, 1, 0, p_timeout },
	{ "fail-after",	1, 1, 0, p_fail_after },
	{ "warning",	2, 6, K_MULTI, p_threshold },
	{ "critical",	2, 6, K_MULTI, p_threshold },
	{ "retry-interval", 1, 1, 0, p_retry_interval },
	{ "flap-low",	1, 1, 0, p_flap },
	{ "flap-high",	1, 1, 0, p_flap },
	{ "capacity",	1, 3, K_MULTI, p_capacity },
	{ "rrd",	0, 0, K_BLOCK, p_rrd },
};

/* Keys outside the common table belong to the probe's kind. */
static bool
p_other(struct build *b, void *obj, const struct conf_node *c)
{
	struct probe_build	*pb = obj;
	struct probe_def	*def = pb->def;
	size_t			 i;

	if (c->block) {
		conf_error(b->err, &c->pos, "'%s' takes no block", c->name);
		return true;
	}
	switch (def->ops->parse(def, c, b->err)) {
	case 0:
		buf_add(&pb->kind_text, "%s", c->name);
		for (i = 0; i < c->nargs; i++)
			buf_quoted(&pb->kind_text, c->args[i]);
		buf_add(&pb->kind_text, "\n");
		return true;
	case 1:
		conf_error(b->err, &c->pos, "unknown key '%s' in %s probe '%s'",
		    c->name, def->ops->name, def->name);
		return true;
	default:
		return true;
	}
}

static bool
resolve_capacity(struct build *b, struct probe_build *pb)
{
	struct probe_def	*def = pb->def;
	bool			 ok = true;

	def->capacity = xcalloc(pb->ncap ? pb->ncap : 1, sizeof(*def->capacity));
	for (size_t i = 0; i < pb->ncap; i++) {
		struct pending_threshold *p = &pb->cap[i];
		size_t m = 0;

		if (def->nmetrics == 0) {
			conf_error(b->err, &p->node->pos, "probe '%s' has no "
			    "metrics for a capacity limit", def->name);
			ok = false;
			continue;
		}
		if (p->metric != NULL) {
			for (m = 0; m < def->nmetrics; m++)
				if (strcmp(def->metrics[m].name, p->metric) == 0)
					break;
			if (m == def->nmetrics) {
				conf_error(b->err, p->mpos, "unknown metric '%s' "
				    "in probe '%s'", p->metric, def->name);
				ok = false;
				continue;
			}
		}
		def->capacity[def->ncapacity].metric = m;
		def->capacity[def->ncapacity].limit = p->limit;
		def->capacity[def->ncapacity].of_max = p->of_max;
		def->capacity[def->ncapacity++].pos = p->node->pos;
	}
	return ok;
}

static bool
resolve_thresholds(struct build *b, struct probe_build *pb)
{
	struct probe_def		*def = pb->def;
	struct pending_threshold	*p;
	struct threshold		*t;
	struct buf			 has = { NULL, 0, 0 };
	size_t				 i, m;
	bool				 ok = true;

	def->thresholds = xcalloc(pb->nth, sizeof(*def->thresholds));
	for (i = 0; i < pb->nth; i++) {
		p = &pb->th[i];
		if (def->nmetrics == 0) {
			conf_error(b->err, &p->node->pos, "probe '%s' has no "
			    "metrics to compare", def->name);
			ok = false;
			continue;
		}
		m = 0;
		if (p->metric != NULL) {
			for (m = 0; m < def->nmetrics; m++)
				if (strcmp(def->metrics[m].name, p->metric) == 0)
					break;
			if (m == def->nmetrics) {
				if (has.s == NULL)
					for (size_t k = 0; k < def->nmetrics; k++)
						buf_add(&has, "%s%s", k ? ", " : "",
						    def->metrics[k].name);
				conf_error(b->err, p->mpos, "unknown metric '%s' "
				    "in probe '%s' (has: %s)", p->metric,
				    def->name, has.s);
				ok = false;
				continue;
			}
		}
		t = &def->thresholds[def->nthresholds++];
		t->sev = p->sev;
		t->metric = m;
		t->op = p->op;
		t->limit = p->limit;
		t->has_recover = p->has_recover;
		t->recover_op = p->recover_op;
		t->recover_limit = p->recover_limit;
		t->pos = p->node->pos;
	}
	free(has.s);
	return ok;
}

/*
 * The fingerprint says everything that decides what a run does and how it
 * is judged, in one canonical form: effective timing (so a changed global
 * default counts), the kind's directives as written, then the resolved
 * thresholds.  It may hold secrets (a url's password): never log it.
 */
static void
make_fingerprint(struct probe_build *pb)
{
	struct probe_def	*def = pb->def;
	struct buf		 fp = { NULL, 0, 0 };
	size_t			 i;

	buf_add(&fp, "kind %s\ninterval %llu\ntimeout %llu\nfail-after %d\n",
	    def->ops->name, (unsigned long long)def->interval_ms,
	    (unsigned long long)def->timeout_ms, def->fail_after);
	if (pb->kind_text.s != NULL)
		buf_add(&fp, "%s", pb->kind_text.s);
	for (i = 0; i < def->nthresholds; i++) {
		buf_add(&fp, "%s %s %s %.17g",
		    def->thresholds[i].sev == SEV_WARNING ? "warning" :
		    "critical", def->metrics[def->thresholds[i].metric].name,
		    cmp_text(def->thresholds[i].op), def->thresholds[i].limit);
		if (def->thresholds[i].has_recover)
			buf_add(&fp, " recover %s %.17g",
			    cmp_text(def->thresholds[i].recover_op),
			    def->thresholds[i].recover_limit);
		buf_add(&fp, "\n");
	}
	buf_add(&fp, "retry-interval %llu\nflap %.17g %.17g\n",
	    (unsigned long long)def->retry_ms, def->flap_low, def->flap_high);
	def->fingerprint = fp.s;
}

/* `probe NAME KIND { ... }` into *def (zeroed), in a template or a host. */
static void
build_probe(struct build *b, struct probe_def *def, const struct conf_node *c)
{
	struct probe_build	 pb;
	struct buf		 kinds = { NULL, 0, 0 };
	char			 ib[32], tb[32];
	size_t			 i;
	bool			 ok = true;

	def->name = xstrdup(c->args[0]);
	def->pos = c->pos;
	def->interval_ms = b->cfg->default_interval_ms;
	def->timeout_ms = b->cfg->default_timeout_ms;
	def->fail_after = 1;
	def->flap_low = DEFAULT_FLAP_LOW;
	def->flap_high = DEFAULT_FLAP_HIGH;
	check_name(b, "probe", def->name, &c->argpos[0]);
	if ((def->ops = probe_lookup(c->args[1])) == NULL) {
		const struct probe_ops *k;
		for (i = 0; (k = probe_kind(i)) != NULL; i++)
			buf_add(&kinds, "%s%s", kinds.s ? ", " : "", k->name);
		conf_error(b->err, &c->argpos[1], "unknown probe kind '%s' "
		    "(known: %s)", c->args[1], kinds.s ? kinds.s : "none");
		free(kinds.s);
		return;
	}

	memset(&pb, 0, sizeof(pb));
	pb.def = def;
	pb.th = xcalloc(count_children(c, "warning") +
	    count_children(c, "critical"), sizeof(*pb.th));
	pb.cap = xcalloc(count_children(c, "capacity") + 1, sizeof(*pb.cap));
	walk(b, probe_keys, sizeof(probe_keys) / sizeof(probe_keys[0]), c, &pb,
	    p_other);

	if (pb.flap_node != NULL && def->flap_high > 0 && def->flap_low > def->flap_high) {
		conf_error(b->err, &pb.flap_node->pos, "flap-low %g%% is above flap-high "
		    "%g%% in probe '%s'", def->flap_low, def->flap_high, def->name);
		ok = false;
	}
	/* As globally: a timeout nobody wrote shrinks to fit the interval. */
	if (pb.timeout_node == NULL && b->timeout_node == NULL &&
	    def->timeout_ms > def->interval_ms)
		def->timeout_ms = def->interval_ms;
	/* With both inherited, the global check has already spoken. */
	if ((pb.interval_node != NULL || pb.timeout_node != NULL ||
	    b->defaults_ok) && def->timeout_ms > def->interval_ms) {
		fmt_duration(def->timeout_ms, tb, sizeof(tb));
		fmt_duration(def->interval_ms, ib, sizeof(ib));
		conf_error(b->err, pb.timeout_node ? &pb.timeout_node->pos :
		    pb.interval_node ? &pb.interval_node->pos : &c->pos,
		    "timeout %s is longer than interval %s in probe '%s'",
		    tb, ib, def->name);
		ok = false;
	}
	if (def->ops->finish(def, b->err) == -1)
		ok = false;
	else {
		for (i = 0; i < def->nmetrics; i++)
			if (!check_name(b, "metric", def->metrics[i].name,
			    &def->metrics[i].pos))
				ok = false;
		if (!resolve_thresholds(b, &pb))
			ok = false;
		if (!resolve_capacity(b, &pb))
			ok = false;
		if (!resolve_bounds(b, &pb))
			ok = false;
	}
	if (ok)
		make_fingerprint(&pb);
	free(pb.kind_text.s);
	free(pb.th);
	free(pb.cap);
}

static void
probe_def_free(struct probe_def *def)
{
	size_t	i;

	if (def->ops != NULL && def->ops->free_def != NULL)
		def->ops->free_def(def);
	for (i = 0; i < def->nmetrics; i++) {
		free(def->metrics[i].name);
		free(def->metrics[i].unit);
	}
	free(def->metrics);
	free(def->thresholds);
	free(def->capacity);
	free(def->name);
	free(def->fingerprint);
}

/* ------------------------------------------------------------ templates */

static void
t_probe(struct build *b, void *obj, const struct conf_node *c)
{
	struct template	*t = obj;

	build_probe(b, &t->probes[t->nprobes++], c);
}

/* `rrd { }` in a template: parsed by build_template once its probes exist */
static void
t_rrd(struct build *b, void *obj, const struct conf_node *c)
{
	(void)b;
	(void)obj;
	(void)c;
}

static const struct conf_key template_keys[] = {
	{ "probe",	2, 2, K_BLOCK | K_MULTI, t_probe },
	{ "rrd",	0, 0, K_BLOCK, t_rrd },
};

static void
build_template(struct build *b, struct template *t, const struct conf_node *c)
{
	t->name = xstrdup(c->args[0]);
	t->pos = c->pos;
	check_name(b, "template", t->name, &c->argpos[0]);
	t->probes = xcalloc(count_children(c, "probe"), sizeof(*t->probes));
	walk(b, template_keys, sizeof(template_keys) / sizeof(template_keys[0]),
	    c, t, NULL);
	/* The template's layout for its probes that have none of their own. */
	for (size_t i = 0; i < c->nchildren; i++)
		if (strcmp(c->children[i].name, "rrd") == 0 && c->children[i].block) {
			const struct rrd_layout *l = rrdl_parse(&c->children[i], false, b->err);
			for (size_t j = 0; l != NULL && j < t->nprobes; j++)
				if (t->probes[j].rrd == NULL)
					t->probes[j].rrd = l;
		}
}

/* ------------------------------------------------------------ hosts */

struct host_build {
	struct host		 *host;
	const struct template	**uses;
	const struct conf_node	**use_nodes;
	size_t			  nuses;
	bool			  have_address;
	const struct conf_node	 *avail_node;
};

static void
h_address(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;

	hb->have_address = true;
	if (nonempty(b, c))
		hb->host->address = xstrdup(c->args[0]);
}

static void
h_snmp_version(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;

	if (strcmp(c->args[0], "1") == 0)
		hb->host->snmp.version = 1;
	else if (strcmp(c->args[0], "2c") == 0 || strcmp(c->args[0], "2") == 0)
		hb->host->snmp.version = 2;
	else if (strcmp(c->args[0], "3") == 0)
		hb->host->snmp.version = 3;
	else
		conf_error(b->err, &c->argpos[0], "bad snmp-version '%s': use 1, "
		    "2c or 3", c->args[0]);
}

/* One of a fixed set of words, or an error listing them. */
static bool
one_of(struct build *b, const struct conf_node *c, const char *const *words,
    int *idx)
{
	struct buf	list = { NULL, 0, 0 };

	for (int i = 0; words[i] != NULL; i++)
		if (strcasecmp(c->args[0], words[i]) == 0) {
			*idx = i;
			return true;
		}
	for (int i = 0; words[i] != NULL; i++)
		buf_add(&list, "%s%s", i ? ", " : "", words[i]);
	conf_error(b->err, &c->argpos[0], "bad %s '%s': use one of %s", c->name,
	    c->args[0], list.s);
	free(list.s);
	return false;
}

static const char *const snmp_levels[] = {
	"noAuthNoPriv", "authNoPriv", "authPriv", NULL
};
static const char *const snmp_auth_protos[] = {
	"MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512", NULL
};
static const char *const snmp_priv_protos[] = {
	"DES", "AES", "AES-128", "AES-192", "AES-256", NULL
};

static void
h_snmp_user(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;

	if (nonempty(b, c))
		hb->host->snmp.user = xstrdup(c->args[0]);
}

static void
h_snmp_level(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	int			 i;

	if (one_of(b, c, snmp_levels, &i))
		hb->host->snmp.level = i + 1;
}

static void
h_snmp_auth_proto(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	int			 i;

	if (one_of(b, c, snmp_auth_protos, &i))
		hb->host->snmp.auth_proto = xstrdup(snmp_auth_protos[i]);
}

static void
h_snmp_priv_proto(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	int			 i;

	if (one_of(b, c, snmp_priv_protos, &i))
		hb->host->snmp.priv_proto = xstrdup(snmp_priv_protos[i]);
}

/* RFC 3414 passphrases: net-snmp refuses fewer than 8 characters. */
static void
h_snmp_key(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	const char		*v;
	char			**to;

	to = strcmp(c->name, "snmp-auth-key") == 0 ? &hb->host->snmp.auth_key :
	    &hb->host->snmp.priv_key;
	if ((v = conf_secret(c->args[0], &c->argpos[0], b->err)) == NULL)
		return;
	if (strlen(v) < 8) {
		conf_error(b->err, &c->argpos[0], "'%s' must be at least 8 "
		    "characters long", c->name);
		return;
	}
	*to = xstrdup(v);
}

static void
h_snmp_context(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;

	(void)b;
	hb->host->snmp.context = xstrdup(c->args[0]);
}

/*
 * v3 settings agree with each other: the level defaults to what the keys
 * allow, and a level names the keys it needs.  Reported at the host.
 */
static void
snmp_v3_check(struct build *b, struct host *h, const struct conf_node *c)
{
	struct snmp_auth	*a = &h->snmp;

	if (a->version != 3) {
		if (a->user || a->level || a->auth_key || a->priv_key ||
		    a->auth_proto || a->priv_proto || a->context)
			conf_error(b->err, &c->pos, "host '%s': snmp-user and the "
			    "other SNMPv3 keys need 'snmp-version 3'", h->name);
		return;
	}
	if (a->user == NULL)
		conf_error(b->err, &c->pos, "host '%s': SNMPv3 needs 'snmp-user'",
		    h->name);
	if (a->level == 0)
		a->level = a->priv_key ? 3 : a->auth_key ? 2 : 1;
	if (a->level >= 2 && a->auth_key == NULL)
		conf_error(b->err, &c->pos, "host '%s': security level %s needs "
		    "'snmp-auth-key'", h->name, snmp_levels[a->level - 1]);
	if (a->level == 3 && a->priv_key == NULL)
		conf_error(b->err, &c->pos, "host '%s': security level authPriv "
		    "needs 'snmp-priv-key'", h->name);
	if (a->level < 3 && a->priv_key != NULL)
		conf_error(b->err, &c->pos, "host '%s': 'snmp-priv-key' needs "
		    "security level authPriv (not %s)", h->name,
		    snmp_levels[a->level - 1]);
	if (a->level < 2 && a->auth_key != NULL)
		conf_error(b->err, &c->pos, "host '%s': 'snmp-auth-key' needs "
		    "security level authNoPriv or authPriv", h->name);
	if (a->auth_proto == NULL)
		a->auth_proto = xstrdup("SHA");
	if (a->priv_proto == NULL)
		a->priv_proto = xstrdup("AES");
}

static void
h_community(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	const char		*v;

	/* A secret: errors name the key, never the value. */
	if ((v = conf_secret(c->args[0], &c->argpos[0], b->err)) == NULL)
		return;
	if (v[0] == '\0') {
		conf_error(b->err, &c->argpos[0], "'community' must not be empty");
		return;
	}
	hb->host->snmp.community = xstrdup(v);
}

static void
h_snmp_port(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	long			 n;

	if (get_int(b, c, 1, 65535, &n))
		hb->host->snmp.port = (unsigned)n;
}

static void
h_snmp_retries(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	long			 n;

	if (get_int(b, c, 0, 10, &n))
		hb->host->snmp.retries = (int)n;
}

/* PDUs out at once to this host's agent (probes/snmp.c queues the rest) */
static void
h_snmp_max_inflight(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	long			 n;

	if (get_int(b, c, 1, 1000, &n))
		hb->host->snmp.max_inflight = (int)n;
}

static void
h_use(struct build *b, void *obj, const struct conf_node *c)
{
	struct host_build	*hb = obj;
	const struct template	*t = NULL;
	size_t			 i;
	char			*first;

	for (i = 0; i < b->cfg->ntemplates; i++)
		if (strcmp(b->cfg->templates[i].name, c->args[0]) == 0) {
			t = &b->cfg->templates[i];
			break;
		}
	if (t == NULL) {
		conf_error(b->err, &c->argpos[0], "unknown template '%s'",
		    c->args[0]);
		return;
	}
	for (i = 0; i < hb->nuses; i++)
		if (hb->uses[i] == t) {
			first = fmt_pos(&hb->use_nodes[i]->pos);
			conf_error(b->err, &c->pos, "template '%s' is already "
			    "used (at %s)", t->name, first);
			free(first);
			return;
		}
	hb->uses[hb->nuses] = t;
	hb->use_nodes[hb->nuses++] = c;
}

static void
h_probe(struct build *b, void *obj, const struct conf_node *c)
{
	struct host	*h = ((struct host_build *)obj)->host;

	build_probe(b, &h->own_probes[h->nown++], c);
}

/* Resolved after every host is built: a parent may be written later. */
static void
h_parent(struct build *b, void *obj, const struct conf_node *c)
{
	struct host	*h = ((struct host_build *)obj)->host;

	b->pp = xgrowarray(b->pp, b->npp, sizeof(*b->pp));
	b->pp[b->npp++] = (struct pending_parent){ h, c->args[0], &c->argpos[0], NULL };
}

static void
h_impact(struct build *b, void *obj, const struct conf_node *c)
{
	struct host	*h = ((struct host_build *)obj)->host;
	long		 n;

	if (get_int(b, c, 1, 3, &n))
		h->impact = (int)n;
}

static void
h_tag(struct build *b, void *obj, const struct conf_node *c)
{
	struct host	*h = ((struct host_build *)obj)->host;

	for (size_t i = 0; i < c->nargs; i++)
		if (!check_name(b, "tag", c->args[i], &c->argpos[i]))
			return;
	h->tags = strv(c, h->tags, &h->ntags);
}

static void
h_availability(struct build *b, void *obj, const struct conf_node *c)
{
	(void)b;
	((struct host_build *)obj)->avail_node = c;
}

/* `rrd { }` in a host: the layout of its probes that have none closer */
static void
h_rrd(struct build *b, void *obj, const struct conf_node *c)
{
	((struct host_build *)obj)->host->rrd = rrdl_parse(c, false, b->err);
}

static const struct conf_key host_keys[] = {
	{ "address",		1, 1, 0, h_address },
	{ "snmp-version",	1, 1, 0, h_snmp_version },
	{ "community",		1, 1, 0, h_community },
	{ "snmp-port",		1, 1, 0, h_snmp_port },
	{ "snmp-retries",	1, 1, 0, h_snmp_retries },
	{ "snmp-user",		1, 1, 0, h_snmp_user },
	{ "snmp-security-level", 1, 1, 0, h_snmp_level },
	{ "snmp-auth-protocol",	1, 1, 0, h_snmp_auth_proto },
	{ "snmp-auth-key",	1, 1, 0, h_snmp_key },
	{ "snmp-priv-protocol",	1, 1, 0, h_snmp_priv_proto },
	{ "snmp-priv-key",	1, 1, 0, h_snmp_key },
	{ "snmp-context",	1, 1, 0, h_snmp_context },
	{ "snmp-max-inflight",	1, 1, 0, h_snmp_max_inflight },
	{ "use",		1, 1, K_MULTI, h_use },
	{ "probe",		2, 2, K_BLOCK | K_MULTI, h_probe },
	{ "parent",		1, 1, K_MULTI, h_parent },
	{ "impact",		1, 1, 0, h_impact },
	{ "tag",		1, 16, K_MULTI, h_tag },
	{ "availability",	1, 1, 0, h_availability },
	{ "rrd",		0, 0, K_BLOCK, h_rrd },
};

/* Adds def to the host's list unless its name is taken; reports at `at`. */
static void
host_add_probe(struct build *b, struct host *h, struct probe_def *def,
    const struct conf_pos *at, const char *from)
{
	size_t	 i;
	char	*first;

	for (i = 0; i < h->nprobes; i++)
		if (strcmp(h->probes[i]->name, def->name) == 0) {
			first = fmt_pos(&h->probes[i]->pos);
			if (from != NULL)
				conf_error(b->err, at, "duplicate probe '%s' from "
				    "template '%s' (first at %s)", def->name,
				    from, first);
			else
				conf_error(b->err, at, "duplicate probe '%s' "
				    "(first at %s)", def->name, first);
			free(first);
			return;
		}
	h->probes[h->nprobes++] = def;
}

static void
build_host(struct build *b, struct host *h, const struct conf_node *c)
{
	struct host_build	 hb;
	size_t			 i, j, n;

	memset(&hb, 0, sizeof(hb));
	hb.host = h;
	h->name = xstrdup(c->args[0]);
	h->pos = c->pos;
	h->snmp.version = 2;
	h->snmp.port = 161;
	h->snmp.retries = 1;
	h->impact = 0;		/* unset: derived in resolve_parents() */
	check_name(b, "host", h->name, &c->argpos[0]);
	h->own_probes = xcalloc(count_children(c, "probe"),
	    sizeof(*h->own_probes));
	n = count_children(c, "use");
	hb.uses = xcalloc(n, sizeof(*hb.uses));
	hb.use_nodes = xcalloc(n, sizeof(*hb.use_nodes));
	walk(b, host_keys, sizeof(host_keys) / sizeof(host_keys[0]), c, &hb,
	    NULL);
	if (h->rrd == NULL)
		h->rrd = b->cfg->rrd != NULL ? b->cfg->rrd : rrdl_default();
	if (!hb.have_address)
		conf_error(b->err, &c->pos, "host '%s' has no 'address'",
		    h->name);
	snmp_v3_check(b, h, c);

	/* Template probes first, in `use` order, then the host's own. */
	n = h->nown;
	for (i = 0; i < hb.nuses; i++)
		n += hb.uses[i]->nprobes;
	h->probes = xcalloc(n, sizeof(*h->probes));
	for (i = 0; i < hb.nuses; i++)
		for (j = 0; j < hb.uses[i]->nprobes; j++)
			host_add_probe(b, h, &hb.uses[i]->probes[j],
			    &hb.use_nodes[i]->pos, hb.uses[i]->name);
	for (i = 0; i < h->nown; i++)
		host_add_probe(b, h, &h->own_probes[i], &h->own_probes[i].pos,
		    NULL);

	for (i = 0; i < h->nprobes; i++)
		if (h->probes[i]->ops == &snmp_probe_ops &&
		    h->snmp.version != 3 && h->snmp.community == NULL) {
			conf_error(b->err, &c->pos, "host '%s': snmp probe '%s' "
			    "needs a community", h->name, h->probes[i]->name);
			break;
		}
	/* The availability check: named, or the host's first probe. */
	if (hb.avail_node != NULL) {
		for (i = 0; i < h->nprobes; i++)
			if (strcmp(h->probes[i]->name, hb.avail_node->args[0]) == 0)
				h->avail = h->probes[i];
		if (h->avail == NULL)
			conf_error(b->err, &hb.avail_node->argpos[0], "host '%s' has no "
			    "probe '%s' for 'availability'", h->name,
			    hb.avail_node->args[0]);
	} else if (h->nprobes > 0)
		h->avail = h->probes[0];
	else {
		/* A host with no probe (a router that is only a parent, say) is
		 * still watched: ICMP echo is its availability check. */
		h->own_probes = xreallocarray(h->own_probes, 1, sizeof(*h->own_probes));
		icmp_availability_def(&h->own_probes[0], "ping", b->cfg->default_interval_ms,
		    b->cfg->default_timeout_ms, &c->pos);
		for (size_t m = 0; m < h->own_probes[0].nmetrics; m++)
			rrdl_metric_bounds(&h->own_probes[0].metrics[m]);	/* loss 0..100% */
		h->nown = 1;
		h->probes = xreallocarray(h->probes, 1, sizeof(*h->probes));
		h->probes[0] = &h->own_probes[0];
		h->nprobes = 1;
		h->avail = h->probes[0];
	}
	free(hb.uses);
	free(hb.use_nodes);
}

/* ------------------------------------------------------------ config */

struct named {
	const char		*name;
	const struct conf_pos	*pos;
	size_t			 idx;
};

static int
named_cmp(const void *a, const void *b)
{
	const struct named	*x = a, *y = b;
	int			 c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Reports every later twin of a name, at the twin, naming the first.
 * Sorting keeps this O(n log n) for configs with thousands of hosts;
 * errors come out in name order, which is stable across runs.
 */
static void
report_duplicates(struct build *b, const char *what, struct named *v, size_t n)
{
	size_t	 i, first = 0;
	char	*fp;

	qsort(v, n, sizeof(*v), named_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[first].name) != 0) {
			first = i;
			continue;
		}
		fp = fmt_pos(v[first].pos);
		conf_error(b->err, v[i].pos, "duplicate %s '%s' (first at %s)",
		    what, v[i].name, fp);
		free(fp);
	}
}

/*
 * Depth-first over parent edges; meeting a host that is on the current
 * path closes a loop, reported at the `parent` line that closes it with
 * the whole path.  Colours: 0 unseen, 1 on the path, 2 done.
 */
static void
parent_walk(struct build *b, size_t h, unsigned char *colour, size_t *path, size_t depth)
{
	struct config	*cfg = b->cfg;

	colour[h] = 1;
	path[depth] = h;
	for (size_t i = 0; i < b->npp; i++) {
		struct pending_parent	*p = &b->pp[i];
		size_t			 to;

		if (p->host != &cfg->hosts[h] || p->to == NULL)
			continue;
		to = (size_t)(p->to - cfg->hosts);
		if (colour[to] == 1) {
			struct buf loop = { NULL, 0, 0 };
			size_t k = depth;

			while (path[k] != to)
				k--;
			for (; k <= depth; k++)
				buf_add(&loop, "%s -> ", cfg->hosts[path[k]].name);
			buf_add(&loop, "%s", cfg->hosts[to].name);
			conf_error(b->err, p->pos, "parent loop: %s", loop.s);
			free(loop.s);
		} else if (colour[to] == 0)
			parent_walk(b, to, colour, path, depth + 1);
	}
	colour[h] = 2;
}

static void
resolve_parents(struct build *b)
{
	struct config	*cfg = b->cfg;
	unsigned char	*colour;
	size_t		*path;

	for (size_t i = 0; i < b->npp; i++) {
		struct pending_parent	*p = &b->pp[i];
		struct host		*h = p->host, *to = find_host(b, p->name);

		if (to == NULL) {
			conf_error(b->err, p->pos, "unknown parent host '%s'", p->name);
			continue;
		}
		if (to == h) {
			conf_error(b->err, p->pos, "host '%s' cannot be its own parent",
			    h->name);
			continue;
		}
		for (size_t j = 0; j < h->nparents; j++)
			if (h->parents[j] == to) {
				conf_error(b->err, p->pos, "parent '%s' is already given",
				    p->name);
				to = NULL;
				break;
			}
		if (to == NULL)
			continue;
		if (to->avail == NULL)
			conf_error(b->err, p->pos, "parent host '%s' has no probe to "
			    "judge its availability", p->name);
		p->to = to;
		h->parents = xreallocarray(h->parents, h->nparents + 1, sizeof(*h->parents));
		h->parents[h->nparents++] = to;
	}
	/*
	 * An impact nobody wrote follows from what depends on the host: ten or
	 * more children make it a 1 (a core router), else the default 2.
	 */
	for (size_t i = 0; i < cfg->nhosts; i++) {
		size_t	deps = 0;

		if (cfg->hosts[i].impact != 0)
			continue;
		for (size_t j = 0; j < b->npp; j++)
			deps += b->pp[j].to == &cfg->hosts[i];
		cfg->hosts[i].impact = deps >= IMPACT_DEPENDANTS ? 1 : 2;
	}
	colour = xcalloc(cfg->nhosts + 1, 1);
	path = xcalloc(cfg->nhosts + 1, sizeof(*path));
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (colour[i] == 0)
			parent_walk(b, i, colour, path, 0);
	free(colour);
	free(path);
	free(b->pp);
	b->pp = NULL;
	b->npp = 0;
}

struct config *
conf_build(struct conf_tree *tree, struct conf_err *err)
{
	struct build	 b;
	struct config	*cfg = xcalloc(1, sizeof(*cfg));
	struct named	*names;
	size_t		 i;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	b.err = err;
	cfg->tree = tree;
	cfg->log_level = LOG_INFO;
	cfg->default_interval_ms = DEFAULT_INTERVAL_MS;
	cfg->default_timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->settle_ms = DEFAULT_SETTLE_MS;
	priority_default(cfg->priority);
	cfg->capacity_every_ms = 3600 * 1000ULL;
	cfg->capacity_window_ms = 14 * 86400 * 1000ULL;
	cfg->capacity_horizon_ms = 30 * 86400 * 1000ULL;
	cfg->reopen_window_ms = 30 * 60 * 1000;
	cfg->problem_count = 3;
	cfg->problem_window_ms = 7 * 24 * 3600 * 1000ULL;
	cfg->spool_max_bytes = 64 * 1024 * 1024;
	b.tmpl_nodes = xcalloc(count_children(&tree->root, "template"),
	    sizeof(*b.tmpl_nodes));
	b.host_nodes = xcalloc(count_children(&tree->root, "host"),
	    sizeof(*b.host_nodes));
	/* secrets first, so `secret:NAME` works wherever `secrets` is written */
	secrets_clear();
	snmp_mib_dirs(NULL, 0);		/* until this conf's mib-dirs says otherwise */
	http_max_per_origin(0);		/* the default unless this conf says otherwise */
	for (i = 0; i < tree->root.nchildren; i++) {
		const struct conf_node	*c = &tree->root.children[i];
		char			*path;

		if (strcmp(c->name, "secrets") != 0 || c->block || c->nargs != 1 ||
		    c->args[0][0] == '\0')
			continue;
		path = abs_path(&c->argpos[0], c->args[0]);
		secrets_load(path, &c->argpos[0], err);
		free(path);
		break;			/* a second one is reported as a duplicate */
	}
	walk(&b, global_keys, sizeof(global_keys) / sizeof(global_keys[0]),
	    &tree->root, cfg, NULL);
	if (cfg->database == NULL)
		cfg->database = xstrdup(DEFAULT_DATABASE);
	if (cfg->rrd_dir == NULL)
		cfg->rrd_dir = xstrdup(DEFAULT_RRD_DIR);
	/* Inside rrd-dir by default: itsmd makes that one its own when it drops root. */
	if (cfg->spool_dir == NULL)
		cfg->spool_dir = xasprintf("%s/.itsmd-spool", cfg->rrd_dir);
	if (cfg->user == NULL)
		cfg->user = xstrdup(DEFAULT_USER);

	/* An unset timeout never exceeds the interval: `interval 5s` alone is fine. */
	if (b.timeout_node == NULL &&
	    cfg->default_timeout_ms > cfg->default_interval_ms)
		cfg->default_timeout_ms = cfg->default_interval_ms;
	b.defaults_ok = cfg->default_timeout_ms <= cfg->default_interval_ms;
	if (!b.defaults_ok) {
		char	tb[32], ib[32];

		fmt_duration(cfg->default_timeout_ms, tb, sizeof(tb));
		fmt_duration(cfg->default_interval_ms, ib, sizeof(ib));
		conf_error(err, b.timeout_node ? &b.timeout_node->pos :
		    &b.interval_node->pos, "timeout %s is longer than "
		    "interval %s", tb, ib);
	}

	cfg->templates = xcalloc(b.ntmpl_nodes, sizeof(*cfg->templates));
	for (i = 0; i < b.ntmpl_nodes; i++)
		build_template(&b, &cfg->templates[cfg->ntemplates++],
		    b.tmpl_nodes[i]);
	names = xcalloc(cfg->ntemplates, sizeof(*names));
	for (i = 0; i < cfg->ntemplates; i++)
		names[i] = (struct named){ cfg->templates[i].name,
		    &b.tmpl_nodes[i]->pos, i };
	report_duplicates(&b, "template", names, cfg->ntemplates);
	free(names);

	cfg->hosts = xcalloc(b.nhost_nodes, sizeof(*cfg->hosts));
	for (i = 0; i < b.nhost_nodes; i++)
		build_host(&b, &cfg->hosts[cfg->nhosts++], b.host_nodes[i]);
	names = xcalloc(cfg->nhosts, sizeof(*names));
	for (i = 0; i < cfg->nhosts; i++)
		names[i] = (struct named){ cfg->hosts[i].name,
		    &b.host_nodes[i]->pos, i };
	report_duplicates(&b, "host", names, cfg->nhosts);
	free(names);
	for (i = 0; i < cfg->nhosts; i++)
		nidx_add(&b.host_names, cfg->hosts[i].name, i);
	resolve_parents(&b);
	resolve_services(&b);
	nidx_free(&b.host_names);
	nidx_free(&b.svc_names);

	free(b.tmpl_nodes);
	free(b.host_nodes);
	secrets_clear();
	if (err->count > 0) {
		conf_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
conf_load(const char *path, struct conf_err *err)
{
	struct conf_tree	*tree;
	struct config		*cfg;

	if ((tree = conf_parse_file(path, err)) == NULL)
		return NULL;
	if ((cfg = conf_build(tree, err)) == NULL)
		return NULL;
	cfg->path = xstrdup(path);
	return cfg;
}

void
conf_free(struct config *cfg)
{
	size_t	i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->ntemplates; i++) {
		for (j = 0; j < cfg->templates[i].nprobes; j++)
			probe_def_free(&cfg->templates[i].probes[j]);
		free(cfg->templates[i].probes);
		free(cfg->templates[i].name);
	}
	free(cfg->templates);
	for (i = 0; i < cfg->nhosts; i++) {
		struct host	*h = &cfg->hosts[i];

		for (j = 0; j < h->nown; j++)
			probe_def_free(&h->own_probes[j]);
		free(h->own_probes);
		free(h->probes);
		free(h->name);
		free(h->address);
		free(h->snmp.community);
		free(h->parents);
		for (j = 0; j < h->ntags; j++)
			free(h->tags[j]);
		free(h->tags);
		free(h->snmp.user);
		free(h->snmp.auth_proto);
		free(h->snmp.priv_proto);
		free(h->snmp.context);
		if (h->snmp.auth_key != NULL)
			explicit_bzero(h->snmp.auth_key, strlen(h->snmp.auth_key));
		if (h->snmp.priv_key != NULL)
			explicit_bzero(h->snmp.priv_key, strlen(h->snmp.priv_key));
		free(h->snmp.auth_key);
		free(h->snmp.priv_key);
	}
	free(cfg->hosts);
	free(cfg->path);
	free(cfg->database);
	free(cfg->rrd_dir);
	free(cfg->rrdcached);
	free(cfg->listen);
	free(cfg->user);
	free(cfg->pidfile);
	for (i = 0; i < cfg->nmaint; i++)
		maint_free(&cfg->maint[i]);
	free(cfg->maint);
	free(cfg->spool_dir);
	for (size_t r = 0; r < cfg->nreceivers; r++)
		receiver_free(&cfg->receivers[r]);
	free(cfg->receivers);
	for (i = 0; i < cfg->nservices; i++)
		service_free(&cfg->services[i]);
	free(cfg->services);
	conf_tree_free(cfg->tree);
	free(cfg);
}
