/*
 * itsmd.c: the daemon's main: options, privilege drop, the one event loop,
 * and the signals that stop it (SIGTERM/SIGINT) or reload it (SIGHUP).
 * A reload builds the new config beside the old one and swaps only if it
 * is valid, so a broken file never takes monitoring down.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "itsmd.h"

/* How long a stop waits for queued database writes before giving up. */
#define STOP_GRACE_MS	10000

static const char	*conf_path = SYSCONFDIR "/itsmd.conf";
static struct config	*cfg;
static struct checkset	*checks;
static struct event	*ev_stop_wait;
static uint64_t		 stop_deadline_ms;
static int		 forced_level = -1;

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: itsmd [-dftv] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -d       debug logging\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -t       check the configuration and exit\n"
	    "  -v       print the version and exit\n", SYSCONFDIR "/itsmd.conf");
	exit(1);
}

static void
start_checks(void)
{
	checks = checks_build(cfg);
	for (size_t i = 0; i < checks->n; i++)
		sched_add(checks->v[i]);
}

static void
reload(void)
{
	struct conf_err	 err = { 0 };
	struct config	*ncfg;
	struct checkset	*old;

	sd_notify(0, "RELOADING=1");
	log_info("reloading %s", conf_path);
	if ((ncfg = conf_load(conf_path, &err)) == NULL) {
		log_warnx("reload: %s has %d error%s; keeping the running configuration",
		    conf_path, err.count, err.count == 1 ? "" : "s");
		sd_notify(0, "READY=1");
		return;
	}
	if (strcmp(ncfg->database, cfg->database) != 0 ||
	    strcmp(ncfg->rrd_dir, cfg->rrd_dir) != 0 ||
	    (ncfg->rrdcached == NULL) != (cfg->rrdcached == NULL) ||
	    (ncfg->rrdcached && strcmp(ncfg->rrdcached, cfg->rrdcached) != 0))
		log_warnx("reload: database, rrd-dir and rrdcached changes take effect "
		    "at the next restart");
	if (forced_level == -1)
		log_setlevel(ncfg->log_level);
	rrdw_set_delay(ncfg->rrd_write_delay_ms);

	old = checks;
	for (size_t i = 0; i < old->n; i++)
		sched_remove(old->v[i]);
	checks = checks_build(ncfg);
	checks_adopt(checks, old);
	checks_retire(old, checks);
	checks_free(old);
	conf_free(cfg);
	cfg = ncfg;
	icmp_prepare(cfg);
	capacity_reconfigure(cfg);
	notify_configure(itsmd_base, cfg);
	incident_reconfigure(cfg);
	incident_reconcile(checks);
	service_configure(cfg, checks);
	sla_configure(itsmd_base, cfg);
	for (size_t i = 0; i < checks->n; i++)
		sched_add(checks->v[i]);
	log_info("reloaded: %zu hosts, %zu checks", cfg->nhosts, checks->n);
	sd_notify(0, "READY=1");
}

/* Waits for the database queue to drain, so a stop loses no incident. */
static void
stop_wait(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	tv = { 0, 100000 };

	(void)fd;
	(void)ev;
	(void)arg;
	if (db_pending() == 0 || mono_ms() >= stop_deadline_ms) {
		event_base_loopexit(itsmd_base, NULL);
		return;
	}
	evtimer_add(ev_stop_wait, &tv);
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	(void)arg;
	if (sig == SIGHUP) {
		if (!itsmd_stopping)
			reload();
		return;
	}
	if (itsmd_stopping)
		return;
	itsmd_stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("received SIG%s; stopping", sigabbrev_np((int)sig));
	for (size_t i = 0; i < checks->n; i++)
		sched_remove(checks->v[i]);
	service_stopping();	/* not watched from now: availability unknown */
	stop_deadline_ms = mono_ms() + STOP_GRACE_MS;
	ev_stop_wait = evtimer_new(itsmd_base, stop_wait, NULL);
	stop_wait(-1, 0, NULL);
}

/*
 * Started as root, itsmd gives root up before it touches the network: it
 * only needs root to make its RRD directory its own.
 */
static void
drop_privileges(void)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(cfg->user)) == NULL)
		fatalx("refusing to run as root: user '%s' does not exist "
		    "(create it, or set 'user' in %s)", cfg->user, conf_path);
	if (mkdir(cfg->rrd_dir, 0755) == 0 || errno == EEXIST) {
		if (chown(cfg->rrd_dir, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("chown %s", cfg->rrd_dir);
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", cfg->user);
	if (setuid(0) == 0)
		fatalx("privilege drop to %s did not stick", cfg->user);
}

/* One UDP socket per SNMP check and one TCP per HTTP check: the default
 * soft limit of 1024 descriptors is far below a real site. */
static void
raise_fd_limit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open file limit");
	}
}

static void
write_pidfile(void)
{
	FILE	*f;

	if (cfg->pidfile == NULL)
		return;
	if ((f = fopen(cfg->pidfile, "w")) == NULL) {
		log_warn("pidfile %s", cfg->pidfile);
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
main(int argc, char *argv[])
{
	struct conf_err	 err = { 0 };
	bool		 foreground = false, test_only = false;
	struct event	*sigs[3];
	const int	 signums[3] = { SIGTERM, SIGINT, SIGHUP };
	int		 ch;

	while ((ch = getopt(argc, argv, "c:dftv")) != -1) {
		switch (ch) {
		case 'c': conf_path = optarg; break;
		case 'd': forced_level = LOG_DEBUG; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		case 'v': printf("itsmd %s\n", ITSMD_VERSION); return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	log_init("itsmd", true, forced_level != -1 ? forced_level : LOG_INFO);
	if ((cfg = conf_load(conf_path, &err)) == NULL) {
		fprintf(stderr, "%s: %d error%s\n", conf_path, err.count, err.count == 1 ? "" : "s");
		return 1;
	}
	if (test_only) {
		printf("configuration OK\n");
		conf_free(cfg);
		return 0;
	}
	log_setlevel(forced_level != -1 ? forced_level : cfg->log_level);
	if (!foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init("itsmd", false, forced_level != -1 ? forced_level : cfg->log_level);
	}
	write_pidfile();
	raise_fd_limit();
	icmp_prepare(cfg);	/* raw ICMP sockets need root: before the drop */
	drop_privileges();
	signal(SIGPIPE, SIG_IGN);

	if ((itsmd_base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(itsmd_base, signums[i], on_signal, NULL);
		evsignal_add(sigs[i], NULL);
	}
	rrdw_set_delay(cfg->rrd_write_delay_ms);
	if (rrdw_start(cfg->rrd_dir, cfg->rrdcached) == -1)
		fatalx("cannot start the RRD writer");
	db_init(itsmd_base, cfg->database);
	notify_configure(itsmd_base, cfg);
	incident_init(itsmd_base, cfg);
	if (probe_init_all(itsmd_base) == -1)
		fatalx("cannot initialise the probes");
	sched_init(itsmd_base);
	rrdw_watch(itsmd_base);
	/* Monitoring matters more than graphs: a busy port is logged, not fatal. */
	api_start(itsmd_base, cfg);
	capacity_start(itsmd_base, cfg);
	start_checks();
	incident_reconcile(checks);
	service_configure(cfg, checks);
	sla_configure(itsmd_base, cfg);
	log_info("itsmd %s started: %zu hosts, %zu checks, rrd in %s%s%s", ITSMD_VERSION,
	    cfg->nhosts, checks->n, cfg->rrd_dir, cfg->rrdcached ? " via rrdcached " : "",
	    cfg->rrdcached ? cfg->rrdcached : "");
	sd_notifyf(0, "READY=1\nSTATUS=%zu checks", checks->n);

	event_base_dispatch(itsmd_base);

	sla_stop();
	service_shutdown();	/* before the checks it points into go */
	checks_free(checks);
	probe_shutdown_all();
	api_stop();
	capacity_stop();
	rrdw_stop();
	avail_shutdown();
	incident_shutdown();
	notify_shutdown();
	db_shutdown();
	if (ev_stop_wait)
		event_free(ev_stop_wait);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(itsmd_base);
	libevent_global_shutdown();
	if (cfg->pidfile)
		unlink(cfg->pidfile);
	conf_free(cfg);
	log_info("stopped");
	return 0;
}
