/*
 * event.h — the one event shape (byold(8), "Events"):
 * {"event": T, "step": ..., "epoch": ..., "time": "RFC 3339 UTC", ...}.
 * byol-train --jsonl prints them one per line; byold's job.event
 * notifications carry the same objects.
 */
#ifndef BYOL_EVENT_H
#define BYOL_EVENT_H

#include <cjson/cJSON.h>

/* A new event object with its type, step, epoch and the current time; NULL if out of memory. */
cJSON *event_new(const char *type, long step, int epoch);

/* The current time as RFC 3339 UTC with milliseconds ("2026-11-28T02:03:04.567Z"). */
void event_time(char out[32]);

#endif
