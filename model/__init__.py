"""nanoGPT-family models for serving and training: pure PyTorch, no web imports."""
from .checkpoint import Checkpoint, CheckpointError, read_checkpoint
from .config import GPTConfig
from .generate import Decoder, generate, stream
from .gpt import GPT
from .loader import LoadedModel, load_model, resolve_device, resolve_dtype
from .sampling import SamplingParams
from .sequence import Sequence, StepOutput
from .tokenizer import GPT2Tokenizer, Tokenizer, TokenizerError, gpt2_tokenizer

__all__ = ["Checkpoint", "CheckpointError", "Decoder", "GPT", "GPT2Tokenizer", "GPTConfig", "LoadedModel",
           "SamplingParams", "Sequence", "StepOutput", "Tokenizer", "TokenizerError", "generate",
           "gpt2_tokenizer", "load_model", "read_checkpoint", "resolve_device", "resolve_dtype", "stream"]
