/*
 * web/session.h — the dashboard's logins: sessions held by a cookie, the CSRF
 * token of each, and the limit on failed logins. No I/O and no clock of its own:
 * callers pass the time, so the rules are tested without waiting.
 *
 * A login (the state directory's token, the one TCP clients auth with) opens a
 * session: a random id (the cookie) and a random CSRF token, which every
 * state-changing request must present beside the cookie. A session unused for
 * idle_s ends; past WEB_SESSIONS_MAX the least recently used one makes room.
 * Failed logins, counted per client address: after WEB_LOGIN_FAILS of them
 * within WEB_LOGIN_WINDOW_S, that address's logins are refused until the window
 * has passed (the token has 256 bits, so this is about noise in the log and
 * wasted work, not about guessing; other addresses may still log in). At most
 * WEB_LOGIN_PEERS addresses are remembered, the one that failed longest ago
 * making room.
 */
#ifndef BYOL_WEB_SESSION_H
#define BYOL_WEB_SESSION_H

#define WEB_SESSIONS_MAX 64
#define WEB_SECRET_LEN 64     /* hex characters of a session id or CSRF token (RPC_TOKEN_LEN) */
#define WEB_LOGIN_FAILS 5
#define WEB_LOGIN_WINDOW_S 60.0
#define WEB_LOGIN_PEERS 256

struct web_session {
	char id[WEB_SECRET_LEN + 1];   /* "" = a free slot */
	char csrf[WEB_SECRET_LEN + 1];
	double last_used;
};

struct web_login_peer {
	char addr[64];                    /* "" = a free slot */
	double fails[WEB_LOGIN_FAILS];    /* times of its latest failed logins, a ring */
	int next_fail;
};

struct web_sessions {
	struct web_session s[WEB_SESSIONS_MAX];
	double idle_s;                    /* a session unused this long ends */
	struct web_login_peer peers[WEB_LOGIN_PEERS];
};

void web_sessions_init(struct web_sessions *w, double idle_s);

/* A new session from fresh random secrets; NULL if the system has no randomness. */
const struct web_session *web_session_open(struct web_sessions *w, double now);

/* The live session with this id (it counts as used now), else NULL. */
const struct web_session *web_session_find(struct web_sessions *w, const char *id, double now);

void web_session_close(struct web_sessions *w, const char *id);

/* Whether presented is the session's CSRF token (in constant time). */
int web_csrf_ok(const struct web_session *s, const char *presented);

/* Seconds until a login from addr may be tried (0: now), and the record of a
   failed one. */
double web_login_wait(const struct web_sessions *w, const char *addr, double now);
void web_login_failed(struct web_sessions *w, const char *addr, double now);

#endif
