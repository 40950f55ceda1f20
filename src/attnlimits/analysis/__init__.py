"""Shared analysis: rate fits (:mod:`.fits`), bootstrap statistics (:mod:`.statistics`), tables
(:mod:`.tables`) and the claims engine (:mod:`.claims`)."""
