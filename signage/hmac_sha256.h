/* HMAC-SHA256 (RFC 2104) with the key's pads hashed once: format.Hmac in C, shared by the
 * compiled audit scanner (audit/_fastscan.c) and the compiled log encoder
 * (playlog/_fastlog.c). OpenSSL's low-level SHA-256 is the fastest way to it. */
#ifndef SIGNAGE_HMAC_SHA256_H
#define SIGNAGE_HMAC_SHA256_H

#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA256_Init & co */
#include <openssl/sha.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    SHA256_CTX inner; /* after the key's inner pad (plain: a fresh SHA-256) */
    SHA256_CTX outer; /* after the key's outer pad */
    int plain;        /* log format 2: plain SHA-256, no key (see plain_init) */
} HmacPads;

static const char HEX[] = "0123456789abcdef";

static inline void hmac_init(HmacPads *h, const void *key, size_t len)
{
    unsigned char k[64] = {0}, pad[64];
    h->plain = 0;
    if (len > 64)
        SHA256((const unsigned char *)key, len, k);
    else
        memcpy(k, key, len);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, 64);
}

/* the log format 2 chain: hmac_digest is then SHA-256(a + b) */
static inline void plain_init(HmacPads *h)
{
    h->plain = 1;
    SHA256_Init(&h->inner);
    SHA256_Init(&h->outer);
}

/* HMAC of a + b (the previous line's mac, then this line's prefix); plain: SHA-256 */
static inline void hmac_digest(const HmacPads *h, const void *a, size_t alen, const void *b,
                               size_t blen, unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned char in[SHA256_DIGEST_LENGTH];
    SHA256_CTX c = h->inner;
    SHA256_Update(&c, a, alen);
    SHA256_Update(&c, b, blen);
    if (h->plain) {
        SHA256_Final(out, &c);
        return;
    }
    SHA256_Final(in, &c);
    c = h->outer;
    SHA256_Update(&c, in, sizeof(in));
    SHA256_Final(out, &c);
}

#endif
