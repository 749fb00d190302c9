/* config.c — byold's configuration: the key table, the file, the flags, the checks (see config.h). */
#include "server/config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hostport.h"

#define KIB 1024.0
#define MIB (1024.0 * KIB)
#define GIB (1024.0 * MIB)
#define CONFIG_FILE_MAX ((size_t)1 << 20)

enum key_type { KEY_STRING, KEY_INT, KEY_SIZE, KEY_SECONDS };
enum { KEY_FLAG = 1, KEY_RUNTIME = 2 }; /* also a --flag; applied on SIGHUP */

struct key {
	const char *name;      /* JSON key; the flag is "--" name */
	enum key_type type;
	size_t offset, size;   /* the field in struct byold_config */
	double min, max, def;  /* numbers only */
	unsigned flags;
	const char *arg, *help;
	const char *default_text; /* strings only: what "" means */
};

#define FIELD(f) offsetof(struct byold_config, f), sizeof(((struct byold_config *)0)->f)

static const struct key keys[] = {
	{ "state-dir", KEY_STRING, FIELD(state_dir), 0, 0, 0, KEY_FLAG, "DIR",
	  "database, checkpoints, token", "$STATE_DIRECTORY, else ./var" },
	{ "socket", KEY_STRING, FIELD(socket), 0, 0, 0, KEY_FLAG, "PATH", "the Unix socket",
	  "$RUNTIME_DIRECTORY/byold.sock, else <state-dir>/byold.sock" },
	{ "listen", KEY_STRING, FIELD(listen), 0, 0, 0, KEY_FLAG, "HOST:PORT",
	  "also accept TCP clients, who must auth with the token", "none (no TCP)" },
	{ "http", KEY_STRING, FIELD(http), 0, 0, 0, KEY_FLAG, "HOST:PORT",
	  "serve the web dashboard (log in with the token)", "none (no dashboard)" },
	{ "http-names", KEY_STRING, FIELD(http_names), 0, 0, 0, KEY_FLAG, "NAMES",
	  "more Host names the dashboard answers to (comma-separated)", "none" },
	{ "http_max_connections", KEY_INT, FIELD(http_max_connections), 8, 10000, 256, 0, "N",
	  "dashboard connections at once", NULL },
	{ "tls", KEY_STRING, FIELD(tls), 0, 0, 0, KEY_FLAG, "on|off",
	  "TLS on the TCP and dashboard listeners (on with --tls-cert too)", "off" },
	{ "tls-cert", KEY_STRING, FIELD(tls_cert), 0, 0, 0, KEY_FLAG, "FILE",
	  "the TLS certificate chain (PEM)", "one made at the first start, <state-dir>/tls/" },
	{ "tls-key", KEY_STRING, FIELD(tls_key), 0, 0, 0, KEY_FLAG, "FILE",
	  "the TLS certificate's private key (PEM)", "the made certificate's" },
	{ "workers", KEY_INT, FIELD(workers), 1, 64, 1, KEY_FLAG, "N", "jobs trained at once", NULL },
	{ "threads", KEY_INT, FIELD(threads), 0, 1024, 0, KEY_FLAG, "N",
	  "compute threads for all jobs together, 0 = all cores", NULL },
	{ "max_queued", KEY_INT, FIELD(max_queued), 1, 1000000, 1000, KEY_RUNTIME, "N",
	  "jobs waiting (queued or paused) at once; more submits get -32005", NULL },
	{ "max_clients", KEY_INT, FIELD(max_clients), 1, 100000, 1024, KEY_RUNTIME, "N",
	  "clients connected at once; more are refused", NULL },
	{ "max_line_bytes", KEY_SIZE, FIELD(max_line_bytes), KIB, 64 * MIB, MIB, KEY_RUNTIME, "N",
	  "bytes per request line", NULL },
	{ "idle_timeout_s", KEY_SECONDS, FIELD(idle_timeout_s), 0, 86400, 600, KEY_RUNTIME, "S",
	  "no complete request this long closes a client (a subscriber reading "
	  "events stays), 0 = never", NULL },
	{ "max_output_bytes", KEY_SIZE, FIELD(max_output_bytes), 64 * KIB, GIB, 64 * MIB,
	  KEY_RUNTIME, "N", "output queued to one client before it is cut off", NULL },
	{ "output_soft_bytes", KEY_SIZE, FIELD(output_soft_bytes), 4 * KIB, GIB, MIB, KEY_RUNTIME,
	  "N", "backlog above which a subscriber's step points are dropped", NULL },
	{ "output_soft_s", KEY_SECONDS, FIELD(output_soft_s), 1, 86400, 60, KEY_RUNTIME, "S",
	  "a backlog above output_soft_bytes this long cuts the client off", NULL },
};

#define N_KEYS (sizeof keys / sizeof *keys)

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void *field(struct byold_config *c, const struct key *k)
{
	return (char *)c + k->offset;
}

static void store_number(struct byold_config *c, const struct key *k, double v)
{
	if (k->type == KEY_INT)
		*(int *)field(c, k) = (int)v;
	else if (k->type == KEY_SIZE)
		*(size_t *)field(c, k) = (size_t)v;
	else
		*(double *)field(c, k) = v;
}

/* "1 MiB" for whole binary units of sizes, else the plain number. */
static const char *amount(char *buf, size_t n, const struct key *k, double v)
{
	static const struct { double unit; const char *name; } units[] = {
		{ GIB, "GiB" }, { MIB, "MiB" }, { KIB, "KiB" } };
	for (size_t i = 0; k->type == KEY_SIZE && v > 0 && i < 3; i++) {
		if (fmod(v, units[i].unit) == 0) {
			snprintf(buf, n, "%.15g %s", v / units[i].unit, units[i].name);
			return buf;
		}
	}
	snprintf(buf, n, "%.15g", v);
	return buf;
}

/* ---- setting one key ------------------------------------------------------------ */

/* who names the key in errors: "FILE: key" or "--key". */
static int set_number(struct byold_config *c, const struct key *k, double v, const char *who,
		      struct err *e)
{
	char lo[32], hi[32];
	if (k->type != KEY_SECONDS && v != floor(v))
		return err_set(e, ERR_INVALID, "%s: expected an integer, got %.15g", who, v);
	if (!(v >= k->min && v <= k->max))
		return err_set(e, ERR_RANGE, "%s: %.15g is out of range %s..%s", who, v,
			       amount(lo, sizeof lo, k, k->min), amount(hi, sizeof hi, k, k->max));
	store_number(c, k, v);
	return 0;
}

static int set_string(struct byold_config *c, const struct key *k, const char *v, const char *who,
		      struct err *e)
{
	if (strlen(v) >= k->size)
		return err_set(e, ERR_RANGE, "%s: longer than %zu bytes", who, k->size - 1);
	memcpy(field(c, k), v, strlen(v) + 1);
	return 0;
}

static int set_json(struct byold_config *c, const struct key *k, const cJSON *v, const char *who,
		    struct err *e)
{
	if (k->type == KEY_STRING)
		return cJSON_IsString(v) ? set_string(c, k, v->valuestring, who, e)
					 : err_set(e, ERR_INVALID, "%s: expected a string", who);
	if (!cJSON_IsNumber(v))
		return err_set(e, ERR_INVALID, "%s: expected %s", who,
			       k->type == KEY_SECONDS ? "a number" : "an integer");
	return set_number(c, k, v->valuedouble, who, e);
}

static int set_text(struct byold_config *c, const struct key *k, const char *v, const char *who,
		    struct err *e)
{
	if (k->type == KEY_STRING)
		return set_string(c, k, v, who, e);
	char *end;
	double d = strtod(v, &end);
	if (end == v || *end)
		return err_set(e, ERR_INVALID, "%s: expected a number, got \"%.40s\"", who, v);
	return set_number(c, k, d, who, e);
}

/* ---- defaults, file, flags, checks ----------------------------------------------- */

void config_defaults(struct byold_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].type != KEY_STRING)
			store_number(c, &keys[i], keys[i].def);
}

/* The whole file, NUL-terminated, into *out (malloc'd). */
static int read_file(const char *path, char **out, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(e, ERR_IO, "%.200s: %s", path, strerror(errno));
	char *buf = malloc(CONFIG_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!buf)
		return err_set(e, ERR_NOMEM, "%.200s: out of memory", path);
	if (bad || n > CONFIG_FILE_MAX) {
		free(buf);
		return err_set(e, bad ? ERR_IO : ERR_RANGE, "%.200s: %s", path,
			       bad ? "read error" : "larger than 1 MiB");
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

int config_load_file(struct byold_config *c, const char *path, struct err *e)
{
	char *text = NULL, who[200];
	size_t len = 0;
	const char *end = NULL;
	int rc = read_file(path, &text, &len, e);
	if (rc)
		return rc;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		rc = err_set(e, ERR_INVALID, "%.200s: not valid JSON (near byte %td)", path,
			     end ? end - text : (ptrdiff_t)0);
	else if (!cJSON_IsObject(root))
		rc = err_set(e, ERR_INVALID, "%.200s: expected a JSON object", path);
	for (const cJSON *it = root && !rc ? root->child : NULL; it && !rc; it = it->next) {
		const struct key *k = key_find(it->string);
		snprintf(who, sizeof who, "%.120s: %.60s", path, it->string); /* fits err.msg */
		rc = k ? set_json(c, k, it, who, e) : err_set(e, ERR_INVALID, "%s: unknown key", who);
	}
	cJSON_Delete(root);
	free(text);
	return rc;
}

int config_apply_flags(struct byold_config *c, int argc, char **argv, const char **config_path,
		       struct err *e)
{
	char who[128];
	if (config_path)
		*config_path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0)
			return CONFIG_HELP;
		if (strcmp(a, "--version") == 0)
			return CONFIG_VERSION;
		const struct key *k = strncmp(a, "--", 2) == 0 ? key_find(a + 2) : NULL;
		int is_config = strcmp(a, "--config") == 0;
		if (!is_config && !(k && (k->flags & KEY_FLAG)))
			return err_set(e, ERR_INVALID, "unknown option \"%.80s\"", a);
		if (!v)
			return err_set(e, ERR_INVALID, "%.80s: needs a value", a);
		snprintf(who, sizeof who, "%.80s", a);
		int rc = is_config ? 0 : set_text(c, k, v, who, e);
		if (rc)
			return rc;
		if (is_config && config_path)
			*config_path = v;
		i++;
	}
	return CONFIG_RUN;
}

int config_validate(const struct byold_config *c, struct err *e)
{
	if (c->output_soft_bytes > c->max_output_bytes)
		return err_set(e, ERR_RANGE, "output_soft_bytes: %zu is above max_output_bytes (%zu)",
			       c->output_soft_bytes, c->max_output_bytes);
	char host[256];
	int port;
	if (c->listen[0] && hostport_parse(c->listen, host, sizeof host, &port, e) != 0)
		return err_set(e, ERR_INVALID, "listen: %s", e->msg);
	if (c->http[0] && hostport_parse(c->http, host, sizeof host, &port, e) != 0)
		return err_set(e, ERR_INVALID, "http: %s", e->msg);
	if (c->tls[0] && strcmp(c->tls, "on") != 0 && strcmp(c->tls, "off") != 0)
		return err_set(e, ERR_INVALID, "tls: expected on or off, got \"%s\"", c->tls);
	if (!c->tls_cert[0] != !c->tls_key[0])
		return err_set(e, ERR_INVALID, "%s: needs %s too", c->tls_cert[0] ? "tls-cert" : "tls-key",
			       c->tls_cert[0] ? "tls-key" : "tls-cert");
	for (const char *p = c->http_names; *p; p++)
		if (!(*p == ',' || *p == '.' || *p == '-' || *p == ':' || (*p >= '0' && *p <= '9') ||
		      ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
			return err_set(e, ERR_INVALID, "http-names: '%c' is not part of a host name", *p);
	return 0;
}

int config_load(struct byold_config *c, const char *path, int argc, char **argv, struct err *e)
{
	config_defaults(c);
	int rc = path ? config_load_file(c, path, e) : 0;
	if (!rc)
		rc = config_apply_flags(c, argc, argv, NULL, e);
	return rc < 0 ? rc : config_validate(c, e);
}

/* ---- reload, help ------------------------------------------------------------------ */

static int key_equal(const struct byold_config *a, const struct byold_config *b,
		     const struct key *k)
{
	const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
	return k->type == KEY_STRING ? strcmp(fa, fb) == 0 : memcmp(fa, fb, k->size) == 0;
}

void config_apply_runtime(struct byold_config *cur, const struct byold_config *next, char *restart,
			  size_t n)
{
	size_t used = 0;
	restart[0] = 0;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		if (key_equal(cur, next, k))
			continue;
		if (k->flags & KEY_RUNTIME)
			memcpy(field(cur, k), (const char *)next + k->offset, k->size);
		else if (used < n)
			used += (size_t)snprintf(restart + used, n - used, "%s%s", used ? ", " : "",
						 k->name);
	}
}

/* "1..64, default 1" for numbers, "default ..." for strings. */
static const char *bounds(char *buf, size_t n, const struct key *k)
{
	char lo[32], hi[32], def[32];
	if (k->type == KEY_STRING)
		snprintf(buf, n, "default %s", k->default_text);
	else
		snprintf(buf, n, "%s..%s, default %s", amount(lo, sizeof lo, k, k->min),
			 amount(hi, sizeof hi, k, k->max), amount(def, sizeof def, k, k->def));
	return buf;
}

/* One entry of --help: name, help, and its bounds and default on the next line. */
static void usage_entry(FILE *f, const char *name, const char *mark, const struct key *k)
{
	char b[128];
	fprintf(f, "  %-19s%s %s\n  %-20s %s\n", name, mark, k->help, "", bounds(b, sizeof b, k));
}

void config_usage(FILE *f)
{
	char flag[64];
	int col = fprintf(f, "usage: byold [--config FILE]");
	for (size_t i = 0; i < N_KEYS; i++) {
		if (!(keys[i].flags & KEY_FLAG))
			continue;
		snprintf(flag, sizeof flag, " [--%s %s]", keys[i].name, keys[i].arg);
		if (col + strlen(flag) > 78)
			col = fprintf(f, "\n            ");
		col += fprintf(f, "%s", flag);
	}
	fprintf(f, "\n             [--version] [--help]\n"
		   "  --config FILE        a JSON object of the keys below (flags override it);\n"
		   "                       SIGHUP re-reads it\n"
		   "                       default $CONFIGURATION_DIRECTORY/byold.conf.json if it exists\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		if (!(keys[i].flags & KEY_FLAG))
			continue;
		snprintf(flag, sizeof flag, "--%s %s", keys[i].name, keys[i].arg);
		usage_entry(f, flag, " ", &keys[i]);
	}
	fprintf(f, "config file keys: the flags' names (\"state-dir\", ...) and these limits\n"
		   "(* = applied on SIGHUP; the other keys need a restart):\n");
	for (size_t i = 0; i < N_KEYS; i++)
		if (!(keys[i].flags & KEY_FLAG))
			usage_entry(f, keys[i].name, keys[i].flags & KEY_RUNTIME ? "*" : " ", &keys[i]);
}
