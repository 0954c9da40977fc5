/* fuzz_json.c — libFuzzer harness: the JSON parser (safetensors headers, configs, tokenizers) and
 * the cope_config reader, via a model file whose header carries the fuzzed text as cope_config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cope.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_doc d;
    cope_error err;
    if (json_parse(&d, (const char *)data, size, &err) == COPE_OK) {
        for (int i = 0; i < d.n_nodes; i++) /* touch every node */
            if (d.nodes[i].type == JSON_STR && strlen(d.nodes[i].str) > d.nodes[i].str_len) abort();
        json_free(&d);
    } else if (!err.msg[0]) {
        abort();
    }
    /* the same text as a model's cope_config (with no tensors): exercises config and tokenizer */
    char *cfg = malloc(size + 1);
    memcpy(cfg, data, size);
    cfg[size] = '\0';
    cope_st_tensor none[1];
    void *file;
    size_t len;
    if (strlen(cfg) == size && cope_st_write(none, 0, "cope_config", cfg, &file, &len, NULL) == COPE_OK) {
        cope_model *m;
        if (cope_model_load(&m, file, len, &err) == COPE_OK) cope_model_free(m);
        cope_free(file);
    }
    free(cfg);
    return 0;
}
