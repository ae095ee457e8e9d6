/* lmterm: a terminal chat with its own inference engine. main() only picks the
 * subcommand; everything else lives in the modules (see include/). */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(cli_options *o);
} command;

static const command commands[] = {
    {"chat", cli_chat},
    {"run", cli_run},   {"tokenize", cli_tokenize}, {"logits", cli_logits},
    {"info", cli_info}, {"synth", cli_synth}, {"quantize", cli_quantize}, {"bench", cli_bench},
};

int main(int argc, char **argv) {
    const char *name = argc > 1 && argv[1][0] != '-' ? argv[1] : "chat";
    int skip = argc > 1 && argv[1][0] != '-' ? 2 : 1;
    cli_options o;
    int rc = cli_parse(argc - skip, argv + skip, &o);
    if (rc != CLI_OK) return rc == CLI_DONE ? CLI_OK : rc;
    o.command = name;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].run(&o);
    fprintf(stderr, "lmterm: unknown command '%s' (see lmterm --help)\n", name);
    return CLI_USAGE;
}
