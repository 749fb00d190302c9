/*
 * tls_client.c — byolctl's TLS (see tls_client.h).
 */
#include "tls_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl.h"

struct tlsc {
	SSL_CTX *ctx;
	SSL *ssl;
};

static const char *reason(void)
{
	unsigned long code = ERR_get_error();
	const char *r = code ? ERR_reason_error_string(code) : NULL;
	ERR_clear_error();
	return r ? r : "the connection closed";
}

/* ---- pinning ---------------------------------------------------------------------- */

static void known_hosts_path(char *out, size_t cap)
{
	const char *env = getenv("BYOLCTL_KNOWN_HOSTS"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (env && *env)
		snprintf(out, cap, "%s", env);
	else if (xdg && *xdg)
		snprintf(out, cap, "%s/byolctl/known_hosts", xdg);
	else
		snprintf(out, cap, "%s/.config/byolctl/known_hosts", home ? home : ".");
}

static void fingerprint(X509 *x, char out[96])
{
	unsigned char md[32];
	unsigned n = 0;
	out[0] = 0;
	if (X509_digest(x, EVP_sha256(), md, &n) && n == 32)
		for (unsigned i = 0; i < n; i++)
			snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

/* The fingerprint pinned for name ("" if none) and its line number. */
static int pinned(const char *path, const char *name, char fp[128])
{
	FILE *f = fopen(path, "r");
	char line[512], host[300], value[128];
	int n = 0, at = 0;
	fp[0] = 0;
	while (f && fgets(line, sizeof line, f)) {
		n++;
		if (sscanf(line, "%299s %127s", host, value) == 2 && strcmp(host, name) == 0) {
			snprintf(fp, 128, "%s", value);
			at = n;
		}
	}
	if (f)
		fclose(f);
	return at;
}

/* Creates the file's folders (0700) and appends the line. */
static int pin(const char *path, const char *name, const char *fp)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *p = dir + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(dir, 0700);
			*p = '/';
		}
	FILE *f = fopen(path, "a");
	int ok = f && fprintf(f, "%s %s\n", name, fp) > 0;
	return (f && fclose(f) == 0 && ok) ? 0 : -1;
}

static int check_pin(SSL *ssl, const char *host, const char *port, struct ctl_err *e)
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	char fp[96], want[128], path[4200], name[300];
	if (!x)
		return ctl_errf(e, CTL_NOPERM, "byold at %s:%s sent no certificate", host, port);
	fingerprint(x, fp);
	X509_free(x);
	known_hosts_path(path, sizeof path);
	snprintf(name, sizeof name, "%s:%s", host, port);
	int line = pinned(path, name, want);
	if (line && strcmp(want, fp) == 0)
		return 0;
	if (line)
		return ctl_errf(e, CTL_NOPERM, "the certificate of byold at %s has changed: %s:%d pins "
				"SHA-256 %s, it now shows %s. If byold's certificate was replaced on "
				"purpose (compare with its <state-dir>/tls/fingerprint), delete that "
				"line", name, path, line, want, fp);
	if (pin(path, name, fp) != 0)
		return ctl_errf(e, CTL_NOPERM, "cannot record the certificate of byold at %s in %s: %s",
				name, path, strerror(errno));
	fprintf(stderr, "byolctl: pinned the certificate of byold at %s (SHA-256 %s) in %s; "
		"compare it with byold's <state-dir>/tls/fingerprint\n", name, fp, path);
	return 0;
}

/* ---- the session ------------------------------------------------------------------ */

int tlsc_open(struct tlsc **out, int fd, const char *host, const char *port, const char *ca_file,
	      struct ctl_err *e)
{
	*out = NULL;
	struct tlsc *t = calloc(1, sizeof *t);
	if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		free(t);
		return ctl_errf(e, CTL_SOFTWARE, "tls: out of memory");
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
	int rc = 0;
	if (ca_file && *ca_file) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1)
			rc = ctl_errf(e, CTL_NOT_FOUND, "--tls-ca %s: %s", ca_file, reason());
	}
	if (!rc && (!(t->ssl = SSL_new(t->ctx)) || !SSL_set_fd(t->ssl, fd) ||
		    !SSL_set_tlsext_host_name(t->ssl, host)))
		rc = ctl_errf(e, CTL_SOFTWARE, "tls: out of memory");
	if (!rc && ca_file && *ca_file && SSL_set1_host(t->ssl, host) != 1) /* named, too */
		rc = ctl_errf(e, CTL_SOFTWARE, "tls: cannot check the certificate names %s", host);
	if (!rc && SSL_connect(t->ssl) != 1) {
		long v = ca_file && *ca_file ? SSL_get_verify_result(t->ssl) : X509_V_OK;
		rc = v != X509_V_OK ? ctl_errf(e, CTL_NOPERM, "the certificate of byold at %s:%s fails "
					       "verification against %s: %s", host, port, ca_file,
					       X509_verify_cert_error_string(v))
				    : ctl_errf(e, CTL_UNAVAILABLE, "no TLS at %s:%s (%s) — does byold run with "
					       "--tls on?", host, port, reason());
	}
	if (!rc && !(ca_file && *ca_file))
		rc = check_pin(t->ssl, host, port, e);
	if (rc) {
		tlsc_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

ssize_t tlsc_read(struct tlsc *t, void *buf, size_t n)
{
	int got = SSL_read(t->ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
	if (got > 0)
		return got;
	int code = SSL_get_error(t->ssl, got);
	ERR_clear_error();
	if (code == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = EIO; /* not a stale EINTR the caller would retry on */
	return -1;
}

int tlsc_pending(const struct tlsc *t)
{
	return SSL_pending(t->ssl) > 0;
}

int tlsc_write(struct tlsc *t, const void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		size_t chunk = n - done > 1 << 30 ? 1 << 30 : n - done;
		if (SSL_write_ex(t->ssl, (const char *)buf + done, chunk, &chunk) != 1) {
			ERR_clear_error();
			return -1;
		}
		done += chunk;
	}
	return 0;
}

void tlsc_close(struct tlsc *t)
{
	if (!t)
		return;
	if (t->ssl)
		SSL_shutdown(t->ssl);
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
}
