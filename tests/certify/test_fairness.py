import numpy as np
import pandas as pd
import pingouin
import pytest

from certify.grading.fairness import compare_forms


def test_welch_anova_matches_pingouin() -> None:
    rng = np.random.default_rng(1)
    totals = np.concatenate(
        [rng.normal(70, 10, 200), rng.normal(72, 14, 150), rng.normal(69, 8, 180)]
    )
    forms = np.array(["A"] * 200 + ["B"] * 150 + ["C"] * 180)
    report = compare_forms(totals, forms)
    ref = pingouin.welch_anova(pd.DataFrame({"t": totals, "f": forms}), dv="t", between="f")
    assert report.statistic == pytest.approx(float(ref["F"].iloc[0]), rel=1e-9)
    assert report.p_value == pytest.approx(
        float(ref["p_unc"].iloc[0] if "p_unc" in ref else ref["p-unc"].iloc[0]), rel=1e-6
    )
    assert [f.form for f in report.forms] == ["A", "B", "C"]


def test_forms_that_differ_a_lot_raise_a_warning_and_equal_ones_do_not() -> None:
    rng = np.random.default_rng(2)
    forms = np.array(["A"] * 300 + ["B"] * 300)
    far = compare_forms(np.concatenate([rng.normal(70, 10, 300), rng.normal(62, 10, 300)]), forms)
    assert far.warning and far.largest_gap > 3
    near = compare_forms(np.concatenate([rng.normal(70, 10, 300), rng.normal(70, 10, 300)]), forms)
    assert not near.warning
