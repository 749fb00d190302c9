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

#include "log.h"
#include "notify.h"
#include "stream.h"

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
	uint64_t soft_since; /* loop time (ms) the backlog went over the soft limit; 0: under */
	long dropped;       /* step points dropped while over the soft limit */
	int closing, handles_open;
	struct client *next;
};

struct server {
	uv_loop_t loop;
	uv_pipe_t unix_listener;
	uv_tcp_t tcp_listener;
	int tcp_open;
	uv_async_t wake;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t watchdog, status_timer; /* systemd: WATCHDOG=1, STATUS= */
	char status[96];                   /* the last STATUS= sent */
	int unix_bound;                    /* we made the socket file: unlink it at exit */
	struct daemon_ctx *d;
	const struct server_config *cfg;
	const struct server_hooks *hooks;
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
	stream_drop_client(s->d->streams, c);
	uv_close((uv_handle_t *)&c->idle, client_freed);
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

static void written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct client *c = w->c;
	c->queued -= w->len;
	free(w);
	if (status < 0) {
		client_close(c);
		return;
	}
	if (c->queued <= soft_limit(c))
		c->soft_since = 0;
	if (!c->closing && c->queued < STREAM_REPLAY_LOW)
		stream_service(streams_of(c), c->srv->d->store, c);
}

/* Whether a client's backlog has stayed over the soft limit longer than allowed. */
static int stalled(struct client *c)
{
	if (c->queued <= soft_limit(c)) {
		c->soft_since = 0;
		return 0;
	}
	uint64_t now = uv_now(&c->srv->loop);
	if (!c->soft_since)
		c->soft_since = now;
	double limit_s = c->srv->cfg->output_soft_s;
	return limit_s > 0 && (double)(now - c->soft_since) > limit_s * 1000;
}

/* Queue line and a newline. Over the soft limit a droppable line is dropped (returns 1);
   a client over the hard limit, or over the soft one for too long, is cut off (-1). */
static int client_queue(struct client *c, const char *line, size_t len, int droppable)
{
	if (c->closing)
		return -1;
	if (c->queued + len + 1 > c->srv->cfg->max_output || stalled(c)) {
		log_warn("client cut off: %zu bytes of output unread", c->queued);
		client_close(c);
		return -1;
	}
	if (droppable && c->queued > soft_limit(c)) {
		c->dropped++;
		return 1;
	}
	struct write_req *w = malloc(sizeof *w + len + 1);
	if (!w) {
		client_close(c);
		return -1;
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
		return -1;
	}
	return 0;
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
static void addr_name(const struct sockaddr_storage *a, char *out, size_t cap)
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
		addr_name(&sa, out, cap);
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

static void on_line(void *ctx, char *line, size_t len)
{
	struct client *c = ctx;
	size_t n;
	const struct rpc_method *table = methods_table(&n);
	char *out = NULL;
	unsigned failures = c->conn.auth_failures;
	idle_reset(c);
	int rc = rpc_handle_line(table, n, &c->conn, line, len, &out);
	if (!c->conn.authed)
		log_auth(c, failures, rc == RPC_CLOSE);
	if (c->conn.authed) /* TCP clients get the full line cap once authenticated */
		rpc_framer_set_max_line(c->framer, c->srv->cfg->max_line);
	if (out)
		client_send(c, out, strlen(out));
	free(out);
	if (rc == RPC_CLOSE)
		client_close(c);
	else if (!c->closing) /* replies first, then what a new subscription replays */
		stream_service(streams_of(c), c->srv->d->store, c);
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(suggested);
	buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;
	if (nread < 0) {
		client_close(c);
	} else if (nread > 0 && !c->closing) {
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

/* Only complete requests count as activity, so a client trickling bytes that never
   make a line is reaped; a subscriber waiting for events is not idle, unless it has
   stopped reading them. */
static void on_idle(uv_timer_t *t)
{
	struct client *c = t->data;
	if (!stream_client_count(streams_of(c), c) || stalled(c))
		client_close(c);
}

static void accept_client(struct server *s, uv_stream_t *listener, int tcp)
{
	struct client *c = calloc(1, sizeof *c);
	struct err e;
	if (!c)
		return;
	c->srv = s;
	c->mc.d = s->d;
	c->mc.client = c;
	c->mc.sink = &sink_ops;
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

/* ---- events -------------------------------------------------------------------- */

/* Store every pending scheduler event (the async callback: sends coalesce). */
static void pump(struct server *s)
{
	struct sched_event *ev;
	int n;
	struct err e = { 0 };
	scheduler_drain(s->d->sched, &ev, &n, &e);
	for (int i = 0; i < n; i++) {
		if (methods_apply_event(s->d, ev[i].job_id, ev[i].ev, &e) != 0) {
			/* A job whose history cannot be kept does not train on. */
			log_error("job %ld: storing an event: %s", ev[i].job_id, e.msg);
			scheduler_fail(s->d->sched, ev[i].job_id, e.msg);
		}
		stream_publish(s->d->streams, ev[i].job_id, ev[i].ev);
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

/* ---- signals, systemd ------------------------------------------------------------ */

#define SERVER_STATUS_MS 2000 /* how often the job counts are checked for STATUS= */

static void close_loop_handles(struct server *s)
{
	uv_handle_t *hs[] = { (uv_handle_t *)&s->unix_listener, (uv_handle_t *)&s->wake,
			      (uv_handle_t *)&s->sigterm, (uv_handle_t *)&s->sigint,
			      (uv_handle_t *)&s->sighup, (uv_handle_t *)&s->watchdog,
			      (uv_handle_t *)&s->status_timer };
	for (size_t i = 0; i < sizeof hs / sizeof *hs; i++)
		uv_close(hs[i], NULL);
	if (s->tcp_open)
		uv_close((uv_handle_t *)&s->tcp_listener, NULL);
}

/* SIGTERM / SIGINT: running jobs checkpoint, their end events are stored, the loop ends. */
static void on_signal(uv_signal_t *sig, int signum)
{
	struct server *s = sig->data;
	(void)signum;
	if (s->stopping)
		return;
	s->stopping = 1;
	log_info("stopping: checkpointing running jobs");
	notify_systemd("STOPPING=1\nSTATUS=checkpointing running jobs");
	scheduler_halt(s->d->sched);
	pump(s);
	while (s->clients)
		client_close(s->clients);
	close_loop_handles(s);
}

/* SIGHUP: byold's main re-reads its configuration and updates cfg in place. */
static void on_hangup(uv_signal_t *sig, int signum)
{
	struct server *s = sig->data;
	(void)signum;
	if (!s->stopping && s->hooks && s->hooks->reload)
		s->hooks->reload(s->hooks->ctx);
}

/* STATUS= (shown by systemctl status) when the job counts change, after extra ("READY=1\n"). */
static void send_status(struct server *s, const char *extra)
{
	char status[sizeof s->status];
	int queued, running;
	scheduler_counts(s->d->sched, &queued, &running);
	snprintf(status, sizeof status, "STATUS=listening; %d running, %d queued", running, queued);
	if (!*extra && strcmp(status, s->status) == 0)
		return;
	memcpy(s->status, status, sizeof status);
	char msg[sizeof status + 32];
	snprintf(msg, sizeof msg, "%s%s", extra, status);
	notify_systemd(msg);
}

static void on_status(uv_timer_t *t)
{
	send_status(t->data, "");
}

/* WATCHDOG=1 from the loop itself: it proves the loop still turns. */
static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	notify_systemd("WATCHDOG=1");
}

/* The wake-up, the signals and the systemd timers. */
static void start_loop_handles(struct server *s)
{
	uv_async_init(&s->loop, &s->wake, on_wake);
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	uv_signal_init(&s->loop, &s->sighup);
	uv_timer_init(&s->loop, &s->watchdog);
	uv_timer_init(&s->loop, &s->status_timer);
	s->wake.data = s->sigterm.data = s->sigint.data = s->sighup.data = s;
	s->watchdog.data = s->status_timer.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sighup, on_hangup, SIGHUP);
	uv_timer_start(&s->status_timer, on_status, SERVER_STATUS_MS, SERVER_STATUS_MS);
	uint64_t watchdog_us = notify_watchdog_usec();
	if (watchdog_us) /* WATCHDOG=1 at once, then every half interval */
		uv_timer_start(&s->watchdog, on_watchdog, 0,
			       watchdog_us >= 2000 ? watchdog_us / 2000 : 1);
}

/* ---- listeners ------------------------------------------------------------------- */

/* The Unix listener: the socket systemd passed (fd >= 0), else one bound at socket_path. */
static int listen_unix(struct server *s, int fd, struct err *e)
{
	const char *path = s->cfg->socket_path;
	uv_pipe_init(&s->loop, &s->unix_listener, 0);
	s->unix_listener.data = s;
	int rc;
	if (fd >= 0) {
		rc = uv_pipe_open(&s->unix_listener, fd);
	} else {
		unlink(path); /* a stale socket of a killed byold; the lock file guards a live one */
		rc = uv_pipe_bind(&s->unix_listener, path);
		s->unix_bound = rc == 0;
		if (rc == 0)
			rc = chmod(path, 0660) == 0 ? 0 : UV_EACCES;
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->unix_listener, 128, on_unix_connection);
	if (rc)
		return err_set(e, ERR_IO, "%s: %s", fd >= 0 ? "socket from systemd" : path,
			       uv_strerror(rc));
	return 0;
}

/* "HOST:PORT" (cfg->listen) as an address. */
static int tcp_address(const char *listen, struct sockaddr_storage *addr, struct err *e)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon - listen >= (long)sizeof host)
		return err_set(e, ERR_INVALID, "listen: expected HOST:PORT, got \"%s\"", listen);
	snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
	int port = atoi(colon + 1);
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) == 0)
		return 0;
	return err_set(e, ERR_INVALID, "listen: \"%s\" is not an IP address", host);
}

/* TCP: the socket systemd passed (fd >= 0), else one bound at cfg->listen. */
static int listen_tcp(struct server *s, int fd, struct err *e)
{
	struct sockaddr_storage addr = { 0 };
	int rc = fd < 0 ? tcp_address(s->cfg->listen, &addr, e) : 0;
	if (rc)
		return rc;
	rc = uv_tcp_init(&s->loop, &s->tcp_listener);
	s->tcp_listener.data = s;
	s->tcp_open = rc == 0;
	if (rc == 0)
		rc = fd >= 0 ? uv_tcp_open(&s->tcp_listener, fd)
			     : uv_tcp_bind(&s->tcp_listener, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->tcp_listener, 128, on_tcp_connection);
	if (rc)
		return err_set(e, ERR_IO, "listen %s: %s",
			       fd >= 0 ? "(socket from systemd)" : s->cfg->listen, uv_strerror(rc));
	return 0;
}

/* The addresses really listened on (the port bound when 0 was asked), for hooks->ready. */
static void listener_names(struct server *s, char *unix_path, size_t n, char *tcp, size_t tn)
{
	size_t len = n - 1;
	if (uv_pipe_getsockname(&s->unix_listener, unix_path, &len) == 0 && len > 0)
		unix_path[len] = 0;
	else
		snprintf(unix_path, n, "%s", s->cfg->socket_path);
	struct sockaddr_storage a;
	int alen = sizeof a;
	tcp[0] = 0;
	if (s->tcp_open && uv_tcp_getsockname(&s->tcp_listener, (struct sockaddr *)&a, &alen) == 0)
		addr_name(&a, tcp, tn);
}

static void announce_ready(struct server *s)
{
	char unix_path[4200], tcp[128];
	listener_names(s, unix_path, sizeof unix_path, tcp, sizeof tcp);
	if (s->hooks && s->hooks->ready)
		s->hooks->ready(s->hooks->ctx, unix_path, tcp[0] ? tcp : NULL);
	send_status(s, "READY=1\n");
}

int server_run(struct daemon_ctx *d, const struct server_config *cfg,
	       const struct server_hooks *hooks, struct err *e)
{
	struct server *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ERR_NOMEM, "server: out of memory");
	s->d = d;
	s->cfg = cfg;
	s->hooks = hooks;
	uv_loop_init(&s->loop);
	int unix_fd, tcp_fd;
	notify_listen_fds(&unix_fd, &tcp_fd);
	int rc = listen_unix(s, unix_fd, e);
	if (!rc && (cfg->listen || tcp_fd >= 0))
		rc = listen_tcp(s, tcp_fd, e);
	if (!rc) {
		start_loop_handles(s);
		scheduler_set_wake(d->sched, wake_loop, &s->wake);
		pump(s); /* what happened before the loop ran */
		announce_ready(s);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		scheduler_set_wake(d->sched, NULL, NULL);
	} else {
		uv_close((uv_handle_t *)&s->unix_listener, NULL);
		if (s->tcp_open)
			uv_close((uv_handle_t *)&s->tcp_listener, NULL);
		uv_run(&s->loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&s->loop);
	if (s->unix_bound) /* never a socket systemd made */
		unlink(cfg->socket_path);
	free(s);
	return rc;
}
