/*
 * avail.c: the availability journal.  Every change of a service's state
 * and of a host's availability becomes one `itsmd_avail()` call with an
 * idempotency key made when the change happened, written to the spool
 * first (beside incident.c's records) and replayed in order after an
 * outage or a crash, so an interval is never lost nor counted twice.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "itsmd.h"

/* The time is the observation's, not now() on the server (spooled changes). */
static const char sql_avail[] =
	"SELECT itsmd_avail($1, $2, $3, $4, $5::bool, $6::bigint)";
#define NPARAMS		6
#define NRECORD		(NPARAMS + 1)	/* the spool record: the mark, then the params */
#define SETTLE_MS	250		/* retry telling the spool while db.c is busy */

static struct {
	uint64_t	 key_base;	/* random per run */
	uint64_t	 key_next;
	uint64_t	 unsettled;	/* last seq the database took, spool not yet told */
	struct event	*settle;	/* retries avail_commit while db.c is busy */
	bool		 closing;
} av;

static void	avail_commit(uint64_t);

static void
avail_settle_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	avail_commit(0);
}

/*
 * Both incident.c and this file append to the one spool, whose file may go
 * only when the database has every record.  Ours are handed to db.c at
 * once, while incident.c may hold its own back behind a batch in flight;
 * but a held record always has one of its statements in db.c's queue.  So
 * "nothing pending in db.c" means "nothing of anyone's is outstanding",
 * and only then do we tell the spool (spool_committed wants the last seq).
 */
static void
avail_commit(uint64_t seq)
{
	struct timeval	tv = { 0, SETTLE_MS * 1000 };

	if (seq != 0)
		av.unsettled = seq;
	if (av.unsettled == 0 || av.closing)
		return;
	if (db_pending() == 0) {
		spool_committed(av.unsettled);
		av.unsettled = 0;
		return;
	}
	/* Others' statements still run (a replay, a batch): look again soon. */
	if (av.settle == NULL && itsmd_base != NULL &&
	    (av.settle = evtimer_new(itsmd_base, avail_settle_tick, NULL)) == NULL)
		fatalx("avail: cannot create a timer");
	if (av.settle != NULL && !evtimer_pending(av.settle, NULL))
		evtimer_add(av.settle, &tv);
}

void
avail_settle(void)
{
	avail_commit(0);
}

static void
avail_done(void *arg, const struct pg_result *res, const char *error)
{
	uint64_t	*seq = arg;

	/* At shutdown the change stays in the spool for the next run. */
	if (!(av.closing && res == NULL))
		avail_commit(*seq);	/* an SQL error would fail again on replay */
	(void)error;			/* db.c has logged it */
	free(seq);
}

static void
avail_send(const char *const *params, uint64_t seq)
{
	uint64_t	*arg = xmalloc(sizeof(*arg));

	*arg = seq;
	db_exec(sql_avail, NPARAMS, params, avail_done, arg);
}

void
avail_record(const char *kind, const char *subject, enum severity sev, bool maintenance,
    uint64_t when_ms)
{
	const char	*rec[NRECORD];
	char		 key[48], at[24];
	char		*subj;
	uint64_t	 seq;

	if (av.closing)
		return;
	if (av.key_base == 0 &&
	    getrandom(&av.key_base, sizeof(av.key_base), GRND_NONBLOCK) != sizeof(av.key_base))
		av.key_base = wall_ms() ^ ((uint64_t)getpid() << 40);
	snprintf(key, sizeof(key), "a%016" PRIx64 "-%" PRIu64, av.key_base, ++av.key_next);
	snprintf(at, sizeof(at), "%" PRIu64, when_ms != 0 ? when_ms : wall_ms());
	subj = incident_text_clean(subject);
	rec[0] = AVAIL_SPOOL_MARK;
	rec[1] = key;
	rec[2] = kind;
	rec[3] = subj;
	rec[4] = severity_name(sev);
	rec[5] = maintenance ? "t" : "f";
	rec[6] = at;
	seq = spool_append(rec, NRECORD);
	log_debug("availability %s %s: %s%s", kind, subject, severity_name(sev),
	    maintenance ? " (maintenance)" : "");
	avail_send(rec + 1, seq);
	free(subj);
}

/* A record a previous run spooled (incident.c's replay hands it here). */
void
avail_replay(uint64_t seq, char **params, int n)
{
	if (n != NRECORD || params[1] == NULL || params[2] == NULL || params[3] == NULL ||
	    params[4] == NULL || params[5] == NULL || params[6] == NULL) {
		log_warnx("spool: availability record %" PRIu64 " has %d fields, not %d; "
		    "skipped", seq, n, NRECORD);
		return;
	}
	avail_send((const char *const *)params + 1, seq);
}

void
avail_shutdown(void)
{
	av.closing = true;
	if (av.settle != NULL)
		event_free(av.settle);
	av.settle = NULL;
}
