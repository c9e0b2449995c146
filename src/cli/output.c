/* Output formats: pretty JSON (jansson), YAML (libyaml's emitter), and
 * aligned text tables for people. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static const char *const formats[] = {"table", "wide", "name", "yaml", "json"};

int output_check(const char *format, struct idyl_err *err)
{
        for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
                if (strcmp(format, formats[i]) == 0)
                        return 0;
        return idyl_err_set(err, IDYL_E_USAGE,
                            "invalid --output \"%s\": valid values are table, wide, name, yaml, "
                            "json",
                            format);
}

void (*output_table_of(const char *format, const struct output_tables *t))(FILE *, const json_t *)
{
        return strcmp(format, "wide") == 0 && t->wide ? t->wide : t->table;
}

static const char *object_name(const json_t *o)
{
        static const char *const keys[] = {"name", "slug", "id"};

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                const char *v = json_string_value(json_object_get(o, keys[i]));

                if (v)
                        return v;
        }
        return NULL;
}

void output_names(FILE *f, const json_t *v)
{
        json_t *rows = output_rows(v);
        const json_t *o;
        size_t i;

        json_array_foreach(rows, i, o)
        {
                const char *name = object_name(o);

                if (name)
                        fprintf(f, "%s\n", name);
        }
        json_decref(rows);
}

int output_json(FILE *f, const json_t *v)
{
        /* 15 digits: 0.1 prints as 0.1, and CPU is in millicores anyway */
        if (json_dumpf(v, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0)
                return -1;
        fputc('\n', f);
        return 0;
}

/* YAML 1.1's implicit booleans and nulls (yaml.org/type/bool, /null), any
 * case, and the merge and value keys. */
static bool is_yaml_word(const char *s)
{
        static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y",
                                            "n",    "null",  "~",   "<<", "=",  NULL};

        for (size_t i = 0; words[i]; i++)
                if (strcasecmp(s, words[i]) == 0)
                        return true;
        return false;
}

/* Whether s could read as a YAML 1.1 (or 1.2) int or float: decimal,
 * octal (017, 0o17), hex, binary, with `_` separators, sexagesimal (12:30,
 * 1:20:30.5), exponents, `.5`, `1.2.3` and .inf/.nan. Errs towards yes:
 * quoting a string that needed none changes nothing a reader sees. */
static bool is_yaml_number(const char *s)
{
        bool digit = false;

        if (*s == '+' || *s == '-')
                s++;
        if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, ".nan") == 0)
                return true;
        if (s[0] == '0' && s[1] && strchr("xXoObB", s[1]) && s[2])
                return strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2);
        if (!isdigit((unsigned char)s[0]) && !(s[0] == '.' && isdigit((unsigned char)s[1])))
                return false;
        for (const char *p = s; *p; p++) {
                if (isdigit((unsigned char)*p))
                        digit = true;
                else if (!strchr("_.:eE+-", *p))
                        return false;
        }
        return digit;
}

/* Dates and timestamps (yaml.org/type/timestamp): 2001-12-14,
 * 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10 -5: anything that
 * opens with YYYY-M. */
static bool is_yaml_timestamp(const char *s)
{
        for (int i = 0; i < 4; i++)
                if (!isdigit((unsigned char)s[i]))
                        return false;
        return s[4] == '-' && isdigit((unsigned char)s[5]);
}

/* True when a plain scalar would read back as something other than the same
 * string in a YAML 1.1 reader (a bool, null, number or timestamp), would
 * lose its edge whitespace, or holds control characters: it must be
 * double-quoted (escaped, so every scalar stays on one line). */
static bool needs_quotes(const char *s)
{
        size_t len = strlen(s);
        char *end;

        if (!len || isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
                return true;
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return true;
        if (is_yaml_word(s) || is_yaml_number(s) || is_yaml_timestamp(s))
                return true;
        strtod(s, &end);
        return *end == '\0';
}

/* The shortest of %.15g and %.17g that reads back as d: 0.1, not
 * 0.10000000000000001. */
static void real_format(double d, char *buf, size_t size)
{
        snprintf(buf, size, "%.15g", d);
        if (strtod(buf, NULL) != d)
                snprintf(buf, size, "%.17g", d);
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
        return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, bool quote)
{
        yaml_event_t ev;

        yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1,
                                     quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                           : YAML_ANY_SCALAR_STYLE);
        return emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
        yaml_event_t ev;
        const char *key;
        json_t *item;
        size_t i;
        char num[64];

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
                if (emit(em, &ev) < 0)
                        return -1;
                json_object_foreach((json_t *)v, key, item)
                {
                        if (emit_scalar(em, key, needs_quotes(key)) < 0 || emit_value(em, item) < 0)
                                return -1;
                }
                yaml_mapping_end_event_initialize(&ev);
                return emit(em, &ev);
        case JSON_ARRAY:
                yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                     json_array_size(v) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                        : YAML_FLOW_SEQUENCE_STYLE);
                if (emit(em, &ev) < 0)
                        return -1;
                json_array_foreach(v, i, item)
                {
                        if (emit_value(em, item) < 0)
                                return -1;
                }
                yaml_sequence_end_event_initialize(&ev);
                return emit(em, &ev);
        case JSON_STRING:
                return emit_scalar(em, json_string_value(v), needs_quotes(json_string_value(v)));
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return emit_scalar(em, num, false);
        case JSON_REAL:
                real_format(json_real_value(v), num, sizeof(num));
                return emit_scalar(em, num, false);
        case JSON_TRUE:
                return emit_scalar(em, "true", false);
        case JSON_FALSE:
                return emit_scalar(em, "false", false);
        case JSON_NULL:
                return emit_scalar(em, "null", false);
        }
        return -1;
}

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
        return fwrite(buffer, 1, size, data) == size;
}

/* libyaml writes a block sequence under a mapping key at the key's own
 * indentation ("key:\n- a"); the product docs indent it ("key:\n  - a").
 * Every scalar is on one line (no wrapping, control characters escaped),
 * so this re-indents line by line: a "- " line after a "key:" line opens
 * such a sequence, which lasts while lines are deeper than it or are its
 * further items, and each open one shifts its lines by two. */
static void yaml_reindent(FILE *f, char *text)
{
        size_t open[64], nopen = 0;
        bool after_key = false;

        for (char *line = text, *next; line && *line; line = next) {
                size_t indent = strspn(line, " "), len;
                const char *body = line + indent;
                bool item = body[0] == '-' && (body[1] == ' ' || body[1] == '\n');

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                while (nopen && (indent < open[nopen - 1] || (indent == open[nopen - 1] && !item)))
                        nopen--;
                if (item && after_key && (!nopen || open[nopen - 1] < indent) && nopen < 64)
                        open[nopen++] = indent;
                fprintf(f, "%*s%s\n", (int)(2 * nopen), "", line);
                len = strlen(line);
                after_key = len > 0 && line[len - 1] == ':';
        }
}

int output_yaml(FILE *f, const json_t *v, struct idyl_err *err)
{
        yaml_emitter_t em;
        yaml_event_t ev;
        char *text = NULL;
        size_t size = 0;
        FILE *mem;
        int rc = -1;

        mem = open_memstream(&text, &size);
        if (!mem)
                return idyl_err_errno(err, errno, "yaml: open_memstream");
        if (!yaml_emitter_initialize(&em)) {
                fclose(mem);
                free(text);
                return idyl_err_set(err, IDYL_E_INTERNAL, "yaml emitter");
        }
        yaml_emitter_set_output(&em, yaml_write, mem);
        yaml_emitter_set_unicode(&em, 1);
        yaml_emitter_set_width(&em, -1);
        yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
        if (emit(&em, &ev) < 0)
                goto out;
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        if (emit(&em, &ev) < 0 || emit_value(&em, v) < 0)
                goto out;
        yaml_document_end_event_initialize(&ev, 1);
        if (emit(&em, &ev) < 0)
                goto out;
        yaml_stream_end_event_initialize(&ev);
        if (emit(&em, &ev) < 0)
                goto out;
        rc = 0;
out:
        if (rc < 0)
                idyl_err_set(err, IDYL_E_INTERNAL, "yaml: %s", em.problem ? em.problem : "emit");
        yaml_emitter_delete(&em);
        fclose(mem);
        if (rc == 0)
                yaml_reindent(f, text);
        free(text);
        return rc;
}

int output_print_tables(const char *format, const json_t *v, const struct output_tables *t,
                        struct idyl_err *err)
{
        if (strcmp(format, "json") == 0)
                return output_json(stdout, v);
        if (strcmp(format, "yaml") == 0)
                return output_yaml(stdout, v, err);
        if (strcmp(format, "name") == 0) {
                output_names(stdout, v);
                return 0;
        }
        output_table_of(format, t)(stdout, v);
        return 0;
}

int output_print(const char *format, const json_t *v, void (*table)(FILE *f, const json_t *v),
                 struct idyl_err *err)
{
        const struct output_tables t = {table, NULL};

        return output_print_tables(format, v, &t, err);
}

void table_init(struct table *t, size_t ncols)
{
        memset(t, 0, sizeof(*t));
        t->ncols = ncols;
}

void table_row(struct table *t, const char *const *cells)
{
        if (t->nrows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 8;
                char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
                if (!p)
                        return;
                t->cells = p;
                t->cap = cap;
        }
        for (size_t c = 0; c < t->ncols; c++)
                t->cells[t->nrows * t->ncols + c] = strdup(cells[c] && *cells[c] ? cells[c] : "-");
        t->nrows++;
}

void table_print(FILE *f, const struct table *t)
{
        size_t width[16] = {0};

        for (size_t r = 0; r < t->nrows; r++)
                for (size_t c = 0; c < t->ncols && c < 16; c++) {
                        const char *s = t->cells[r * t->ncols + c];
                        size_t len = s ? strlen(s) : 0;
                        if (len > width[c])
                                width[c] = len;
                }
        for (size_t r = 0; r < t->nrows; r++) {
                for (size_t c = 0; c < t->ncols; c++) {
                        const char *s = t->cells[r * t->ncols + c];
                        if (c + 1 == t->ncols)
                                fprintf(f, "%s\n", s ? s : "");
                        else
                                fprintf(f, "%-*s  ", (int)width[c < 16 ? c : 15], s ? s : "");
                }
        }
}

void table_release(struct table *t)
{
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        memset(t, 0, sizeof(*t));
}

void output_age(long long since_unix, char *buf, size_t size)
{
        long long d = (long long)time(NULL) - since_unix;

        if (d < 0)
                d = 0;
        if (d < 120)
                snprintf(buf, size, "%llds", d);
        else if (d < 7200)
                snprintf(buf, size, "%lldm", d / 60);
        else if (d < 172800)
                snprintf(buf, size, "%lldh", d / 3600);
        else
                snprintf(buf, size, "%lldd", d / 86400);
}

json_t *output_rows(const json_t *v)
{
        return json_is_object(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
}

void table_print_each(FILE *f, const json_t *v, const char *const *header, size_t ncols,
                      void (*add_row)(struct table *t, const json_t *item))
{
        json_t *rows = output_rows(v);
        const json_t *item;
        struct table t;
        size_t i;

        table_init(&t, ncols);
        table_row(&t, header);
        json_array_foreach(rows, i, item) add_row(&t, item);
        table_print(f, &t);
        table_release(&t);
        json_decref(rows);
}

void output_list_cell(const json_t *arr, char *buf, size_t size)
{
        const json_t *item;
        size_t i, len = 0;

        buf[0] = '\0';
        json_array_foreach(arr, i, item)
        {
                int w = snprintf(buf + len, size - len, "%s%s", i ? "," : "",
                                 json_string_value(item) ?: "");

                if (w < 0 || (size_t)w >= size - len)
                        return;
                len += (size_t)w;
        }
}
