"""Writes a trained SentencePiece model as a vocabulary-only GGUF ("llama"
tokenizer: pieces, scores, token types, byte fallback), shared by the
SentencePiece conformance test and the demo model's vocabulary script."""
import gguf

# tokenizer.ggml.token_type values
NORMAL, UNKNOWN, CONTROL, UNUSED, BYTE = 1, 2, 3, 5, 6


def token_type(sp, i):
    if sp.is_unknown(i):
        return UNKNOWN
    if sp.is_control(i):
        return CONTROL
    if sp.is_unused(i):
        return UNUSED
    if sp.is_byte(i):
        return BYTE
    return NORMAL


def write_vocab(sp, path):
    """sp: a loaded sentencepiece.SentencePieceProcessor."""
    n = sp.get_piece_size()
    w = gguf.Writer()
    w.add_str("general.architecture", "llama")
    w.add_str("tokenizer.ggml.model", "llama")
    w.add_arr("tokenizer.ggml.tokens", gguf.STRING, [sp.id_to_piece(i) for i in range(n)])
    w.add_arr("tokenizer.ggml.scores", gguf.F32, [sp.get_score(i) for i in range(n)])
    w.add_arr("tokenizer.ggml.token_type", gguf.I32, [token_type(sp, i) for i in range(n)])
    w.add_u32("tokenizer.ggml.unknown_token_id", sp.unk_id())
    w.add_u32("tokenizer.ggml.bos_token_id", sp.bos_id())
    w.add_u32("tokenizer.ggml.eos_token_id", sp.eos_id())
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_space_prefix", True)
    w.write(path)
    return n
