"""Models of the campaigns app: earning rules, campaigns, and the awards the pipeline made."""

from campaigns.models.awards import Award, AwardLine, Participation
from campaigns.models.campaign import Campaign
from campaigns.models.review import AwardReview, ReviewLimit
from campaigns.models.rules import BehaviourRule, EarnRule, Rounding

__all__ = [
    "Award",
    "AwardLine",
    "AwardReview",
    "BehaviourRule",
    "Campaign",
    "EarnRule",
    "Participation",
    "ReviewLimit",
    "Rounding",
]
