"""Tweet-aware text augmentation and class balancing (the first half of ALEX, SMM4H 2023).

>>> from augment import Augmenter, balance
>>> Augmenter(augmenters=["contraction"]).augment("I am not sure", n=1, seed=0)
["I'm not sure"]
"""

from augment.balance import (
    PROVENANCE_COLUMNS,
    Balancer,
    BalanceResult,
    balance,
    balance_report,
    balance_table,
)
from augment.pipeline import DEFAULT_AUGMENTERS, FACTORIES, AugmentConfig, Augmenter, Variant, make_rng
from augment.targets import Target, parse_target
from augment.wordnet import WordNetMissingError

__all__ = [
    "DEFAULT_AUGMENTERS",
    "FACTORIES",
    "PROVENANCE_COLUMNS",
    "AugmentConfig",
    "Augmenter",
    "BalanceResult",
    "Balancer",
    "Target",
    "Variant",
    "WordNetMissingError",
    "balance",
    "balance_report",
    "balance_table",
    "make_rng",
    "parse_target",
]
