/*
 * itsmctl.c: the operator's command line.  main() checks the words, then
 * hands them to one command from the table below; each command lives in
 * daemon/ctl/ and connects to the database only once its words are right.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "itsmd.h"
#include "itsmctl.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/usr/local/etc/itsmd"
#endif
#ifndef SCHEMADIR
#define SCHEMADIR	"/usr/local/share/itsmd/schema"
#endif

/* Adding a command: a file in daemon/ctl/ and a line here. */
static const struct ctl_cmd ctl_cmds[] = {
	{ "db", "migrate", ctl_migrate, "[-s schemadir]",
	    "apply the schema files not yet applied" },
	{ "incidents", NULL, ctl_incidents, "[-a|--all] [--json]",
	    "list open incidents; --all adds the 50 latest resolved" },
	{ "incident", "show", ctl_incident_show, "ID [--json]", "one incident: fields, timeline, affected CIs" },
	{ "incident", "ack", ctl_incident_ack, "ID [-u who] [comment]", "acknowledge an open incident" },
	{ "incident", "resolve", ctl_incident_resolve, "ID [-u who] [comment]", "resolve an incident by hand" },
	{ "incident", "comment", ctl_incident_comment, "ID [-u who] text", "add a comment to the timeline" },
	{ "problems", NULL, ctl_problems, "[-a|--all] [--json]", "recurring faults (problem-after)" },
	{ "maintenance", "add", ctl_maintenance_add,
	    "host|check|tag TARGET --for D|--end T [opts]",
	    "add a window; opts: --start T --every D -m text" },
	{ "maintenance", "list", ctl_maintenance_list, "[-a|--all] [--json]", "maintenance windows" },
	{ "maintenance", "end", ctl_maintenance_end, "ID", "end a maintenance window now" },
	{ "graph", NULL, ctl_graph, "HOST [METRIC] [--range 1w] [--svg] -o FILE",
	    "draw a graph from the RRD files (PNG, or SVG)" },
	{ "capacity", NULL, ctl_capacity, "[--json|--csv] [--all]",
	    "capacity forecasts, most urgent first" },
	{ "rrd", "migrate", ctl_rrd_migrate, "[--dry-run] [HOST [PROBE]]",
	    "rebuild RRD files in the conf's rrd { } layout (itsmd stopped)" },
	{ "sla", NULL, ctl_sla, "[report -o DIR] [--service S] [--period P] [--json|--csv]",
	    "SLA figures (--sla NAME: one SLA); P: 2026-11, 2026-W48, 2026-Q4, 2026, 2026-11-26" },
};
#define NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

void
ctl_usage(FILE *fp, int code)
{
	char	words[64];

	fprintf(fp, "usage: itsmctl [-hV] [-c conf] [-d conninfo] command\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		snprintf(words, sizeof(words), "%s%s%s %s", ctl_cmds[i].name,
		    ctl_cmds[i].sub ? " " : "", ctl_cmds[i].sub ? ctl_cmds[i].sub : "",
		    ctl_cmds[i].args);
		fprintf(fp, "  %-34s %s\n", words, ctl_cmds[i].help);
	}
	fprintf(fp, "The database is -d, else `database` in the conf (default %s/itsmd.conf).\n"
	    "db migrate reads -s, else $ITSMD_SCHEMADIR, else " SCHEMADIR ".\n",
	    SYSCONFDIR);
	exit(code);
}

void
ctl_die(const char *fmt, ...)
{
	va_list	ap;

	fputs("itsmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

struct config *
ctl_conf(struct ctl *ctl)
{
	struct conf_err	err = { 0 };

	if (ctl->cfg == NULL && (ctl->cfg = conf_load(ctl->confpath, &err)) == NULL)
		ctl_die("%s: %d error%s in the configuration", ctl->confpath, err.count,
		    err.count == 1 ? "" : "s");
	return ctl->cfg;
}

PGconn *
ctl_db(struct ctl *ctl)
{
	if (ctl->conn != NULL)
		return ctl->conn;
	if (ctl->conninfo == NULL) {
		struct config *cfg = ctl_conf(ctl);
		if (cfg->database == NULL || *cfg->database == '\0')
			ctl_die("%s: no `database` set; give one with -d", ctl->confpath);
		ctl->conninfo = xstrdup(cfg->database);
	}
	ctl->conn = ctl_connect(ctl->conninfo);
	explicit_bzero(ctl->conninfo, strlen(ctl->conninfo));
	return ctl->conn;
}

int
main(int argc, char **argv)
{
	struct ctl		 ctl = { .confpath = SYSCONFDIR "/itsmd.conf" };
	const struct ctl_cmd	*cmd = NULL;
	int			 ch, rc;

	log_init("itsmctl", true, LOG_WARNING);
	while ((ch = getopt(argc, argv, "+c:d:hV")) != -1) {
		switch (ch) {
		case 'c':
			ctl.confpath = optarg;
			break;
		case 'd':
			free(ctl.conninfo);
			ctl.conninfo = xstrdup(optarg);
			break;
		case 'h':
			ctl_usage(stdout, 0);
		case 'V':
			printf("itsmctl %s\n", ITSMD_VERSION);
			return 0;
		default:
			ctl_usage(stderr, 1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		ctl_usage(stderr, 1);
	for (size_t i = 0; i < NCMDS && cmd == NULL; i++)
		if (strcmp(argv[0], ctl_cmds[i].name) == 0 && (ctl_cmds[i].sub == NULL ||
		    (argc > 1 && strcmp(argv[1], ctl_cmds[i].sub) == 0)))
			cmd = &ctl_cmds[i];
	if (cmd == NULL) {
		fprintf(stderr, "itsmctl: unknown command '%s%s%s'\n", argv[0],
		    argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		ctl_usage(stderr, 1);
	}
	if (cmd->sub != NULL) {
		argc--;
		argv++;
	}
	optind = 0;		/* glibc: start over on the command's own words */
	opterr = 0;		/* getopt would name argv[0], the command */
	rc = cmd->run(&ctl, argc, argv);
	if (ctl.conn != NULL)
		PQfinish(ctl.conn);
	if (ctl.cfg != NULL)
		conf_free(ctl.cfg);
	free(ctl.conninfo);
	return rc;
}
