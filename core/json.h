/* json.h — internal: a small strict JSON parser into a flat node array (for the safetensors
 * header, the model config and the tokenizer) and a growable byte buffer for writing JSON. */
#ifndef COPE_JSON_H
#define COPE_JSON_H

#include <stddef.h>
#include "cope.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type;

typedef struct {
    json_type type;
    int first_child; /* arrays/objects: first element (objects: values; key is in .key) */
    int next;        /* next sibling or -1 */
    int count;       /* arrays/objects: number of elements */
    const char *key; /* object members: decoded, NUL-terminated key */
    size_t key_len;
    const char *str; /* strings: decoded, NUL-terminated (may contain NUL if \u0000) */
    size_t str_len;
    double num;
    int boolean;
    size_t src_begin, src_end; /* byte span of this value in the source text */
} json_node;

typedef struct {
    json_node *nodes;
    int n_nodes;
    char *strings; /* decoded string storage */
} json_doc;

#define JSON_MAX_DEPTH 32

/* Parses exactly one JSON value spanning text[0..len) (surrounding whitespace allowed). */
cope_status json_parse(json_doc *doc, const char *text, size_t len, cope_error *err);
void json_free(json_doc *doc);
/* Member of object node obj with the given key, or -1. */
int json_get(const json_doc *doc, int obj, const char *key);
/* True if number node holds an integer in [lo, hi]; stores it. */
int json_int(const json_doc *doc, int node, long long lo, long long hi, long long *out);

/* Growable buffer */
typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} cope_buf;

void buf_put(cope_buf *b, const void *p, size_t n);
void buf_puts(cope_buf *b, const char *s);
void buf_printf(cope_buf *b, const char *fmt, ...);
void buf_json_string(cope_buf *b, const char *s, size_t n); /* quoted and escaped */

#endif
