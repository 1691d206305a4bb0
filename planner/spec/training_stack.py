"""The training stack a job runs when it names none: one rule, read by the job's validator (which names the stack
of a ``training.framework`` section given without a name, ``schema.TrainingSpec``) and by the model
(``planner.model.stacks`` for a job with no section at all), so both agree. Here, under the model, because the
validator may not import it (import-linter: spec sits below model)."""
from __future__ import annotations

from planner import defaults as D

#: frozen-base storages that are bitsandbytes layers under peft (``prepare_model_for_kbit_training``): NF4
#: ``bnb.nn.Linear4bit`` (QLoRA) and int8 ``bnb.nn.Linear8bitLt`` (LLM.int8) -- Hugging Face model code
BITSANDBYTES_BASES = ("nf4", "int8")


def base_weights(t) -> str:
    """The frozen base's storage: as given, else nf4 for qlora and bf16 for lora (fp32 when the
    training precision is fp32)."""
    if t.base_weights:
        return t.base_weights
    if t.mode == "qlora":
        return "nf4"
    return "fp32" if t.precision == "fp32" else "bf16"


def bitsandbytes_base(t) -> bool:
    """A frozen base stored as bitsandbytes layers: ``mode: qlora``, or ``mode: lora`` with
    ``base_weights`` nf4 / int8 (the same peft + bitsandbytes code as QLoRA). Only the stacks that run the
    Hugging Face model code run it (planner.model.stack_rules), and its base GEMMs dequantise to
    bitsandbytes' 16/32-bit compute dtype (``Linear4bit.forward``: ``bnb.matmul_4bit`` in
    ``bnb_4bit_compute_dtype``; ``Linear8bitLt``: int8 matmul with fp16 outliers), never FP8."""
    return getattr(t, "mode", None) in ("lora", "qlora") and base_weights(t) in BITSANDBYTES_BASES


def default_stack_mode(t) -> str | None:
    """The training mode whose default stack an open ``training.framework`` takes (defaults.FRAMEWORK_BY_MODE):
    a LoRA over a bitsandbytes base (``base_weights`` nf4 / int8) is QLoRA's code, so QLoRA's stack."""
    return "qlora" if bitsandbytes_base(t) else getattr(t, "mode", None)


def default_stack_name(t) -> str | None:
    """The stack an open ``training.framework`` takes (None: ``defaults.FRAMEWORK``): the training mode's
    (``defaults.FRAMEWORK_BY_MODE``), else the optimizer's where the default stack's code does not build it
    (``defaults.FRAMEWORK_BY_OPTIMIZER``)."""
    return D.FRAMEWORK_BY_MODE.get(default_stack_mode(t)) or D.FRAMEWORK_BY_OPTIMIZER.get(getattr(t, "optimizer", None))


def stack_named(t) -> bool:
    """Whether the job names its stack (``training.framework.name`` given), rather than taking the default one
    (no section, or a section of options only: ``schema.TrainingSpec`` names the default stack there)."""
    fw = getattr(t, "framework", None)
    return fw is not None and "name" in fw.model_fields_set
