/*
 * web/web.c — the dashboard's HTTP and WebSocket listener (see web.h).
 *
 * Everything here runs on the web thread: libwebsockets' callbacks and the
 * bridges' libuv callbacks share its loop, so no state is locked.
 */
#include "web/web.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <uv.h>

#include "hostport.h"
#include "log.h"
#include "server/rpc.h"
#include "web/bridge.h"
#include "web/bundle.h"
#include "web/session.h"

#define SESSION_IDLE_S (12 * 3600.0) /* a dashboard left open overnight stays logged in */
#define LOGIN_BODY_MAX 1024
#define RPC_WAIT_S 60                /* an /api/rpc request's answer */
#define COOKIE "byol_session"
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

struct web_server {
	char host[256], names[1024], socket_path[4200], token[WEB_SECRET_LEN + 1];
	int port;
	int tls;                     /* HTTPS: Secure cookies, https:// origins */
	unsigned timeout_s;
	size_t max_line;
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct lws_context *lws;
	struct web_sessions sessions;
};

static struct web_server *server_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- checks on every request ------------------------------------------------ */

static int name_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncasecmp(p, name, n) == 0)
			return 1;
		p += len + (comma != NULL);
	}
	return 0;
}

/* Host: one of our names, at our port (DNS rebinding sends a foreign name). */
static int host_ok(struct web_server *w, struct lws *wsi, char *host, size_t cap)
{
	if (lws_hdr_copy(wsi, host, (int)cap, WSI_TOKEN_HOST) <= 0 && /* HTTP/2: :authority */
	    lws_hdr_copy(wsi, host, (int)cap, WSI_TOKEN_HTTP_COLON_AUTHORITY) <= 0)
		return 0;
	char name[256];
	int port = w->tls ? 443 : 80;
	const char *colon = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
	size_t len = colon ? (size_t)(colon - host) + (host[0] == '[') : strlen(host);
	if (colon && host[0] != '[' && strchr(host, ']'))
		return 0;
	if (colon) {
		const char *digits = colon + (host[0] == '[' ? 2 : 1);
		char *end;
		long p = strtol(digits, &end, 10);
		if (!*digits || *end || p <= 0 || p > 65535)
			return 0;
		port = (int)p;
	}
	if (len >= sizeof name)
		return 0;
	memcpy(name, host, len);
	name[len] = 0;
	if (name[0] == '[') { /* "[::1]" → "::1" */
		memmove(name, name + 1, len);
		name[strcspn(name, "]")] = 0;
	}
	return port == w->port && (name_listed("localhost,127.0.0.1,::1", name) ||
				   strcasecmp(name, w->host) == 0 || name_listed(w->names, name));
}

/* Origin, when present (required: a WebSocket), is this Host over our scheme. */
static int origin_ok(struct web_server *w, struct lws *wsi, const char *host, int required)
{
	char origin[300], want[320];
	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
		return !required && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0;
	snprintf(want, sizeof want, "%s://%s", w->tls ? "https" : "http", host);
	return strcasecmp(origin, want) == 0;
}

static const struct web_session *session_of(struct web_server *w, struct lws *wsi)
{
	char id[WEB_SECRET_LEN + 2];
	size_t len = sizeof id;
	if (lws_http_cookie_get(wsi, COOKIE, id, &len) != 0)
		return NULL;
	return web_session_find(&w->sessions, id, lws_now_secs());
}

/* The X-CSRF-Token header, else the csrf query argument (a WebSocket has no headers
   of its own). */
static int csrf_ok(const struct web_session *s, struct lws *wsi)
{
	char buf[WEB_SECRET_LEN + 16] = "";
	if (lws_hdr_custom_copy(wsi, buf, sizeof buf, "x-csrf-token:", 13) > 0)
		return web_csrf_ok(s, buf);
	const char *arg = lws_get_urlarg_by_name(wsi, "csrf=", buf, sizeof buf);
	return arg && web_csrf_ok(s, arg);
}

/* ---- HTTP responses --------------------------------------------------------- */

enum route { ROUTE_NONE, ROUTE_LOGIN, ROUTE_LOGOUT, ROUTE_RPC };

struct request {
	struct lws *wsi;
	enum route route;
	char *body;
	size_t body_len;
	int body_too_long;
	char session[WEB_SECRET_LEN + 1];  /* the session of a logout or RPC */
	struct bridge *rpc;                /* POST /api/rpc waiting for byold */
	/* the response */
	int status, headers_sent, ready;
	const char *type;
	const unsigned char *data;
	char *owned;                       /* data when it is ours to free */
	size_t len, off;
	char cookie[160];                  /* a Set-Cookie value, or "" */
	char retry_after[16];
};

static void respond(struct request *r, int status, const char *type, const char *data,
		    size_t len, char *owned)
{
	if (r->owned != owned)
		free(r->owned); /* (an answer that came first and is replaced) */
	r->status = status;
	r->type = type;
	r->data = (const unsigned char *)data;
	r->len = len;
	r->owned = owned;
	r->ready = 1;
	lws_callback_on_writable(r->wsi);
}

/* A JSON error body {"error": message}. */
static int respond_error(struct request *r, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", message);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return -1;
	respond(r, status, "application/json", text, strlen(text), text);
	return 0;
}

static int respond_csrf(struct request *r, const struct web_session *s)
{
	char *text = malloc(WEB_SECRET_LEN + 16);
	if (!text)
		return -1;
	int n = snprintf(text, WEB_SECRET_LEN + 16, "{\"csrf\":\"%s\"}", s->csrf);
	respond(r, 200, "application/json", text, (size_t)n, text);
	return 0;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value, (int)strlen(value), p, end);
}

static int write_headers(struct request *r)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
					     *end = buf + sizeof buf - 1;
	struct lws *wsi = r->wsi;
	if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->type, r->len, &p, end) ||
	    add_header(wsi, "content-security-policy:", CSP, &p, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
	    add_header(wsi, "x-frame-options:", "DENY", &p, end) ||
	    add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
	    add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    (r->cookie[0] && add_header(wsi, "set-cookie:", r->cookie, &p, end)) ||
	    (r->retry_after[0] && add_header(wsi, "retry-after:", r->retry_after, &p, end)))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &p, end);
}

#define BODY_CHUNK 16384

/* On writable: the headers, then the body a chunk at a time. -1 closes. */
static int write_response(struct request *r)
{
	if (!r->ready)
		return 0;
	if (!r->headers_sent) {
		if (write_headers(r))
			return -1;
		r->headers_sent = 1;
		if (r->len > 0) {
			lws_callback_on_writable(r->wsi);
			return 0;
		}
	}
	if (r->off < r->len) {
		unsigned char buf[LWS_PRE + BODY_CHUNK];
		size_t n = r->len - r->off < BODY_CHUNK ? r->len - r->off : BODY_CHUNK;
		memcpy(buf + LWS_PRE, r->data + r->off, n);
		r->off += n;
		int last = r->off == r->len;
		if (lws_write(r->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
		    (int)n)
			return -1;
		if (!last) {
			lws_callback_on_writable(r->wsi);
			return 0;
		}
	}
	return lws_http_transaction_completed(r->wsi) ? -1 : 0;
}

static void request_free(struct request *r)
{
	bridge_close(r->rpc);
	r->rpc = NULL;
	free(r->body);
	free(r->owned);
	r->body = r->owned = NULL;
}

/* Appends n bytes to the growing buffer *buf (of *len bytes), NUL-terminated. */
static int append(char **buf, size_t *len, const void *in, size_t n)
{
	if (n == 0) /* (libwebsockets passes NULL for an empty body) */
		return 0;
	char *grown = realloc(*buf, *len + n + 1);
	if (!grown)
		return -1;
	memcpy(grown + *len, in, n);
	*buf = grown;
	*len += n;
	grown[*len] = 0;
	return 0;
}

/* ---- routes ----------------------------------------------------------------- */

static int serve_file(struct request *r, const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (int i = 0; i < web_n_files; i++)
		if (strcmp(web_files[i].path, path) == 0) {
			respond(r, 200, web_files[i].type, (const char *)web_files[i].data,
				web_files[i].len, NULL);
			return 0;
		}
	return respond_error(r, 404, "not found");
}

static int login(struct web_server *w, struct request *r)
{
	char peer[64] = "";
	lws_get_peer_simple(r->wsi, peer, sizeof peer);
	double now = lws_now_secs(), wait = web_login_wait(&w->sessions, peer, now);
	if (wait > 0) {
		snprintf(r->retry_after, sizeof r->retry_after, "%d", (int)wait + 1);
		return respond_error(r, 429, "too many failed logins: try again later");
	}
	cJSON *o = r->body_too_long ? NULL : cJSON_ParseWithLength(r->body ? r->body : "",
								   r->body_len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
	int ok = cJSON_IsString(t) && rpc_token_equal(w->token, t->valuestring);
	cJSON_Delete(o);
	if (!ok) {
		web_login_failed(&w->sessions, peer, now);
		log_warn("web: failed login from %s", peer);
		return respond_error(r, 401, "wrong token");
	}
	const struct web_session *s = web_session_open(&w->sessions, now);
	if (!s)
		return respond_error(r, 500, "no randomness for a session");
	snprintf(r->cookie, sizeof r->cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s",
		 s->id, w->tls ? "; Secure" : "");
	log_info("web: login from %s", peer);
	return respond_csrf(r, s);
}

static void rpc_answered(void *ctx, const char *line, size_t len)
{
	struct request *r = ctx;
	if (r->ready)
		return; /* notifications after the answer */
	char *copy = malloc(len);
	if (!copy) {
		respond_error(r, 500, "out of memory");
		return;
	}
	memcpy(copy, line, len);
	respond(r, 200, "application/json", copy, len, copy);
}

static void rpc_ended(void *ctx)
{
	struct request *r = ctx;
	if (!r->ready)
		respond_error(r, 502, "byold closed the connection without an answer");
}

static int forward_rpc(struct web_server *w, struct request *r)
{
	if (r->body_too_long || !r->body_len || memchr(r->body, '\n', r->body_len))
		return respond_error(r, 400, "the body must be one JSON-RPC request on one line");
	static const struct bridge_hooks hooks = { rpc_answered, rpc_ended };
	r->rpc = bridge_open(&w->loop, w->socket_path, w->max_line, &hooks, r);
	if ((!r->rpc || bridge_send(r->rpc, r->body, r->body_len) != 0) && !r->ready)
		return respond_error(r, 503, "byold's socket is not reachable");
	lws_set_timeout(r->wsi, PENDING_TIMEOUT_HTTP_CONTENT, RPC_WAIT_S);
	return 0;
}

static int body_done(struct web_server *w, struct request *r)
{
	switch (r->route) {
	case ROUTE_LOGIN:
		return login(w, r);
	case ROUTE_LOGOUT:
		web_session_close(&w->sessions, r->session);
		snprintf(r->cookie, sizeof r->cookie,
			 COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
		respond(r, 200, "application/json", "{}", 2, NULL);
		return 0;
	case ROUTE_RPC:
		return forward_rpc(w, r);
	default:
		return respond_error(r, 404, "not found");
	}
}

static int add_body(struct web_server *w, struct request *r, const void *in, size_t len)
{
	size_t cap = r->route == ROUTE_RPC ? w->max_line : LOGIN_BODY_MAX;
	if (r->body_too_long || r->body_len + len > cap) {
		r->body_too_long = 1;
		return 0;
	}
	return append(&r->body, &r->body_len, in, len);
}

/* A POST's headers: the route, and the session and CSRF checks before any body. */
static int start_post(struct web_server *w, struct request *r, const char *path)
{
	r->route = strcmp(path, "/api/login") == 0    ? ROUTE_LOGIN
		   : strcmp(path, "/api/logout") == 0 ? ROUTE_LOGOUT
		   : strcmp(path, "/api/rpc") == 0    ? ROUTE_RPC
						      : ROUTE_NONE;
	if (r->route == ROUTE_NONE)
		return respond_error(r, 404, "not found");
	if (r->route == ROUTE_LOGIN)
		return 0;
	const struct web_session *s = session_of(w, r->wsi);
	if (!s)
		return respond_error(r, 401, "log in first");
	if (!csrf_ok(s, r->wsi))
		return respond_error(r, 403, "missing or wrong CSRF token");
	memcpy(r->session, s->id, sizeof r->session);
	return 0;
}

static int on_http(struct web_server *w, struct request *r, const char *path)
{
	char host[300];
	if (!host_ok(w, r->wsi, host, sizeof host))
		return respond_error(r, 421, "this Host is not a name of this byold");
	int post = lws_hdr_total_length(r->wsi, WSI_TOKEN_POST_URI) > 0;
	if (!origin_ok(w, r->wsi, host, 0))
		return respond_error(r, 403, "cross-origin request refused");
	if (post)
		return start_post(w, r, path);
	if (lws_hdr_total_length(r->wsi, WSI_TOKEN_GET_URI) <= 0)
		return respond_error(r, 405, "only GET and POST");
	if (strcmp(path, "/api/session") == 0) {
		const struct web_session *s = session_of(w, r->wsi);
		return s ? respond_csrf(r, s) : respond_error(r, 401, "log in first");
	}
	return serve_file(r, path);
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	struct request *r = user;
	struct web_server *w = server_of(wsi);
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return -1; /* a WebSocket without our subprotocol: none of ours */
	case LWS_CALLBACK_HTTP:
		memset(r, 0, sizeof *r);
		r->wsi = wsi;
		return on_http(w, r, in);
	case LWS_CALLBACK_HTTP_BODY:
		return r->ready ? 0 : add_body(w, r, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return r->ready ? 0 : body_done(w, r);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return write_response(r);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (r)
			request_free(r);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- the WebSocket ---------------------------------------------------------- */

struct message {
	struct message *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes, then the text */
};

struct socket_client {
	struct lws *wsi;
	struct bridge *bridge;
	char session[WEB_SECRET_LEN + 1];
	struct message *head, *tail;
	size_t queued;
	char *in;          /* a message being reassembled from its fragments */
	size_t in_len;
	int ended;         /* byold's side closed: close once the queue is sent */
};

static void queue_line(void *ctx, const char *line, size_t len)
{
	struct socket_client *c = ctx;
	struct message *m = malloc(sizeof *m + LWS_PRE + len);
	if (!m) {
		c->ended = 1;
		lws_callback_on_writable(c->wsi);
		return;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, line, len);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->queued += len;
	bridge_backlog(c->bridge, c->queued);
	lws_callback_on_writable(c->wsi);
}

static void socket_ended(void *ctx)
{
	struct socket_client *c = ctx;
	c->ended = 1;
	lws_callback_on_writable(c->wsi);
}

static int refuse(struct lws *wsi, enum lws_close_status status, const char *why)
{
	lws_close_reason(wsi, status, (unsigned char *)why, strlen(why));
	return -1;
}

static int send_next(struct web_server *w, struct socket_client *c)
{
	if (!web_session_find(&w->sessions, c->session, lws_now_secs()))
		return refuse(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, "the session ended");
	struct message *m = c->head;
	if (!m) {
		if (c->ended)
			lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, NULL, 0);
		return c->ended ? -1 : 0;
	}
	if (lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	c->head = m->next;
	if (!c->head)
		c->tail = NULL;
	c->queued -= m->len;
	free(m);
	bridge_backlog(c->bridge, c->queued);
	if (c->head || c->ended)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* A fragment of a browser's message; whole, it goes to byold as one line. */
static int receive(struct web_server *w, struct socket_client *c, const char *in, size_t len)
{
	if (lws_frame_is_binary(c->wsi))
		return refuse(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text messages only");
	if (!web_session_find(&w->sessions, c->session, lws_now_secs()))
		return refuse(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, "the session ended");
	if (c->in_len + len > w->max_line)
		return refuse(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too long");
	if (memchr(in, '\n', len))
		return refuse(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			      "one JSON-RPC message on one line");
	if (append(&c->in, &c->in_len, in, len))
		return -1;
	if (!lws_is_final_fragment(c->wsi))
		return 0;
	int rc = c->in_len ? bridge_send(c->bridge, c->in, c->in_len) : 0;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	return rc;
}

/* The upgrade: our Host, its Origin, a session, its CSRF token, room for one more. */
static int admit(struct web_server *w, struct lws *wsi)
{
	char host[300], uri[32];
	const struct web_session *s;
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/api/ws"))
		return -1;
	if (!host_ok(w, wsi, host, sizeof host) || !origin_ok(w, wsi, host, 1))
		return -1;
	if (!(s = session_of(w, wsi)) || !csrf_ok(s, wsi))
		return -1;
	return 0;
}

static void socket_free(struct socket_client *c)
{
	bridge_close(c->bridge);
	c->bridge = NULL;
	while (c->head) {
		struct message *m = c->head;
		c->head = m->next;
		free(m);
	}
	c->tail = NULL;
	free(c->in);
	c->in = NULL;
}

static int socket_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct socket_client *c = user;
	struct web_server *w = server_of(wsi);
	static const struct bridge_hooks hooks = { queue_line, socket_ended };
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return admit(w, wsi);
	case LWS_CALLBACK_ESTABLISHED: {
		memset(c, 0, sizeof *c);
		c->wsi = wsi;
		const struct web_session *s = session_of(w, wsi);
		if (!s)
			return -1;
		memcpy(c->session, s->id, sizeof c->session);
		c->bridge = bridge_open(&w->loop, w->socket_path, w->max_line, &hooks, c);
		return c->bridge ? 0 : -1;
	}
	case LWS_CALLBACK_RECEIVE:
		return receive(w, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return send_next(w, c);
	case LWS_CALLBACK_CLOSED:
		socket_free(c);
		return 0;
	default:
		return 0;
	}
}

/* ---- the thread ------------------------------------------------------------- */

static const struct lws_protocols protocols[] = {
	{ "http", http_callback, sizeof(struct request), 0, 0, NULL, 0 },
	{ "byol-rpc", socket_callback, sizeof(struct socket_client), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void on_stop(uv_async_t *a)
{
	struct web_server *w = a->data;
	uv_close((uv_handle_t *)a, NULL);
	lws_context_destroy(w->lws); /* first phase: closes the connections on this loop */
}

static void *web_main(void *arg)
{
	struct web_server *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
	lws_context_destroy(w->lws); /* second phase, once the loop has let go */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	return NULL;
}

static void quiet_log(int level, const char *line)
{
	if (level & LLL_ERR)
		log_warn("web: %.*s", (int)strcspn(line, "\n"), line);
}

static int create_context(struct web_server *w, const struct web_config *cfg, struct err *e)
{
	void *loops[1] = { &w->loop };
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = w->port;
	info.iface = w->host;
	info.protocols = protocols;
	info.user = w;
	info.foreign_loops = loops;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 * !strchr(w->host, ':');
	info.max_http_header_data = 4096; /* a request's header bytes */
	info.max_http_header_pool = (unsigned short)cfg->max_conns; /* requests being read at once */
	info.timeout_secs = w->timeout_s;
	info.timeout_secs_ah_idle = w->timeout_s;
	info.keepalive_timeout = (int)w->timeout_s;
	info.fd_limit_per_thread = (unsigned)cfg->max_conns + 16; /* listeners, loop handles */
	if (w->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	lws_set_log_level(LLL_ERR, quiet_log);
	w->lws = lws_create_context(&info);
	if (!w->lws)
		return err_set(e, ERR_IO, "http %s: cannot listen there", cfg->listen);
	struct lws_vhost *vh = lws_get_vhost_by_name(w->lws, "default");
	int port = vh ? lws_get_vhost_listen_port(vh) : -1;
	if (port > 0)
		w->port = port;
	return 0;
}

int web_start(struct web_server **out, const struct web_config *cfg, struct err *e)
{
	*out = NULL;
	struct web_server *w = calloc(1, sizeof *w);
	if (!w)
		return err_set(e, ERR_NOMEM, "http: out of memory");
	if (hostport_parse(cfg->listen, w->host, sizeof w->host, &w->port, e) != 0) {
		free(w);
		return err_set(e, ERR_INVALID, "http: %s", e->msg);
	}
	snprintf(w->names, sizeof w->names, "%s", cfg->names ? cfg->names : "");
	snprintf(w->socket_path, sizeof w->socket_path, "%s", cfg->socket_path);
	snprintf(w->token, sizeof w->token, "%s", cfg->token);
	w->timeout_s = cfg->timeout_s >= 1 ? (unsigned)cfg->timeout_s : 1;
	w->max_line = cfg->max_line;
	w->tls = cfg->tls_cert != NULL;
	web_sessions_init(&w->sessions, SESSION_IDLE_S);
	uv_loop_init(&w->loop);
	uv_async_init(&w->loop, &w->stop, on_stop);
	w->stop.data = w;
	int rc = create_context(w, cfg, e);
	if (!rc && pthread_create(&w->thread, NULL, web_main, w) != 0)
		rc = err_set(e, ERR_IO, "http: cannot start its thread");
	if (rc) {
		if (w->lws)
			lws_context_destroy(w->lws);
		uv_close((uv_handle_t *)&w->stop, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		if (w->lws)
			lws_context_destroy(w->lws);
		uv_loop_close(&w->loop);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int web_port(const struct web_server *w)
{
	return w->port;
}

void web_stop(struct web_server *w)
{
	if (!w)
		return;
	uv_async_send(&w->stop);
	pthread_join(w->thread, NULL);
	free(w);
}
