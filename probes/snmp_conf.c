/*
 * snmp_conf.c: the directives of an snmp probe block.  A scalar probe lists
 * `oid` lines; a table probe names `label` columns (walked to discover the
 * rows) and per-row `column` metrics, with filters on the label.  OIDs are
 * numeric or names (snmp_mib.c), resolved here, once, at conf time.
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "itsmd.h"
#include "snmp_int.h"

#define SNMP_DEFAULT_METRIC	"value"
#define SNMP_REDISCOVER_MS	(10 * 60 * 1000)
#define SNMP_MAX_LABELS		4
#define SNMP_BACKOFF_MAX	4	/* a dead agent is asked every 4 intervals at most */

/* One metric line (`oid`, `column` or `percent`) until finish. */
struct snmp_line {
	char		*name;
	struct conf_pos	 pos;
	struct snmp_oid	*oid;		/* NULL: a percent */
	enum metric_kind kind;
	char		*part, *whole;	/* percent operands, as written */
	struct conf_pos	 ppos, wpos;
};

/* probe_def->priv while the block is parsed (def->metrics still NULL). */
struct snmp_build {
	struct snmp_line	*v;
	size_t			 n;
	struct snmp_table	*t;
	bool			 have_oid, have_table;
	struct conf_pos		 oid_pos, table_pos;
	char			*speed;		/* link-speed metric, as written */
	struct conf_pos		 speed_pos;
	long			 backoff;	/* backoff-max, or 0: the default */
};

static struct snmp_oid *
oid_new(const unsigned long *sub, size_t len)
{
	struct snmp_oid	*o = xmalloc(sizeof(*o) + len * sizeof(o->sub[0]));

	o->len = len;
	memcpy(o->sub, sub, len * sizeof(o->sub[0]));
	return o;
}

/* An OID argument, numeric or by name; NULL after reporting why at its position. */
static struct snmp_oid *
arg_oid(const struct conf_node *n, size_t i, struct conf_err *err)
{
	unsigned long	sub[MAX_OID_LEN];
	size_t		len;
	char		why[256];

	if (snmp_oid_resolve(n->args[i], sub, MAX_OID_LEN, &len, why, sizeof(why)) == -1) {
		conf_error(err, &n->argpos[i], "bad OID '%s': %s", n->args[i], why);
		return NULL;
	}
	return oid_new(sub, len);
}

static struct snmp_build *
build_of(struct probe_def *def)
{
	if (def->priv == NULL)
		def->priv = xcalloc(1, sizeof(struct snmp_build));
	return def->priv;
}

static struct snmp_table *
table_of(struct snmp_build *b, const struct conf_node *n)
{
	if (!b->have_table) {
		b->have_table = true;
		b->table_pos = n->pos;
	}
	if (b->t == NULL) {
		b->t = xcalloc(1, sizeof(*b->t));
		b->t->rediscover_ms = SNMP_REDISCOVER_MS;
		b->t->speed = -1;
	}
	return b->t;
}

/* Adds a metric line unless its name is taken. */
static int
add_line(struct probe_def *def, struct snmp_build *b, const char *name,
    const struct conf_pos *pos, struct snmp_oid *o, enum metric_kind kind,
    struct conf_err *err)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->v[i].name, name) == 0) {
			conf_error(err, pos, "duplicate metric '%s' in snmp probe '%s' "
			    "(first at %s:%d:%d)", name, def->name, b->v[i].pos.file,
			    b->v[i].pos.line, b->v[i].pos.col);
			free(o);
			return -1;
		}
	b->v = xreallocarray(b->v, b->n + 1, sizeof(*b->v));
	memset(&b->v[b->n], 0, sizeof(b->v[b->n]));
	b->v[b->n].name = xstrdup(name);
	b->v[b->n].pos = *pos;
	b->v[b->n].oid = o;
	b->v[b->n].kind = kind;
	b->n++;
	return 0;
}

static int
usage(const struct conf_node *n, struct conf_err *err, const char *text)
{
	conf_error(err, &n->pos, "usage: %s", text);
	return -1;
}

static int
regex_add(regex_t **v, size_t *nv, const struct conf_node *n, struct conf_err *err)
{
	regex_t	re;
	char	msg[128];
	int	rc;

	if ((rc = regcomp(&re, n->args[0], REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &re, msg, sizeof(msg));
		conf_error(err, &n->argpos[0], "bad %s pattern '%s': %s", n->name,
		    n->args[0], msg);
		return -1;
	}
	*v = xreallocarray(*v, *nv + 1, sizeof(**v));
	(*v)[(*nv)++] = re;
	return 0;
}

/*
 * One directive of an snmp block: 0 handled, 1 not ours, -1 reported.
 *   oid [NAME] OID			scalar metric (NAME defaults to "value")
 *   label COLUMN [COLUMN...]		table rows, named by the first non-empty
 *   column NAME COLUMN [counter|gauge]	per-row metric
 *   percent NAME PART WHOLE		per-row 100 * PART / WHOLE (metric names)
 *   include-rows|exclude-rows REGEX	filters on the row label (POSIX ERE)
 *   rediscover DURATION		how often rows are walked again (10m)
 *   link-speed METRIC			Mbit/s metric bounding the row's counter rates
 *   discontinuity COLUMN		per-row counter discontinuity time
 *   backoff-max N			after timeouts, run at most every N
 *					intervals until an answer (4; 1: never)
 */
int
snmp_conf_parse(struct probe_def *def, const struct conf_node *n, struct conf_err *err)
{
	struct snmp_build	*b;
	struct snmp_table	*t;
	struct snmp_oid		*o;
	enum metric_kind	 kind = MK_AUTO;
	const char		*why;
	uint64_t		 ms;

	if (strcmp(n->name, "oid") == 0) {
		if (n->block || n->nargs < 1 || n->nargs > 2)
			return usage(n, err, "oid [NAME] OID");
		if ((o = arg_oid(n, n->nargs - 1, err)) == NULL)
			return -1;
		b = build_of(def);
		if (!b->have_oid) {
			b->have_oid = true;
			b->oid_pos = n->pos;
		}
		return add_line(def, b, n->nargs == 2 ? n->args[0] : SNMP_DEFAULT_METRIC,
		    n->nargs == 2 ? &n->argpos[0] : &n->pos, o, MK_AUTO, err);
	}
	if (strcmp(n->name, "column") == 0) {
		if (n->block || n->nargs < 2 || n->nargs > 3)
			return usage(n, err, "column NAME COLUMN-OID [counter|gauge]");
		if (n->nargs == 3) {
			if (strcmp(n->args[2], "counter") == 0)
				kind = MK_COUNTER;
			else if (strcmp(n->args[2], "gauge") == 0)
				kind = MK_GAUGE;
			else {
				conf_error(err, &n->argpos[2], "bad column kind '%s': "
				    "counter or gauge", n->args[2]);
				return -1;
			}
		}
		if ((o = arg_oid(n, 1, err)) == NULL)
			return -1;
		b = build_of(def);
		table_of(b, n);
		return add_line(def, b, n->args[0], &n->argpos[0], o, kind, err);
	}
	if (strcmp(n->name, "percent") == 0) {
		if (n->block || n->nargs != 3)
			return usage(n, err, "percent NAME PART-METRIC WHOLE-METRIC");
		b = build_of(def);
		table_of(b, n);
		if (add_line(def, b, n->args[0], &n->argpos[0], NULL, MK_GAUGE, err) == -1)
			return -1;
		b->v[b->n - 1].part = xstrdup(n->args[1]);
		b->v[b->n - 1].whole = xstrdup(n->args[2]);
		b->v[b->n - 1].ppos = n->argpos[1];
		b->v[b->n - 1].wpos = n->argpos[2];
		return 0;
	}
	if (strcmp(n->name, "label") == 0) {
		if (n->block || n->nargs < 1 || n->nargs > SNMP_MAX_LABELS)
			return usage(n, err, "label COLUMN-OID [COLUMN-OID ...] (up to 4)");
		t = table_of(build_of(def), n);
		if (t->nlabels > 0) {
			conf_error(err, &n->pos, "duplicate key 'label'");
			return -1;
		}
		t->labels = xcalloc(n->nargs, sizeof(*t->labels));
		for (size_t i = 0; i < n->nargs; i++) {
			if ((o = arg_oid(n, i, err)) == NULL)
				return -1;
			t->labels[t->nlabels++] = o;
		}
		return 0;
	}
	if (strcmp(n->name, "include-rows") == 0 || strcmp(n->name, "exclude-rows") == 0) {
		if (n->block || n->nargs != 1)
			return usage(n, err, "include-rows|exclude-rows REGEX");
		t = table_of(build_of(def), n);
		if (n->name[0] == 'i')
			return regex_add(&t->include, &t->ninclude, n, err);
		return regex_add(&t->exclude, &t->nexclude, n, err);
	}
	if (strcmp(n->name, "rediscover") == 0) {
		if (n->block || n->nargs != 1)
			return usage(n, err, "rediscover DURATION");
		if (conf_duration_ms(n->args[0], &ms, &why) == -1 || ms < 1000) {
			conf_error(err, &n->argpos[0], "bad duration '%s' for 'rediscover': "
			    "%s", n->args[0], ms < 1000 ? "must be at least 1s" : why);
			return -1;
		}
		table_of(build_of(def), n)->rediscover_ms = ms;
		return 0;
	}
	if (strcmp(n->name, "link-speed") == 0) {
		if (n->block || n->nargs != 1)
			return usage(n, err, "link-speed METRIC (in Mbit/s)");
		b = build_of(def);
		table_of(b, n);
		free(b->speed);
		b->speed = xstrdup(n->args[0]);
		b->speed_pos = n->argpos[0];
		return 0;
	}
	if (strcmp(n->name, "backoff-max") == 0) {
		char	*end;
		long	 v;

		if (n->block || n->nargs != 1)
			return usage(n, err, "backoff-max N (intervals, 1 to 64)");
		v = strtol(n->args[0], &end, 10);
		if (*n->args[0] == '\0' || *end != '\0' || v < 1 || v > 64) {
			conf_error(err, &n->argpos[0], "bad value '%s' for 'backoff-max': "
			    "a whole number of intervals from 1 to 64", n->args[0]);
			return -1;
		}
		build_of(def)->backoff = v;
		return 0;
	}
	if (strcmp(n->name, "discontinuity") == 0) {
		if (n->block || n->nargs != 1)
			return usage(n, err, "discontinuity COLUMN-OID");
		if ((o = arg_oid(n, 0, err)) == NULL)
			return -1;
		t = table_of(build_of(def), n);
		free(t->disc);
		t->disc = o;
		return 0;
	}
	return 1;
}

static int
metric_index(const struct snmp_build *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
table_free(struct snmp_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nlabels; i++)
		free(t->labels[i]);
	free(t->labels);
	free(t->disc);
	for (size_t i = 0; i < t->ninclude; i++)
		regfree(&t->include[i]);
	free(t->include);
	for (size_t i = 0; i < t->nexclude; i++)
		regfree(&t->exclude[i]);
	free(t->exclude);
	free(t->part);
	free(t->whole);
	free(t);
}

static void
build_free(struct snmp_build *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].name);
		free(b->v[i].oid);
		free(b->v[i].part);
		free(b->v[i].whole);
	}
	free(b->v);
	free(b->speed);
	table_free(b->t);
	free(b);
}

/* Checks the block as a whole; on success the lines become metrics. */
int
snmp_conf_finish(struct probe_def *def, struct conf_err *err)
{
	struct snmp_build	*b = def->priv;
	struct snmp_table	*t;
	int			 before = err->count, k;

	if (b == NULL || b->n == 0) {
		conf_error(err, &def->pos, "snmp probe '%s' needs at least one 'oid' "
		    "(or 'label' and 'column' for a table)", def->name);
		return -1;
	}
	if (b->have_oid && b->have_table)
		conf_error(err, &b->table_pos, "snmp probe '%s': table keys cannot mix "
		    "with 'oid' (at %s:%d:%d); use two probes", def->name,
		    b->oid_pos.file, b->oid_pos.line, b->oid_pos.col);
	t = b->t;
	if (t != NULL && t->nlabels == 0)
		conf_error(err, &def->pos, "snmp table probe '%s' needs 'label' (the "
		    "column naming its rows)", def->name);
	if (t != NULL) {
		t->part = xcalloc(b->n, sizeof(*t->part));
		t->whole = xcalloc(b->n, sizeof(*t->whole));
		for (size_t i = 0; i < b->n; i++) {
			struct snmp_line *l = &b->v[i];

			t->part[i] = t->whole[i] = SIZE_MAX;
			if (l->part == NULL)
				continue;
			if ((k = metric_index(b, l->part)) < 0 || b->v[k].oid == NULL)
				conf_error(err, &l->ppos, "percent '%s': '%s' is not a "
				    "column of this probe", l->name, l->part);
			else
				t->part[i] = (size_t)k;
			if ((k = metric_index(b, l->whole)) < 0 || b->v[k].oid == NULL)
				conf_error(err, &l->wpos, "percent '%s': '%s' is not a "
				    "column of this probe", l->name, l->whole);
			else
				t->whole[i] = (size_t)k;
		}
		if (b->speed != NULL) {
			if ((k = metric_index(b, b->speed)) < 0 || b->v[k].oid == NULL)
				conf_error(err, &b->speed_pos, "link-speed: '%s' is not a "
				    "column of this probe", b->speed);
			else
				t->speed = k;
		}
	}
	if (err->count > before)
		return -1;

	def->metrics = xcalloc(b->n, sizeof(*def->metrics));
	def->nmetrics = b->n;
	for (size_t i = 0; i < b->n; i++) {
		def->metrics[i].name = b->v[i].name;
		def->metrics[i].unit = b->v[i].part ? xstrdup("%") : NULL;
		def->metrics[i].kind = b->v[i].kind;
		def->metrics[i].priv = b->v[i].oid;
		def->metrics[i].pos = b->v[i].pos;
		b->v[i].name = NULL;
		b->v[i].oid = NULL;
	}
	def->table = t != NULL;
	def->backoff_max = b->backoff > 0 ? (unsigned)b->backoff : SNMP_BACKOFF_MAX;
	def->priv = t;
	b->t = NULL;
	build_free(b);
	return 0;
}

/* Metric names and the metrics array belong to conf_free(), as for every kind. */
void
snmp_conf_free_def(struct probe_def *def)
{
	if (def->metrics == NULL) {	/* finish never succeeded: still building */
		if (def->priv != NULL)
			build_free(def->priv);
	} else
		table_free(def->priv);
	def->priv = NULL;
	for (size_t i = 0; i < def->nmetrics; i++) {
		free(def->metrics[i].priv);
		def->metrics[i].priv = NULL;
	}
}

int
snmp_table_keep(const struct snmp_table *t, const char *label)
{
	bool	in = t->ninclude == 0;

	for (size_t i = 0; i < t->ninclude && !in; i++)
		if (regexec(&t->include[i], label, 0, NULL, 0) == 0)
			in = true;
	for (size_t i = 0; i < t->nexclude && in; i++)
		if (regexec(&t->exclude[i], label, 0, NULL, 0) == 0)
			in = false;
	return in;
}
