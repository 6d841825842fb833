/*
 * test_units.c: tables of durations, sizes, percentages and threshold
 * numbers, good ones with their value and bad ones with their reason.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "itsmd.h"
#include "unit.h"

static const struct {
	const char	*in;
	uint64_t	 ms;
} good_durations[] = {
	{ "500ms", 500 }, { "1ms", 1 }, { "0s", 0 }, { "30s", 30000 },
	{ "5m", 300000 }, { "1h", 3600000 }, { "1d", 86400000 },
	{ "1.5s", 1500 }, { "0.1s", 100 }, { ".5s", 500 }, { "1.5m", 90000 },
	{ "1h30m", 5400000 }, { "1m30s", 90000 }, { "2s500ms", 2500 },
	{ "0.001s", 1 }, { "365d", 31536000000ULL },
};

static const struct {
	const char	*in;
	const char	*why;
} bad_durations[] = {
	{ "", "empty value" },
	{ "10", "missing unit (ms, s, m, h, d)" },
	{ "1m30", "missing unit (ms, s, m, h, d)" },
	{ "5x", "unknown unit (use ms, s, m, h, d)" },
	{ "5 s", "unknown unit (use ms, s, m, h, d)" },
	{ "5S", "unknown unit (use ms, s, m, h, d)" },
	{ "5sec", "unknown unit (use ms, s, m, h, d)" },
	{ "s", "not a number" },
	{ ".s", "not a number" },
	{ "-5s", "must not be negative" },
	{ "0.0001s", "finer than a millisecond" },
	{ "1.5ms", "finer than a millisecond" },
	{ "1.1234567s", "too many decimals" },
	{ "99999999999999999999s", "too large" },
	{ "1000000000000000d", "too large" },
};

static const struct {
	const char	*in;
	uint64_t	 bytes;
} good_sizes[] = {
	{ "0", 0 }, { "512", 512 }, { "64k", 65536 }, { "64K", 65536 },
	{ "1M", 1048576 }, { "1m", 1048576 }, { "2G", 2147483648ULL },
	{ "1T", 1099511627776ULL }, { "1.5k", 1536 }, { "0.5M", 524288 },
};

static const struct {
	const char	*in;
	const char	*why;
} bad_sizes[] = {
	{ "", "empty value" },
	{ "1MB", "unknown unit (use k, M, G, T)" },
	{ "1x", "unknown unit (use k, M, G, T)" },
	{ "k", "not a number" },
	{ "-1k", "must not be negative" },
	{ "1.1", "not a whole number of bytes" },
	{ "0.3k", "not a whole number of bytes" },
	{ "99999999999999999999", "too large" },
	{ "100000000000T", "too large" },
};

static const struct {
	const char	*in;
	double		 pct;
} good_percents[] = {
	{ "85%", 85 }, { "99.9%", 99.9 }, { "0%", 0 }, { "150%", 150 },
	{ ".5%", 0.5 },
};

static const struct {
	const char	*in;
	const char	*why;
} bad_percents[] = {
	{ "", "empty value" },
	{ "85", "missing '%'" },
	{ "85%%", "not a number" },
	{ "%", "not a number" },
	{ "-5%", "must not be negative" },
	{ "5 %", "not a number" },
};

static const struct {
	const char	*in;
	double		 v;
} good_numbers[] = {
	{ "3", 3 }, { "-2.5", -2.5 }, { "+4", 4 }, { "1e3", 1000 },
	{ "2.5E-1", 0.25 }, { "0", 0 }, { "500ms", 0.5 }, { "2s", 2 },
	{ "1m", 60 }, { "1h", 3600 }, { "64k", 65536 }, { "1M", 1048576 },
	{ "90%", 90 }, { "1.5", 1.5 },
};

static const struct {
	const char	*in;
	const char	*why;
} bad_numbers[] = {
	{ "", "empty value" },
	{ "abc", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "inf", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "nan", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "0x10", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ " 3", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "1e", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "1e999", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "5x", "not a number (examples: 3, -2.5, 1e3, 500ms, 2s, 64k, 90%)" },
	{ "-5s", "must not be negative" },
	{ "0.0001s", "finer than a millisecond" },
	{ "0.3k", "not a whole number of bytes" },
	{ "85%%", "not a number" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

int
main(void)
{
	char		 name[128];
	const char	*why;
	uint64_t	 u;
	double		 d;
	int		 rc;
	size_t		 i;

	for (i = 0; i < NELEM(good_durations); i++) {
		snprintf(name, sizeof(name), "duration '%s'", good_durations[i].in);
		u = 12345;
		rc = conf_duration_ms(good_durations[i].in, &u, &why);
		UNIT_CHECK(rc == 0 && u == good_durations[i].ms, name,
		    "rc %d value %llu want %llu", rc, (unsigned long long)u,
		    (unsigned long long)good_durations[i].ms);
	}
	for (i = 0; i < NELEM(bad_durations); i++) {
		snprintf(name, sizeof(name), "bad duration '%s'", bad_durations[i].in);
		why = NULL;
		rc = conf_duration_ms(bad_durations[i].in, &u, &why);
		UNIT_CHECK(rc == -1 && why != NULL &&
		    strcmp(why, bad_durations[i].why) == 0, name,
		    "rc %d why '%s' want '%s'", rc, why ? why : "(null)",
		    bad_durations[i].why);
	}
	for (i = 0; i < NELEM(good_sizes); i++) {
		snprintf(name, sizeof(name), "size '%s'", good_sizes[i].in);
		rc = conf_size_bytes(good_sizes[i].in, &u, &why);
		UNIT_CHECK(rc == 0 && u == good_sizes[i].bytes, name,
		    "rc %d value %llu", rc, (unsigned long long)u);
	}
	for (i = 0; i < NELEM(bad_sizes); i++) {
		snprintf(name, sizeof(name), "bad size '%s'", bad_sizes[i].in);
		why = NULL;
		rc = conf_size_bytes(bad_sizes[i].in, &u, &why);
		UNIT_CHECK(rc == -1 && why != NULL &&
		    strcmp(why, bad_sizes[i].why) == 0, name,
		    "rc %d why '%s' want '%s'", rc, why ? why : "(null)",
		    bad_sizes[i].why);
	}
	for (i = 0; i < NELEM(good_percents); i++) {
		snprintf(name, sizeof(name), "percent '%s'", good_percents[i].in);
		rc = conf_percent(good_percents[i].in, &d, &why);
		UNIT_CHECK(rc == 0 && fabs(d - good_percents[i].pct) < 1e-9, name,
		    "rc %d value %g", rc, d);
	}
	for (i = 0; i < NELEM(bad_percents); i++) {
		snprintf(name, sizeof(name), "bad percent '%s'", bad_percents[i].in);
		why = NULL;
		rc = conf_percent(bad_percents[i].in, &d, &why);
		UNIT_CHECK(rc == -1 && why != NULL &&
		    strcmp(why, bad_percents[i].why) == 0, name,
		    "rc %d why '%s' want '%s'", rc, why ? why : "(null)",
		    bad_percents[i].why);
	}
	for (i = 0; i < NELEM(good_numbers); i++) {
		snprintf(name, sizeof(name), "number '%s'", good_numbers[i].in);
		rc = conf_number(good_numbers[i].in, &d, &why);
		UNIT_CHECK(rc == 0 && fabs(d - good_numbers[i].v) < 1e-9, name,
		    "rc %d value %g want %g", rc, d, good_numbers[i].v);
	}
	for (i = 0; i < NELEM(bad_numbers); i++) {
		snprintf(name, sizeof(name), "bad number '%s'", bad_numbers[i].in);
		why = NULL;
		rc = conf_number(bad_numbers[i].in, &d, &why);
		UNIT_CHECK(rc == -1 && why != NULL &&
		    strcmp(why, bad_numbers[i].why) == 0, name,
		    "rc %d why '%s' want '%s'", rc, why ? why : "(null)",
		    bad_numbers[i].why);
	}
	return UNIT_DONE();
}
