"""Pure step-weight arithmetic for progressive traffic shifting.

Deliberate difference from Flagger: a step never overshoots ``maxWeight`` (Flagger adds
``stepWeight`` while below ``maxWeight`` and can land above it, e.g. 40 -> 60 with max 50);
here the last step is clamped so the canary weight always stays within ``0..maxWeight``.
"""

from __future__ import annotations

from canary.api.models import CanaryAnalysis

__all__ = [
    "TOTAL_WEIGHT",
    "is_final_weight",
    "max_weight",
    "next_promotion_weight",
    "next_weight",
    "promotion_steps",
]

#: All traffic; primary weight + canary weight always equals this.
TOTAL_WEIGHT = 100


def max_weight(analysis: CanaryAnalysis) -> int:
    """Canary weight at which promotion starts, clamped to 1..100.

    At least 1: a weight-based analysis must route some traffic to be measured (``stepWeights:
    [0]`` would otherwise never leave its first step).
    """
    return max(1, min(TOTAL_WEIGHT, analysis.effective_max_weight))


def next_weight(analysis: CanaryAnalysis, current: int) -> int:
    """Canary weight after one successful step from ``current``, never above :func:`max_weight`.

    With ``stepWeights`` the next entry greater than ``current`` is taken (so a weight that is
    not in the list, e.g. after maxWeight was edited, still moves forward). Iteration-based
    analysis never shifts traffic, so the weight stays where it is.
    """
    ceiling = max_weight(analysis)
    if analysis.step_weights:
        following = [w for w in analysis.step_weights if w > current]
        target = following[0] if following else ceiling
    elif analysis.step_weight:
        target = current + analysis.step_weight
    else:
        return max(0, min(current, ceiling))
    return max(0, min(target, ceiling))


def is_final_weight(analysis: CanaryAnalysis, current: int) -> bool:
    """Whether ``current`` is the last step, i.e. the next passing check promotes."""
    return current >= max_weight(analysis)


def next_promotion_weight(analysis: CanaryAnalysis, canary_weight: int) -> int:
    """Canary weight after one promotion step back to the primary (``stepWeightPromotion``).

    Without ``stepWeightPromotion`` all traffic returns to the primary in one step.
    """
    step = analysis.step_weight_promotion
    if not step:
        return 0
    return max(0, canary_weight - step)


def promotion_steps(analysis: CanaryAnalysis, canary_weight: int) -> tuple[int, ...]:
    """Every canary weight the promotion passes through from ``canary_weight`` down to 0."""
    steps: list[int] = []
    weight = max(0, min(TOTAL_WEIGHT, canary_weight))
    while weight > 0:
        weight = next_promotion_weight(analysis, weight)
        steps.append(weight)
    return tuple(steps)
