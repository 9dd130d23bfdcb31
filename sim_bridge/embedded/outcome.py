"""Did the policy drive at all? What a run's inputs and outputs came to, and the reason a run that the
policy never controlled (or whose frames were refused) must not pass as a result."""

from __future__ import annotations

from typing import Optional

from vehicle_runtime.safety.state_machine import SafetyState


def runtime_outcome(runtime, injected: bool) -> dict:
    """Counts from the runtime after a run, and `failure`: None, or one line saying why the run is no result.

    Rejected frames or failed preprocessing fail a clean run (a camera the model names that never
    arrives, a crop that leaves nothing); under fault injection they are the expected reaction and
    only a run with no policy output at all fails."""
    ev, fusion = runtime.events, runtime.fusion
    rejected = dict(fusion.rejected)
    engaged = (
        any(t.after is SafetyState.ENGAGED for t in runtime.gate.sm.transitions)
        or runtime.gate.sm.state is SafetyState.ENGAGED
    )
    out = {
        "policy_outputs": ev.policy_outputs,
        "engaged": engaged,
        "frames_rejected": sum(v for k, v in rejected.items() if "camera" in k),
        "frames_rejected_by_reason": rejected,
        "preprocess_failures": ev.preprocess_errors,
        "model_errors": ev.model_errors,
        "reasoning_dropped": _reasoning_dropped(runtime.pipeline.policy),
        "observations": fusion.observations,
        "waiting_for": fusion.waiting_for if fusion.observations == 0 else "",
        "plans_accepted": _plans_accepted(runtime.pipeline),
    }
    out["failure"] = failure_reason(out, getattr(ev, "last_preprocess_error", ""), injected)
    return out


def _plans_accepted(pipeline) -> Optional[int]:
    """Outputs the trajectory validator let through (None: no validator)."""
    validator = getattr(pipeline, "validator", None)
    if validator is None:
        return None
    st = validator.status.as_dict()
    return int(st.get("checked", 0)) - int(st.get("rejected", 0))


def _reasoning_dropped(policy) -> int:
    """Phrases the student decoded but did not emit (a number without its unit, ids outside the vocabulary)."""
    while policy is not None:
        student = getattr(policy, "student", None)
        if student is not None:
            return student.reasoning_dropped
        policy = getattr(policy, "policy", None)
    return 0


def failure_reason(o: dict, preprocess_error: str = "", injected: bool = False) -> Optional[str]:
    parts = []
    if o["policy_outputs"] == 0:
        parts.append("the policy never produced an output")
        if o["waiting_for"]:
            parts.append(f"waiting for: {o['waiting_for']}")
    elif o.get("plans_accepted") == 0:  # engaged on the route fallback, braking: the model never drove
        parts.append(f"the trajectory validator refused all {o['policy_outputs']} plans (validator_rejected_by_rule)")
    elif not o["engaged"]:
        parts.append("the car was never engaged")
    if o["frames_rejected"] and (parts or not injected):
        why = ", ".join(f"{k} ×{v}" for k, v in o["frames_rejected_by_reason"].items() if "camera" in k)
        parts.append(f"{o['frames_rejected']} frame(s) rejected ({why})")
    if o["preprocess_failures"] and (parts or not injected):
        parts.append(
            f"{o['preprocess_failures']} frame(s) failed preprocessing"
            + (f" ({preprocess_error})" if preprocess_error else "")
        )
    return "; ".join(parts) or None
