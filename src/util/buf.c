/* Bounded growable buffers. */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

int idyl_buf_append(struct idyl_buf *b, const void *data, size_t n)
{
        if (n > b->max || b->len > b->max - n)
                return -2;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                char *p;

                while (cap < b->len + n + 1)
                        cap *= 2;
                p = realloc(b->data, cap);
                if (!p)
                        return -1;
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

void idyl_buf_release(struct idyl_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

char *idyl_buf_detach(struct idyl_buf *b)
{
        char *p = b->data;

        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}
