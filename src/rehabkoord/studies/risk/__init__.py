"""The risk study: data-based identification of patients at risk of long sick leave.

`model` is the risk model's library (predictors, outcome, fit, validation, model card,
scoring, synthetic spells with a known true model); `data` reads and writes extracts,
`analysis` runs the validation from the study's parameters, `report` builds the appendix,
and `python -m rehabkoord.studies.risk score` scores a care centre's list. The model's names
are re-exported here, so `from rehabkoord.studies import risk; risk.fit(...)` works.
"""

from .model import (
    INPUT_COLUMNS,
    MODEL_FORMAT,
    NOT_FOR,
    OUTCOME,
    PURPOSE,
    OutcomeTable,
    Penalty,
    Predictors,
    RiskModel,
    SpellSpec,
    Term,
    Validation,
    fit,
    load_model,
    predictors,
    save_model,
    score,
    synthetic_spells,
    temporal_split,
    validate,
    with_outcome,
)

__all__ = ["INPUT_COLUMNS", "MODEL_FORMAT", "NOT_FOR", "OUTCOME", "PURPOSE", "OutcomeTable",
           "Penalty", "Predictors", "RiskModel", "SpellSpec", "Term", "Validation", "fit",
           "load_model", "predictors", "save_model", "score", "synthetic_spells",
           "temporal_split", "validate", "with_outcome"]
