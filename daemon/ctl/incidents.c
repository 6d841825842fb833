/*
 * incidents.c: `itsmctl incidents`: what is open now, and with --all the
 * latest resolved ones too, for people or (--json) for programs.
 */
#include <getopt.h>
#include <stdlib.h>

#include "itsmd.h"
#include "itsmctl.h"

#define TS(col)	"to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"
#define PRIO	"coalesce('P' || priority, '-') AS priority"
/* a row resolved outside itsmd_change() (by hand in SQL) still reads resolved */
#define STATUS	"CASE WHEN resolved_at IS NOT NULL AND status IN ('new', 'acknowledged')" \
		" THEN 'resolved' ELSE status END AS status"
/* flapping and maintenance marks ride on the severity */
#define SEV	"severity || CASE WHEN flapping THEN ' flapping' ELSE '' END ||" \
		" CASE WHEN maintenance THEN ' maint' ELSE '' END AS severity"
#define CIS	"(SELECT count(*) FROM incident_cis c WHERE c.incident_id = i.id" \
		" AND c.detached_at IS NULL) AS cis"

int
ctl_incidents(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head_open[] = {
		"ID", "HOST", "CHECK", "STATUS", "PRIO", "SEVERITY", "OPENED", "LAST-SEEN",
		"CIS", "SUMMARY",
	};
	static const char *const head_all[] = {
		"ID", "HOST", "CHECK", "STATUS", "PRIO", "SEVERITY", "OPENED", "LAST-SEEN",
		"RESOLVED", "CIS", "SUMMARY",
	};
	static const char sql_open[] =
	    "SELECT id, host, check_name AS check, " STATUS ", " PRIO ", " SEV ", "
	    TS("opened_at") " AS opened, " TS("last_seen_at") " AS last_seen, " CIS ", summary"
	    " FROM incidents i WHERE resolved_at IS NULL ORDER BY opened_at, id";
	/* Open ones first (oldest first), then the latest resolved. */
	static const char sql_all[] =
	    "SELECT id, host, check_name AS check, " STATUS ", " PRIO ", " SEV ", "
	    TS("opened_at") " AS opened, " TS("last_seen_at") " AS last_seen,"
	    " coalesce(" TS("resolved_at") ", '-') AS resolved, " CIS ", summary"
	    " FROM ("
	    "  (SELECT * FROM incidents WHERE resolved_at IS NULL)"
	    "  UNION ALL"
	    "  (SELECT * FROM incidents WHERE resolved_at IS NOT NULL"
	    "   ORDER BY resolved_at DESC, id DESC LIMIT 50)"
	    " ) i ORDER BY resolved_at IS NOT NULL,"
	    "  CASE WHEN resolved_at IS NULL THEN opened_at END, resolved_at DESC, id";
	bool	all = false;
	int	ch;

	while ((ch = getopt_long(argc, argv, "+aj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'j':
			ctl->json = true;
			break;
		default:
			fprintf(stderr, "itsmctl: incidents: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind != argc)
		ctl_usage(stderr, 1);
	if (all)
		ctl_query_print(ctl, "cannot list incidents", sql_all, 0, NULL, head_all, 11,
		    "no incidents");
	else
		ctl_query_print(ctl, "cannot list incidents", sql_open, 0, NULL, head_open, 10,
		    "no open incidents");
	return 0;
}
