/* Resource quantities as they appear in JSON (specs, capacities, the
 * agent's assignments): CPU as a number of cores or a string ("500m"),
 * memory as a string ("256Mi") or a number of bytes. */
#ifndef IDYL_RESOURCES_JSON_H
#define IDYL_RESOURCES_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

int json_cpu(const json_t *v, int64_t *milli, struct idyl_err *err);
int json_memory(const json_t *v, int64_t *bytes, struct idyl_err *err);
/* {"cpu": 0.5 | "500m", "memory": "256Mi" | bytes, "gpus": 1}; absent
 * fields keep what the outputs hold. */
int json_resources(const json_t *r, int64_t *cpu_milli, int64_t *memory, int *gpus,
                   struct idyl_err *err);

#endif
