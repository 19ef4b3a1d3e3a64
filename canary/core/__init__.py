"""Pure decision core: spec + status + observation + time -> next status + actions.

Nothing here performs I/O or reads the clock; the operator observes, calls :func:`decide`,
applies the actions in order and writes the status once.
"""

from canary.core.actions import (
    Action,
    EmitEvent,
    Finalize,
    InitializePrimary,
    PromoteToPrimary,
    RestorePrimary,
    ScaleTarget,
    SetRoute,
    SyncRouting,
)
from canary.core.checks import (
    UNMEASURED_COUNTS_AS_FAILED_CHECK,
    JudgmentKind,
    StepJudgment,
    classify,
    classify_measurement,
    judge,
)
from canary.core.conditions import set_condition
from canary.core.machine import (
    Decision,
    MeasurementPlan,
    checks_due,
    classify_checks,
    decide,
    finalize,
    measurement_plan,
    next_tick_in,
)
from canary.core.observations import (
    CanaryRef,
    CheckOutcome,
    Measurement,
    Observation,
    ProviderOutcome,
    Revision,
    RevisionSample,
    Verdict,
    WindowSamples,
    WorkloadState,
)

__all__ = [
    "UNMEASURED_COUNTS_AS_FAILED_CHECK",
    "Action",
    "CanaryRef",
    "CheckOutcome",
    "Decision",
    "EmitEvent",
    "Finalize",
    "InitializePrimary",
    "JudgmentKind",
    "Measurement",
    "MeasurementPlan",
    "Observation",
    "PromoteToPrimary",
    "ProviderOutcome",
    "RestorePrimary",
    "Revision",
    "RevisionSample",
    "ScaleTarget",
    "SetRoute",
    "StepJudgment",
    "SyncRouting",
    "Verdict",
    "WindowSamples",
    "WorkloadState",
    "checks_due",
    "classify",
    "classify_checks",
    "classify_measurement",
    "decide",
    "finalize",
    "judge",
    "measurement_plan",
    "next_tick_in",
    "set_condition",
]
