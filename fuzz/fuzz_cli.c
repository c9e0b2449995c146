/* libFuzzer target: what the idyl CLI reads. The input is used twice: as
 * the config file (addr, token, token-file, ca lines) that cli_config_load
 * parses, and as a response body from idyld, parsed as JSON the way the
 * client does and printed in every output format (YAML, JSON). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char config_path[4096];
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");
        int fd;

        (void)argc;
        (void)argv;
        /* under $TMPDIR, which fuzz/run removes afterwards */
        snprintf(config_path, sizeof(config_path), "%s/idyl-fuzz-cli.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        fd = mkstemp(config_path);
        if (fd < 0)
                return 1;
        close(fd);
        setenv("IDYL_CONFIG", config_path, 1);
        unsetenv("IDYL_ADDR");
        unsetenv("IDYL_TOKEN");
        unsetenv("IDYL_CA");
        sink = fopen("/dev/null", "w");
        return 0;
}

static void config(const uint8_t *data, size_t size)
{
        struct cli_ctx ctx = {.progname = "idyl"};
        struct idyl_err err = IDYL_ERR_INIT;
        FILE *f = fopen(config_path, "w");

        if (!f)
                return;
        fwrite(data, 1, size, f);
        fclose(f);
        cli_config_load(&ctx, &err);
        unsetenv("IDYL_CA"); /* the loader exports it for the agent */
}

static void response(const uint8_t *data, size_t size)
{
        struct idyl_err err = IDYL_ERR_INIT;
        json_t *v = json_loadb((const char *)data, size, 0, NULL);

        if (!v)
                return;
        output_json(sink, v);
        output_yaml(sink, v, &err);
        json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 65536)
                return 0;
        config(data, size);
        response(data, size);
        return 0;
}
