/*
 * test_conf.c: the configuration pipeline end to end in memory
 * (conf_parse_string + conf_build): good snippets checked field by field,
 * bad ones checked for the exact FILE:LINE:COL errors, all of them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"

static struct probe_def *
find_probe(struct host *h, const char *name)
{
	for (size_t i = 0; i < h->nprobes; i++)
		if (strcmp(h->probes[i]->name, name) == 0)
			return h->probes[i];
	return NULL;
}

/* ---------------------------------------------------------------- good */

#define SNMP_HOST							\
	"host h {\n address 127.0.0.1\n community \"public\"\n"

static const char full_example[] =
    "database \"dbname=mon host=db\"\n"
    "rrd-dir \"/srv/rrd\"\n"
    "rrdcached \"unix:/run/rrdcached.sock\"\n"
    "user \"mon\"\n"
    "pidfile \"/run/itsmd.pid\"\n"
    "log-level debug\n"
    "interval 2m\n"
    "timeout 20s\n"
    "template \"linux\" {\n"
    "    probe \"load\" snmp {\n"
    "        oid load1 1.3.6.1.4.1.2021.10.1.5.1\n"
    "        oid load5 .1.3.6.1.4.1.2021.10.1.5.2\n"
    "        interval 30s\n"
    "        timeout 5s\n"
    "        fail-after 2\n"
    "        warning load1 > 2\n"
    "        critical load5 >= 4\n"
    "    }\n"
    "}\n"
    "host \"web1\" {\n"
    "    address 127.0.0.1\n"
    "    snmp-version 1\n"
    "    community \"public\"\n"
    "    snmp-port 16161\n"
    "    snmp-retries 3\n"
    "    use \"linux\"\n"
    "    probe \"home\" http {\n"
    "        url \"http://127.0.0.1:8080/\"\n"
    "        expect-status 200-299,301\n"
    "        method GET\n"
    "        verify-tls yes\n"
    "        max-body 1M\n"
    "        critical time > 2s\n"
    "        warning size < 1k\n"
    "    }\n"
    "}\n";

static void
test_full_example(void)
{
	char			*errs;
	struct config		*c = unit_conf_load(full_example, &errs);
	struct host		*h;
	struct probe_def	*load1, *home;

	UNIT_CHECK(c != NULL, "full example builds", "errors: %s", errs);
	if (c == NULL)
		return;
	UNIT_CHECK(strcmp(c->database, "dbname=mon host=db") == 0 &&
	    strcmp(c->rrd_dir, "/srv/rrd") == 0 &&
	    strcmp(c->rrdcached, "unix:/run/rrdcached.sock") == 0 &&
	    strcmp(c->user, "mon") == 0 &&
	    strcmp(c->pidfile, "/run/itsmd.pid") == 0 &&
	    c->log_level == LOG_DEBUG, "full example: globals",
	    "db=%s rrd=%s cached=%s user=%s level=%d", c->database, c->rrd_dir,
	    c->rrdcached, c->user, c->log_level);
	UNIT_CHECK(c->default_interval_ms == 120000 &&
	    c->default_timeout_ms == 20000, "full example: default timing",
	    "%llu %llu", (unsigned long long)c->default_interval_ms,
	    (unsigned long long)c->default_timeout_ms);
	UNIT_CHECK(c->ntemplates == 1 && c->nhosts == 1 &&
	    c->templates[0].nprobes == 1, "full example: counts",
	    "%zu templates %zu hosts", c->ntemplates, c->nhosts);
	h = &c->hosts[0];
	UNIT_CHECK(strcmp(h->name, "web1") == 0 &&
	    strcmp(h->address, "127.0.0.1") == 0 && h->snmp.version == 1 &&
	    h->snmp.port == 16161 && h->snmp.retries == 3 &&
	    strcmp(h->snmp.community, "public") == 0,
	    "full example: host settings", "v%d port %u retries %d",
	    h->snmp.version, h->snmp.port, h->snmp.retries);
	UNIT_CHECK(h->nprobes == 2 && h->nown == 1 &&
	    h->probes[0] == &c->templates[0].probes[0] &&
	    h->probes[1] == &h->own_probes[0],
	    "full example: template probes first, shared", "%zu probes",
	    h->nprobes);
	load1 = find_probe(h, "load");
	home = find_probe(h, "home");
	if (load1 == NULL || home == NULL)
		return;
	UNIT_CHECK(load1->ops == &snmp_probe_ops && load1->interval_ms == 30000 &&
	    load1->timeout_ms == 5000 && load1->fail_after == 2 &&
	    load1->nmetrics == 2 &&
	    strcmp(load1->metrics[1].name, "load5") == 0,
	    "full example: snmp probe", "interval %llu timeout %llu fa %d "
	    "metrics %zu", (unsigned long long)load1->interval_ms,
	    (unsigned long long)load1->timeout_ms, load1->fail_after,
	    load1->nmetrics);
	UNIT_CHECK(load1->nthresholds == 2 &&
	    load1->thresholds[0].sev == SEV_WARNING &&
	    load1->thresholds[0].metric == 0 &&
	    load1->thresholds[0].op == CMP_GT &&
	    load1->thresholds[0].limit == 2 &&
	    load1->thresholds[1].sev == SEV_CRITICAL &&
	    load1->thresholds[1].metric == 1 &&
	    load1->thresholds[1].op == CMP_GE &&
	    load1->thresholds[1].limit == 4 &&
	    load1->thresholds[1].pos.line == 17 &&
	    load1->thresholds[1].pos.col == 9,
	    "full example: snmp thresholds", "%zu thresholds",
	    load1->nthresholds);
	UNIT_CHECK(home->ops == &http_probe_ops && home->interval_ms == 120000 &&
	    home->timeout_ms == 20000 && home->fail_after == 1 &&
	    home->nmetrics == 7 && home->nthresholds == 2 &&
	    home->thresholds[0].metric == 0 && home->thresholds[0].limit == 2 &&
	    home->thresholds[1].metric == 2 &&
	    home->thresholds[1].op == CMP_LT &&
	    home->thresholds[1].limit == 1024,
	    "full example: http probe inherits timing, thresholds in units",
	    "interval %llu, %zu thresholds",
	    (unsigned long long)home->interval_ms, home->nthresholds);
	UNIT_CHECK(home->pos.line == 27 && home->pos.col == 5 &&
	    strcmp(home->pos.file, "t.conf") == 0, "full example: probe pos",
	    "%s:%d:%d", home->pos.file, home->pos.line, home->pos.col);
	UNIT_CHECK(load1->fingerprint != NULL && home->fingerprint != NULL &&
	    strstr(home->fingerprint, "http") != NULL,
	    "full example: fingerprints set", "%s", "missing");
	conf_free(c);
}

static void
test_defaults(void)
{
	char		*errs;
	struct config	*c = unit_conf_load("# nothing\n\n;;\n", &errs);

	UNIT_CHECK(c != NULL, "empty config builds", "errors: %s", errs);
	if (c == NULL)
		return;
	UNIT_CHECK(strcmp(c->database, "dbname=itsmd") == 0 &&
	    strcmp(c->rrd_dir, "/var/lib/itsmd/rrd") == 0 &&
	    strcmp(c->user, "itsmd") == 0 && c->rrdcached == NULL &&
	    c->pidfile == NULL && c->log_level == LOG_INFO &&
	    c->default_interval_ms == 60000 && c->default_timeout_ms == 10000 &&
	    c->nhosts == 0 && c->ntemplates == 0, "global defaults",
	    "db=%s rrd=%s user=%s", c->database, c->rrd_dir, c->user);
	conf_free(c);

	c = unit_conf_load("host a { address 10.0.0.1; probe p http { url "
	    "\"http://x/\" } }", &errs);
	UNIT_CHECK(c != NULL && c->hosts[0].snmp.version == 2 &&
	    c->hosts[0].snmp.port == 161 && c->hosts[0].snmp.retries == 1 &&
	    c->hosts[0].snmp.community == NULL &&
	    c->hosts[0].probes[0]->fail_after == 1,
	    "host defaults, one-line blocks", "errors: %s", errs);
	conf_free(c);
}

static void
test_paths(void)
{
	struct conf_err		 err = { 0 };
	struct conf_tree	*t;
	struct config		*c = NULL;
	char			*errs;

	unit_capture_start();
	t = conf_parse_string("/nonexistent/etc/itsmd.conf",
	    "rrd-dir ./a/../rrd//\nrrdcached \"unix:../run/r.sock\"\npidfile x.pid\n",
	    &err);
	if (t != NULL)
		c = conf_build(t, &err);
	errs = unit_capture_end();
	UNIT_CHECK(c != NULL && strcmp(c->rrd_dir, "/nonexistent/etc/rrd") == 0 &&
	    strcmp(c->rrdcached, "unix:/nonexistent/run/r.sock") == 0 &&
	    strcmp(c->pidfile, "/nonexistent/etc/x.pid") == 0,
	    "relative paths are relative to the file, . and .. folded", "%s / %s",
	    c ? c->rrd_dir : errs, c ? c->rrdcached : "");
	conf_free(c);

	c = unit_conf_load("rrdcached /run/r.sock\n", &errs);
	UNIT_CHECK(c != NULL && strcmp(c->rrdcached, "unix:/run/r.sock") == 0,
	    "bare rrdcached path becomes unix:", "%s", c ? c->rrdcached : errs);
	conf_free(c);

	c = unit_conf_load("rrd-dir rrd\n", &errs);
	UNIT_CHECK(c != NULL && c->rrd_dir[0] == '/' &&
	    strcmp(c->rrd_dir + strlen(c->rrd_dir) - 4, "/rrd") == 0,
	    "relative path from a relative file name is absolute", "%s",
	    c ? c->rrd_dir : errs);
	conf_free(c);
}

static void
test_order_and_timing(void)
{
	char		*errs;
	struct config	*c;
	struct host	*h;

	/* `use` before the template, `interval` after everything. */
	c = unit_conf_load("host h {\n address a\n use t2\n use t1\n"
	    " probe own http { url \"http://x/\" }\n}\n"
	    "template t1 { probe a http { url \"http://x/\" } }\n"
	    "template t2 { probe b http { url \"http://x/\" }\n"
	    "  probe c http { url \"http://x/\"; interval 5s } }\n"
	    "interval 30s\n", &errs);
	UNIT_CHECK(c != NULL, "order: builds", "errors: %s", errs);
	if (c == NULL)
		return;
	h = &c->hosts[0];
	UNIT_CHECK(h->nprobes == 4 && strcmp(h->probes[0]->name, "b") == 0 &&
	    strcmp(h->probes[1]->name, "c") == 0 &&
	    strcmp(h->probes[2]->name, "a") == 0 &&
	    strcmp(h->probes[3]->name, "own") == 0,
	    "order: templates in use order, then own probes", "%zu probes",
	    h->nprobes);
	UNIT_CHECK(h->probes[0]->interval_ms == 30000 &&
	    h->probes[0]->timeout_ms == 10000,
	    "order: a later global interval still applies", "%llu",
	    (unsigned long long)h->probes[0]->interval_ms);
	UNIT_CHECK(h->probes[1]->interval_ms == 5000 &&
	    h->probes[1]->timeout_ms == 5000,
	    "unset timeout shrinks to a short interval", "%llu",
	    (unsigned long long)h->probes[1]->timeout_ms);
	conf_free(c);

	c = unit_conf_load("interval 3s\n", &errs);
	UNIT_CHECK(c != NULL && c->default_timeout_ms == 3000,
	    "unset global timeout shrinks to the interval", "%s", errs);
	conf_free(c);
}

static void
test_values(void)
{
	static const struct {
		const char	*text;
		double		 limit;
		enum cmp_op	 op;
		size_t		 metric;
	} t[] = {
		{ "warning > 500ms", 0.5, CMP_GT, 0 },
		{ "warning time <= 1m", 60, CMP_LE, 0 },
		{ "warning size >= 1M", 1048576, CMP_GE, 2 },
		{ "critical status != 200", 200, CMP_NE, 1 },
		{ "critical status == 5e2", 500, CMP_EQ, 1 },
		{ "warning < -2.5", -2.5, CMP_LT, 0 },
		{ "warning > 90%", 90, CMP_GT, 0 },
	};
	char			 text[256], name[128], *errs;
	struct config		*c;
	const struct threshold	*th;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "host h { address a\n probe p http "
		    "{\n url \"http://x/\"\n %s\n } }\n", t[i].text);
		snprintf(name, sizeof(name), "threshold '%s'", t[i].text);
		c = unit_conf_load(text, &errs);
		th = c != NULL && c->hosts[0].probes[0]->nthresholds == 1 ?
		    &c->hosts[0].probes[0]->thresholds[0] : NULL;
		UNIT_CHECK(th != NULL && fabs(th->limit - t[i].limit) < 1e-9 &&
		    th->op == t[i].op && th->metric == t[i].metric &&
		    th->sev == (t[i].text[0] == 'w' ? SEV_WARNING :
		    SEV_CRITICAL) && th->pos.line == 4 && th->pos.col == 2,
		    name, "%s", th ? "wrong fields" : errs);
		conf_free(c);
	}
}

static char *
fingerprint_of(const char *probe_body, const char *globals)
{
	char		 text[1024], *errs, *fp = NULL;
	struct config	*c;

	snprintf(text, sizeof(text), "%shost h { address a\n probe p http {\n"
	    "%s\n } }\n", globals, probe_body);
	/* A body that does not build gives NULL; the caller says so. */
	if ((c = unit_conf_load(text, &errs)) != NULL) {
		fp = xstrdup(c->hosts[0].probes[0]->fingerprint);
		conf_free(c);
	}
	return fp;
}

static void
test_fingerprint(void)
{
	static const struct {
		const char	*a_body, *a_glob, *b_body, *b_glob;
		bool		 same;
		const char	*name;
	} t[] = {
		{ "url \"http://x/\"", "", "url   http://x/  # c", "", true,
		    "fingerprint ignores quoting, blanks, comments" },
		{ "url \"http://x/\"", "", "url \"http://x/\"\ninterval 1m", "",
		    true, "fingerprint: explicit default interval is the same" },
		{ "url \"http://x/\"\nwarning > 1", "",
		    "url \"http://x/\"\nwarning time > 1s", "", true,
		    "fingerprint: thresholds compare resolved" },
		{ "url \"http://x/\"", "", "url \"http://y/\"", "", false,
		    "fingerprint: kind directive change" },
		{ "url \"http://x/\"\nwarning > 1", "",
		    "url \"http://x/\"\nwarning > 2", "", false,
		    "fingerprint: threshold change" },
		{ "url \"http://x/\"", "", "url \"http://x/\"", "interval 2m\n",
		    false, "fingerprint: global interval change" },
		{ "url \"http://x/\"", "", "url \"http://x/\"\nfail-after 3", "",
		    false, "fingerprint: fail-after change" },
		{ "url \"a b\"", "", "url a b", "", false,
		    "fingerprint: one arg with a blank is not two args" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char	*a = fingerprint_of(t[i].a_body, t[i].a_glob);
		char	*b = fingerprint_of(t[i].b_body, t[i].b_glob);
		bool	 same = a != NULL && b != NULL && strcmp(a, b) == 0;

		/* "url a b" does not build (two args): different by absence. */
		UNIT_CHECK(t[i].same ? same : !same || a == NULL, t[i].name,
		    "a=[%s] b=[%s]", a ? a : "(null)", b ? b : "(null)");
		free(a);
		free(b);
	}
}

/* ----------------------------------------------------------------- bad */

static const struct {
	const char	*name;
	const char	*text;
	const char	*errors;	/* every line, in order */
} bad[] = {
	/* syntax */
	{ "unbalanced open brace", "host a {\n address x\n",
	    "t.conf:1:8: '{' of 'host' is never closed\n" },
	{ "unbalanced close brace", "user x\n}\n",
	    "t.conf:2:1: unexpected '}'\n" },
	{ "brace on its own line", "host a\n{\n}\n",
	    "t.conf:2:1: '{' without a directive before it on the same line\n" },
	{ "unterminated string", "user \"abc\n",
	    "t.conf:1:6: unterminated string\n" },
	{ "unknown escape", "user \"a\\tb\"\n",
	    "t.conf:1:8: unknown escape '\\t' in string (use \\\", \\\\ or \\n)\n" },
	{ "quote inside a word", "user ab\"c\"\n",
	    "t.conf:1:8: quote inside a word\n" },
	{ "no blank after string", "user \"a\"b\n",
	    "t.conf:1:9: missing blank after string\n" },
	{ "control character", "user a\001b\n",
	    "t.conf:1:7: control character 0x01 in input\n" },
	{ "nesting limit",
	    "a{b{c{d{e{f{g{h{i{j{k{l{m{n{o{p{q{}}}}}}}}}}}}}}}}}\n",
	    "t.conf:1:34: blocks nested deeper than 16\n" },
	{ "include with no file", "include\n",
	    "t.conf:1:1: 'include' takes 1 argument (got 0)\n" },
	{ "include of a missing file", "include \"nope.conf\"\n",
	    "t.conf:1:9: cannot open 'nope.conf': No such file or directory\n" },

	/* global keys */
	{ "unknown key", "intervall 1m\n",
	    "t.conf:1:1: unknown key 'intervall'\n" },
	{ "bad duration", "interval 5x\n",
	    "t.conf:1:10: bad duration '5x' for 'interval': unknown unit "
	    "(use ms, s, m, h, d)\n" },
	{ "duration without unit", "timeout 10\n",
	    "t.conf:1:9: bad duration '10' for 'timeout': missing unit "
	    "(ms, s, m, h, d)\n" },
	{ "interval under 1s", "interval 500ms\n",
	    "t.conf:1:10: bad duration '500ms' for 'interval': must be at "
	    "least 1s\n" },
	{ "global timeout longer than interval", "interval 10s\ntimeout 20s\n",
	    "t.conf:2:1: timeout 20s is longer than interval 10s\n" },
	{ "duplicate scalar", "rrd-dir a\nuser u\n  rrd-dir \"b\"\n",
	    "t.conf:3:3: duplicate key 'rrd-dir' (first at t.conf:1:1)\n" },
	{ "too many arguments", "user a b\n",
	    "t.conf:1:1: 'user' takes 1 argument (got 2)\n" },
	{ "block on a scalar", "user a { }\n",
	    "t.conf:1:1: 'user' takes no block\n" },
	{ "host without block", "host a\n",
	    "t.conf:1:1: 'host' needs a block { ... }\n" },
	{ "bad log level", "log-level loud\n",
	    "t.conf:1:11: unknown log level 'loud' (use error, warning, notice, "
	    "info or debug)\n" },
	{ "empty rrdcached", "rrdcached unix:\n",
	    "t.conf:1:11: 'rrdcached' needs a socket path (unix:PATH)\n" },
	{ "every error, not just the first",
	    "intervall 1m\ntimeout 5x\nfoo\n",
	    "t.conf:1:1: unknown key 'intervall'\n"
	    "t.conf:2:9: bad duration '5x' for 'timeout': unknown unit "
	    "(use ms, s, m, h, d)\n"
	    "t.conf:3:1: unknown key 'foo'\n" },

	/* hosts and templates */
	{ "duplicate host",
	    "host a { address x }\nhost b { address y }\nhost a { address z }\n",
	    "t.conf:3:1: duplicate host 'a' (first at t.conf:1:1)\n" },
	{ "duplicate template",
	    "template t { }\ntemplate t { }\n",
	    "t.conf:2:1: duplicate template 't' (first at t.conf:1:1)\n" },
	{ "unknown template", "host a {\n address x\n use \"linx\"\n}\n",
	    "t.conf:3:6: unknown template 'linx'\n" },
	{ "template used twice",
	    "template t { }\nhost a {\n address x\n use t\n use t\n}\n",
	    "t.conf:5:2: template 't' is already used (at t.conf:4:2)\n" },
	{ "host without address", "host a {\n}\n",
	    "t.conf:1:1: host 'a' has no 'address'\n" },
	{ "bad host name", "host \"web 1\" { address x }\n",
	    "t.conf:1:6: bad host name 'web 1': must match "
	    "[A-Za-z0-9][A-Za-z0-9._-]*\n" },
	{ "host name with a path", "host ../etc { address x }\n",
	    "t.conf:1:6: bad host name '../etc': must match "
	    "[A-Za-z0-9][A-Za-z0-9._-]*\n" },
	{ "bad template name", "template -t { }\n",
	    "t.conf:1:10: bad template name '-t': must match "
	    "[A-Za-z0-9][A-Za-z0-9._-]*\n" },
	{ "bad snmp-version", "host a {\n address x\n snmp-version 4\n}\n",
	    "t.conf:3:15: bad snmp-version '4': use 1, 2c or 3\n" },
	{ "bad snmp-port", "host a {\n address x\n snmp-port 70000\n}\n",
	    "t.conf:3:12: bad snmp-port '70000': must be a whole number from "
	    "1 to 65535\n" },
	{ "unknown key in host", "host a {\n address x\n adress y\n}\n",
	    "t.conf:3:2: unknown key 'adress'\n" },
	{ "snmp probe needs a community",
	    "host a {\n address x\n probe load snmp { oid 1.3.6.1.2.1.1.3.0 }\n}\n",
	    "t.conf:1:1: host 'a': snmp probe 'load' needs a community\n" },
	{ "snmp probe from a template needs a community",
	    "template t { probe up snmp { oid 1.3.6.1.2.1.1.3.0 } }\n"
	    "host a {\n address x\n use t\n}\n",
	    "t.conf:2:1: host 'a': snmp probe 'up' needs a community\n" },

	/* probes */
	{ "unknown probe kind",
	    "host a {\n address x\n probe p smtp { }\n}\n",
	    "t.conf:3:10: unknown probe kind 'smtp' (known: snmp, http, tcp, icmp)\n" },
	{ "unknown key in a probe",
	    "host a {\n address x\n probe home http {\n url http://x/\n"
	    "  intervall 1m\n }\n}\n",
	    "t.conf:5:3: unknown key 'intervall' in http probe 'home'\n" },
	{ "duplicate probe in a host",
	    "host a {\n address x\n probe p http { url http://x/ }\n"
	    " probe p http { url http://y/ }\n}\n",
	    "t.conf:4:2: duplicate probe 'p' (first at t.conf:3:2)\n" },
	/* Template probes come first, so the host's own one is the later. */
	{ "own probe named like a template's",
	    "template t {\n probe p http { url http://x/ }\n}\n"
	    "host a {\n address x\n probe p http { url http://y/ }\n use t\n}\n",
	    "t.conf:6:2: duplicate probe 'p' (first at t.conf:2:2)\n" },
	{ "duplicate probe across templates",
	    "template t1 { probe p http { url http://x/ } }\n"
	    "template t2 { probe p http { url http://y/ } }\n"
	    "host a {\n address x\n use t1\n use t2\n}\n",
	    "t.conf:6:2: duplicate probe 'p' from template 't2' "
	    "(first at t.conf:1:15)\n" },
	{ "bad probe name",
	    "host a {\n address x\n probe \"a/b\" http { url http://x/ }\n}\n",
	    "t.conf:3:8: bad probe name 'a/b': must match "
	    "[A-Za-z0-9][A-Za-z0-9._-]*\n" },
	{ "probe timeout longer than interval",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  interval 10s\n  timeout 30s\n }\n}\n",
	    "t.conf:6:3: timeout 30s is longer than interval 10s in probe 'p'\n" },
	{ "probe interval under an explicit global timeout",
	    "timeout 10s\nhost a {\n address x\n probe p http {\n url http://x/\n"
	    "  interval 5s\n }\n}\n",
	    "t.conf:6:3: timeout 10s is longer than interval 5s in probe 'p'\n" },
	{ "bad fail-after",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  fail-after 0\n }\n}\n",
	    "t.conf:5:14: bad fail-after '0': must be a whole number from 1 "
	    "to 1000\n" },
	{ "unknown metric",
	    "host a {\n address x\n probe home http {\n url http://x/\n"
	    "  critical tme > 2s\n }\n}\n",
	    "t.conf:5:12: unknown metric 'tme' in probe 'home' "
	    "(has: time, status, size, dns, connect, tls, ttfb)\n" },
	{ "bad operator",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  warning time => 2\n }\n}\n",
	    "t.conf:5:16: bad operator '=>' for 'warning' (use >, >=, <, <=, "
	    "== or !=)\n" },
	{ "bad threshold value",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  warning time > 2q\n }\n}\n",
	    "t.conf:5:18: bad value '2q' for 'warning': not a number "
	    "(examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)\n" },
	{ "threshold arity",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  warning >\n }\n}\n",
	    "t.conf:5:3: 'warning' takes 2 to 6 arguments (got 1)\n" },
	{ "duplicate probe key",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  interval 1m\n  interval 2m\n }\n}\n",
	    "t.conf:6:3: duplicate key 'interval' (first at t.conf:5:3)\n" },
	{ "probe without arguments", "host a {\n address x\n probe p { }\n}\n",
	    "t.conf:3:2: 'probe' takes 2 arguments (got 1)\n" },
	{ "block inside a probe",
	    "host a {\n address x\n probe p http {\n url http://x/\n"
	    "  url2 { }\n }\n}\n",
	    "t.conf:5:3: 'url2' takes no block\n" },
	{ "errors from several blocks at once",
	    "template t { probe p http { url http://x/; bogus 1 } }\n"
	    "host a { use u }\nhost a { address y }\n",
	    "t.conf:1:44: unknown key 'bogus' in http probe 'p'\n"
	    "t.conf:2:14: unknown template 'u'\n"
	    "t.conf:2:1: host 'a' has no 'address'\n"
	    "t.conf:3:1: duplicate host 'a' (first at t.conf:2:1)\n" },
};

static void
test_bad(void)
{
	char		*errs;
	struct config	*c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = unit_conf_load(bad[i].text, &errs);
		UNIT_CHECK(c == NULL && strcmp(errs, bad[i].errors) == 0,
		    bad[i].name, "expected [%s] got [%s]", bad[i].errors, errs);
		conf_free(c);
	}
}

static void
test_secrets(void)
{
	char		*errs;
	struct config	*c;

	c = unit_conf_load("database \"password=hunter2\"\ndatabase \"password=hunter3\"\n"
	    "host a {\n community \"s3cret\"\n community \"s3cret2\"\n"
	    " probe p snmp { oid 1.3.6.1.2.1.1.3.0 }\n}\n", &errs);
	UNIT_CHECK(c == NULL && strstr(errs, "hunter") == NULL &&
	    strstr(errs, "s3cret") == NULL && strstr(errs, "duplicate key "
	    "'community'") != NULL, "secrets never appear in errors", "%s",
	    errs);
	conf_free(c);
}

/* Inputs that must fail cleanly, without a crash or a leak (asan). */
static void
test_robust(void)
{
	static const char *const t[] = {
		"", "{", "}", ";", "\"", "\\", "#", "a \"\\", "a \"\\\n\"",
		"host", "host {", "host a {", "host a { probe", "host a { probe p",
		"host a { probe p http {", "host a { probe p http { warning",
		"host a { probe p http { url x; warning time", "{{{{", "}}}}",
		"host a { address x; probe p http { warning > 1 } }",
		"template t { probe p snmp { warning > 1 } }",
		"template t { probe p snmp { oid a b c d } }",
		"host a { use; use a b; probe; probe a b c {} }",
		"\"\" \"\" { \"\" }", "host \"\" { address \"\" }",
	};
	char		*errs, big[6000];
	struct config	*c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = unit_conf_load(t[i], &errs);
		conf_free(c);
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = unit_conf_load(big, &errs);
	UNIT_CHECK(c == NULL && strcmp(errs,
	    "t.conf:1:1: word too long (limit 4096 bytes)\n") == 0,
	    "token length limit", "%s", errs);
	conf_free(c);
	UNIT_CHECK(true, "odd inputs fail without crashing", "%s", "");
}

int
main(void)
{
	log_init("test_conf", true, LOG_INFO);
	test_full_example();
	test_defaults();
	test_paths();
	test_order_and_timing();
	test_values();
	test_fingerprint();
	test_bad();
	test_secrets();
	test_robust();
	return UNIT_DONE();
}
