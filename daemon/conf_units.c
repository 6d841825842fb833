/*
 * conf_units.c: values with units (durations, sizes, percentages, numbers).
 * Pure string-to-number code with no state; every failure returns -1 and a
 * static reason the caller puts after the key and the value.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "itsmd.h"

/* More decimals than this cannot matter for a conf value, and the limit keeps
 * the exact integer arithmetic below from overflowing. */
#define MAX_DECIMALS	6
/* Integer parts past this are typos, and staying far below 2^64 lets the unit
 * multiplications be checked with one division. */
#define MAX_INTPART	1000000000000000ULL	/* 1e15 */

static const char why_empty[] = "empty value";
static const char why_nan[] = "not a number";
static const char why_negative[] = "must not be negative";
static const char why_decimals[] = "too many decimals";
static const char why_large[] = "too large";
static const char why_dur_nounit[] = "missing unit (ms, s, m, h, d)";
static const char why_dur_unit[] = "unknown unit (use ms, s, m, h, d)";
static const char why_dur_fine[] = "finer than a millisecond";
static const char why_size_unit[] = "unknown unit (use k, M, G, T)";
static const char why_size_fine[] = "not a whole number of bytes";
static const char why_pct_sign[] = "missing '%'";
static const char why_number[] =
    "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)";

/*
 * An unsigned decimal kept as integers, so that 0.1s is exactly 100ms
 * rather than whatever 0.1 * 1000 rounds to in binary.
 */
struct decimal {
	uint64_t	ip;		/* integer part */
	uint64_t	fp;		/* fraction digits as an integer */
	uint64_t	fscale;		/* 10^(number of fraction digits) */
};

/* Reads digits[.digits] at *sp; advances *sp.  0, or -1 with *why. */
static int
decimal_scan(const char **sp, struct decimal *d, const char **why)
{
	const char	*s = *sp;
	int		 ndig = 0, nfrac = 0;

	d->ip = 0;
	d->fp = 0;
	d->fscale = 1;
	for (; isdigit((unsigned char)*s); s++, ndig++) {
		d->ip = d->ip * 10 + (uint64_t)(*s - '0');
		if (d->ip > MAX_INTPART) {
			*why = why_large;
			return -1;
		}
	}
	if (*s == '.') {
		s++;
		for (; isdigit((unsigned char)*s); s++, nfrac++) {
			if (nfrac == MAX_DECIMALS) {
				*why = why_decimals;
				return -1;
			}
			d->fp = d->fp * 10 + (uint64_t)(*s - '0');
			d->fscale *= 10;
		}
	}
	if (ndig == 0 && nfrac == 0) {
		*why = why_nan;
		return -1;
	}
	*sp = s;
	return 0;
}

/* d * unit as an exact integer: 0, -1 with *why when too big or not whole. */
static int
decimal_scale(const struct decimal *d, uint64_t unit, uint64_t *out,
    const char *why_fine, const char **why)
{
	uint64_t	frac;

	if (d->ip != 0 && unit > UINT64_MAX / 4 / d->ip) {
		*why = why_large;
		return -1;
	}
	/* fp < 10^6 and unit < 2^41 (T), so this cannot overflow. */
	frac = d->fp * unit;
	if (frac % d->fscale != 0) {
		*why = why_fine;
		return -1;
	}
	*out = d->ip * unit + frac / d->fscale;
	return 0;
}

static const struct {
	const char	*suffix;
	uint64_t	 ms;
} dur_units[] = {
	{ "ms", 1 },		/* before "m", which is its prefix */
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 3600 * 1000 },
	{ "d", 86400 * 1000 },
};

/*
 * One or more NUMBER UNIT pairs: 500ms, 30s, 1.5m, 1h30m.  A unit is
 * required because a bare "60" is seconds to one reader and minutes to
 * another.
 */
int
conf_duration_ms(const char *s, uint64_t *ms, const char **why)
{
	struct decimal	 d;
	uint64_t	 total = 0, part;
	size_t		 i, len;

	if (*s == '\0') {
		*why = why_empty;
		return -1;
	}
	if (*s == '-') {
		*why = why_negative;
		return -1;
	}
	while (*s != '\0') {
		if (decimal_scan(&s, &d, why) == -1)
			return -1;
		if (*s == '\0') {
			*why = why_dur_nounit;
			return -1;
		}
		for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++) {
			len = strlen(dur_units[i].suffix);
			if (strncmp(s, dur_units[i].suffix, len) == 0 &&
			    (s[len] == '\0' || isdigit((unsigned char)s[len]) ||
			    s[len] == '.'))
				break;
		}
		if (i == sizeof(dur_units) / sizeof(dur_units[0])) {
			*why = why_dur_unit;
			return -1;
		}
		s += len;
		if (decimal_scale(&d, dur_units[i].ms, &part, why_dur_fine,
		    why) == -1)
			return -1;
		if (part > UINT64_MAX / 4 - total) {
			*why = why_large;
			return -1;
		}
		total += part;
	}
	*ms = total;
	return 0;
}

/* Binary multiples, as nginx reads them: 64k, 1M, 2G; a bare number is bytes. */
int
conf_size_bytes(const char *s, uint64_t *bytes, const char **why)
{
	struct decimal	 d;
	uint64_t	 unit;

	if (*s == '\0') {
		*why = why_empty;
		return -1;
	}
	if (*s == '-') {
		*why = why_negative;
		return -1;
	}
	if (decimal_scan(&s, &d, why) == -1)
		return -1;
	switch (*s) {
	case '\0':
		unit = 1;
		break;
	case 'k': case 'K':
		unit = 1ULL << 10;
		break;
	case 'm': case 'M':
		unit = 1ULL << 20;
		break;
	case 'g': case 'G':
		unit = 1ULL << 30;
		break;
	case 't': case 'T':
		unit = 1ULL << 40;
		break;
	default:
		*why = why_size_unit;
		return -1;
	}
	if (*s != '\0' && s[1] != '\0') {
		*why = why_size_unit;
		return -1;
	}
	return decimal_scale(&d, unit, bytes, why_size_fine, why);
}

/* 85% or 99.9%: the number itself, so that 90% compares as 90. */
int
conf_percent(const char *s, double *pct, const char **why)
{
	struct decimal	 d;

	if (*s == '\0') {
		*why = why_empty;
		return -1;
	}
	if (*s == '-') {
		*why = why_negative;
		return -1;
	}
	if (decimal_scan(&s, &d, why) == -1)
		return -1;
	if (*s != '%' || s[1] != '\0') {
		*why = *s == '\0' ? why_pct_sign : why_nan;
		return -1;
	}
	*pct = (double)d.ip + (double)d.fp / (double)d.fscale;
	return 0;
}

/*
 * [-+]digits[.digits][e[-+]digits], checked by hand first because strtod
 * also takes "inf", "nan", hex and leading blanks.
 */
static int
plain_number(const char *s, double *v)
{
	const char	*p = s;
	char		*end;
	int		 ndig = 0;

	if (*p == '-' || *p == '+')
		p++;
	for (; isdigit((unsigned char)*p); p++)
		ndig++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			ndig++;
	if (ndig == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p != '\0')
		return -1;
	*v = strtod(s, &end);
	if (*end != '\0' || !isfinite(*v))
		return -1;
	return 0;
}

/*
 * A threshold value: a plain number, or any unit above converted to its
 * base (seconds, bytes, percent points).  Durations are tried before sizes,
 * so "1m" is a minute here; a mebibyte is written "1M".
 */
int
conf_number(const char *s, double *v, const char **why)
{
	uint64_t	 u;
	const char	*dwhy, *swhy;

	if (*s == '\0') {
		*why = why_empty;
		return -1;
	}
	if (plain_number(s, v) == 0)
		return 0;
	if (s[strlen(s) - 1] == '%')
		return conf_percent(s, v, why);
	if (conf_duration_ms(s, &u, &dwhy) == 0) {
		*v = (double)u / 1000.0;
		return 0;
	}
	if (conf_size_bytes(s, &u, &swhy) == 0) {
		*v = (double)u;
		return 0;
	}
	/* Say what went wrong with the unit the value seems to use. */
	if (dwhy == why_dur_fine || dwhy == why_large || dwhy == why_decimals ||
	    dwhy == why_negative)
		*why = dwhy;
	else if (swhy == why_size_fine)
		*why = swhy;
	else
		*why = why_number;
	return -1;
}
