"""`edgeformer chat` driven through a pipe: it answers every line, evaluates
only the new part of the conversation, /reset starts over, EOF exits 0.

usage: chat_repl_test.py --cli EDGEFORMER --model M.gguf
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ppl_common import check, run  # noqa: E402


def turns(out):
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [t for t in lines if "reply" in t], lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--set-meta", required=True, help="the gguf_set_meta fixture tool")
    args = ap.parse_args()
    chat = [args.cli, "chat", "-m", args.model, "--temp", "0", "-n", "4"]

    # Plain text mode, as a user would pipe it: two lines, two answers.
    rc, out, err = run(chat, stdin="Hello there\nHow are you?\n")
    check(rc == 0, "chat exits 0 at EOF")
    check(out.count("\n") >= 2, f"two answers printed ({out!r})")
    check("ChatML" in err, "the model has no template: ChatML fallback with a warning")

    # JSON mode: one object per turn.
    rc, out, _ = run(chat + ["--json"], stdin="Hello there\nHow are you?\n")
    t, _ = turns(out)
    check(len(t) == 2 and [x["turn"] for x in t] == [1, 2], "answers twice")
    for x in t:
        check(1 <= x["gen_tokens"] <= 4 or x["stop_reason"] == "eog", f"turn {x['turn']}: at most -n 4 tokens")
        check(x["n_past"] == x["n_past_before"] + x["prompt_tokens"] + x["gen_tokens"],
              f"turn {x['turn']}: context = before + prompt + reply")
    check(t[0]["n_past_before"] == 0 and not t[0]["reused_context"], "turn 1 starts from an empty context")
    check(t[1]["reused_context"] and t[1]["n_past_before"] == t[0]["n_past"],
          "turn 2 keeps the context of turn 1")
    check(t[1]["prompt_tokens"] < t[1]["n_past_before"],
          "turn 2 evaluates only the new part, not the whole conversation")

    # /reset: the next answer is the one a fresh conversation gives.
    rc, out, _ = run(chat + ["--json"], stdin="Hello there\n/reset\nHow are you?\n")
    t, lines = turns(out)
    check(rc == 0 and len(t) == 2 and {"reset": True} in lines, "/reset is acknowledged")
    rc, out, _ = run(chat + ["--json"], stdin="How are you?\n")
    fresh, _ = turns(out)
    check(t[1]["n_past_before"] == 0, "after /reset the context is empty")
    check(t[1]["reply"] == fresh[0]["reply"] and t[1]["n_past"] == fresh[0]["n_past"],
          "after /reset the reply equals a fresh conversation's")

    # A system message is rendered before the first user turn.
    rc, out, _ = run(chat + ["--json", "--system", "Be brief."], stdin="Hi\n")
    s, _ = turns(out)
    check(rc == 0 and len(s) == 1, "--system: one answer")
    rc, out, _ = run(chat + ["--json"], stdin="Hi\n")
    plain, _ = turns(out)
    check(s[0]["prompt_tokens"] > plain[0]["prompt_tokens"], "--system adds its message to the prompt")

    # A model whose metadata carries a Llama-3 template is chatted with in that format.
    llama3 = os.path.splitext(args.model)[0] + "_llama3.gguf"
    tmpl = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
            "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}")
    run([args.set_meta, args.model, llama3, "--str", "tokenizer.chat_template", tmpl])
    rc, out, err = run([args.cli, "chat", "-m", llama3, "--temp", "0", "-n", "2", "-v", "--json"], stdin="Hi\nAgain\n")
    t3, _ = turns(out)
    check(rc == 0 and "chat template: llama3" in err and "ChatML" not in err and len(t3) == 2,
          "the template in the model's metadata is used (llama3), without a warning")
    check(t3[0]["prompt_tokens"] > plain[0]["prompt_tokens"], "the Llama-3 rendering differs from ChatML's")

    # Empty input: nothing to answer, still exit 0.
    rc, out, _ = run(chat, stdin="")
    check(rc == 0 and out == "", "empty stdin exits 0 without output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
