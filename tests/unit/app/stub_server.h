/* Starts tests/tools/hub_server.py on 127.0.0.1 for a test and stops it. */
#ifndef LMTERM_TEST_STUB_SERVER_H
#define LMTERM_TEST_STUB_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct stub_server {
    pid_t pid;
    int port;
    char log[512]; /* the server's request log */
    char base[64]; /* "http://127.0.0.1:PORT" */
} stub_server;

/* args: extra arguments for the script, NULL-terminated. false (and the test
 * marked skipped) when python3 or the script is missing. */
bool stub_start(stub_server *s, const char *const *args);
void stub_stop(stub_server *s);
/* The number of lines of the request log that contain needle. */
int stub_log_count(const stub_server *s, const char *needle);
/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
int stub_closed_port(void);

#endif
