"""
Hides one warning that is false here; imported first by `modeling` (and so by everything that loads a model), before
transformers or peft can import bitsandbytes.

bitsandbytes' CPU build warns at import, on CPUs with AVX512-BF16, that it could not fetch an optional 4-bit CPU
kernel from the Hub ("Failed to load CPU gemm_4bit_forward from kernels-community"). Nothing here runs 4-bit layers
on a CPU (8/4-bit backbones need CUDA and are refused without it), so the message only alarms users.
"""

import logging

_FALSE_WARNINGS = {"bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward"}


class _DropMessage(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


for _name, _start in _FALSE_WARNINGS.items():
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _DropMessage) for f in _logger.filters):
        _logger.addFilter(_DropMessage(_start))
