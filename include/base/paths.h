/* paths: where lmterm keeps its files, by the XDG base directory spec.
 * One place answers "which folder", so config, transcripts, history, the
 * demo model and pulled models agree on it. */
#ifndef LMTERM_PATHS_H
#define LMTERM_PATHS_H

enum paths_kind { PATHS_CONFIG, PATHS_DATA, PATHS_STATE, PATHS_CACHE, PATHS_N_KINDS };

/* $HOME when absolute, else the password database's home; NULL when neither. */
const char *paths_home(void);

/* $XDG_..._HOME (the spec ignores a relative value), else its default under
 * the home folder: ~/.config, ~/.local/share, ~/.local/state, ~/.cache.
 * NULL when there is no home folder. Caller frees. */
char *paths_xdg_base(enum paths_kind kind);

/* paths_xdg_base(kind)/lmterm/rel; rel may be NULL. Caller frees. */
char *paths_lmterm(enum paths_kind kind, const char *rel);

/* The variable name of a kind ("XDG_DATA_HOME"). */
const char *paths_xdg_var(enum paths_kind kind);

#endif
