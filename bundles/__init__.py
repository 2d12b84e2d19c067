"""Gates and evidence: compare candidates with baselines, evaluate gates, write meeting bundles."""

from bundles.comparison import Comparison, ComparisonSettings, compare
from bundles.evidence import Bundle, closing_line, write_bundle
from bundles.gates import GATES, Gate, evaluate
from bundles.tables import CandidateEvidence, render_tables

__all__ = [
    "Bundle",
    "CandidateEvidence",
    "Comparison",
    "ComparisonSettings",
    "GATES",
    "Gate",
    "closing_line",
    "compare",
    "evaluate",
    "render_tables",
    "write_bundle",
]
