/*
 * unit.h: the whole unit-test framework.  Each case prints one TAP line,
 * `ok - name` or `not ok - name: why`; tests/run.sh counts them.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failed, unit_total;

#define UNIT_CHECK(cond, name, ...) do {					\
	unit_total++;								\
	if (cond) {								\
		printf("ok - %s\n", (name));					\
	} else {								\
		unit_failed++;							\
		printf("not ok - %s: ", (name));				\
		printf(__VA_ARGS__);						\
		printf(" (%s:%d)\n", __FILE__, __LINE__);			\
	}									\
} while (0)

#define UNIT_DONE() (fflush(stdout), unit_failed ? 1 : 0)

#endif
