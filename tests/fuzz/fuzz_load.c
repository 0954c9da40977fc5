/* fuzz_load.c — libFuzzer harness: the safetensors model loader on arbitrary bytes. A file that
 * loads must also save and load again to the same parameters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cope_model *m;
    cope_error err;
    if (cope_model_load(&m, data, size, &err) != COPE_OK) {
        if (!err.msg[0]) abort(); /* every failure names its problem */
        return 0;
    }
    void *buf;
    size_t len;
    if (cope_model_save(m, &buf, &len, &err) != COPE_OK) abort();
    cope_model *m2;
    if (cope_model_load(&m2, buf, len, &err) != COPE_OK) abort();
    if (memcmp(cope_model_params(m), cope_model_params(m2), cope_model_num_params(m) * sizeof(float))) abort();
    cope_model_free(m2);
    cope_free(buf);
    cope_model_free(m);
    return 0;
}
