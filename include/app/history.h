/* history: the lines a user typed, kept by readline in
 * $XDG_STATE_HOME/lmterm/history; shared by the full-screen and plain chats. */
#ifndef LMTERM_HISTORY_H
#define LMTERM_HISTORY_H

/* Reads $XDG_STATE_HOME/lmterm/history (or ~/.local/state/...). */
void history_open(void);
/* Adds a line and appends it to the file. */
void history_add(const char *line);

#endif
