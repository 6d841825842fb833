/*
 * test_snmp_conf.c: SNMP configuration through conf_parse_string() and
 * conf_build(): v3 host settings and the level they imply, OIDs by name
 * (built-in table and mib-dirs), table probe directives, and the exact
 * errors (FILE:LINE:COL) of what does not fit together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"
#include "../../probes/snmp_int.h"




#define PROBE	" probe p snmp { oid 1.3.6.1.2.1.1.3.0 }\n"

static const struct {
	const char	*name;
	const char	*conf;
	int		 level;		/* expected; 0: the build fails */
	const char	*auth, *priv;	/* expected protocols */
	const char	*error;		/* expected text, or NULL */
} cases[] = {
	{ "noAuthNoPriv from the user alone",
	    "host h {\n address 127.0.0.1\n snmp-version 3\n snmp-user u\n" PROBE "}\n",
	    1, "SHA", "AES", NULL },
	{ "auth key implies authNoPriv",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-auth-key \"12345678\"\n" PROBE "}\n", 2, "SHA", "AES", NULL },
	{ "priv key implies authPriv; protocol names any case",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-auth-protocol sha-512\n snmp-auth-key \"12345678\"\n"
	    " snmp-priv-protocol aes-256\n snmp-priv-key \"abcdefgh\"\n" PROBE "}\n",
	    3, "SHA-512", "AES-256", NULL },
	{ "v3 needs no community",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-security-level authNoPriv\n snmp-auth-protocol MD5\n"
	    " snmp-auth-key \"12345678\"\n" PROBE "}\n", 2, "MD5", "AES", NULL },
	{ "no user",
	    "host h {\n address a\n snmp-version 3\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:1:1: host 'h': SNMPv3 needs 'snmp-user'" },
	{ "authPriv without a priv key",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-security-level authPriv\n snmp-auth-key \"12345678\"\n" PROBE "}\n",
	    0, NULL, NULL,
	    "t.conf:1:1: host 'h': security level authPriv needs 'snmp-priv-key'" },
	{ "authNoPriv without an auth key",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-security-level authNoPriv\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:1:1: host 'h': security level authNoPriv needs 'snmp-auth-key'" },
	{ "unknown auth protocol",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-auth-protocol SHA1024\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:5:21: bad snmp-auth-protocol 'SHA1024': use one of MD5, SHA, "
	    "SHA-224, SHA-256, SHA-384, SHA-512" },
	{ "unknown privacy protocol",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-priv-protocol 3DES\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:5:21: bad snmp-priv-protocol '3DES': use one of DES, AES, "
	    "AES-128, AES-192, AES-256" },
	{ "unknown level",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-security-level high\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:5:22: bad snmp-security-level 'high': use one of noAuthNoPriv, "
	    "authNoPriv, authPriv" },
	{ "short key, value not echoed",
	    "host h {\n address a\n snmp-version 3\n snmp-user u\n"
	    " snmp-auth-key \"s3cr\"\n" PROBE "}\n", 0, NULL, NULL,
	    "t.conf:5:16: 'snmp-auth-key' must be at least 8 characters long" },
	{ "v3 keys on a v2c host",
	    "host h {\n address a\n community c\n snmp-user u\n" PROBE "}\n",
	    0, NULL, NULL,
	    "t.conf:1:1: host 'h': snmp-user and the other SNMPv3 keys need "
	    "'snmp-version 3'" },
	{ "v2c still needs a community",
	    "host h {\n address a\n" PROBE "}\n", 0, NULL, NULL,
	    "host 'h': snmp probe 'p' needs a community" },
};

/* ------------------------------------------------------------ OIDs and tables */

static const char	mib_text[] =
    "TEST-MIB DEFINITIONS ::= BEGIN\n"
    "testRoot OBJECT IDENTIFIER ::= { iso 3 6 1 4 1 99999 }\n"
    "testObject OBJECT IDENTIFIER ::= { testRoot 7 }\n"
    "END\n";

static const struct {
	const char	*name;
	const char	*probe;		/* the probe block's body */
	const char	*oid;		/* first metric's OID, dotted; NULL: fails */
	bool		 table;
	const char	*error;
} probe_cases[] = {
	{ "numeric OID", "oid 1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.3.0", false, NULL },
	{ "module and name with index", "oid IF-MIB::ifHCInOctets.3",
	    "1.3.6.1.2.1.31.1.1.1.6.3", false, NULL },
	{ "bare built-in name", "oid up sysUpTime.0", "1.3.6.1.2.1.1.3.0", false, NULL },
	{ "UCD name", "oid UCD-SNMP-MIB::laLoad.1", "1.3.6.1.4.1.2021.10.1.3.1",
	    false, NULL },
	{ "unknown module without mib-dirs", "oid FOO-MIB::bar.0", NULL, false,
	    "t.conf:2:33: bad OID 'FOO-MIB::bar.0': MIB module FOO-MIB is not built "
	    "in; set 'mib-dirs' to a directory holding its file" },
	{ "built-in module, object outside the subset, without mib-dirs", "oid IF-MIB::ifStackStatus.1",
	    NULL, false, "not in itsmd's built-in IF-MIB subset" },
	{ "unknown bare name", "oid frobnicate.0", NULL, false,
	    "unknown name frobnicate: not built in" },
	{ "non-numeric index", "oid sysUpTime.x", NULL, false,
	    "the index after the name must be numeric" },
	{ "module from mib-dirs", "oid TEST-MIB::testObject.0",
	    "1.3.6.1.4.1.99999.7.0", false, NULL },
	{ "module missing from mib-dirs", "oid NOPE-MIB::x.0", NULL, false,
	    "MIB module NOPE-MIB not found in mib-dirs (" },
	{ "table probe", "label IF-MIB::ifName IF-MIB::ifDescr; "
	    "column in IF-MIB::ifHCInOctets counter; column speed ifHighSpeed gauge; "
	    "link-speed speed; include-rows \"^eth\"; exclude-rows \"^lo$\"; rediscover 5m",
	    "1.3.6.1.2.1.31.1.1.1.6", true, NULL },
	{ "percent of two columns", "label hrStorageDescr; column used hrStorageUsed; "
	    "column size hrStorageSize; percent pct used size",
	    "1.3.6.1.2.1.25.2.3.1.6", true, NULL },
	{ "table without label", "column in IF-MIB::ifHCInOctets", NULL, false,
	    "needs 'label' (the column naming its rows)" },
	{ "oid and column mixed", "oid sysUpTime.0; label ifName; column in ifHCInOctets",
	    NULL, false, "table keys cannot mix with 'oid'" },
	{ "percent of an unknown column", "label ifName; column a ifInErrors; "
	    "percent p a nope", NULL, false, "percent 'p': 'nope' is not a column" },
	{ "bad include pattern", "label ifName; column a ifInErrors; include-rows \"(\"",
	    NULL, false, "bad include-rows pattern '('" },
	{ "bad column kind", "label ifName; column a ifInErrors rate", NULL, false,
	    "bad column kind 'rate': counter or gauge" },
	{ "link-speed names no column", "label ifName; column a ifInErrors; "
	    "link-speed b", NULL, false, "link-speed: 'b' is not a column" },
};

static void
test_probes(const char *mibdir)
{
	for (size_t i = 0; i < sizeof(probe_cases) / sizeof(probe_cases[0]); i++) {
		struct conf_err		 err = { 0 };
		struct conf_tree	*t;
		struct config		*cfg = NULL;
		char			*text, *errs, name[160], got[256];
		size_t			 len = 0;

		text = xasprintf("mib-dirs \"%s\"\ntemplate x { probe p snmp { %s } }\n",
		    mibdir, probe_cases[i].probe);
		if (strstr(probe_cases[i].name, "without mib-dirs") != NULL) {
			free(text);
			text = xasprintf("\ntemplate x { probe p snmp { %s } }\n",
			    probe_cases[i].probe);
		}
		unit_capture_start();
		if ((t = conf_parse_string("t.conf", text, &err)) != NULL)
			cfg = conf_build(t, &err);
		errs = unit_capture_end();
		snprintf(name, sizeof(name), "%s: builds or fails", probe_cases[i].name);
		UNIT_CHECK((cfg != NULL) == (probe_cases[i].oid != NULL), name,
		    "errors: %s", errs);
		if (cfg != NULL && probe_cases[i].oid != NULL) {
			const struct probe_def	*d = &cfg->templates[0].probes[0];
			const struct snmp_oid	*o = d->metrics[0].priv;

			got[0] = '\0';
			for (size_t k = 0; o != NULL && k < o->len; k++)
				len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%lu",
				    k ? "." : "", o->sub[k]);
			snprintf(name, sizeof(name), "%s: OID", probe_cases[i].name);
			UNIT_CHECK(strcmp(got, probe_cases[i].oid) == 0, name, "got %s", got);
			snprintf(name, sizeof(name), "%s: table or scalar", probe_cases[i].name);
			UNIT_CHECK(d->table == probe_cases[i].table, name, "table=%d", d->table);
		}
		if (probe_cases[i].error != NULL) {
			snprintf(name, sizeof(name), "%s: error text", probe_cases[i].name);
			UNIT_CHECK(strstr(errs, probe_cases[i].error) != NULL, name,
			    "wanted '%s' in: %s", probe_cases[i].error, errs);
		}
		conf_free(cfg);
		free(text);
	}
}

/*
 * Backoff of unreachable agents (probe key) and the in-flight limit per
 * agent (host key): defaults, bounds and the error at the value.
 */
static void
test_limits(void)
{
	static const struct {
		const char	*name;
		const char	*conf;
		int		 backoff, inflight;	/* expected; -1: the build fails */
		const char	*error;
	} lc[] = {
		{ "limits: defaults (backoff 4 intervals, in-flight 0 = the probe's 8)",
		    "host h { address a; community c; probe p snmp { oid 1.3.6.1.2.1.1.3.0 } }\n",
		    4, 0, NULL },
		{ "limits: both set",
		    "host h { address a; community c; snmp-max-inflight 16\n"
		    " probe p snmp { oid 1.3.6.1.2.1.1.3.0; backoff-max 64 } }\n", 64, 16, NULL },
		{ "limits: backoff-max 1 turns backoff off",
		    "host h { address a; community c; probe p snmp { oid 1.3.6.1.2.1.1.3.0; "
		    "backoff-max 1 } }\n", 1, 0, NULL },
		{ "limits: backoff-max 0 is refused at its value",
		    "host h { address a; community c; probe p snmp { oid 1.3.6.1.2.1.1.3.0; "
		    "backoff-max 0 } }\n", -1, -1,
		    "t.conf:1:84: bad value '0' for 'backoff-max': a whole number of intervals "
		    "from 1 to 64" },
		{ "limits: backoff-max takes no unit",
		    "host h { address a; community c; probe p snmp { oid 1.3.6.1.2.1.1.3.0; "
		    "backoff-max 4x } }\n", -1, -1, "bad value '4x' for 'backoff-max'" },
		{ "limits: snmp-max-inflight 0 is refused",
		    "host h { address a; community c; snmp-max-inflight 0\n"
		    " probe p snmp { oid 1.3.6.1.2.1.1.3.0 } }\n", -1, -1, "t.conf:1:52:" },
	};

	for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
		struct conf_err		 err = { 0 };
		struct conf_tree	*t;
		struct config		*cfg = NULL;
		char			*errs;

		unit_capture_start();
		if ((t = conf_parse_string("t.conf", lc[i].conf, &err)) != NULL)
			cfg = conf_build(t, &err);
		errs = unit_capture_end();
		if (lc[i].backoff < 0)
			UNIT_CHECK(cfg == NULL && strstr(errs, lc[i].error) != NULL, lc[i].name,
			    "wanted '%s' in: %s", lc[i].error, errs);
		else
			UNIT_CHECK(cfg != NULL &&
			    cfg->hosts[0].probes[0]->backoff_max == (unsigned)lc[i].backoff &&
			    cfg->hosts[0].snmp.max_inflight == lc[i].inflight, lc[i].name,
			    "backoff %u in-flight %d; errors: %s",
			    cfg ? cfg->hosts[0].probes[0]->backoff_max : 0,
			    cfg ? cfg->hosts[0].snmp.max_inflight : 0, errs);
		conf_free(cfg);
	}
}

/* Rows kept by include/exclude, as the interfaces template uses them. */
static void
test_filters(void)
{
	static const struct {
		const char	*label;
		int		 keep;
	} rows[] = {
		{ "eth0", 1 }, { "eth1", 1 }, { "lo", 1 }, { "wlan0", 0 }, { "eth0.100", 0 },
	};
	struct conf_err		 err = { 0 };
	struct conf_tree	*t;
	struct config		*cfg = NULL;
	char			*errs;

	unit_capture_start();
	if ((t = conf_parse_string("t.conf", "template x { probe p snmp { label ifName; "
	    "column a ifInErrors; include-rows \"^eth\"; include-rows \"^lo$\"; "
	    "exclude-rows \"\\\\.\" } }\n", &err)) != NULL)
		cfg = conf_build(t, &err);
	errs = unit_capture_end();
	UNIT_CHECK(cfg != NULL, "filter conf builds", "%s", errs);
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char	name[96];
		int	k = snmp_table_keep(cfg->templates[0].probes[0].priv, rows[i].label);

		snprintf(name, sizeof(name), "filter keeps '%s': %d", rows[i].label,
		    rows[i].keep);
		UNIT_CHECK((k != 0) == (rows[i].keep != 0), name, "got %d", k);
	}
	conf_free(cfg);
}

int
main(void)
{
	char	 dir[] = "/tmp/itsmd-test-mib.XXXXXX", *path;
	FILE	*f;

	log_init("test_snmp_conf", true, LOG_INFO);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	path = xasprintf("%s/TEST-MIB.txt", dir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		return 2;
	}
	fputs(mib_text, f);
	fclose(f);
	test_probes(dir);
	test_filters();
	test_limits();
	unlink(path);
	free(path);
	rmdir(dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf_err		 err = { 0 };
		struct conf_tree	*t;
		struct config		*cfg = NULL;
		const struct snmp_auth	*a;
		char			*errs, name[160];

		unit_capture_start();
		if ((t = conf_parse_string("t.conf", cases[i].conf, &err)) != NULL)
			cfg = conf_build(t, &err);
		errs = unit_capture_end();
		snprintf(name, sizeof(name), "%s: builds or fails", cases[i].name);
		UNIT_CHECK((cfg != NULL) == (cases[i].level != 0), name, "errors: %s", errs);
		if (cfg != NULL && cases[i].level != 0) {
			a = &cfg->hosts[0].snmp;
			snprintf(name, sizeof(name), "%s: level and protocols", cases[i].name);
			UNIT_CHECK(a->version == 3 && a->level == cases[i].level &&
			    strcmp(a->auth_proto, cases[i].auth) == 0 &&
			    strcmp(a->priv_proto, cases[i].priv) == 0, name,
			    "v%d level %d auth %s priv %s", a->version, a->level,
			    a->auth_proto, a->priv_proto);
		}
		if (cases[i].error != NULL) {
			snprintf(name, sizeof(name), "%s: error text", cases[i].name);
			UNIT_CHECK(strstr(errs, cases[i].error) != NULL, name,
			    "wanted '%s' in: %s", cases[i].error, errs);
		}
		snprintf(name, sizeof(name), "%s: no key in the messages", cases[i].name);
		UNIT_CHECK(strstr(errs, "s3cr") == NULL && strstr(errs, "12345678") == NULL,
		    name, "leaked: %s", errs);
		conf_free(cfg);
	}
	return UNIT_DONE();
}
