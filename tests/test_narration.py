import pytest

from crystalkit.narration import ClaimError, claim, claim_between, say


def test_claim_passes_silently_when_true_and_names_the_sentence_when_false():
    claim(0.12 < 0.16, "RMSE falls with k")
    with pytest.raises(ClaimError, match="RMSE falls with k") as error:
        claim(0.16 < 0.12, "RMSE falls with k", rmse_1=0.12, rmse_5=0.16)
    assert "rmse_5=0.16" in str(error.value)


def test_claim_between_checks_both_ends():
    claim_between(0.5, 0.0, 1.0, "a rate")
    for value in (-0.1, 1.1):
        with pytest.raises(ClaimError):
            claim_between(value, 0.0, 1.0, "a rate")


def test_say_formats_from_values(capsys):
    text = say("The match rate is {rate:.1%} on {n} targets.", rate=0.4567, n=21)
    assert text == "The match rate is 45.7% on 21 targets."
    assert text in capsys.readouterr().out


def test_say_refuses_a_missing_value():
    with pytest.raises(KeyError):
        say("{missing}")
