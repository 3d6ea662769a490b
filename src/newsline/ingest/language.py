"""Which language a text is in: py3langid on the text, the declared language as a fallback."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["detect_language"]

_LANG_IDENTIFIER: Any = None


def detect_language(text: str, declared: str | None) -> str | None:
    """ISO 639-1 code of ``text``'s language; ``declared`` (e.g. ``en-GB``) decides when
    the text is too short or the identifier is unsure."""
    global _LANG_IDENTIFIER
    declared_code = None
    if declared:
        declared_code = declared.strip().replace("_", "-").split("-")[0].lower() or None
        if declared_code and not re.fullmatch(r"[a-z]{2,3}", declared_code):
            declared_code = None
    sample = text[:300]
    if len(sample) < 40:
        return declared_code
    if _LANG_IDENTIFIER is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _LANG_IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang, prob = _LANG_IDENTIFIER.classify(sample)
    if prob < 0.5 and declared_code:
        return declared_code
    return str(lang)
