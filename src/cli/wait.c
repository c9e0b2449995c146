/* idyl workload wait NAME --subnet S --for PHASE [--timeout 60s]: blocks on
 * the API watch (a long-poll on the workload's version, server/watch.c)
 * until the workload is in PHASE. Exit 0 once it is, 1 at the time-out (as
 * kubectl wait), 3 when the workload does not exist, 2 for usage errors. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/subnet.h"
#include "core/workload.h"
#include "util/clock.h"

#define EXIT_WAIT_NOT_FOUND 3
#define WATCH_CALL_MAX_S    30 /* seconds one watch request waits, under the client's timeout */
#define WAIT_TIMEOUT_MAX_MS (24LL * 3600 * 1000)

static const struct cli_opt wait_opts[] = {
    {"subnet", OPT_STRING, "SUBNET", "subnet of the workload (required)"},
    {"for", OPT_STRING, "PHASE",
     "phase to wait for (required): awaiting-approval, pending, scheduled, running, exited, "
     "failed, rejected, lost or stopped"},
    {"timeout", OPT_STRING, "DURATION",
     "give up after this long: 90s, 5m, 1h, 500ms (default 60s)"},
    OPT_END,
};

/* A table, not a chain: unit suffix -> milliseconds. */
static const struct {
        const char *suffix;
        int64_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};

/* "90s", "5m", "1h", "500ms" or bare seconds -> milliseconds in (0, 24h]. */
int cli_duration_parse(const char *flag, const char *s, int64_t *ms, struct idyl_err *err)
{
        char *end;
        double v = strtod(s, &end);

        if (end != s && v > 0)
                for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
                        if (strcmp(end, duration_units[i].suffix) != 0)
                                continue;
                        if (v * (double)duration_units[i].ms > (double)WAIT_TIMEOUT_MAX_MS)
                                break;
                        *ms = (int64_t)(v * (double)duration_units[i].ms);
                        if (*ms > 0)
                                return 0;
                }
        return idyl_err_set(err, IDYL_E_USAGE,
                            "invalid %s \"%s\": want a duration such as 90s, 5m or 500ms, at most "
                            "24h",
                            flag, s);
}

struct wait_target {
        char path[256];
        const char *name, *subnet, *phase;
        int64_t deadline_ms; /* monotonic */
};

static int wait_args(const struct cli_args *a, struct wait_target *t, int64_t *timeout_ms,
                     struct idyl_err *err)
{
        const char *timeout = cli_str(a, "timeout");
        uint64_t slug;

        t->name = a->pos[0];
        t->subnet = cli_str(a, "subnet");
        t->phase = cli_str(a, "for");
        *timeout_ms = 60000;
        if (!t->subnet)
                return idyl_err_set(err, IDYL_E_USAGE, "--subnet is required");
        if (!t->phase)
                return idyl_err_set(err, IDYL_E_USAGE, "--for is required");
        if (workload_phase_from_name(t->phase) < 0)
                return idyl_err_set(err, IDYL_E_USAGE,
                                    "invalid --for \"%s\": want a phase (awaiting-approval, "
                                    "pending, scheduled, running, exited, failed, rejected, lost "
                                    "or stopped)",
                                    t->phase);
        if (timeout && cli_duration_parse("--timeout", timeout, timeout_ms, err) < 0)
                return -1;
        if (subnet_slug_parse(t->subnet, &slug, err) < 0 || workload_name_check(t->name, err) < 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND,
                                    "workload \"%s\" not found in subnet \"%s\"", t->name,
                                    t->subnet);
        snprintf(t->path, sizeof(t->path), "/v1/subnets/%s/workloads/%s/watch", t->subnet, t->name);
        return 0;
}

static const char *phase_of(const json_t *answer)
{
        const json_t *st = json_object_get(json_object_get(answer, "workload"), "status");

        return json_string_value(json_object_get(st, "phase"));
}

static int wait_for(struct cli_ctx *ctx, struct cli_args *a, struct idyl_err *err)
{
        struct wait_target t;
        char version[32] = "", path[320], last_phase[32] = "";
        int64_t timeout_ms;

        if (wait_args(a, &t, &timeout_ms, err) < 0) {
                if (err->code == IDYL_E_NOT_FOUND)
                        ctx->exit_code = EXIT_WAIT_NOT_FOUND;
                return -1;
        }
        t.deadline_ms = mono_ms() + timeout_ms;
        for (;;) {
                int64_t left_ms = t.deadline_ms - mono_ms();
                long wait_s = left_ms <= 0 ? 0 : (long)((left_ms + 999) / 1000);
                json_t *answer = NULL;
                const char *phase;

                if (wait_s > WATCH_CALL_MAX_S)
                        wait_s = WATCH_CALL_MAX_S;
                snprintf(path, sizeof(path), "%s?version=%s&wait=%ld", t.path, version,
                         version[0] ? wait_s : 0L);
                if (api_call(ctx, "GET", path, NULL, &answer, err) < 0) {
                        if (err->code == IDYL_E_NOT_FOUND)
                                ctx->exit_code = EXIT_WAIT_NOT_FOUND;
                        return -1;
                }
                phase = phase_of(answer);
                snprintf(last_phase, sizeof(last_phase), "%s", phase ? phase : "");
                snprintf(version, sizeof(version), "%s",
                         json_string_value(json_object_get(answer, "version")) ?: "");
                json_decref(answer);
                if (strcmp(last_phase, t.phase) == 0) {
                        printf("workload \"%s\" is %s\n", t.name, t.phase);
                        return 0;
                }
                if (mono_ms() >= t.deadline_ms)
                        return idyl_err_set(err, IDYL_E_UNAVAILABLE,
                                            "timed out after %s waiting for workload \"%s\" to be "
                                            "%s (it is %s)",
                                            cli_str(a, "timeout") ?: "60s", t.name, t.phase,
                                            last_phase);
        }
}

const struct cli_command wait_commands[] = {
    {"workload", "wait", wait_for, wait_opts, "NAME", 1, 1, CMD_API,
     "Wait until a workload is in a phase (exit 1 at the time-out, 3 when it does not exist).\n"
     "Follows the server's watch of the workload, so it answers as soon as the phase changes."},
};

const size_t wait_ncommands = sizeof(wait_commands) / sizeof(wait_commands[0]);
