"""Chat bridges: each turns a platform's request into `answerer.ask(...)` and posts the
`Answer` back in that platform's format. `slack.py` (Bolt, HTTP mode), `discord.py`
(interactions endpoint); `format.py` holds the pure text rendering both use."""
