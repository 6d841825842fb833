/*
 * test_snmp_conf.c: the SNMP host keys through conf_parse_string() and
 * conf_build(): v3 settings, the security level they imply, and the exact
 * errors (FILE:LINE:COL) of the ones that do not fit together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"

static FILE	*capture_file;
static int	 saved_stderr = -1;

static void
capture_start(void)
{
	fflush(stderr);
	if (capture_file == NULL && (capture_file = tmpfile()) == NULL) {
		perror("tmpfile");
		exit(2);
	}
	if (ftruncate(fileno(capture_file), 0) == -1) {
		perror("ftruncate");
		exit(2);
	}
	rewind(capture_file);
	saved_stderr = dup(2);
	dup2(fileno(capture_file), 2);
}

static char *
capture_end(void)
{
	static char	 out[8192];
	size_t		 n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(capture_file);
	n = fread(out, 1, sizeof(out) - 1, capture_file);
	out[n] = '\0';
	return out;
}

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

int
main(void)
{
	log_init("test_snmp_conf", true, LOG_INFO);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf_err		 err = { 0 };
		struct conf_tree	*t;
		struct config		*cfg = NULL;
		const struct snmp_auth	*a;
		char			*errs, name[160];

		capture_start();
		if ((t = conf_parse_string("t.conf", cases[i].conf, &err)) != NULL)
			cfg = conf_build(t, &err);
		errs = capture_end();
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
