/*
 * server/conn.c — one client connection of byold (see conn.h).
 */
#include "server/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server/stream.h"
#include "server/tls.h"

struct client {
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
		uv_handle_t handle;
		uv_stream_t stream;
	} h;
	uv_timer_t idle;
	uv_idle_t later;    /* continues a call whose share of the loop ran out (an idle
			       handle: a 0 ms timer would run again in the same pass) */
	uv_work_t work;     /* a request's prepare step, off the loop */
	struct rpc_framer *framer;
	struct rpc_call *call;        /* the line being answered */
	struct line *lines, **lines_end; /* lines read, not yet answered */
	unsigned failures_before;     /* auth failures when the call began */
	int working;                  /* the prepare step runs: free the client after it */
	int reading;                  /* uv_read_start is in effect */
	int eof;                      /* the client shut its side: close once all is answered
					 and written */
	struct tls_session *tls;      /* TCP with --tls: the bytes on the wire are TLS */
	int tls_started;              /* a first TLS record came */
	struct rpc_conn conn;
	struct methods_conn mc;
	struct conn_server *srv;
	size_t queued;      /* bytes written but not yet flushed */
	uint64_t soft_since; /* loop time (ms) the backlog went over the soft limit; 0: under */
	long dropped;       /* step points dropped while over the soft limit */
	int closing, handles_open;
	struct client *next;
};

/* A request line that arrived while an earlier one was still being answered. */
struct line {
	struct line *next;
	size_t len;
	char text[];
};

/* How long one client's lines may hold the loop before other clients run. */
#define SLICE_NS (5u * 1000 * 1000)

struct write_req {
	uv_write_t req;
	struct client *c;
	size_t len;
	char data[];
};

/* ---- connections ------------------------------------------------------------- */

static void lines_free(struct client *c)
{
	while (c->lines) {
		struct line *l = c->lines;
		c->lines = l->next;
		free(l);
	}
	c->lines_end = &c->lines;
}

/* The memory goes once every handle is closed and no prepare step runs. */
static void client_maybe_free(struct client *c)
{
	if (c->handles_open > 0 || c->working)
		return;
	rpc_call_free(c->call);
	lines_free(c);
	rpc_framer_free(c->framer);
	tls_session_free(c->tls);
	c->srv->n_alive--;
	free(c);
}

static void client_freed(uv_handle_t *h)
{
	struct client *c = h->data;
	c->handles_open--;
	client_maybe_free(c);
}

void conn_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct conn_server *s = c->srv;
	for (struct client **p = &s->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	s->n_clients--;
	stream_drop_client(s->d->streams, c);
	lines_free(c); /* nothing read after the closing line runs */
	uv_close((uv_handle_t *)&c->idle, client_freed);
	uv_close((uv_handle_t *)&c->later, client_freed);
	uv_close(&c->h.handle, client_freed);
}

static struct streams *streams_of(struct client *c)
{
	return c->srv->d->streams;
}

static size_t soft_limit(const struct client *c)
{
	const struct server_config *cfg = c->srv->cfg;
	return cfg->output_soft && cfg->output_soft < cfg->max_output ? cfg->output_soft
								       : cfg->max_output;
}

/* After the client's EOF: close once every line is answered and every reply written
   (a half-closing client, `nc -N`, still gets its replies). */
static void close_if_done(struct client *c)
{
	if (c->eof && !c->closing && !c->call && !c->lines && !c->working && c->queued == 0)
		conn_close(c);
}

static void written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct client *c = w->c;
	c->queued -= w->len;
	free(w);
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->queued <= soft_limit(c))
		c->soft_since = 0;
	if (!c->closing && c->queued < STREAM_REPLAY_LOW)
		stream_service(streams_of(c), c->srv->d->jobs.store, c);
	close_if_done(c);
}

/* Whether a client's backlog has stayed over the soft limit longer than allowed. */
static int stalled(struct client *c)
{
	if (c->queued <= soft_limit(c)) {
		c->soft_since = 0;
		return 0;
	}
	uint64_t now = uv_now(c->srv->loop);
	if (!c->soft_since)
		c->soft_since = now;
	double limit_s = c->srv->cfg->output_soft_s;
	return limit_s > 0 && (double)(now - c->soft_since) > limit_s * 1000;
}

/* Write len bytes and then tail (NULL: none) to the socket; -1 closes the client. */
static int send_bytes(struct client *c, const char *bytes, size_t len, const char *tail)
{
	size_t n = len + (tail ? strlen(tail) : 0);
	struct write_req *w = malloc(sizeof *w + n);
	if (!w) {
		conn_close(c);
		return -1;
	}
	memcpy(w->data, bytes, len);
	memcpy(w->data + len, tail ? tail : "", n - len);
	w->len = n;
	w->c = c;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
	c->queued += w->len;
	if (uv_write(&w->req, &c->h.stream, &buf, 1, written) < 0) {
		c->queued -= w->len;
		free(w);
		conn_close(c);
		return -1;
	}
	return 0;
}

/* What the TLS session has to send (handshake, records, alerts). */
static int send_tls_output(struct client *c)
{
	char *out;
	size_t n = tls_session_output(c->tls, &out);
	int rc = n ? send_bytes(c, out, n, NULL) : 0;
	free(out);
	return rc;
}

/* Queue line and a newline. Over the soft limit a droppable line is dropped (returns 1);
   a client over the hard limit, or over the soft one for too long, is cut off (-1). */
static int client_queue(struct client *c, const char *line, size_t len, int droppable)
{
	if (c->closing)
		return -1;
	if (c->queued + len + 1 > c->srv->cfg->max_output || stalled(c)) {
		log_warn("client cut off: %zu bytes of output unread", c->queued);
		conn_close(c);
		return -1;
	}
	if (droppable && c->queued > soft_limit(c)) {
		c->dropped++;
		return 1;
	}
	if (c->tls) { /* encrypted into the session's output, sent as one write */
		if (tls_session_write(c->tls, line, len) || tls_session_write(c->tls, "\n", 1)) {
			conn_close(c);
			return -1;
		}
		return send_tls_output(c);
	}
	return send_bytes(c, line, len, "\n");
}

static void client_send(struct client *c, const char *line, size_t len)
{
	client_queue(c, line, len, 0);
}

/* The stream module's view of a client. */
static size_t sink_backlog(void *client)
{
	return ((struct client *)client)->queued;
}

static int sink_send(void *client, const char *line, size_t len, int droppable)
{
	return client_queue(client, line, len, droppable);
}

static const struct stream_sink_ops sink_ops = { sink_backlog, sink_send };

static void idle_reset(struct client *c)
{
	double t = c->srv->cfg->idle_timeout_s;
	if (t > 0)
		uv_timer_again(&c->idle);
}

/* "host:port" of an IPv4 or IPv6 address. */
void conn_addr_name(const struct sockaddr_storage *a, char *out, size_t cap)
{
	char host[64] = "?";
	uv_ip_name((const struct sockaddr *)a, host, sizeof host);
	snprintf(out, cap, "%s:%d", host,
		 ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
						: ((const struct sockaddr_in *)a)->sin_port));
}

/* "host:port" of a TCP client ("?" if unknown). */
static void peer_name(struct client *c, char *out, size_t cap)
{
	struct sockaddr_storage sa;
	int len = sizeof sa;
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&sa, &len) == 0)
		conn_addr_name(&sa, out, cap);
	else
		snprintf(out, cap, "?");
}

/* Failed auth calls are logged with the peer, and so is the lock-out. */
static void log_auth(struct client *c, unsigned failures_before, int closing)
{
	if (c->conn.auth_failures <= failures_before && !closing)
		return;
	char peer[96];
	peer_name(c, peer, sizeof peer);
	if (closing)
		log_warn("tcp client %s: disconnected after %u failed auth calls", peer,
			 c->conn.auth_failures);
	else
		log_warn("tcp client %s: auth failed (%u)", peer, c->conn.auth_failures);
}

static void client_run(struct client *c);
static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* The answered line: its reply, the auth log, a close, then what a new
   subscription replays. */
static void call_done(struct client *c)
{
	char *out = NULL;
	int rc = rpc_call_finish(c->call, &out);
	c->call = NULL;
	if (!c->conn.authed)
		log_auth(c, c->failures_before, rc == RPC_CLOSE);
	if (out)
		client_send(c, out, strlen(out));
	free(out);
	if (rc != 0)
		conn_close(c);
	else if (!c->closing)
		stream_service(streams_of(c), c->srv->d->jobs.store, c);
}

static int call_begin(struct client *c, const char *line, size_t len)
{
	size_t n;
	const struct rpc_method *table = methods_table(&n);
	idle_reset(c);
	c->failures_before = c->conn.auth_failures;
	if (rpc_call_begin(&c->call, table, n, &c->conn, line, len) < 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* Begins the oldest waiting line; 0 if there is none. */
static int next_call(struct client *c)
{
	struct line *l = c->lines;
	if (!l)
		return 0;
	if (!(c->lines = l->next))
		c->lines_end = &c->lines;
	int rc = call_begin(c, l->text, l->len);
	free(l);
	return rc == 0;
}

/* Replies count against the output limit as they are built, so a batch of large
   replies is cut off at the limit, not built whole first. */
static int over_limit(struct client *c)
{
	if (c->queued + rpc_call_bytes(c->call) <= c->srv->cfg->max_output)
		return 0;
	log_warn("client cut off: its replies pass the output limit (%zu bytes)",
		 c->srv->cfg->max_output);
	conn_close(c);
	return 1;
}

static void prepare_work(uv_work_t *w)
{
	struct client *c = w->data;
	rpc_call_prepare(c->call);
}

static void prepare_done(uv_work_t *w, int status)
{
	struct client *c = w->data;
	(void)status;
	c->working = 0;
	if (c->closing)
		client_maybe_free(c);
	else
		client_run(c);
}

static void on_later(uv_idle_t *h)
{
	uv_idle_stop(h);
	client_run(h->data);
}

/* Reads resume once every line read is answered. */
static void resume_reading(struct client *c)
{
	if (c->eof) {
		close_if_done(c);
		return;
	}
	if (!c->closing && !c->call && !c->lines && !c->reading) {
		c->reading = uv_read_start(&c->h.stream, alloc_buf, on_read) == 0;
		if (!c->reading)
			conn_close(c);
	}
}

/* Answers the client's lines in order for at most SLICE_NS, then lets other
   clients run; a prepare step goes to libuv's thread pool and the client waits. */
static void client_run(struct client *c)
{
	uint64_t t0 = uv_hrtime();
	while (!c->closing && (c->call || next_call(c))) {
		int step = rpc_call_step(c->call);
		if (c->conn.authed) /* TCP clients get the full line cap once authenticated, */
			rpc_framer_set_max_line(c->framer, c->srv->cfg->max_line); /* mid-batch too */
		if (over_limit(c))
			return;
		if (step == RPC_STEP_PREPARE) {
			c->work.data = c;
			c->working = uv_queue_work(c->srv->loop, &c->work, prepare_work,
						   prepare_done) == 0;
			if (!c->working)
				conn_close(c);
			return;
		}
		if (step == RPC_STEP_DONE)
			call_done(c);
		if (uv_hrtime() - t0 > SLICE_NS && !c->closing && (c->call || c->lines)) {
			uv_idle_start(&c->later, on_later);
			return;
		}
	}
	resume_reading(c);
}

/* A line from the framer: answered now, or queued behind the one being answered (reads
   pause until the queue is empty). Nothing after a closing line runs. */
static void on_line(void *ctx, char *line, size_t len)
{
	struct client *c = ctx;
	if (c->closing)
		return;
	if (c->call || c->lines) {
		struct line *l = malloc(sizeof *l + len + 1);
		if (!l) {
			conn_close(c);
			return;
		}
		l->next = NULL;
		l->len = len;
		memcpy(l->text, line, len + 1);
		*c->lines_end = l;
		c->lines_end = &l->next;
		if (c->reading) {
			uv_read_stop(&c->h.stream);
			c->reading = 0;
		}
		return;
	}
	if (call_begin(c, line, len) == 0)
		client_run(c);
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = buf->base ? suggested : 0;
}

/* Request bytes, decrypted if need be; a line over the cap ends the client. */
static void on_plaintext(void *ctx, const char *bytes, size_t len)
{
	struct client *c = ctx;
	if (c->closing)
		return;
	if (rpc_framer_feed(c->framer, bytes, len, on_line, c) == RPC_FRAME_OVERSIZE) {
		char *err = rpc_error_line(RPC_INVALID_REQUEST, "request line too long");
		if (err)
			client_send(c, err, strlen(err));
		free(err);
		conn_close(c);
	}
}

/* The client sends no more: close once every answer is written. */
static void end_of_requests(struct client *c)
{
	c->eof = 1;
	uv_read_stop(&c->h.stream);
	c->reading = 0;
	close_if_done(c);
}

/* JSON where a TLS handshake should start: say so, in plaintext, and close. */
static void refuse_plaintext(struct client *c)
{
	char *err = rpc_error_line(RPC_INVALID_REQUEST,
				   "this port speaks TLS: connect with byolctl --tls (or any TLS client)");
	if (err)
		send_bytes(c, err, strlen(err), "\n");
	free(err);
	end_of_requests(c); /* closed once the line is written */
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;
	if (nread == UV_EOF) {
		end_of_requests(c);
	} else if (nread < 0) {
		conn_close(c);
	} else if (nread > 0 && !c->closing && !c->tls) {
		on_plaintext(c, buf->base, (size_t)nread);
	} else if (nread > 0 && !c->closing && !c->tls_started &&
		   (buf->base[0] == '{' || buf->base[0] == '[')) {
		refuse_plaintext(c);
	} else if (nread > 0 && !c->closing) {
		c->tls_started = 1;
		int rc = tls_session_feed(c->tls, buf->base, (size_t)nread, on_plaintext, c);
		if (!c->closing && send_tls_output(c) == 0 && rc < 0)
			conn_close(c); /* (its alert, if any, was queued first) */
		else if (!c->closing && rc > 0)
			end_of_requests(c);
	}
	free(buf->base);
}

/* Only complete requests count as activity, so a client trickling bytes that never
   make a line is reaped; a subscriber waiting for events is not idle, unless it has
   stopped reading them. */
static void on_idle(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->call || c->working) /* waiting on its own request is not idle */
		return;
	if (!stream_client_count(streams_of(c), c) || stalled(c))
		conn_close(c);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Takes a connection that cannot be served and closes it: a listener whose pending
   connection is never accepted would stop accepting altogether. */
static void reject(uv_stream_t *listener, int tcp)
{
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} *h = malloc(sizeof *h);
	if (!h)
		return;
	int rc = tcp ? uv_tcp_init(listener->loop, &h->tcp) : uv_pipe_init(listener->loop, &h->pipe, 0);
	if (rc < 0) {
		free(h);
		return;
	}
	uv_accept(listener, (uv_stream_t *)h);
	uv_close((uv_handle_t *)h, free_handle);
}

void conn_accept(struct conn_server *s, uv_stream_t *listener, int tcp)
{
	struct client *c = calloc(1, sizeof *c);
	struct err e;
	if (!c) {
		reject(listener, tcp);
		return;
	}
	c->srv = s;
	c->mc.d = s->d;
	c->mc.client = c;
	c->mc.sink = &sink_ops;
	c->conn.user = &c->mc;
	c->conn.authed = !tcp;
	int rc = tcp ? uv_tcp_init(s->loop, &c->h.tcp) : uv_pipe_init(s->loop, &c->h.pipe, 0);
	if (rc < 0) {
		free(c);
		reject(listener, tcp);
		return;
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	uv_timer_init(s->loop, &c->idle);
	uv_idle_init(s->loop, &c->later);
	c->idle.data = c->later.data = c;
	c->handles_open += 2;
	c->lines_end = &c->lines;
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
	s->n_alive++;
	if (tcp && s->tls)
		c->tls = tls_session_new(s->tls);
	if (uv_accept(listener, &c->h.stream) < 0 || (tcp && s->tls && !c->tls) ||
	    rpc_framer_init(&c->framer, tcp ? RPC_PREAUTH_MAX_LINE : s->cfg->max_line, &e) != 0 ||
	    s->n_clients > s->cfg->max_clients) {
		conn_close(c);
		return;
	}
	uint64_t ms = (uint64_t)(s->cfg->idle_timeout_s * 1000);
	if (ms > 0)
		uv_timer_start(&c->idle, on_idle, ms, ms);
	resume_reading(c);
}

void conn_close_all(struct conn_server *s)
{
	while (s->clients)
		conn_close(s->clients);
}
