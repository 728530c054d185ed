"""The exceptions ember raises where torch raises RuntimeError but design.md names another
class: each is both, so code written for either library catches ember's refusal."""


class BadShapeOrValue(ValueError, RuntimeError):
    """A bad shape or value: design.md's ValueError and torch's RuntimeError."""


class BadDtype(TypeError, RuntimeError):
    """A dtype the op refuses: design.md's TypeError (ember's dtype errors) and torch's
    RuntimeError (e.g. float16/bfloat16 linear algebra, integer nanmean, complex parameters
    in Adafactor)."""


class DtypeNotImplemented(BadDtype, NotImplementedError):
    """A dtype an op has no kernel for: torch's NotImplementedError ('"hypot_cpu" not
    implemented for 'Bool'') and BadDtype, so ``except TypeError`` still catches it."""


class NotNumbers(TypeError, ValueError):
    """Strings as tensor data: design.md's TypeError (not numbers) and torch's ValueError
    ('too many dimensions 'str'')."""


class OutOfBounds(BadShapeOrValue, IndexError):
    """An index outside a dim's range in scatter and kin: torch's RuntimeError, and the
    IndexError ember raised before."""


class BadIndexDtype(BadDtype, IndexError):
    """An index tensor of a dtype the op refuses: torch's IndexError ('index_fill_(): Expected
    dtype int64 for index.') and BadDtype."""


# torch's names of the dtypes in its 'not implemented for ...' refusals
_TORCH_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
    "complex32": "ComplexHalf",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def not_implemented(op: str, dtype, detail: str = "") -> DtypeNotImplemented:
    """torch's refusal of a dtype an op has no kernel for, in its words plus ember's dtype
    (and ``detail``, e.g. the shapes)."""
    name = str(dtype).removeprefix("torch.")
    more = f"; {detail}" if detail else ""
    return DtypeNotImplemented(
        f"{op}: not implemented for {name} ('{_TORCH_NAMES.get(name, name)}'){more}"
    )
