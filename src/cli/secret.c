/* idyl secret create|update|list|get|delete: a subnet's secrets. Values
 * come from --from-literal KEY=VALUE or --from-file KEY=PATH, travel
 * base64-encoded under "data", and are never shown back: the server answers
 * with names, keys and times only. */
#include "cli/cli.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/secret.h"
#include "core/subnet.h"

static const struct cli_opt write_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the secret (required)"},
    {"from-literal", OPT_MULTI, "KEY=VALUE", "a key and its value"},
    {"from-file", OPT_MULTI, "KEY=PATH", "a key and the file holding its value"},
    OPT_END,
};

static const struct cli_opt subnet_opt[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the secret (required)"},
    OPT_END,
};

static int secrets_path(const struct cli_args *a, const char *name, char *buf, size_t size,
                        struct idyl_err *err)
{
        if (api_subnet_path(a, "secrets", name, NULL, buf, size, err) < 0)
                return -1;
        return name ? secret_name_check(name, err) : 0;
}

/* Adds key -> base64(value) to data, refusing a repeated key. */
static int data_add(json_t *data, const char *key, const void *value, size_t len,
                    struct idyl_err *err)
{
        char *b64;

        if (secret_key_check(key, err) < 0)
                return -1;
        if (json_object_get(data, key))
                return idyl_err_set(err, IDYL_E_USAGE, "duplicate secret key \"%s\"", key);
        if (len > SECRET_VALUES_MAX)
                return secret_size_check(len, err);
        b64 = malloc(4 * ((len + 2) / 3) + 1);
        if (!b64)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        EVP_EncodeBlock((unsigned char *)b64, value, (int)len);
        json_object_set_new(data, key, json_string(b64));
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
        return 0;
}

/* Reads at most SECRET_VALUES_MAX + 1 bytes of a regular file. */
static int read_value_file(const char *path, char **out, size_t *len, struct idyl_err *err)
{
        FILE *f = fopen(path, "rb");
        struct stat st;
        char *buf;

        if (!f)
                return idyl_err_errno(err, errno, "--from-file: cannot read \"%s\"", path);
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
                fclose(f);
                return idyl_err_set(err, IDYL_E_INVALID, "--from-file: \"%s\" is not a file", path);
        }
        buf = malloc(SECRET_VALUES_MAX + 2);
        if (!buf) {
                fclose(f);
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        }
        *len = fread(buf, 1, SECRET_VALUES_MAX + 1, f);
        fclose(f);
        *out = buf;
        return 0;
}

static int split_pair(char *arg, const char *flag, const char *want, char **value,
                      struct idyl_err *err)
{
        char *eq = strchr(arg, '=');

        if (!eq || eq == arg)
                return idyl_err_set(err, IDYL_E_USAGE, "invalid %s \"%.80s\": want %s", flag, arg,
                                    want);
        *eq = '\0';
        *value = eq + 1;
        return 0;
}

/* The request's "data" from --from-literal and --from-file. */
static int secret_data(const struct cli_args *a, json_t **out, struct idyl_err *err)
{
        const struct cli_value *lit = cli_value(a, "from-literal"),
                               *file = cli_value(a, "from-file");
        json_t *data = json_object();
        size_t total = 0;
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < lit->n; i++) {
                char *value = NULL;

                rc = split_pair(lit->list[i], "--from-literal", "KEY=VALUE", &value, err);
                if (rc == 0)
                        rc = data_add(data, lit->list[i], value, strlen(value), err);
                total += rc == 0 ? strlen(value) : 0;
        }
        for (size_t i = 0; rc == 0 && i < file->n; i++) {
                char *path = NULL, *buf = NULL;
                size_t len = 0;

                rc = split_pair(file->list[i], "--from-file", "KEY=PATH", &path, err);
                if (rc == 0)
                        rc = read_value_file(path, &buf, &len, err);
                if (rc == 0)
                        rc = data_add(data, file->list[i], buf, len, err);
                if (buf) {
                        OPENSSL_cleanse(buf, len);
                        free(buf);
                }
                total += len;
        }
        if (rc == 0 && json_object_size(data) == 0)
                rc = idyl_err_set(err, IDYL_E_USAGE,
                                  "give at least one --from-literal KEY=VALUE or --from-file "
                                  "KEY=PATH");
        if (rc == 0)
                rc = secret_size_check(total, err);
        if (rc < 0) {
                json_decref(data);
                return -1;
        }
        *out = data;
        return 0;
}

static const char *str_or_dash(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s && *s ? s : "-";
}

static void secret_row(struct table *t, const json_t *o)
{
        char keys[1024] = "";
        size_t used = 0, k;
        json_t *key;

        json_array_foreach(json_object_get(o, "keys"), k, key)
        {
                int w = snprintf(keys + used, sizeof(keys) - used, "%s%s", k ? "," : "",
                                 json_string_value(key));
                used += w > 0 && (size_t)w < sizeof(keys) - used ? (size_t)w : 0;
        }
        const char *cells[] = {str_or_dash(o, "name"), keys, str_or_dash(o, "createdAt"),
                               str_or_dash(o, "updatedAt")};
        table_row(t, cells);
}

static void secret_table(FILE *f, const json_t *v)
{
        static const char *const head[] = {"NAME", "KEYS", "CREATED", "UPDATED"};

        table_print_each(f, v, head, 4, secret_row);
}

static int secret_write(struct cli_ctx *ctx, struct cli_args *a, bool create, struct idyl_err *err)
{
        const char *name = a->pos[0];
        json_t *data, *body;
        char path[160];

        if (secrets_path(a, create ? NULL : name, path, sizeof(path), err) < 0 ||
            secret_name_check(name, err) < 0 || secret_data(a, &data, err) < 0)
                return -1;
        body = json_pack("{s:s,s:o}", "name", name, "data", data);
        return api_print(ctx, a, create ? "POST" : "PUT", path, body, secret_table, err);
}

static int secret_create(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return secret_write(ctx, a, true, err);
}

static int secret_update(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        return secret_write(ctx, a, false, err);
}

static int secret_list(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[160];

        const struct output_tables t = {secret_table, NULL};

        if (secrets_path(a, NULL, path, sizeof(path), err) < 0)
                return -1;
        return api_print_list(ctx, a, path, &t, err);
}

static int secret_get(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[160];

        if (secrets_path(a, a->pos[0], path, sizeof(path), err) < 0)
                return -1;
        return api_print(ctx, a, "GET", path, NULL, secret_table, err);
}

static int secret_delete(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        char path[160];

        if (secrets_path(a, a->pos[0], path, sizeof(path), err) < 0 ||
            api_call(ctx, "DELETE", path, NULL, NULL, err) < 0)
                return -1;
        printf("secret \"%s\" deleted\n", a->pos[0]);
        return 0;
}

const struct cli_command secret_commands[] = {
    {"secret", "create", secret_create, write_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Create a secret in a subnet from literals and files (operator, author).\n"
     "Values are sealed at rest and never shown again."},
    {"secret", "update", secret_update, write_opts, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Replace all keys of a secret; running workloads see it when their\n"
     "container next starts."},
    {"secret", "list", secret_list, subnet_opt, NULL, 0, 0, CMD_API | CMD_OUTPUT,
     "List a subnet's secrets: names and keys, never values."},
    {"secret", "get", secret_get, subnet_opt, "NAME", 1, 1, CMD_API | CMD_OUTPUT,
     "Show a secret's name, keys and times, never its values."},
    {"secret", "delete", secret_delete, subnet_opt, "NAME", 1, 1, CMD_API,
     "Delete a secret no workload uses."},
};

const size_t secret_ncommands = sizeof(secret_commands) / sizeof(secret_commands[0]);
