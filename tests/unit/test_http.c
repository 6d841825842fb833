/*
 * test_http.c: the pure parts of probes/http.c: the expect-status set
 * parser, and what parse/finish accept, reject and declare (every key,
 * the metrics of http and https urls).  Runs against
 * a real server live in the integration tests, not here.
 */
#include <stdint.h>

#include "itsmd.h"
#include "unit.h"

#define HTTP_EXPECT_BYTES	75	/* must match probes/http.c */

/* Exported by probes/http.c for this test only. */
int	http_expect_parse(const char *, unsigned char set[HTTP_EXPECT_BYTES], const char **why);
bool	http_expect_has(const unsigned char set[HTTP_EXPECT_BYTES], long code);

static void
test_expect_parse(void)
{
	static const struct {
		const char	*text;
		int		 rv;
		long		 in[4];		/* codes that must be in the set (0 ends) */
		long		 out[4];	/* codes that must not be */
	} t[] = {
		{ "200", 0, { 200 }, { 199, 201, 0 } },
		{ "200-299", 0, { 200, 250, 299 }, { 199, 300 } },
		{ "200-299,301", 0, { 200, 299, 301 }, { 300, 302 } },
		{ "200-399", 0, { 200, 302, 399 }, { 199, 400 } },
		{ "100-599", 0, { 100, 404, 599 }, { 99, 600 } },
		{ "301,302,200", 0, { 200, 301, 302 }, { 303 } },
		{ "404-404", 0, { 404 }, { 403, 405 } },
		{ "", -1, { 0 }, { 0 } },
		{ "20", -1, { 0 }, { 0 } },
		{ "2000", -1, { 0 }, { 0 } },
		{ "99", -1, { 0 }, { 0 } },
		{ "600", -1, { 0 }, { 0 } },
		{ "200-", -1, { 0 }, { 0 } },
		{ "-200", -1, { 0 }, { 0 } },
		{ "300-200", -1, { 0 }, { 0 } },
		{ "200,,301", -1, { 0 }, { 0 } },
		{ "200,", -1, { 0 }, { 0 } },
		{ "200 ", -1, { 0 }, { 0 } },
		{ "2xx", -1, { 0 }, { 0 } },
		{ "200;301", -1, { 0 }, { 0 } },
		{ "100-600", -1, { 0 }, { 0 } },
	};
	char	name[96];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char	 set[HTTP_EXPECT_BYTES];
		const char	*why = NULL;
		int		 rv;
		bool		 good = true;

		memset(set, 0xa5, sizeof(set));
		rv = http_expect_parse(t[i].text, set, &why);
		snprintf(name, sizeof(name), "expect-status '%s' %s", t[i].text,
		    t[i].rv == 0 ? "parses" : "is rejected");
		if (rv != t[i].rv) {
			UNIT_CHECK(false, name, "returned %d (%s)", rv, why ? why : "no reason");
			continue;
		}
		if (rv == -1) {
			/* a rejected text leaves the set alone and says why */
			for (size_t b = 0; b < sizeof(set); b++)
				good &= set[b] == 0xa5;
			UNIT_CHECK(good && why != NULL, name, "set touched or no reason");
			continue;
		}
		for (size_t k = 0; k < 4 && t[i].in[k]; k++)
			good &= http_expect_has(set, t[i].in[k]);
		for (size_t k = 0; k < 4 && t[i].out[k]; k++)
			good &= !http_expect_has(set, t[i].out[k]);
		good &= !http_expect_has(set, 0) && !http_expect_has(set, -1) &&
		    !http_expect_has(set, 1000);
		UNIT_CHECK(good, name, "membership wrong");
	}
}

/*
 * One `key arg...` directive of a probe block, as the parser would hand it
 * over; arg holds up to three arguments separated by '|'.
 */
static int
directive(struct probe_def *def, const char *key, const char *arg, struct conf_err *err)
{
	static int		 line = 1;
	char			 buf[256], *args[3], *p, *save = NULL;
	struct conf_pos		 argpos[3];
	struct conf_node	 n = {
		.name = (char *)key, .pos = { "t.conf", line, 5 },
		.args = args, .argpos = argpos, .nargs = 0,
	};

	if (arg != NULL) {
		snprintf(buf, sizeof(buf), "%s", arg);
		for (p = strtok_r(buf, "|", &save); p != NULL && n.nargs < 3;
		    p = strtok_r(NULL, "|", &save)) {
			argpos[n.nargs] = (struct conf_pos){ "t.conf", line, 10 + 10 * (int)n.nargs };
			args[n.nargs++] = p;
		}
		if (n.nargs == 0) {		/* "" is one empty argument */
			argpos[0] = (struct conf_pos){ "t.conf", line, 10 };
			args[n.nargs++] = buf;
		}
	}
	line++;
	return http_probe_ops.parse(def, &n, err);
}

static void
def_init(struct probe_def *def)
{
	memset(def, 0, sizeof(*def));
	def->name = "home";
	def->ops = &http_probe_ops;
	def->pos = (struct conf_pos){ "t.conf", 1, 1 };
	def->interval_ms = 60000;
	def->timeout_ms = 10000;
}

static void
def_clear(struct probe_def *def)
{
	http_probe_ops.free_def(def);
	for (size_t i = 0; i < def->nmetrics; i++) {
		free(def->metrics[i].name);
		free(def->metrics[i].unit);
	}
	free(def->metrics);
	def->metrics = NULL;
	def->nmetrics = 0;
}

static void
test_parse_finish(void)
{
	static const struct {
		const char	*name;
		const char	*kv[12];	/* key, arg pairs */
		int		 parse_rv;	/* of the last directive */
		int		 finish_rv;
		int		 errors;
	} t[] = {
		{ "url only", { "url", "http://127.0.0.1:8080/" }, 0, 0, 0 },
		{ "https with every key", { "url", "https://example.org/x?y=1",
		    "expect-status", "200-299,301", "method", "HEAD", "verify-tls", "no" }, 0, 0, 0 },
		{ "max-body and follow", { "url", "http://h/", "max-body", "64k",
		    "follow-redirects", "yes", "max-redirects", "3" }, 0, 0, 0 },
		{ "userinfo allowed", { "url", "http://u:p@127.0.0.1/" }, 0, 0, 0 },
		{ "unknown key is not ours", { "url", "http://h/", "bogus", "1" }, 1, 0, 0 },
		{ "common key is not ours", { "url", "http://h/", "interval", "5s" }, 1, 0, 0 },
		{ "missing url", { "method", "GET" }, 0, -1, 1 },
		{ "ftp url", { "url", "ftp://h/" }, -1, -1, 1 },
		{ "not a url", { "url", "http://" }, -1, -1, 1 },
		{ "bad method", { "url", "http://h/", "method", "TRACE" }, -1, 0, 1 },
		{ "bad verify-tls", { "url", "http://h/", "verify-tls", "maybe" }, -1, 0, 1 },
		{ "bad follow-redirects", { "url", "http://h/", "follow-redirects", "1" }, -1, 0, 1 },
		{ "bad max-body", { "url", "http://h/", "max-body", "lots" }, -1, 0, 1 },
		{ "zero max-body", { "url", "http://h/", "max-body", "0" }, -1, 0, 1 },
		{ "bad expect-status", { "url", "http://h/", "expect-status", "200-" }, -1, 0, 1 },
		{ "duplicate url", { "url", "http://h/", "url", "http://h2/" }, -1, 0, 1 },
		{ "missing argument", { "url", "http://h/", "method", NULL }, -1, 0, 1 },
		{ "url without argument is one error", { "url", NULL }, -1, -1, 1 },
		{ "post with body and headers", { "url", "http://h/", "method", "POST",
		    "body", "{\"a\":1}", "header", "Content-Type: application/json",
		    "header", "X-Trace: 1" }, 0, 0, 0 },
		{ "body alone means POST", { "url", "http://h/", "body", "x=1" }, 0, 0, 0 },
		{ "body with GET", { "url", "http://h/", "method", "GET", "body", "x" }, 0, -1, 1 },
		{ "header without colon", { "url", "http://h/", "header", "X-Trace 1" }, -1, 0, 1 },
		{ "header with space in name", { "url", "http://h/", "header", "X Y: 1" }, -1, 0, 1 },
		{ "body matches", { "url", "http://h/", "body-contains", "ok",
		    "body-not-contains", "error", "body-regex", "^status: (up)?ok$",
		    "body-not-regex", "fail(ed)?" }, 0, 0, 0 },
		{ "empty body-contains", { "url", "http://h/", "body-contains", "" }, -1, 0, 1 },
		{ "bad regex", { "url", "http://h/", "body-regex", "a(b" }, -1, 0, 1 },
		{ "HEAD cannot match a body", { "url", "http://h/", "method", "HEAD",
		    "body-contains", "x" }, 0, -1, 1 },
		{ "expect-header", { "url", "http://h/", "expect-header",
		    "Content-Type|^text/" }, 0, 0, 0 },
		{ "expect-header one argument", { "url", "http://h/", "expect-header",
		    "Content-Type" }, -1, 0, 1 },
		{ "expect-header bad name", { "url", "http://h/", "expect-header",
		    "Content-Type:|x" }, -1, 0, 1 },
		{ "ip-version and source", { "url", "http://h/", "ip-version", "6",
		    "source-address", "::1" }, 0, 0, 0 },
		{ "bad ip-version", { "url", "http://h/", "ip-version", "5" }, -1, 0, 1 },
		{ "source is not a name", { "url", "http://h/", "source-address", "eth0" },
		    -1, 0, 1 },
		{ "proxy and ca-file", { "url", "https://h/", "proxy", "http://127.0.0.1:3128",
		    "ca-file", "ca.pem" }, 0, 0, 0 },
		{ "bad max-redirects", { "url", "http://h/", "max-redirects", "51" }, -1, 0, 1 },
		{ "basic auth", { "url", "http://h/", "auth", "basic|user|pw" }, 0, 0, 0 },
		{ "bearer auth", { "url", "http://h/", "auth", "bearer|tok" }, 0, 0, 0 },
		{ "basic auth needs a password", { "url", "http://h/", "auth", "basic|user" },
		    -1, 0, 1 },
		{ "bearer takes one token", { "url", "http://h/", "auth", "bearer|a|b" },
		    -1, 0, 1 },
		{ "unknown auth", { "url", "http://h/", "auth", "digest|u|p" }, -1, 0, 1 },
		{ "unknown secret", { "url", "http://h/", "auth", "bearer|secret:nope" },
		    -1, 0, 1 },
	};
	char	name[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct probe_def	def;
		struct conf_err		err = { 0 };
		int			rv = 0, frv;

		def_init(&def);
		for (size_t k = 0; k < 12 && t[i].kv[k]; k += 2)
			rv = directive(&def, t[i].kv[k], t[i].kv[k + 1], &err);
		frv = http_probe_ops.finish(&def, &err);
		snprintf(name, sizeof(name), "http conf: %s", t[i].name);
		UNIT_CHECK(rv == t[i].parse_rv && frv == t[i].finish_rv && err.count == t[i].errors,
		    name, "parse %d finish %d errors %d, want %d %d %d", rv, frv, err.count,
		    t[i].parse_rv, t[i].finish_rv, t[i].errors);
		def_clear(&def);
	}
}

static void
test_metrics(void)
{
	static const char *const names[] = {
		"time", "status", "size", "dns", "connect", "tls", "ttfb", "cert-days",
	};
	static const char *const units[] = { "s", NULL, "B", "s", "s", "s", "s", "d" };
	static const struct {
		const char	*url;
		size_t		 n;
	} t[] = {
		{ "http://127.0.0.1/", 7 },
		{ "https://127.0.0.1/", 8 },	/* cert-days only where there is a cert */
	};
	char	name[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct probe_def	def;
		struct conf_err		err = { 0 };
		bool			good;

		def_init(&def);
		directive(&def, "url", t[i].url, &err);
		good = http_probe_ops.finish(&def, &err) == 0 && def.nmetrics == t[i].n;
		snprintf(name, sizeof(name), "%s declares %zu metrics", t[i].url, t[i].n);
		UNIT_CHECK(good, name, "nmetrics %zu", def.nmetrics);
		for (size_t m = 0; good && m < def.nmetrics; m++) {
			snprintf(name, sizeof(name), "%s metric %zu is %s in %s", t[i].url, m,
			    names[m], units[m] ? units[m] : "no unit");
			UNIT_CHECK(strcmp(def.metrics[m].name, names[m]) == 0 &&
			    (units[m] == NULL ? def.metrics[m].unit == NULL :
			    def.metrics[m].unit != NULL && strcmp(def.metrics[m].unit, units[m]) == 0) &&
			    def.metrics[m].kind == MK_GAUGE, name, "%s", def.metrics[m].name);
		}
		def_clear(&def);
		UNIT_CHECK(def.priv == NULL, "http free_def clears priv", "priv left");
	}
}

/* The global `http-max-per-origin`: what it accepts, and its errors. */
static void
test_max_per_origin(void)
{
	static const struct {
		const char	*text;
		const char	*error;		/* NULL: accepted */
	} t[] = {
		{ "http-max-per-origin 1\n", NULL },
		{ "http-max-per-origin 64\n", NULL },
		{ "http-max-per-origin 100000\n", NULL },
		{ "http-max-per-origin 0\n", "t.conf:1:21: bad http-max-per-origin '0': "
		    "must be a whole number from 1 to 100000" },
		{ "http-max-per-origin 100001\n", "bad http-max-per-origin '100001'" },
		{ "http-max-per-origin -1\n", "bad http-max-per-origin '-1'" },
		{ "http-max-per-origin 8x\n", "bad http-max-per-origin '8x'" },
	};
	char	name[96];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct conf_err		 err = { 0 };
		struct conf_tree	*tree;
		struct config		*cfg = NULL;
		char			*out;

		unit_capture_start();
		if ((tree = conf_parse_string("t.conf", t[i].text, &err)) != NULL)
			cfg = conf_build(tree, &err);
		out = unit_capture_end();
		snprintf(name, sizeof(name), "conf: %.*s", (int)strcspn(t[i].text, "\n"),
		    t[i].text);
		if (t[i].error == NULL)
			UNIT_CHECK(cfg != NULL && err.count == 0, name, "rejected: %s", out);
		else
			UNIT_CHECK(cfg == NULL && strstr(out, t[i].error) != NULL, name,
			    "want '%s', got '%s'", t[i].error, out);
		if (cfg != NULL)
			conf_free(cfg);
	}
	http_max_per_origin(0);
}

int
main(void)
{
	test_expect_parse();
	test_parse_finish();
	test_metrics();
	test_max_per_origin();
	return UNIT_DONE();
}
