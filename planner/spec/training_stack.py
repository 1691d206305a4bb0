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


def default_stack_name(t, transformer: bool = True) -> str | None:
    """The stack an open ``training.framework`` takes (None: ``defaults.FRAMEWORK``): the training mode's
    (``defaults.FRAMEWORK_BY_MODE``), else plain PyTorch DDP for a model without transformer layers (``transformer``
    false: ``defaults.FRAMEWORK_NON_TRANSFORMER``, a CNN or generic model, whose code no LLM stack is), else the
    optimizer's where the default stack's code does not build it (``defaults.FRAMEWORK_BY_OPTIMIZER``). The platform's
    stack, where this one's code does not run (a TPU, Trainium), is planner.search.space ``open_stack``'s step over it."""
    return (D.FRAMEWORK_BY_MODE.get(default_stack_mode(t)) or (None if transformer else D.FRAMEWORK_NON_TRANSFORMER)
            or D.FRAMEWORK_BY_OPTIMIZER.get(getattr(t, "optimizer", None)))


def named_open_section(t, transformer: bool = True):
    """``t``'s ``training.framework`` given without a name (options only), as a copy naming the stack the job runs with
    no section (``default_stack_name``); None where the section is absent or names its stack. ``name`` stays out of
    the copy's fields_set (``stack_named``): the job did not name it, and on a platform where that stack's code does
    not run the section stays open (planner.search.space ``for_accelerator``). Read by both job validators
    (planner.spec.schema): ``TrainingSpec`` from the training section alone, ``JobSpec`` again with the model's kind."""
    fw = getattr(t, "framework", None)
    if fw is None or "name" in fw.model_fields_set:
        return None
    fw = fw.model_copy()
    fw.__dict__["name"] = default_stack_name(t, transformer) or D.FRAMEWORK
    return fw


def stack_named(t) -> bool:
    """Whether the job names its stack (``training.framework.name`` given), rather than taking the default one
    (no section, or a section of options only: ``schema.TrainingSpec`` names the default stack there)."""
    fw = getattr(t, "framework", None)
    return fw is not None and "name" in fw.model_fields_set


def stack_name(t) -> str:
    """The stack ``t`` runs by its training section, without building it (``planner.model.stacks.from_training`` would
    check the section's options against it): the one it names, a nameless section's (``named_open_section``), else the
    default (``default_stack_name``). Where the platform's stack replaces it (planner.search.space ``open_stack``) a
    nameless section's options are that stack's, and building this one would refuse them (fwname59b)."""
    fw = getattr(t, "framework", None)
    return fw.name if fw is not None else default_stack_name(t) or D.FRAMEWORK

