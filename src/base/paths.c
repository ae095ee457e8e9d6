/* paths: XDG base folders, looked up in one place. */
#include "paths.h"

#include "util.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const xdg_vars[PATHS_N_KINDS] = {"XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                    "XDG_STATE_HOME", "XDG_CACHE_HOME"};
static const char *const xdg_defaults[PATHS_N_KINDS] = {".config", ".local/share", ".local/state",
                                                        ".cache"};

const char *paths_home(void) {
    const char *h = getenv("HOME");
    if (h && h[0] == '/') return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

const char *paths_xdg_var(enum paths_kind kind) {
    return xdg_vars[kind];
}

char *paths_xdg_base(enum paths_kind kind) {
    const char *v = getenv(xdg_vars[kind]);
    if (v && v[0] == '/') return lm_xstrdup(v);
    const char *home = paths_home();
    if (!home) return NULL;
    lm_buf b = {0};
    lm_buf_printf(&b, "%s/%s", home, xdg_defaults[kind]);
    return (char *)lm_buf_cstr(&b);
}

char *paths_lmterm(enum paths_kind kind, const char *rel) {
    char *base = paths_xdg_base(kind);
    if (!base) return NULL;
    lm_buf b = {0};
    lm_buf_printf(&b, "%s/lmterm%s%s", base, rel ? "/" : "", rel ? rel : "");
    free(base);
    return (char *)lm_buf_cstr(&b);
}
