/* error.c — status codes in words and the one way an error is reported: cope_fail fills the
 * caller's cope_error (code + message naming the field or tensor) and returns the code, so every
 * fallible function ends in `return cope_fail(err, COPE_ERR_..., "...", ...)`. */
#include <stdarg.h>
#include <stdio.h>

#include "cope.h"

/* One row per status, in enum order: the short name (for programs: the wasm module's CopeError
 * carries it) and the words (for people). */
static const struct {
    const char *name, *words;
} statuses[COPE_STATUS_COUNT] = {
    {"ok", "ok"},
    {"nomem", "out of memory"},
    {"arg", "bad argument"},
    {"config", "bad config"},
    {"json", "bad JSON"},
    {"header", "bad safetensors header"},
    {"truncated", "truncated file"},
    {"dtype", "bad dtype"},
    {"shape", "bad shape"},
    {"offsets", "bad data offsets"},
    {"overlap", "overlapping tensors"},
    {"missing", "missing tensor or key"},
    {"unknown", "unknown tensor or key"},
    {"nonfinite", "non-finite value"},
    {"token", "bad token"},
    {"context", "sequence too long"},
    {"limit", "limit exceeded"},
    {"nan_loss", "non-finite loss"},
};

const char *cope_strerror(cope_status s) {
    return (unsigned)s < COPE_STATUS_COUNT ? statuses[s].words : "unknown status";
}

const char *cope_status_name(cope_status s) { return (unsigned)s < COPE_STATUS_COUNT ? statuses[s].name : NULL; }

cope_status cope_fail(cope_error *err, cope_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
