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

#endif
