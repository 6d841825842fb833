/*
 * itsmctl.h: what itsmctl's commands (the files in daemon/ctl) share.  The tool is
 * short-lived, so plain synchronous libpq is right here; nothing in it runs
 * inside the daemon.
 */
#ifndef ITSMCTL_H
#define ITSMCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

/*
 * What a command runs with.  The database connection and the configuration
 * are made on first use (ctl_db, ctl_conf), after the command has checked
 * its own words, so a typo never touches either.
 */
struct ctl {
	const char	*confpath;
	char		*conninfo;	/* -d, or NULL: the conf's `database`; secret */
	PGconn		*conn;
	struct config	*cfg;
	bool		 json;		/* --json where a command offers it */
};

/*
 * One command: `itsmctl NAME [SUB] args`.  run() gets argv starting at the
 * command's own words (argv[0] is NAME, or SUB when there is one) and
 * returns the exit status.
 */
struct ctl_cmd {
	const char	*name;
	const char	*sub;		/* NULL: no subcommand */
	int		(*run)(struct ctl *, int argc, char **argv);
	const char	*args;		/* for usage: "[-a] [--json]" */
	const char	*help;
};

/* itsmctl.c */
_Noreturn void	ctl_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void	ctl_usage(FILE *, int code);
PGconn		*ctl_db(struct ctl *);
struct config	*ctl_conf(struct ctl *);

/* ctl/sql.c: statements that say what failed, and exit. */
const char	*ctl_firstline(const char *msg);
const char	*ctl_result_error(const PGresult *);
PGconn		*ctl_connect(const char *conninfo);
PGresult	*ctl_run(PGconn *, const char *what, const char *sql, int n,
		    const char *const *params);
void		 ctl_exec(PGconn *, const char *what, const char *sql, int n,
		    const char *const *params);

/*
 * ctl/table.c: a query's rows as an aligned table for people, or with
 * ctl->json as one JSON array of objects keyed by the query's column names
 * (PostgreSQL writes the JSON, so every string is escaped right).  `none`
 * is printed instead of an empty table.
 */
void	ctl_print_table(const PGresult *, const char *const *head, int ncols);
void	ctl_query_print(struct ctl *, const char *what, const char *sql, int n,
	    const char *const *params, const char *const *head, int ncols, const char *none);

/* the commands */
int	ctl_migrate(struct ctl *, int, char **);
int	ctl_incidents(struct ctl *, int, char **);
int	ctl_incident_show(struct ctl *, int, char **);
int	ctl_incident_ack(struct ctl *, int, char **);
int	ctl_incident_resolve(struct ctl *, int, char **);
int	ctl_incident_comment(struct ctl *, int, char **);
int	ctl_problems(struct ctl *, int, char **);
int	ctl_maintenance_add(struct ctl *, int, char **);
int	ctl_maintenance_list(struct ctl *, int, char **);
int	ctl_maintenance_end(struct ctl *, int, char **);
int	ctl_graph(struct ctl *, int, char **);
int	ctl_capacity(struct ctl *, int, char **);
int	ctl_rrd_migrate(struct ctl *, int, char **);
int	ctl_sla(struct ctl *, int, char **);

#endif
