"""Risk controls against bonus hunting: inline velocity checks on each purchase (``inline``),
the nightly pattern scan and its simulation over past data (``detectors``, ``scan``), and the
review of the cases they open (``cases``). The rules are ``campaigns.models.RiskRule``."""
