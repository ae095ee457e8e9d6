/* sha256: FIPS 180-4 SHA-256, streaming. Written here rather than taken from
 * OpenSSL: lmterm links libcurl but not libcrypto directly, and a hundred
 * lines keep the base layer on libc alone. Checks downloads from the hub. */
#ifndef LMTERM_SHA256_H
#define LMTERM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* The digest as 64 lower-case hex digits and a NUL. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
