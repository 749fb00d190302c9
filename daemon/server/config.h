/*
 * config.h — byold's configuration: built-in defaults, then the --config file
 * (a JSON object keyed by the long flag names and the limits), then the
 * command-line flags, then checks across keys.
 *
 * One table of keys (name, type, bounds, default, whether SIGHUP may change
 * it) drives the file, the flags, the validation, --help and reload, so they
 * cannot drift apart. Unknown keys, wrong types and out-of-range values are
 * errors naming the key.
 *
 *   struct byold_config c;
 *   const char *path;
 *   int rc = config_apply_flags(&c, argc, argv, &path, &e);  // finds --config
 *   if (rc == 0) rc = config_load(&c, path, argc, argv, &e); // defaults, file, flags
 */
#ifndef BYOL_CONFIG_H
#define BYOL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

struct byold_config {
	char state_dir[4096];     /* "state-dir"; "" = $STATE_DIRECTORY, else ./var */
	char socket[4096];        /* "socket"; "" = $RUNTIME_DIRECTORY/byold.sock, else <state-dir>/byold.sock */
	char listen[256];         /* "listen": "HOST:PORT"; "" = no TCP */
	char http[256];           /* "http": the dashboard's "HOST:PORT"; "" = none */
	char http_names[1024];    /* "http-names": more Host names it answers, comma-separated */
	int http_max_connections;
	char tls[8];              /* "tls": "on" (TCP and HTTP over TLS) or "off" */
	char tls_cert[4096];      /* "tls-cert", "tls-key": PEM files; "" = self-signed */
	char tls_key[4096];
	int workers;              /* jobs trained at once */
	int threads;              /* compute threads for all jobs; 0 = all cores */
	int max_queued;           /* jobs waiting (queued or paused) at once */
	int max_clients;
	size_t max_line_bytes;    /* bytes per request line */
	double idle_timeout_s;    /* 0 = never */
	size_t max_output_bytes;  /* output queued to one client before it is cut off */
	size_t output_soft_bytes; /* above this backlog a subscriber's step points are dropped */
	double output_soft_s;     /* a backlog above output_soft_bytes this long cuts the client off */
};

/* What the command line asks for besides configuration. */
enum config_action { CONFIG_RUN = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2 };

void config_defaults(struct byold_config *c);

/* Set the keys present in the JSON object in file path (at most 1 MiB). */
int config_load_file(struct byold_config *c, const char *path, struct err *e);

/* Set the keys given as flags (--state-dir DIR ...); *config_path (if not NULL)
   receives --config's argument or NULL. Returns a config_action or a negative
   error naming the flag. */
int config_apply_flags(struct byold_config *c, int argc, char **argv, const char **config_path,
		       struct err *e);

/* Checks across keys (output_soft_bytes <= max_output_bytes) and the listen address. */
int config_validate(const struct byold_config *c, struct err *e);

/* Defaults, then the file (if path is not NULL), then the flags, then validation:
   what byold runs with, at start-up and on SIGHUP. */
int config_load(struct byold_config *c, const char *path, int argc, char **argv, struct err *e);

/* Reload: copy into cur the keys of next that may change at run time. restart
   (n bytes) receives the names of the other keys that differ, comma-separated
   ("" if none): they keep their old values until a restart. */
void config_apply_runtime(struct byold_config *cur, const struct byold_config *next, char *restart,
			  size_t n);

/* The flags and the config keys, with their bounds and defaults, for --help. */
void config_usage(FILE *f);

#endif
