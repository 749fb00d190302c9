/*
 * rpcclient.c — byolctl's connection to byold (see rpcclient.h). Plain
 * blocking sockets with poll() for timeouts; lines are framed by the same
 * framer the daemon uses (common/rpc_frame.c).
 */
#include "rpcclient.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "rpc_frame.h"
#include "tls_client.h"

struct rpcc_note {
	cJSON *params;
	struct rpcc_note *next;
};

/* ---- connecting ---------------------------------------------------------------- */

static int connect_unix(const struct rpcc_target *t, struct ctl_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(t->socket) >= sizeof sa.sun_path)
		return -ctl_errf(e, CTL_USAGE, "socket path %s is too long", t->socket);
	memcpy(sa.sun_path, t->socket, strlen(t->socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return fd;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	return -ctl_errf(e, CTL_UNAVAILABLE,
			 "cannot connect to %s: %s — is byold running? start it with: "
			 "byold --state-dir DIR (its socket is DIR/byold.sock), or name the "
			 "socket with --socket PATH or $BYOLD_SOCKET",
			 t->socket, strerror(saved));
}

static int connect_tcp(const struct rpcc_target *t, struct ctl_err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(t->host, t->port, &hints, &ai), fd = -1, saved = 0;
	if (rc != 0)
		return -ctl_errf(e, CTL_UNAVAILABLE, "cannot resolve %s: %s", t->host,
				 gai_strerror(rc));
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -ctl_errf(e, CTL_UNAVAILABLE,
				 "cannot connect to %s: %s — is byold running with "
				 "--listen %s:%s?", t->where, strerror(saved), t->host, t->port);
	return fd;
}

/* The 64 hex characters of the token file. */
static int read_token(const struct rpcc_target *t, char token[RPC_TOKEN_LEN + 1],
		      struct ctl_err *e)
{
	size_t len, n = 0;
	char *text = file_read(t->token_file, &len);
	if (!text)
		return ctl_errf(e, CTL_NOPERM, "cannot read the token file %s: %s — pass the "
				"daemon's <state-dir>/token with --token-file", t->token_file,
				strerror(errno));
	while (n < len && n < RPC_TOKEN_LEN && strchr("0123456789abcdef", text[n]) && text[n])
		n++;
	int ok = n == RPC_TOKEN_LEN && (len == n || text[n] == '\n' || text[n] == '\r');
	memcpy(token, text, n);
	token[n] = 0;
	free(text);
	return ok ? 0 : ctl_errf(e, CTL_NOPERM, "%s does not hold a token (64 lowercase hex "
				 "digits) — pass the daemon's <state-dir>/token with "
				 "--token-file", t->token_file);
}

static int authenticate(struct rpcc *r, struct ctl_err *e)
{
	char token[RPC_TOKEN_LEN + 1];
	cJSON *params, *res = NULL;
	int rc = read_token(r->target, token, e);
	if (rc)
		return rc;
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "token", token);
	rc = rpcc_call(r, "auth", params, &res, e);
	cJSON_Delete(res);
	if (rc == CTL_NOPERM)
		ctl_errf(e, CTL_NOPERM, "byold at %s refused the token in %s — pass the "
			 "daemon's <state-dir>/token with --token-file", r->target->where,
			 r->target->token_file);
	return rc;
}

int rpcc_open(struct rpcc *r, const struct rpcc_target *t, struct ctl_err *e)
{
	struct err fe = { 0 };
	*r = (struct rpcc){ .fd = -1, .target = t };
	int fd = t->socket[0] ? connect_unix(t, e) : connect_tcp(t, e);
	if (fd < 0)
		return -fd;
	r->fd = fd;
	int rc = t->tls ? tlsc_open(&r->tls, fd, t->host, t->port, t->tls_ca, e) : 0;
	if (rc) {
		rpcc_close(r);
		return rc;
	}
	if (rpc_framer_init(&r->framer, RPCC_MAX_LINE, &fe) != 0) {
		rpcc_close(r);
		return ctl_errf(e, CTL_SOFTWARE, "%s", fe.msg);
	}
	rc = t->socket[0] ? 0 : authenticate(r, e);
	if (rc)
		rpcc_close(r);
	return rc;
}

void rpcc_close(struct rpcc *r)
{
	tlsc_close(r->tls);
	r->tls = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	rpc_framer_free(r->framer);
	r->framer = NULL;
	cJSON_Delete(r->reply);
	r->reply = NULL;
	while (r->head) {
		struct rpcc_note *n = r->head;
		r->head = n->next;
		cJSON_Delete(n->params);
		free(n);
	}
	r->tail = NULL;
}

/* ---- reading -------------------------------------------------------------------- */

static void queue_note(struct rpcc *r, cJSON *msg)
{
	struct rpcc_note *n = malloc(sizeof *n);
	cJSON *params = cJSON_DetachItemFromObjectCaseSensitive(msg, "params");
	if (!n || !params) {
		free(n);
		cJSON_Delete(params);
		return;
	}
	*n = (struct rpcc_note){ .params = params };
	if (r->tail)
		r->tail->next = n;
	else
		r->head = n;
	r->tail = n;
}

/* One line from the daemon: the reply we wait for (its id, or null for an
 * error about a request byold could not read), or a notification. */
static void on_line(void *ctx, char *line, size_t len)
{
	struct rpcc *r = ctx;
	cJSON *msg = cJSON_ParseWithLength(line, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return;
	}
	if (id && !r->reply && (cJSON_IsNull(id) || (cJSON_IsNumber(id) &&
						     (long)id->valuedouble == r->want_id))) {
		r->reply = msg;
		return;
	}
	if (!id && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "method")))
		queue_note(r, msg);
	cJSON_Delete(msg);
}

/* Waits up to timeout_ms for bytes and frames them. 0 (also on timeout and
 * EINTR), or an exit code when the connection broke. */
static int pump(struct rpcc *r, int timeout_ms, struct ctl_err *e)
{
	char buf[65536];
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	int n = r->tls && tlsc_pending(r->tls) ? 1 : poll(&p, 1, timeout_ms);
	if (n < 0 && errno != EINTR)
		return ctl_errf(e, CTL_UNAVAILABLE, "%s: poll: %s", r->target->where,
				strerror(errno));
	if (n <= 0)
		return 0;
	ssize_t got = r->tls ? tlsc_read(r->tls, buf, sizeof buf) : read(r->fd, buf, sizeof buf);
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (got <= 0) {
		r->eof = 1;
		return 0;
	}
	int rc = rpc_framer_feed(r->framer, buf, (size_t)got, on_line, r);
	if (rc == RPC_FRAME_OVERSIZE)
		return ctl_errf(e, CTL_SOFTWARE, "%s sent a line over %zu bytes",
				r->target->where, RPCC_MAX_LINE);
	return rc ? ctl_errf(e, CTL_SOFTWARE, "out of memory") : 0;
}

int rpcc_next_note(struct rpcc *r, int timeout_ms, cJSON **note, struct ctl_err *e)
{
	long deadline = clock_ms() + timeout_ms;
	*note = NULL;
	for (;;) {
		if (r->head) {
			struct rpcc_note *n = r->head;
			if (!(r->head = n->next))
				r->tail = NULL;
			*note = n->params;
			free(n);
			return 0;
		}
		if (r->eof || r->fd < 0)
			return ctl_errf(e, CTL_UNAVAILABLE, "byold at %s closed the connection",
					r->target->where);
		long left = timeout_ms < 0 ? -1 : deadline - clock_ms();
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		int rc = pump(r, (int)left, e);
		if (rc)
			return rc;
		if (!r->head && !r->eof)
			return 0; /* a timeout, a signal, or a partial line: let the caller look */
	}
}

/* ---- calling -------------------------------------------------------------------- */

static int send_all(struct rpcc *r, const char *p, size_t n, struct ctl_err *e)
{
	if (r->tls && tlsc_write(r->tls, p, n) != 0)
		return ctl_errf(e, CTL_UNAVAILABLE, "lost the connection to byold at %s",
				r->target->where);
	while (n > 0 && !r->tls) {
		ssize_t w = send(r->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ctl_errf(e, CTL_UNAVAILABLE, "lost the connection to byold at %s: %s",
					r->target->where, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_request(struct rpcc *r, const char *method, cJSON *params, struct ctl_err *e)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(req, "id", (double)(r->want_id = ++r->next_id));
	cJSON_AddStringToObject(req, "method", method);
	if (params)
		cJSON_AddItemToObject(req, "params", params);
	char *text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		return ctl_errf(e, CTL_SOFTWARE, "out of memory");
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return ctl_errf(e, CTL_SOFTWARE, "out of memory");
	}
	memcpy(line + n, "\n", 2);
	int rc = send_all(r, line, n + 1, e);
	free(line);
	return rc;
}

/* The exit code for a JSON-RPC error code. */
static int exit_for(int code)
{
	switch (code) {
	case RPC_INVALID_PARAMS: return CTL_BAD_SPEC;
	case RPC_NOT_FOUND: return CTL_NOT_FOUND;
	case RPC_BUSY: case RPC_BAD_STATE: return CTL_BUSY;
	case RPC_UNAUTHORIZED: return CTL_NOPERM;
	case RPC_METHOD_NOT_FOUND: return CTL_UNAVAILABLE;
	default: return CTL_SOFTWARE;
	}
}

/* A JSON-RPC error object as e: "field: reason" when data names a field. */
static int error_reply(struct rpcc *r, const char *method, const cJSON *err, struct ctl_err *e)
{
	int code = (int)json_num(err, "code");
	const char *msg = json_str(err, "message");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(err, "data");
	const char *field = json_str(data, "field"), *reason = json_str(data, "reason");
	if (code == RPC_METHOD_NOT_FOUND)
		ctl_errf(e, CTL_UNAVAILABLE, "byold at %s does not know %s — it is older than "
			 "this byolctl (%s)", r->target->where, method, BYOL_VERSION);
	else if (field && reason)
		ctl_errf(e, exit_for(code), "%s: %s", field, reason);
	else
		ctl_errf(e, exit_for(code), "%s", msg ? msg : "error without a message");
	e->code = code;
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
	return e->exit;
}

int rpcc_call(struct rpcc *r, const char *method, cJSON *params, cJSON **result,
	      struct ctl_err *e)
{
	*result = NULL;
	if (r->fd < 0) {
		cJSON_Delete(params);
		return ctl_errf(e, CTL_UNAVAILABLE, "not connected to byold");
	}
	int rc = send_request(r, method, params, e);
	long deadline = clock_ms() + RPCC_CALL_TIMEOUT_MS;
	while (!rc && !r->reply && !r->eof && clock_ms() < deadline)
		rc = pump(r, (int)(deadline - clock_ms()), e);
	if (rc)
		return rc;
	if (!r->reply && r->eof)
		return ctl_errf(e, CTL_UNAVAILABLE, "byold at %s closed the connection during %s "
				"(did it stop?)", r->target->where, method);
	if (!r->reply)
		return ctl_errf(e, CTL_UNAVAILABLE, "byold at %s did not answer %s in %d s",
				r->target->where, method, RPCC_CALL_TIMEOUT_MS / 1000);
	cJSON *reply = r->reply, *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	r->reply = NULL;
	if (err)
		rc = error_reply(r, method, err, e);
	else if (!(*result = cJSON_DetachItemFromObjectCaseSensitive(reply, "result")))
		rc = ctl_errf(e, CTL_SOFTWARE, "byold's reply to %s has no result", method);
	cJSON_Delete(reply);
	return rc;
}
