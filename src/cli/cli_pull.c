/* cli: `lmterm pull REPO[:QUANT]`, `lmterm pull REPO FILE`: a GGUF file from
 * Hugging Face into the models folder, with a progress bar (or a line every
 * 10 % without a terminal), Ctrl-C stopping cleanly for a later resume, and
 * `info` of the file at the end. */
#include "cli.h"
#include "hub.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one static: a signal handler can reach nothing else. */
static atomic_bool pull_interrupted;

static void pull_on_signal(int sig) {
    (void)sig;
    atomic_store(&pull_interrupted, true);
}

typedef struct pull_view {
    bool tty;
    double last_draw; /* the bar is redrawn at most 10 times a second */
    int last_tenth;   /* the last 10 % step printed (no terminal) */
    bool drawn;       /* a bar is on the line */
} pull_view;

static void pull_fmt_eta(double s, char *buf, size_t size) {
    if (s < 0 || s > 99 * 3600) {
        snprintf(buf, size, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void pull_draw_bar(pull_view *v, const hub_progress *p) {
    const char *verb = p->phase == HUB_PHASE_CHECK ? "checking" : "";
    double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 0;
    int fill = (int)(pct / 100 * 24);
    char bar[32], eta[32];
    for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '-';
    bar[24] = 0;
    pull_fmt_eta(p->eta_s, eta, sizeof eta);
    fprintf(stderr, "\r\033[K%s%s%.28s [%s] %5.1f%%  %.1f/%.1f MB  %.1f MB/s  ETA %s", verb,
            *verb ? " " : "", p->file ? p->file : "", bar, pct, (double)p->done / 1e6,
            (double)p->total / 1e6, p->bytes_per_s / 1e6, eta);
    v->drawn = true;
}

static void pull_progress(void *user, const hub_progress *p) {
    pull_view *v = user;
    if (p->phase == HUB_PHASE_LIST) {
        fprintf(stderr, "listing %s ...\n", p->file);
        return;
    }
    if (p->phase == HUB_PHASE_VERIFY || (p->phase == HUB_PHASE_CHECK && !v->tty)) return;
    if (v->tty) {
        double now = lm_now();
        if (!p->finished && now - v->last_draw < 0.1) return;
        v->last_draw = now;
        pull_draw_bar(v, p);
        return;
    }
    int tenth = p->total ? (int)(10 * p->done / p->total) : 0;
    if (tenth > v->last_tenth) {
        v->last_tenth = tenth;
        fprintf(stderr, "%s: %d%% (%.1f of %.1f MB, %.1f MB/s)\n", p->file, tenth * 10,
                (double)p->done / 1e6, (double)p->total / 1e6, p->bytes_per_s / 1e6);
    }
}

static void pull_end_bar(pull_view *v) {
    if (v->drawn) fputc('\n', stderr);
    v->drawn = false;
}

int cli_pull(cli_options *o) {
    if (o->n_args < 1 || o->n_args > 2)
        return cli_usage_error("pull needs REPO[:QUANT] or REPO FILE, e.g. lmterm pull "
                               "bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M");
    pull_view view = {.tty = isatty(STDERR_FILENO), .last_tenth = -1};
    hub_options ho = {.revision = o->revision,
                      .cancel = &pull_interrupted,
                      .on_progress = pull_progress,
                      .user = &view};
    struct sigaction sa = {.sa_handler = pull_on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    hub_outcome out;
    lm_error err;
    int rc = hub_pull(&ho, o->args[0], o->n_args > 1 ? o->args[1] : NULL, &out, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    pull_end_bar(&view);
    if (rc != 0) {
        cli_error("%s", err.msg);
        hub_outcome_free(&out);
        return out.cancelled || atomic_load(&pull_interrupted) ? 130 : CLI_ERROR;
    }
    char sz[16];
    if (out.note[0]) fprintf(stderr, "%s: %s\n", o->args[0], out.note);
    if (out.already)
        fprintf(stderr, "%s is there already (%s)\n", out.path, lm_format_size(out.size, sz));
    else
        fprintf(stderr, "saved %s (%s, sha256 checked%s)\n", out.path, lm_format_size(out.size, sz),
                out.resumed_from ? ", resumed" : "");
    o->model_path = out.path;
    if (o->n_ctx <= 0 || o->n_ctx > 4096) o->n_ctx = 512; /* info needs no large cache */
    if (cli_info(o) != CLI_OK)
        fprintf(stderr, "lmterm: the file is kept, but lmterm cannot run it\n");
    hub_outcome_free(&out);
    return CLI_OK;
}
