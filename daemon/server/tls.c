/*
 * server/tls.c — TLS sessions over memory BIOs, and byold's own certificate
 * (see tls.h).
 */
#include "server/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"

struct tls_server {
	SSL_CTX *ctx;
};

struct tls_session {
	SSL *ssl;
	BIO *in, *out; /* network side: bytes read from the client, bytes to send it */
	int failed;
};

/* OpenSSL's reason for the last failure, for messages. */
static const char *ssl_reason(void)
{
	unsigned long code = ERR_get_error();
	const char *r = code ? ERR_reason_error_string(code) : NULL;
	ERR_clear_error();
	return r ? r : "unknown error";
}

int tls_server_new(struct tls_server **out, const char *cert_file, const char *key_file,
		   struct err *e)
{
	*out = NULL;
	struct tls_server *t = calloc(1, sizeof *t);
	if (!t || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
		free(t);
		return err_set(e, ERR_NOMEM, "tls: out of memory");
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(t->ctx, 0); /* no resumption: every client does a full handshake */
	int rc = 0;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1)
		rc = err_set(e, ERR_INVALID, "tls-cert %s: %s", cert_file, ssl_reason());
	else if (SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
		 SSL_CTX_check_private_key(t->ctx) != 1)
		rc = err_set(e, ERR_INVALID, "tls-key %s: %s (it must be the private key of %s)",
			     key_file, ssl_reason(), cert_file);
	if (rc) {
		tls_server_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void tls_server_free(struct tls_server *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

struct tls_session *tls_session_new(struct tls_server *t)
{
	struct tls_session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->ssl = SSL_new(t->ctx);
	s->in = BIO_new(BIO_s_mem());
	s->out = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->in || !s->out) {
		SSL_free(s->ssl);
		BIO_free(s->in);
		BIO_free(s->out);
		free(s);
		return NULL;
	}
	SSL_set_bio(s->ssl, s->in, s->out); /* the SSL owns both now */
	SSL_set_accept_state(s->ssl);
	return s;
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	SSL_free(s->ssl);
	free(s);
}

/* An SSL_* result: 0 needs more bytes, 1 the client's close_notify (no more
   requests; the answers still go), -1 a failure (logged). */
static int outcome(struct tls_session *s, int ret, const char *what)
{
	int code = SSL_get_error(s->ssl, ret);
	if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
		return 0;
	if (code == SSL_ERROR_ZERO_RETURN)
		return 1;
	if (!s->failed)
		log_warn("tls: %s: %s", what, code == SSL_ERROR_SSL ? ssl_reason() : "connection error");
	ERR_clear_error();
	s->failed = 1;
	return -1;
}

int tls_session_feed(struct tls_session *s, const char *in, size_t len,
		     void (*on_plain)(void *ctx, const char *buf, size_t len), void *ctx)
{
	if (s->failed)
		return -1;
	if (len && BIO_write(s->in, in, (int)len) != (int)len)
		return -1;
	if (!SSL_is_init_finished(s->ssl)) {
		int ret = SSL_do_handshake(s->ssl);
		if (ret != 1)
			return outcome(s, ret, "handshake");
	}
	char buf[16384];
	for (;;) {
		int n = SSL_read(s->ssl, buf, sizeof buf);
		if (n <= 0)
			return outcome(s, n, "read");
		on_plain(ctx, buf, (size_t)n);
		if (s->failed)
			return -1;
	}
}

int tls_session_write(struct tls_session *s, const char *buf, size_t len)
{
	if (s->failed)
		return -1;
	while (len > 0) { /* memory BIOs never refuse: only a failure stops this */
		size_t n = len > (1u << 20) ? 1u << 20 : len;
		int w = SSL_write(s->ssl, buf, (int)n);
		if (w <= 0) {
			outcome(s, w, "write");
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

size_t tls_session_output(struct tls_session *s, char **out)
{
	*out = NULL;
	size_t n = BIO_ctrl_pending(s->out);
	if (n == 0 || !(*out = malloc(n)))
		return 0;
	int got = BIO_read(s->out, *out, (int)n);
	if (got <= 0) {
		free(*out);
		*out = NULL;
		return 0;
	}
	return (size_t)got;
}

/* ---- byold's own certificate -------------------------------------------------- */

static int add_san(X509 *x)
{
	char host[256] = "localhost", san[512];
	gethostname(host, sizeof host - 1);
	snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
		 strcmp(host, "localhost") ? ",DNS:" : "", strcmp(host, "localhost") ? host : "");
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	int ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A self-signed certificate for key, valid ten years. */
static X509 *make_certificate(EVP_PKEY *key)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (!x || getentropy(serial, sizeof serial) != 0 ||
	    !(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)"byold", -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) || !add_san(x) ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		x = NULL;
	}
	BN_free(bn);
	return x;
}

/* Write with fn into path (mode), through a temporary file renamed into place. */
static int write_pem(const char *path, mode_t mode, int (*fn)(FILE *, void *), void *obj,
		     struct err *e)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp); /* a stale one; then created anew with its mode, never through a link */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f && fd >= 0)
		close(fd);
	if (!f || !fn(f, obj) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int saved = errno;
		if (f)
			fclose(f);
		unlink(tmp);
		return err_set(e, ERR_IO, "%s: %s", path, saved ? strerror(saved) : ssl_reason());
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	}
	return 0;
}

static int write_key(FILE *f, void *key)
{
	return PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

int tls_self_signed(const char *dir, char *cert, size_t cert_cap, char *key, size_t key_cap,
		    struct err *e)
{
	snprintf(cert, cert_cap, "%s/cert.pem", dir);
	snprintf(key, key_cap, "%s/key.pem", dir);
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", dir, strerror(errno));
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = k ? make_certificate(k) : NULL;
	int rc = !x ? err_set(e, ERR_IO, "tls: cannot make a certificate: %s", ssl_reason())
		    : write_pem(key, 0600, write_key, k, e);
	if (!rc)
		rc = write_pem(cert, 0644, write_cert, x, e);
	X509_free(x);
	EVP_PKEY_free(k);
	if (!rc)
		log_info("tls: made a self-signed certificate, %s", cert);
	return rc;
}

int tls_fingerprint(const char *cert_file, char out[TLS_FINGERPRINT_LEN + 1], struct err *e)
{
	FILE *f = fopen(cert_file, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int ok = x && X509_digest(x, EVP_sha256(), md, &n) && n == 32;
	X509_free(x);
	if (!ok)
		return err_set(e, ERR_INVALID, "tls-cert %s: not a PEM certificate", cert_file);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
	return 0;
}
