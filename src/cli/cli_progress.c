/* cli: the progress line of long commands (quantize, synth, perplexity,
 * compare). On a terminal, stderr shows one line rewritten in place: what
 * is being done, how far, how fast and how long is left. When stderr is a
 * pipe or a file nothing is printed, so logs and scripts see only results. */
#include "cli.h"

#include <stdarg.h>
#include <unistd.h>

void cli_progress_start(cli_progress *p, const char *what) {
    *p = (cli_progress){.tty = isatty(STDERR_FILENO) == 1, .t0 = lm_now(), .what = what};
}

/* "12s", "3m05s", "1h02m" */
static void format_eta(double s, char *out, size_t size) {
    long v = s < 0 ? 0 : (long)(s + 0.5);
    if (v < 60)
        snprintf(out, size, "%lds", v);
    else if (v < 3600)
        snprintf(out, size, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(out, size, "%ldh%02ldm", v / 3600, v / 60 % 60);
}

void cli_progress_update(cli_progress *p, const char *unit, int done, int total, uint64_t bytes,
                         uint64_t total_bytes) {
    if (!p->tty) return;
    double now = lm_now();
    /* a few redraws a second are enough, and the last one always shows */
    if (done < total && now - p->last < 0.2) return;
    p->last = now;
    double elapsed = now - p->t0, frac = total_bytes ? (double)bytes / (double)total_bytes
                                         : total     ? (double)done / total
                                                     : 0;
    char eta[32] = "?";
    if (frac > 0.001) format_eta(elapsed * (1 - frac) / frac, eta, sizeof eta);
    fprintf(stderr, "\r\033[K%s: %s %d/%d", p->what, unit, done, total);
    if (total_bytes && elapsed > 0) fprintf(stderr, ", %.0f MB/s", (double)bytes / 1e6 / elapsed);
    fprintf(stderr, ", %3.0f%%, ETA %s", 100 * frac, done < total ? eta : "0s");
    fflush(stderr);
}

void cli_progress_fraction(cli_progress *p, const char *text, double frac) {
    if (!p->tty) return;
    double now = lm_now();
    if (frac < 1 && now - p->last < 0.2) return;
    p->last = now;
    char eta[32] = "?";
    if (frac > 0.001) format_eta((now - p->t0) * (1 - frac) / frac, eta, sizeof eta);
    fprintf(stderr, "\r\033[K%s: %s, %3.0f%%, ETA %s", p->what, text, 100 * frac, eta);
    fflush(stderr);
}

void cli_progress_note(cli_progress *p, const char *fmt, ...) {
    if (!p->tty) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K%s: ", p->what);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->tty) fputs("\r\033[K", stderr);
    fflush(stderr);
}
