"""Typed answers shared by the service, Telegram and benchmark-free tests."""

# DOMAIN.md's founder, typed one answer per question the built-in BANT flow asks:
# a hot lead.
FOUNDER = [
    "We compared the market and chose your product. The price we saw is fine with us.",
    "I'm the founder, the final decision is mine.",
    "A CRM to organise our sales team.",
    "Not sure yet which add-ons we need.",
    "Can you do the rollout in 2 weeks?",
    "top priority",
    "services",
    "25",
    "Acme",
    "+44 20 7946 0958",
    "anna@acme.com",
]
