/* The download dialog: the model menu's "Download a model". A short list of
 * known-good instruct models, "another repository" typed in place, and while
 * a download runs, its progress in the first row (Enter or Esc stops it).
 * The download itself is the session's (session_download_*). */
#include "hub.h"
#include "tui_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void eta_text(double s, char *buf, size_t size) {
    if (s < 0 || s > 99 * 3600)
        snprintf(buf, size, "--:--");
    else if (s >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
}

const char *download_progress_text(session *s, char *buf, size_t size) {
    download_state st;
    buf[0] = 0;
    if (!session_download_running(s) || !session_download_state(s, &st)) return buf;
    const hub_progress *p = &st.progress;
    const char *name = st.file[0] ? st.file : st.ref;
    if (p->phase == HUB_PHASE_LIST || !p->total) {
        snprintf(buf, size, "Downloading %s\tlisting the files%s", name, glyphs.ellipsis);
        return buf;
    }
    char eta[32];
    eta_text(p->eta_s, eta, sizeof eta);
    snprintf(buf, size, "%s %s\t%d%%  %.1f/%.1f MB  %.1f MB/s  ETA %s",
             p->phase == HUB_PHASE_CHECK ? "Checking" : "Downloading", name,
             (int)(100.0 * (double)p->done / (double)p->total), (double)p->done / 1e6,
             (double)p->total / 1e6, p->bytes_per_s / 1e6, eta);
    return buf;
}

/* Rows: [progress], the suggestions, "another repository". */
static int first_suggestion(dialog *d) {
    return session_download_running(d->host.s) ? 1 : 0;
}

void download_dialog_fill(dialog *d) {
    menu *m = &d->m;
    free(m->header);
    m->header = lm_xstrdup("Model\tQuant\tSize");
    m->align = "llr";
    char progress[200];
    if (download_progress_text(d->host.s, progress, sizeof progress)[0])
        menu_add(m, true, false, "%s", progress);
    size_t n;
    const hub_suggestion *list = hub_suggestions(&n);
    for (size_t i = 0; i < n; i++)
        menu_add(m, false, false, "%s\t%s\t~%s", list[i].label, list[i].quant, list[i].size);
    menu_add(m, false, false, "Another repository%s\tORG/NAME[:QUANT]\t", glyphs.ellipsis);
    if (!m->intro) {
        char *dir = hub_models_dir();
        lm_buf b = {0};
        lm_buf_printf(&b,
                      "Instruct models as GGUF files from Hugging Face, saved in %s (also: "
                      "lmterm pull REPO[:QUANT]). The chat goes on while it downloads; it loads "
                      "when done. Sizes are approximate.",
                      dir ? dir : "the data folder");
        menu_set_intro(m, lm_buf_cstr(&b));
        lm_buf_free(&b);
        free(dir);
    }
    snprintf(m->footer, sizeof m->footer, "Enter %s %s Esc %s",
             session_download_running(d->host.s) ? "stop / download" : "download", glyphs.bullet,
             session_download_running(d->host.s) ? "stop the download" : "close");
}

static bool start(dialog *d, const char *ref) {
    lm_error err;
    if (session_download_start(d->host.s, ref, &err) != 0) {
        menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
        return true;
    }
    dialog_refresh(d);
    d->m.sel = 0;
    menu_message(&d->m, STYLE_NOTICE, "Downloading %s. Esc stops it; F2 closes this menu.", ref);
    return true;
}

bool download_dialog_key(dialog *d, enum menu_result r) {
    session *s = d->host.s;
    bool running = session_download_running(s);
    if (r == MENU_CLOSED) {
        if (!running) return false;
        session_download_cancel(s);
        menu_message(&d->m, STYLE_NOTICE, "Stopping the download; what arrived is kept.");
        return true;
    }
    if (r == MENU_EDITED) return d->m.field[0] ? start(d, d->m.field) : true;
    if (r != MENU_CHOSEN) return true;
    int first = first_suggestion(d);
    size_t n;
    const hub_suggestion *list = hub_suggestions(&n);
    if (running && d->m.sel == 0) {
        session_download_cancel(s);
        menu_message(&d->m, STYLE_NOTICE, "Stopping the download; what arrived is kept.");
    } else if (d->m.sel >= first && d->m.sel < first + (int)n) {
        return start(d, list[d->m.sel - first].ref);
    } else if (d->m.sel == first + (int)n) {
        menu_edit(&d->m, "");
        menu_message(&d->m, STYLE_META,
                     "Type ORG/NAME[:QUANT], e.g. bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M. "
                     "Enter starts it, Esc leaves it.");
    }
    return true;
}
