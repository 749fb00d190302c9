/*
 * byold.c — the training daemon's main (DESIGN.md "byold — contract").
 *
 *   byold [--state-dir DIR] [--socket PATH] [--listen HOST:PORT] [--workers N]
 *         [--threads N] [--version] [--help]
 *
 * The state directory (--state-dir, else $STATE_DIRECTORY, else ./var) holds
 * byold.db, checkpoints/<job>/, the 0600 token and the lock that keeps one
 * byold per directory. The socket is --socket, else
 * $RUNTIME_DIRECTORY/byold.sock, else <state-dir>/byold.sock. At start-up
 * jobs a killed byold left running are requeued from their last good
 * checkpoint; then "byold: listening on unix:PATH" is printed on stderr.
 * SIGTERM and SIGINT checkpoint running jobs and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "notify.h"
#include "pool.h"
#include "server.h"

#define BYOLD_VERSION "0.1.0"

struct options {
	const char *state_dir, *socket, *listen;
	int workers, threads;
};

static int usage(FILE *f)
{
	fprintf(f, "usage: byold [--state-dir DIR] [--socket PATH] [--listen HOST:PORT]\n"
		   "             [--workers N] [--threads N] [--version] [--help]\n"
		   "  --state-dir DIR    database, checkpoints, token (default $STATE_DIRECTORY or ./var)\n"
		   "  --socket PATH      Unix socket (default $RUNTIME_DIRECTORY/byold.sock or\n"
		   "                     <state-dir>/byold.sock)\n"
		   "  --listen HOST:PORT also accept TCP clients, who must auth with the token\n"
		   "  --workers N        jobs trained at once (default 1)\n"
		   "  --threads N        compute threads for all jobs together (default: all cores)\n");
	return f == stdout ? 0 : 64;
}

static int parse(struct options *o, int argc, char **argv)
{
	*o = (struct options){ .workers = 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0)
			exit(usage(stdout));
		if (strcmp(a, "--version") == 0) {
			printf("byold %s\n", BYOLD_VERSION);
			exit(0);
		}
		if (!v)
			return -1;
		if (strcmp(a, "--state-dir") == 0)
			o->state_dir = v;
		else if (strcmp(a, "--socket") == 0)
			o->socket = v;
		else if (strcmp(a, "--listen") == 0)
			o->listen = v;
		else if (strcmp(a, "--workers") == 0)
			o->workers = atoi(v);
		else if (strcmp(a, "--threads") == 0)
			o->threads = atoi(v);
		else
			return -1;
		i++;
	}
	return o->workers >= 1 && o->workers <= 64 && o->threads >= 0 && o->threads <= 1024 ? 0
											       : -1;
}

/* <state>/token: 64 lowercase hex characters, created once from /dev/urandom. */
static int load_token(const char *dir, char token[RPC_TOKEN_LEN + 1], struct err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/token", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		int ok = fscanf(f, "%64s", token) == 1 && strlen(token) == RPC_TOKEN_LEN;
		fclose(f);
		return ok ? 0 : err_set(e, ERR_INVALID, "%s: not a 64-character token", path);
	}
	unsigned char raw[RPC_TOKEN_LEN / 2];
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
		if (fd >= 0)
			close(fd);
		return err_set(e, ERR_IO, "/dev/urandom: %s", strerror(errno));
	}
	close(fd);
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", token) < 0 || fsync(fd) != 0) {
		if (fd >= 0)
			close(fd);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

/* The state directory, its checkpoints/ and the lock that keeps one byold per directory. */
static int prepare_state(const char *dir, struct err *e)
{
	char path[4200];
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof path, "%s/checkpoints", dir);
	if (mkdir(path, 0750) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof path, "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT, 0600); /* held open until exit */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
		return err_set(e, ERR_STATE, "%s: another byold uses this state directory", path);
	return 0;
}

static void on_ready(void *ctx, int tcp_port)
{
	const struct options *o = ctx;
	fprintf(stderr, "byold: listening on unix:%s\n", o->socket);
	notify_systemd("READY=1\nSTATUS=listening");
	if (o->listen) {
		char host[256];
		const char *colon = strrchr(o->listen, ':');
		snprintf(host, sizeof host, "%.*s", (int)(colon - o->listen), o->listen);
		fprintf(stderr, "byold: listening on tcp:%s:%d\n", host, tcp_port);
	}
}

int main(int argc, char **argv)
{
	blas_select_core(argv);
	struct options o;
	if (parse(&o, argc, argv))
		return usage(stderr);
	static struct daemon_ctx d;
	char sock[4200];
	struct err e = { 0 };
	const char *env_state = getenv("STATE_DIRECTORY"), *env_run = getenv("RUNTIME_DIRECTORY");
	snprintf(d.state_dir, sizeof d.state_dir, "%s",
		 o.state_dir ? o.state_dir : env_state ? env_state : "var");
	if (!o.socket) {
		snprintf(sock, sizeof sock, "%s/byold.sock", env_run ? env_run : d.state_dir);
		o.socket = sock;
	}
	char db[4200];
	snprintf(db, sizeof db, "%s/byold.db", d.state_dir);
	int cores = o.threads ? o.threads : pool_cores(), requeued = 0;
	d.started = time(NULL);
	d.workers = o.workers;
	int rc = prepare_state(d.state_dir, &e);
	if (!rc)
		rc = load_token(d.state_dir, d.token, &e);
	if (!rc)
		rc = store_open(&d.store, db, &e);
	if (!rc)
		rc = scheduler_start(&d.sched, o.workers, cores, NULL, NULL, &e);
	if (!rc)
		rc = methods_recover(&d, &requeued, &e);
	if (!rc && requeued)
		fprintf(stderr, "byold: %d job(s) requeued\n", requeued);
	struct server_config cfg = { .socket_path = o.socket, .listen = o.listen,
				     .max_line = RPC_MAX_LINE_DEFAULT,
				     .max_output = (size_t)64 << 20, .max_clients = 1024,
				     .idle_timeout_s = 600 };
	if (!rc)
		rc = server_run(&d, &cfg, on_ready, &o, &e);
	if (rc)
		fprintf(stderr, "byold: %s\n", e.msg);
	scheduler_stop(d.sched);
	store_close(d.store);
	return rc ? 1 : 0;
}
