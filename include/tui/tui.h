/* tui: the full-screen chat a person sees. Everything with curses lives in
 * src/tui/ behind tui_run; what a conversation is lives in app/session.h. */
#ifndef LMTERM_TUI_H
#define LMTERM_TUI_H

#include "session.h"

/* LC_CTYPE from the environment, or C.UTF-8 when the environment sets none
 * (wide characters and readline's multibyte input need a UTF-8 locale). */
void tui_locale(void);

/* Why the full-screen chat cannot run on this terminal, or NULL. */
const char *tui_unavailable(void);
/* Runs the full-screen chat until the user quits. Returns the exit status;
 * a failure to start is in err (the terminal is already restored). */
int tui_run(const session_options *o, lm_error *err);

#endif
