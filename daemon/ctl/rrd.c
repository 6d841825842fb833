/*
 * rrd.c: `itsmctl rrd migrate [--dry-run] [HOST [PROBE]]`: the daemon never
 * alters an existing RRD file, so a changed `rrd { }` layout reaches old
 * files only here, through librrd's own `create --source` (rrd_create_r2),
 * which fills the new archives from the old file's.  Run it with itsmd
 * stopped: an update the daemon writes meanwhile would be lost.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rrd.h>
#include <rrd_client.h>

#include "itsmd.h"
#include "itsmctl.h"

struct mig {
	const struct config	*cfg;
	bool			 dry;
	int			 same, moved, failed;
};

static double
info_val(const rrd_info_t *info, const char *key)
{
	for (const rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, key) == 0 && i->type == RD_I_VAL)
			return i->value.u_val;
	return NAN;
}

static unsigned long
info_cnt(const rrd_info_t *info, const char *key)
{
	for (const rrd_info_t *i = info; i != NULL; i = i->next)
		if (strcmp(i->key, key) == 0 && i->type == RD_I_CNT)
			return i->value.u_cnt;
	return 0;
}

/* One file: compare with what the conf would make, rebuild it if asked. */
static void
migrate_file(struct mig *mg, const char *path, const struct probe_def *d,
    const struct host *h, size_t metric)
{
	rrd_info_t	*info;
	struct rrd_ds	 ds;
	unsigned	 step = d->interval_ms >= 1000 ? (unsigned)(d->interval_ms / 1000) : 1;
	char		 why[160], *args[RRDL_MAX_ARGS], *tmp;
	const char	*argv[RRDL_MAX_ARGS], *sources[2] = { path, NULL };
	struct stat	 st;
	int		 argc;

	if (mg->cfg->rrdcached != NULL && rrdc_flush_if_daemon(mg->cfg->rrdcached, path) != 0)
		rrd_clear_error();
	rrd_clear_error();
	if ((info = rrd_info_r(path)) == NULL) {
		fprintf(stderr, "itsmctl: rrd migrate: %s: %s\n", path, rrd_get_error());
		mg->failed++;
		return;
	}
	rrdl_ds(d, h, metric, 0, &ds);
	/* A row's link speed is known to the daemon only: keep the file's. */
	if (isnan(ds.max) && !isnan(info_val(info, "ds[value].max")))
		ds.max = info_val(info, "ds[value].max");
	rrdl_differs(info, &ds, step, why, sizeof(why));
	time_t last = (time_t)info_cnt(info, "last_update");
	rrd_info_free(info);
	if (why[0] == '\0') {
		mg->same++;
		return;
	}
	printf("%s: %s%s\n", path, why, mg->dry ? "" : ": migrating");
	if (mg->dry) {
		mg->moved++;
		return;
	}
	argc = rrdl_create_args(&ds, step, args);
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];
	tmp = xasprintf("%s.migrate", path);
	unlink(tmp);
	rrd_clear_error();
	if (rrd_create_r2(tmp, step, last, 1, sources, NULL, argc, argv) != 0) {
		fprintf(stderr, "itsmctl: rrd migrate: %s: %s (the file is unchanged)\n", path,
		    rrd_get_error());
		unlink(tmp);
		mg->failed++;
	} else if (stat(path, &st) == -1 || chown(tmp, st.st_uid, st.st_gid) == -1 ||
	    chmod(tmp, st.st_mode & 07777) == -1 || rename(tmp, path) == -1) {
		fprintf(stderr, "itsmctl: rrd migrate: %s: %s (the file is unchanged)\n", path,
		    strerror(errno));
		unlink(tmp);
		mg->failed++;
	} else
		mg->moved++;
	rrdl_args_free(args, argc);
	free(tmp);
}

/* Every file of one host's probe: DIR/HOST/PROBE/METRIC.rrd or ROW/METRIC.rrd. */
static void
migrate_probe(struct mig *mg, const struct host *h, const struct probe_def *d)
{
	for (size_t m = 0; m < d->nmetrics; m++) {
		struct stat	 st;
		char		*path;

		if (!d->table) {
			path = rrdw_path(mg->cfg->rrd_dir, h->name, d->name, NULL,
			    d->metrics[m].name);
			if (stat(path, &st) == 0)
				migrate_file(mg, path, d, h, m);
			free(path);
			continue;
		}
		char *pdir = xasprintf("%s/%s/%s", mg->cfg->rrd_dir, h->name, d->name);
		DIR *dir = opendir(pdir);
		struct dirent *de;

		while (dir != NULL && (de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			path = rrdw_path(mg->cfg->rrd_dir, h->name, d->name, de->d_name,
			    d->metrics[m].name);
			if (stat(path, &st) == 0)
				migrate_file(mg, path, d, h, m);
			free(path);
		}
		if (dir != NULL)
			closedir(dir);
		free(pdir);
	}
}

int
ctl_rrd_migrate(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct mig	 mg = { .dry = false };
	const char	*host = NULL, *probe = NULL;
	bool		 seen = false;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "+n", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			mg.dry = true;
			break;
		default:
			fprintf(stderr, "itsmctl: rrd migrate: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (argc - optind > 2)
		ctl_die("rrd migrate: usage: rrd migrate [--dry-run] [HOST [PROBE]]");
	if (optind < argc)
		host = argv[optind];
	if (optind + 1 < argc)
		probe = argv[optind + 1];
	mg.cfg = ctl_conf(ctl);
	for (size_t i = 0; i < mg.cfg->nhosts; i++) {
		const struct host *h = &mg.cfg->hosts[i];
		if (host != NULL && strcmp(h->name, host) != 0)
			continue;
		for (size_t p = 0; p < h->nprobes; p++) {
			if (probe != NULL && strcmp(h->probes[p]->name, probe) != 0)
				continue;
			seen = true;
			migrate_probe(&mg, h, h->probes[p]);
		}
	}
	if (host != NULL && !seen)
		ctl_die("rrd migrate: no host '%s'%s%s%s in %s", host, probe ? " with probe '" : "",
		    probe ? probe : "", probe ? "'" : "", ctl->confpath);
	printf("%d file%s %s, %d already as configured%s\n", mg.moved, mg.moved == 1 ? "" : "s",
	    mg.dry ? "to migrate" : "migrated", mg.same,
	    mg.failed ? "; some failed (above)" : "");
	return mg.failed ? 1 : 0;
}
