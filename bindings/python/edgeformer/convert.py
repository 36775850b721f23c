"""convert_hf: a Hugging Face checkpoint folder to one GGUF file."""
from __future__ import annotations

import os
from typing import List, Optional, Union

from . import _lib
from .errors import check
from .quant import ProgressCallback, progress_callback


def convert_hf(hf_dir: Union[str, "os.PathLike[str]"], out_path: Union[str, "os.PathLike[str]"],
               type_name: Optional[str] = None, progress: Optional[ProgressCallback] = None) -> None:
    """Converts config.json + *.safetensors + tokenizer.json in hf_dir into a GGUF
    file at out_path; type_name ("f32", "f16", "bf16", "q8_0"...; None = "f16")
    sets the weight matrices' type. progress(item, done, total) may return truthy
    to cancel (CancelledError); no file is left behind on failure."""
    raised: List[BaseException] = []
    cb = progress_callback(progress, raised)
    st = _lib.lib().ef_convert_hf(os.fsencode(hf_dir), os.fsencode(out_path),
                                  type_name.encode() if type_name is not None else None, cb, None)
    if raised:
        raise raised[0]
    check(st)
