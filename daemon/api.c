/*
 * api.c: the daemon's HTTP endpoint, on the loop through libevent's evhttp.
 * Routes are a prefix table.  Anything that reads RRD files is a job for
 * the api worker thread; the finished job comes back to the loop through a
 * pipe and the reply is sent from there, so a slow disk never stalls probes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "itsmd.h"

/* Graphs queued beyond this are refused with 503: a flood of requests must
 * not grow the daemon. */
#define API_QUEUE_MAX	64

struct api_job {
	struct api_job		*next;
	struct evhttp_request	*req;		/* NULL once the client has gone */
	struct graph_req	 rq;
	char			*host, *what;
	/* filled by the worker */
	unsigned char		*img;
	size_t			 len;
	int			 kind;
	char			 why[256];
};

typedef void (*api_handler)(struct evhttp_request *, const char *rest);

static void	h_graph(struct evhttp_request *, const char *);
static void	h_status(struct evhttp_request *, const char *);
static void	h_sla(struct evhttp_request *, const char *);

/* Adding an endpoint: a handler and a line here. */
static const struct {
	const char	*prefix;
	api_handler	 fn;
} routes[] = {
	{ "/graph/", h_graph },
	{ "/status", h_status },
	{ "/sla", h_sla },
};

static struct {
	struct evhttp	*http;
	struct event	*ev_done;
	int		 pipefd[2];
	char		*dir;
	char		*rrdcached;
	pthread_t	 thread;
	bool		 running;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 stop;
	struct api_job	*todo, *done;	/* LIFO is fine: each job has its own reply */
	size_t		 ntodo;
} A = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	.pipefd = { -1, -1 } };

static void
reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer	*b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
job_free(struct api_job *j)
{
	free(j->img);
	free(j->host);
	free(j->what);
	free(j);
}

/* The connection went away before the graph was drawn: forget the request. */
static void
on_conn_close(struct evhttp_connection *conn, void *arg)
{
	struct api_job	*j = arg;

	(void)conn;
	j->req = NULL;
}

static void
finish(struct api_job *j)
{
	struct evhttp_request	*req = j->req;

	if (req == NULL) {
		job_free(j);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	if (j->kind == 0) {
		struct evbuffer *b = evbuffer_new();
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		    j->rq.svg ? "image/svg+xml" : "image/png");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
		    "no-cache");
		evbuffer_add(b, j->img, j->len);
		evhttp_send_reply(req, HTTP_OK, "OK", b);
		evbuffer_free(b);
	} else if (j->kind == 1)
		reply_text(req, HTTP_NOTFOUND, "Not Found", j->why);
	else {
		log_warnx("api: graph %s/%s: %s", j->host, j->what, j->why);
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", j->why);
	}
	job_free(j);
}

static void
on_done(evutil_socket_t fd, short ev, void *arg)
{
	char		 buf[64];
	struct api_job	*list, *j;

	(void)ev;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&A.mu);
	list = A.done;
	A.done = NULL;
	pthread_mutex_unlock(&A.mu);
	while ((j = list) != NULL) {
		list = j->next;
		finish(j);
	}
}

static void *
api_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&A.mu);
	for (;;) {
		while (A.todo == NULL && !A.stop)
			pthread_cond_wait(&A.cv, &A.mu);
		if (A.stop)
			break;
		struct api_job *j = A.todo;
		A.todo = j->next;
		A.ntodo--;
		pthread_mutex_unlock(&A.mu);

		graph_render(&j->rq, &j->img, &j->len, &j->kind, j->why, sizeof(j->why));

		pthread_mutex_lock(&A.mu);
		j->next = A.done;
		A.done = j;
		if (write(A.pipefd[1], "", 1) == -1 && errno != EAGAIN)
			log_warn("api: cannot wake the loop");
	}
	pthread_mutex_unlock(&A.mu);
	return NULL;
}

/*
 * GET /sla?service=S&sla=NAME&period=2026-11: the figures `itsmctl sla
 * --json` prints, from sla_reports() in PostgreSQL.  The query goes through
 * db.c's queue like every statement of the daemon, so the loop never waits;
 * the reply is sent from the callback, unless the client has gone.
 */
struct api_sla {
	struct evhttp_request	*req;		/* NULL once the client has gone */
};

static void
sla_conn_close(struct evhttp_connection *conn, void *arg)
{
	struct api_sla	*s = arg;

	(void)conn;
	s->req = NULL;
}

static void
sla_done(void *arg, const struct pg_result *res, const char *error)
{
	struct api_sla		*s = arg;
	struct evhttp_request	*req = s->req;
	struct evbuffer		*b;
	const char		*json;

	free(s);
	if (req == NULL)
		return;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	if (error != NULL) {
		/* sla_period_parse() names a bad period; anything else is ours. */
		if (strncmp(error, "period ", 7) == 0)
			reply_text(req, HTTP_BADREQUEST, "Bad Request", error);
		else {
			/* The database's words stay in the log, not with the client. */
			log_warnx("api: /sla: %s", error);
			reply_text(req, HTTP_INTERNAL, "Internal Server Error",
			    "database error (see the itsmd log)");
		}
		return;
	}
	json = db_ntuples(res) > 0 ? db_value(res, 0, 0) : "[]";
	b = evbuffer_new();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-cache");
	evbuffer_add_printf(b, "%s\n", json);
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void
h_sla(struct evhttp_request *req, const char *rest)
{
	static const char	 sql[] = "SELECT coalesce(json_agg(q), '[]')"
	    " FROM sla_reports($1, $2, $3) q";
	const char		*q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char		*params[3], *v;
	struct evkeyvalq	 kv;
	struct api_sla		*s;

	if (rest[0] != '\0' && strcmp(rest, "/") != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found",
		    "use /sla?service=S&sla=NAME&period=2026-11");
		return;
	}
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) != 0) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "bad query string");
		return;
	}
	params[0] = (v = evhttp_find_header(&kv, "period")) != NULL ? v : "";
	params[1] = (v = evhttp_find_header(&kv, "service")) != NULL ? v : "";
	params[2] = (v = evhttp_find_header(&kv, "sla")) != NULL ? v : "";
	/* The period's own characters only: junk never reaches the log. */
	if (strlen(params[0]) > 32 || strspn(params[0], "0123456789-"
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(params[0])) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "period: want YYYY, YYYY-Qn, "
		    "YYYY-MM, YYYY-Www, YYYY-MM-DD, current or previous");
		evhttp_clear_headers(&kv);
		return;
	}
	if (!db_up()) {
		reply_text(req, 503, "Service Unavailable", "PostgreSQL is unreachable; retry");
		evhttp_clear_headers(&kv);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->req = req;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), sla_conn_close, s);
	/* db_exec copies the parameters: the query string can go now. */
	db_exec(sql, 3, params, sla_done, s);
	evhttp_clear_headers(&kv);
}

/* GET /status: status_text(), built on the loop (it reads the checks). */
static void
h_status(struct evhttp_request *req, const char *rest)
{
	struct evbuffer	*b;
	char		*text;

	if (rest[0] != '\0') {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "use /status");
		return;
	}
	text = status_text();
	b = evbuffer_new();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-cache");
	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	free(text);
}

/* GET /graph/HOST.png, /graph/HOST/METRIC.png?range=1w, ...svg, &start=&end= */
static void
h_graph(struct evhttp_request *req, const char *rest)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*q = evhttp_uri_get_query(uri), *range, *why, *v;
	struct evkeyvalq	 params;
	struct api_job		*j;
	char			*path, *slash, *dot, *end;
	time_t			 now = time(NULL);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		reply_text(req, 405, "Method Not Allowed", "graphs are read with GET");
		return;
	}
	if ((path = evhttp_uridecode(rest, 0, NULL)) == NULL) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "bad path");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	dot = strrchr(path, '.');
	if (dot == NULL || (strcmp(dot, ".png") != 0 && strcmp(dot, ".svg") != 0)) {
		reply_text(req, HTTP_NOTFOUND, "Not Found",
		    "use /graph/HOST[/METRIC].png or .svg");
		goto fail;
	}
	j->rq.svg = strcmp(dot, ".svg") == 0;
	*dot = '\0';
	if ((slash = strchr(path, '/')) != NULL) {
		*slash = '\0';
		j->what = xstrdup(slash + 1);
	} else
		j->what = xstrdup("");
	j->host = xstrdup(path);

	TAILQ_INIT(&params);
	if (q != NULL && evhttp_parse_query_str(q, &params) != 0) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request", "bad query string");
		goto fail;
	}
	range = evhttp_find_header(&params, "range");
	if (graph_range(range ? range : "1d", now, &j->rq.start, &j->rq.end, &why) == -1) {
		char msg[160];
		snprintf(msg, sizeof(msg), "bad range: %s", why);
		reply_text(req, HTTP_BADREQUEST, "Bad Request", msg);
		evhttp_clear_headers(&params);
		goto fail;
	}
	if ((v = evhttp_find_header(&params, "start")) != NULL) {
		j->rq.start = (time_t)strtoll(v, &end, 10);
		if (*end != '\0')
			j->rq.start = 0;
	}
	if ((v = evhttp_find_header(&params, "end")) != NULL) {
		j->rq.end = (time_t)strtoll(v, &end, 10);
		if (*end != '\0')
			j->rq.end = 0;
	}
	if ((v = evhttp_find_header(&params, "width")) != NULL)
		j->rq.width = (unsigned)strtoul(v, NULL, 10) % 4096;
	if ((v = evhttp_find_header(&params, "height")) != NULL)
		j->rq.height = (unsigned)strtoul(v, NULL, 10) % 4096;
	evhttp_clear_headers(&params);
	if (j->rq.start <= 0 || j->rq.end <= j->rq.start) {
		reply_text(req, HTTP_BADREQUEST, "Bad Request",
		    "start and end are epoch seconds, start before end");
		goto fail;
	}
	j->rq.dir = A.dir;
	j->rq.rrdcached = A.rrdcached;
	j->rq.host = j->host;
	j->rq.what = j->what;
	j->req = req;

	pthread_mutex_lock(&A.mu);
	if (A.ntodo >= API_QUEUE_MAX) {
		pthread_mutex_unlock(&A.mu);
		reply_text(req, 503, "Service Unavailable", "too many graphs queued; retry");
		goto fail;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, j);
	j->next = A.todo;
	A.todo = j;
	A.ntodo++;
	pthread_cond_signal(&A.cv);
	pthread_mutex_unlock(&A.mu);
	free(path);
	return;
fail:
	job_free(j);
	free(path);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	(void)arg;
	if (path == NULL)
		path = "/";
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strncmp(path, routes[i].prefix, strlen(routes[i].prefix)) == 0) {
			routes[i].fn(req, path + strlen(routes[i].prefix));
			return;
		}
	reply_text(req, HTTP_NOTFOUND, "Not Found", "no such endpoint; try /graph/HOST.png");
}

int
api_start(struct event_base *base, const struct config *cfg)
{
	char		*addr, *colon;
	unsigned long	 port;

	if (cfg->listen == NULL)
		return 0;
	addr = xstrdup(cfg->listen);
	if ((colon = strrchr(addr, ':')) == NULL) {
		log_warnx("api: listen %s: no port", cfg->listen);
		free(addr);
		return -1;
	}
	*colon = '\0';
	port = strtoul(colon + 1, NULL, 10);
	if (addr[0] == '[' && colon[-1] == ']') {	/* [::1]:8080 */
		colon[-1] = '\0';
		memmove(addr, addr + 1, strlen(addr));
	}
	if ((A.http = evhttp_new(base)) == NULL ||
	    evhttp_bind_socket(A.http, addr, (uint16_t)port) != 0) {
		log_warn("api: cannot listen on %s", cfg->listen);
		if (A.http != NULL)
			evhttp_free(A.http);
		A.http = NULL;
		free(addr);
		return -1;
	}
	free(addr);
	evhttp_set_allowed_methods(A.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(A.http, 30);
	evhttp_set_gencb(A.http, on_request, NULL);
	if (pipe2(A.pipefd, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("api: pipe");
	A.ev_done = event_new(base, A.pipefd[0], EV_READ | EV_PERSIST, on_done, NULL);
	event_add(A.ev_done, NULL);
	A.dir = xstrdup(cfg->rrd_dir);
	A.rrdcached = cfg->rrdcached ? xstrdup(cfg->rrdcached) : NULL;
	A.stop = false;
	if (pthread_create(&A.thread, NULL, api_main, NULL) != 0)
		fatalx("api: cannot start the graph thread");
	A.running = true;
	log_info("api: listening on http://%s/", cfg->listen);
	return 0;
}

void
api_stop(void)
{
	struct api_job	*j;

	if (!A.running)
		return;
	pthread_mutex_lock(&A.mu);
	A.stop = true;
	pthread_cond_signal(&A.cv);
	pthread_mutex_unlock(&A.mu);
	pthread_join(A.thread, NULL);
	A.running = false;
	/* Replies still owed go out as errors, before evhttp closes them. */
	for (int pass = 0; pass < 2; pass++) {
		while ((j = pass == 0 ? A.done : A.todo) != NULL) {
			if (pass == 0)
				A.done = j->next;
			else
				A.todo = j->next;
			if (pass == 1 && j->req != NULL) {
				j->kind = 2;
				snprintf(j->why, sizeof(j->why), "itsmd is stopping");
			}
			finish(j);
		}
	}
	A.ntodo = 0;
	evhttp_free(A.http);
	A.http = NULL;
	event_free(A.ev_done);
	close(A.pipefd[0]);
	close(A.pipefd[1]);
	free(A.dir);
	free(A.rrdcached);
	A.dir = A.rrdcached = NULL;
}
