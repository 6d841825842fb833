/*
 * test_secrets.c: `secrets "FILE"` and `secret:NAME` through conf_load() on
 * real files in a temporary directory, since the file mode is the point:
 * which modes are refused, what the errors say, and that no error ever
 * carries a secret's value.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "itsmd.h"
#include "unit.h"

static char	 dir[] = "/tmp/itsmd-test-secrets.XXXXXX";



static void
write_file(const char *name, const char *text, mode_t mode)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f;

	unlink(path);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	if (chmod(path, mode) == -1) {
		perror("chmod");
		exit(2);
	}
	free(path);
}

#define HOST(community)							\
	"host h {\n address 127.0.0.1\n community " community "\n"	\
	" probe p snmp { oid 1.3.6.1.2.1.1.3.0 }\n}\n"

struct case_ {
	const char	*name;
	const char	*secrets;	/* NULL: no secrets file written */
	mode_t		 mode;
	const char	*conf;
	const char	*community;	/* expected; NULL: the load fails */
	const char	*error;		/* expected in the errors, or NULL */
};

static const struct case_ cases[] = {
	{ "secret resolves", "snmp \"s3cr3t-A\"\nother \"x\"\n", 0600,
	    "secrets \"s.txt\"\n" HOST("secret:snmp"), "s3cr3t-A", NULL },
	{ "secrets may come after its use", "snmp \"s3cr3t-A\"\n", 0400,
	    HOST("secret:snmp") "secrets s.txt\n", "s3cr3t-A", NULL },
	{ "plain value untouched", "snmp \"s3cr3t-A\"\n", 0600,
	    "secrets s.txt\n" HOST("public"), "public", NULL },
	{ "group-readable refused", "snmp \"s3cr3t-A\"\n", 0640,
	    "secrets s.txt\n" HOST("secret:snmp"), NULL,
	    "t.conf:1:9: secrets file '/tmp/itsmd-test-secrets.XXXXXX/s.txt' is "
	    "accessible by group or others (mode 0640)" },
	{ "world-readable refused", "snmp \"s3cr3t-A\"\n", 0604,
	    "secrets s.txt\n" HOST("secret:snmp"), NULL, "(mode 0604)" },
	{ "unknown name", "snmp \"s3cr3t-A\"\n", 0600,
	    "secrets s.txt\n" HOST("secret:nope"), NULL,
	    "t.conf:4:12: unknown secret 'nope' in " },
	{ "no secrets file", NULL, 0,
	    HOST("secret:snmp"), NULL,
	    "t.conf:3:12: secret 'snmp' used but no 'secrets' file is configured" },
	{ "missing secrets file", NULL, 0,
	    "secrets missing.txt\n" HOST("public"), NULL,
	    "t.conf:1:9: cannot open secrets file" },
	{ "duplicate secret", "snmp \"s3cr3t-A\"\nsnmp \"s3cr3t-B\"\n", 0600,
	    "secrets s.txt\n" HOST("secret:snmp"), NULL,
	    "s.txt:2:1: duplicate secret 'snmp' (first at line 1)" },
	{ "bad secret line", "snmp\n", 0600,
	    "secrets s.txt\n" HOST("public"), NULL,
	    "s.txt:1:1: usage: NAME \"VALUE\" (secret 'snmp')" },
	{ "empty name", "snmp \"s3cr3t-A\"\n", 0600,
	    "secrets s.txt\n" HOST("secret:"), NULL, "'secret:' needs a name" },
};

int
main(void)
{
	char	*conf, *errs, *want;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	log_init("test_secrets", true, LOG_INFO);
	conf = xasprintf("%s/t.conf", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_	*c = &cases[i];
		struct conf_err		 err = { 0 };
		struct config		*cfg;
		char			 name[160], *spath;

		spath = xasprintf("%s/s.txt", dir);
		unlink(spath);
		free(spath);
		if (c->secrets != NULL)
			write_file("s.txt", c->secrets, c->mode);
		write_file("t.conf", c->conf, 0644);
		unit_capture_start();
		cfg = conf_load(conf, &err);
		errs = unit_capture_end();

		snprintf(name, sizeof(name), "%s: loads or fails as expected", c->name);
		UNIT_CHECK((cfg != NULL) == (c->community != NULL), name,
		    "cfg %p, errors: %s", (void *)cfg, errs);
		if (cfg != NULL && c->community != NULL) {
			snprintf(name, sizeof(name), "%s: community", c->name);
			UNIT_CHECK(cfg->nhosts == 1 && cfg->hosts[0].snmp.community &&
			    strcmp(cfg->hosts[0].snmp.community, c->community) == 0,
			    name, "got another community");
		}
		if (c->error != NULL) {
			/* the expected text names the real directory */
			want = xstrdup(c->error);
			if (strstr(want, "/tmp/itsmd-test-secrets.") != NULL)
				memcpy(strstr(want, "/tmp/itsmd-test-secrets."), dir,
				    strlen(dir));
			snprintf(name, sizeof(name), "%s: error text", c->name);
			UNIT_CHECK(strstr(errs, want) != NULL, name,
			    "wanted '%s' in: %s", want, errs);
			free(want);
		}
		snprintf(name, sizeof(name), "%s: no secret value in messages", c->name);
		UNIT_CHECK(strstr(errs, "s3cr3t") == NULL, name, "leaked: %s", errs);
		conf_free(cfg);
	}
	/* after a build, nothing of the file stays in memory for later lookups */
	{
		struct conf_err		err = { 0 };
		struct conf_pos		pos = { "x.conf", 1, 1 };
		const char		*v;

		unit_capture_start();
		v = conf_secret("secret:snmp", &pos, &err);
		errs = unit_capture_end();
		UNIT_CHECK(v == NULL && err.count == 1, "secrets forgotten after the build",
		    "got %s", v ? "a value" : errs);
	}
	unlink(conf);
	free(conf);
	conf = xasprintf("%s/s.txt", dir);
	unlink(conf);
	free(conf);
	rmdir(dir);
	return UNIT_DONE();
}
