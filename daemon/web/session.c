/*
 * web/session.c — the dashboard's sessions and login limit (see session.h).
 */
#include "web/session.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "server/rpc.h"

_Static_assert(WEB_SECRET_LEN == RPC_TOKEN_LEN, "secrets compare as tokens do");

void web_sessions_init(struct web_sessions *w, double idle_s)
{
	memset(w, 0, sizeof *w);
	w->idle_s = idle_s;
}

static int random_hex(char out[WEB_SECRET_LEN + 1])
{
	unsigned char raw[WEB_SECRET_LEN / 2];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int alive(const struct web_sessions *w, const struct web_session *s, double now)
{
	return s->id[0] && now - s->last_used < w->idle_s;
}

const struct web_session *web_session_open(struct web_sessions *w, double now)
{
	struct web_session *slot = &w->s[0];
	for (int i = 0; i < WEB_SESSIONS_MAX; i++) {
		struct web_session *s = &w->s[i];
		if (!alive(w, s, now)) {
			slot = s;
			break;
		}
		if (s->last_used < slot->last_used)
			slot = s; /* the least recently used makes room */
	}
	if (random_hex(slot->id) || random_hex(slot->csrf)) {
		memset(slot, 0, sizeof *slot);
		return NULL;
	}
	slot->last_used = now;
	return slot;
}

static struct web_session *lookup(struct web_sessions *w, const char *id)
{
	if (!id || strlen(id) != WEB_SECRET_LEN)
		return NULL;
	for (int i = 0; i < WEB_SESSIONS_MAX; i++)
		if (w->s[i].id[0] && rpc_token_equal(w->s[i].id, id))
			return &w->s[i];
	return NULL;
}

const struct web_session *web_session_find(struct web_sessions *w, const char *id, double now)
{
	struct web_session *s = lookup(w, id);
	if (!s)
		return NULL;
	if (!alive(w, s, now)) {
		memset(s, 0, sizeof *s);
		return NULL;
	}
	s->last_used = now;
	return s;
}

void web_session_close(struct web_sessions *w, const char *id)
{
	struct web_session *s = lookup(w, id);
	if (s)
		memset(s, 0, sizeof *s);
}

int web_csrf_ok(const struct web_session *s, const char *presented)
{
	return s && rpc_token_equal(s->csrf, presented);
}

static const struct web_login_peer *peer_of(const struct web_sessions *w, const char *addr)
{
	for (int i = 0; i < WEB_LOGIN_PEERS; i++)
		if (w->peers[i].addr[0] && strcmp(w->peers[i].addr, addr) == 0)
			return &w->peers[i];
	return NULL;
}

/* The latest failure of p (its ring's newest entry). */
static double latest(const struct web_login_peer *p)
{
	return p->fails[(p->next_fail + WEB_LOGIN_FAILS - 1) % WEB_LOGIN_FAILS];
}

double web_login_wait(const struct web_sessions *w, const char *addr, double now)
{
	const struct web_login_peer *p = peer_of(w, addr);
	if (!p)
		return 0;
	/* the oldest of its last WEB_LOGIN_FAILS failures: within the window, wait */
	double wait = p->fails[p->next_fail] + WEB_LOGIN_WINDOW_S - now;
	return wait > 0 ? wait : 0;
}

void web_login_failed(struct web_sessions *w, const char *addr, double now)
{
	struct web_login_peer *p = (struct web_login_peer *)peer_of(w, addr);
	if (!p) { /* a free slot, else the one whose latest failure is oldest */
		p = &w->peers[0];
		for (int i = 0; i < WEB_LOGIN_PEERS && p->addr[0]; i++)
			if (!w->peers[i].addr[0] || latest(&w->peers[i]) < latest(p))
				p = &w->peers[i];
		memset(p, 0, sizeof *p);
		snprintf(p->addr, sizeof p->addr, "%s", addr);
		for (int i = 0; i < WEB_LOGIN_FAILS; i++)
			p->fails[i] = -1e300;
	}
	p->fails[p->next_fail] = now;
	p->next_fail = (p->next_fail + 1) % WEB_LOGIN_FAILS;
}
