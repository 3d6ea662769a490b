"""The main text: trafilatura's cascade in fast mode over our own tree, with a second,
full pass (its readability / jusText comparison) only when the fast result looks wrong."""

from __future__ import annotations

import logging
import re
from typing import Any

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from trafilatura.settings import Extractor

from newsline.ingest.extract.metadata import pick_description
from newsline.ingest.extract.model import ExtractOptions
from newsline.ingest.extract.page import Page

__all__ = ["main_text"]

log = logging.getLogger(__name__)


def main_text(
    tree: lxml_html.HtmlElement, page: Page, title: str | None, options: ExtractOptions
) -> etree._Element | None:
    """trafilatura's body element for the article in ``tree`` (None when it finds none).

    The cascade prunes comment and boilerplate sections from ``tree`` itself: read the
    page's metadata before calling this.
    """
    body, length = _run_trafilatura(tree, options, options.fast)
    if options.fast and _needs_rescue(tree, page, title, body, length, options):
        # The fast pass looks wrong: let trafilatura compare with its other algorithms
        # (readability, jusText), as its default mode does.
        retry_body, retry_length = _run_trafilatura(tree, options, False)
        if retry_length > length or (retry_body is not None and length >= 1000):
            body, length = retry_body, retry_length
    return body


def _load_sequence() -> Any:
    try:
        from trafilatura.core import trafilatura_sequence
    except ImportError:
        return None
    return trafilatura_sequence


_SEQUENCE = _load_sequence()


def _run_trafilatura(
    tree: lxml_html.HtmlElement, options: ExtractOptions, fast: bool
) -> tuple[etree._Element | None, int]:
    """trafilatura's main-text cascade over ``tree``: (body element, text length).

    Calls the cascade directly rather than through ``bare_extraction``, which would first
    deep-copy the whole document (a sixth of the extraction time). The cascade only
    prunes comment and boilerplate sections from the tree it is given (idempotent), so
    the same tree serves a second pass and the figure anchoring afterwards.
    """
    if _SEQUENCE is None:  # a trafilatura without the internal entry point
        document = trafilatura.bare_extraction(
            tree,
            fast=fast,
            favor_precision=options.favor_precision,
            favor_recall=options.favor_recall,
            include_comments=False,
            include_tables=True,
            include_images=options.include_images,
            include_links=options.include_links,
            include_formatting=options.include_formatting,
        )
        if document is None or isinstance(document, dict):
            return None, 0
        return document.body, len(document.text or "")
    extractor = Extractor(
        output_format="python",
        fast=fast,
        precision=options.favor_precision,
        recall=options.favor_recall,
        comments=False,
        formatting=options.include_formatting,
        links=options.include_links,
        images=options.include_images,
        tables=True,
    )
    try:
        body, text, _, _ = _SEQUENCE(tree, extractor, None)
    except ValueError as exc:  # what bare_extraction treats as "nothing extracted"
        log.debug("trafilatura found no main text: %s", exc)
        return None, 0
    return body, len(text)


_P_TEXT_XPATH = etree.XPath("//p//text()", smart_strings=False)
_BODY_TEXT_XPATH = etree.XPath(
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]",
    smart_strings=False,
)


def _needs_rescue(
    tree: lxml_html.HtmlElement,
    page: Page,
    title: str | None,
    body: etree._Element | None,
    length: int,
    options: ExtractOptions,
) -> bool:
    """Whether the fast pass probably missed the article (rules measured on the corpora):
    its text is short while the page's paragraphs (1.5-fold) or its whole text (12-fold)
    hold much more; or it shares few words
    with the headline and lacks the page's own description, which the paragraphs have."""
    if length < options.rescue_below_chars:
        paragraphs = sum(len(t.strip()) for t in _P_TEXT_XPATH(tree))
        if paragraphs > 1.5 * length:
            return True
        # text held outside <p> (div-based layouts): a page with far more words
        return sum(len(t.strip()) for t in _BODY_TEXT_XPATH(tree)) > 12 * length
    description = pick_description(page)
    words = description.casefold().split() if description else []
    if len(words) < 10 or body is None or not title:
        return False
    extracted = " ".join(" ".join(body.itertext()).casefold().split())
    title_words = set(re.findall(r"\w{4,}", title.casefold()))
    if not title_words or sum(w in extracted for w in title_words) >= 0.3 * len(title_words):
        return False
    probe = " ".join(words[:6])
    if probe in extracted:
        return False
    return probe in " ".join(" ".join(_P_TEXT_XPATH(tree)).casefold().split())
