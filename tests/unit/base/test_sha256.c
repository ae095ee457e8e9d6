/* sha256: the FIPS 180-4 example vectors (NIST CSRC), split feeds, a million 'a'. */
#include "sha256.h"
#include "test.h"

#include <stdlib.h>

static void digest_of(const char *s, size_t n, size_t piece, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    for (size_t i = 0; i < n; i += piece) sha256_update(&c, s + i, n - i < piece ? n - i : piece);
    uint8_t d[32];
    sha256_final(&c, d);
    sha256_hex(d, hex);
}

TEST(sha256_fips_vectors) {
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        size_t n = strlen(v[i].in);
        for (size_t piece = 1; piece <= 65; piece += 16) {
            char hex[65];
            digest_of(v[i].in, n, piece, hex);
            CHECK_EQ_STR(hex, v[i].hex);
        }
    }
}

TEST(sha256_million_a) {
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    char hex[65];
    digest_of(a, n, 4099, hex);
    CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

TEST(sha256_padding_boundaries) {
    /* 55, 56 and 64 bytes end the message at each padding case */
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    char a[64];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char hex[65];
        digest_of(a, v[i].n, v[i].n, hex);
        CHECK_EQ_STR(hex, v[i].hex);
    }
}
