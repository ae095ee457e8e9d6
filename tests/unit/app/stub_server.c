/* The stand-in server's lifetime for unit tests (see stub_server.h). */
#include "stub_server.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STUB_SCRIPT "tests/tools/hub_server.py"

bool stub_start(stub_server *s, const char *const *args) {
    memset(s, 0, sizeof *s);
    if (access(STUB_SCRIPT, R_OK) != 0) {
        test_skip("tests/tools/hub_server.py not found (run from the source folder)");
        return false;
    }
    static int seq;
    char portfile[512];
    snprintf(portfile, sizeof portfile, "%s/stub-%d-%d.port", test_tmpdir(), (int)getpid(), ++seq);
    snprintf(s->log, sizeof s->log, "%s/stub-%d-%d.log", test_tmpdir(), (int)getpid(), seq);
    const char *argv[64] = {"python3", STUB_SCRIPT, "--port-file", portfile, "--log", s->log};
    int n = 6;
    for (const char *const *a = args; a && *a && n < 62; a++) argv[n++] = *a;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200; i++) { /* up to 10 s on a busy machine */
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok) {
                snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
                return true;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            test_skip("python3 could not start the stand-in server");
            return false;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    stub_stop(s);
    test_fail(__FILE__, __LINE__, "the stand-in server did not start within 10 s");
    return false;
}

void stub_stop(stub_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

int stub_log_count(const stub_server *s, const char *needle) {
    FILE *f = fopen(s->log, "r");
    if (!f) return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

int stub_closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}
