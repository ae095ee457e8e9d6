/* fuzz_transcript: transcript_load_json on arbitrary bytes.
 *
 * The loader reads a path, so each input goes to a file in a private
 * temporary folder (on /dev/shm when there is one: fast). Checked besides
 * crashes and leaks:
 *   - a file that does not load leaves the caller's chat exactly as it was,
 *     with a one-line error;
 *   - a file that loads is saved again, and that save loads and saves to the
 *     same bytes (resuming a resumed conversation loses nothing);
 *   - the loaded conversation renders through its chat template.
 *
 * libFuzzer: -max_len=65536 -timeout=10
 */
#include "chat.h"
#include "fuzz_scratch.h"
#include "transcript.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char in_path[4200], a_path[4200], b_path[4200], md_path[4200];

static void fail(const char *what) {
    fprintf(stderr, "fuzz_transcript: check failed: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_scratch_make("fuzz-transcript");
    fuzz_scratch_path(in_path, sizeof in_path, "in.json");
    fuzz_scratch_path(a_path, sizeof a_path, "a.json");
    fuzz_scratch_path(b_path, sizeof b_path, "b.json");
    fuzz_scratch_path(md_path, sizeof md_path, "t.md");
    return 0;
}

static void put_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        fail("cannot write the input file");
}

static char *slurp(const char *path, size_t *len) {
    char *text;
    lm_error err;
    if (lm_read_file(path, 1u << 28, &text, len, &err)) fail(err.msg);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    put_file(in_path, data, size);
    chat c;
    chat_init(&c, CHAT_TEMPLATE_LLAMA3);
    chat_set_system(&c, "kept");
    chat_add(&c, CHAT_ROLE_USER, "kept too");
    transcript_meta meta;
    memset(&meta, 0, sizeof meta);
    lm_error err = {{0}};
    if (transcript_load_json(in_path, &c, &meta, &err) != 0) {
        if (!err.msg[0] || strchr(err.msg, '\n')) fail("an error must be one line");
        if (c.n != 1 || strcmp(c.msgs[0].content, "kept too") != 0 || !c.system_prompt ||
            strcmp(c.system_prompt, "kept") != 0 || c.tmpl != CHAT_TEMPLATE_LLAMA3)
            fail("a file that did not load changed the chat");
        chat_free(&c);
        return 0;
    }

    /* what the chat screen does with it */
    lm_buf prompt = {0};
    chat_render(c.tmpl, c.msgs, c.n, true, &prompt);
    lm_buf_free(&prompt);

    /* save, load, save: the same bytes */
    if (transcript_save_json(&c, &meta, a_path, &err)) fail(err.msg);
    chat again;
    chat_init(&again, CHAT_TEMPLATE_PHI3);
    transcript_meta meta2;
    if (transcript_load_json(a_path, &again, &meta2, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        fail("a saved transcript does not load");
    }
    if (again.n != c.n) fail("the reloaded transcript has another number of messages");
    if (transcript_save_json(&again, &meta2, b_path, &err)) fail(err.msg);
    size_t na, nb;
    char *a = slurp(a_path, &na), *b = slurp(b_path, &nb);
    if (na != nb || memcmp(a, b, na) != 0) fail("save, load, save changed the file");
    free(a), free(b);
    if (transcript_save_markdown(&c, &meta, md_path, &err)) fail(err.msg);
    chat_free(&again);
    chat_free(&c);
    return 0;
}
