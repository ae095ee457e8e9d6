/* lmterm: a terminal chat with its own inference engine. main() only picks the
 * subcommand; everything else lives in the modules (see include/). */
#include "cli.h"

#include <signal.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(cli_options *o);
} command;

static const command commands[] = {
    {"chat", cli_chat}, {"run", cli_run},     {"tokenize", cli_tokenize}, {"logits", cli_logits},
    {"info", cli_info}, {"synth", cli_synth}, {"quantize", cli_quantize}, {"bench", cli_bench},
    {"perplexity", cli_perplexity}, {"compare", cli_compare},
    {"pull", cli_pull}, {"ls", cli_ls},
    {"serve", cli_serve},
};

static const command *find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* A bad configuration is reported and left out; lmterm runs on the defaults. */
static void load_config(const char *file, config *cfg) {
    lm_error err;
    if (config_load(cfg, file, &err)) fprintf(stderr, "lmterm: %s\n", err.msg);
    for (size_t i = 0; i < cfg->warnings.n; i++)
        fprintf(stderr, "lmterm: %s\n", cfg->warnings.items[i]);
}

int main(int argc, char **argv) {
    /* A file-size limit makes a write fail (and the save say so) rather than
     * end the program. */
    signal(SIGXFSZ, SIG_IGN);
    /* The command is the first argument, or the first after --config FILE. */
    int at = 1;
    while (at + 1 < argc && strcmp(argv[at], "--config") == 0) at += 2;
    while (at < argc && strncmp(argv[at], "--config=", 9) == 0) at++;
    const char *name = "chat";
    if (at < argc && argv[at][0] != '-' && !find_command(argv[at])) {
        fprintf(stderr, "lmterm: unknown command '%s' (see lmterm --help)\n", argv[at]);
        return CLI_USAGE;
    }
    if (at < argc && find_command(argv[at])) {
        name = argv[at];
        memmove(&argv[at], &argv[at + 1],
                (size_t)(argc - at) * sizeof *argv); /* keeps argv[argc] */
        argc--;
    }
    config cfg;
    load_config(cli_find_config_arg(argc, argv), &cfg);
    cli_options o;
    int rc = cli_parse(argc - 1, argv + 1, &cfg, &o);
    if (rc == CLI_OK) {
        o.command = name;
        rc = find_command(name)->run(&o);
    }
    config_free(&cfg);
    return rc == CLI_DONE ? CLI_OK : rc;
}
