/*
 * test_snmp.c: the pure parts of probes/snmp.c: numeric OID parsing, the
 * `oid` directive through the probe's parse/finish, and turning a varbind
 * into a sample.  No agent and no loop here; tests/integration has those.
 */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "itsmd.h"
#include "unit.h"

/* exported by probes/snmp.c for this test only */
int	snmp_oid_parse(const char *, unsigned long *sub, size_t max, size_t *len,
	    const char **why);
void	snmp_var_sample(const netsnmp_variable_list *, struct sample *);

static void
test_oid_parse(void)
{
	static const struct {
		const char	*in;
		size_t		 len;		/* 0: must fail */
		unsigned long	 last;
	} cases[] = {
		{ "1.3.6.1.2.1.1.3.0",			9, 0 },
		{ ".1.3.6.1.4.1.2021.10.1.5.1",		11, 1 },
		{ "0.0",				2, 0 },
		{ "2.999.7",				3, 7 },
		{ "1.3.4294967295",			3, 4294967295UL },
		{ "1.3.6.1.2.1.31.1.1.1.6.1",		12, 1 },
		{ "",					0, 0 },
		{ ".",					0, 0 },
		{ "1",					0, 0 },
		{ "1..3",				0, 0 },
		{ "1.3.",				0, 0 },
		{ "..1.3",				0, 0 },
		{ "1.3.6.x",				0, 0 },
		{ "iso.3.6.1",				0, 0 },
		{ "IF-MIB::ifInOctets.1",		0, 0 },
		{ "3.1",				0, 0 },
		{ "1.40",				0, 0 },
		{ "1.3.4294967296",			0, 0 },
		{ "1.3.99999999999999999999999",	0, 0 },
		{ "1.3.-1",				0, 0 },
		{ " 1.3",				0, 0 },
		{ "1.3 ",				0, 0 },
	};
	unsigned long	sub[MAX_OID_LEN];
	const char	*why = NULL;
	char		 name[128], longoid[1024];
	size_t		 len = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = snmp_oid_parse(cases[i].in, sub, MAX_OID_LEN, &len, &why);

		snprintf(name, sizeof(name), "oid '%s' %s", cases[i].in,
		    cases[i].len ? "parses" : "is rejected");
		if (cases[i].len)
			UNIT_CHECK(r == 0 && len == cases[i].len && sub[len - 1] == cases[i].last,
			    name, "r=%d len=%zu why=%s", r, len, r ? why : "-");
		else
			UNIT_CHECK(r == -1 && why != NULL && *why != '\0', name,
			    "r=%d len=%zu", r, len);
	}

	/* MAX_OID_LEN sub-identifiers fit, one more does not */
	strcpy(longoid, "1.3");
	for (int i = 2; i < MAX_OID_LEN; i++)
		strcat(longoid, ".1");
	UNIT_CHECK(snmp_oid_parse(longoid, sub, MAX_OID_LEN, &len, &why) == 0 &&
	    len == MAX_OID_LEN, "oid of MAX_OID_LEN sub-identifiers parses", "len=%zu", len);
	strcat(longoid, ".1");
	UNIT_CHECK(snmp_oid_parse(longoid, sub, MAX_OID_LEN, &len, &why) == -1,
	    "oid longer than MAX_OID_LEN is rejected", "accepted");
}

/* A conf node `oid ARGS...` as conf_parse would hand it over. */
static int
parse_line(struct probe_def *d, struct conf_err *err, int line, size_t nargs,
    const char *a0, const char *a1, const char *a2)
{
	char			*args[3] = { (char *)a0, (char *)a1, (char *)a2 };
	struct conf_pos		 argpos[3];
	struct conf_node	 n = { .name = "oid", .args = args, .argpos = argpos,
	    .nargs = nargs };

	n.pos = (struct conf_pos){ "test.conf", line, 9 };
	for (size_t i = 0; i < 3; i++)
		argpos[i] = (struct conf_pos){ "test.conf", line, 13 + 10 * (int)i };
	return snmp_probe_ops.parse(d, &n, err);
}

static void
test_directive(void)
{
	struct probe_def	 d = { .name = "load", .ops = &snmp_probe_ops };
	struct conf_err		 err = { 0 };
	struct conf_node	 other = { .name = "url", .nargs = 0 };
	int			 r;

	d.pos = (struct conf_pos){ "test.conf", 1, 5 };
	UNIT_CHECK(snmp_probe_ops.parse(&d, &other, &err) == 1 && err.count == 0,
	    "a key of another kind is not ours (1)", "count=%d", err.count);
	UNIT_CHECK(snmp_probe_ops.finish(&d, &err) == -1 && err.count == 1,
	    "a probe without oid fails to finish", "count=%d", err.count);

	err.count = 0;
	r = parse_line(&d, &err, 2, 2, "load1", ".1.3.6.1.4.1.2021.10.1.5.1", NULL);
	UNIT_CHECK(r == 0 && err.count == 0, "oid NAME OID", "r=%d", r);
	r = parse_line(&d, &err, 3, 1, "1.3.6.1.2.1.1.3.0", NULL, NULL);
	UNIT_CHECK(r == 0 && err.count == 0, "oid OID names the metric 'value'", "r=%d", r);
	r = parse_line(&d, &err, 4, 1, "1.3.6.1.2.1.1.5.0", NULL, NULL);
	UNIT_CHECK(r == -1 && err.count == 1, "a second unnamed oid is a duplicate 'value'",
	    "r=%d count=%d", r, err.count);
	r = parse_line(&d, &err, 5, 2, "load1", "1.3.6.1.2.1.1.5.0", NULL);
	UNIT_CHECK(r == -1 && err.count == 2, "duplicate metric name", "r=%d", r);
	r = parse_line(&d, &err, 6, 2, "x", "1.3.6.1.foo", NULL);
	UNIT_CHECK(r == -1 && err.count == 3, "bad OID is an error", "r=%d", r);
	r = parse_line(&d, &err, 7, 3, "x", "1.3.6.1", "extra");
	UNIT_CHECK(r == -1 && err.count == 4, "oid with three arguments", "r=%d", r);
	r = parse_line(&d, &err, 8, 0, NULL, NULL, NULL);
	UNIT_CHECK(r == -1 && err.count == 5, "oid without arguments", "r=%d", r);

	r = snmp_probe_ops.finish(&d, &err);
	UNIT_CHECK(r == 0 && d.nmetrics == 2, "finish declares one metric per oid",
	    "r=%d n=%zu", r, d.nmetrics);
	if (d.nmetrics == 2) {
		UNIT_CHECK(strcmp(d.metrics[0].name, "load1") == 0 &&
		    strcmp(d.metrics[1].name, "value") == 0, "metrics keep the written order",
		    "%s %s", d.metrics[0].name, d.metrics[1].name);
		UNIT_CHECK(d.metrics[0].kind == MK_AUTO && d.metrics[0].priv != NULL &&
		    d.metrics[0].unit == NULL, "snmp metrics are MK_AUTO with an OID",
		    "kind=%d", d.metrics[0].kind);
		UNIT_CHECK(d.metrics[0].pos.line == 2, "metric keeps its position",
		    "line=%d", d.metrics[0].pos.line);
	}
	snmp_probe_ops.free_def(&d);
	for (size_t i = 0; i < d.nmetrics; i++) {
		UNIT_CHECK(d.metrics[i].priv == NULL, "free_def frees the OID", "left");
		free(d.metrics[i].name);
	}
	free(d.metrics);

	/* free_def after a failed block (finish never ran) frees the lines */
	struct probe_def	d2 = { .name = "half", .ops = &snmp_probe_ops };

	parse_line(&d2, &err, 10, 2, "a", "1.3.6.1", NULL);
	snmp_probe_ops.free_def(&d2);
	UNIT_CHECK(d2.priv == NULL && d2.metrics == NULL, "free_def before finish",
	    "priv=%p", d2.priv);
}

struct var_case {
	const char	*name;
	u_char		 type;
	const void	*val;
	size_t		 len;
	bool		 ok;
	enum metric_kind kind;
	double		 value;
	uint64_t	 raw;
	unsigned	 width;
	enum probe_status status;
	const char	*reason;
};

static void
check_var(const struct var_case *c)
{
	netsnmp_variable_list	v;
	struct sample		s;
	bool			good;

	memset(&v, 0, sizeof(v));
	memset(&s, 0xa5, sizeof(s));	/* every field must be written */
	snmp_set_var_typed_value(&v, c->type, c->val, c->len);
	snmp_var_sample(&v, &s);
	good = s.ok == c->ok && s.kind == c->kind && s.status == c->status &&
	    strcmp(s.reason, c->reason) == 0;
	if (c->ok && c->kind == MK_GAUGE)
		good = good && s.value == c->value && s.raw == 0 && s.width == 0;
	if (c->ok && c->kind == MK_COUNTER)
		good = good && s.raw == c->raw && s.width == c->width && s.value == 0;
	if (!c->ok)
		good = good && s.value == 0 && s.raw == 0 && s.width == 0;
	UNIT_CHECK(good, c->name, "ok=%d kind=%d value=%g raw=%llu width=%u status=%d "
	    "reason='%s'", s.ok, s.kind, s.value, (unsigned long long)s.raw, s.width,
	    s.status, s.reason);
	snmp_free_var_internals(&v);
}

static void
test_var_sample(void)
{
	static const long		 i_neg = -5;
	static const u_long		 u_max = 4294967295UL, u_big = 4000000000UL,
					 ticks = 500;
	static const struct counter64	 c64 = { .high = 1, .low = 2 };
	static const struct counter64	 c64max = { .high = 0xffffffff, .low = 0xffffffff };
	static const oid		 an_oid[] = { 1, 3, 6, 1 };
	static const u_char		 ip[] = { 127, 0, 0, 1 };
	static const float		 f = 0.25f;
	const struct var_case cases[] = {
		{ "Counter32 is a 32-bit counter", ASN_COUNTER, &u_max, sizeof(u_max),
		    true, MK_COUNTER, 0, 4294967295ULL, 32, PS_OK, "" },
		{ "Counter64 is a 64-bit counter", ASN_COUNTER64, &c64, sizeof(c64),
		    true, MK_COUNTER, 0, 4294967298ULL, 64, PS_OK, "" },
		{ "Counter64 at its top", ASN_COUNTER64, &c64max, sizeof(c64max),
		    true, MK_COUNTER, 0, UINT64_MAX, 64, PS_OK, "" },
		{ "INTEGER is a signed gauge", ASN_INTEGER, &i_neg, sizeof(i_neg),
		    true, MK_GAUGE, -5, 0, 0, PS_OK, "" },
		{ "Gauge32 above 2^31", ASN_GAUGE, &u_big, sizeof(u_big),
		    true, MK_GAUGE, 4000000000.0, 0, 0, PS_OK, "" },
		{ "TimeTicks is a gauge", ASN_TIMETICKS, &ticks, sizeof(ticks),
		    true, MK_GAUGE, 500, 0, 0, PS_OK, "" },
		{ "Opaque float is a gauge", ASN_OPAQUE_FLOAT, &f, sizeof(f),
		    true, MK_GAUGE, 0.25, 0, 0, PS_OK, "" },
		{ "string '0.12' (laLoad) is a gauge", ASN_OCTET_STR, "0.12", 4,
		    true, MK_GAUGE, 0.12, 0, 0, PS_OK, "" },
		{ "string ' 3 \\n' is a gauge", ASN_OCTET_STR, " 3 \n", 4,
		    true, MK_GAUGE, 3, 0, 0, PS_OK, "" },
		{ "string '-1e3' is a gauge", ASN_OCTET_STR, "-1e3", 4,
		    true, MK_GAUGE, -1000, 0, 0, PS_OK, "" },
		{ "string 'hello' is not a number", ASN_OCTET_STR, "hello", 5,
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type OCTET STRING)" },
		{ "string '12abc' is not a number", ASN_OCTET_STR, "12abc", 5,
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type OCTET STRING)" },
		{ "empty string is not a number", ASN_OCTET_STR, "", 0,
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type OCTET STRING)" },
		{ "string 'nan' is not a number", ASN_OCTET_STR, "nan", 3,
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type OCTET STRING)" },
		{ "string with a NUL is not a number", ASN_OCTET_STR, "1\0002", 3,
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type OCTET STRING)" },
		{ "OBJECT IDENTIFIER is not a number", ASN_OBJECT_ID, an_oid, sizeof(an_oid),
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE,
		    "not a number (type OBJECT IDENTIFIER)" },
		{ "IpAddress is not a number", ASN_IPADDRESS, ip, sizeof(ip),
		    false, MK_AUTO, 0, 0, 0, PS_BAD_RESPONSE, "not a number (type IpAddress)" },
		{ "noSuchObject", SNMP_NOSUCHOBJECT, NULL, 0,
		    false, MK_AUTO, 0, 0, 0, PS_NO_SUCH_OBJECT, "noSuchObject" },
		{ "noSuchInstance", SNMP_NOSUCHINSTANCE, NULL, 0,
		    false, MK_AUTO, 0, 0, 0, PS_NO_SUCH_OBJECT, "noSuchInstance" },
		{ "endOfMibView", SNMP_ENDOFMIBVIEW, NULL, 0,
		    false, MK_AUTO, 0, 0, 0, PS_NO_SUCH_OBJECT, "endOfMibView" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_var(&cases[i]);
}

int
main(void)
{
	test_oid_parse();
	test_directive();
	test_var_sample();
	return UNIT_DONE();
}
