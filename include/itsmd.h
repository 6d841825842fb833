/*
 * itsmd.h: the map of the whole daemon.  A sample travels
 *
 *   scheduler.c -> probe (probes/snmp.c, probes/http.c) -> check_done() in check.c
 *       -> rrd_writer.c (worker thread, rrdcached)        performance/capacity
 *       -> evaluation in check.c -> state.c (soft/hard, flapping, priority,
 *          parents, maintenance) -> incident.c -> db.c (libpq, async)
 *
 * Configuration (conf_lex.c -> conf_parse.c -> conf_build.c) produces a
 * struct config; checks.c turns it into runtime checks and, on reload, moves
 * the state of unchanged checks from the old set to the new one.
 */
#ifndef ITSMD_H
#define ITSMD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;

#define ITSMD_VERSION	"0.1.0"

/* ---------------------------------------------------------------- log.c */
/* Five verbs, as in OpenBSD daemons.  log_warn appends strerror(errno). */
void	log_init(const char *ident, bool foreground, int level);
void	log_setlevel(int level);	/* LOG_ERR .. LOG_DEBUG from syslog.h */
int	log_level_parse(const char *name);	/* -1 if unknown */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------- xmalloc.c */
/* Allocation failure in a daemon of this size is not recoverable: die loudly. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
void	*xgrowarray(void *, size_t n, size_t size);	/* room for element n: doubles */
char	*xstrdup(const char *);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- hash.c */
uint64_t hash_str(const char *);	/* FNV-1a: stable across runs, for spreading */

/* ------------------------------------------------------------ monotime.c */
uint64_t mono_ms(void);		/* CLOCK_MONOTONIC, for deadlines */
uint64_t wall_ms(void);		/* CLOCK_REALTIME, for stored timestamps */

/* ------------------------------------------------------- severity/status */
/* Order matters: sev_worse() ranks CRITICAL > UNKNOWN > WARNING > OK. */
enum severity {
	SEV_OK = 0,
	SEV_WARNING,
	SEV_CRITICAL,
	SEV_UNKNOWN,
};
const char	*severity_name(enum severity);	/* "ok", "warning", ... */
enum severity	 sev_worse(enum severity, enum severity);

/*
 * Every way a probe can end.  The table in status.c gives each a short code,
 * and the severity a check takes when its probe ends that way.
 */
enum probe_status {
	PS_OK = 0,
	PS_TIMEOUT,		/* no answer within the timeout */
	PS_REFUSED,		/* connection refused / port unreachable */
	PS_CONNECT_ERROR,	/* other connect failure, DNS included */
	PS_AUTH_FAILED,
	PS_TLS_ERROR,
	PS_BAD_STATUS,		/* HTTP status not in the expected set */
	PS_BAD_RESPONSE,	/* malformed or unexpected answer */
	PS_NO_SUCH_OBJECT,	/* SNMP noSuchObject/Instance/endOfMibView */
	PS_ERROR,		/* local failure (socket, memory, library) */
	PS__COUNT
};
const char	*probe_status_code(enum probe_status);	/* "timeout" ... */
enum severity	 probe_status_severity(enum probe_status);

/* ------------------------------------------------------------- conf tree */
/* Where a thing was written; kept from the lexer to the last semantic check. */
struct conf_pos {
	const char	*file;	/* interned in the tree's file list, lives as long as the config */
	int		 line;
	int		 col;
};

/*
 * One directive: `name arg arg ... ;` or `name arg ... { children }`.
 * Owned by struct conf_tree; freed with conf_tree_free().
 */
struct conf_node {
	char		 *name;
	struct conf_pos	  pos;
	char		**args;
	struct conf_pos	 *argpos;
	size_t		  nargs;
	bool		  block;
	struct conf_node *children;
	size_t		  nchildren;
};

struct conf_tree {
	struct conf_node  root;		/* root.children are the top-level directives */
	char		**files;	/* every file read, for conf_pos.file */
	size_t		  nfiles;
};

/* Error sink: every error is printed at once and counted (relayd style). */
struct conf_err {
	int	count;
};
void	conf_error(struct conf_err *, const struct conf_pos *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* conf_lex.c + conf_parse.c: text to tree; `include "glob"` is expanded here. */
struct conf_tree *conf_parse_file(const char *path, struct conf_err *);
struct conf_tree *conf_parse_string(const char *name, const char *text, struct conf_err *);
void		  conf_tree_free(struct conf_tree *);

/* conf_units.c: values with units.  Return 0, or -1 with *why set to a static text. */
int	conf_duration_ms(const char *, uint64_t *ms, const char **why);	/* 500ms 30s 5m 1h 1d */
int	conf_size_bytes(const char *, uint64_t *bytes, const char **why);	/* 512 64k 1M 2G */
int	conf_percent(const char *, double *pct, const char **why);		/* 85% 99.9% */
int	conf_number(const char *, double *v, const char **why);		/* 3 -2.5 1e3, or any unit above */

/* ---------------------------------------------------------- definitions */
enum metric_kind {
	MK_AUTO = 0,	/* decided by the probe from what the target returns */
	MK_GAUGE,
	MK_COUNTER,	/* stored as a per-second rate */
};

/*
 * A value a probe yields.  Owned by its probe_def: name and unit are
 * allocated by the probe's finish() and freed by conf_free(); priv is freed
 * by ops->free_def.
 */
struct metric_def {
	char		*name;		/* "time", "status", "load1", ... */
	char		*unit;		/* "s", "B/s", "%" or NULL, for graphs and summaries */
	enum metric_kind kind;
	void		*priv;		/* probe kind data (an OID), freed by ops->free_def */
	struct conf_pos	 pos;
	/* The RRD data source's bounds: a value outside is stored unknown.
	 * A probe may set them in finish(); conf_build fills the rest from the
	 * unit and kind (rrdl_metric_bounds) and from `rrd { bounds }`. */
	bool		 has_min, has_max;
	double		 min, max;
};

enum cmp_op { CMP_GT, CMP_GE, CMP_LT, CMP_LE, CMP_EQ, CMP_NE };

struct threshold {
	enum severity	 sev;		/* SEV_WARNING or SEV_CRITICAL */
	size_t		 metric;	/* index into probe_def.metrics */
	enum cmp_op	 op;
	double		 limit;
	struct conf_pos	 pos;
	/* `... recover OP VALUE` (hysteresis): once hit, the threshold stays
	 * hit until the value meets the recovery condition. */
	bool		 has_recover;
	enum cmp_op	 recover_op;
	double		 recover_limit;
};

struct probe_ops;

/* A limit a metric must not reach: capacity.c forecasts the date it will. */
struct capacity_limit {
	size_t		 metric;	/* index into probe_def.metrics */
	double		 limit;
	struct conf_pos	 pos;
	bool		 of_max;	/* `capacity in 80% of-speed`: limit is a percentage
					   of the file's maximum (the link speed) */
};

/*
 * One probe as written in the conf (in a template or a host).  Owned by the
 * template or host that holds it; immutable once the config is built, so
 * several checks (one per host that uses the template) share it.
 */
struct probe_def {
	char			*name;
	const struct probe_ops	*ops;
	struct conf_pos		 pos;
	uint64_t		 interval_ms;
	uint64_t		 timeout_ms;
	int			 fail_after;	/* consecutive bad results before an incident */
	uint64_t		 retry_ms;	/* interval while soft (bad, not yet hard) */
	double			 flap_low;	/* percent state change: flapping stops below */
	double			 flap_high;	/* ... and starts at or above */
	struct metric_def	*metrics;
	size_t			 nmetrics;
	struct threshold	*thresholds;
	size_t			 nthresholds;
	void			*priv;		/* kind settings; ops->free_def frees */
	char			*fingerprint;	/* canonical text of the definition, for reload diffs */
	bool			 table;		/* yields rows, not values (set by finish) */
	struct capacity_limit	*capacity;	/* `capacity [METRIC] LIMIT` (capacity.c) */
	size_t			 ncapacity;
	const struct rrd_layout	*rrd;		/* its own `rrd { }` or its template's; NULL: the host's */
	/* scheduler.c: a check timing out again and again is run at most every
	 * backoff_max intervals until it answers; 0 or 1: never spaced out */
	unsigned		 backoff_max;
};

struct snmp_auth {
	int		 version;	/* 1, 2 (2c) or 3 */
	char		*community;	/* secret: never logged */
	unsigned	 port;
	int		 retries;
	/* SNMPv3 (USM); set by the snmp-* host keys, checked by conf_build */
	char		*user;		/* snmp-user: security name */
	int		 level;		/* 1 noAuthNoPriv, 2 authNoPriv, 3 authPriv */
	char		*auth_proto;	/* MD5 SHA SHA-224 SHA-256 SHA-384 SHA-512 */
	char		*auth_key;	/* secret: passphrase, never logged */
	char		*priv_proto;	/* DES AES (AES-128) AES-192 AES-256 */
	char		*priv_key;	/* secret: passphrase, never logged */
	char		*context;	/* snmp-context, or NULL */
	int		 max_inflight;	/* snmp-max-inflight: PDUs out per agent; 0: default */
};

/* Owned by struct config. */
struct host {
	char			 *name;
	char			 *address;
	struct conf_pos		  pos;
	struct snmp_auth	  snmp;
	struct probe_def	**probes;	/* from templates (shared) and own (in own_probes) */
	size_t			  nprobes;
	struct probe_def	 *own_probes;	/* defined inside this host block */
	size_t			  nown;
	/* dependencies and ITIL priority (state.c) */
	struct host		**parents;	/* `parent` hosts, in this config */
	size_t			  nparents;
	int			  impact;	/* 1 (high) .. 3 (low), default 2 */
	char			**tags;
	size_t			  ntags;
	const struct probe_def	 *avail;	/* availability probe: `availability` or the first */
	struct check		 *avail_check;	/* runtime: its check, set by checks_build() */
	const struct rrd_layout	 *rrd;		/* its own `rrd { }`, the global one, or the default */
};

/*
 * A maintenance window from the conf (maint.c).  A check is covered when
 * every selector given matches (shell globs on host and probe names, tags
 * of the host) and one of the times is now.  Owned by struct config,
 * immutable once built.  Windows made with `itsmctl maintenance add` live
 * in the database; state.c reads the active ones on a timer.
 */
struct maint_time {
	bool		 once;		/* one-time: [start, end) in epoch seconds */
	int64_t		 start, end;
	unsigned	 days;		/* recurring: bit 0 = Sunday .. bit 6 = Saturday */
	int		 from_min, to_min;	/* minutes after local midnight; to <= from wraps */
};

struct maint_zone;

struct maint_window {
	char		 *name;
	struct conf_pos	  pos;
	char		**hosts, **probes, **tags;
	size_t		  nhosts, nprobes, ntags;
	struct maint_time *times;
	size_t		  ntimes;
	struct maint_zone *zone;	/* NULL: UTC */
};

struct template {
	char			*name;
	struct conf_pos		 pos;
	struct probe_def	*probes;
	size_t			 nprobes;
};

/*
 * A webhook receiver (notify.c): `receiver "NAME" { url ...; min-priority N;
 * events open escalate acknowledge resolve; hosts GLOB ...; timeout 10s }`.
 * Owned by struct config.
 */
struct receiver {
	char		 *name;
	char		 *url;		/* may hold a token: never logged */
	int		  min_priority;	/* send P1..P<min_priority>; 5 = all */
	unsigned	  events;	/* bit per NOTIFY_* kind */
	char		**hosts;	/* shell globs; none = every host */
	size_t		  nhosts;
	char		**checks;	/* shell globs on the check (its category); none = all */
	size_t		  nchecks;
	uint64_t	  timeout_ms;
	struct conf_pos	  pos;
};

/* The whole configuration.  conf_load() allocates, conf_free() frees. */
struct config {
	char		*path;
	char		*database;	/* libpq conninfo; secret (may hold a password) */
	char		*rrd_dir;
	char		*rrdcached;	/* "unix:/path" or NULL: write files from the writer thread */
	uint64_t	 rrd_write_delay_ms;	/* rrd-write-delay: updates held per file (0) */
	char		*user;		/* drop to this user when started as root */
	char		*pidfile;
	int		 log_level;
	uint64_t	 default_interval_ms;
	uint64_t	 default_timeout_ms;
	struct template	*templates;
	size_t		 ntemplates;
	struct host	*hosts;
	size_t		 nhosts;
	int		 priority[3][3];	/* [impact-1][urgency-1] -> P1..P5 */
	uint64_t	 settle_ms;	/* wait for a parent's re-probe before a child opens */
	struct maint_window *maint;
	size_t		 nmaint;
	char		*listen;	/* api.c: "127.0.0.1:8080" or NULL: no HTTP endpoint */
	uint64_t	 capacity_every_ms;	/* capacity.c: forecast run period (default 1h) */
	uint64_t	 capacity_window_ms;	/* trend fitted over this much history (14d) */
	uint64_t	 capacity_horizon_ms;	/* a date closer than this is a record (30d) */
	/* incident management (incident.c, spool.c) */
	uint64_t	 reopen_window_ms;	/* reopen-window: a recurrence within it reopens */
	int		 problem_count;		/* problem-after N in WINDOW; 0: no problems */
	uint64_t	 problem_window_ms;
	char		*spool_dir;		/* spool-dir: the write-ahead spool of changes */
	uint64_t	 spool_max_bytes;	/* spool-max-size */
	struct receiver	*receivers;		/* webhook receivers (notify.c) */
	size_t		 nreceivers;
	const struct rrd_layout *rrd;		/* global `rrd { }` (rrd_layout.c), or the default */
	struct service	*services;		/* business services and their SLAs (service.c) */
	size_t		 nservices;
	uint64_t	 sla_interval_ms;	/* sla-interval: how often SLAs are evaluated (1m) */
	struct conf_tree *tree;		/* kept so conf_pos.file stays valid */
};

/* conf_build.c: tree to config, reporting every semantic error. NULL on any error. */
struct config	*conf_load(const char *path, struct conf_err *);
struct config	*conf_build(struct conf_tree *, struct conf_err *);	/* takes the tree */
void		 conf_free(struct config *);

/*
 * secrets.c: `secrets "FILE"` (global) names a file of `NAME "VALUE"` lines
 * (same lexer), refused if group or others may read it.  Wherever a value
 * may hold a secret (community, v3 keys, HTTP passwords and tokens), it may
 * be written `secret:NAME`.  conf_build() loads the file before any other
 * key, so order in the conf does not matter, and forgets it when done.
 *   conf_secret: during conf_build() only (probe parse/finish included).
 *     A value without the prefix is returned as is; `secret:NAME` gives the
 *     secret's value.  The result lives until conf_build() returns: copy it.
 *     NULL when the name is unknown or no secrets file is loaded, after
 *     reporting that at pos (the name only, never a value).
 */
const char	*conf_secret(const char *value, const struct conf_pos *, struct conf_err *);
int		 secrets_load(const char *path, const struct conf_pos *, struct conf_err *);
void		 secrets_clear(void);	/* zeroes and frees what secrets_load read */

/* ---------------------------------------------------------------- probes */
/* One value from one run.  `ok` false means no data: UNKNOWN, never zero. */
struct sample {
	bool		 ok;
	enum metric_kind kind;		/* what the target said it is */
	double		 value;		/* gauges */
	uint64_t	 raw;		/* counters, before rate math */
	unsigned	 width;		/* counter width in bits: 32 or 64 */
	bool		 discontinuity;	/* counter restarted (agent reboot): no rate now */
	bool		 young_agent;	/* the agent started moments ago (sysUpTime) */
	double		 max_rate;	/* counters: a faster rate is impossible (link
					   speed) and is discarded; 0 = no bound */
	enum probe_status status;	/* why not ok */
	char		 reason[96];
};

/*
 * One row of a table probe (an interface, a filesystem).  Owned by the
 * probe; valid from check_done() until the probe's next start().
 */
struct result_row {
	char		*name;		/* the device's label (ifName), any bytes but NUL */
	struct sample	*values;	/* def->nmetrics entries */
};

/*
 * What a probe hands to check_done().  Scalar probes fill values[]
 * (def->nmetrics entries, owned by the check, filled in place).  Table
 * probes (def->table) fill rows[] instead; their values[] stay unused and
 * status/reason speak for the run as a whole.
 */
struct probe_result {
	enum probe_status status;	/* of the run as a whole */
	char		  reason[256];	/* human text; never contains a secret */
	struct sample	 *values;
	struct result_row *rows;
	size_t		  nrows;
	uint64_t	  started_mono_ms;
	uint64_t	  finished_wall_ms;
};

struct check;

/*
 * A probe kind.  Adding one is a new file in probes/ and a line in probe.c.
 *   parse:      one kind-specific directive of a probe block: 0 handled,
 *               1 not a key of this kind, -1 error already reported.
 *   finish:     after the block: validate, declare metrics; -1 on error.
 *   start:      begin a run; the probe later calls check_done() exactly once,
 *               unless cancel() is called first.  Never blocks.
 *   cancel:     abandon a run in flight without calling check_done().
 *   free_state: runtime state hung on check->probe_state.
 *   free_def:   kind data on probe_def->priv and metric_def->priv.
 */
struct probe_ops {
	const char	*name;
	int		(*init)(struct event_base *);
	void		(*shutdown)(void);
	int		(*parse)(struct probe_def *, const struct conf_node *, struct conf_err *);
	int		(*finish)(struct probe_def *, struct conf_err *);
	void		(*start)(struct check *);
	void		(*cancel)(struct check *);
	void		(*free_state)(struct check *);
	void		(*free_def)(struct probe_def *);
};

/* probe.c: the table of probe kinds. */
const struct probe_ops	*probe_lookup(const char *name);
const struct probe_ops	*probe_kind(size_t i);	/* the i-th kind; NULL past the end */
int			 probe_key_check(const struct conf_node *, bool multi, size_t min,
			    size_t max, bool *have, struct conf_pos *seen, struct conf_err *);
int			 probe_init_all(struct event_base *);
void			 probe_shutdown_all(void);
extern const struct probe_ops snmp_probe_ops;
extern const struct probe_ops http_probe_ops;
/*
 * probes/snmp_mib.c: `mib-dirs` (global): where net-snmp's MIB parser looks
 * for modules the built-in name table lacks.  conf_build sets it (n = 0:
 * none) before any probe is parsed.
 */
void	snmp_mib_dirs(const char *const *dirs, size_t n);
/*
 * probes/http.c: one HTTP POST on the probes' curl multi handle, for
 * notify.c.  cb runs exactly once, from the loop: status is the HTTP code,
 * or 0 with error set.  -1 (cb never called) if it cannot be started.
 */
typedef void (*http_request_cb)(void *arg, long status, const char *error);
int	http_request_submit(const char *url, const char *content_type, const char *body,
	    uint64_t timeout_ms, http_request_cb, void *arg);
/* `http-max-per-origin N` (global): transfers in flight per scheme://host:port
 * at once, the rest wait in order (default 64; 0: the default).  conf_build
 * sets it before any probe is parsed. */
void	http_max_per_origin(unsigned n);
extern const struct probe_ops tcp_probe_ops;
extern const struct probe_ops icmp_probe_ops;
/*
 * icmp.c: fills a zeroed def as `probe NAME icmp { }` with this timing, for
 * a host's default availability check; freed like any probe_def.
 */
void	icmp_availability_def(struct probe_def *, const char *name, uint64_t interval_ms,
	    uint64_t timeout_ms, const struct conf_pos *);
/*
 * icmp.c: the ICMP sockets for the address families cfg's icmp checks use:
 * at start before the privilege drop (raw sockets need root), and after
 * every reload (a new family: a ping socket, or a warning naming the host).
 */
void	icmp_prepare(const struct config *);

/* ---------------------------------------------------------------- checks */
enum incident_known { INC_UNKNOWN = 0, INC_NONE, INC_OPEN };

/* Rate math state of one counter metric between two runs. */
struct counter_prev {
	bool		 have;
	uint64_t	 raw;
	uint64_t	 mono_ms;
};

/*
 * The state machine of one check instance (state.c): what it was, what it
 * is, and whether it has an incident.  Owned by its check_inst.
 */
struct check_state {
	enum severity		 state;		/* hard state: what incidents follow */
	enum severity		 last;		/* last evaluated result */
	int			 bad_count;	/* consecutive bad results */
	enum incident_known	 incident;
	char			*summary;	/* of the hard state, or NULL */
	uint64_t		 th_active;	/* thresholds hit last run (bit = index), for recover */
	uint8_t			 hist[21];	/* last results (enum severity), ring, for flapping */
	uint8_t			 nhist, hpos;
	bool			 flapping;
	bool			 maintenance;	/* the last change sent said so */
	uint64_t		 settle_until_ms;	/* monotonic; 0: not waiting on a parent */
	char			*att_host;	/* attached to this incident, or NULL */
	char			*att_check;
};

/*
 * One thing a check judges: the check itself ("" instance, always there:
 * scalar values and whole-run failures) or one row of a table probe.
 * Owned by its check (inst[]), moved to the new check on reload.
 */
struct check_inst {
	char			*name;		/* "" or the row's label */
	char			*incident_key;	/* check name in incidents: "probe" or "probe[row]" */
	char			*rrd_name;	/* row label made safe for a path; "" for the check */
	struct counter_prev	*prev;		/* one per metric */
	size_t			 nprev;
	struct rrd_series	**series;	/* one per metric, made on first store */
	unsigned		 series_gen;	/* rrdw_generation() they belong to */
	struct check_state	 st;
	bool			 seen;		/* table rows: returned by the latest run */
};

/*
 * One host running one probe: the unit that is scheduled and evaluated.
 * Allocated by checks_build(), freed by checks_free(); the probe may hang
 * state on probe_state.
 */
struct check {
	char			*key;		/* "host/probe", stable across reloads */
	struct host		*host;
	const struct probe_def	*def;

	/* scheduler.c */
	struct event		*timer;
	uint64_t		 next_due_ms;	/* monotonic */
	bool			 running;
	uint64_t		 runs;
	uint64_t		 overruns;
	bool			 overrun_logged;
	unsigned		 timeouts;	/* consecutive timed-out runs (backoff) */
	unsigned		 backoff;	/* intervals between runs now: 1 = on time */

	/* check.c: counter rates dropped (above link speed, discontinuity) */
	uint64_t		 discards;
	uint64_t		 discard_log_ms;	/* mono: start of the log window */
	unsigned		 discard_logged;	/* lines logged in that window */
	uint64_t		 discards_quiet;	/* discards not logged in it */
	size_t			 sched_slot;	/* scheduler.c: index in its list + 1 */

	/* probe */
	void			*probe_state;
	struct probe_result	 result;

	/* check.c: inst[0] is the "" instance; rows follow, sorted by name */
	struct check_inst	**inst;
	size_t			  ninst;
};

struct checkset {
	struct check	**v;
	size_t		  n;
};

/* checks.c */
struct checkset	*checks_build(struct config *);
void		 checks_adopt(struct checkset *new, struct checkset *old);	/* reload */
void		 checks_retire(struct checkset *old, const struct checkset *new);
void		 checks_free(struct checkset *);
struct check	*checks_find(const struct checkset *, const char *key);

/* check.c: the one completion endpoint of every probe run. */
void	check_done(struct check *);
struct check_inst *check_inst_new(const struct check *, const char *row);
void	check_inst_free(struct check_inst *);
/* pure pieces, unit tested */
/* no rate over less than min_ms: the older sample is kept for the next */
bool	counter_rate(struct counter_prev *, const struct sample *, uint64_t now_ms,
	    uint64_t min_ms, double *rate);
bool	threshold_hit(const struct threshold *, double v);
enum severity check_evaluate(const struct probe_def *, enum probe_status, const char *reason,
	    const struct sample *, const double *values, const bool *have,
	    char *summary, size_t len);
/* the same with recovery thresholds: *active holds the thresholds hit before, and after */
enum severity check_evaluate_hyst(const struct probe_def *, enum probe_status,
	    const char *reason, const struct sample *, const double *values, const bool *have,
	    uint64_t *active, char *summary, size_t len);

/* state.c: hard state and incidents of one instance. */
void	state_update(struct check *, struct check_inst *, enum severity, const char *summary);
void	state_forget(struct check *, struct check_inst *, const char *why);
void	state_free(struct check_state *);	/* what a check_state owns */
void	state_configure(const struct config *);	/* priority matrix, settle, windows */
/* pure pieces, unit tested */
void	flap_record(struct check_state *, enum severity);
double	flap_percent(const struct check_state *);	/* weighted, 0..100 */
int	priority_of(const int matrix[3][3], int impact, enum severity);	/* 1..5; 0 if ok */
void	priority_default(int matrix[3][3]);

/* maint.c: maintenance windows from the conf */
struct maint_zone *maint_zone_load(const char *name, const char **why);	/* NULL on error */
void	maint_zone_free(struct maint_zone *);
int64_t	maint_local(const struct maint_zone *, int64_t utc);	/* utc + offset then */
bool	maint_time_active(const struct maint_time *, const struct maint_zone *, int64_t now);
bool	maint_covers(const struct maint_window *, const struct host *, const char *probe);
int	maint_parse_days(const char *, unsigned *days, const char **why);
int	maint_parse_span(const char *, int *from_min, int *to_min, const char **why);
int	maint_parse_when(const char *, const struct maint_zone *, int64_t *, const char **why);
/* the first window covering host/probe at now (epoch s), or NULL */
const struct maint_window *maint_find(const struct maint_window *, size_t n,
	    const struct host *, const char *probe, int64_t now);

/* ------------------------------------------------------------ scheduler.c */
void	sched_init(struct event_base *);
void	sched_add(struct check *);
void	sched_remove(struct check *);
uint64_t sched_first_offset(const char *key, uint64_t interval_ms);	/* deterministic spread */
void	sched_run_within(struct check *, uint64_t ms);	/* bring the next run forward */
/* check_done(): after a timeout the next run may be spaced out; an answer resets */
void	sched_backoff(struct check *, bool timed_out);
/* every scheduled check, for status.c (valid until the next add/remove) */
struct check *const *sched_checks(size_t *n);
/* overruns are logged one by one up to 20 per window (10 s), then counted */
void	sched_log_window(uint64_t ms);	/* tests */

/* status.c: one line per scheduled check (runs, overruns, backoff, discards) */
char	*status_text(void);		/* malloc'd */

/* ----------------------------------------------------------- rrd_writer.c */
/* Hands updates to a worker thread; the loop never touches an RRD file. */
int	rrdw_start(const char *rrd_dir, const char *rrdcached);
void	rrdw_update(const char *host, const char *probe, const char *row, const char *metric,
	    uint64_t step_ms, uint64_t when_wall_ms, bool ok, double value);
void	rrdw_stop(void);		/* drains the queue, then joins */
/* The same, with what a file is made with when it does not exist yet
 * (rrd_layout.c); rrdw_update() is this with ds NULL: the default layout,
 * unbounded. */
struct rrd_ds;
void	rrdw_update_ds(const char *host, const char *probe, const char *row, const char *metric,
	    uint64_t step_ms, uint64_t when_wall_ms, bool ok, double value, const struct rrd_ds *ds);
/*
 * A series (one file) by handle: rrdw_series() finds or makes it once,
 * rrdw_put() then queues a sample without the lookup.  A handle stays valid
 * while rrdw_generation() returns what it did when the handle was taken.
 */
struct rrd_series;
struct rrd_series *rrdw_series(const char *host, const char *probe, const char *row,
	    const char *metric);
unsigned rrdw_generation(void);
void	rrdw_put(struct rrd_series *, uint64_t step_ms, uint64_t when_wall_ms, bool ok,
	    double value, const struct rrd_ds *ds);
/*
 * rrd-write-delay (direct writes only; 0, the default: every round): each
 * file's updates are held up to that long and written in one librrd call.
 * Set before rrdw_start or at a reload.  rrdw_flush(), off the loop only,
 * has the writer write these files' held updates now and waits for it:
 * every reader in the daemon calls it before reading a file.
 */
void	rrdw_set_delay(uint64_t delay_ms);
void	rrdw_flush(const char *const *paths, size_t n);
void	rrdw_flush_wait(uint64_t ms);	/* tests */
/* DIR/HOST/PROBE/METRIC.rrd, or DIR/HOST/PROBE/ROW/METRIC.rrd for a table row */
char	*rrdw_path(const char *dir, const char *host, const char *probe, const char *row,
	    const char *metric);
/*
 * The writer's storage health, for the loop: a failing RRD dir (full,
 * unwritable) raises an incident on host "itsmd", check "storage", and
 * resolves it when writes succeed again.  Polled by a timer on the base.
 */
void	rrdw_watch(struct event_base *);

/* ----------------------------------------------------------- rrd_layout.c */
/*
 * How an RRD file is made: `rrd { archive 2d@step 2w@5m 13M@1h 5y@1d;
 * consolidate min average max; heartbeat 2x; xff 50%; hwpredict 1d }`,
 * globally, in a template, a host or a probe (the probe's, then its
 * template's, then the host's, then the global one).  Layouts are interned:
 * one immutable copy per distinct layout, kept until exit, so the writer
 * thread may hold one across reloads.
 */
#define RRDL_MAX_ARCHIVES	8
#define RRDL_MAX_ARGS		(1 + RRDL_MAX_ARCHIVES * 4 + 1)
enum { RRDL_MIN = 1, RRDL_AVERAGE = 2, RRDL_MAX = 4, RRDL_LAST = 8 };
struct rrd_archive {
	uint64_t	 res_s;		/* 0: the step */
	uint64_t	 span_s;
};
struct rrd_layout {
	struct rrd_archive archives[RRDL_MAX_ARCHIVES];
	size_t		 narchives;
	unsigned	 cfs;		/* RRDL_* bits */
	unsigned	 heartbeat;	/* in steps */
	double		 xff;		/* 0..1 */
	uint64_t	 hw_season_s;	/* 0: no Holt-Winters archive */
	bool		 hw_mult;	/* MHWPREDICT (multiplicative season) */
};
/* What one file is made with. */
struct rrd_ds {
	const struct rrd_layout	*layout;	/* NULL: the default */
	double			 min, max;	/* NAN: unbounded */
};
const struct rrd_layout *rrdl_default(void);
/* An `rrd { }` block; NULL after reporting errors.  bounds: `bounds METRIC
 * MIN MAX` lines are allowed (a probe's block) and left to the caller. */
const struct rrd_layout *rrdl_parse(const struct conf_node *, bool bounds, struct conf_err *);
/* rrd_create arguments (DS and RRAs) into argv (malloc'd strings, at most
 * RRDL_MAX_ARGS); returns argc. */
int	rrdl_create_args(const struct rrd_ds *, unsigned step_s, char **argv);
void	rrdl_args_free(char **argv, int argc);
/* Fills the metric's unset bounds from its unit and kind (rates, %, s, B). */
void	rrdl_metric_bounds(struct metric_def *);
/* The ds an update of this metric (of a row whose rate bound is max_rate) gets. */
void	rrdl_ds(const struct probe_def *, const struct host *, size_t metric, double max_rate,
	    struct rrd_ds *);
/* How an existing file (rrd_info) differs from ds at step: "" if it does not. */
void	rrdl_differs(const void *rrd_info, const struct rrd_ds *, unsigned step_s,
	    char *why, size_t len);
/* Bounds equal within 1e-9 (NaN, unbounded, equals NaN). */
bool	rrdl_same_bound(double, double);
/* The writer's: the same, but a file whose bounds alone differ takes the new
 * known ones in place (rrd_tune; logged) and *why is then "". */
void	rrdl_check(const void *rrd_info, const struct rrd_ds *, unsigned step_s,
	    char *why, size_t len);

/* ------------------------------------------------------------ forecast.c */
/* A trend fitted to a series; times in seconds (epoch for RRD data). */
struct forecast {
	size_t		 n;		/* points used (unknowns skipped) */
	unsigned long	 step;		/* of the archive read */
	double		 slope;		/* per second */
	double		 intercept;
	double		 current;	/* the line at the last point */
	double		 last_t;
	double		 r2;		/* fit, 0..1: the confidence */
	double		 limit;
	bool		 trend;		/* slope clear of noise */
	bool		 found;		/* the line reaches limit at `when` */
	double		 when;
	bool		 hw;		/* Holt-Winters (the file has a HWPREDICT archive) */
	size_t		 season;	/* HW: points per season; 0 none */
};
/*
 * Pure: additive Holt-Winters (season points; 0: Holt's linear) over evenly
 * spaced (t, v), its smoothing picked by least one-step error; the date the
 * level + trend + seasonal peak first reaches limit.  The trend test is
 * least squares' (a noisy flat series gives no date).  -1: too few points.
 */
int	forecast_holt(const double *t, const double *v, size_t n, size_t season, double limit,
	    struct forecast *);
/* Pure: least squares over (t, v); NaN values skipped.  -1: too few points. */
int	forecast_linear(const double *t, const double *v, size_t n, double limit,
	    struct forecast *);
/* Off the loop only: fetches the file's AVERAGE archive over the window;
 * Holt-Winters when the file has a HWPREDICT/MHWPREDICT archive.  of_max:
 * limit is a percentage of the data source's maximum (-1 if it has none). */
int	forecast_rrd(const char *path, uint64_t window_s, time_t now, double limit, bool of_max,
	    struct forecast *, char *why, size_t whylen);

/* --------------------------------------------------------------- graph.c */
/*
 * Graphs drawn with librrd (never a shell-out).  Off the loop only: api.c
 * runs them in its worker thread, itsmctl directly.  `what` names a file
 * under DIR/HOST: "PROBE/METRIC", "PROBE/ROW/METRIC", or "NAME" (a probe
 * with one metric, or a metric unique on the host); "PROBE/ROW/if" draws a
 * table row's in and out metrics as bits/s with 95th percentile lines; ""
 * draws the host's panel set (every metric stacked, one small graph each).
 */
struct graph_req {
	const char	*dir;		/* rrd-dir */
	const char	*rrdcached;	/* flushed through first, when set */
	const char	*host;
	const char	*what;
	bool		 svg;		/* else PNG */
	time_t		 start, end;
	unsigned	 width, height;	/* 0: defaults */
};
/* "1d" "1w" "1m" "1y" or any duration; start/end as epoch or rrdtool AT-style */
int	graph_range(const char *range, time_t now, time_t *start, time_t *end,
	    const char **why);
/* 0 with *img (malloc'd) and *len; -1 with why: 1 = not found, 2 = other. */
int	graph_render(const struct graph_req *, unsigned char **img, size_t *len,
	    int *kind, char *why, size_t whylen);

/* ----------------------------------------------------------------- api.c */
/*
 * The daemon's HTTP endpoint (libevent evhttp on the loop).  Routes are a
 * prefix table; a handler that needs the disk queues a job for the api
 * worker thread and the reply is sent from the loop when it is done.
 */
int	api_start(struct event_base *, const struct config *);
void	api_stop(void);

/* ------------------------------------------------------------ capacity.c */
/*
 * Every capacity_every_ms, forecasts each metric with a capacity limit in a
 * worker thread; the loop then writes the results to the capacity table:
 * a date within the horizon opens or updates the record, leaving it
 * resolves the record.
 */
void	capacity_start(struct event_base *, const struct config *);
void	capacity_reconfigure(const struct config *);	/* after a reload */
void	capacity_stop(void);

/* ------------------------------------------------------------------ db.c */
/*
 * One libpq connection driven by the loop.  Statements queue in order and
 * survive a lost connection (they are retried after reconnect), so every
 * statement submitted must be safe to run twice.
 */
struct pg_result;
/* Called once per statement: on success (res, NULL); on an SQL error or at
 * db_shutdown (NULL, error), so the caller can always free its arg. */
typedef void (*db_cb)(void *arg, const struct pg_result *res, const char *error);
void	db_init(struct event_base *, const char *conninfo);
void	db_exec(const char *sql, int nparams, const char *const *params, db_cb, void *arg);
int	db_pending(void);
bool	db_up(void);		/* connected now */
void	db_shutdown(void);
/* accessors for callbacks, so callers need not include libpq */
int		 db_ntuples(const struct pg_result *);
const char	*db_value(const struct pg_result *, int row, int col);
long		 db_affected(const struct pg_result *);

/* ------------------------------------------------------------ incident.c */
/*
 * What the state machine (state.c) tells incident management about one
 * check instance.  Strings are borrowed for the call only: incident.c copies
 * what it keeps, since a reload may free the check before the database
 * answers.
 */
struct incident_change {
	const char	*host;		/* the CI */
	const char	*check;		/* check_inst.incident_key */
	enum severity	 sev;		/* SEV_OK: recovered */
	const char	*summary;
	uint64_t	 when_ms;	/* wall clock of the observation; 0 = now */
	int		 priority;	/* ITIL P1..P5; 0 = not computed */
	bool		 flapping;
	bool		 maintenance;	/* inside a maintenance window: open nothing new */
	const char	*parent_host;	/* attach as an affected CI of this host's ... */
	const char	*parent_check;	/* ... incident instead of opening one; or NULL */
};
void	incident_change(const struct incident_change *);
/* The older, narrower calls; both go through incident_change(). */
void	incident_raise(const char *host, const char *check, enum severity, const char *summary);
void	incident_resolve(const char *host, const char *check, const char *summary);
/*
 * incident_init: open the spool (replaying what a previous run left) before
 * the checks start.  incident_reconcile: once the checks exist, resolve the
 * open incidents of checks no longer in the conf (the others are settled by
 * their first evaluation).  incident_reconfigure: windows on reload.
 * incident_shutdown: before db_shutdown(); what is unwritten stays spooled.
 */
void	incident_init(struct event_base *, const struct config *);
void	incident_reconcile(const struct checkset *);
void	incident_reconfigure(const struct config *);
void	incident_shutdown(void);
/* valid UTF-8 (each bad byte U+FFFD), malloc'd: text for the database */
char	*incident_text_clean(const char *);

/* --------------------------------------------------------------- notify.c */
/*
 * Webhooks.  incident.c calls notify_incident() for what itsmd_change()
 * says is worth telling; operators' acknowledgements and manual resolves
 * (itsmctl) are found by polling incident_events.  Deliveries are per
 * receiver, in order, retried with backoff; a resolve always follows a
 * sent open.
 */
enum notify_kind { NOTIFY_OPEN, NOTIFY_ESCALATE, NOTIFY_ACKNOWLEDGE, NOTIFY_RESOLVE,
	NOTIFY__COUNT };
struct notify_msg {
	enum notify_kind kind;
	long		 incident;
	const char	*host;
	const char	*check;
	const char	*severity;
	int		 priority;	/* 0: none */
	const char	*summary;
	const char	*who;		/* acknowledge, manual resolve; or NULL */
	const char	*text;		/* the operator's comment, or NULL */
	uint64_t	 when_ms;
};
int	notify_kind_parse(const char *);	/* -1 if unknown */
void	notify_configure(struct event_base *, const struct config *);	/* start, reload */
void	notify_incident(const struct notify_msg *);
void	notify_shutdown(void);

/* ---------------------------------------------------------------- spool.c */
/*
 * The write-ahead file of incident changes (a worker thread writes and
 * fsyncs in batches).  spool_open hands each record a previous run left to
 * replay(seq, params, n, arg) in order; params are freed after the call.
 * spool_append returns the record's seq, or 0 if it was not spooled (full).
 * spool_committed(seq): record seq is in the database (its own statement
 * committed); the file sheds the taken records at its start.
 */
typedef void (*spool_replay_fn)(uint64_t seq, char **params, int n, void *arg);
int	 spool_open(const char *dir, uint64_t max_bytes, spool_replay_fn, void *arg);
uint64_t spool_append(const char *const *params, int n);
void	 spool_committed(uint64_t seq);
void	 spool_close(void);

/* --------------------------------------------- service.c, avail.c, sla.c */
/*
 * Business services (issue 7): `service "NAME" { rule ...; member HOST [PROBE]
 * [weight W]; depends "SVC"; impact N; sla "NAME" { ... } }`.  Owned by
 * struct config, immutable once built.  A member without a probe stands for
 * its host's availability check; a table probe's rows count as the check.
 */
enum service_rule { SVC_ALL = 0, SVC_AT_LEAST, SVC_WEIGHTED };

struct service_member {
	char		*host;
	char		*probe;		/* NULL: the host's availability */
	int		 weight;	/* for `rule weighted`; default 1 */
	struct conf_pos	 pos;		/* of the host name */
	struct conf_pos	 probe_pos;
};

/* `burn-rate FACTOR LONG SHORT`: risk when both windows burn faster. */
struct burn_rule {
	double		 factor;
	uint64_t	 long_ms, short_ms;
};

struct sla_def {
	char		*name;		/* unique across services: the key in table sla */
	struct conf_pos	 pos;
	double		 target;	/* percent, 99.9 */
	char		*period;	/* day week month quarter year */
	char		*tz;		/* "UTC" unless given */
	char		*hours;		/* "" = 24x7, else "mon-fri 08:00-18:00,sat 09:00-12:00" */
	char		*holidays;	/* "" or "2026-12-24,2026-12-25" */
	bool		 down_warning;	/* WARNING counts as down too */
	bool		 maint_up;	/* maintenance counted as up (else excluded) */
	struct burn_rule *burn;
	size_t		 nburn;
};

struct service {
	char		 *name;
	struct conf_pos	  pos;
	enum service_rule rule;
	int		  at_least;	/* SVC_AT_LEAST: N */
	double		  weighted_pct;	/* SVC_WEIGHTED: up weight share needed, percent */
	struct service_member *members;
	size_t		  nmembers;
	size_t		 *depends;	/* indexes into config.services */
	size_t		  ndepends;
	int		  impact;	/* 1..3, default 2 */
	struct sla_def	 *slas;
	size_t		  nslas;
};

/*
 * service.c: a service's state is derived whenever a member's hard state
 * (or maintenance flag) changes, from check_done(); every change of a
 * service's state and of a host's availability goes to the journal.
 * service_configure at start and after every reload, with the new checks
 * (it drops every pointer into the old set).
 * service_rule_eval is the pure rule: member states (SEV_UNKNOWN = not
 * known), weights, the rule; unit tested.
 */
void	service_configure(const struct config *, const struct checkset *);
void	service_check_done(const struct check *);
bool	service_is(const char *name);	/* a configured service */
void	service_stopping(void);	/* SIGTERM: every subject unknown from now */
void	service_shutdown(void);
enum severity service_rule_eval(enum service_rule, int at_least, double weighted_pct,
	    const enum severity *states, const int *weights, size_t n);

/*
 * avail.c: the availability journal, `SELECT itsmd_avail(key, kind,
 * subject, state, maintenance, at_ms)` with a key made when the change
 * happened, spooled like incident changes (a record whose params[0] is
 * AVAIL_SPOOL_MARK; incident.c's replay hands those to avail_replay).
 */
#define AVAIL_SPOOL_MARK	"avail"
void	avail_record(const char *kind, const char *subject, enum severity, bool maintenance,
	    uint64_t when_ms);
void	avail_replay(uint64_t seq, char **params, int n);
void	avail_shutdown(void);

/*
 * sla.c: upserts each SLA (itsmd_sla_define) at start and reload, and every
 * sla_interval_ms evaluates budget and burn rates in PostgreSQL: host SERVICE,
 * check "sla-breach[SLA]" (budget exhausted, CRITICAL) and "sla-risk[SLA]"
 * (burn rate, WARNING) incidents.  Skipped while PostgreSQL is down.
 */
void	sla_configure(struct event_base *, const struct config *);
/* an SLA incident of a configured service (not a check: reconcile keeps it) */
bool	sla_incident_is(const char *host, const char *check);
void	sla_stop(void);

/* ----------------------------------------------------------- daemon main */
extern struct event_base *itsmd_base;
extern volatile bool itsmd_stopping;

#endif
