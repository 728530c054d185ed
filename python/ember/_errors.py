"""The exceptions ember raises where torch raises RuntimeError but design.md names another
class: each is both, so code written for either library catches ember's refusal."""


class BadShapeOrValue(ValueError, RuntimeError):
    """A bad shape or value: design.md's ValueError and torch's RuntimeError."""


class BadDtype(TypeError, RuntimeError):
    """A dtype the op refuses: design.md's TypeError (ember's dtype errors) and torch's
    RuntimeError (e.g. float16/bfloat16 linear algebra, integer nanmean, complex parameters
    in Adafactor)."""
