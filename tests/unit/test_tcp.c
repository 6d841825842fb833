/*
 * test_tcp.c: what the tcp and icmp probe kinds accept, reject and declare
 * (parse/finish as conf_build drives them), and the icmp default
 * availability check offered to hosts without probes.  Runs against real
 * sockets live in tests/integration/tcp_probe.sh and icmp_probe.sh.
 */
#include <stdint.h>

#include "itsmd.h"
#include "unit.h"

/* One `key arg` directive, as the parser would hand it over. */
static int
directive(const struct probe_ops *ops, struct probe_def *def, const char *key,
    const char *arg, struct conf_err *err)
{
	static int		 line = 1;
	char			*args[1] = { (char *)arg };
	struct conf_pos		 argpos[1] = { { "t.conf", line, 10 } };
	struct conf_node	 n = {
		.name = (char *)key, .pos = { "t.conf", line, 5 },
		.args = args, .argpos = argpos, .nargs = arg ? 1 : 0,
	};

	line++;
	return ops->parse(def, &n, err);
}

static void
def_init(struct probe_def *def, const struct probe_ops *ops, uint64_t timeout_ms)
{
	memset(def, 0, sizeof(*def));
	def->name = "p";
	def->ops = ops;
	def->pos = (struct conf_pos){ "t.conf", 1, 1 };
	def->interval_ms = 60000;
	def->timeout_ms = timeout_ms;
}

static void
def_clear(struct probe_def *def)
{
	def->ops->free_def(def);
	for (size_t i = 0; i < def->nmetrics; i++) {
		free(def->metrics[i].name);
		free(def->metrics[i].unit);
	}
	free(def->metrics);
	def->metrics = NULL;
	def->nmetrics = 0;
}

static void
test_parse_finish(void)
{
	static const struct {
		const char		*name;
		const struct probe_ops	*ops;
		uint64_t		 timeout_ms;
		const char		*kv[8];		/* key, arg pairs */
		int			 parse_rv;	/* of the last directive */
		int			 finish_rv;
		int			 errors;
		size_t			 nmetrics;	/* when finish succeeds */
		const char		*metric[4];
	} t[] = {
		{ "tcp port", &tcp_probe_ops, 10000, { "port", "22" }, 0, 0, 0, 1, { "time" } },
		{ "tcp banner", &tcp_probe_ops, 10000, { "port", "22", "expect", "SSH-2.0",
		    "send", "hello\n" }, 0, 0, 0, 2, { "time", "response" } },
		{ "tcp needs a port", &tcp_probe_ops, 10000, { "expect", "x" }, 0, -1, 1, 0, { 0 } },
		{ "tcp port 0", &tcp_probe_ops, 10000, { "port", "0" }, -1, -1, 1, 0, { 0 } },
		{ "tcp port 65536", &tcp_probe_ops, 10000, { "port", "65536" }, -1, -1, 1, 0, { 0 } },
		{ "tcp port not a number", &tcp_probe_ops, 10000, { "port", "ssh" }, -1, -1, 1, 0,
		    { 0 } },
		{ "tcp duplicate port", &tcp_probe_ops, 10000, { "port", "22", "port", "23" },
		    -1, 0, 1, 1, { "time" } },
		{ "tcp empty expect", &tcp_probe_ops, 10000, { "port", "22", "expect", "" },
		    -1, 0, 1, 1, { "time" } },
		{ "tcp missing argument", &tcp_probe_ops, 10000, { "port", NULL }, -1, -1, 1, 0,
		    { 0 } },
		{ "tcp unknown key is not ours", &tcp_probe_ops, 10000, { "port", "22", "url",
		    "x" }, 1, 0, 0, 1, { "time" } },
		{ "icmp defaults", &icmp_probe_ops, 10000, { NULL }, 0, 0, 0, 4,
		    { "loss", "rtt-min", "rtt-avg", "rtt-max" } },
		{ "icmp packets and gap", &icmp_probe_ops, 10000, { "packets", "10",
		    "packet-interval", "500ms" }, 0, 0, 0, 4, { "loss" } },
		{ "icmp packets 0", &icmp_probe_ops, 10000, { "packets", "0" }, -1, 0, 1, 4,
		    { "loss" } },
		{ "icmp packets 101", &icmp_probe_ops, 10000, { "packets", "101" }, -1, 0, 1, 4,
		    { "loss" } },
		{ "icmp gap below 10ms", &icmp_probe_ops, 10000, { "packet-interval", "5ms" },
		    -1, 0, 1, 4, { "loss" } },
		{ "icmp packets do not fit the timeout", &icmp_probe_ops, 1000, { "packets",
		    "11", "packet-interval", "100ms" }, 0, -1, 1, 0, { 0 } },
		{ "icmp packets just fit the timeout", &icmp_probe_ops, 1000, { "packets",
		    "10", "packet-interval", "100ms" }, 0, 0, 0, 4, { "loss" } },
	};
	char	name[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct probe_def	def;
		struct conf_err		err = { 0 };
		int			rv = 0, frv;
		bool			good;

		def_init(&def, t[i].ops, t[i].timeout_ms);
		for (size_t k = 0; k < 8 && t[i].kv[k]; k += 2)
			rv = directive(t[i].ops, &def, t[i].kv[k], t[i].kv[k + 1], &err);
		frv = t[i].ops->finish(&def, &err);
		good = rv == t[i].parse_rv && frv == t[i].finish_rv && err.count == t[i].errors;
		if (good && frv == 0) {
			good = def.nmetrics == t[i].nmetrics;
			for (size_t m = 0; good && m < 4 && t[i].metric[m]; m++)
				good = strcmp(def.metrics[m].name, t[i].metric[m]) == 0 &&
				    def.metrics[m].kind == MK_GAUGE;
		}
		snprintf(name, sizeof(name), "%s conf: %s", t[i].ops->name, t[i].name);
		UNIT_CHECK(good, name, "parse %d finish %d errors %d metrics %zu, want %d %d %d %zu",
		    rv, frv, err.count, def.nmetrics, t[i].parse_rv, t[i].finish_rv, t[i].errors,
		    t[i].nmetrics);
		def_clear(&def);
	}
}

/* The default availability check: an icmp def complete without a conf. */
static void
test_availability(void)
{
	static const struct {
		uint64_t	interval_ms, timeout_ms;
	} t[] = {
		{ 60000, 10000 },
		{ 1000, 100 },		/* packets shrink to fit a short timeout */
	};
	struct conf_pos	pos = { "t.conf", 3, 1 };
	char		name[96];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct probe_def	def;
		bool			good;

		icmp_availability_def(&def, "availability", t[i].interval_ms, t[i].timeout_ms,
		    &pos);
		good = def.ops == &icmp_probe_ops && strcmp(def.name, "availability") == 0 &&
		    def.interval_ms == t[i].interval_ms && def.timeout_ms == t[i].timeout_ms &&
		    def.nmetrics == 4 && strcmp(def.metrics[0].name, "loss") == 0 &&
		    def.fingerprint != NULL && strstr(def.fingerprint, "kind icmp") != NULL &&
		    def.priv != NULL;
		snprintf(name, sizeof(name), "icmp_availability_def interval %llu timeout %llu",
		    (unsigned long long)t[i].interval_ms, (unsigned long long)t[i].timeout_ms);
		UNIT_CHECK(good, name, "def incomplete");
		def_clear(&def);
		free(def.name);
		free(def.fingerprint);
	}
}

int
main(void)
{
	test_parse_finish();
	test_availability();
	return UNIT_DONE();
}
