/* A fuzz target's private folder, for the files its checks write and read
 * back: on /dev/shm when it can be (or /tmp; run.sh points TMPDIR into a
 * folder it removes, even after a crash), emptied and removed at exit. */
#ifndef LMTERM_FUZZ_SCRATCH_H
#define LMTERM_FUZZ_SCRATCH_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_dir[4096];

static void fuzz_scratch_remove(void) {
    DIR *d = opendir(fuzz_dir);
    if (d) {
        char path[sizeof fuzz_dir + 256];
        for (struct dirent *e; (e = readdir(d));) {
            snprintf(path, sizeof path, "%s/%s", fuzz_dir, e->d_name);
            if (e->d_name[0] != '.') unlink(path);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
}

/* Makes the folder for `target` (exits when it cannot). */
static void fuzz_scratch_make(const char *target) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/lmterm-%s.XXXXXX", tmp, target);
    if (!mkdtemp(fuzz_dir)) {
        perror(target);
        exit(1);
    }
    atexit(fuzz_scratch_remove);
}

/* path = the folder's file `name`. */
static void fuzz_scratch_path(char *path, size_t size, const char *name) {
    snprintf(path, size, "%s/%s", fuzz_dir, name);
}

#endif
