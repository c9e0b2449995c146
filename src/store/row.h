/* The row codec both store backends share: how a stored row becomes a
 * subnet, workload, node, token, event, audit record or usage sum, and how
 * a subnet, workload or node becomes the parameters of a write, column by
 * column in the order of the backend's *_COLUMNS lists. A backend supplies
 * the column access (struct store_row) and the parameter sink (struct
 * store_params) over its own statement or result; its SQL stays its own.
 * Only the backends and store.c include it. */
#ifndef IDYL_STORE_ROW_H
#define IDYL_STORE_ROW_H

#include <stdint.h>

#include "store/store.h"

/* One row of a result, read by column number (0-based). */
struct store_row {
        /* The column as text, NULL for SQL NULL; valid while the row is. */
        const char *(*text)(const struct store_row *r, int col);
        /* The column as an integer, 0 for SQL NULL. */
        int64_t (*integer)(const struct store_row *r, int col);
        const void *result; /* the backend's statement or result */
        int row;            /* the row's number in it, where the backend counts rows */
};

/* The parameters of one statement, appended in order. */
struct store_params {
        /* Appends text; NULL appends SQL NULL. The backend copies v or
         * keeps it until the statement runs, as its own parameters do. */
        void (*text)(struct store_params *p, const char *v);
        void (*integer)(struct store_params *p, int64_t v);
        void *target; /* the backend's statement or parameter list */
        int next;     /* the next parameter's number, for a backend that binds by number */
};

/* Column `col` copied into buf (cut to size - 1 bytes; "" for NULL). */
void store_row_copy(const struct store_row *r, int col, char *buf, size_t size);

/* Readers: each clears *out first. store_workload_read returns -1 when a
 * copy runs out of memory (the fields it could not copy are NULL; the
 * caller releases the workload), else 0. */
void store_subnet_read(const struct store_row *r, struct idyl_subnet *out);
int store_workload_read(const struct store_row *r, struct idyl_workload *out);
void store_usage_read(const struct store_row *r, struct idyl_node_usage *out);
void store_event_read(const struct store_row *r, struct idyl_event *out);
void store_node_read(const struct store_row *r, struct idyl_node *out);
void store_token_read(const struct store_row *r, struct idyl_token *out);
void store_audit_read(const struct store_row *r, struct idyl_audit *out);

/* Writers, in *_COLUMNS order. The subnet's class and backend sets are
 * joined into the caller's buffers (of `size` bytes each), which must live
 * until the statement runs. */
void store_subnet_write(struct store_params *p, const struct idyl_subnet *sn, char *classes,
                        char *backends, size_t size);
void store_workload_write(struct store_params *p, const struct idyl_workload *w);
void store_node_write(struct store_params *p, const struct idyl_node *nd);

#endif
