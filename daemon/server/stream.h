/*
 * stream.h — job.subscribe: a job's history replayed from the store, then its
 * live events, as job.event notifications to one client.
 *
 * A subscription starts in replay: step points are read from the store a page
 * at a time, a page whenever the client's unsent output falls below a low
 * water mark, so a long history never piles up in memory. When the pages
 * catch up, the stored checkpoints and evals after since_step follow and, for
 * a finished job, an `end`; from then on the subscription is live. Everything
 * runs on the loop thread, and events are stored before they are published,
 * so the change from replay to live neither loses nor repeats an event.
 *
 * While replaying, live step, checkpoint, eval and end events are skipped (the
 * store will yield them); state, epoch and log events pass through. Live step
 * points are sent as "droppable": the server drops them for a client whose
 * backlog is over its soft limit (the coalescing byold(8) describes); other events
 * are never dropped, and a client whose backlog passes the hard limit is cut
 * off. Training never waits for a client.
 */
#ifndef BYOL_STREAM_H
#define BYOL_STREAM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "store/store.h"

/* How the stream module reaches a client of the server. */
struct stream_sink_ops {
	size_t (*backlog)(void *client);  /* bytes queued and not yet written */
	/* Queue a line (no newline); returns 0 when queued, 1 when a droppable line was
	   dropped, -1 when the client is (now) closed. */
	int (*send)(void *client, const char *line, size_t len, int droppable);
};

#define STREAM_MAX_PER_CLIENT 64
#define STREAM_REPLAY_PAGE 256
#define STREAM_REPLAY_LOW ((size_t)256 << 10)

struct streams;

struct streams *streams_new(void);
void streams_free(struct streams *st);

/* A new subscription of client to job_id, replaying steps > since_step. Returns its id
   (> 0), or a negative ERR_*: ERR_NOTFOUND (no such job), ERR_BUSY (too many
   subscriptions on this client). Nothing is sent until stream_service. */
long stream_subscribe(struct streams *st, struct store *db, const struct stream_sink_ops *ops,
		      void *client, long job_id, long since_step, struct err *e);

/* ERR_NOTFOUND unless client holds the subscription. */
int stream_unsubscribe(struct streams *st, void *client, long sub_id, struct err *e);

/* Forget every subscription of a client (it closed). */
void stream_drop_client(struct streams *st, void *client);

/* Send replay pages of client's replaying subscriptions while its backlog is below the
   low water mark (the server calls this after replies and as writes complete). */
void stream_service(struct streams *st, struct store *db, void *client);

/* Publish an event of a job (already stored) to its subscribers. */
void stream_publish(struct streams *st, long job_id, const cJSON *ev);

/* A state event of a job from its job.get row: {event: "state", step, epoch, time, from,
   to, reason}. */
cJSON *stream_state_event(const cJSON *job, const char *from, const char *to,
			  const char *reason);

/* Number of subscriptions (for server.status), and of one client's. */
int stream_count(const struct streams *st);
int stream_client_count(const struct streams *st, const void *client);

#endif
