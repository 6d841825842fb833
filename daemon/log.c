/*
 * log.c: the five logging verbs.  Foreground daemons write one line per
 * event to stderr with a timestamp; background ones go to syslog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "itsmd.h"

static bool	log_fg = true;
static int	log_lvl = LOG_INFO;

void
log_init(const char *ident, bool foreground, int level)
{
	log_fg = foreground;
	log_lvl = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int level)
{
	log_lvl = level;
}

int
log_level_parse(const char *name)
{
	static const struct { const char *n; int l; } t[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(name, t[i].n) == 0)
			return t[i].l;
	return -1;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char	msg[2048];

	if (pri > log_lvl)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_fg) {
		syslog(pri, "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	char		ts[32];
	struct timespec	now;
	struct tm	tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s %s%s%s\n", ts, msg, suffix ? ": " : "", suffix ? suffix : "");
	fflush(stderr);
}

#define LOGFN(fn, pri)					\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(pri, fmt, ap, NULL);			\
	va_end(ap);					\
}
LOGFN(log_warnx, LOG_WARNING)
LOGFN(log_info, LOG_INFO)
LOGFN(log_debug, LOG_DEBUG)

void
log_warn(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
