/* Logs and exec on the Docker Engine: GET /containers/ID/logs and the exec
 * API (create, then start attached), both answering in stdcopy frames that
 * are demultiplexed here and written to the stream's sink as they come. A
 * stream has its own connection to the Engine, so it never holds up the
 * reconcile loop. --previous reads the run before the container's current
 * start: the Engine's own start events give where it began. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/http.h"
#include "agent/runtime.h"
#include "util/stream_wire.h"

#define DOCKER_BASE "http://docker"

/* Splits the Engine's stdcopy stream (8-byte header, then the payload) into
 * the sink's writes. */
struct demux {
        const struct rt_sink *sink;
        uint8_t hdr[8];
        size_t hdr_got;
        uint32_t left;
        int channel;
        bool failed;
        size_t bytes;
};

static int on_stdcopy(const char *data, size_t len, void *arg)
{
        struct demux *d = arg;

        while (len) {
                if (d->left) {
                        size_t k = len < d->left ? len : d->left;

                        if (k > STREAM_FRAME_MAX)
                                k = STREAM_FRAME_MAX;
                        if (d->sink->write(d->sink->arg, d->channel, data, k) < 0) {
                                d->failed = true;
                                return -1;
                        }
                        d->bytes += k;
                        d->left -= (uint32_t)k;
                        data += k;
                        len -= k;
                        continue;
                }
                d->hdr[d->hdr_got++] = (uint8_t)*data++;
                len--;
                if (d->hdr_got == 8) {
                        d->hdr_got = 0;
                        d->channel = d->hdr[0] == 2 ? STREAM_STDERR : STREAM_STDOUT;
                        d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                                  (uint32_t)d->hdr[6] << 8 | d->hdr[7];
                }
        }
        return 0;
}

static int stream_get(struct http_client *h, const char *method, const char *path, const char *body,
                      const struct rt_sink *sink, struct demux *d, struct idyl_err *err)
{
        struct http_request req = {.method = method,
                                   .path = path,
                                   .body = body,
                                   .body_len = body ? strlen(body) : 0,
                                   .on_chunk = on_stdcopy,
                                   .chunk_arg = d,
                                   .abort_flag = sink->abort};
        long status = 0;

        d->sink = sink;
        if (http_do(h, &req, &status, NULL, err) < 0) {
                if (d->failed || *sink->abort) {
                        memset(err, 0, sizeof(*err));
                        return 0; /* the reader went: not an error of ours */
                }
                return -1;
        }
        if (status >= 300)
                return idyl_err_set(err, status == 404 ? IDYL_E_NOT_FOUND : IDYL_E_UNAVAILABLE,
                                    "Docker answered HTTP %ld to %s", status, path);
        return 0;
}

/* Unix time with nanoseconds, as the Engine's since/until take it. */
static void nano_time(int64_t ns, char *out, size_t size)
{
        snprintf(out, size, "%" PRId64 ".%09" PRId64, ns / 1000000000, ns % 1000000000);
}

/* Where the current run's output begins and the previous run's began
 * ("0": from the beginning), from the start and die events the Engine still
 * holds for the container: a run's output ends when its process dies, so
 * the die before the latest start separates the current run from the one
 * before it (a start is recorded after the process has begun to write). */
static void run_bounds(struct http_client *h, const char *id, char *cur, char *prev, size_t size)
{
        char *filter = NULL, *esc = NULL, *path = NULL, now[32];
        struct idyl_buf b = IDYL_BUF_INIT(4u << 20);
        struct idyl_err err = IDYL_ERR_INIT;
        struct http_request req = {.method = "GET", .timeout_s = 10};
        int64_t last_start = 0, dies[2] = {0, 0}, pending_dies[2] = {0, 0};
        long status = 0;

        snprintf(cur, size, "0");
        snprintf(prev, size, "0");
        snprintf(now, sizeof(now), "%lld", (long long)time(NULL) + 1);
        if (asprintf(&filter, "{\"container\":[\"%s\"],\"event\":[\"start\",\"die\"]}", id) < 0)
                return;
        esc = http_escape(filter);
        if (!esc || asprintf(&path, "/events?since=0&until=%s&filters=%s", now, esc) < 0)
                path = NULL;
        req.path = path;
        if (path && http_do(h, &req, &status, &b, &err) == 0 && status == 200) {
                /* one JSON object a line, oldest first */
                size_t off = 0;

                while (off < b.len) {
                        char *line = b.data + off, *nl = memchr(line, '\n', b.len - off);
                        size_t len = nl ? (size_t)(nl - line) : b.len - off;
                        json_t *ev = json_loadb(line, len, 0, NULL);
                        const char *action = json_string_value(json_object_get(ev, "Action"));
                        json_int_t t = json_integer_value(json_object_get(ev, "timeNano"));

                        if (action && t > 0 && strcmp(action, "die") == 0) {
                                pending_dies[0] = pending_dies[1];
                                pending_dies[1] = t;
                        } else if (action && t > 0 && strcmp(action, "start") == 0) {
                                last_start = t;
                                dies[0] = pending_dies[0];
                                dies[1] = pending_dies[1];
                        }
                        json_decref(ev);
                        off += len + 1;
                }
        }
        if (last_start && dies[1])
                nano_time(dies[1], cur, size);
        if (last_start && dies[0])
                nano_time(dies[0], prev, size);
        idyl_buf_release(&b);
        free(filter);
        free(esc);
        free(path);
}

int docker_logs(struct runtime *rt, const struct rt_instance *inst, const struct rt_logs *o,
                const struct rt_sink *sink, struct idyl_err *err)
{
        struct http_client *h = http_client_new(DOCKER_BASE, runtime_docker_socket(rt), NULL, NULL);
        struct demux d = {0};
        char path[512], tail[32], boundary[40] = "0", since[40] = "0";
        int rc = -1;

        if (!h)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (o->tail >= 0)
                snprintf(tail, sizeof(tail), "&tail=%ld", o->tail);
        else
                snprintf(tail, sizeof(tail), "&tail=all");
        run_bounds(h, inst->id, boundary, since, sizeof(boundary));
        if (o->previous && strcmp(boundary, "0") == 0) {
                /* the Engine restarted, or its event buffer moved on */
                http_client_free(h);
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "the Docker Engine no longer knows where the previous run "
                                    "ended");
        }
        if (o->previous)
                snprintf(path, sizeof(path),
                         "/containers/%s/logs?stdout=1&stderr=1&since=%s&until=%s%s", inst->id,
                         since, boundary, tail);
        else
                snprintf(path, sizeof(path),
                         "/containers/%s/logs?stdout=1&stderr=1&since=%s&follow=%d%s", inst->id,
                         boundary, o->follow ? 1 : 0, tail);
        rc = stream_get(h, "GET", path, NULL, sink, &d, err);
        http_client_free(h);
        return rc;
}

int docker_exec(struct runtime *rt, const struct rt_instance *inst, const char *const *argv,
                size_t argc, const struct rt_sink *sink, int *exit_code, struct idyl_err *err)
{
        struct http_client *h = http_client_new(DOCKER_BASE, runtime_docker_socket(rt), NULL, NULL);
        json_t *cmd = json_array(), *body = NULL, *created = NULL, *info = NULL;
        struct demux d = {0};
        char path[256];
        const char *id;
        int rc = -1;

        if (!h || !cmd)
                goto oom;
        for (size_t i = 0; i < argc; i++)
                json_array_append_new(cmd, json_string(argv[i]));
        body = json_pack("{s:b,s:b,s:b,s:O}", "AttachStdin", 0, "AttachStdout", 1, "AttachStderr",
                         1, "Cmd", cmd);
        if (!body)
                goto oom;
        snprintf(path, sizeof(path), "/containers/%s/exec", inst->id);
        if (http_json(h, "POST", path, body, 30, NULL, &created, err) < 0) {
                idyl_err_wrap(err, "exec in container %.12s", inst->id);
                goto out;
        }
        id = json_string_value(json_object_get(created, "Id"));
        if (!id) {
                idyl_err_set(err, IDYL_E_UNAVAILABLE, "Docker gave the exec no id");
                goto out;
        }
        snprintf(path, sizeof(path), "/exec/%s/start", id);
        if (stream_get(h, "POST", path, "{\"Detach\":false,\"Tty\":false}", sink, &d, err) < 0)
                goto out;
        if (*sink->abort) {
                *exit_code = -1;
                rc = 0;
                goto out;
        }
        snprintf(path, sizeof(path), "/exec/%s/json", id);
        if (http_json(h, "GET", path, NULL, 10, NULL, &info, err) < 0)
                goto out;
        *exit_code = (int)json_integer_value(json_object_get(info, "ExitCode"));
        rc = 0;
        goto out;
oom:
        idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
out:
        json_decref(cmd);
        json_decref(body);
        json_decref(created);
        json_decref(info);
        http_client_free(h);
        return rc;
}
