/*
 * byold.c — the training daemon's main (byold(8)).
 *
 *   byold [--config FILE] [--state-dir DIR] [--socket PATH] [--listen HOST:PORT]
 *         [--workers N] [--threads N] [--version] [--help]
 *
 * The configuration is the defaults, then --config FILE, then the flags
 * (config.h; `byold --help` lists every key). The state directory (state-dir,
 * else $STATE_DIRECTORY, else ./var) holds byold.db, checkpoints/<job>/, the
 * 0600 token and the lock that keeps one byold per directory. The socket is
 * socket, else $RUNTIME_DIRECTORY/byold.sock, else <state-dir>/byold.sock
 * (or the one systemd passes). At start-up jobs a killed byold left running
 * are requeued from their last good checkpoint; then "byold: listening on
 * unix:PATH" is printed on stderr. SIGTERM and SIGINT checkpoint running jobs
 * and exit; SIGHUP re-reads the config file, keeping the old configuration
 * whole if the new one is bad.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/recover.h"
#include "log.h"
#include "nn/blas.h"
#include "nn/pool.h"
#include "server/config.h"
#include "server/notify.h"
#include "server/server.h"
#include "server/tls.h"
#include "version.h"
#include "web/web.h"

#define EXIT_USAGE 64  /* EX_USAGE: a bad flag */
#define EXIT_CONFIG 78 /* EX_CONFIG: a bad config file */

/* What main shares with the loop's callbacks. */
struct byold {
	struct byold_config cfg;      /* in force */
	struct server_config server;  /* the server's view of cfg */
	char socket[4200];            /* cfg.socket or its default */
	const char *config_path;      /* --config, else the default if it exists, else NULL */
	char default_config[4200];    /* $CONFIGURATION_DIRECTORY/byold.conf.json */
	struct daemon_ctx *d;         /* max_queued follows reloads */
	struct web_server *web;       /* the dashboard, with --http */
	char tls_cert[4200], tls_key[4200]; /* with TLS: the files in use, else "" */
	int argc;                     /* the flags, applied again over a reloaded file */
	char **argv;
};

static void server_limits(struct server_config *s, const struct byold_config *c)
{
	s->max_line = c->max_line_bytes;
	s->max_output = c->max_output_bytes;
	s->output_soft = c->output_soft_bytes;
	s->output_soft_s = c->output_soft_s;
	s->max_clients = c->max_clients;
	s->idle_timeout_s = c->idle_timeout_s;
}

/* SIGHUP: a bad file changes nothing; a good one changes the limits now and names the
   keys that wait for a restart. */
static void on_reload(void *ctx)
{
	struct byold *b = ctx;
	struct byold_config next;
	struct err e = { 0 };
	char restart[256];
	if (!b->config_path) {
		log_info("SIGHUP: no --config file to reload");
		return;
	}
	if (config_load(&next, b->config_path, b->argc, b->argv, &e)) {
		log_error("reload: %s; keeping the old configuration", e.msg);
		return;
	}
	config_apply_runtime(&b->cfg, &next, restart, sizeof restart);
	server_limits(&b->server, &b->cfg);
	b->d->max_queued = b->cfg.max_queued;
	log_info("reloaded %s", b->config_path);
	if (restart[0])
		log_warn("reload: %s changed: kept until byold restarts", restart);
}

static void on_ready(void *ctx, const char *unix_path, const char *tcp_addr)
{
	struct byold *b = ctx;
	log_info("listening on unix:%s", unix_path);
	if (tcp_addr)
		log_info("listening on tcp:%s", tcp_addr);
	if (b->web)
		log_info("dashboard on http:%s (port %d)", b->cfg.http, web_port(b->web));
}

/* With --tls on or --tls-cert: the certificate (made in <state>/tls/ when none is
   given), its fingerprint logged and kept in <state>/tls/fingerprint for clients
   to pin. */
static int setup_tls(struct byold *b, const char *state, struct err *e)
{
	const struct byold_config *c = &b->cfg;
	if (strcmp(c->tls, "on") != 0 && !c->tls_cert[0])
		return 0;
	char dir[4200], fp[TLS_FINGERPRINT_LEN + 1], path[4300];
	snprintf(dir, sizeof dir, "%s/tls", state);
	int rc = 0;
	if (c->tls_cert[0]) {
		snprintf(b->tls_cert, sizeof b->tls_cert, "%s", c->tls_cert);
		snprintf(b->tls_key, sizeof b->tls_key, "%s", c->tls_key);
	} else {
		rc = tls_self_signed(dir, b->tls_cert, sizeof b->tls_cert, b->tls_key,
				     sizeof b->tls_key, e);
	}
	if (!rc)
		rc = tls_fingerprint(b->tls_cert, fp, e);
	if (rc)
		return rc;
	log_info("tls: certificate %s, SHA-256 fingerprint %s", b->tls_cert, fp);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/fingerprint", dir);
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", fp) < 0 || fclose(f) != 0)
		log_warn("%s: %s", path, strerror(errno));
	return 0;
}

/* The dashboard, with --http: its RPC goes to our own Unix socket. */
static int start_web(struct byold *b, const char *token, struct err *e)
{
	if (!b->cfg.http[0])
		return 0;
	const struct web_config w = { .listen = b->cfg.http, .names = b->cfg.http_names,
				      .socket_path = b->socket, .token = token,
				      .max_conns = b->cfg.http_max_connections,
				      .timeout_s = 10, .max_line = b->cfg.max_line_bytes,
				      .tls_cert = b->tls_cert[0] ? b->tls_cert : NULL,
				      .tls_key = b->tls_key };
	return web_start(&b->web, &w, e);
}

/* Without --config: $CONFIGURATION_DIRECTORY/byold.conf.json if it exists (systemd's
   ConfigurationDirectory=byold makes that /etc/byold), else none. */
static const char *default_config(struct byold *b)
{
	const char *dir = getenv("CONFIGURATION_DIRECTORY");
	if (!dir)
		return NULL;
	snprintf(b->default_config, sizeof b->default_config, "%s/byold.conf.json", dir);
	return access(b->default_config, F_OK) == 0 ? b->default_config : NULL;
}

/* Flags (to find --config), the file, then the flags again over it. Returns -1 to run,
   else the exit status. */
static int configure(struct byold *b, int argc, char **argv)
{
	struct err e = { 0 };
	b->argc = argc;
	b->argv = argv;
	int rc = config_apply_flags(&b->cfg, argc, argv, &b->config_path, &e);
	if (rc == CONFIG_HELP)
		config_usage(stdout);
	else if (rc == CONFIG_VERSION)
		printf("byold %s\n", BYOL_VERSION);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		log_error("%s (see byold --help)", e.msg);
		return EXIT_USAGE;
	}
	if (!b->config_path)
		b->config_path = default_config(b);
	if (config_load(&b->cfg, b->config_path, argc, argv, &e)) {
		log_error("%s", e.msg);
		return EXIT_CONFIG;
	}
	return -1;
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
		return err_set(e, ERR_BAD_STATE, "%s: another byold uses this state directory", path);
	return 0;
}

int main(int argc, char **argv)
{
	blas_select_core(argv);
	log_init("byold");
	static struct byold b;
	static struct daemon_ctx d;
	struct err e = { 0 };
	int status = configure(&b, argc, argv);
	if (status >= 0)
		return status;
	const char *env_state = getenv("STATE_DIRECTORY"), *env_run = getenv("RUNTIME_DIRECTORY");
	snprintf(d.jobs.state_dir, sizeof d.jobs.state_dir, "%s",
		 b.cfg.state_dir[0] ? b.cfg.state_dir : env_state ? env_state : "var");
	if (b.cfg.socket[0])
		snprintf(b.socket, sizeof b.socket, "%s", b.cfg.socket);
	else
		snprintf(b.socket, sizeof b.socket, "%s/byold.sock", env_run ? env_run : d.jobs.state_dir);
	char db[4200];
	snprintf(db, sizeof db, "%s/byold.db", d.jobs.state_dir);
	int cores = b.cfg.threads ? b.cfg.threads : pool_cores(), requeued = 0;
	d.started = time(NULL);
	d.workers = b.cfg.workers;
	d.max_queued = b.cfg.max_queued;
	b.d = &d;
	int unix_fd, tcp_fd;
	notify_listen_fds(&unix_fd, &tcp_fd);
	int rc = prepare_state(d.jobs.state_dir, &e);
	if (!rc && unix_fd < 0) /* before any job starts: a live byold's socket is refused */
		rc = server_claim_socket(b.socket, &e);
	if (!rc)
		rc = load_token(d.jobs.state_dir, d.token, &e);
	if (!rc)
		rc = store_open(&d.jobs.store, db, &e);
	if (!rc && !(d.streams = streams_new()))
		rc = err_set(&e, ERR_NOMEM, "out of memory");
	if (!rc)
		rc = scheduler_start(&d.jobs.sched, b.cfg.workers, cores, NULL, NULL, &e);
	if (!rc)
		rc = jobs_recover(&d.jobs, &requeued, &e);
	if (!rc && requeued)
		log_info("%d job(s) requeued", requeued);
	b.server = (struct server_config){ .socket_path = b.socket, .unix_fd = unix_fd,
					   .tcp_fd = tcp_fd,
					   .listen = b.cfg.listen[0] ? b.cfg.listen : NULL };
	server_limits(&b.server, &b.cfg);
	const struct server_hooks hooks = { on_ready, on_reload, &b };
	if (!rc)
		rc = setup_tls(&b, d.jobs.state_dir, &e);
	if (b.tls_cert[0])
		b.server.tls_cert = b.tls_cert, b.server.tls_key = b.tls_key;
	if (!rc)
		rc = start_web(&b, d.token, &e);
	if (!rc)
		rc = server_run(&d, &b.server, &hooks, &e);
	if (rc)
		log_error("%s", e.msg);
	web_stop(b.web);
	scheduler_stop(d.jobs.sched);
	streams_free(d.streams);
	store_close(d.jobs.store);
	return rc ? 1 : 0;
}
