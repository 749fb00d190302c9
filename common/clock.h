/*
 * clock.h — seconds on the monotonic clock, for timing steps, waits and profiles.
 */
#ifndef BYOL_CLOCK_H
#define BYOL_CLOCK_H

#include <time.h>

static inline double clock_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
