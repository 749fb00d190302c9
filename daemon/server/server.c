/*
 * server.c — byold's libuv loop (see server.h).
 */
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "hostport.h"
#include "jobs/events.h"
#include "log.h"
#include "server/conn.h"
#include "server/notify.h"
#include "server/stream.h"
#include "server/tls.h"

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
	struct conn_server conns;           /* the connections */
	int stopping;
};

static void on_unix_connection(uv_stream_t *listener, int status)
{
	if (status >= 0)
		conn_accept(&((struct server *)listener->data)->conns, listener, 0);
}

static void on_tcp_connection(uv_stream_t *listener, int status)
{
	if (status >= 0)
		conn_accept(&((struct server *)listener->data)->conns, listener, 1);
}

/* ---- events -------------------------------------------------------------------- */

/* Store every pending scheduler event (the async callback: sends coalesce). */
static void pump(struct server *s)
{
	struct sched_event *ev;
	int n;
	jobs_events_drain(&s->d->jobs, &ev, &n);
	for (int i = 0; i < n; i++)
		if (ev[i].ev)
			stream_publish(s->d->streams, ev[i].job_id, ev[i].ev);
	jobs_events_free(ev, n);
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
	scheduler_halt(s->d->jobs.sched);
	pump(s);
	conn_close_all(&s->conns);
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
	scheduler_counts(s->d->jobs.sched, &queued, &running);
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

int server_claim_socket(const char *path, struct err *e)
{
	struct stat st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(e, ERR_BAD_STATE, "%s exists and is not a socket", path);
	if (strlen(path) >= sizeof sa.sun_path)
		return err_set(e, ERR_RANGE, "%s: path too long for a Unix socket", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), live;
	if (fd < 0)
		return err_set(e, ERR_IO, "socket: %s", strerror(errno));
	live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
	       (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	if (live)
		return err_set(e, ERR_BAD_STATE, "%s is the socket of a running byold: give this one "
			       "another --socket", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

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
		if (server_claim_socket(path, e) != 0)
			return e->code;
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
	int port;
	if (hostport_parse(listen, host, sizeof host, &port, e) != 0)
		return err_set(e, ERR_INVALID, "listen: %s", e->msg);
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
		conn_addr_name(&a, tcp, tn);
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
	/* libuv writes with write(2): a client gone mid-reply must give EPIPE, not a
	   SIGPIPE that ends byold. */
	signal(SIGPIPE, SIG_IGN);
	s->d = d;
	s->cfg = cfg;
	s->hooks = hooks;
	uv_loop_init(&s->loop);
	s->conns = (struct conn_server){ .loop = &s->loop, .d = d, .cfg = cfg };
	int tcp = cfg->listen || cfg->tcp_fd >= 0;
	int rc = tcp && cfg->tls_cert ? tls_server_new(&s->conns.tls, cfg->tls_cert, cfg->tls_key, e)
				      : 0;
	if (rc) {
		uv_loop_close(&s->loop);
		free(s);
		return rc;
	}
	rc = listen_unix(s, cfg->unix_fd, e);
	if (!rc && tcp)
		rc = listen_tcp(s, cfg->tcp_fd, e);
	if (!rc) {
		start_loop_handles(s);
		scheduler_set_wake(d->jobs.sched, wake_loop, &s->wake);
		pump(s); /* what happened before the loop ran */
		announce_ready(s);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		scheduler_set_wake(d->jobs.sched, NULL, NULL);
	} else {
		uv_close((uv_handle_t *)&s->unix_listener, NULL);
		if (s->tcp_open)
			uv_close((uv_handle_t *)&s->tcp_listener, NULL);
		uv_run(&s->loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&s->loop);
	if (s->unix_bound) /* never a socket systemd made */
		unlink(cfg->socket_path);
	tls_server_free(s->conns.tls);
	free(s);
	return rc;
}
