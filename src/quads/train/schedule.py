"""The MCT schedule: which phases a strategy trains, in order.

QUADS (Multi-stage Combined Training) is N MCT iterations of
    [distillation phase (gamma = 1: L_dis) -> quantization phase (weights clustered into 2^b
    centroids per layer, the centroids trained by gradient)]
followed by a final quantization phase. What a quantization phase trains is `train.codes`:
    "follow" (the default, `quads`): quantization-aware training: latent weights train
        straight-through, every weight takes its nearest centroid at every step, and the
        centroids train too (kind QAT); the next distillation starts from the latent weights
        (`train.restart` "latent") and the next k-means warm-starts from the centroids;
    "fixed": the codes stay as clustered and only the centroids (with biases and
        LayerNorms) train (kind QUANTIZE). With `train.restart` "quantized" (distillation
        restarts from centroids[codes]) and `train.quant_distill` false (gamma = 0: CE only
        in quantization phases) this is the paper's rule as written, the table's
        `quads-paper` (`baselines.VARIANTS["paper"]`).
The baselines run through the same loop with the same budget of epochs, so every row of the
tables compares fairly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from quads.config import CODES, RESTARTS, STRATEGIES, Config


class PhaseKind(str, Enum):
    DISTILL = "distill"  # full-precision weights, L_dis = alpha * L1 + (1 - alpha) * CE
    FINETUNE = "finetune"  # full-precision weights, CE only (no teacher)
    QUANTIZE = "quantize"  # codebook layers: codes fixed, centroids trained (the paper's)
    QAT = "qat"  # codebook layers whose codes follow straight-through-trained latent weights


@dataclass(frozen=True)
class Phase:
    kind: PhaseKind
    epochs: int
    iteration: int = 0  # MCT iteration, 1-based; 0 outside MCT
    recluster: bool = False  # cluster the weights afresh (k-means) when the phase starts
    distils: bool = True  # trains on L_dis (the teacher) rather than CE alone

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PhaseKind(self.kind))  # accept "distill" etc.

    @property
    def quantized(self) -> bool:
        return self.kind in (PhaseKind.QUANTIZE, PhaseKind.QAT)


def plan(cfg: Config) -> tuple[list[Phase], bool]:
    """The phases of `cfg.train.strategy` and whether post-training quantization follows."""
    t = cfg.train
    if t.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {t.strategy!r}; expected one of {STRATEGIES}")
    if t.restart not in RESTARTS:
        raise ValueError(f"train.restart: expected one of {RESTARTS}, got {t.restart!r}")
    if t.codes not in CODES:
        raise ValueError(f"train.codes: expected one of {CODES}, got {t.codes!r}")
    D, F, Q, QAT = PhaseKind.DISTILL, PhaseKind.FINETUNE, PhaseKind.QUANTIZE, PhaseKind.QAT
    gamma_q = t.quant_distill  # the teacher in quantization phases
    budget = t.iterations * 2 * t.epochs_per_phase + t.final_quant_epochs
    if t.strategy == "quads":
        kind = Q if t.codes == "fixed" else QAT
        phases = []
        for it in range(1, t.iterations + 1):
            phases.append(Phase(D, t.epochs_per_phase, it))
            phases.append(Phase(kind, t.epochs_per_phase, it, recluster=True, distils=gamma_q))
        phases.append(Phase(kind, t.final_quant_epochs, t.iterations, distils=gamma_q))
        return [p for p in phases if p.epochs > 0], False
    half = budget // 2
    return {
        "finetune": ([Phase(F, budget, distils=False)], False),
        "ptq": ([Phase(F, budget, distils=False)], True),
        "distill": ([Phase(D, budget)], False),
        "distill_ptq": ([Phase(D, budget)], True),
        # Sequential: distil, then quantization-aware training (k-means fake quantization of
        # latent weights, straight-through, codes re-assigned as the weights move).
        "distill_qat": (
            [Phase(D, half), Phase(QAT, budget - half, recluster=True, distils=gamma_q)],
            False,
        ),
        # QAT without a teacher: fine-tune the (random) intent head and the encoder first.
        "qat": (
            [
                Phase(F, half, distils=False),
                Phase(QAT, budget - half, recluster=True, distils=False),
            ],
            False,
        ),
    }[t.strategy]


def deployable_bits(cfg: Config) -> int:
    """The bits of the exported model: full precision for the unquantized baselines."""
    return 32 if cfg.train.strategy in ("finetune", "distill") else cfg.quant.bits
