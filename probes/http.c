/*
 * http.c: the HTTP probe.  One curl multi handle rides the libevent loop the
 * hiperfifo way (socket and timer callbacks, curl_multi_socket_action); each
 * check keeps one easy handle in check->probe_state, reused run after run.
 * A run yields timings, status, size and, for https, days until the
 * server certificate expires; body and header checks judge what came back.
 */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "itsmd.h"

#define HTTP_MAX_REDIRS		5
#define HTTP_MAX_REDIRS_LIMIT	50
#define HTTP_DEFAULT_EXPECT	"200-399"
#define HTTP_DEFAULT_MAX_BODY	(1024 * 1024)
#define HTTP_CODE_MIN		100
#define HTTP_CODE_MAX		599
/* One bit per status code 0..599; codes below 100 are never set. */
#define HTTP_EXPECT_BYTES	((HTTP_CODE_MAX + 8) / 8)
/* A reused connection has no handshake to read the certificate from: ask
 * for a fresh one this often, so a renewed certificate is seen. */
#define HTTP_CERT_RECHECK_MS	(60 * 60 * 1000)
#define HTTP_NSECRETS		6

/*
 * Metrics, in this order: `time` stays first so that a threshold without a
 * metric name means the total time.  dns, connect and tls are the lengths
 * of those phases; ttfb and time count from the start of the run.
 * cert-days only exists for https urls.
 */
enum http_metric {
	HM_TIME, HM_STATUS, HM_SIZE, HM_DNS, HM_CONNECT, HM_TLS, HM_TTFB, HM_CERT_DAYS,
	HM__COUNT
};
/* The kind's keys, in the order of http_keys[]. */
enum http_keyid {
	HK_URL, HK_EXPECT, HK_METHOD, HK_VERIFY, HK_MAXBODY, HK_FOLLOW, HK_MAXREDIRS,
	HK_HEADER, HK_BODY, HK_CONTAINS, HK_NOT_CONTAINS, HK_REGEX, HK_NOT_REGEX,
	HK_EXPECT_HEADER, HK_IPVERSION, HK_SOURCE, HK_PROXY, HK_CAFILE, HK_AUTH,
	HK__COUNT
};

/* A compiled POSIX extended regular expression and its text. */
struct http_re {
	char	*text;
	regex_t	 re;
};

/* Kind settings of one probe_def (def->priv); immutable once finished. */
struct http_def {
	char		*url;		/* may hold userinfo: handed to curl only */
	bool		 https;
	/* scheme://host:port, proxy and source: what a connection is shared by */
	char		*origin_key;
	/* userinfo, user, password of url and proxy, auth secret: scrubbed from reasons */
	char		*secrets[HTTP_NSECRETS];
	unsigned char	 expect[HTTP_EXPECT_BYTES];
	char		*expect_text;	/* as written, for "expected ..." */
	char		*method;	/* NULL: GET, or POST when a body is given */
	bool		 head;
	struct curl_slist *headers;
	char		*body;
	bool		 verify_tls;
	char		*ca_file;
	uint64_t	 max_body;
	bool		 follow;
	long		 max_redirs;
	char		*contains, *not_contains;
	struct http_re	*regex, *not_regex;
	char		*hdr_name;	/* expect-header NAME REGEX */
	struct http_re	*hdr_re;
	long		 ipresolve;
	char		*interface;	/* "host!ADDR" for CURLOPT_INTERFACE */
	char		*proxy;
	long		 authtype;	/* CURLAUTH_NONE, _BASIC or _BEARER */
	char		*auth_user;
	char		*auth_secret;	/* password or token */
	/* where each key was first given, to report duplicates */
	struct conf_pos	 seen[HK__COUNT];
	bool		 have[HK__COUNT];
};

/*
 * Runtime state of one check (check->probe_state).  Every state is on a
 * list so that shutdown can take the easy handles out of the multi even if
 * the checks are freed after it.
 */
struct http_state {
	CURL			*easy;
	struct check		*check;
	char			 errbuf[CURL_ERROR_SIZE];
	uint64_t		 received;
	uint64_t		 max_body;
	bool			 overflow;
	bool			 in_multi;
	/* the body, kept only when the def matches on it (at most max_body) */
	bool			 keep_body;
	char			*body;
	size_t			 body_len, body_cap;
	/* expect-header: seen in the latest response's headers */
	bool			 hdr_seen;
	/* the server certificate's notAfter, from the latest handshake */
	time_t			 not_after;
	bool			 have_cert;
	uint64_t		 cert_mono_ms;
	/* the def the easy handle's options were set for */
	const struct probe_def	*setup_def;
	char			*setup_fp;
	uint64_t		 waited_ms;	/* this run's wait for a slot */
	uint64_t		 started_ms;	/* mono: the scheduler started the run */
	bool			 https;		/* the def's, kept here: at 15,000 checks
					   the def is a cache miss away */
	/* the origin this check's runs go to; queued: waiting for a slot */
	struct http_origin	*origin;
	bool			 queued;
	TAILQ_ENTRY(http_state)	 qentry;
	LIST_ENTRY(http_state)	 entry;
};

/*
 * Transfers in flight per origin are bounded by us, not by curl: at most
 * http_origin_limit at once, the rest wait here in order and start as
 * slots free.  curl's own per-host cap queues inside curl, where a waiting
 * transfer still costs a walk of the host's connections every time the
 * multi is driven; here a waiting run costs nothing, and the host's
 * connection list stays at most `limit` long.
 */
struct http_origin {
	char			*key;
	unsigned		 refs;		/* states pointing here */
	unsigned		 active;	/* in the multi */
	size_t			 nqueued;
	TAILQ_HEAD(, http_state) queue;
	struct event		*timer;		/* a pump from the loop (after a cancel) */
	struct http_origin	*next;		/* hash chain */
};

/* One socket curl asked us to watch (curl_multi_assign'ed to it). */
struct http_sock {
	curl_socket_t		 fd;
	struct event		*ev;
	short			 kind;		/* what ev waits for now */
	LIST_ENTRY(http_sock)	 entry;
};

static struct event_base	*http_base;
static CURLM			*http_multi;
static struct event		*http_timer;
static int			 http_running;
static bool			 http_launched;	/* a run went into the multi just now */
static bool			 http_curl_global;
static LIST_HEAD(, http_state)	 http_states = LIST_HEAD_INITIALIZER(http_states);
static long			 http_nstates;
static LIST_HEAD(, http_sock)	 http_socks = LIST_HEAD_INITIALIZER(http_socks);
#define HTTP_ORIGIN_BUCKETS	4096
#define HTTP_ORIGIN_LIMIT	64
static struct http_origin	**http_origins;		/* hash table, lazily made */
static size_t			 http_norigins;
static unsigned			 http_origin_limit = HTTP_ORIGIN_LIMIT;

/* Exported for tests/unit/test_http.c only; not part of itsmd.h. */
int	http_expect_parse(const char *, unsigned char set[HTTP_EXPECT_BYTES], const char **why);
bool	http_expect_has(const unsigned char set[HTTP_EXPECT_BYTES], long code);

/* ------------------------------------------------------------ conf */

static int
parse_code(const char **pp, long *code)
{
	const char	*p = *pp;
	long		 v = 0;
	int		 n = 0;

	while (*p >= '0' && *p <= '9' && n < 4) {
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0 || n > 3)
		return -1;
	*code = v;
	*pp = p;
	return 0;
}

/*
 * "200-299,301": comma separated codes and inclusive ranges of 100..599.
 * All or nothing: the set is only written when the whole text is good.
 */
int
http_expect_parse(const char *text, unsigned char set[HTTP_EXPECT_BYTES], const char **why)
{
	unsigned char	 tmp[HTTP_EXPECT_BYTES] = { 0 };
	const char	*p = text;
	long		 lo, hi;

	for (;;) {
		if (parse_code(&p, &lo) == -1) {
			*why = "expected a status code (100-599)";
			return -1;
		}
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_code(&p, &hi) == -1) {
				*why = "expected a status code after '-'";
				return -1;
			}
		}
		if (lo < HTTP_CODE_MIN || hi > HTTP_CODE_MAX) {
			*why = "status codes are 100-599";
			return -1;
		}
		if (lo > hi) {
			*why = "range start is above its end";
			return -1;
		}
		for (long c = lo; c <= hi; c++)
			tmp[c / 8] |= 1u << (c % 8);
		if (*p == '\0')
			break;
		if (*p != ',') {
			*why = "codes and ranges are separated by ','";
			return -1;
		}
		p++;
	}
	memcpy(set, tmp, sizeof(tmp));
	return 0;
}

bool
http_expect_has(const unsigned char set[HTTP_EXPECT_BYTES], long code)
{
	if (code < HTTP_CODE_MIN || code > HTTP_CODE_MAX)
		return false;
	return (set[code / 8] >> (code % 8)) & 1;
}

static struct http_def *
http_def_get(struct probe_def *def)
{
	struct http_def	*hd = def->priv;
	const char	*why;

	if (hd == NULL) {
		hd = xcalloc(1, sizeof(*hd));
		hd->expect_text = xstrdup(HTTP_DEFAULT_EXPECT);
		if (http_expect_parse(hd->expect_text, hd->expect, &why) == -1)
			fatalx("http: default expect-status: %s", why);
		hd->verify_tls = true;
		hd->max_body = HTTP_DEFAULT_MAX_BODY;
		hd->max_redirs = HTTP_MAX_REDIRS;
		hd->ipresolve = CURL_IPRESOLVE_WHATEVER;
		hd->authtype = CURLAUTH_NONE;
		def->priv = hd;
	}
	return hd;
}

static int
parse_bool(const char *s, bool *v)
{
	if (strcmp(s, "yes") == 0)
		*v = true;
	else if (strcmp(s, "no") == 0)
		*v = false;
	else
		return -1;
	return 0;
}

static void
add_secret(struct http_def *hd, const char *s)
{
	for (size_t i = 0; i < HTTP_NSECRETS; i++)
		if (hd->secrets[i] == NULL) {
			hd->secrets[i] = xstrdup(s);
			return;
		}
	fatalx("http: more than %d secrets in one probe", HTTP_NSECRETS);
}

/*
 * Remember the userinfo of a url (as written, still percent-encoded) and
 * its decoded user and password, so run reasons can be scrubbed of them.
 */
static void
note_userinfo(struct http_def *hd, CURLU *u, const char *arg)
{
	char		*user = NULL, *pass = NULL;
	const char	*at, *slash, *start;

	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && *user != '\0')
		add_secret(hd, user);
	if (curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK && *pass != '\0')
		add_secret(hd, pass);
	if ((start = strstr(arg, "://")) != NULL) {
		start += 3;
		slash = start + strcspn(start, "/?#");
		at = memrchr(start, '@', slash - start);
		if (at != NULL && at > start) {
			char *ui = xasprintf("%.*s", (int)(at - start), start);
			add_secret(hd, ui);
			free(ui);
		}
	}
	curl_free(user);
	curl_free(pass);
}

/*
 * The URL must be http(s) with a host.  Userinfo is allowed (curl sends it
 * as basic auth) but is a secret: errors here never echo the URL, and its
 * pieces are remembered so run reasons can be scrubbed of them.
 */
static int
set_url(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char	*arg = n->args[0];
	CURLU		*u;
	CURLUcode	 uc;
	char		*scheme = NULL, *host = NULL, *port = NULL;
	int		 rv = -1;

	if ((u = curl_url()) == NULL)
		fatalx("http: out of memory");
	if ((uc = curl_url_set(u, CURLUPART_URL, arg, 0)) != CURLUE_OK) {
		conf_error(err, &n->argpos[0], "bad url: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		conf_error(err, &n->argpos[0], "url scheme '%s' is not http or https",
		    scheme ? scheme : "");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0') {
		conf_error(err, &n->argpos[0], "url has no host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		conf_error(err, &n->argpos[0], "url has no port");
		goto out;
	}
	hd->url = xstrdup(arg);
	hd->https = strcmp(scheme, "https") == 0;
	free(hd->origin_key);
	hd->origin_key = xasprintf("%s://%s:%s", scheme, host, port);
	note_userinfo(hd, u, arg);
	rv = 0;
 out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rv;
}

static int
set_expect(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char	*why;

	if (http_expect_parse(n->args[0], hd->expect, &why) == -1) {
		conf_error(err, &n->argpos[0], "bad expect-status '%s': %s", n->args[0], why);
		return -1;
	}
	free(hd->expect_text);
	hd->expect_text = xstrdup(n->args[0]);
	return 0;
}

static int
set_method(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(n->args[0], methods[i]) == 0) {
			hd->method = xstrdup(methods[i]);
			hd->head = i == 1;
			return 0;
		}
	conf_error(err, &n->argpos[0], "bad method '%s': GET, HEAD, POST, PUT, DELETE, "
	    "PATCH or OPTIONS", n->args[0]);
	return -1;
}

static int
set_verify_tls(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	if (parse_bool(n->args[0], &hd->verify_tls) == -1) {
		conf_error(err, &n->argpos[0], "bad verify-tls '%s': yes or no", n->args[0]);
		return -1;
	}
	return 0;
}

static int
set_max_body(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char	*why;

	if (conf_size_bytes(n->args[0], &hd->max_body, &why) == -1) {
		conf_error(err, &n->argpos[0], "bad size '%s' for 'max-body': %s", n->args[0], why);
		return -1;
	}
	if (hd->max_body == 0 || hd->max_body > (uint64_t)1 << 30) {
		conf_error(err, &n->argpos[0], "bad size '%s' for 'max-body': 1 to 1G",
		    n->args[0]);
		return -1;
	}
	return 0;
}

static int
set_follow(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	if (parse_bool(n->args[0], &hd->follow) == -1) {
		conf_error(err, &n->argpos[0], "bad follow-redirects '%s': yes or no", n->args[0]);
		return -1;
	}
	return 0;
}

static int
set_max_redirs(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(n->args[0], &end, 10);
	if (n->args[0][0] < '0' || n->args[0][0] > '9' || *end != '\0' || errno != 0 ||
	    v > HTTP_MAX_REDIRS_LIMIT) {
		conf_error(err, &n->argpos[0], "bad max-redirects '%s': 0 to %d", n->args[0],
		    HTTP_MAX_REDIRS_LIMIT);
		return -1;
	}
	hd->max_redirs = v;
	return 0;
}

/* `header "Name: value"`: sent as written; may repeat. */
static int
set_header(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char		*h = n->args[0], *colon = strchr(h, ':');
	struct curl_slist	*l;

	if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL ||
	    strcspn(h, " \t") < (size_t)(colon - h)) {
		conf_error(err, &n->argpos[0], "bad header: write \"Name: value\" on one line");
		return -1;
	}
	if ((l = curl_slist_append(hd->headers, h)) == NULL)
		fatalx("http: out of memory");
	hd->headers = l;
	return 0;
}

static int
set_body(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	(void)err;
	hd->body = xstrdup(n->args[0]);
	return 0;
}

static int
set_text(char **dst, const struct conf_node *n, struct conf_err *err)
{
	if (n->args[0][0] == '\0') {
		conf_error(err, &n->argpos[0], "'%s' must not be empty", n->name);
		return -1;
	}
	*dst = xstrdup(n->args[0]);
	return 0;
}

static int
set_contains(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	return set_text(&hd->contains, n, err);
}

static int
set_not_contains(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	return set_text(&hd->not_contains, n, err);
}

static void
re_free(struct http_re *r)
{
	if (r == NULL)
		return;
	regfree(&r->re);
	free(r->text);
	free(r);
}

/* POSIX extended syntax; regcomp's own words say what is wrong. */
static struct http_re *
re_make(const char *text, int flags, const struct conf_pos *pos, struct conf_err *err)
{
	struct http_re	*r = xcalloc(1, sizeof(*r));
	char		 why[128];
	int		 rc;

	if ((rc = regcomp(&r->re, text, REG_EXTENDED | REG_NOSUB | flags)) != 0) {
		regerror(rc, &r->re, why, sizeof(why));
		conf_error(err, pos, "bad regular expression '%s': %s", text, why);
		free(r);
		return NULL;
	}
	r->text = xstrdup(text);
	return r;
}

static int
set_regex(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	return (hd->regex = re_make(n->args[0], REG_NEWLINE, &n->argpos[0], err)) ? 0 : -1;
}

static int
set_not_regex(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	return (hd->not_regex = re_make(n->args[0], REG_NEWLINE, &n->argpos[0], err)) ? 0 : -1;
}

/* `expect-header NAME REGEX`: some header NAME of the final response matches. */
static int
set_expect_header(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	if (n->args[0][0] == '\0' || strpbrk(n->args[0], ": \t\r\n") != NULL) {
		conf_error(err, &n->argpos[0], "bad header name '%s'", n->args[0]);
		return -1;
	}
	if ((hd->hdr_re = re_make(n->args[1], 0, &n->argpos[1], err)) == NULL)
		return -1;
	hd->hdr_name = xstrdup(n->args[0]);
	return 0;
}

static int
set_ip_version(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	if (strcmp(n->args[0], "4") == 0 || strcmp(n->args[0], "ipv4") == 0)
		hd->ipresolve = CURL_IPRESOLVE_V4;
	else if (strcmp(n->args[0], "6") == 0 || strcmp(n->args[0], "ipv6") == 0)
		hd->ipresolve = CURL_IPRESOLVE_V6;
	else if (strcmp(n->args[0], "any") == 0)
		hd->ipresolve = CURL_IPRESOLVE_WHATEVER;
	else {
		conf_error(err, &n->argpos[0], "bad ip-version '%s': 4, 6 or any", n->args[0]);
		return -1;
	}
	return 0;
}

/* An address, never an interface name: curl would resolve a name on the loop. */
static int
set_source(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	unsigned char	buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, n->args[0], buf) != 1 &&
	    inet_pton(AF_INET6, n->args[0], buf) != 1) {
		conf_error(err, &n->argpos[0], "bad source-address '%s': an IPv4 or IPv6 "
		    "address", n->args[0]);
		return -1;
	}
	hd->interface = xasprintf("host!%s", n->args[0]);
	return 0;
}

static int
set_proxy(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	CURLU		*u;
	CURLUcode	 uc;

	if ((u = curl_url()) == NULL)
		fatalx("http: out of memory");
	if ((uc = curl_url_set(u, CURLUPART_URL, n->args[0], CURLU_GUESS_SCHEME)) != CURLUE_OK) {
		conf_error(err, &n->argpos[0], "bad proxy: %s", curl_url_strerror(uc));
		curl_url_cleanup(u);
		return -1;
	}
	note_userinfo(hd, u, n->args[0]);
	curl_url_cleanup(u);
	hd->proxy = xstrdup(n->args[0]);
	return 0;
}

/* Relative to the directory of the file that names it, like every conf path. */
static int
set_ca_file(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char	*path = n->args[0], *slash = strrchr(n->argpos[0].file, '/');

	if (*path == '\0') {
		conf_error(err, &n->argpos[0], "'ca-file' must not be empty");
		return -1;
	}
	if (path[0] == '/' || slash == NULL)
		hd->ca_file = xstrdup(path);
	else
		hd->ca_file = xasprintf("%.*s/%s", (int)(slash - n->argpos[0].file),
		    n->argpos[0].file, path);
	return 0;
}

/*
 * `auth basic USER PASSWORD` or `auth bearer TOKEN`.  The password or token
 * may be `secret:NAME` from the secrets file; either way it is scrubbed
 * from every reason and never appears in an error.
 */
static int
set_auth(struct http_def *hd, const struct conf_node *n, struct conf_err *err)
{
	const char	*v;
	size_t		 want;

	if (strcmp(n->args[0], "basic") == 0) {
		hd->authtype = CURLAUTH_BASIC;
		want = 3;
	} else if (strcmp(n->args[0], "bearer") == 0) {
		hd->authtype = CURLAUTH_BEARER;
		want = 2;
	} else {
		conf_error(err, &n->argpos[0], "bad auth '%s': basic or bearer", n->args[0]);
		return -1;
	}
	if (n->nargs != want) {
		conf_error(err, &n->pos, "'auth %s' takes %s", n->args[0],
		    want == 3 ? "a user and a password" : "a token");
		return -1;
	}
	if ((v = conf_secret(n->args[want - 1], &n->argpos[want - 1], err)) == NULL)
		return -1;
	if (*v == '\0') {
		conf_error(err, &n->argpos[want - 1], "the auth %s must not be empty",
		    want == 3 ? "password" : "token");
		return -1;
	}
	hd->auth_secret = xstrdup(v);
	add_secret(hd, v);
	if (want == 3)
		hd->auth_user = xstrdup(n->args[1]);
	return 0;
}

/* The keys of an http probe block, beyond the ones every probe has. */
static const struct http_key {
	const char	*name;
	size_t		 minargs, maxargs;
	bool		 multi;
	int		(*set)(struct http_def *, const struct conf_node *, struct conf_err *);
} http_keys[HK__COUNT] = {
	[HK_URL] =		{ "url",		1, 1, false, set_url },
	[HK_EXPECT] =		{ "expect-status",	1, 1, false, set_expect },
	[HK_METHOD] =		{ "method",		1, 1, false, set_method },
	[HK_VERIFY] =		{ "verify-tls",		1, 1, false, set_verify_tls },
	[HK_MAXBODY] =		{ "max-body",		1, 1, false, set_max_body },
	[HK_FOLLOW] =		{ "follow-redirects",	1, 1, false, set_follow },
	[HK_MAXREDIRS] =	{ "max-redirects",	1, 1, false, set_max_redirs },
	[HK_HEADER] =		{ "header",		1, 1, true, set_header },
	[HK_BODY] =		{ "body",		1, 1, false, set_body },
	[HK_CONTAINS] =		{ "body-contains",	1, 1, false, set_contains },
	[HK_NOT_CONTAINS] =	{ "body-not-contains",	1, 1, false, set_not_contains },
	[HK_REGEX] =		{ "body-regex",		1, 1, false, set_regex },
	[HK_NOT_REGEX] =	{ "body-not-regex",	1, 1, false, set_not_regex },
	[HK_EXPECT_HEADER] =	{ "expect-header",	2, 2, false, set_expect_header },
	[HK_IPVERSION] =	{ "ip-version",		1, 1, false, set_ip_version },
	[HK_SOURCE] =		{ "source-address",	1, 1, false, set_source },
	[HK_PROXY] =		{ "proxy",		1, 1, false, set_proxy },
	[HK_CAFILE] =		{ "ca-file",		1, 1, false, set_ca_file },
	[HK_AUTH] =		{ "auth",		2, 3, false, set_auth },
};

static int
http_parse(struct probe_def *def, const struct conf_node *n, struct conf_err *err)
{
	const struct http_key	*k;
	struct http_def		*hd;
	size_t			 i;

	for (i = 0; i < HK__COUNT; i++)
		if (strcmp(n->name, http_keys[i].name) == 0)
			break;
	if (i == HK__COUNT)
		return 1;
	k = &http_keys[i];
	hd = http_def_get(def);
	if (probe_key_check(n, k->multi, k->minargs, k->maxargs, &hd->have[i], &hd->seen[i],
	    err) == -1)
		return -1;
	return k->set(hd, n, err);
}

static int
http_finish(struct probe_def *def, struct conf_err *err)
{
	static const struct { const char *name, *unit; } m[HM__COUNT] = {
		[HM_TIME] = { "time", "s" },
		[HM_STATUS] = { "status", NULL },
		[HM_SIZE] = { "size", "B" },
		[HM_DNS] = { "dns", "s" },
		[HM_CONNECT] = { "connect", "s" },
		[HM_TLS] = { "tls", "s" },
		[HM_TTFB] = { "ttfb", "s" },
		[HM_CERT_DAYS] = { "cert-days", "d" },
	};
	struct http_def	*hd = http_def_get(def);
	size_t		 n;
	int		 rv = 0;

	if (hd->url == NULL) {
		/* Also reached when `url` was given but bad: that error is already out. */
		if (!hd->have[HK_URL])
			conf_error(err, &def->pos, "http probe '%s' needs a url", def->name);
		return -1;
	}
	if (hd->head && (hd->contains || hd->not_contains || hd->regex || hd->not_regex)) {
		conf_error(err, &hd->seen[HK_METHOD], "method HEAD gets no body to match "
		    "in probe '%s'", def->name);
		rv = -1;
	}
	if (hd->body != NULL && hd->method != NULL && (strcmp(hd->method, "GET") == 0 ||
	    hd->head)) {
		conf_error(err, &hd->seen[HK_BODY], "method %s sends no body in probe '%s'",
		    hd->method, def->name);
		rv = -1;
	}
	if (rv == -1)
		return -1;
	if (hd->body != NULL && hd->method == NULL)
		hd->method = xstrdup("POST");
	/* Runs that differ in proxy or source address share no connection.
	 * After the \1 comes what is never shown (a proxy may hold a password). */
	if (hd->proxy != NULL || hd->interface != NULL) {
		char *k = xasprintf("%s\1%s\1%s", hd->origin_key,
		    hd->proxy ? hd->proxy : "", hd->interface ? hd->interface : "");
		free(hd->origin_key);
		hd->origin_key = k;
	}
	n = hd->https ? HM__COUNT : HM_CERT_DAYS;
	def->metrics = xcalloc(n, sizeof(*def->metrics));
	def->nmetrics = n;
	for (size_t i = 0; i < n; i++) {
		def->metrics[i].name = xstrdup(m[i].name);
		def->metrics[i].unit = m[i].unit ? xstrdup(m[i].unit) : NULL;
		def->metrics[i].kind = MK_GAUGE;
		def->metrics[i].pos = def->pos;
	}
	return 0;
}

static void
http_free_def(struct probe_def *def)
{
	struct http_def	*hd = def->priv;

	if (hd == NULL)
		return;
	free(hd->url);
	free(hd->origin_key);
	for (size_t i = 0; i < HTTP_NSECRETS; i++)
		free(hd->secrets[i]);
	free(hd->expect_text);
	free(hd->method);
	curl_slist_free_all(hd->headers);
	free(hd->body);
	free(hd->ca_file);
	free(hd->contains);
	free(hd->not_contains);
	re_free(hd->regex);
	re_free(hd->not_regex);
	free(hd->hdr_name);
	re_free(hd->hdr_re);
	free(hd->interface);
	free(hd->proxy);
	free(hd->auth_user);
	if (hd->auth_secret != NULL)
		explicit_bzero(hd->auth_secret, strlen(hd->auth_secret));
	free(hd->auth_secret);
	free(hd);
	def->priv = NULL;
}

/* ------------------------------------------------------------ loop glue */

static void	check_multi_info(void);
static void	origin_pump(struct http_origin *);
static void	origin_free(struct http_origin *);
static void	origin_release(struct http_origin *);
static void	http_cancel(struct check *);
static bool	http_request_done(CURL *, CURLcode);
static void	http_request_abort_all(void);

/*
 * Runs that went into the multi while finished ones were collected (their
 * origin's queue) are due at once: send their requests in this loop pass
 * instead of the next one, which under load can be long in coming.  A few
 * rounds at most, so the loop's other events are not starved.
 */
static void
http_drive_launched(void)
{
	CURLMcode	mc;

	for (int i = 0; i < 4 && http_launched && http_multi != NULL; i++) {
		http_launched = false;
		mc = curl_multi_socket_action(http_multi, CURL_SOCKET_TIMEOUT, 0, &http_running);
		if (mc != CURLM_OK)
			log_warnx("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
		check_multi_info();
	}
}

/* libevent says a socket is ready: tell curl, then collect finished runs. */
static void
http_event_cb(evutil_socket_t fd, short kind, void *arg)
{
	int		action;
	CURLMcode	mc;

	(void)arg;
	action = (kind & EV_READ ? CURL_CSELECT_IN : 0) |
	    (kind & EV_WRITE ? CURL_CSELECT_OUT : 0);
	mc = curl_multi_socket_action(http_multi, fd, action, &http_running);
	if (mc != CURLM_OK)
		log_warnx("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	/*
	 * hiperfifo deletes the timer here once nothing is running; we must
	 * not: check_done may start a new run from inside check_multi_info,
	 * and that run's first timeout is the one curl has just asked for.
	 * curl clears the timer itself (timeout -1) when it has nothing to do.
	 */
	check_multi_info();
	http_drive_launched();
}

static void
http_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	CURLMcode	mc;

	(void)fd;
	(void)kind;
	(void)arg;
	http_launched = false;
	mc = curl_multi_socket_action(http_multi, CURL_SOCKET_TIMEOUT, 0, &http_running);
	if (mc != CURLM_OK)
		log_warnx("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	check_multi_info();
	http_drive_launched();
}

/*
 * CURLMOPT_TIMERFUNCTION: curl wants to be called back in timeout_ms (-1:
 * never).  Even 0 goes through the loop, as curl asks: acting on it from
 * inside this callback would re-enter curl.
 */
static int
http_multi_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct timeval	tv;

	(void)multi;
	(void)arg;
	if (timeout_ms < 0) {
		evtimer_del(http_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(http_timer, &tv) == 0 ? 0 : -1;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. */
static int
http_multi_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http_sock	*hs = sockp;
	short			 kind;

	(void)easy;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			LIST_REMOVE(hs, entry);
			event_free(hs->ev);
			free(hs);
		}
		return 0;
	}
	kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	    (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		hs->fd = fd;
		if ((hs->ev = event_new(http_base, fd, kind, http_event_cb, NULL)) == NULL) {
			log_warnx("http: cannot create an event for socket %d", (int)fd);
			free(hs);
			return -1;
		}
		LIST_INSERT_HEAD(&http_socks, hs, entry);
		curl_multi_assign(http_multi, fd, hs);
	} else if (hs->kind == kind)
		return 0;	/* curl says again what it said: no syscall */
	else {
		event_del(hs->ev);
		event_assign(hs->ev, http_base, fd, kind, http_event_cb, NULL);
	}
	if (event_add(hs->ev, NULL) == -1) {
		log_warnx("http: cannot watch socket %d", (int)fd);
		hs->kind = 0;
		return -1;
	}
	hs->kind = kind;
	return 0;
}

static int
http_init(struct event_base *base)
{
	const curl_version_info_data	*vi;
	CURLcode			 rc;

	if (http_multi != NULL)
		return 0;
	if (!http_curl_global) {
		if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
			log_warnx("http: curl_global_init: %s", curl_easy_strerror(rc));
			return -1;
		}
		http_curl_global = true;
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("http: libcurl %s resolves names synchronously; "
		    "use IP addresses in http urls or the loop may stall", vi->version);
	http_base = base;
	if ((http_timer = evtimer_new(base, http_timer_cb, NULL)) == NULL) {
		log_warnx("http: cannot create the curl timer");
		return -1;
	}
	if ((http_multi = curl_multi_init()) == NULL) {
		log_warnx("http: curl_multi_init failed");
		event_free(http_timer);
		http_timer = NULL;
		return -1;
	}
	curl_multi_setopt(http_multi, CURLMOPT_SOCKETFUNCTION, http_multi_socket);
	curl_multi_setopt(http_multi, CURLMOPT_SOCKETDATA, NULL);
	curl_multi_setopt(http_multi, CURLMOPT_TIMERFUNCTION, http_multi_timer);
	curl_multi_setopt(http_multi, CURLMOPT_TIMERDATA, NULL);
	return 0;
}

/*
 * Runs in flight are abandoned without check_done (the daemon is going
 * away), and every easy handle is released now, before curl_global_cleanup;
 * free_state may come later and then only frees the struct.
 */
static void
http_shutdown(void)
{
	struct http_state	*st;
	struct http_sock	*hs;

	LIST_FOREACH(st, &http_states, entry) {
		if (st->in_multi && http_multi != NULL)
			curl_multi_remove_handle(http_multi, st->easy);
		st->in_multi = false;
		st->queued = false;
		st->origin = NULL;	/* every origin goes below */
		if (st->easy != NULL)
			curl_easy_cleanup(st->easy);
		st->easy = NULL;
	}
	http_request_abort_all();
	if (http_multi != NULL)
		curl_multi_cleanup(http_multi);
	http_multi = NULL;
	/* curl_multi_cleanup need not report every socket as removed. */
	while ((hs = LIST_FIRST(&http_socks)) != NULL) {
		LIST_REMOVE(hs, entry);
		event_free(hs->ev);
		free(hs);
	}
	if (http_timer != NULL)
		event_free(http_timer);
	http_timer = NULL;
	if (http_origins != NULL) {
		for (size_t i = 0; i < HTTP_ORIGIN_BUCKETS; i++) {
			struct http_origin *o, *next;

			for (o = http_origins[i]; o != NULL; o = next) {
				next = o->next;
				origin_free(o);
			}
		}
		free(http_origins);
		http_origins = NULL;
	}
	http_norigins = 0;
	http_running = 0;
	if (http_curl_global)
		curl_global_cleanup();
	http_curl_global = false;
}

/* ------------------------------------------------------------ runs */

/*
 * The body is counted, and kept only when the def matches on it; either way
 * reading stops at max_body, so what a target sends cannot grow memory.
 */
static size_t
http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_state	*st = arg;
	size_t			 n = size * nmemb;

	if (n > st->max_body || st->received > st->max_body - n) {
		st->overflow = true;
		return 0;		/* != n: curl aborts with CURLE_WRITE_ERROR */
	}
	st->received += n;
	if (st->keep_body && n > 0) {
		/* one byte more than the body, for a NUL: regexec's callers expect one */
		if (st->body_len + n + 1 > st->body_cap) {
			size_t cap = st->body_cap ? st->body_cap : 4096;
			while (cap < st->body_len + n + 1)
				cap *= 2;
			if (cap > st->max_body + 1)
				cap = st->max_body + 1;
			st->body = xreallocarray(st->body, cap, 1);
			st->body_cap = cap;
		}
		memcpy(st->body + st->body_len, data, n);
		st->body_len += n;
		st->body[st->body_len] = '\0';
	}
	return n;
}

/*
 * CURLOPT_HEADERFUNCTION, set only for expect-header.  Headers are judged
 * as they arrive, nothing is kept; a status line starts a new response (a
 * redirect, 100 Continue), so only the final response's headers count.
 */
static size_t
http_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_state	*st = arg;
	const struct http_def	*hd = st->check->def->priv;
	size_t			 n = size * nmemb, nl = strlen(hd->hdr_name), vlen;
	const char		*v, *end = data + n;
	regmatch_t		 m;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		st->hdr_seen = false;
		return n;
	}
	if (n <= nl || data[nl] != ':' || strncasecmp(data, hd->hdr_name, nl) != 0)
		return n;
	for (v = data + nl + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	vlen = (size_t)(end - v);
	/* curl's header is not NUL-terminated: REG_STARTEND bounds the match
	 * by m instead (glibc reads m even with REG_NOSUB) */
	m.rm_so = 0;
	m.rm_eo = (regoff_t)vlen;
	if (regexec(&hd->hdr_re->re, v, 0, &m, REG_STARTEND) == 0)
		st->hdr_seen = true;
	return n;
}

/* Replace every occurrence of secret in buf by "***", truncating to len. */
static void
scrub(char *buf, size_t len, const char *secret)
{
	char	*out, *p, *q;
	size_t	 sl, o = 0, n;

	if (secret == NULL || (sl = strlen(secret)) == 0 || strstr(buf, secret) == NULL)
		return;
	out = xmalloc(len);
	for (p = buf; o + 1 < len; p = q + sl) {
		if ((q = strstr(p, secret)) == NULL)
			q = p + strlen(p);
		n = (size_t)(q - p);
		if (n > len - 1 - o)
			n = len - 1 - o;
		memcpy(out + o, p, n);
		o += n;
		if (*q == '\0')
			break;
		n = len - 1 - o < 3 ? len - 1 - o : 3;
		memcpy(out + o, "***", n);
		o += n;
	}
	out[o] = '\0';
	memcpy(buf, out, o + 1);
	free(out);
}

/* snprintf for reasons, where cutting a long curl message short is intended. */
static void __attribute__((format(printf, 3, 4)))
reasonf(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* "5s" or "1500ms": how the timeout reads best. */
static void
fmt_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

static bool
is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static bool
body_has(const struct http_state *st, const char *needle)
{
	return memmem(st->body ? st->body : "", st->body_len, needle, strlen(needle)) != NULL;
}

static bool
body_matches(const struct http_state *st, const struct http_re *r)
{
	regmatch_t	m;

	m.rm_so = 0;
	m.rm_eo = (regoff_t)st->body_len;
	return regexec(&r->re, st->body ? st->body : "", 0, &m, REG_STARTEND) == 0;
}

/*
 * A response with an expected status may still be wrong: the body or a
 * header says the service is broken (an error page served as 200).  That
 * is the service failing, as critical as a bad status.
 */
static enum probe_status
http_judge_content(const struct http_state *st, long code, char *reason, size_t len)
{
	const struct http_def	*hd = st->check->def->priv;

	if (hd->contains != NULL && !body_has(st, hd->contains))
		reasonf(reason, len, "HTTP %ld: body lacks \"%s\"", code, hd->contains);
	else if (hd->not_contains != NULL && body_has(st, hd->not_contains))
		reasonf(reason, len, "HTTP %ld: body contains \"%s\"", code, hd->not_contains);
	else if (hd->regex != NULL && !body_matches(st, hd->regex))
		reasonf(reason, len, "HTTP %ld: body does not match /%s/", code, hd->regex->text);
	else if (hd->not_regex != NULL && body_matches(st, hd->not_regex))
		reasonf(reason, len, "HTTP %ld: body matches /%s/", code, hd->not_regex->text);
	else if (hd->hdr_name != NULL && !st->hdr_seen)
		reasonf(reason, len, "HTTP %ld: no header %s matching /%s/", code, hd->hdr_name,
		    hd->hdr_re->text);
	else {
		reasonf(reason, len, "HTTP %ld", code);
		return PS_OK;
	}
	return PS_BAD_STATUS;
}

/*
 * Map a curl outcome to a status and reason.  Only a complete response
 * (CURLE_OK) yields samples; a transfer cut short has no honest time or
 * size, so every sample is then "no data" with the run's status.
 */
static enum probe_status
http_classify(struct http_state *st, CURLcode rc, long code, char *reason, size_t len)
{
	const struct probe_def	*def = st->check->def;
	const struct http_def	*hd = def->priv;
	const char		*detail = st->errbuf[0] ? st->errbuf : curl_easy_strerror(rc);
	long			 oserr = 0;
	char			 tbuf[32];

	if (rc == CURLE_OK) {
		if (!http_expect_has(hd->expect, code)) {
			reasonf(reason, len, "HTTP %ld (expected %s)", code, hd->expect_text);
			return PS_BAD_STATUS;
		}
		return http_judge_content(st, code, reason, len);
	}
	if (st->overflow || rc == CURLE_FILESIZE_EXCEEDED) {
		reasonf(reason, len, "body exceeds %" PRIu64 " bytes", hd->max_body);
		return PS_BAD_RESPONSE;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		fmt_ms(tbuf, sizeof(tbuf), def->timeout_ms);
		/* a run that waited for a slot says so: a queue behind a
		 * hanging server explains why runs come late */
		if (st->waited_ms > 0 && st->origin != NULL)
			reasonf(reason, len, "timed out after %s (sent after waiting %" PRIu64
			    "ms for one of %u slots to %.*s): %s", tbuf, st->waited_ms,
			    http_origin_limit, (int)strcspn(st->origin->key, "\1"),
			    st->origin->key, detail);
		else
			reasonf(reason, len, "timed out after %s: %s", tbuf, detail);
		return PS_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(st->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ECONNREFUSED) {
			reasonf(reason, len, "connection refused: %s", detail);
			return PS_REFUSED;
		}
		reasonf(reason, len, "%s", detail);
		return PS_CONNECT_ERROR;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		reasonf(reason, len, "%s", detail);
		return PS_CONNECT_ERROR;
	case CURLE_TOO_MANY_REDIRECTS:
		reasonf(reason, len, "bad response: more than %ld redirects", hd->max_redirs);
		return PS_BAD_RESPONSE;
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_UNSUPPORTED_PROTOCOL:	/* HTTP/0.9 reply or redirect to ftp */
		reasonf(reason, len, "bad response: %s", detail);
		return PS_BAD_RESPONSE;
	default:
		reasonf(reason, len, "%s", detail);
		return is_tls_error(rc) ? PS_TLS_ERROR : PS_ERROR;
	}
}

static void
set_sample(struct sample *s, bool ok, double v, enum probe_status ps, const char *reason)
{
	/* Whole-struct reset first: fields the http probe has no use for stay zero. */
	*s = (struct sample){ 0 };
	s->ok = ok;
	s->kind = MK_GAUGE;
	s->value = ok ? v : 0;
	s->status = ok ? PS_OK : ps;
	/* not reasonf: eight formatted copies a run showed in profiles */
	if (!ok) {
		size_t n = strnlen(reason, sizeof(s->reason) - 1);

		memcpy(s->reason, reason, n);
		s->reason[n] = '\0';
	}
}

/* "Expire date:Nov 26 04:00:00 2027 GMT", as curl's OpenSSL backend prints it. */
static bool
parse_expire(const char *text, time_t *t)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(text, "%b %d %H:%M:%S %Y", &tm)) == NULL)
		return false;
	while (*end == ' ')
		end++;
	if (*end != '\0' && strcmp(end, "GMT") != 0)
		return false;
	*t = timegm(&tm);
	return *t != (time_t)-1;
}

/*
 * The leaf certificate's expiry, read from what curl collected during this
 * run's handshake (CURLOPT_CERTINFO).  A run on a reused connection had no
 * handshake and keeps the date from the last one.
 */
static void
http_note_cert(struct http_state *st)
{
	struct curl_certinfo	*ci = NULL;
	struct curl_slist	*l;
	time_t			 t;

	if (curl_easy_getinfo(st->easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || ci == NULL ||
	    ci->num_of_certs < 1)
		return;
	for (l = ci->certinfo[0]; l != NULL; l = l->next)
		if (strncmp(l->data, "Expire date:", 12) == 0 && parse_expire(l->data + 12, &t)) {
			st->not_after = t;
			st->have_cert = true;
			st->cert_mono_ms = mono_ms();
			return;
		}
}

static double
seconds(curl_off_t us)
{
	return (double)us / 1e6;
}

/* Fill check->result and hand it over.  Nothing touches st afterwards. */
static void
http_complete(struct http_state *st, CURLcode rc)
{
	struct check		*c = st->check;
	const struct http_def	*hd = c->def->priv;
	struct probe_result	*r = &c->result;
	long			 code = 0;
	curl_off_t		 tot = 0, dns = 0, con = 0, app = 0, ttfb = 0;
	bool			 ok = rc == CURLE_OK, have;
	double			 v;

	if (st->easy != NULL) {
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(st->easy, CURLINFO_TOTAL_TIME_T, &tot);
		curl_easy_getinfo(st->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
		curl_easy_getinfo(st->easy, CURLINFO_CONNECT_TIME_T, &con);
		curl_easy_getinfo(st->easy, CURLINFO_APPCONNECT_TIME_T, &app);
		curl_easy_getinfo(st->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
		if (ok && hd->https)
			http_note_cert(st);
	}
	r->status = http_classify(st, rc, code, r->reason, sizeof(r->reason));
	for (size_t i = 0; i < HTTP_NSECRETS; i++)
		scrub(r->reason, sizeof(r->reason), hd->secrets[i]);
	for (size_t i = 0; i < c->def->nmetrics; i++) {
		have = ok;
		switch (i) {
		case HM_TIME:
			v = seconds(tot);
			break;
		case HM_STATUS:
			v = code;
			break;
		case HM_SIZE:
			v = (double)st->received;
			break;
		case HM_DNS:
			v = seconds(dns);
			break;
		case HM_CONNECT:
			/* on a reused connection both are 0: no connect phase */
			v = con > dns ? seconds(con - dns) : 0;
			break;
		case HM_TLS:
			v = app > con ? seconds(app - con) : 0;
			break;
		case HM_TTFB:
			v = seconds(ttfb);
			break;
		case HM_CERT_DAYS:
			have = ok && st->have_cert;
			v = have ? difftime(st->not_after, time(NULL)) / 86400.0 : 0;
			break;
		default:
			have = false;
			v = 0;
			break;
		}
		set_sample(&r->values[i], have, v, r->status, r->reason);
	}
	if (ok && hd->https && !st->have_cert)
		reasonf(r->values[HM_CERT_DAYS].reason, sizeof(r->values[HM_CERT_DAYS].reason),
		    "no certificate seen");
	r->finished_wall_ms = wall_ms();
	log_debug("%s: %s", c->key, r->reason);
	check_done(c);
}

/*
 * Collect every finished transfer.  The handle leaves the multi before
 * check_done, so the check may be started again (or freed) from inside it.
 */
static void
check_multi_info(void)
{
	CURLMsg			*msg;
	CURL			*easy;
	CURLcode		 rc;
	struct http_state	*st;
	char			*priv;
	int			 left;

	while (http_multi != NULL && (msg = curl_multi_info_read(http_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;		/* msg dies with remove_handle */
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		st = (struct http_state *)priv;
		curl_multi_remove_handle(http_multi, easy);
		if (http_request_done(easy, rc))
			continue;		/* notify.c's, not a probe's */
		if (st == NULL)
			continue;
		st->in_multi = false;
		/* the next queued run first: check_done may queue this check again */
		origin_release(st->origin);
		http_complete(st, rc);
	}
}

/*
 * All options go on the handle when it first serves a def, and again
 * whenever the def changes (a reload): curl keeps them between runs, and
 * setting them anew each run cost 7% of the loop (the URL is parsed every
 * time).  The def is known by address and fingerprint together, so a new
 * def that happens to reuse a freed one's address is still noticed.
 */
static CURLcode
http_setup(struct http_state *st, const struct probe_def *def)
{
	const struct http_def	*hd = def->priv;
	CURL			*e = st->easy;
	CURLcode		 rc = CURLE_OK;
	/* 0 would mean "no timeout" to curl: a run must always end. */
	long			 tmo = def->timeout_ms > 0 ? (long)def->timeout_ms : 1;

#define SET(opt, val) do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(e, opt, val);			\
} while (0)
	SET(CURLOPT_PRIVATE, st);
	SET(CURLOPT_URL, hd->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, tmo);
	SET(CURLOPT_CONNECTTIMEOUT_MS, tmo);
	SET(CURLOPT_ERRORBUFFER, st->errbuf);
	SET(CURLOPT_WRITEFUNCTION, http_write);
	SET(CURLOPT_WRITEDATA, st);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)hd->max_body);
	SET(CURLOPT_SSL_VERIFYPEER, hd->verify_tls ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, hd->verify_tls ? 2L : 0L);
	SET(CURLOPT_CAINFO, hd->ca_file);	/* NULL: the system's default */
	SET(CURLOPT_CERTINFO, hd->https ? 1L : 0L);
	st->https = hd->https;
	SET(CURLOPT_HTTPGET, 1L);		/* resets POST state from nothing */
	if (hd->head)
		SET(CURLOPT_NOBODY, 1L);
	else if (hd->body != NULL) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(hd->body));
		SET(CURLOPT_POSTFIELDS, hd->body);
	}
	SET(CURLOPT_CUSTOMREQUEST, hd->method != NULL && !hd->head &&
	    strcmp(hd->method, "GET") != 0 && strcmp(hd->method, "POST") != 0 ?
	    hd->method : NULL);
	SET(CURLOPT_HTTPHEADER, hd->headers);
	SET(CURLOPT_HEADERFUNCTION, hd->hdr_name != NULL ? http_header : NULL);
	SET(CURLOPT_HEADERDATA, hd->hdr_name != NULL ? st : NULL);
	SET(CURLOPT_FOLLOWLOCATION, hd->follow ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, hd->max_redirs);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_USERAGENT, "itsmd/" ITSMD_VERSION);
	SET(CURLOPT_IPRESOLVE, hd->ipresolve);
	SET(CURLOPT_INTERFACE, hd->interface);
	/* "" rather than NULL: a daemon's probes go where the conf says, not
	 * where an http_proxy variable of its environment would send them (and
	 * curl would read the environment on every run) */
	SET(CURLOPT_PROXY, hd->proxy != NULL ? hd->proxy : "");
	SET(CURLOPT_HTTPAUTH, hd->authtype);
	if (hd->authtype == CURLAUTH_BASIC) {
		SET(CURLOPT_USERNAME, hd->auth_user);
		SET(CURLOPT_PASSWORD, hd->auth_secret);
	} else if (hd->authtype == CURLAUTH_BEARER)
		SET(CURLOPT_XOAUTH2_BEARER, hd->auth_secret);
#undef SET
	return rc;
}

/* ------------------------------------------------------------ origins */

static void	http_launch(struct http_state *, uint64_t now);

static void	http_set_maxconnects(void);

/*
 * Set by conf_build (`http-max-per-origin`); 0: the default.  Like
 * mib-dirs it takes effect while the conf is built, so a reload that
 * fails later has still changed it.
 */
void
http_max_per_origin(unsigned n)
{
	http_origin_limit = n > 0 ? n : HTTP_ORIGIN_LIMIT;
	http_set_maxconnects();
}

/*
 * curl's connection cache only needs what can be in use at once: the slots
 * of every origin (never more than one per check), plus a few for webhooks.
 * A bigger cache is what made curl slow: it walks a host's whole list of
 * connections for every transfer.
 */
static void
http_set_maxconnects(void)
{
	long	n = (long)http_norigins * (long)http_origin_limit;

	if (n > http_nstates)
		n = http_nstates;
	if (http_multi != NULL)
		curl_multi_setopt(http_multi, CURLMOPT_MAXCONNECTS, n + 4);
}

static size_t
origin_bucket(const char *key)
{
	return hash_str(key) % HTTP_ORIGIN_BUCKETS;
}

static void
origin_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	origin_pump(arg);
}

static struct http_origin *
origin_get(const char *key)
{
	struct http_origin	*o, **b;

	if (http_origins == NULL)
		http_origins = xcalloc(HTTP_ORIGIN_BUCKETS, sizeof(*http_origins));
	b = &http_origins[origin_bucket(key)];
	for (o = *b; o != NULL; o = o->next)
		if (strcmp(o->key, key) == 0) {
			o->refs++;
			return o;
		}
	o = xcalloc(1, sizeof(*o));
	o->key = xstrdup(key);
	o->refs = 1;
	TAILQ_INIT(&o->queue);
	if ((o->timer = evtimer_new(http_base, origin_timer_cb, o)) == NULL)
		fatalx("http: cannot create a timer for %s", key);
	o->next = *b;
	*b = o;
	http_norigins++;
	http_set_maxconnects();
	return o;
}

static void
origin_free(struct http_origin *o)
{
	event_free(o->timer);
	free(o->key);
	free(o);
}

static void
origin_put(struct http_origin *o)
{
	struct http_origin	**pp;

	if (o == NULL || --o->refs > 0 || o->active > 0 || o->nqueued > 0)
		return;
	for (pp = &http_origins[origin_bucket(o->key)]; *pp != o; pp = &(*pp)->next)
		;
	*pp = o->next;
	origin_free(o);
	http_norigins--;
	http_set_maxconnects();
}

/*
 * Start queued runs, in order, while slots are free.  A run's timeout
 * starts when it goes out, not when it was queued: it measures the target,
 * not itsmd's queue.  A run still waiting when its check is due again is an
 * overrun (the scheduler skips and counts it), never a false alarm.
 */
static void
origin_pump(struct http_origin *o)
{
	struct http_state	*st;
	uint64_t		 now = mono_ms();

	o->refs++;		/* check_done may free the last state of o */
	while (o->active < http_origin_limit && (st = TAILQ_FIRST(&o->queue)) != NULL) {
		TAILQ_REMOVE(&o->queue, st, qentry);
		o->nqueued--;
		st->queued = false;
		http_launch(st, now);
	}
	origin_put(o);
}

/* The run leaves the multi: its slot is free for the next queued one. */
static void
origin_release(struct http_origin *o)
{
	o->active--;
	if (o->nqueued > 0)
		origin_pump(o);
}


/* A run that could not start still ends through check_done, like any other. */
static void
http_fail_start(struct http_state *st, const char *what)
{
	snprintf(st->errbuf, sizeof(st->errbuf), "cannot start: %s", what);
	http_complete(st, CURLE_FAILED_INIT);
}

static void
http_start(struct check *c)
{
	const struct http_def	*hd = c->def->priv;
	struct http_state	*st = c->probe_state;
	struct http_origin	*o;
	CURLcode		 rc;

	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		LIST_INSERT_HEAD(&http_states, st, entry);
		c->probe_state = st;
		/*
		 * curl keeps 4 idle connections per easy handle *in* the multi,
		 * and ours leave it after every run: without this, connections
		 * would be closed after use and every run would connect anew.
		 * One idle connection per check is what keep-alive needs, and
		 * no more than an origin's slots (http_set_maxconnects).
		 */
		http_nstates++;
		http_set_maxconnects();
	}
	st->check = c;
	st->started_ms = c->result.started_mono_ms;
	st->waited_ms = 0;
	st->received = 0;
	st->overflow = false;
	st->errbuf[0] = '\0';
	st->max_body = hd->max_body;
	st->keep_body = hd->contains || hd->not_contains || hd->regex || hd->not_regex;
	st->body_len = 0;
	if (st->body != NULL)
		st->body[0] = '\0';
	st->hdr_seen = false;
	if (st->in_multi || st->queued) {
		/* The scheduler never does this; be safe rather than leak a run. */
		log_warnx("%s: http run started while one is in flight; abandoning it", c->key);
		http_cancel(c);
	}
	if (http_multi == NULL) {
		http_fail_start(st, "http probe not initialised");
		return;
	}
	if (st->easy == NULL) {
		st->setup_def = NULL;	/* a new handle has no options yet */
		if ((st->easy = curl_easy_init()) == NULL) {
			http_fail_start(st, "curl_easy_init failed");
			return;
		}
	}
	if (st->setup_def != c->def || st->setup_fp == NULL || c->def->fingerprint == NULL ||
	    strcmp(st->setup_fp, c->def->fingerprint) != 0) {
		free(st->setup_fp);
		st->setup_fp = NULL;
		st->setup_def = NULL;
		if ((rc = http_setup(st, c->def)) != CURLE_OK) {
			http_fail_start(st, curl_easy_strerror(rc));
			return;
		}
		st->setup_def = c->def;
		st->setup_fp = c->def->fingerprint ? xstrdup(c->def->fingerprint) : NULL;
		if (st->origin == NULL || strcmp(st->origin->key, hd->origin_key) != 0) {
			origin_put(st->origin);
			st->origin = origin_get(hd->origin_key);
		}
	}
	o = st->origin;
	if (o->active < http_origin_limit && o->nqueued == 0) {
		http_launch(st, c->result.started_mono_ms);
		return;
	}
	TAILQ_INSERT_TAIL(&o->queue, st, qentry);
	o->nqueued++;
	st->queued = true;
	origin_pump(o);
}

/* Into the multi: the run's timeout starts now. */
static void
http_launch(struct http_state *st, uint64_t now)
{
	CURLcode		 rc = CURLE_OK;
	CURLMcode		 mc;

	st->waited_ms = now > st->started_ms ? now - st->started_ms : 0;
	/* The certificate is only seen in a handshake: with no date yet, or an
	 * old one, this run takes a new connection rather than a pooled one. */
	if (rc == CURLE_OK && st->https)
		rc = curl_easy_setopt(st->easy, CURLOPT_FRESH_CONNECT, !st->have_cert ||
		    mono_ms() - st->cert_mono_ms > HTTP_CERT_RECHECK_MS ? 1L : 0L);
	if (rc != CURLE_OK) {
		http_fail_start(st, curl_easy_strerror(rc));
		return;
	}
	if ((mc = curl_multi_add_handle(http_multi, st->easy)) != CURLM_OK) {
		http_fail_start(st, curl_multi_strerror(mc));
		return;
	}
	st->in_multi = true;
	st->origin->active++;
	http_launched = true;
}

static void
http_cancel(struct check *c)
{
	struct http_state	*st = c->probe_state;

	struct timeval		 now = { 0, 0 };

	if (st == NULL)
		return;
	if (st->queued) {
		TAILQ_REMOVE(&st->origin->queue, st, qentry);
		st->origin->nqueued--;
		st->queued = false;
		return;
	}
	if (!st->in_multi)
		return;
	if (http_multi != NULL)
		curl_multi_remove_handle(http_multi, st->easy);
	st->in_multi = false;
	/* The freed slot goes to the next queued run from the loop, not from
	 * inside whatever cancels (a reload tearing checks down). */
	st->origin->active--;
	if (st->origin->nqueued > 0)
		evtimer_add(st->origin->timer, &now);
}

static void
http_free_state(struct check *c)
{
	struct http_state	*st = c->probe_state;

	if (st == NULL)
		return;
	http_cancel(c);
	origin_put(st->origin);
	if (st->easy != NULL)
		curl_easy_cleanup(st->easy);
	LIST_REMOVE(st, entry);
	http_nstates--;
	http_set_maxconnects();
	free(st->setup_fp);
	free(st->body);
	free(st);
	c->probe_state = NULL;
}

const struct probe_ops http_probe_ops = {
	.name = "http",
	.init = http_init,
	.shutdown = http_shutdown,
	.parse = http_parse,
	.finish = http_finish,
	.start = http_start,
	.cancel = http_cancel,
	.free_state = http_free_state,
	.free_def = http_free_def,
};

/* ------------------------------------------------ requests for notify.c */
/*
 * Plain POSTs (webhooks) on the same multi handle as the probes, so they
 * need no loop glue of their own.  check_multi_info hands each finished
 * handle to http_request_done first; a handle not in this list is a probe's.
 */
struct http_request {
	struct http_request	*next;
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			*body;
	http_request_cb		 cb;
	void			*arg;
	char			 err[CURL_ERROR_SIZE];
};
static struct http_request	*http_requests;

static size_t
http_request_discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static void
http_request_free(struct http_request *r)
{
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->body);
	free(r);
}

int
http_request_submit(const char *url, const char *content_type, const char *body,
    uint64_t timeout_ms, http_request_cb cb, void *arg)
{
	struct http_request	*r;
	char			*ct;
	CURLcode		 rc = CURLE_OK;

	if (http_multi == NULL)
		return -1;
	r = xcalloc(1, sizeof(*r));
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return -1;
	}
	r->body = xstrdup(body);
	ct = xasprintf("Content-Type: %s", content_type);
	r->hdrs = curl_slist_append(NULL, ct);
	free(ct);
	r->cb = cb;
	r->arg = arg;
#define RSET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(r->easy, opt, val); } while (0)
	RSET(CURLOPT_URL, url);
	RSET(CURLOPT_PROTOCOLS_STR, "http,https");
	RSET(CURLOPT_POSTFIELDS, r->body);
	RSET(CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	RSET(CURLOPT_HTTPHEADER, r->hdrs);
	RSET(CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
	RSET(CURLOPT_NOSIGNAL, 1L);
	RSET(CURLOPT_WRITEFUNCTION, http_request_discard);
	RSET(CURLOPT_ERRORBUFFER, r->err);
	RSET(CURLOPT_USERAGENT, "itsmd/" ITSMD_VERSION);
#undef RSET
	if (rc != CURLE_OK || curl_multi_add_handle(http_multi, r->easy) != CURLM_OK) {
		http_request_free(r);
		return -1;
	}
	r->next = http_requests;
	http_requests = r;
	return 0;
}

static bool
http_request_done(CURL *easy, CURLcode rc)
{
	struct http_request	**rp, *r;
	long			  status = 0;

	for (rp = &http_requests; (r = *rp) != NULL; rp = &r->next)
		if (r->easy == easy)
			break;
	if (r == NULL)
		return false;
	*rp = r->next;
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	r->cb(r->arg, status, rc == CURLE_OK ? NULL :
	    r->err[0] != '\0' ? r->err : curl_easy_strerror(rc));
	http_request_free(r);
	return true;
}

static void
http_request_abort_all(void)
{
	struct http_request	*r;

	while ((r = http_requests) != NULL) {
		http_requests = r->next;
		curl_multi_remove_handle(http_multi, r->easy);
		r->cb(r->arg, 0, "aborted: shutting down");
		http_request_free(r);
	}
}
