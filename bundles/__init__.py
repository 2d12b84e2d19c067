"""Gates and evidence: compare candidates with baselines, evaluate gates, write meeting bundles."""

from runnotary.bundles.arms import Arm, arm_of, compare_arms
from runnotary.bundles.comparison import Comparison, ComparisonSettings, compare
from runnotary.bundles.evidence import Bundle, closing_line, log_bundle, write_bundle
from runnotary.bundles.gates import evaluate, gate_alerts
from runnotary.bundles.hygiene import cross_run_conflicts, meeting_flags
from runnotary.bundles.policy import DEFAULT_POLICY, GatePolicy, GateRule, GateSpec, PolicyError, load_policy
from runnotary.bundles.tables import CandidateEvidence, render_tables

__all__ = [
    "Arm",
    "Bundle",
    "CandidateEvidence",
    "Comparison",
    "ComparisonSettings",
    "DEFAULT_POLICY",
    "GatePolicy",
    "GateRule",
    "GateSpec",
    "PolicyError",
    "arm_of",
    "closing_line",
    "compare",
    "compare_arms",
    "cross_run_conflicts",
    "evaluate",
    "gate_alerts",
    "load_policy",
    "log_bundle",
    "meeting_flags",
    "render_tables",
    "write_bundle",
]
