/* --watch on `workload get|list` and `node get`: follows the API watch (a long-poll on the
 * version of the workload or of the subnet's list, server/watch.c) and
 * prints the table once, then one line per object that changed (phase, or
 * a node's status, "deleted" for one that went), flushed as it happens so a pipe or a file
 * sees each line at once. -o json prints one compact object per line. Runs
 * until interrupted, or until the watched workload no longer exists. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#define WATCH_WAIT_S 30 /* seconds one watch request may wait, under the client's timeout */

/* table(f, v) without its header line. */
static void print_rows(FILE *f, const json_t *v, void (*table)(FILE *, const json_t *))
{
        char *text = NULL, *nl;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);

        if (!mem)
                return;
        table(mem, v);
        fclose(mem);
        nl = strchr(text, '\n');
        if (nl)
                fputs(nl + 1, f);
        free(text);
}

static const json_t *find_by_name(const json_t *list, const char *name)
{
        const json_t *o;
        size_t i;

        json_array_foreach(list, i, o)
        {
                if (strcmp(json_string_value(json_object_get(o, "name")) ?: "", name) == 0)
                        return o;
        }
        return NULL;
}

/* Whether two objects differ in more than a node's heartbeat time, which
 * moves every few seconds and is no change to report. */
static bool changed(const json_t *a, const json_t *b)
{
        json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
        bool differ;

        json_object_del(x, "lastHeartbeat");
        json_object_del(y, "lastHeartbeat");
        differ = !json_equal(x, y);
        json_decref(x);
        json_decref(y);
        return differ;
}

/* The objects of `now` that differ from `before`, then those gone (as
 * phase "deleted"). Both are arrays (a single object is a one-row list). */
static json_t *changes(const json_t *before, const json_t *now)
{
        json_t *out = json_array();
        const json_t *o;
        size_t i;

        json_array_foreach(now, i, o)
        {
                const json_t *prev =
                    find_by_name(before, json_string_value(json_object_get(o, "name")) ?: "");
                if (!prev || changed(prev, o))
                        json_array_append(out, (json_t *)o);
        }
        json_array_foreach(before, i, o)
        {
                json_t *gone;

                if (find_by_name(now, json_string_value(json_object_get(o, "name")) ?: ""))
                        continue;
                gone = json_deep_copy(o);
                if (json_is_object(json_object_get(gone, "status"))) /* a workload */
                        json_object_set_new(json_object_get(gone, "status"), "phase",
                                            json_string("deleted"));
                else /* a node */
                        json_object_set_new(gone, "status", json_string("deleted"));
                json_array_append_new(out, gone);
        }
        return out;
}

static void print_changes(const char *format, const json_t *rows, bool first,
                          const struct output_tables *tables)
{
        void (*table)(FILE *, const json_t *) = output_table_of(format, tables);
        const json_t *o;
        size_t i;

        if (strcmp(format, "name") == 0) {
                output_names(stdout, rows);
        } else if (strcmp(format, "json") == 0) {
                json_array_foreach(rows, i, o)
                {
                        char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));

                        if (text)
                                printf("%s\n", text);
                        free(text);
                }
        } else if (first) {
                table(stdout, rows);
        } else if (json_array_size(rows)) {
                print_rows(stdout, rows, table);
        }
        fflush(stdout);
}

int cli_watch(struct cli_ctx *ctx, const char *format, const char *path, const char *param,
              const char *field, const struct output_tables *tables, struct idyl_err *err)
{
        json_t *before = json_array();
        char version[32] = "", url[512];
        bool first = true;

        if (strcmp(format, "yaml") == 0) {
                json_decref(before);
                return idyl_err_set(err, IDYL_E_USAGE, "--watch prints a table or json lines");
        }
        for (;;) {
                json_t *answer = NULL, *now, *rows;

                snprintf(url, sizeof(url), "%s%c%s=%s&wait=%d", path, strchr(path, '?') ? '&' : '?',
                         param, version, version[0] ? WATCH_WAIT_S : 0);
                if (api_call(ctx, "GET", url, NULL, &answer, err) < 0) {
                        json_decref(before);
                        return -1;
                }
                snprintf(version, sizeof(version), "%s",
                         json_string_value(json_object_get(answer, "version")) ?: "");
                now = output_rows(json_object_get(answer, field));
                rows = first ? json_incref(now) : changes(before, now);
                print_changes(format, rows, first, tables);
                json_decref(rows);
                json_decref(before);
                json_decref(answer);
                before = now;
                first = false;
        }
}
