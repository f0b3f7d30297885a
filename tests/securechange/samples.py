"""The shipped SecureChange sample documents, as the tests read them."""

from workflow_integrator.securechange.simulator.store import sample_text


def sample(name: str) -> str:
    """The text of one sample document (``ticket.xml``, ``ticket_info.xml``...)."""
    return sample_text(name)
