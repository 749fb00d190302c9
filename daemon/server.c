/*
 * server.c — byold's libuv loop (see server.h).
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "notify.h"

struct server;

struct client {
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
		uv_handle_t handle;
		uv_stream_t stream;
	} h;
	uv_timer_t idle;
	struct rpc_framer *framer;
	struct rpc_conn conn;
	struct methods_conn mc;
	struct server *srv;
	size_t queued;      /* bytes written but not yet flushed */
	int closing, handles_open;
	struct client *next;
};

struct server {
	uv_loop_t loop;
	uv_pipe_t unix_listener;
	uv_tcp_t tcp_listener;
	int tcp_open;
	uv_async_t wake;
	uv_signal_t sigterm, sigint;
	struct daemon_ctx *d;
	const struct server_config *cfg;
	struct client *clients;
	int n_clients;
	int stopping;
};

struct write_req {
	uv_write_t req;
	struct client *c;
	size_t len;
	char data[];
};

/* ---- connections ------------------------------------------------------------- */

static void client_freed(uv_handle_t *h)
{
	struct client *c = h->data;
	if (--c->handles_open > 0)
		return;
	rpc_framer_free(c->framer);
	free(c);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct server *s = c->srv;
	for (struct client **p = &s->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	s->n_clients--;
	uv_close((uv_handle_t *)&c->idle, client_freed);
	uv_close(&c->h.handle, client_freed);
}

static void written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	w->c->queued -= w->len;
	if (status < 0)
		client_close(w->c);
	free(w);
}

/* Queue line and a newline; a client whose unsent output passes the limit is cut off. */
static void client_send(struct client *c, const char *line, size_t len)
{
	if (c->closing)
		return;
	if (c->queued + len + 1 > c->srv->cfg->max_output) {
		client_close(c);
		return;
	}
	struct write_req *w = malloc(sizeof *w + len + 1);
	if (!w) {
		client_close(c);
		return;
	}
	memcpy(w->data, line, len);
	w->data[len] = '\n';
	w->len = len + 1;
	w->c = c;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
	c->queued += w->len;
	if (uv_write(&w->req, &c->h.stream, &buf, 1, written) < 0) {
		c->queued -= w->len;
		free(w);
		client_close(c);
	}
}

static void on_line(void *ctx, char *line, size_t len)
{
	struct client *c = ctx;
	size_t n;
	const struct rpc_method *table = methods_table(&n);
	char *out = NULL;
	int rc = rpc_handle_line(table, n, &c->conn, line, len, &out);
	if (c->conn.authed) /* TCP clients get the full line cap once authenticated */
		rpc_framer_set_max_line(c->framer, c->srv->cfg->max_line);
	if (out)
		client_send(c, out, strlen(out));
	free(out);
	if (rc == RPC_CLOSE)
		client_close(c);
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = buf->base ? suggested : 0;
}

static void idle_reset(struct client *c)
{
	double t = c->srv->cfg->idle_timeout_s;
	if (t > 0)
		uv_timer_again(&c->idle);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;
	if (nread < 0) {
		client_close(c);
	} else if (nread > 0 && !c->closing) {
		idle_reset(c);
		if (rpc_framer_feed(c->framer, buf->base, (size_t)nread, on_line, c) ==
		    RPC_FRAME_OVERSIZE) {
			char *err = rpc_error_line(RPC_INVALID_REQUEST, "request line too long");
			if (err)
				client_send(c, err, strlen(err));
			free(err);
			client_close(c);
		}
	}
	free(buf->base);
}

static void on_idle(uv_timer_t *t)
{
	client_close(t->data);
}

static void accept_client(struct server *s, uv_stream_t *listener, int tcp)
{
	struct client *c = calloc(1, sizeof *c);
	struct err e;
	if (!c)
		return;
	c->srv = s;
	c->mc.d = s->d;
	c->conn.user = &c->mc;
	c->conn.authed = !tcp;
	int rc = tcp ? uv_tcp_init(&s->loop, &c->h.tcp) : uv_pipe_init(&s->loop, &c->h.pipe, 0);
	if (rc < 0) {
		free(c);
		return;
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	uv_timer_init(&s->loop, &c->idle);
	c->idle.data = c;
	c->handles_open++;
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
	if (uv_accept(listener, &c->h.stream) < 0 ||
	    rpc_framer_init(&c->framer, tcp ? RPC_PREAUTH_MAX_LINE : s->cfg->max_line, &e) != 0 ||
	    s->n_clients > s->cfg->max_clients) {
		client_close(c);
		return;
	}
	uint64_t ms = (uint64_t)(s->cfg->idle_timeout_s * 1000);
	if (ms > 0)
		uv_timer_start(&c->idle, on_idle, ms, ms);
	uv_read_start(&c->h.stream, alloc_buf, on_read);
}

static void on_unix_connection(uv_stream_t *listener, int status)
{
	if (status >= 0)
		accept_client(listener->data, listener, 0);
}

static void on_tcp_connection(uv_stream_t *listener, int status)
{
	if (status >= 0)
		accept_client(listener->data, listener, 1);
}

/* ---- events, signals, listeners ------------------------------------------------ */

/* Store every pending scheduler event (the async callback: sends coalesce). */
static void pump(struct server *s)
{
	struct sched_event *ev;
	int n;
	struct err e = { 0 };
	scheduler_drain(s->d->sched, &ev, &n, &e);
	for (int i = 0; i < n; i++) {
		if (methods_apply_event(s->d, ev[i].job_id, ev[i].ev, &e) != 0)
			fprintf(stderr, "byold: job %ld: storing an event: %s\n", ev[i].job_id, e.msg);
		cJSON_Delete(ev[i].ev);
	}
	free(ev);
}

static void wake_loop(void *async)
{
	uv_async_send(async);
}

static void on_wake(uv_async_t *a)
{
	pump(a->data);
}

/* SIGTERM / SIGINT: running jobs checkpoint, their end events are stored, the loop ends. */
static void on_signal(uv_signal_t *sig, int signum)
{
	struct server *s = sig->data;
	(void)signum;
	if (s->stopping)
		return;
	s->stopping = 1;
	fprintf(stderr, "byold: stopping: checkpointing running jobs\n");
	notify_systemd("STOPPING=1\nSTATUS=checkpointing running jobs");
	scheduler_halt(s->d->sched);
	pump(s);
	while (s->clients)
		client_close(s->clients);
	uv_close((uv_handle_t *)&s->unix_listener, NULL);
	if (s->tcp_open)
		uv_close((uv_handle_t *)&s->tcp_listener, NULL);
	uv_close((uv_handle_t *)&s->wake, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
}

static int listen_unix(struct server *s, struct err *e)
{
	const char *path = s->cfg->socket_path;
	unlink(path); /* a stale socket of a killed byold; the lock file guards a live one */
	uv_pipe_init(&s->loop, &s->unix_listener, 0);
	s->unix_listener.data = s;
	int rc = uv_pipe_bind(&s->unix_listener, path);
	if (rc == 0)
		rc = chmod(path, 0660) == 0 ? 0 : UV_EACCES;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->unix_listener, 128, on_unix_connection);
	return rc ? err_set(e, ERR_IO, "%s: %s", path, uv_strerror(rc)) : 0;
}

/* TCP on HOST:PORT; *port receives the port bound (useful when 0 was asked). */
static int listen_tcp(struct server *s, int *port, struct err *e)
{
	char host[256];
	const char *colon = strrchr(s->cfg->listen, ':');
	if (!colon || colon - s->cfg->listen >= (long)sizeof host)
		return err_set(e, ERR_INVALID, "listen: expected HOST:PORT, got \"%s\"",
			       s->cfg->listen);
	snprintf(host, sizeof host, "%.*s", (int)(colon - s->cfg->listen), s->cfg->listen);
	struct sockaddr_storage addr;
	int rc = uv_ip4_addr(host, atoi(colon + 1), (struct sockaddr_in *)&addr);
	if (rc)
		rc = uv_ip6_addr(host, atoi(colon + 1), (struct sockaddr_in6 *)&addr);
	if (rc == 0)
		rc = uv_tcp_init(&s->loop, &s->tcp_listener);
	s->tcp_listener.data = s;
	if (rc == 0) {
		s->tcp_open = 1;
		rc = uv_tcp_bind(&s->tcp_listener, (struct sockaddr *)&addr, 0);
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->tcp_listener, 128, on_tcp_connection);
	struct sockaddr_storage bound;
	int len = sizeof bound;
	if (rc == 0)
		rc = uv_tcp_getsockname(&s->tcp_listener, (struct sockaddr *)&bound, &len);
	if (rc)
		return err_set(e, ERR_IO, "listen %s: %s", s->cfg->listen, uv_strerror(rc));
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						  : ((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

int server_run(struct daemon_ctx *d, const struct server_config *cfg,
	       void (*ready)(void *ctx, int tcp_port), void *ctx, struct err *e)
{
	struct server *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ERR_NOMEM, "server: out of memory");
	s->d = d;
	s->cfg = cfg;
	uv_loop_init(&s->loop);
	int port = 0, rc = listen_unix(s, e);
	if (!rc && cfg->listen)
		rc = listen_tcp(s, &port, e);
	if (!rc) {
		uv_async_init(&s->loop, &s->wake, on_wake);
		s->wake.data = s;
		uv_signal_init(&s->loop, &s->sigterm);
		uv_signal_init(&s->loop, &s->sigint);
		s->sigterm.data = s->sigint.data = s;
		uv_signal_start(&s->sigterm, on_signal, SIGTERM);
		uv_signal_start(&s->sigint, on_signal, SIGINT);
		scheduler_set_wake(d->sched, wake_loop, &s->wake);
		pump(s); /* what happened before the loop ran */
		if (ready)
			ready(ctx, port);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		scheduler_set_wake(d->sched, NULL, NULL);
	} else {
		uv_close((uv_handle_t *)&s->unix_listener, NULL);
		if (s->tcp_open)
			uv_close((uv_handle_t *)&s->tcp_listener, NULL);
		uv_run(&s->loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&s->loop);
	unlink(cfg->socket_path);
	free(s);
	return rc;
}
