/*
 * stream.c — job subscriptions: replay, then live events (see stream.h).
 */
#include "server/stream.h"

#include "event.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct sub {
	long id, job_id;
	void *client;
	const struct stream_sink_ops *ops;
	long since;           /* the subscriber has seen steps <= since */
	long next_step;       /* replay: the next stored step to read */
	long first_live_ckpt; /* ids from here on were sent live during the replay */
	long first_live_eval;
	int replaying, dead;
	struct sub *next;
};

struct streams {
	struct sub *subs;
	long last_id;
	int busy;             /* > 0 while iterating: dropped subscriptions are only marked */
};

struct streams *streams_new(void)
{
	return calloc(1, sizeof(struct streams));
}

/* Unlink and free the subscriptions marked dead. */
static void sweep(struct streams *st)
{
	for (struct sub **p = &st->subs; *p;) {
		struct sub *s = *p;
		if (s->dead) {
			*p = s->next;
			free(s);
		} else {
			p = &s->next;
		}
	}
}

void streams_free(struct streams *st)
{
	if (!st)
		return;
	for (struct sub *s = st->subs; s; s = s->next)
		s->dead = 1;
	sweep(st);
	free(st);
}

int stream_count(const struct streams *st)
{
	return stream_client_count(st, NULL);
}

int stream_client_count(const struct streams *st, const void *client)
{
	int n = 0;
	for (const struct sub *s = st->subs; s; s = s->next)
		n += !s->dead && (!client || s->client == client);
	return n;
}

/* ---- sending ------------------------------------------------------------------ */

/* ev as a job.event notification of s; the sink's verdict (0 sent, 1 dropped, -1 closed). */
static int send_event(struct sub *s, const cJSON *ev, int droppable)
{
	cJSON *msg = cJSON_CreateObject(), *params = cJSON_Duplicate(ev, 1);
	char *line = NULL;
	if (msg && params) {
		cJSON_DeleteItemFromObjectCaseSensitive(params, "subscription");
		cJSON_DeleteItemFromObjectCaseSensitive(params, "job_id");
		cJSON_AddNumberToObject(params, "subscription", (double)s->id);
		cJSON_AddNumberToObject(params, "job_id", (double)s->job_id);
		cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
		cJSON_AddStringToObject(msg, "method", "job.event");
		cJSON_AddItemToObject(msg, "params", params);
		params = NULL;
		line = cJSON_PrintUnformatted(msg);
	}
	cJSON_Delete(params);
	cJSON_Delete(msg);
	int rc = line ? s->ops->send(s->client, line, strlen(line), droppable) : 1;
	free(line);
	if (rc < 0)
		s->dead = 1;
	return rc;
}

/* An event object {event: type, ...fields of row}; rename maps one row key to another. */
static cJSON *event_from_row(const char *type, const cJSON *row, const char *from_key,
			     const char *to_key)
{
	cJSON *ev = cJSON_CreateObject();
	if (!ev)
		return NULL;
	cJSON_AddStringToObject(ev, "event", type);
	const cJSON *f;
	cJSON_ArrayForEach(f, row) {
		const char *key = from_key && strcmp(f->string, from_key) == 0 ? to_key : f->string;
		cJSON_AddItemToObject(ev, key, cJSON_Duplicate(f, 1));
	}
	return ev;
}

static int send_row(struct sub *s, const char *type, const cJSON *row, const char *from_key,
		    const char *to_key)
{
	cJSON *ev = event_from_row(type, row, from_key, to_key);
	int rc = ev ? send_event(s, ev, 0) : 0;
	cJSON_Delete(ev);
	return rc;
}

/* ---- replay --------------------------------------------------------------------- */

static long num_of(const cJSON *o, const char *key, long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

static int terminal(const char *state)
{
	return strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "cancelled") == 0;
}

/* The stored rows of kind (checkpoints, evals) after since and not already sent live. */
static int replay_rows(struct sub *s, const cJSON *job, const char *array, const char *type,
		       const char *id_key, long first_live)
{
	const cJSON *row;
	cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(job, array)) {
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(row, "state");
		if (num_of(row, "step", 0) <= s->since || num_of(row, id_key, 0) >= first_live ||
		    (cJSON_IsString(state) && strcmp(state->valuestring, "done") != 0))
			continue;
		if (send_row(s, type, row, "created", "time") < 0)
			return -1;
	}
	return 0;
}

/* The end of a finished job's replay, from its row. */
static int replay_end(struct sub *s, const cJSON *job)
{
	static const char *const keys[] = { "state", "error", "step", "top1", "top5", "knn_top1",
					    "final_loss" };
	cJSON *ev = cJSON_CreateObject();
	if (!ev)
		return 0;
	cJSON_AddStringToObject(ev, "event", "end");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, keys[i]);
		if (v && !cJSON_IsNull(v))
			cJSON_AddItemToObject(ev, keys[i], cJSON_Duplicate(v, 1));
	}
	cJSON_AddItemToObject(ev, "time",
			      cJSON_Duplicate(cJSON_GetObjectItem(job, "finished"), 1));
	int rc = send_event(s, ev, 0);
	cJSON_Delete(ev);
	return rc;
}

cJSON *stream_state_event(const cJSON *job, const char *from, const char *to,
			  const char *reason)
{
	long step = num_of(job, "step", 0), total = num_of(job, "total_steps", 0);
	const cJSON *train = cJSON_GetObjectItem(cJSON_GetObjectItem(job, "spec"), "train");
	long epochs = num_of(train, "epochs", 0);
	cJSON *ev = event_new("state", step, total > 0 ? (int)(step * epochs / total) : 0);
	if (ev) {
		cJSON_AddStringToObject(ev, "from", from);
		cJSON_AddStringToObject(ev, "to", to);
		cJSON_AddStringToObject(ev, "reason", reason);
	}
	return ev;
}

/* The replay has read every stored point: checkpoints, evals, the current state, and
   the end of a finished job; then the subscription is live. */
static void catch_up(struct sub *s, struct store *db)
{
	struct err e = { 0 };
	cJSON *job = store_job_get(db, s->job_id, &e);
	s->replaying = 0;
	if (!job) {
		s->dead = 1; /* the job was deleted */
		return;
	}
	const char *state = cJSON_GetObjectItem(job, "state")->valuestring;
	cJSON *st = stream_state_event(job, state, state, "subscribed");
	if (replay_rows(s, job, "checkpoints", "checkpoint", "checkpoint_id",
			s->first_live_ckpt) == 0 &&
	    replay_rows(s, job, "evals", "eval", "eval_id", s->first_live_eval) == 0 &&
	    (!st || send_event(s, st, 0) >= 0) && terminal(state))
		replay_end(s, job);
	cJSON_Delete(st);
	cJSON_Delete(job);
}

/* One page of stored step points; catches up after the last page. */
static void replay_page(struct sub *s, struct store *db)
{
	struct err e = { 0 };
	cJSON *page = store_metrics_page(db, s->job_id, s->next_step, STREAM_REPLAY_PAGE, &e);
	if (!page) {
		s->dead = 1;
		return;
	}
	const cJSON *points = cJSON_GetObjectItem(page, "points"), *p;
	int n = 0;
	cJSON_ArrayForEach(p, points) {
		if (send_row(s, "step", p, NULL, NULL) < 0)
			break;
		s->next_step = num_of(p, "step", s->next_step) + 1;
		n++;
	}
	cJSON_Delete(page);
	if (!s->dead && n < STREAM_REPLAY_PAGE)
		catch_up(s, db);
}

void stream_service(struct streams *st, struct store *db, void *client)
{
	st->busy++;
	for (struct sub *s = st->subs; s; s = s->next) {
		while (s->client == client && s->replaying && !s->dead &&
		       s->ops->backlog(client) < STREAM_REPLAY_LOW)
			replay_page(s, db);
	}
	if (--st->busy == 0)
		sweep(st);
}

/* ---- subscriptions ------------------------------------------------------------------ */

long stream_subscribe(struct streams *st, struct store *db, const struct stream_sink_ops *ops,
		      void *client, long job_id, long since_step, struct err *e)
{
	int mine = 0;
	for (struct sub *s = st->subs; s; s = s->next)
		mine += s->client == client && !s->dead;
	if (mine >= STREAM_MAX_PER_CLIENT)
		return err_set(e, ERR_BUSY, "at most %d subscriptions per connection",
			       STREAM_MAX_PER_CLIENT);
	char state[16];
	int rc = store_job_state(db, job_id, state, sizeof state, e); /* does the job exist? */
	if (rc)
		return rc;
	struct sub *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ERR_NOMEM, "out of memory");
	*s = (struct sub){ .id = ++st->last_id, .job_id = job_id, .client = client, .ops = ops,
			   .since = since_step, .next_step = since_step + 1,
			   .first_live_ckpt = LONG_MAX, .first_live_eval = LONG_MAX,
			   .replaying = 1, .next = st->subs };
	st->subs = s;
	return s->id;
}

int stream_unsubscribe(struct streams *st, void *client, long sub_id, struct err *e)
{
	for (struct sub *s = st->subs; s; s = s->next) {
		if (s->id == sub_id && s->client == client && !s->dead) {
			s->dead = 1;
			if (!st->busy)
				sweep(st);
			return 0;
		}
	}
	return err_set(e, ERR_NOTFOUND, "no subscription %ld on this connection", sub_id);
}

void stream_drop_client(struct streams *st, void *client)
{
	for (struct sub *s = st->subs; s; s = s->next)
		if (s->client == client)
			s->dead = 1;
	if (!st->busy)
		sweep(st);
}

/* ---- live events ----------------------------------------------------------------------- */

/* During a replay: whether a live event is left to the store (steps, end), or sent now
   and remembered so the catch-up does not repeat it (checkpoints, evals). */
static int replay_skips(struct sub *s, const char *type, const cJSON *ev)
{
	if (strcmp(type, "step") == 0 || strcmp(type, "end") == 0)
		return 1;
	long *first = strcmp(type, "checkpoint") == 0 ? &s->first_live_ckpt
		      : strcmp(type, "eval") == 0     ? &s->first_live_eval
						      : NULL;
	const char *key = first == &s->first_live_ckpt ? "checkpoint_id" : "eval_id";
	long id = first ? num_of(ev, key, LONG_MAX) : LONG_MAX;
	if (first && id < *first)
		*first = id;
	return 0;
}

void stream_publish(struct streams *st, long job_id, const cJSON *ev)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "event");
	if (!cJSON_IsString(t))
		return;
	int step = strcmp(t->valuestring, "step") == 0;
	st->busy++;
	for (struct sub *s = st->subs; s; s = s->next) {
		if (s->dead || s->job_id != job_id)
			continue;
		if (s->replaying && replay_skips(s, t->valuestring, ev))
			continue;
		send_event(s, ev, step);
	}
	if (--st->busy == 0)
		sweep(st);
}
