/* The whole command table of idyl, one group per file that declares a
 * noun's commands, in the order `idyl --help` lists them. The dispatcher
 * (cli/main.c), the bash completion and the man pages (cli/completion.c)
 * all walk it, so a new command appears in all three. */
#include "cli/cli.h"

const struct cli_command_group cli_groups[] = {
    {subnet_commands, &subnet_ncommands},
    {workload_commands, &workload_ncommands},
    {logs_commands, &logs_ncommands},
    {wait_commands, &wait_ncommands},
    {explain_commands, &explain_ncommands},
    {node_commands, &node_ncommands},
    {node_agent_commands, &node_agent_ncommands},
    {token_commands, &token_ncommands},
    {audit_commands, &audit_ncommands},
    {secret_commands, &secret_ncommands},
    {config_commands, &config_ncommands},
    {version_commands, &version_ncommands},
    {completion_commands, &completion_ncommands},
};

const size_t cli_ngroups = sizeof(cli_groups) / sizeof(cli_groups[0]);
