/*
 * hash.c: one string hash (64-bit FNV-1a) for whatever spreads or buckets
 * by name: the scheduler's first-run phases, the HTTP origins, the SNMP
 * agents.  Cheap and stable across runs and builds; not for adversaries'
 * keys, which none of these are (they come from the conf).
 */
#include <stdint.h>

#include "itsmd.h"

uint64_t
hash_str(const char *key)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}
