/* cli: `lmterm chat`, the default command. The full-screen chat when the
 * terminal can show it, else (--plain, TERM=dumb, a pipe) the same
 * conversation line by line: with readline on a terminal, or one message a
 * line from a pipe, where a line ending in '\' goes on in the next. Replies
 * go to stdout; notices and --stats lines to stderr. */
#include "cli.h"
#include "history.h"
#include "tui.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct plain {
    session *s;
    bool stats, interactive;
    bool quit, failed;
    bool line_open; /* the reply so far does not end with a newline */
    bool prompt;    /* readline's handler is installed */
    char *edit;     /* text for the next prompt (/edit) */
} plain;

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_pipe[1], &b, 1); /* a full pipe has the news already */
    (void)w;
    errno = saved;
}

/* ---- what the session tells us ---- */

static void on_notice(void *ctx, enum session_notice kind, const char *text) {
    plain *p = ctx;
    if (kind == NOTICE_OUTPUT) {
        printf("%s\n", text);
        fflush(stdout);
        return;
    }
    if (kind == NOTICE_ERROR) p->failed = true;
    fprintf(stderr, "%s%s\n", kind == NOTICE_INFO ? "" : "lmterm: ", text);
}

static void on_reply_text(void *ctx, const char *text, size_t len) {
    plain *p = ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    p->line_open = len > 0 && text[len - 1] != '\n';
}

static void on_reply_end(void *ctx, const session_reply *r) {
    plain *p = ctx;
    if (p->line_open || r->n_tokens == 0) putchar('\n');
    p->line_open = false;
    fflush(stdout);
    if (r->reason == BACKEND_STOP_USER && p->interactive) fprintf(stderr, "[stopped]\n");
    if (p->stats && session_server_name(p->s)) /* what the server and its stream told */
        fprintf(stderr,
                "stats: server: %s, prompt tokens: %d, generated tokens: %d, prompt tok/s: %.2f, "
                "generation tok/s: %.2f, first token: %.3f s\n",
                session_server_name(p->s), r->n_prompt_evaluated, r->n_tokens, r->prompt_tps,
                r->gen_tps, r->first_token);
    else if (p->stats)
        fprintf(stderr,
                "stats: prompt tokens evaluated: %d, generated tokens: %d, prompt tok/s: %.2f, "
                "generation tok/s: %.2f\n",
                r->n_prompt_evaluated, r->n_tokens, r->prompt_tps, r->gen_tps);
}

static void print_help(void) {
    size_t n;
    const session_command *c = session_commands(&n);
    printf("Type a message and press Enter; a line ending in \\ goes on in the next.\n"
           "Ctrl-C stops a reply, Ctrl-D quits. Commands:\n");
    for (size_t i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "%s %s", c[i].name, c[i].args);
        printf("  %-24s %s\n", name, c[i].help);
    }
    fflush(stdout);
}

static void submit(plain *p, const char *line) {
    char *edit = NULL;
    enum session_action a = session_submit(p->s, line, p->interactive ? &edit : NULL);
    if (a == SESSION_QUIT)
        p->quit = true;
    else if (a == SESSION_HELP)
        print_help();
    else if (a == SESSION_EDIT) {
        free(p->edit);
        p->edit = edit;
        edit = NULL;
    } else if (a == SESSION_MODEL_MENU || a == SESSION_PRECISION_MENU ||
               a == SESSION_CONVERSATIONS) {
        session_list(p->s, a); /* no menus here: a numbered list */
    } else if (a == SESSION_THEME) {
        printf("Themes colour the full-screen chat; this plain chat has none.\n");
        fflush(stdout);
    }
    free(edit);
}

/* ---- waiting for the engine ---- */

/* One round of poll(): the engine, signals and, when asked, the input. */
static bool wait_once(plain *p, bool with_input) {
    struct pollfd fds[3] = {
        {session_fd(p->s), POLLIN, 0}, {sig_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (poll(fds, with_input ? 3 : 2, -1) < 0 && errno != EINTR) return false;
    if (fds[0].revents & POLLIN) session_pump(p->s);
    if (fds[1].revents & POLLIN) {
        unsigned char sigs[16];
        ssize_t n = read(sig_pipe[0], sigs, sizeof sigs);
        for (ssize_t i = 0; i < n; i++) {
            if (sigs[i] == SIGWINCH) {
                if (p->interactive) rl_resize_terminal();
            } else if (sigs[i] == SIGINT && session_busy(p->s)) { /* a reply, or a load */
                session_stop(p->s);
            } else if (sigs[i] == SIGINT && p->prompt) {
                rl_replace_line("", 0);
                fprintf(stderr, "^C (Ctrl-D or /quit quits)\n");
                rl_on_new_line();
                rl_redisplay();
            } else {
                p->quit = true;
            }
        }
    }
    return with_input && (fds[2].revents & (POLLIN | POLLHUP));
}

static void wait_idle(plain *p) {
    while (session_busy(p->s) && !p->quit) wait_once(p, false);
}

/* ---- from a pipe ---- */

static void chat_from_pipe(plain *p) {
    lm_buf msg = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (!p->quit && (len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        bool more = len > 0 && line[len - 1] == '\\';
        lm_buf_append(&msg, line, (size_t)(more ? len - 1 : len));
        if (more) {
            lm_buf_puts(&msg, "\n");
            continue;
        }
        submit(p, lm_buf_cstr(&msg));
        msg.len = 0;
        wait_idle(p);
    }
    if (msg.len && !p->quit) {
        submit(p, lm_buf_cstr(&msg));
        wait_idle(p);
    }
    free(line);
    lm_buf_free(&msg);
}

/* ---- on a terminal, with readline ---- */

static plain *current;

static void on_line(char *line) {
    plain *p = current;
    rl_callback_handler_remove(); /* a reply prints without a prompt in its way */
    p->prompt = false;
    if (!line) { /* Ctrl-D */
        putchar('\n');
        p->quit = true;
        return;
    }
    if (strcmp(line, "/quit") != 0) history_add(line);
    submit(p, line);
    free(line);
}

static void install_prompt(plain *p) {
    rl_callback_handler_install("> ", on_line);
    p->prompt = true;
    if (p->edit) { /* /edit: the message back in the line, to change */
        rl_insert_text(p->edit);
        free(p->edit);
        p->edit = NULL;
        rl_redisplay();
    }
}

static void chat_on_terminal(plain *p) {
    current = p;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_readline_name = "lmterm";
    history_open();
    install_prompt(p);
    while (!p->quit) {
        if (!p->prompt && !session_busy(p->s)) install_prompt(p);
        if (wait_once(p, p->prompt) && p->prompt) rl_callback_read_char();
    }
    if (p->prompt) rl_callback_handler_remove();
    fflush(stdout);
}

/* ---- running ---- */

static int plain_chat(const session_options *so, bool stats) {
    plain p = {.stats = stats, .interactive = isatty(STDIN_FILENO)};
    session_view view = {
        .ctx = &p, .notice = on_notice, .reply_text = on_reply_text, .reply_end = on_reply_end};
    lm_error err;
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) return cli_error("cannot create a pipe");
    if (!(p.s = session_create(so, &view, &err))) return cli_error("%s", err.msg);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    wait_idle(&p); /* the model loads */
    session_status st;
    session_get_status(p.s, &st);
    int rc = CLI_ERROR;
    if (st.model) {
        if (p.interactive)
            chat_on_terminal(&p);
        else
            chat_from_pipe(&p);
        rc = p.failed ? CLI_ERROR : CLI_OK;
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGWINCH, SIG_DFL);
    session_free(p.s);
    free(p.edit);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    return rc;
}

int cli_chat(cli_options *o) {
    if (o->n_args > 0) {
        fprintf(stderr, "lmterm: chat takes no arguments (see lmterm --help)\n");
        return CLI_USAGE;
    }
    session_options so = {
        .model_path = o->model_path,
        .model = {.n_ctx = o->n_ctx,
                  .n_threads = o->threads,
                  .precision = o->precision,
                  .cache_type = o->cache_type},
        .sampling = o->sampling,
        .seed_random = o->cfg && o->cfg->settings.seed_random && !o->seed_set,
        .max_tokens = o->n_predict,
        .system_prompt = o->system_prompt,
        .resume_path = o->resume_path,
        .cfg = o->cfg,
    };
    if (o->remote) {
        int rc = cli_remote_options(o, &so.remote, &so.model_path);
        if (rc != CLI_OK) return rc;
    }
    tui_locale();
    if (!o->plain) {
        const char *why = tui_unavailable();
        if (!why) {
            lm_error err = {{0}};
            int rc = tui_run(&so, &err);
            if (err.msg[0]) cli_error("%s", err.msg);
            return rc;
        }
        if (isatty(STDIN_FILENO)) fprintf(stderr, "lmterm: %s; using --plain\n", why);
    }
    return plain_chat(&so, o->stats);
}
