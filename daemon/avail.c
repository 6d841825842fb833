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

#include "itsmd.h"

/* The time is the observation's, not now() on the server (spooled changes). */
static const char sql_avail[] =
	"SELECT itsmd_avail($1, $2, $3, $4, $5::bool, $6::bigint)";
#define NPARAMS		6
#define NRECORD		(NPARAMS + 1)	/* the spool record: the mark, then the params */

static struct {
	uint64_t	 key_base;	/* random per run */
	uint64_t	 key_next;
	bool		 closing;
} av;

/*
 * Each record is taken when its own statement commits, whatever else is
 * in flight: the spool sheds it once the records before it are taken too.
 */
static void
avail_done(void *arg, const struct pg_result *res, const char *error)
{
	uint64_t	*seq = arg;

	/* At shutdown the change stays in the spool for the next run. */
	if (!(av.closing && res == NULL))
		spool_committed(*seq);	/* an SQL error would fail again on replay */
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
		spool_committed(seq);	/* it never will be: not in the way of the rest */
		return;
	}
	avail_send((const char *const *)params + 1, seq);
}

void
avail_shutdown(void)
{
	av.closing = true;
}
