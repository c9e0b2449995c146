/* Resource quantities in JSON; the rules are core/workload.c's parsers. */
#include "core/resources_json.h"

#include <math.h>
#include <stdio.h>

#include "core/workload.h"

int json_cpu(const json_t *v, int64_t *milli, struct idyl_err *err)
{
        char buf[64];

        if (json_is_string(v))
                return resource_cpu_parse(json_string_value(v), milli, err);
        if (json_is_integer(v)) {
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return resource_cpu_parse(buf, milli, err);
        }
        if (json_is_real(v)) {
                /* exact to the millicore, or refused: never rounded quietly */
                double m = json_real_value(v) * 1000.0;

                if (!isfinite(m) || fabs(m - nearbyint(m)) > 1e-6)
                        return idyl_err_set(err, IDYL_E_INVALID,
                                            "invalid cpu %.17g: at most 3 decimals (1m is the "
                                            "smallest unit)",
                                            json_real_value(v));
                snprintf(buf, sizeof(buf), "%.3f", json_real_value(v));
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

int json_resources(const json_t *r, int64_t *cpu_milli, int64_t *memory, int *gpus,
                   struct idyl_err *err)
{
        const json_t *cpu = json_object_get(r, "cpu"), *mem = json_object_get(r, "memory");

        if ((cpu && json_cpu(cpu, cpu_milli, err) < 0) ||
            (mem && json_memory(mem, memory, err) < 0))
                return -1;
        if (json_is_integer(json_object_get(r, "gpus")))
                *gpus = (int)json_integer_value(json_object_get(r, "gpus"));
        return 0;
}
