"""``salespulse gateway``: CRM webhooks, Salesforce change events and Slack actions in,
contract events and alert commands out. See docs/gateway.md.

Modules: :mod:`.config` (settings), :mod:`.signatures`, :mod:`.hubspot`,
:mod:`.pipedrive`, :mod:`.salesforce` (vendor payloads to changes),
:mod:`.knowledge` and :mod:`.store` (what completes partial updates),
:mod:`.translate` (changes to contract events), :mod:`.pipeline` (to Kafka),
:mod:`.slack` (buttons and the slash command), :mod:`.app` (routes),
:mod:`.server` (the process). Nothing is imported here: the settings import
:mod:`.config` alone.
"""

__all__ = [
    "app",
    "changes",
    "config",
    "hubspot",
    "knowledge",
    "pipedrive",
    "pipeline",
    "publisher",
    "ratelimit",
    "salesforce",
    "salesforce_feed",
    "server",
    "signatures",
    "slack",
    "store",
    "translate",
]
