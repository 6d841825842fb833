/*
 * snmp_mib.c: OIDs written as names.  The standard objects the shipped
 * templates use are a table here, so `IF-MIB::ifHCInOctets` works on a
 * machine with no MIB files (Debian ships none of the IETF ones); any other
 * module is read by net-snmp's MIB parser from `mib-dirs`, at conf time only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "itsmd.h"
#include "snmp_int.h"

struct mib_name {
	const char	*module;
	const char	*name;
	const char	*oid;
};

/* Sorted by nothing in particular: a few hundred lookups at conf time. */
static const struct mib_name mib_names[] = {
	/* SNMPv2-MIB system group (RFC 3418) */
	{ "SNMPv2-MIB", "system",		"1.3.6.1.2.1.1" },
	{ "SNMPv2-MIB", "sysDescr",		"1.3.6.1.2.1.1.1" },
	{ "SNMPv2-MIB", "sysObjectID",		"1.3.6.1.2.1.1.2" },
	{ "SNMPv2-MIB", "sysUpTime",		"1.3.6.1.2.1.1.3" },
	{ "SNMPv2-MIB", "sysContact",		"1.3.6.1.2.1.1.4" },
	{ "SNMPv2-MIB", "sysName",		"1.3.6.1.2.1.1.5" },
	{ "SNMPv2-MIB", "sysLocation",		"1.3.6.1.2.1.1.6" },
	{ "SNMPv2-MIB", "sysServices",		"1.3.6.1.2.1.1.7" },

	/* IF-MIB (RFC 2863) */
	{ "IF-MIB", "ifNumber",			"1.3.6.1.2.1.2.1" },
	{ "IF-MIB", "ifTable",			"1.3.6.1.2.1.2.2" },
	{ "IF-MIB", "ifEntry",			"1.3.6.1.2.1.2.2.1" },
	{ "IF-MIB", "ifIndex",			"1.3.6.1.2.1.2.2.1.1" },
	{ "IF-MIB", "ifDescr",			"1.3.6.1.2.1.2.2.1.2" },
	{ "IF-MIB", "ifType",			"1.3.6.1.2.1.2.2.1.3" },
	{ "IF-MIB", "ifMtu",			"1.3.6.1.2.1.2.2.1.4" },
	{ "IF-MIB", "ifSpeed",			"1.3.6.1.2.1.2.2.1.5" },
	{ "IF-MIB", "ifPhysAddress",		"1.3.6.1.2.1.2.2.1.6" },
	{ "IF-MIB", "ifAdminStatus",		"1.3.6.1.2.1.2.2.1.7" },
	{ "IF-MIB", "ifOperStatus",		"1.3.6.1.2.1.2.2.1.8" },
	{ "IF-MIB", "ifLastChange",		"1.3.6.1.2.1.2.2.1.9" },
	{ "IF-MIB", "ifInOctets",		"1.3.6.1.2.1.2.2.1.10" },
	{ "IF-MIB", "ifInUcastPkts",		"1.3.6.1.2.1.2.2.1.11" },
	{ "IF-MIB", "ifInNUcastPkts",		"1.3.6.1.2.1.2.2.1.12" },
	{ "IF-MIB", "ifInDiscards",		"1.3.6.1.2.1.2.2.1.13" },
	{ "IF-MIB", "ifInErrors",		"1.3.6.1.2.1.2.2.1.14" },
	{ "IF-MIB", "ifInUnknownProtos",	"1.3.6.1.2.1.2.2.1.15" },
	{ "IF-MIB", "ifOutOctets",		"1.3.6.1.2.1.2.2.1.16" },
	{ "IF-MIB", "ifOutUcastPkts",		"1.3.6.1.2.1.2.2.1.17" },
	{ "IF-MIB", "ifOutNUcastPkts",		"1.3.6.1.2.1.2.2.1.18" },
	{ "IF-MIB", "ifOutDiscards",		"1.3.6.1.2.1.2.2.1.19" },
	{ "IF-MIB", "ifOutErrors",		"1.3.6.1.2.1.2.2.1.20" },
	{ "IF-MIB", "ifOutQLen",		"1.3.6.1.2.1.2.2.1.21" },
	{ "IF-MIB", "ifXTable",			"1.3.6.1.2.1.31.1.1" },
	{ "IF-MIB", "ifXEntry",			"1.3.6.1.2.1.31.1.1.1" },
	{ "IF-MIB", "ifName",			"1.3.6.1.2.1.31.1.1.1.1" },
	{ "IF-MIB", "ifInMulticastPkts",	"1.3.6.1.2.1.31.1.1.1.2" },
	{ "IF-MIB", "ifInBroadcastPkts",	"1.3.6.1.2.1.31.1.1.1.3" },
	{ "IF-MIB", "ifOutMulticastPkts",	"1.3.6.1.2.1.31.1.1.1.4" },
	{ "IF-MIB", "ifOutBroadcastPkts",	"1.3.6.1.2.1.31.1.1.1.5" },
	{ "IF-MIB", "ifHCInOctets",		"1.3.6.1.2.1.31.1.1.1.6" },
	{ "IF-MIB", "ifHCInUcastPkts",		"1.3.6.1.2.1.31.1.1.1.7" },
	{ "IF-MIB", "ifHCInMulticastPkts",	"1.3.6.1.2.1.31.1.1.1.8" },
	{ "IF-MIB", "ifHCInBroadcastPkts",	"1.3.6.1.2.1.31.1.1.1.9" },
	{ "IF-MIB", "ifHCOutOctets",		"1.3.6.1.2.1.31.1.1.1.10" },
	{ "IF-MIB", "ifHCOutUcastPkts",		"1.3.6.1.2.1.31.1.1.1.11" },
	{ "IF-MIB", "ifHCOutMulticastPkts",	"1.3.6.1.2.1.31.1.1.1.12" },
	{ "IF-MIB", "ifHCOutBroadcastPkts",	"1.3.6.1.2.1.31.1.1.1.13" },
	{ "IF-MIB", "ifLinkUpDownTrapEnable",	"1.3.6.1.2.1.31.1.1.1.14" },
	{ "IF-MIB", "ifHighSpeed",		"1.3.6.1.2.1.31.1.1.1.15" },
	{ "IF-MIB", "ifPromiscuousMode",	"1.3.6.1.2.1.31.1.1.1.16" },
	{ "IF-MIB", "ifConnectorPresent",	"1.3.6.1.2.1.31.1.1.1.17" },
	{ "IF-MIB", "ifAlias",			"1.3.6.1.2.1.31.1.1.1.18" },
	{ "IF-MIB", "ifCounterDiscontinuityTime", "1.3.6.1.2.1.31.1.1.1.19" },

	/* HOST-RESOURCES-MIB (RFC 2790) */
	{ "HOST-RESOURCES-MIB", "hrSystemUptime",	"1.3.6.1.2.1.25.1.1" },
	{ "HOST-RESOURCES-MIB", "hrSystemNumUsers",	"1.3.6.1.2.1.25.1.5" },
	{ "HOST-RESOURCES-MIB", "hrSystemProcesses",	"1.3.6.1.2.1.25.1.6" },
	{ "HOST-RESOURCES-MIB", "hrSystemMaxProcesses", "1.3.6.1.2.1.25.1.7" },
	{ "HOST-RESOURCES-MIB", "hrMemorySize",		"1.3.6.1.2.1.25.2.2" },
	{ "HOST-RESOURCES-MIB", "hrStorageTable",	"1.3.6.1.2.1.25.2.3" },
	{ "HOST-RESOURCES-MIB", "hrStorageEntry",	"1.3.6.1.2.1.25.2.3.1" },
	{ "HOST-RESOURCES-MIB", "hrStorageIndex",	"1.3.6.1.2.1.25.2.3.1.1" },
	{ "HOST-RESOURCES-MIB", "hrStorageType",	"1.3.6.1.2.1.25.2.3.1.2" },
	{ "HOST-RESOURCES-MIB", "hrStorageDescr",	"1.3.6.1.2.1.25.2.3.1.3" },
	{ "HOST-RESOURCES-MIB", "hrStorageAllocationUnits", "1.3.6.1.2.1.25.2.3.1.4" },
	{ "HOST-RESOURCES-MIB", "hrStorageSize",	"1.3.6.1.2.1.25.2.3.1.5" },
	{ "HOST-RESOURCES-MIB", "hrStorageUsed",	"1.3.6.1.2.1.25.2.3.1.6" },
	{ "HOST-RESOURCES-MIB", "hrStorageAllocationFailures", "1.3.6.1.2.1.25.2.3.1.7" },
	{ "HOST-RESOURCES-MIB", "hrDeviceTable",	"1.3.6.1.2.1.25.3.2" },
	{ "HOST-RESOURCES-MIB", "hrDeviceDescr",	"1.3.6.1.2.1.25.3.2.1.3" },
	{ "HOST-RESOURCES-MIB", "hrDeviceStatus",	"1.3.6.1.2.1.25.3.2.1.5" },
	{ "HOST-RESOURCES-MIB", "hrProcessorTable",	"1.3.6.1.2.1.25.3.3" },
	{ "HOST-RESOURCES-MIB", "hrProcessorFrwID",	"1.3.6.1.2.1.25.3.3.1.1" },
	{ "HOST-RESOURCES-MIB", "hrProcessorLoad",	"1.3.6.1.2.1.25.3.3.1.2" },

	/* UCD-SNMP-MIB (net-snmp's own; the file ships, its imports do not) */
	{ "UCD-SNMP-MIB", "memory",		"1.3.6.1.4.1.2021.4" },
	{ "UCD-SNMP-MIB", "memTotalSwap",	"1.3.6.1.4.1.2021.4.3" },
	{ "UCD-SNMP-MIB", "memAvailSwap",	"1.3.6.1.4.1.2021.4.4" },
	{ "UCD-SNMP-MIB", "memTotalReal",	"1.3.6.1.4.1.2021.4.5" },
	{ "UCD-SNMP-MIB", "memAvailReal",	"1.3.6.1.4.1.2021.4.6" },
	{ "UCD-SNMP-MIB", "memTotalFree",	"1.3.6.1.4.1.2021.4.11" },
	{ "UCD-SNMP-MIB", "memShared",		"1.3.6.1.4.1.2021.4.13" },
	{ "UCD-SNMP-MIB", "memBuffer",		"1.3.6.1.4.1.2021.4.14" },
	{ "UCD-SNMP-MIB", "memCached",		"1.3.6.1.4.1.2021.4.15" },
	{ "UCD-SNMP-MIB", "dskTable",		"1.3.6.1.4.1.2021.9" },
	{ "UCD-SNMP-MIB", "dskPath",		"1.3.6.1.4.1.2021.9.1.2" },
	{ "UCD-SNMP-MIB", "dskDevice",		"1.3.6.1.4.1.2021.9.1.3" },
	{ "UCD-SNMP-MIB", "dskTotal",		"1.3.6.1.4.1.2021.9.1.6" },
	{ "UCD-SNMP-MIB", "dskAvail",		"1.3.6.1.4.1.2021.9.1.7" },
	{ "UCD-SNMP-MIB", "dskUsed",		"1.3.6.1.4.1.2021.9.1.8" },
	{ "UCD-SNMP-MIB", "dskPercent",		"1.3.6.1.4.1.2021.9.1.9" },
	{ "UCD-SNMP-MIB", "laTable",		"1.3.6.1.4.1.2021.10" },
	{ "UCD-SNMP-MIB", "laEntry",		"1.3.6.1.4.1.2021.10.1" },
	{ "UCD-SNMP-MIB", "laIndex",		"1.3.6.1.4.1.2021.10.1.1" },
	{ "UCD-SNMP-MIB", "laNames",		"1.3.6.1.4.1.2021.10.1.2" },
	{ "UCD-SNMP-MIB", "laLoad",		"1.3.6.1.4.1.2021.10.1.3" },
	{ "UCD-SNMP-MIB", "laConfig",		"1.3.6.1.4.1.2021.10.1.4" },
	{ "UCD-SNMP-MIB", "laLoadInt",		"1.3.6.1.4.1.2021.10.1.5" },
	{ "UCD-SNMP-MIB", "laLoadFloat",	"1.3.6.1.4.1.2021.10.1.6" },
	{ "UCD-SNMP-MIB", "systemStats",	"1.3.6.1.4.1.2021.11" },
	{ "UCD-SNMP-MIB", "ssCpuUser",		"1.3.6.1.4.1.2021.11.9" },
	{ "UCD-SNMP-MIB", "ssCpuSystem",	"1.3.6.1.4.1.2021.11.10" },
	{ "UCD-SNMP-MIB", "ssCpuIdle",		"1.3.6.1.4.1.2021.11.11" },
	{ "UCD-SNMP-MIB", "ssCpuRawUser",	"1.3.6.1.4.1.2021.11.50" },
	{ "UCD-SNMP-MIB", "ssCpuRawNice",	"1.3.6.1.4.1.2021.11.51" },
	{ "UCD-SNMP-MIB", "ssCpuRawSystem",	"1.3.6.1.4.1.2021.11.52" },
	{ "UCD-SNMP-MIB", "ssCpuRawIdle",	"1.3.6.1.4.1.2021.11.53" },
	{ "UCD-SNMP-MIB", "ssCpuRawWait",	"1.3.6.1.4.1.2021.11.54" },
	{ "UCD-SNMP-MIB", "ssCpuRawKernel",	"1.3.6.1.4.1.2021.11.55" },
	{ "UCD-SNMP-MIB", "ssCpuRawInterrupt",	"1.3.6.1.4.1.2021.11.56" },
	{ "UCD-SNMP-MIB", "ssIORawSent",	"1.3.6.1.4.1.2021.11.57" },
	{ "UCD-SNMP-MIB", "ssIORawReceived",	"1.3.6.1.4.1.2021.11.58" },
	{ "UCD-SNMP-MIB", "ssRawInterrupts",	"1.3.6.1.4.1.2021.11.59" },
	{ "UCD-SNMP-MIB", "ssRawContexts",	"1.3.6.1.4.1.2021.11.60" },
	{ "UCD-SNMP-MIB", "ssCpuRawSoftIRQ",	"1.3.6.1.4.1.2021.11.61" },
	{ "UCD-SNMP-MIB", "ssRawSwapIn",	"1.3.6.1.4.1.2021.11.62" },
	{ "UCD-SNMP-MIB", "ssRawSwapOut",	"1.3.6.1.4.1.2021.11.63" },
	{ "UCD-SNMP-MIB", "ssCpuRawSteal",	"1.3.6.1.4.1.2021.11.64" },
	{ "UCD-SNMP-MIB", "ssCpuNumCpus",	"1.3.6.1.4.1.2021.11.67" },
};

#define NMIB_NAMES	(sizeof(mib_names) / sizeof(mib_names[0]))

static char	*mib_dirs;		/* ':'-joined, or NULL */
static bool	 mib_loaded;		/* net-snmp's parser has seen mib_dirs */

void
snmp_mib_dirs(const char *const *dirs, size_t n)
{
	size_t	len = 0;

	free(mib_dirs);
	mib_dirs = NULL;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		len += strlen(dirs[i]) + 1;
	mib_dirs = xmalloc(len);
	mib_dirs[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(mib_dirs, ":");
		strcat(mib_dirs, dirs[i]);
	}
	/*
	 * The parser is set up once per process (shutdown_mib() leaks what
	 * netsnmp_init_mib() made): a reload's directories are added to it.
	 */
	if (mib_loaded) {
		netsnmp_set_mib_directory(mib_dirs);
		for (size_t i = 0; i < n; i++)
			add_mibdir(dirs[i]);
	}
}

static bool
module_builtin(const char *mod)
{
	for (size_t i = 0; i < NMIB_NAMES; i++)
		if (strcmp(mib_names[i].module, mod) == 0)
			return true;
	return false;
}

/* Sub-identifiers of a numeric text appended at sub[*len]. */
static int
append_numeric(const char *s, unsigned long *sub, size_t max, size_t *len,
    char *why, size_t whylen)
{
	while (*s != '\0') {
		unsigned long long	v = 0;
		const char		*start;

		if (*s != '.') {
			snprintf(why, whylen, "expected '.' and an index after the name");
			return -1;
		}
		start = ++s;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > UINT32_MAX) {
				snprintf(why, whylen, "sub-identifier above 4294967295");
				return -1;
			}
			s++;
		}
		if (s == start) {
			snprintf(why, whylen, "the index after the name must be numeric");
			return -1;
		}
		if (*len == max) {
			snprintf(why, whylen, "too many sub-identifiers");
			return -1;
		}
		sub[(*len)++] = (unsigned long)v;
	}
	return 0;
}

/* Through net-snmp's parser: MODULE::name from the files in mib-dirs. */
static int
resolve_parser(const char *mod, const char *name, unsigned long *sub, size_t max,
    size_t *len, char *why, size_t whylen)
{
	oid	 o[MAX_OID_LEN];
	size_t	 olen = MAX_OID_LEN;
	char	*full;

	if (mib_dirs == NULL) {
		snprintf(why, whylen, "MIB module %s is not built in; set 'mib-dirs' "
		    "to a directory holding its file", mod);
		return -1;
	}
	if (!mib_loaded) {
		/* MIBS= keeps net-snmp from loading its default module list */
		setenv("MIBS", "", 1);
		netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
		netsnmp_set_mib_directory(mib_dirs);
		netsnmp_init_mib();
		mib_loaded = true;
	}
	if (which_module(mod) == -1) {
		snprintf(why, whylen, "MIB module %s not found in mib-dirs (%s)", mod,
		    mib_dirs);
		return -1;
	}
	if (read_module(mod) == NULL || which_module(mod) == -1) {
		snprintf(why, whylen, "MIB module %s could not be read from mib-dirs "
		    "(%s); a module it imports may be missing", mod, mib_dirs);
		return -1;
	}
	full = xasprintf("%s::%s", mod, name);
	if (read_objid(full, o, &olen) == 0) {
		snprintf(why, whylen, "%s not found in MIB module %s", name, mod);
		free(full);
		return -1;
	}
	free(full);
	if (olen > max) {
		snprintf(why, whylen, "too many sub-identifiers");
		return -1;
	}
	for (size_t i = 0; i < olen; i++)
		sub[i] = o[i];
	*len = olen;
	return 0;
}

/*
 * "1.3.6.1...", "IF-MIB::ifHCInOctets", "ifHCInOctets" or any of these with
 * an index (".0", ".3"): the numeric OID, or -1 and why.
 */
int
snmp_oid_resolve(const char *text, unsigned long *sub, size_t max, size_t *len,
    char *why, size_t whylen)
{
	const char	*colons, *name, *end, *swhy;
	char		 mod[128], nm[128];
	size_t		 nlen;

	if (text[0] == '.' || (text[0] >= '0' && text[0] <= '9')) {
		if (snmp_oid_parse(text, sub, max, len, &swhy) == -1) {
			snprintf(why, whylen, "%s", swhy);
			return -1;
		}
		return 0;
	}
	mod[0] = '\0';
	name = text;
	if ((colons = strstr(text, "::")) != NULL) {
		if ((size_t)(colons - text) >= sizeof(mod) || colons == text) {
			snprintf(why, whylen, "bad module name");
			return -1;
		}
		memcpy(mod, text, (size_t)(colons - text));
		mod[colons - text] = '\0';
		name = colons + 2;
	}
	end = strchr(name, '.');
	nlen = end ? (size_t)(end - name) : strlen(name);
	if (nlen == 0 || nlen >= sizeof(nm)) {
		snprintf(why, whylen, "bad object name");
		return -1;
	}
	memcpy(nm, name, nlen);
	nm[nlen] = '\0';
	for (size_t i = 0; i < NMIB_NAMES; i++) {
		if (strcmp(mib_names[i].name, nm) != 0 ||
		    (mod[0] && strcmp(mib_names[i].module, mod) != 0))
			continue;
		if (snmp_oid_parse(mib_names[i].oid, sub, max, len, &swhy) == -1)
			fatalx("snmp_mib: bad built-in OID for %s", nm);
		return end ? append_numeric(end, sub, max, len, why, whylen) : 0;
	}
	if (mod[0] == '\0') {
		snprintf(why, whylen, "unknown name %s: not built in; write "
		    "MODULE::%s (with mib-dirs) or the numeric OID", nm, nm);
		return -1;
	}
	if (module_builtin(mod) && mib_dirs == NULL) {
		snprintf(why, whylen, "%s is not in itsmd's built-in %s subset; use the "
		    "numeric OID, or mib-dirs with the full module", nm, mod);
		return -1;
	}
	if (resolve_parser(mod, nm, sub, max, len, why, whylen) == -1)
		return -1;
	return end ? append_numeric(end, sub, max, len, why, whylen) : 0;
}
