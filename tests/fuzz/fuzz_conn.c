/*
 * fuzz_conn.c — libFuzzer target for a whole byold connection: the libuv
 * transport, the framer, the stepped dispatch with its thread-pool prepare
 * step, the real method table over a real store, subscriptions with live
 * events, the output limits and the close. Reliability tests 14 and 15.
 *
 * Once per process: a state dir with a store holding one job (metrics, a
 * log line, a checkpoint file in the index), a scheduler whose queue is full
 * (max_queued 0: a submit is prepared, then refused, so nothing trains), a
 * Unix and a loopback TCP listener, and small limits (4 KiB lines, 64 KiB of
 * output) so the cut-off paths run.
 *
 * Per input: the first byte picks the listener (bit 0: TCP, which must auth
 * first; the token is "0"x64) and the rest is cut into writes at each 0xff
 * byte. Between writes the loop runs and a live event of the job is
 * published, so a subscription made by the input receives it; the client
 * reads whatever arrives. At the end the client closes, and the loop runs
 * until byold has freed the connection. A use-after-free or leak shows
 * under ASan; a hang as libFuzzer's timeout.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "event.h"
#include "server/conn.h"
#include "server/stream.h"

static struct {
	int ready;
	char dir[64];
	uv_loop_t loop;
	uv_pipe_t unix_listener;
	uv_tcp_t tcp_listener;
	struct sockaddr_un unix_addr;
	struct sockaddr_in tcp_addr;
	struct daemon_ctx d;
	struct server_config cfg;
	struct conn_server cs;
	long job;
} g;

static void on_unix(uv_stream_t *l, int status)
{
	if (status >= 0)
		conn_accept(&g.cs, l, 0);
}

static void on_tcp(uv_stream_t *l, int status)
{
	if (status >= 0)
		conn_accept(&g.cs, l, 1);
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_conn: %s\n", what);
	abort();
}

/* A job with two metric points, a log line and an indexed checkpoint file. */
static void seed_store(void)
{
	struct err e = { 0 };
	char path[128];
	long ck;
	snprintf(path, sizeof path, "%s/ckpt.safetensors", g.dir);
	FILE *f = fopen(path, "wb");
	for (int i = 0; f && i < 3000; i++)
		fputc(i & 0xff, f);
	if (!f || fclose(f) != 0)
		die("checkpoint file");
	if (store_job_insert(g.d.jobs.store, "fuzz", "{\"name\":\"fuzz\"}", 100, 0, &g.job, &e) ||
	    store_checkpoint_insert(g.d.jobs.store, g.job, 2, 0, path, 3000,
				    "0000000000000000000000000000000000000000000000000000000000000000",
				    &ck, &e) ||
	    store_log(g.d.jobs.store, g.job, "info", "seeded", &e))
		die(e.msg);
	for (long step = 1; step <= 2; step++) {
		cJSON *ev = event_new("step", step, 0);
		cJSON_AddNumberToObject(ev, "loss", 1.0 / (double)step);
		if (store_metric_insert(g.d.jobs.store, g.job, ev, &e))
			die(e.msg);
		cJSON_Delete(ev);
	}
}

static void setup_once(void)
{
	struct err e = { 0 };
	char db[128];
	signal(SIGPIPE, SIG_IGN); /* as server_run does */
	snprintf(g.dir, sizeof g.dir, "/tmp/byol-fuzz-conn-XXXXXX");
	if (!mkdtemp(g.dir))
		die("mkdtemp");
	snprintf(g.d.jobs.state_dir, sizeof g.d.jobs.state_dir, "%s", g.dir);
	snprintf(db, sizeof db, "%s/byold.db", g.dir);
	memset(g.d.token, '0', RPC_TOKEN_LEN);
	g.d.workers = 1;
	g.d.max_queued = 0;
	if (store_open(&g.d.jobs.store, db, &e) || !(g.d.streams = streams_new()) ||
	    scheduler_start(&g.d.jobs.sched, 1, 1, NULL, NULL, &e))
		die(e.msg);
	seed_store();
	g.cfg = (struct server_config){ .max_line = 4096, .max_output = 65536,
					.output_soft = 4096, .output_soft_s = 60,
					.max_clients = 8 };
	uv_loop_init(&g.loop);
	g.cs = (struct conn_server){ .loop = &g.loop, .d = &g.d, .cfg = &g.cfg };
	g.unix_addr.sun_family = AF_UNIX;
	snprintf(g.unix_addr.sun_path, sizeof g.unix_addr.sun_path, "%s/s", g.dir);
	uv_pipe_init(&g.loop, &g.unix_listener, 0);
	uv_tcp_init(&g.loop, &g.tcp_listener);
	uv_ip4_addr("127.0.0.1", 0, &g.tcp_addr);
	int alen = sizeof g.tcp_addr;
	if (uv_pipe_bind(&g.unix_listener, g.unix_addr.sun_path) ||
	    uv_listen((uv_stream_t *)&g.unix_listener, 16, on_unix) ||
	    uv_tcp_bind(&g.tcp_listener, (struct sockaddr *)&g.tcp_addr, 0) ||
	    uv_listen((uv_stream_t *)&g.tcp_listener, 16, on_tcp) ||
	    uv_tcp_getsockname(&g.tcp_listener, (struct sockaddr *)&g.tcp_addr, &alen))
		die("listen");
	g.ready = 1;
}

static int client_socket(int tcp)
{
	int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const struct sockaddr *a = tcp ? (const struct sockaddr *)&g.tcp_addr
				       : (const struct sockaddr *)&g.unix_addr;
	socklen_t n = tcp ? sizeof g.tcp_addr : sizeof g.unix_addr;
	if (fd < 0 || connect(fd, a, n) != 0)
		die("connect");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Runs the loop a little and reads what byold sent; 0 once byold closed the stream. */
static int turn(int fd)
{
	char buf[65536];
	ssize_t n;
	int open = 1;
	for (int i = 0; i < 4; i++)
		uv_run(&g.loop, UV_RUN_NOWAIT);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		;
	if (n == 0)
		open = 0;
	return open;
}

/* A live event of the seeded job, to whoever subscribed. */
static void publish(long step)
{
	cJSON *ev = event_new("step", step, 0);
	cJSON_AddNumberToObject(ev, "loss", 0.5);
	stream_publish(g.d.streams, g.job, ev);
	cJSON_Delete(ev);
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (!turn(fd)) {
			return; /* byold closed it */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g.ready)
		setup_once();
	int tcp = size > 0 && (data[0] & 1);
	int fd = client_socket(tcp);
	turn(fd);
	long step = 3;
	for (size_t i = size > 0 ? 1 : 0; i < size;) {
		const uint8_t *cut = memchr(data + i, 0xff, size - i);
		size_t n = cut ? (size_t)(cut - (data + i)) : size - i;
		send_all(fd, data + i, n);
		turn(fd);
		publish(step++);
		i += n + (cut != NULL);
	}
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 200 && turn(fd) && g.cs.n_clients > 0; i++)
		usleep(100);
	close(fd);
	/* byold sees the close; the thread pool's prepare steps finish; handles close. */
	for (int i = 0; i < 20000 && g.cs.n_alive > 0; i++) {
		uv_run(&g.loop, UV_RUN_NOWAIT);
		if (g.cs.n_alive > 0)
			usleep(50);
	}
	if (g.cs.n_alive > 0)
		die("a connection outlived its client");
	if (stream_count(g.d.streams) != 0)
		die("a subscription outlived its connection");
	return 0;
}
