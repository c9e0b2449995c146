/* idyl workload logs NAME [--follow] [--tail N] [--previous] and
 * idyl workload exec NAME [-i] -- CMD ARGS...: one upgraded request to idyld
 * (util/stream_wire.h) that idyld splices to the connection the node's agent
 * opens. Output frames are written as they come (stdout to stdout, stderr
 * to stderr, flushed, so a pipe sees each line at once); the END frame says
 * how it ended: exec exits with the command's own exit code. With -i a
 * thread sends stdin the other way, as frames, and its end as STDIN_EOF. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/subnet.h"
#include "core/workload.h"
#include "util/stream_wire.h"

#define TAIL_MAX 1000000

static const struct cli_opt logs_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    {"follow", OPT_FLAG, NULL, "keep streaming what the workload writes"},
    {"tail", OPT_STRING, "N", "only the last N lines"},
    {"previous", OPT_FLAG, NULL, "the output of the run before the current one"},
    OPT_END,
};

static const struct cli_opt exec_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    {"stdin", OPT_FLAG, NULL,
     "pass this command's stdin to the process; its end closes the "
     "process's stdin",
     'i'},
    {"tty", OPT_FLAG, NULL, "not offered: refused, as exec runs without a terminal", 't'},
    OPT_END,
};

#define STDIN_CHUNK 32768

/* exec -i: a thread sends stdin as STREAM_STDIN frames, then
 * STREAM_STDIN_EOF, while the caller reads the output; writing to done[1]
 * tells it to stop. */
struct stdin_pump {
        struct stream_conn *conn;
        int done[2];
        pthread_t thread;
};

static void *stdin_main(void *arg)
{
        struct stdin_pump *sp = arg;
        struct idyl_err err = IDYL_ERR_INIT;
        char *buf = malloc(STDIN_CHUNK);

        while (buf) {
                struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                      {.fd = sp->done[0], .events = POLLIN}};
                ssize_t n;

                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break;
                if (!p[0].revents)
                        continue;
                n = read(STDIN_FILENO, buf, STDIN_CHUNK);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        /* a read error ends stdin as its end would */
                        stream_conn_frame(sp->conn, STREAM_STDIN_EOF, NULL, 0, &err);
                        break;
                }
                if (stream_conn_frame(sp->conn, STREAM_STDIN, buf, (size_t)n, &err) < 0)
                        break;
        }
        free(buf);
        return NULL;
}

static int stdin_pump_start(struct stdin_pump *sp, struct stream_conn *c, struct idyl_err *err)
{
        sp->conn = c;
        if (pipe2(sp->done, O_CLOEXEC) < 0)
                return idyl_err_errno(err, errno, "cannot pass stdin");
        if (pthread_create(&sp->thread, NULL, stdin_main, sp) != 0) {
                close(sp->done[0]);
                close(sp->done[1]);
                return idyl_err_set(err, IDYL_E_INTERNAL, "cannot pass stdin: no thread");
        }
        return 0;
}

static void stdin_pump_stop(struct stdin_pump *sp)
{
        ssize_t ignored = write(sp->done[1], "x", 1);

        (void)ignored;
        pthread_join(sp->thread, NULL);
        close(sp->done[0]);
        close(sp->done[1]);
}

/* Copies frames to stdout/stderr until END; *outcome gets END's object. */
static int pump(struct stream_conn *c, json_t **outcome, struct idyl_err *err)
{
        char *buf = malloc(STREAM_FRAME_MAX + 1);

        if (!buf)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        for (;;) {
                enum stream_channel ch;
                uint32_t len;
                int rc = stream_conn_next(c, &ch, buf, &len, err);

                if (rc < 0)
                        break;
                if (rc == 0) {
                        idyl_err_set(err, IDYL_E_UNAVAILABLE, "the stream ended early");
                        break;
                }
                if (!stream_channel_from_agent(ch)) {
                        idyl_err_set(err, IDYL_E_UNAVAILABLE, "malformed stream frame");
                        break;
                }
                if (ch == STREAM_END) {
                        *outcome = json_loadb(buf, len, 0, NULL);
                        free(buf);
                        return *outcome ? 0
                                        : idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                                       "malformed end of stream");
                }
                FILE *f = ch == STREAM_STDERR ? stderr : stdout;
                if (fwrite(buf, 1, len, f) != len || fflush(f) != 0) {
                        idyl_err_set(err, IDYL_E_INTERNAL, "cannot write the output");
                        break;
                }
        }
        free(buf);
        return -1;
}

/* Opens the stream of `verb` for NAME with body, pumps it (and stdin into
 * it when with_stdin), and reads END. */
static int run_stream(struct cli_ctx *ctx, const struct cli_args *a, const char *verb,
                      const json_t *body, bool with_stdin, json_t **outcome, struct idyl_err *err)
{
        struct stdin_pump sp;
        const char *subnet = cli_str(a, "subnet"), *name = a->pos[0];
        struct stream_conn *c = NULL;
        char path[256], *text;
        const json_t *e;
        uint64_t slug;
        int rc;

        if (!subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (subnet_slug_parse(subnet, &slug, NULL) < 0 || workload_name_check(name, NULL) < 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "workload \"%s\" not found in subnet \"%s\"", name, subnet);
        snprintf(path, sizeof(path), "/v1/subnets/%s/workloads/%s/%s", subnet, name, verb);
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        struct stream_open o = {.addr = ctx->addr,
                                .token = ctx->have_token ? ctx->token : "",
                                .ca = ctx->ca,
                                .path = path,
                                .body = text};
        rc = stream_conn_open(&o, &c, err);
        free(text);
        if (rc < 0)
                return -1;
        if (with_stdin && stdin_pump_start(&sp, c, err) < 0) {
                stream_conn_close(c);
                return -1;
        }
        rc = pump(c, outcome, err);
        if (with_stdin)
                stdin_pump_stop(&sp);
        stream_conn_close(c);
        if (rc < 0)
                return -1;
        e = json_object_get(*outcome, "error");
        if (e)
                return idyl_err_set(
                    err,
                    idyl_errcode_from_name(json_string_value(json_object_get(e, "code")) ?: ""),
                    "%s", json_string_value(json_object_get(e, "message")) ?: "failed");
        return 0;
}

static int logs(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        const char *tail = cli_str(a, "tail");
        json_t *body = json_object(), *outcome = NULL;
        int rc;

        if (!body)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (tail) {
                char *end;
                long n = strtol(tail, &end, 10);

                if (!*tail || *end || n < 0 || n > TAIL_MAX) {
                        json_decref(body);
                        return idyl_err_set(err, IDYL_E_USAGE,
                                            "invalid --tail \"%s\": want a number of lines from "
                                            "0 to %d",
                                            tail, TAIL_MAX);
                }
                json_object_set_new(body, "tail", json_integer(n));
        }
        if (cli_flag(a, "follow"))
                json_object_set_new(body, "follow", json_true());
        if (cli_flag(a, "previous"))
                json_object_set_new(body, "previous", json_true());
        if (cli_flag(a, "follow") && cli_flag(a, "previous")) {
                json_decref(body);
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "--follow and --previous cannot be used together");
        }
        rc = run_stream(ctx, a, "logs", body, false, &outcome, err);
        json_decref(body);
        json_decref(outcome);
        return rc;
}

static int exec_cmd(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        json_t *cmd = json_array(), *body, *outcome = NULL, *code;
        bool with_stdin = cli_flag(a, "stdin");
        int rc;

        if (cli_flag(a, "tty")) {
                json_decref(cmd);
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "exec has no terminal: --tty is not supported (-i passes "
                                    "stdin without one)");
        }
        if (!a->rest || a->nrest == 0) {
                json_decref(cmd);
                return idyl_err_set(err, IDYL_E_USAGE, "give the command after \"--\"");
        }
        for (size_t i = 0; i < a->nrest; i++)
                json_array_append_new(cmd, json_string(a->rest[i]));
        body = json_pack("{s:o}", "command", cmd);
        if (!body)
                return idyl_err_set(err, IDYL_E_INTERNAL, "out of memory");
        if (with_stdin)
                json_object_set_new(body, "stdin", json_true());
        rc = run_stream(ctx, a, "exec", body, with_stdin, &outcome, err);
        json_decref(body);
        if (rc == 0) {
                code = json_object_get(outcome, "exit_code");
                if (json_is_integer(code) && json_integer_value(code) != 0) {
                        /* the command's own status, with nothing to add on stderr */
                        ctx->exit_code =
                            json_integer_value(code) > 0 && json_integer_value(code) < 256
                                ? (int)json_integer_value(code)
                                : EXIT_FAILED;
                        rc = -1;
                        err->code = IDYL_E_INTERNAL;
                        err->msg[0] = '\0';
                }
        }
        json_decref(outcome);
        return rc;
}

const struct cli_command logs_commands[] = {
    {"workload", "logs", logs, logs_opts, "NAME", 1, 1, CMD_API,
     "Print a workload's output, read from its node through the control plane.\n"
     "--follow streams each line as the workload writes it; --previous prints the run before\n"
     "the current one (exit 1 when there is none)."},
    {"workload", "exec", exec_cmd, exec_opts, "NAME", 1, 1, CMD_API | CMD_REST,
     "Run a command in a running workload, streaming its output; exits with its exit code.\n"
     "-i passes stdin to the command; there is no terminal (-t is refused). When this command\n"
     "ends first (Ctrl-C, killed, cut off), the node stops the command's processes: SIGTERM,\n"
     "then SIGKILL 2s later. Every exec is audited."},
};

const size_t logs_ncommands = sizeof(logs_commands) / sizeof(logs_commands[0]);
