/* A growable byte buffer with a hard maximum, for everything filled from
 * the network (as curl's dynbuf): appending past `max` fails, leaving the
 * buffer as it was. The content is always NUL-terminated. */
#ifndef IDYL_BUF_H
#define IDYL_BUF_H

#include <stddef.h>

struct idyl_buf {
        char *data; /* NULL until the first append */
        size_t len;
        size_t cap;
        size_t max; /* largest len allowed */
};

#define IDYL_BUF_INIT(maxlen)                                                                      \
        {                                                                                          \
                NULL, 0, 0, (maxlen)                                                               \
        }

/* Returns 0, -1 on allocation failure, -2 when len would pass max. */
int idyl_buf_append(struct idyl_buf *b, const void *data, size_t n);
/* Frees the content; the buffer can be reused. */
void idyl_buf_release(struct idyl_buf *b);
/* Hands the content to the caller (who frees it) and resets the buffer. */
char *idyl_buf_detach(struct idyl_buf *b);

#endif
