/* Strict field access for request bodies: wrong types and unknown fields
 * are 400s that name the field. */
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                    struct idyl_err *err)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                bool ok = false;
                for (size_t i = 0; allowed[i] && !ok; i++)
                        ok = strcmp(allowed[i], key) == 0;
                if (!ok)
                        return idyl_err_set(err, IDYL_E_INVALID, "unknown field \"%.64s\" in %s",
                                            key, where);
        }
        return 0;
}

int json_get_string(const json_t *obj, const char *key, const char **out, struct idyl_err *err)
{
        json_t *v = json_object_get(obj, key);

        *out = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"%s\" must be a string", key);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"%s\" must not contain NUL", key);
        *out = json_string_value(v);
        return 0;
}

int json_get_string_array(const json_t *obj, const char *key, const char ***out, size_t *n,
                          struct idyl_err *err)
{
        json_t *v = json_object_get(obj, key), *item;
        const char **items;
        size_t i;

        *out = NULL;
        *n = 0;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"%s\" must be an array of strings",
                                    key);
        if (json_array_size(v) == 0)
                return 0;
        items = calloc(json_array_size(v), sizeof(*items));
        if (!items)
                return idyl_err_errno(err, ENOMEM, "field \"%s\"", key);
        json_array_foreach(v, i, item)
        {
                if (!json_is_string(item)) {
                        free(items);
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "field \"%s\" must be an array of strings", key);
                }
                items[i] = json_string_value(item);
        }
        *out = items;
        *n = json_array_size(v);
        return 0;
}

int json_get_bool(const json_t *obj, const char *key, bool *out, struct idyl_err *err)
{
        json_t *v = json_object_get(obj, key);

        *out = false;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return idyl_err_set(err, IDYL_E_INVALID, "field \"%s\" must be true or false", key);
        *out = json_is_true(v);
        return 0;
}
