"""The risk study: data-based identification of patients at risk of long sick leave.

`model` is the risk model's library (predictors, outcome, fit, validation, model card,
scoring); `synth` draws register deliveries with a known true model; `data` reads the
deliveries and derives the new spells with their predictors (or reads a list to score),
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
    Term,
    Validation,
    fit,
    load_model,
    predictors,
    save_model,
    score,
    temporal_split,
    validate,
    with_outcome,
)
from .synth import RegisterSpec, synthetic_spells

__all__ = ["INPUT_COLUMNS", "MODEL_FORMAT", "NOT_FOR", "OUTCOME", "PURPOSE", "OutcomeTable",
           "Penalty", "Predictors", "RegisterSpec", "RiskModel", "Term", "Validation", "fit",
           "load_model", "predictors", "save_model", "score", "synthetic_spells",
           "temporal_split", "validate", "with_outcome"]
