"""The exception ember raises for a bad shape or value where torch raises RuntimeError."""


class BadShapeOrValue(ValueError, RuntimeError):
    """A bad shape or value: design.md's ValueError and torch's RuntimeError both catch it, so
    code written for either library handles ember's refusal."""
