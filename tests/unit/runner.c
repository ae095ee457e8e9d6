/* Runs the registered unit tests (those whose name or file contains argv[1],
 * if given); prints "plan N", one line a test and a summary line
 * "N passed, N failed" (", N skipped" when some were skipped). */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TESTS 1024

static struct {
    const char *name, *file;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int current_failures;
static const char *current_skip;

void test_register(const char *name, const char *file, test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].file = file;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    if (current_failures < 20) {
        fprintf(stdout, "    %s:%d: ", file, line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    } else if (current_failures == 20) {
        fprintf(stdout, "    (further failures of this test not shown)\n");
    }
    current_failures++;
}

void test_skip(const char *why) {
    current_skip = why;
}

const char *test_conformance_dir(void) {
    static char path[4096];
    const char *env = getenv("LMTERM_CONFORMANCE");
    const char *cands[] = {env, "../shared/conformance", "../../shared/conformance"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        struct stat st;
        if (!cands[i] || !*cands[i]) continue;
        snprintf(path, sizeof path, "%s/models", cands[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(path, sizeof path, "%s", cands[i]);
            return path;
        }
    }
    return NULL;
}

static char tmpdir[256];

static void remove_tmpdir(void) {
    if (!tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *test_tmpdir(void) {
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/lmterm-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

static int selected(int i, int argc, char **argv) {
    return argc < 2 || strstr(tests[i].name, argv[1]) || strstr(tests[i].file, argv[1]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0, skipped = 0, planned = 0;
    for (int i = 0; i < n_tests; i++) planned += selected(i, argc, argv);
    /* tests/run.sh compares this with the result lines: a crash part-way is a FAIL. */
    printf("plan %d\n", planned);
    for (int i = 0; i < n_tests; i++) {
        if (!selected(i, argc, argv)) continue;
        current_failures = 0;
        current_skip = NULL;
        tests[i].fn();
        if (current_failures) {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        } else if (current_skip) {
            printf("skip %s: %s\n", tests[i].name, current_skip);
            skipped++;
        } else {
            printf("ok   %s\n", tests[i].name);
            passed++;
        }
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
