/* event.c — event objects (see event.h). */
#include "event.h"

#include <stdio.h>
#include <time.h>

void event_time(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char date[24];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

cJSON *event_new(const char *type, long step, int epoch)
{
	char now[32];
	cJSON *ev = cJSON_CreateObject();
	event_time(now);
	if (ev && (!cJSON_AddStringToObject(ev, "event", type) ||
		   !cJSON_AddNumberToObject(ev, "step", (double)step) ||
		   !cJSON_AddNumberToObject(ev, "epoch", epoch) ||
		   !cJSON_AddStringToObject(ev, "time", now))) {
		cJSON_Delete(ev);
		return NULL;
	}
	return ev;
}
