/*
 * spool.c: the write-ahead file of incident changes.  Every change is
 * appended here before (and while) it waits for PostgreSQL, so neither an
 * outage nor a crash loses it.  Each record is marked taken when its own
 * statement commits; once everything appended is taken the file is
 * truncated, and under a steady stream (never all taken at once) the
 * taken records at its start are cut off, so the file holds about what is
 * in flight.  A worker thread writes and fsyncs in batches: the loop only
 * hands records over.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itsmd.h"

#define SPOOL_FILE	"incidents.spool"
#define SPOOL_MAGIC	0x31505349u	/* "ISP1" little-endian */
#define SPOOL_NULL	0xffffffffu
#define SPOOL_HDR	12		/* magic, payload length, crc32 */
/*
 * Taken records at the start are cut off once they are this many bytes
 * and at least as many as the records behind them, so that the copy a
 * cut costs is never more than what it frees.
 */
#define SPOOL_TRIM_MIN	(64 * 1024)

/*
 * One thing for the worker: a framed record to append, a truncation, or a
 * cut of the first len bytes (the loop knows them all taken).
 */
enum spool_op_kind { SPOOL_APPEND, SPOOL_TRUNCATE, SPOOL_TRIM };
struct spool_op {
	struct spool_op	*next;
	enum spool_op_kind kind;
	char		*buf;		/* SPOOL_APPEND */
	size_t		 len;		/* SPOOL_APPEND: of buf; SPOOL_TRIM: bytes to cut */
};

/* A record in the file, not yet known taken (or taken, behind one that is not). */
struct spool_rec {
	uint32_t	 len;		/* framed */
	bool		 taken;
};

static struct {
	char		*path;
	int		 fd;
	uint64_t	 max_bytes;
	bool		 running;

	/* loop side */
	uint64_t	 seq;		/* last appended */
	uint64_t	 size;		/* bytes in the file once the worker is done */
	bool		 full_logged;
	struct spool_rec *live;		/* ring: records seq first..seq, oldest first */
	size_t		 live_cap, live_head, live_n;
	uint64_t	 first;		/* seq of live[live_head] */
	uint64_t	 cuttable;	/* bytes at the file's start, all taken */
	bool		 taking;	/* open: replays may be taken before running */
	bool		 replaying;	/* spool_open is still reading the file */

	/* worker side */
	int		 dirfd;		/* for the fsync that makes a cut's rename stick */
	uint64_t	 owed;		/* bytes of a failed cut, cut with the next */
	/*
	 * A write or a truncation failed, so the loop's byte counts no longer
	 * match the file: no cut until a truncation starts it afresh.
	 */
	bool		 misaligned;

	/* shared with the worker */
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	struct spool_op	*head, *tail;
	bool		 stop;
} sp = { .fd = -1, .dirfd = -1, .mtx = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void	spool_shed(void);

static uint32_t
crc32(const unsigned char *p, size_t n)
{
	uint32_t	c = 0xffffffffu;

	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
}

/* Frame: header, then nparams and each parameter as length + bytes. */
static char *
spool_frame(const char *const *params, int n, size_t *lenp)
{
	size_t		 plen = 4, len;
	unsigned char	*b, *p;

	for (int i = 0; i < n; i++)
		plen += 4 + (params[i] != NULL ? strlen(params[i]) : 0);
	len = SPOOL_HDR + plen;
	b = xmalloc(len);
	p = b + SPOOL_HDR;
	put32(p, (uint32_t)n);
	p += 4;
	for (int i = 0; i < n; i++) {
		if (params[i] == NULL) {
			put32(p, SPOOL_NULL);
			p += 4;
			continue;
		}
		size_t	l = strlen(params[i]);
		put32(p, (uint32_t)l);
		memcpy(p + 4, params[i], l);
		p += 4 + l;
	}
	put32(b, SPOOL_MAGIC);
	put32(b + 4, (uint32_t)plen);
	put32(b + 8, crc32(b + SPOOL_HDR, plen));
	*lenp = len;
	return (char *)b;
}

/* Parse one payload into params; -1 if it does not hold together. */
static int
spool_unframe(const unsigned char *p, size_t len, char ***paramsp, int *np)
{
	const unsigned char	*end = p + len;
	uint32_t		 n, l;
	char			**v;

	if (len < 4 || (n = get32(p)) > 64)
		return -1;
	p += 4;
	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < 4)
			goto bad;
		l = get32(p);
		p += 4;
		if (l == SPOOL_NULL)
			continue;
		if ((size_t)(end - p) < l)
			goto bad;
		v[i] = xmalloc(l + 1);
		memcpy(v[i], p, l);
		v[i][l] = '\0';
		p += l;
	}
	if (p != end)
		goto bad;
	*paramsp = v;
	*np = (int)n;
	return 0;
bad:
	for (uint32_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -1;
}

static bool
spool_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Cut the first n bytes: copy the rest to a new file, fsync it, rename it
 * over the spool and fsync the directory, so a crash leaves either file
 * whole (the old one only replays changes the database has, which their
 * keys make harmless).  On failure the old file stays and the bytes are
 * owed to the next cut.
 */
static bool
spool_cut(uint64_t n, bool *logged)
{
	char		*tmp;
	char		 buf[65536];
	unsigned char	 hdr[SPOOL_HDR];
	int		 nfd;
	off_t		 off = (off_t)(n + sp.owed);
	ssize_t		 r = 0;
	struct stat	 st;

	/*
	 * The cut must fall on a record's start (or the file's end): anywhere
	 * else the next start would drop every record after it as damaged.
	 */
	if (!(fstat(sp.fd, &st) == 0 && st.st_size == off) &&
	    !(pread(sp.fd, hdr, sizeof(hdr), off) == (ssize_t)sizeof(hdr) &&
	    get32(hdr) == SPOOL_MAGIC))
		return false;
	tmp = xasprintf("%s.new", sp.path);
	if ((nfd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	while ((r = pread(sp.fd, buf, sizeof(buf), off)) > 0) {
		if (!spool_write_all(nfd, buf, (size_t)r))
			break;
		off += r;
	}
	if (r != 0 || fdatasync(nfd) == -1 || rename(tmp, sp.path) == -1) {
		close(nfd);
		unlink(tmp);
		goto fail;
	}
	if (sp.dirfd != -1 && fsync(sp.dirfd) == -1)
		log_warn("spool %s: fsync of its directory", sp.path);
	close(sp.fd);
	sp.fd = nfd;
	sp.owed = 0;
	*logged = false;
	free(tmp);
	return true;
fail:
	if (!*logged)
		log_warn("spool %s: cannot cut off the changes PostgreSQL has; the file "
		    "keeps them until it can", sp.path);
	*logged = true;
	sp.owed += n;
	free(tmp);
	return true;
}

/*
 * The worker: take everything queued, write it, fsync once per batch.  A
 * truncation or a cut waits for the appends queued before it, which is
 * all the loop counted.
 */
static void *
spool_worker(void *arg)
{
	struct spool_op	*ops, *op;
	bool		 dirty, failed_logged = false, cut_logged = false;
	bool		 misaligned_logged = false;
	off_t		 end;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sp.mtx);
		while (sp.head == NULL && !sp.stop)
			pthread_cond_wait(&sp.cond, &sp.mtx);
		ops = sp.head;
		sp.head = sp.tail = NULL;
		pthread_mutex_unlock(&sp.mtx);
		if (ops == NULL)
			break;		/* stop, and nothing left */

		dirty = false;
		while ((op = ops) != NULL) {
			ops = op->next;
			switch (op->kind) {
			case SPOOL_APPEND:
				/*
				 * A failed or partial write is taken back off, so no
				 * torn record is left in the middle of the file.
				 */
				end = lseek(sp.fd, 0, SEEK_END);
				if (end == -1 || !spool_write_all(sp.fd, op->buf, op->len)) {
					if (!failed_logged)
						log_warn("spool %s: write failed; changes kept in "
						    "memory only", sp.path);
					failed_logged = true;
					if (end != -1 && ftruncate(sp.fd, end) == -1)
						log_warn("spool %s: cannot take a failed write "
						    "back off", sp.path);
					sp.misaligned = true;
				} else
					dirty = true;
				free(op->buf);
				break;
			case SPOOL_TRUNCATE:
				if (ftruncate(sp.fd, 0) == -1) {
					log_warn("spool %s: cannot truncate", sp.path);
					sp.misaligned = true;
				} else {
					sp.misaligned = false;
					misaligned_logged = false;
				}
				sp.owed = 0;
				dirty = true;
				break;
			case SPOOL_TRIM:
				/* the new file is fsynced; a failed cut leaves the old dirty */
				if (!sp.misaligned && !spool_cut(op->len, &cut_logged))
					sp.misaligned = true;
				if (sp.misaligned && !misaligned_logged)
					log_warnx("spool %s: after a failed write the file no "
					    "longer matches what was counted; changes PostgreSQL "
					    "has stay in it until everything is taken", sp.path);
				if (sp.misaligned)
					misaligned_logged = true;
				break;
			}
			free(op);
		}
		if (dirty && fdatasync(sp.fd) == -1)
			log_warn("spool %s: fsync", sp.path);
	}
	return NULL;
}

static void
spool_post(struct spool_op *op)
{
	pthread_mutex_lock(&sp.mtx);
	if (sp.tail != NULL)
		sp.tail->next = op;
	else
		sp.head = op;
	sp.tail = op;
	pthread_cond_signal(&sp.cond);
	pthread_mutex_unlock(&sp.mtx);
}

/* Track one more record in the file (the ring grows by doubling). */
static void
spool_live_push(size_t len)
{
	if (sp.live_n == sp.live_cap) {
		size_t			 cap = sp.live_cap > 0 ? 2 * sp.live_cap : 256;
		struct spool_rec	*v = xcalloc(cap, sizeof(*v));

		for (size_t i = 0; i < sp.live_n; i++)
			v[i] = sp.live[(sp.live_head + i) % sp.live_cap];
		free(sp.live);
		sp.live = v;
		sp.live_cap = cap;
		sp.live_head = 0;
	}
	if (sp.live_n == 0)
		sp.first = sp.seq + 1;
	sp.live[(sp.live_head + sp.live_n) % sp.live_cap] =
	    (struct spool_rec){ .len = (uint32_t)len, .taken = false };
	sp.live_n++;
}

/*
 * Read what a previous run left (at start, before the loop runs), hand each
 * record to replay() in order, and start the worker.  A torn record at the
 * end (a crash in the middle of a write) is cut off with a warning.
 */
int
spool_open(const char *dir, uint64_t max_bytes, spool_replay_fn replay, void *arg)
{
	struct stat	 st;
	unsigned char	*buf = NULL, *p;
	size_t		 len = 0, good = 0, nrec = 0;
	ssize_t		 n;
	char		**params, *tmp;
	int		 np;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("spool directory %s", dir);
		return -1;
	}
	sp.path = xasprintf("%s/%s", dir, SPOOL_FILE);
	/* a crash during a cut leaves its copy behind; the spool itself is whole */
	tmp = xasprintf("%s.new", sp.path);
	if (unlink(tmp) == -1 && errno != ENOENT)
		log_warn("spool %s", tmp);
	free(tmp);
	if ((sp.fd = open(sp.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1) {
		log_warn("spool %s", sp.path);
		free(sp.path);
		sp.path = NULL;
		return -1;
	}
	sp.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sp.max_bytes = max_bytes;
	sp.seq = sp.size = sp.cuttable = sp.owed = 0;
	sp.misaligned = false;
	sp.live_head = sp.live_n = 0;
	sp.first = 1;
	sp.taking = true;		/* sp.fd is the worker's once it runs */
	/* records skipped while reading are only marked: the file is decided on whole */
	sp.replaying = true;
	sp.stop = sp.full_logged = false;
	if (fstat(sp.fd, &st) == 0 && st.st_size > 0) {
		buf = xmalloc((size_t)st.st_size);
		while (len < (size_t)st.st_size &&
		    (n = pread(sp.fd, buf + len, (size_t)st.st_size - len, (off_t)len)) > 0)
			len += (size_t)n;
	}
	for (p = buf; len - good >= SPOOL_HDR; ) {
		uint32_t	plen = get32(p + 4);

		if (get32(p) != SPOOL_MAGIC || len - good - SPOOL_HDR < plen ||
		    crc32(p + SPOOL_HDR, plen) != get32(p + 8) ||
		    spool_unframe(p + SPOOL_HDR, plen, &params, &np) == -1)
			break;
		spool_live_push(SPOOL_HDR + plen);
		sp.size += SPOOL_HDR + plen;
		sp.seq++;
		replay(sp.seq, params, np, arg);
		for (int i = 0; i < np; i++)
			free(params[i]);
		free(params);
		good += SPOOL_HDR + plen;
		p += SPOOL_HDR + plen;
		nrec++;
	}
	sp.replaying = false;
	if (good < len) {
		log_warnx("spool %s: %zu bytes after record %zu are torn or damaged; cut off",
		    sp.path, len - good, nrec);
		if (ftruncate(sp.fd, (off_t)good) == -1)
			log_warn("spool %s: cannot cut off", sp.path);
	}
	free(buf);
	if (nrec > 0)
		log_info("spool %s: replaying %zu changes", sp.path, nrec);
	if (pthread_create(&sp.thread, NULL, spool_worker, NULL) != 0) {
		log_warnx("spool %s: cannot start the writer thread", sp.path);
		sp.taking = false;
		close(sp.fd);
		sp.fd = -1;
		if (sp.dirfd != -1)
			close(sp.dirfd);
		sp.dirfd = -1;
		return -1;
	}
	sp.running = true;
	spool_shed();
	return 0;
}

/*
 * Queue one record.  Returns its sequence number, or 0 when it is not
 * spooled (no spool, or spool-max-size reached: said loudly, once per fill).
 */
uint64_t
spool_append(const char *const *params, int n)
{
	struct spool_op	*op;

	if (!sp.running)
		return 0;
	op = xcalloc(1, sizeof(*op));
	op->buf = spool_frame(params, n, &op->len);
	if (sp.max_bytes > 0 && sp.size + op->len > sp.max_bytes) {
		if (!sp.full_logged)
			log_warnx("spool %s is full (spool-max-size %" PRIu64 " bytes): "
			    "changes from now on are kept in memory only and are lost if "
			    "itsmd stops before PostgreSQL returns", sp.path, sp.max_bytes);
		sp.full_logged = true;
		free(op->buf);
		free(op);
		return 0;
	}
	sp.size += op->len;
	op->kind = SPOOL_APPEND;
	spool_live_push(op->len);
	spool_post(op);
	return ++sp.seq;
}

/*
 * Drop the run of taken records at the ring's start and decide what the
 * file sheds: all of it when nothing else is left, else a cut once that
 * run is big enough.
 */
static void
spool_shed(void)
{
	struct spool_op	*op;
	uint64_t	 trim = SPOOL_TRIM_MIN;

	/* a small spool-max-size would otherwise fill before any cut */
	if (sp.max_bytes > 0 && sp.max_bytes / 4 < trim)
		trim = sp.max_bytes / 4;
	while (sp.live_n > 0 && sp.live[sp.live_head].taken) {
		sp.cuttable += sp.live[sp.live_head].len;
		sp.live_head = (sp.live_head + 1) % sp.live_cap;
		sp.live_n--;
		sp.first++;
	}
	if (sp.live_n == 0) {
		if (sp.size == 0 && sp.cuttable == 0)
			return;		/* nothing was ever there */
		op = xcalloc(1, sizeof(*op));
		op->kind = SPOOL_TRUNCATE;
		spool_post(op);
		sp.size = sp.cuttable = 0;
		if (sp.full_logged)
			log_info("spool %s: PostgreSQL has caught up; spooling again", sp.path);
		sp.full_logged = false;
	} else if (sp.dirfd != -1 && sp.cuttable > 0 && sp.cuttable >= trim &&
	    sp.cuttable >= sp.size - sp.cuttable) {
		/* (without the directory's fd the rename could not be made durable) */
		op = xcalloc(1, sizeof(*op));
		op->kind = SPOOL_TRIM;
		op->len = sp.cuttable;
		spool_post(op);
		sp.size -= sp.cuttable;
		sp.cuttable = 0;
		if (sp.full_logged)
			log_info("spool %s: PostgreSQL has taken older changes; spooling "
			    "again", sp.path);
		sp.full_logged = false;
	}
}

/*
 * The database has taken record seq (its own statement committed, or
 * failed in a way a replay would repeat).  Records are taken out of order
 * (incident.c holds its own behind a batch, avail.c's go at once), so the
 * file sheds only the run of taken ones at its start.  While spool_open
 * still reads the file (a replay skipping a malformed record), the record
 * is only marked: the file is decided once all of it is in the ring.
 */
void
spool_committed(uint64_t seq)
{
	if (!sp.taking || seq < sp.first || seq - sp.first >= sp.live_n)
		return;
	sp.live[(sp.live_head + (seq - sp.first)) % sp.live_cap].taken = true;
	if (!sp.replaying)
		spool_shed();
}

/* Write and fsync what is queued, then stop the worker. */
void
spool_close(void)
{
	if (!sp.running)
		return;
	pthread_mutex_lock(&sp.mtx);
	sp.stop = true;
	pthread_cond_signal(&sp.cond);
	pthread_mutex_unlock(&sp.mtx);
	pthread_join(sp.thread, NULL);
	sp.taking = false;
	close(sp.fd);
	sp.fd = -1;
	if (sp.dirfd != -1)
		close(sp.dirfd);
	sp.dirfd = -1;
	sp.running = false;
	free(sp.path);
	sp.path = NULL;
	free(sp.live);
	sp.live = NULL;
	sp.live_cap = sp.live_n = sp.live_head = 0;
}
