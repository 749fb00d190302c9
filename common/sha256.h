/*
 * sha256.h — SHA-256 (FIPS 180-4), for checkpoint digests.
 */
#ifndef BYOL_SHA256_H
#define BYOL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct sha256 {
	uint32_t h[8];
	uint64_t len;        /* bytes hashed so far */
	unsigned char buf[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Finish and write the digest as 64 lowercase hex characters and a NUL. */
void sha256_hex(struct sha256 *s, char out[65]);

/* The digest of a whole file. */
int sha256_file(const char *path, char out[65], struct err *e);

#endif
