/* idyl-mangen DIR: writes idyl's man pages from its command table (run by
 * the build; cmake --install puts them in share/man/man1). */
#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
        struct idyl_err err = IDYL_ERR_INIT;

        if (argc != 2) {
                fprintf(stderr, "usage: idyl-mangen DIR\n");
                return EXIT_USAGE;
        }
        if (cli_man_write(argv[1], &err) < 0) {
                fprintf(stderr, "idyl-mangen: %s\n", err.msg);
                return EXIT_FAILED;
        }
        return 0;
}
