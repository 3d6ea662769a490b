"""The extraction, start to end: load the page, read its metadata, extract the main text,
place the figures, drop the furniture, pick the lead image, identify the language."""

from __future__ import annotations

from newsline.ingest.extract.authors import fallback_author, pick_author
from newsline.ingest.extract.blocks import Block
from newsline.ingest.extract.body import main_text
from newsline.ingest.extract.boilerplate import tidy
from newsline.ingest.extract.dates import fallback_date, url_date
from newsline.ingest.extract.document import load
from newsline.ingest.extract.figures import anchor_figures, lead_image
from newsline.ingest.extract.metadata import (
    pick_canonical,
    pick_declared_language,
    pick_description,
    pick_image,
    pick_modified,
    pick_published,
    pick_site_name,
    pick_tags,
    pick_title,
)
from newsline.ingest.extract.model import DEFAULT_OPTIONS, Extracted, ExtractOptions
from newsline.ingest.extract.page import collect
from newsline.ingest.extract.render import body_html, body_text, to_blocks
from newsline.ingest.extract.textutil import clean, fold
from newsline.ingest.language import detect_language
from newsline.ingest.sanitize import clean_generated_html

__all__ = ["extract", "extract_with"]


def extract(html: str | bytes, url: str, *, content_type: str = "") -> Extracted:
    """Extract the article in ``html`` (page bytes or text) fetched from ``url``.

    ``content_type`` is the HTTP ``Content-Type`` the bytes came with, if any: as in
    browsers, its charset beats the one the page declares (unless the bytes do not decode
    with it).

    Raises :class:`ExtractError` when the input is not an HTML page (PDF, image, JSON,
    a feed, binary or empty data) or cannot be parsed.
    """
    return extract_with(html, url, DEFAULT_OPTIONS, content_type=content_type)


def extract_with(
    html: str | bytes, url: str, options: ExtractOptions, *, content_type: str = ""
) -> Extracted:
    """:func:`extract` with explicit :class:`ExtractOptions` (for benchmarks and tuning)."""
    tree, charset = load(html, content_type)
    page = collect(tree, url)
    # Metadata first: the fallbacks scan the page as published, before the main-text
    # extraction prunes comment and boilerplate sections from the tree.
    site_name = pick_site_name(page)
    title = pick_title(page, site_name)
    published = pick_published(page)
    author = pick_author(page, site_name)
    if published is None:
        published = url_date(page.canonical or url) if options.url_date else None
    if published is None and options.date_fallback:
        published = fallback_date(tree, url)
    if author is None and options.author_fallback:
        author = fallback_author(tree, page, site_name)

    body = main_text(tree, page, title, options)
    blocks = to_blocks(body, url) if body is not None else []
    figures: list[Block] = []
    if not options.include_images:
        blocks, figures = anchor_figures(tree, blocks, url)
    blocks = tidy(blocks)

    # The title is shown apart: a heading repeating it at the top of the body goes.
    while blocks and blocks[0].kind.startswith("h") and fold(blocks[0].text) == fold(title):
        del blocks[0]

    image_url, image_caption = pick_image(page)
    blocks, image_url, image_caption = lead_image(blocks, figures, image_url, image_caption)
    text = body_text(blocks, captions=options.captions_in_text)

    return Extracted(
        url=url,
        canonical_url=pick_canonical(page),
        title=title,
        author=author,
        published=published,
        modified=pick_modified(page),
        site_name=site_name,
        description=pick_description(page),
        language=detect_language(text or (title or ""), pick_declared_language(page)),
        image_url=image_url,
        image_caption=clean(image_caption),
        text=text,
        # Built here from escaped text and resolved URLs; nh3 still has the last word.
        html=clean_generated_html(body_html(blocks)),
        charset=charset,
        tags=pick_tags(page),
    )
