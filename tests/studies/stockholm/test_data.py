"""Reading the spell study's deliveries: every problem named, with file, column and rows."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord.io import ValidationError
from rehabkoord.studies.stockholm import data


def test_synthetic_delivery_reads_and_counts(sthlm_delivery, sthlm_data_params):
    d = data.read(sthlm_data_params, sthlm_delivery)
    assert d.flow["participants"]["persons"] == 1033
    assert len(d.background) == 1033 and set(d.background["Kon"]) <= {1, 2}
    assert not any(c.startswith("_") for c in d.periods.columns)


def test_period_ending_before_it_starts_is_named(sthlm_delivery, sthlm_data_params):
    path = sthlm_delivery / "raw" / "sjukpenningperioder.parquet"
    periods = pd.read_parquet(path)
    periods.loc[3, "TomDatum"] = periods.loc[3, "FromDatum"] - pd.Timedelta(days=2)
    periods.to_parquet(path, index=False)
    with pytest.raises(ValidationError) as err:
        data.read(sthlm_data_params, sthlm_delivery)
    message = str(err.value)
    assert "sjukpenningperioder.parquet: column 'TomDatum': period ends before it starts: " \
           "1 row(s) (rows 4)" in message


def test_unknown_degree_and_missing_participant_in_lisa_reported_together(sthlm_delivery,
                                                                           sthlm_data_params):
    raw = sthlm_delivery / "raw"
    periods = pd.read_parquet(raw / "sjukpenningperioder.parquet")
    periods.loc[0, "Omfattning"] = 60
    periods.to_parquet(raw / "sjukpenningperioder.parquet", index=False)
    lisa = pd.read_parquet(raw / "lisa.parquet")
    lisa[lisa["LopNr"] != lisa["LopNr"].iloc[0]].to_parquet(raw / "lisa.parquet", index=False)
    with pytest.raises(ValidationError) as err:
        data.read(sthlm_data_params, sthlm_delivery)
    message = str(err.value)
    assert "column 'Omfattning': unknown code" in message
    assert "participant not found in LISA: 1 row(s)" in message


def test_bas_is_optional_and_registers_hold_the_year_before(sthlm_delivery, sthlm_data_params):
    without = {k: v for k, v in sthlm_data_params.items() if k != "bas"}
    d = data.read(without, sthlm_delivery)
    assert "BAS" not in d.registers.columns and "bas" not in d.flow
    full = data.read(sthlm_data_params, sthlm_delivery)
    assert {"DispInk04", "BAS"} <= set(full.registers.columns)
    assert len(full.registers) == 2 * len(full.participants)  # two years before index each
