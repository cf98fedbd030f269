"""Models of the campaigns app: earning rules, campaigns, and the awards the pipeline made."""

from campaigns.models.awards import Award, AwardLine, Participation
from campaigns.models.campaign import LIFECYCLE, Campaign, Step, lifecycle_move
from campaigns.models.review import AwardReview, ReviewLimit
from campaigns.models.risk import RiskCase, RiskRule
from campaigns.models.rules import BehaviourRule, EarnRule, Rounding

__all__ = [
    "LIFECYCLE",
    "Award",
    "AwardLine",
    "AwardReview",
    "BehaviourRule",
    "Campaign",
    "EarnRule",
    "Participation",
    "ReviewLimit",
    "RiskCase",
    "RiskRule",
    "Rounding",
    "Step",
    "lifecycle_move",
]
