/* fileio.h — whole-file read and write for the programs around the core (the core itself does no
 * I/O: it reads models from and writes them to memory buffers). */
#ifndef COPE_FILEIO_H
#define COPE_FILEIO_H

#include <stdio.h>
#include <stdlib.h>

/* Returns a malloc'd buffer with the file's bytes (plus a NUL), or NULL. */
static inline void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, (cap *= 2) + 1);
            if (!nb) free(b);
            b = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        return NULL;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

/* Writes len bytes; returns 0 on success. */
static inline int write_file(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, len, f);
    int bad = fclose(f) != 0 || w != len;
    return bad ? -1 : 0;
}

#endif
