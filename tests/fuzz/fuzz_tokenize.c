/* fuzz_tokenize.c — libFuzzer harness: both tokenizers on arbitrary bytes. Spans must lie inside
 * the text and every id inside the vocabulary. */
#include <stdint.h>
#include <stdlib.h>

#include "cope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const words[] = {"<unk>", "a", "=", "0", ";", "pass;", "++;", "print", "\n"};
    static const char *const chars[] = {"<unk>", "a", "\xc3\xa9", " ", "\n", "\xf0\x9f\x98\x80"};
    for (int k = 0; k < 2; k++) {
        cope_tokenizer *t;
        if (k == 0 ? cope_tokenizer_new(&t, COPE_TOK_WORDS, words, 9, NULL)
                   : cope_tokenizer_new(&t, COPE_TOK_CHARS, chars, 6, NULL))
            abort();
        int ids[64], spans[128], n, unk;
        if (cope_tokenize(t, (const char *)data, size, ids, spans, 64, &n, &unk, NULL) != COPE_OK) abort();
        for (int i = 0; i < n && i < 64; i++) {
            if (ids[i] < 0 || ids[i] >= cope_tokenizer_size(t)) abort();
            if (spans[2 * i] < 0 || spans[2 * i + 1] < 1 || (size_t)spans[2 * i] + (size_t)spans[2 * i + 1] > size)
                abort();
        }
        if (unk > n) abort();
        cope_tokenizer_free(t);
    }
    return 0;
}
