/*
 * monotime.c: the two clocks.  Deadlines and rates use the monotonic clock so
 * that an NTP step never makes a rate spike; stored times use the wall clock.
 */
#include <time.h>

#include "itsmd.h"

static uint64_t
clock_ms(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
uint64_t wall_ms(void) { return clock_ms(CLOCK_REALTIME); }
