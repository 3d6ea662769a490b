"""Article extraction: main text (trafilatura) plus metadata, lead image and safe HTML.

``extract(html, url)`` is the public entry point. The page is decoded
(:mod:`newsline.ingest.decode`), parsed once with lxml, and then:

* metadata comes from the page's own structured data — JSON-LD, OpenGraph/Twitter cards,
  ``<meta>`` and ``itemprop`` tags, ``<link rel=canonical>``, a byline element, the URL
  path — with htmldate only as a fallback for a missing date; the order of sources per
  field was chosen by measurement (``bench/extract_quality.py``, docs/benchmarks.md);
* the body comes from trafilatura's main-text cascade in fast mode, with a second, full
  pass only when the fast result looks wrong; it is rendered to plain text and to HTML,
  the page's figures are anchored between the paragraphs they sat between (lazy images
  resolved, each caption once), share/subscribe/"Read more" furniture is dropped, and
  the HTML goes through nh3 with the article-body policy of :mod:`newsline.sanitize`;
* the language is identified on the text (:mod:`newsline.ingest.language`), falling back
  to the page's declared language for short texts.

Non-HTML input (PDF, images, JSON, feeds, binary data) raises :class:`ExtractError`.

The modules, lowest first (each imports only from those above it):

=================  ===================================================================
``model``          :class:`Extracted`, :class:`ExtractOptions`, :class:`ExtractError`
``textutil``       display strings and comparison keys
``blocks``         :class:`~.blocks.Block`, the unit the body is built from
``document``       input to lxml tree: size cap, non-HTML refusal, decoding, parsing
``dates``          :func:`parse_datetime`, a date in the URL, htmldate as a fallback
``page``           what the page declares, collected in one walk (meta, JSON-LD, …)
``authors``        the byline
``metadata``       title, dates, site name, lead image, description, tags, canonical
``figures``        the page's figures placed in the body; captions once; the hero
``render``         trafilatura's body to blocks; blocks to HTML and text
``boilerplate``    furniture, repeated captions and duplicates dropped
``body``           the main text: trafilatura fast, a full pass when it looks wrong
``core``           :func:`extract`: all of the above in order
=================  ===================================================================
"""

from newsline.ingest.extract.core import extract, extract_with
from newsline.ingest.extract.dates import parse_datetime
from newsline.ingest.extract.model import (
    DEFAULT_OPTIONS,
    Extracted,
    ExtractError,
    ExtractOptions,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "ExtractError",
    "ExtractOptions",
    "Extracted",
    "extract",
    "extract_with",
    "parse_datetime",
]
