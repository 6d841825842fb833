/*
 * snmp_int.h: what the files of the SNMP probe (probes/snmp*.c) share and
 * its unit tests see; nothing outside probes/ and tests/unit includes it.
 * snmp_conf.c builds the definitions, snmp.c runs them.
 */
#ifndef SNMP_INT_H
#define SNMP_INT_H

#include <regex.h>
#include <stddef.h>

#include "itsmd.h"

/* An OID: metric_def->priv of every OID metric (NULL for a percent). */
struct snmp_oid {
	size_t		len;
	unsigned long	sub[];
};

/*
 * A table probe (probe_def->priv once finished; NULL for a scalar probe):
 * rows are discovered by walking the label columns, then each metric
 * column is fetched per row as COLUMN.INDEX.
 */
struct snmp_table {
	struct snmp_oid	**labels;	/* walked; a row's label is the first non-empty */
	size_t		  nlabels;
	struct snmp_oid	 *disc;		/* per-row discontinuity column, or NULL */
	regex_t		 *include;	/* rows kept: match any (none: all) ... */
	size_t		  ninclude;
	regex_t		 *exclude;	/* ... and match none of these */
	size_t		  nexclude;
	uint64_t	  rediscover_ms;
	int		  speed;	/* metric in Mbit/s bounding counter rates, or -1 */
	size_t		 *part, *whole;	/* per metric: percent operands (SIZE_MAX: not one) */
};

/* snmp.c: a numeric OID, optional leading dot; -1 and *why (static text) */
int	snmp_oid_parse(const char *, unsigned long *sub, size_t max, size_t *len,
	    const char **why);

/* snmp_mib.c: numeric, MODULE::name or name, each with an optional index */
int	snmp_oid_resolve(const char *, unsigned long *sub, size_t max, size_t *len,
	    char *why, size_t whylen);

/* snmp_conf.c: probe_ops parse/finish/free_def of the snmp kind */
int	snmp_conf_parse(struct probe_def *, const struct conf_node *, struct conf_err *);
int	snmp_conf_finish(struct probe_def *, struct conf_err *);
void	snmp_conf_free_def(struct probe_def *);
/* true if the row label passes the include/exclude filters */
int	snmp_table_keep(const struct snmp_table *, const char *label);

#endif
