"""Browser tests run under pytest-playwright; ``--base-url`` is the shop's URL (the
``playwright`` stage passes it, from ``base_url`` in tempstack.toml)."""

from __future__ import annotations

from playwright.sync_api import expect

# Every step waits for real services; on a busy CI machine five seconds (the default) can
# be short. A passing step does not wait for this: it is only how long a failure takes.
expect.set_options(timeout=15_000)
