#!/usr/bin/env bash
# The official `openai` npm package against lmterm serve: a whole and a
# streamed chat completion, and the model list. Runs where node_modules/openai
# exists (in the repository or build/npm-openai) or where `npm install openai`
# finishes within 20 s into build/npm-openai (git-ignored); skipped otherwise.
. "$(dirname "$0")/../lib.sh"
plan 1
. "$(dirname "$0")/serve_lib.bash"

root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v node >/dev/null 2>&1; then
    skip serve_openai_npm "node is not installed"
    exit 0
fi
mods=
for d in "$root/node_modules" "$root/build/npm-openai/node_modules"; do
    [ -d "$d/openai" ] && { mods=$d; break; }
done
if [ -z "$mods" ] && command -v npm >/dev/null 2>&1; then
    mkdir -p "$root/build/npm-openai"
    if timeout 20 npm install --prefix "$root/build/npm-openai" --no-audit --no-fund --silent openai >/dev/null 2>&1; then
        mods="$root/build/npm-openai/node_modules"
    fi
fi
if [ -z "$mods" ] || [ ! -d "$mods/openai" ]; then
    skip serve_openai_npm "the npm package openai is not installed and npm could not fetch it"
    exit 0
fi

export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_CACHE_HOME="$TMP/cache"
M=$(tiny_model phi3 q8_0) || { fail serve_openai_npm "synth failed"; exit 0; }
serve_start "$TMP/log" -m "$M" -t 1 -c 512 || { fail serve_openai_npm "no server"; exit 0; }
cat >"$TMP/client.cjs" <<'JS'
const OpenAI = require("openai");
const client = new OpenAI({ baseURL: process.argv[2], apiKey: "none" });
(async () => {
  const models = await client.models.list();
  const id = models.data[0].id;
  const msgs = [{ role: "user", content: "Tell me a story" }];
  const whole = await client.chat.completions.create({ model: id, messages: msgs, max_tokens: 16, temperature: 0 });
  const stream = await client.chat.completions.create({ model: id, messages: msgs, max_tokens: 16, temperature: 0,
                                                        stream: true, stream_options: { include_usage: true } });
  let text = "", usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) { text += c.delta.content || ""; if (c.finish_reason) finish = c.finish_reason; }
  }
  const same = text === whole.choices[0].message.content;
  console.log(JSON.stringify({ id, same, finish, whole_finish: whole.choices[0].finish_reason,
                               usage: usage && usage.completion_tokens, whole_usage: whole.usage.completion_tokens }));
})().catch((e) => { console.log("error: " + e); process.exit(1); });
JS
out=$(NODE_PATH="$mods" timeout 60 node "$TMP/client.cjs" "http://127.0.0.1:$PORT/v1" 2>&1)
mid=${M##*/}
if [ "$out" = "{\"id\":\"${mid%.gguf}\",\"same\":true,\"finish\":\"length\",\"whole_finish\":\"length\",\"usage\":16,\"whole_usage\":16}" ]; then
    ok serve_openai_npm
else
    fail serve_openai_npm "$out"
fi
serve_stop
