/*
 * graph.c: `itsmctl graph HOST [METRIC] --range 1w -o out.png`: the same
 * graphs the daemon serves, drawn here with librrd from the conf's rrd-dir,
 * so a planner needs no running daemon to get one.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itsmd.h"
#include "itsmctl.h"

int
ctl_graph(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "range", required_argument, NULL, 'r' },
		{ "start", required_argument, NULL, 's' },
		{ "end", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "svg", no_argument, NULL, 'S' },
		{ "width", required_argument, NULL, 'w' },
		{ "height", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct graph_req rq = { .what = "" };
	const char	*range = "1d", *out = NULL, *why, *startw = NULL, *endw = NULL;
	unsigned char	*img;
	size_t		 len;
	int		 ch, kind;
	char		 err[256], *end;
	FILE		*f;

	while ((ch = getopt_long(argc, argv, "r:s:e:o:Sw:h:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': range = optarg; break;
		case 's': startw = optarg; break;
		case 'e': endw = optarg; break;
		case 'o': out = optarg; break;
		case 'S': rq.svg = true; break;
		case 'w': rq.width = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': rq.height = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "itsmctl: graph: unknown option\n");
			ctl_usage(stderr, 1);
		}
	}
	if (optind >= argc || argc - optind > 2 || out == NULL)
		ctl_die("graph: usage: graph HOST [METRIC] [--range R | --start T --end T] "
		    "[--svg] -o FILE");
	rq.host = argv[optind];
	if (argc - optind == 2)
		rq.what = argv[optind + 1];
	if (strlen(out) > 4 && strcmp(out + strlen(out) - 4, ".svg") == 0)
		rq.svg = true;
	if (graph_range(range, time(NULL), &rq.start, &rq.end, &why) == -1)
		ctl_die("graph: bad range '%s': %s", range, why);
	if (startw != NULL) {
		rq.start = (time_t)strtoll(startw, &end, 10);
		if (*end != '\0')
			ctl_die("graph: bad --start '%s': epoch seconds expected", startw);
	}
	if (endw != NULL) {
		rq.end = (time_t)strtoll(endw, &end, 10);
		if (*end != '\0')
			ctl_die("graph: bad --end '%s': epoch seconds expected", endw);
	}
	if (rq.end <= rq.start)
		ctl_die("graph: the end must come after the start");
	rq.dir = ctl_conf(ctl)->rrd_dir;
	rq.rrdcached = ctl_conf(ctl)->rrdcached;
	if (graph_render(&rq, &img, &len, &kind, err, sizeof(err)) == -1)
		ctl_die("graph: %s", err);
	if (strcmp(out, "-") == 0)
		f = stdout;
	else if ((f = fopen(out, "w")) == NULL)
		ctl_die("graph: cannot write %s: %s", out, strerror(errno));
	if (fwrite(img, 1, len, f) != len || (f != stdout ? fclose(f) : fflush(f)) != 0)
		ctl_die("graph: cannot write %s: %s", out, strerror(errno));
	free(img);
	return 0;
}
