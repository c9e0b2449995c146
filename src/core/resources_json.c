/* Resource quantities in JSON; the rules are core/workload.c's parsers. */
#include "core/resources_json.h"

#include <stdio.h>

#include "core/workload.h"

int json_cpu(const json_t *v, int64_t *milli, struct idyl_err *err)
{
        char buf[64];

        if (json_is_string(v))
                return resource_cpu_parse(json_string_value(v), milli, err);
        if (json_is_number(v)) {
                snprintf(buf, sizeof(buf), "%.6g", json_number_value(v));
                return resource_cpu_parse(buf, milli, err);
        }
        return idyl_err_set(err, IDYL_E_INVALID,
                            "field \"cpu\" must be a number of cores or a string such as 500m");
}

int json_memory(const json_t *v, int64_t *bytes, struct idyl_err *err)
{
        char buf[64];

        if (json_is_string(v))
                return resource_memory_parse(json_string_value(v), bytes, err);
        if (json_is_integer(v)) {
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return resource_memory_parse(buf, bytes, err);
        }
        return idyl_err_set(err, IDYL_E_INVALID, "field \"memory\" must be a string such as 256Mi");
}
