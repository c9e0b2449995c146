/* Assignment answers, whole set against change since an acknowledged
 * version (core/nodeproto.c): for a node holding N workloads of which one
 * gets a new revision, the bytes each answer puts on the wire and the time
 * idyld's side (index + delta) and the agent's side (apply) take. Prints
 * figures; asserts nothing. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nodeproto.h"
#include <time.h>

#define ROUNDS 200

static int64_t mono_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A whole answer at version v: N workloads with a spec of the size a small
 * deploy has; workload `bumped` at revision 2. */
static json_t *answer(json_int_t v, size_t n, size_t bumped)
{
        json_t *list = json_array();

        for (size_t i = 0; i < n; i++) {
                char name[32];

                snprintf(name, sizeof(name), "web-%zu", i);
                json_array_append_new(
                    list,
                    json_pack("{s:s,s:i,s:s,s:{s:s,s:s,s:{s:s},s:{s:s,s:s,s:i},s:{s:s}}}", "name",
                              name, "revision", i == bumped ? 2 : 1, "isolationClass", "container",
                              "spec", "image", "nginx:1.27-alpine", "platform", "linux/amd64",
                              "isolation", "class", "container", "resources", "cpu", "500m",
                              "memory", "256Mi", "gpus", 0, "env", "MODE", "production"));
        }
        return json_pack("{s:I,s:o}", "version", v, "workloads", list);
}

static size_t bytes(const json_t *v)
{
        char *text = json_dumps(v, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;

        free(text);
        return n;
}

int main(void)
{
        static const size_t sizes[] = {10, 100, 1000, 10000};

        printf("%8s %12s %12s %10s %14s %14s\n", "N", "whole B", "change B", "ratio",
               "idyld us/ans", "agent us/ans");
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                size_t n = sizes[k];
                json_t *held = answer(1, n, n), *now = answer(2, n, n / 2);
                json_t *delta = NULL, *sent = NULL, *applied;
                size_t rounds = n >= 10000 ? ROUNDS / 10 : ROUNDS;
                int64_t t0, t1, t2;

                t0 = mono_us();
                for (size_t r = 0; r < rounds; r++) {
                        json_decref(sent);
                        json_decref(delta);
                        sent = nodeproto_assignments_index(held);
                        delta = nodeproto_assignments_delta(sent, 1, now);
                }
                t1 = mono_us();
                for (size_t r = 0; r < rounds; r++) {
                        applied = nodeproto_assignments_apply(held, delta);
                        json_decref(applied);
                }
                t2 = mono_us();
                printf("%8zu %12zu %12zu %9.0fx %14.1f %14.1f\n", n, bytes(now), bytes(delta),
                       (double)bytes(now) / (double)bytes(delta), (double)(t1 - t0) / rounds,
                       (double)(t2 - t1) / rounds);
                json_decref(sent);
                json_decref(delta);
                json_decref(held);
                json_decref(now);
        }
        return 0;
}
