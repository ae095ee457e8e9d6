/* dialogs: the menus over the chat. Each fills a menu (tui_menu.c) from the
 * session's data and turns the user's choice into a session call; the
 * session does the work and says what happened in the conversation pane.
 * A choice the session refuses (a model too big for the memory, a bad
 * value) leaves the dialog open with the reason in its message line.
 *
 *   models       F2, /model         the model in use, configured and found ones
 *   precision    F3, /precision     native, FP32, FP16, INT8, INT4 with memory
 *   system       F4                 edit the system prompt, or pick a preset
 *   settings     F5                 sampling, threads, context, theme, save
 *   conversations F6, /load          saved conversations, newest first
 *   themes       /theme, settings   the colour themes, previewed as you move
 *
 * And the box that shows a model loading, which is not a dialog: it is there
 * while the session is loading. */
#include "tui_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_footer(menu *m, const char *enter) {
    snprintf(m->footer, sizeof m->footer, "Up/Down move %s Enter %s %s Esc close", glyphs.bullet,
             enter, glyphs.bullet);
}

static void select_current(menu *m) {
    for (int i = 0; i < m->n; i++)
        if (m->rows[i].current) m->sel = i;
}

static void set_header(menu *m, const char *header, const char *align) {
    free(m->header);
    m->header = lm_xstrdup(header);
    m->align = align;
}

/* ---- models ---- */

static void fill_models(dialog *d) {
    menu *m = &d->m;
    const session_model *rows;
    size_t n = session_models(d->host.s, &rows);
    const char *server = session_server_name(d->host.s);
    if (server) {
        char header[300];
        snprintf(header, sizeof header, "Model on %s", server);
        set_header(m, header, "l");
        for (size_t i = 0; i < n; i++) menu_add(m, rows[i].current, false, "%s", rows[i].name);
        select_current(m);
        if (n <= 1) menu_set_intro(m, "The server lists no other models.");
        set_footer(m, "use");
        return;
    }
    set_header(m, "Model\tArch\tParams\tFile\tStored\tContext", "llrrlr");
    for (size_t i = 0; i < n; i++) {
        const backend_model_meta *mm = rows[i].meta;
        char params[16], size[16];
        const quant_type_info *qi = quant_info(mm->type);
        /* a pulled file of another architecture stays listed, marked */
        bool runs = !strcmp(mm->arch, "phi3") || !strcmp(mm->arch, "llama");
        if (!mm->ok)
            menu_add(m, rows[i].current, true, "%s\tunreadable", rows[i].name);
        else
            menu_add(m, rows[i].current, !runs, "%s\t%s%s\t%s\t%s\t%s\t%d", rows[i].name, mm->arch,
                     runs ? "" : " (unsupported)", lm_format_count(mm->params, params),
                     lm_format_size(mm->file_bytes, size), qi ? qi->name : "?", mm->n_ctx_train);
    }
    char progress[160];
    if (download_progress_text(d->host.s, progress, sizeof progress)[0]) {
        for (char *tab = strchr(progress, '\t'); tab; tab = strchr(tab, '\t')) *tab = ' ';
        menu_add(m, false, false, "%s", progress); /* one cell: no column widens */
    } else {
        menu_add(m, false, false, "Download a model%s", glyphs.ellipsis);
    }
    select_current(m);
    const config *cfg = session_config(d->host.s);
    if (n <= 1)
        menu_set_intro(m, cfg->user_file
                              ? "No other models yet. Download one (the last row), put .gguf "
                                "files in a folder of model_dirs "
                                "(~/models by default) or list them under models: in your "
                                "config.yaml, or start lmterm with -m FILE. F1 says more."
                              : "No other models yet: download one (the last row) or start "
                                "lmterm with -m FILE.");
    set_footer(m, "load");
}

static bool models_key(dialog *d, enum menu_result r) {
    if (r != MENU_CHOSEN) return r != MENU_CLOSED;
    const session_model *rows;
    size_t n = session_models(d->host.s, &rows);
    if (d->m.sel == (int)n) { /* Download a model */
        dialog_host h = d->host;
        dialog_open(d, DIALOG_DOWNLOAD, &h);
        return true;
    }
    if (d->m.sel >= (int)n) return true;
    if (rows[d->m.sel].current) return false;
    lm_error err;
    if (session_load_model(d->host.s, rows[d->m.sel].path, &err) == 0) return false;
    menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
    return true;
}

/* ---- precision ---- */

/* Memory is what the status bar's RSS says after the switch: the weights
 * (the file's pages are given back once converted); the KV cache adds to
 * it as the context fills, up to its size, said above. The measured columns are the last `lmterm compare` or
 * "Measure all" of this file: generation speed with a bar, resident
 * memory, ΔPPL and KL divergence against the highest precision. */
static void measured_cells(const measure_row *m, double max_tps, lm_buf *b) {
    if (m->state != MEASURE_DONE) {
        lm_buf_printf(b, "\t%s\t\t%s\t%s", glyphs.dash, glyphs.dash, glyphs.dash);
        return;
    }
    char rss[16];
    lm_buf_printf(b, "\t%.1f ", m->gen_tps);
    measure_bar(m->gen_tps, max_tps, 8, (unsigned char)glyphs.bar_full[0] >= 0x80, b);
    lm_buf_printf(b, "\t%s", lm_format_size(m->rss_bytes, rss));
    if (m->is_base)
        lm_buf_puts(b, "\tbase\tbase");
    else if (m->has_kl)
        lm_buf_printf(b, "\t%+.3g\t%.4f", m->dppl, m->kld_mean);
    else
        lm_buf_printf(b, "\t%s\t%s", glyphs.dash, glyphs.dash);
}

static void fill_precision(dialog *d) {
    menu *m = &d->m;
    session_precision rows[SESSION_N_PRECISIONS];
    measure_row measured[SESSION_N_PRECISIONS];
    uint64_t avail;
    size_t n = session_precisions(d->host.s, rows, &avail);
    bool known = n && session_measured(d->host.s, measured);
    double max_tps = 0;
    for (size_t i = 0; known && i < n; i++)
        if (measured[i].state == MEASURE_DONE && measured[i].gen_tps > max_tps)
            max_tps = measured[i].gen_tps;
    set_header(m, "Precision\tWeights as\tMemory\t\tGen tok/s\tRSS\tΔPPL\tKL", "llrlrrrr");
    for (size_t i = 0; i < n; i++) {
        char size[16];
        const quant_type_info *qi = quant_info(rows[i].type);
        lm_buf b = {0};
        lm_buf_printf(&b, "%s\t%s\t%s\t%s", session_precision_label(rows[i].precision),
                      qi ? qi->name : "?", lm_format_size(rows[i].bytes, size),
                      rows[i].fits ? "" : "does not fit");
        if (known)
            measured_cells(&measured[i], max_tps, &b);
        else
            lm_buf_puts(&b, "\t\t\t\t");
        menu_add(m, rows[i].current, !rows[i].fits, "%s", lm_buf_cstr(&b));
        lm_buf_free(&b);
    }
    char step[160];
    double f;
    bool measuring = n && session_measure_progress(d->host.s, step, sizeof step, &f);
    if (measuring) {
        menu_add(m, false, true, "Measuring%s\t%.0f%%\t\t\t\t\t\t", glyphs.ellipsis, 100 * f);
        if (!d->m.message[0] || d->m.message_style == STYLE_META)
            menu_message(m, STYLE_META, "%s (Esc cancels)", step);
    } else if (n) {
        if (m->message_style != STYLE_ERROR) m->message[0] = 0; /* the progress line */
        menu_add(m, false, false, "Measure all%s\tspeed, memory, accuracy\t\t\t\t\t\t",
                 glyphs.ellipsis);
    }
    select_current(m);
    char a[16], kv[16];
    if (!n && session_server_name(d->host.s))
        menu_set_intro(m, "The server decides the precision of its models; lmterm cannot change "
                          "it from here.");
    else if (!n)
        menu_set_intro(m, "No model is loaded yet.");
    else if (avail) {
        char intro[320];
        snprintf(intro, sizeof intro,
                 "Memory: the weights, and the KV cache as the context fills (up to %s); %s "
                 "available. Switching converts the file's weights; the conversation stays.%s",
                 lm_format_size(rows[0].kv_bytes, kv), lm_format_size(avail, a),
                 known ? "" : " Measure all fills in speed and accuracy (minutes).");
        menu_set_intro(m, intro);
    }
    if (measuring) /* F3 again closes the menu (dialog_key_pressed) */
        snprintf(m->footer, sizeof m->footer,
                 "Up/Down move %s Enter switch %s F3 hide, it goes on %s Esc cancel it",
                 glyphs.bullet, glyphs.bullet, glyphs.bullet);
    else
        set_footer(m, "switch");
}

static bool precision_key(dialog *d, enum menu_result r) {
    char step[160];
    double f;
    bool measuring = session_measure_progress(d->host.s, step, sizeof step, &f);
    if (r == MENU_CLOSED && measuring) { /* Esc stops the measurement first */
        session_measure_cancel(d->host.s);
        menu_message(&d->m, STYLE_WARNING, "Cancelling the measurement%s", glyphs.ellipsis);
        return true;
    }
    if (r != MENU_CHOSEN) return r != MENU_CLOSED;
    session_precision rows[SESSION_N_PRECISIONS];
    uint64_t avail;
    size_t n = session_precisions(d->host.s, rows, &avail);
    lm_error err;
    if (n && d->m.sel == (int)n) { /* Measure all */
        if (!measuring && session_measure_start(d->host.s, &err) != 0)
            menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
        return true;
    }
    if (d->m.sel >= (int)n) return true;
    if (rows[d->m.sel].current) return false;
    if (session_set_precision(d->host.s, rows[d->m.sel].precision, &err) == 0) return false;
    menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
    return true;
}

/* ---- system prompt ---- */

enum { SYSTEM_EDIT, SYSTEM_NONE, SYSTEM_PRESETS };

static void fill_system(dialog *d) {
    menu *m = &d->m;
    const chat *c = session_get_chat(d->host.s);
    const char *now = c->system_prompt && c->system_prompt[0] ? c->system_prompt : NULL;
    lm_buf intro = {0};
    if (now)
        lm_buf_printf(&intro, "Now: %s", now);
    else
        lm_buf_puts(&intro, "No system prompt now.");
    lm_buf_puts(&intro, "\nA change takes effect with the next reply.");
    menu_set_intro(m, lm_buf_cstr(&intro));
    lm_buf_free(&intro);
    menu_add(m, false, false, "Edit the text%s\t(in the input box, then Enter)", glyphs.ellipsis);
    menu_add(m, !now, false, "No system prompt\t");
    const config *cfg = session_config(d->host.s);
    for (size_t i = 0; i < cfg->n_presets; i++) {
        const config_preset *p = &cfg->presets[i];
        char first[64];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(p->text, "\n"), p->text);
        menu_add(m, now && strcmp(now, p->text) == 0, false, "Preset %s\t%s", p->name, first);
    }
    select_current(m);
    set_footer(m, "choose");
}

static bool system_key(dialog *d, enum menu_result r) {
    if (r != MENU_CHOSEN) return r != MENU_CLOSED;
    const chat *c = session_get_chat(d->host.s);
    if (d->m.sel == SYSTEM_EDIT) {
        lm_buf text = {0};
        lm_buf_printf(&text, "/system %s", c->system_prompt ? c->system_prompt : "");
        d->host.edit_input(d->host.ctx, lm_buf_cstr(&text));
        lm_buf_free(&text);
    } else if (d->m.sel == SYSTEM_NONE) {
        session_set_system(d->host.s, NULL);
    } else {
        const config *cfg = session_config(d->host.s);
        size_t i = (size_t)d->m.sel - SYSTEM_PRESETS;
        if (i < cfg->n_presets) session_set_system(d->host.s, cfg->presets[i].text);
    }
    return false;
}

/* ---- settings ---- */

enum { SETTINGS_THEME = SESSION_N_SETTINGS, SETTINGS_SAVE };

static void fill_settings(dialog *d) {
    menu *m = &d->m;
    session_setting rows[SESSION_N_SETTINGS];
    session_settings(d->host.s, rows);
    for (int i = 0; i < SESSION_N_SETTINGS; i++)
        menu_add(m, false, false, "%s\t%s", rows[i].label, rows[i].value);
    menu_add(m, false, false, "Theme\t%s", d->host.theme_name(d->host.ctx));
    const config *cfg = session_config(d->host.s);
    menu_add(m, false, !cfg->user_file, "Save as default\t%s",
             cfg->user_file ? cfg->user_file : "(no config file)");
    set_footer(m, "change");
}

static void settings_help(dialog *d) {
    session_setting rows[SESSION_N_SETTINGS];
    session_settings(d->host.s, rows);
    const char *help = d->m.sel < SESSION_N_SETTINGS ? rows[d->m.sel].help
                       : d->m.sel == SETTINGS_THEME
                           ? "the colours; Enter shows them all, previewed as you move"
                           : "write these settings into your config file for the next start";
    menu_message(&d->m, STYLE_META, "%s", help);
}

static void refill(dialog *d) {
    int sel = d->m.sel;
    menu_clear_rows(&d->m);
    fill_settings(d);
    d->m.sel = sel;
}

static bool setting_edited(dialog *d) {
    session_setting rows[SESSION_N_SETTINGS];
    session_settings(d->host.s, rows);
    const session_setting *st = &rows[d->m.sel];
    lm_error err;
    if (session_set(d->host.s, st->name, d->m.field, &err) != 0) {
        menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
        return true;
    }
    session_status status;
    session_get_status(d->host.s, &status);
    if (st->reload && status.state == SESSION_LOADING) return false; /* the loading box shows */
    refill(d);
    session_settings(d->host.s, rows);
    menu_message(&d->m, STYLE_NOTICE, "%s: %s%s", rows[d->m.sel].label, rows[d->m.sel].value,
                 rows[d->m.sel].reload ? "" : ", from the next reply");
    return true;
}

static void open_themes(dialog *d, bool from_settings);

static bool settings_key(dialog *d, enum menu_result r) {
    if (r == MENU_MOVED) settings_help(d);
    if (r == MENU_EDITED) return setting_edited(d);
    if (r == MENU_EDIT_CANCELLED) settings_help(d);
    if (r != MENU_CHOSEN) return r != MENU_CLOSED;
    if (d->m.sel < SESSION_N_SETTINGS) {
        session_setting rows[SESSION_N_SETTINGS];
        session_settings(d->host.s, rows);
        char value[48];
        snprintf(value, sizeof value, "%.*s", (int)strcspn(rows[d->m.sel].value, " "),
                 rows[d->m.sel].value);
        menu_edit(&d->m, value);
        menu_message(&d->m, STYLE_META, "%s. Enter sets it, Esc leaves it.", rows[d->m.sel].help);
    } else if (d->m.sel == SETTINGS_THEME) {
        open_themes(d, true);
    } else {
        char path[1024];
        lm_error err;
        if (session_save_defaults(d->host.s, path, sizeof path, &err) == 0)
            menu_message(&d->m, STYLE_NOTICE, "Saved to %s.", path);
        else
            menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
    }
    return true;
}

/* ---- conversations ---- */

static void fill_conversations(dialog *d) {
    menu *m = &d->m;
    const saved_conversation *rows;
    size_t n = session_conversations(d->host.s, &rows);
    set_header(m, "Saved\tModel\tFirst message", NULL);
    for (size_t i = 0; i < n; i++) {
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&rows[i].mtime));
        if (rows[i].error[0])
            menu_add(m, false, true, "%s\tunreadable\t%s", when, rows[i].error);
        else
            menu_add(m, false, false, "%s\t%s\t%s", when, rows[i].model[0] ? rows[i].model : "?",
                     rows[i].first);
    }
    if (!n)
        menu_set_intro(m, "No saved conversations yet. A conversation is saved after every reply "
                          "(autosave) and with Ctrl-S.");
    set_footer(m, "resume");
}

static bool conversations_key(dialog *d, enum menu_result r) {
    if (r != MENU_CHOSEN) return r != MENU_CLOSED;
    const saved_conversation *rows;
    size_t n = session_conversations(d->host.s, &rows);
    if (d->m.sel >= (int)n) return true;
    lm_error err;
    if (session_resume(d->host.s, rows[d->m.sel].path, &err) == 0) return false;
    menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
    return true;
}

/* ---- themes ---- */

static void fill_themes(dialog *d) {
    menu *m = &d->m;
    const char *now = d->host.theme_name(d->host.ctx);
    for (size_t i = 0; i < d->n_themes; i++)
        menu_add(m, strcmp(d->themes[i], now) == 0, false, "%s", d->themes[i]);
    select_current(m);
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc) menu_set_intro(m, "NO_COLOR is set: every theme shows without colours.");
    set_footer(m, "keep");
}

static void open_themes(dialog *d, bool from_settings) {
    menu_free(&d->m);
    menu_init(&d->m, "Theme");
    d->kind = DIALOG_THEMES;
    d->themes_from_settings = from_settings;
    snprintf(d->saved_theme, sizeof d->saved_theme, "%s", d->host.theme_name(d->host.ctx));
    theme_list_free(d->themes, d->n_themes);
    d->n_themes = theme_list(session_config(d->host.s)->data_dir, &d->themes);
    fill_themes(d);
}

/* Back to settings (when the picker came from there), else closed. */
static bool leave_themes(dialog *d) {
    if (!d->themes_from_settings) return false;
    dialog_host h = d->host;
    dialog_open(d, DIALOG_SETTINGS, &h);
    d->m.sel = SETTINGS_THEME;
    settings_help(d);
    return true;
}

static bool themes_key(dialog *d, enum menu_result r) {
    lm_error err;
    if (r == MENU_MOVED && (size_t)d->m.sel < d->n_themes &&
        d->host.set_theme(d->host.ctx, d->themes[d->m.sel], &err) != 0)
        menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
    if (r == MENU_CLOSED) {
        d->host.set_theme(d->host.ctx, d->saved_theme, &err);
        return leave_themes(d);
    }
    if (r != MENU_CHOSEN) return true;
    if ((size_t)d->m.sel < d->n_themes &&
        d->host.set_theme(d->host.ctx, d->themes[d->m.sel], &err)) {
        menu_message(&d->m, STYLE_ERROR, "%s", err.msg);
        return true;
    }
    return leave_themes(d);
}

/* ---- the dialog ---- */

static const char *const titles[] = {
    [DIALOG_MODELS] = "Model",
    [DIALOG_PRECISION] = "Precision",
    [DIALOG_SYSTEM] = "System prompt",
    [DIALOG_SETTINGS] = "Settings",
    [DIALOG_CONVERSATIONS] = "Saved conversations",
    [DIALOG_THEMES] = "Theme",
    [DIALOG_DOWNLOAD] = "Download a model",
};

void dialog_open(dialog *d, enum dialog_kind kind, const dialog_host *h) {
    dialog_close(d);
    d->host = *h;
    d->kind = kind;
    menu_init(&d->m, titles[kind]);
    switch (kind) {
    case DIALOG_MODELS:
        fill_models(d);
        break;
    case DIALOG_PRECISION:
        fill_precision(d);
        break;
    case DIALOG_SYSTEM:
        fill_system(d);
        break;
    case DIALOG_SETTINGS:
        fill_settings(d);
        settings_help(d);
        break;
    case DIALOG_CONVERSATIONS:
        fill_conversations(d);
        break;
    case DIALOG_THEMES:
        open_themes(d, false);
        break;
    case DIALOG_DOWNLOAD:
        download_dialog_fill(d);
        break;
    case DIALOG_NONE:
        break;
    }
}

void dialog_close(dialog *d) {
    menu_free(&d->m);
    theme_list_free(d->themes, d->n_themes);
    d->themes = NULL;
    d->n_themes = 0;
    d->kind = DIALOG_NONE;
}

bool dialog_key(dialog *d, const tui_key *k) {
    enum menu_result r = menu_key(&d->m, k);
    bool open = true;
    switch (d->kind) {
    case DIALOG_MODELS:
        open = models_key(d, r);
        break;
    case DIALOG_PRECISION:
        open = precision_key(d, r);
        break;
    case DIALOG_SYSTEM:
        open = system_key(d, r);
        break;
    case DIALOG_SETTINGS:
        open = settings_key(d, r);
        break;
    case DIALOG_CONVERSATIONS:
        open = conversations_key(d, r);
        break;
    case DIALOG_THEMES:
        open = themes_key(d, r);
        break;
    case DIALOG_DOWNLOAD:
        open = download_dialog_key(d, r);
        break;
    case DIALOG_NONE:
        open = false;
        break;
    }
    if (!open) dialog_close(d);
    return open;
}

void dialog_refresh(dialog *d) {
    if (d->kind == DIALOG_PRECISION) { /* a measurement's progress, or its results */
        int sel = d->m.sel;
        menu_clear_rows(&d->m);
        fill_precision(d);
        if (sel < d->m.n) d->m.sel = sel;
        return;
    }
    if ((d->kind != DIALOG_MODELS && d->kind != DIALOG_DOWNLOAD) || d->m.editing) return;
    char progress[160];
    if (d->kind == DIALOG_MODELS && d->m.n > 0 &&
        download_progress_text(d->host.s, progress, sizeof progress)[0]) {
        /* only the progress row changes: no rescan of the model folders */
        for (char *tab = strchr(progress, '\t'); tab; tab = strchr(tab, '\t')) *tab = ' ';
        free(d->m.rows[d->m.n - 1].cells);
        d->m.rows[d->m.n - 1].cells = lm_xstrdup(progress);
        return;
    }
    int sel = d->m.sel;
    menu_clear_rows(&d->m);
    if (d->kind == DIALOG_MODELS)
        fill_models(d);
    else
        download_dialog_fill(d);
    d->m.sel = sel < d->m.n ? sel : d->m.n - 1;
}

void dialog_draw(dialog *d, int rows, int cols) {
    if (d->kind != DIALOG_NONE) menu_draw(&d->m, rows, cols);
}

/* ---- loading ---- */

static void draw_bar(WINDOW *w, int y, int width, float progress) {
    int pct = (int)(progress * 100); /* as the status bar says it */
    if (pct > 100) pct = 100;
    if (pct < 0) pct = 0;
    int cells = width - 6, full = cells * pct / 100;
    wmove(w, y, 2);
    style_set(w, STYLE_CURRENT);
    for (int i = 0; i < full; i++) tui_puts(w, glyphs.bar_full, 1);
    style_set(w, STYLE_BORDER);
    for (int i = full; i < cells; i++) tui_puts(w, glyphs.bar_empty, 1);
    style_set(w, STYLE_HELP);
    wprintw(w, " %3d%%", pct);
}

typedef struct wrapped {
    const char *text;
    size_t off[2], len[2];
    int n;
} wrapped;

static void wrapped_line(void *ctx, size_t off, size_t len) {
    wrapped *w = ctx;
    if (w->n < 2) {
        w->off[w->n] = off;
        w->len[w->n++] = len;
    }
}

void progress_draw(const session_status *st, int rows, int cols) {
    if (st->state != SESSION_LOADING || !st->load_name) return;
    int width = cols - 4 < 64 ? cols - 4 : 64, height = 7;
    if (width < 24 || rows < height + 2) return;
    char what[256], how[256];
    snprintf(what, sizeof what, "%s at %s", st->load_name,
             session_precision_label(st->load_precision));
    if (st->model)
        snprintf(how, sizeof how, "Esc cancels; %s stays in use.",
                 st->demo ? "the demo model" : st->model->name);
    else
        snprintf(how, sizeof how, "Esc cancels.");
    wrapped hw = {.text = how};
    text_wrap(how, strlen(how), width - 4, true, wrapped_line, &hw);
    WINDOW *w = newwin(height, width, (rows - height) / 2, (cols - width) / 2);
    if (!w) return;
    style_background(w, STYLE_HELP);
    werase(w);
    style_set(w, STYLE_BORDER);
    box(w, 0, 0);
    style_set(w, STYLE_HELP_KEY);
    mvwaddstr(w, 0, 2, " Loading ");
    style_set(w, STYLE_HELP);
    wmove(w, 1, 2);
    tui_puts(w, what, width - 4);
    draw_bar(w, 2, width - 2, st->progress);
    style_set(w, STYLE_META);
    for (int i = 0; i < hw.n; i++) {
        wmove(w, 4 + i, 2);
        tui_put(w, how + hw.off[i], hw.len[i], width - 4);
    }
    wnoutrefresh(w);
    delwin(w);
}
