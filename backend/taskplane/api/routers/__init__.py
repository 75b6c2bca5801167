"""One router per resource, joined in ``taskplane.api.app``."""
