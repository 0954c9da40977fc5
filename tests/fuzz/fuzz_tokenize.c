/* fuzz_tokenize.c — libFuzzer harness: the three tokenizers on arbitrary bytes, and a vocabulary
 * built from them. Spans must lie inside the text, in order, and every id inside the vocabulary. */
#include <stdint.h>
#include <stdlib.h>

#include "cope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const words[] = {"<unk>", "a", "=", "0", ";", "pass;", "++;", "print", "\n"};
    static const char *const chars[] = {"<unk>", "a", "\xc3\xa9", " ", "\n", "\xf0\x9f\x98\x80"};
    static const char *const text[] = {"<unk>", "a", "=", ".", "the", "\n", "caf\xc3\xa9"};
    for (int k = 0; k < 4; k++) {
        cope_tokenizer *t;
        cope_status st = k == 0   ? cope_tokenizer_new(&t, COPE_TOK_WORDS, words, 9, NULL)
                         : k == 1 ? cope_tokenizer_new(&t, COPE_TOK_CHARS, chars, 6, NULL)
                         : k == 2 ? cope_tokenizer_new(&t, COPE_TOK_TEXT, text, 7, NULL)
                                  : cope_tokenizer_from_text(&t, COPE_TOK_TEXT, (const char *)data, size, 16, 1, NULL);
        if (st) abort();
        int ids[64], spans[128], n, unk;
        if (cope_tokenize(t, (const char *)data, size, ids, spans, 64, &n, &unk, NULL) != COPE_OK) abort();
        for (int i = 0; i < n && i < 64; i++) {
            if (ids[i] < 0 || ids[i] >= cope_tokenizer_size(t)) abort();
            if (i > 0 && spans[2 * i] < spans[2 * i - 2] + spans[2 * i - 1]) abort();
            if (spans[2 * i] < 0 || spans[2 * i + 1] < 1 || (size_t)spans[2 * i] + (size_t)spans[2 * i + 1] > size)
                abort();
        }
        if (unk > n) abort();
        cope_tokenizer_free(t);
    }
    return 0;
}
