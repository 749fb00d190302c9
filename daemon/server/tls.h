/*
 * server/tls.h — TLS for byold's TCP listeners (OpenSSL), without any I/O of
 * its own: a session turns the bytes a client sent into plaintext and the
 * plaintext byold answers into bytes to send, through memory BIOs, so the
 * libuv loop keeps owning the sockets.
 *
 * The certificate is --tls-cert/--tls-key, or one byold makes at its first
 * start with TLS (tls_self_signed): an EC P-256 key and a self-signed
 * certificate for localhost, the loopback addresses and the host's name, in
 * <state>/tls/. Clients pin its SHA-256 fingerprint (tls_fingerprint), which
 * byold logs at every start. TLS 1.3 only: the clients are byolctl and
 * browsers, which all speak it.
 *
 *	struct tls_server *t;                 // once, at start-up
 *	tls_server_new(&t, cert, key, &e);
 *	struct tls_session *s = tls_session_new(t);   // per connection
 *	tls_session_feed(s, bytes, n, on_plain, ctx); // bytes read → plaintext
 *	tls_session_write(s, text, n);                // plaintext to encrypt
 *	n = tls_session_output(s, &out);              // bytes to write (free(out))
 */
#ifndef BYOL_SERVER_TLS_H
#define BYOL_SERVER_TLS_H

#include <stddef.h>

#include "err.h"

#define TLS_FINGERPRINT_LEN 95 /* "AB:CD:…", 32 bytes */

struct tls_server;
struct tls_session;

int tls_server_new(struct tls_server **t, const char *cert_file, const char *key_file,
		   struct err *e);
void tls_server_free(struct tls_server *t);

/* A session for one accepted connection; NULL when out of memory. */
struct tls_session *tls_session_new(struct tls_server *t);
void tls_session_free(struct tls_session *s);

/* Bytes from the client: each piece of plaintext they carry goes to on_plain.
   0; 1 after the client's close_notify (it sends no more, but reads the answers
   still owed); -1 when the connection must close (a failed handshake, plaintext
   sent to the TLS port, a bad record), the reason logged. */
int tls_session_feed(struct tls_session *s, const char *in, size_t len,
		     void (*on_plain)(void *ctx, const char *buf, size_t len), void *ctx);

/* Plaintext to send (encrypted into the output). 0 or -1. */
int tls_session_write(struct tls_session *s, const char *buf, size_t len);

/* The encrypted bytes waiting to be written, taken: *out is malloc'd (NULL when
   there are none or out of memory). */
size_t tls_session_output(struct tls_session *s, char **out);

/* The certificate and key in dir (cert.pem, key.pem, created if missing), with
   the paths written to cert and key. */
int tls_self_signed(const char *dir, char *cert, size_t cert_cap, char *key, size_t key_cap,
		    struct err *e);

/* The SHA-256 fingerprint of the certificate in cert_file, "AB:CD:…". */
int tls_fingerprint(const char *cert_file, char out[TLS_FINGERPRINT_LEN + 1], struct err *e);

#endif
