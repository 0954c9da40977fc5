"""cope_torch — our CoPE model family as a PyTorch nn.Module that reads and writes our model
files (see python/README.md)."""
from .model import CopeModel, has_cope, has_rel, has_rope, masked_ce
from .safetensors_io import read_safetensors, write_safetensors

__all__ = ["CopeModel", "masked_ce", "has_cope", "has_rel", "has_rope", "read_safetensors", "write_safetensors"]
