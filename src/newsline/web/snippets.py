"""Search result snippets: the sentences of an item's body that match, as a news site shows.

The database marks every match in the whole body (FTS5 ``highlight()``, PostgreSQL
``ts_headline(..., HighlightAll=true)``), so which words count as matches stays the search
engine's (stemming, prefixes, diacritics); this module only chooses and trims the text
around them. A snippet never repeats what the card already shows (the headline, the
byline) and never shows web addresses (a Digest's plain text lists its sources' URLs); it
starts at a sentence and is cut, with "…", only inside a sentence too long to show whole.

Values in, values out: no database, no web. Matches arrive and leave between
:data:`MARK_START` and :data:`MARK_END`; :func:`newsline.web.safety.highlighted` escapes
the rest and turns the markers into ``<mark>``.
"""

from __future__ import annotations

import re

from newsline.web.safety import MARK_END, MARK_START

#: About what a card's teaser line holds.
SNIPPET_WORDS = 30

_M = f"[{MARK_START}{MARK_END}]*"  # markers may sit around any word of a byline
_MARKED = re.compile(re.escape(MARK_START) + r"(.*?)" + re.escape(MARK_END), re.DOTALL)

# Web addresses, with a scheme or www., and the brackets a plain-text Digest puts around
# them ("Name <https://...>"). Matched on text whose markers inside addresses are removed.
_URL = re.compile(r"[<(\[]?(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>()\[\]]*[>)\]]?", re.IGNORECASE)
_URLISH = re.compile(r"\S*(?:://|www\.)\S*", re.IGNORECASE)
# A line that underlines the one above it (a plain-text title) or sets off a section.
_RULE = re.compile(r"^[=\-_*~#]{3,}$")
# A plain-text Digest's section heading (``#politics``), an entry's bullet, and the list of
# an entry's other sources ("also: Name <url>, Name <url>").
_SECTION = re.compile(r"^#[\w-]+$")
_BULLET = re.compile(r"^[*•·]\s+")
_ALSO = re.compile(r"^also:\s", re.IGNORECASE)
# A page's tag line that extraction kept ("Filed under: weather"): to the end of its line.
_TAGLINE = re.compile(r"(?:^|\s)(?:Filed under|Tagged|Tags|Topics):\s.*$")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# The dateline after a byline: "November 30, 2026 14:42 UTC", "30 Nov 2026", "2026-11-30",
# "Updated 2:42 p.m. EST", with the separators bylines use.
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z?)?)"
)
_TIME = r"(?:\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{2,5}\b)?)"
_SEP = r"(?:\s*(?:[,|·•—–-]|\bat\b|\bon\b|\bUpdated\b|\bPublished\b)?\s*)"
_DATELINE = rf"(?:{_SEP}(?:{_DATE}|{_TIME}))+"
# A capitalised name of up to five words, none of them a month (the dateline's).
_NAME_WORD = rf"{_M}(?!{_MONTH}\b)[A-Z][\w'’.-]*{_M}"
_NAME = rf"{_NAME_WORD}(?:\s+(?:{_NAME_WORD}|de|van|von|der|la|le|da|di|bin|al)){{0,4}}"
# "By Jo Smith", "By Jo Smith and Al Poe, Harbor Wire · November 30, 2026": a capitalised
# "By" that starts the text, a sentence or a clause after a dash (so "passed by Council" is
# never a byline). In the body's opening, with or without a dateline; further on (a
# Digest quotes its entries' opening lines), only with one.
_BY = rf"(?:^|(?<=[.!?…:\n—–]))\s*{_M}By{_M}\s+{_NAME}(?:\s*(?:,|and|&)\s*{_NAME}){{0,3}}"
_BYLINE = re.compile(rf"{_BY}(?:{_DATELINE})?")
_BYLINE_DATED = re.compile(rf"{_BY}{_DATELINE}")
# Sentence ends: . ! ? … (and closing quotes or brackets after them) before a space; not
# after an abbreviation or an initial ("Dr. Hana Sato", "J. Smith", "St. Paul").
_SENTENCE_END = re.compile(rf"(?<=[.!?…]){_M}[\"'”’)\]]*{_M}\s+")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Dr|Mr|Mrs|Ms|Mx|Prof|Sr|Jr|St|Mt|Ft|Gen|Col|Lt|Capt|Sgt|Cpl|Adm|Gov|Sen|Rep|"
    r"Rev|Hon|Pres|Supt|Det|Insp|Const|No|Nos|Vol|Fig|vs|etc|approx|Inc|Ltd|Co|Corp|Bros|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|[A-Z])\.|\b(?:[A-Za-z]\.){2,})"
    rf"{_M}$"
)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_TITLE_END = re.compile(r"\s*$|\s*\n|\s+[\"'“‘(\[]?[A-Z0-9]|\s*[:—–|·.]\s|\s+-\s")
#: Bylines are looked for in the body's opening characters only.
_HEAD = 500


def _plain(text: str) -> str:
    return text.replace(MARK_START, "").replace(MARK_END, "")


def _has_words(text: str) -> bool:
    return _WORD.search(_plain(text)) is not None


def _without_title(text: str, title: str) -> str:
    """`text` without a leading copy of `title` (case, markers, punctuation and spacing
    ignored); `text` itself when it does not start with the title."""
    wanted = _WORD.findall(title.casefold())
    if not wanted:
        return text
    for n, found in enumerate(_WORD.finditer(text), start=1):
        if found.group().casefold() != wanted[n - 1]:
            return text
        if n == len(wanted):
            rest = text[found.end() :]
            if rest.startswith(MARK_END):  # the title's last word was a match
                rest = rest[len(MARK_END) :]
            # Only a title that stands apart (its own line, a new sentence after it, a
            # separator) is the headline again; "Gulls everywhere; ..." is prose.
            if _TITLE_END.match(_plain(rest)) is None:
                return text
            return rest.lstrip(" \t:—–-|·.")
    return text


def _without_byline(text: str, author: str | None) -> str:
    """`text` without the bylines in its opening: "By <Name>[, <Org>] [dateline]", and the
    item's own author followed by a dateline."""
    head, tail = text[:_HEAD], _BYLINE_DATED.sub("\n", text[_HEAD:])
    head = _BYLINE.sub("\n", head)
    if author and author.strip():
        name = r"\s+".join(f"{_M}{re.escape(w)}{_M}" for w in author.split())
        own = re.compile(rf"(?:^|(?<=[.!?…:\n]))\s*(?:{_M}By{_M}\s+)?{name}{_DATELINE}")
        head = own.sub("\n", head)
    return head + tail


def _text_lines(body: str) -> list[str]:
    """The body's lines of prose: without rules, Digest section headings and source
    lists, bullets and web addresses."""
    out = []
    for raw in body.splitlines():
        line = _URLISH.sub(lambda m: _plain(m.group()), raw.strip())
        plain = _plain(line)
        if not plain or _RULE.match(plain) or _SECTION.match(plain):
            continue
        if _ALSO.match(plain) and _URL.search(plain):
            continue  # a Digest entry's other sources: names and addresses only
        line = _TAGLINE.sub("", _URL.sub(" ", _BULLET.sub("", line)))
        line = _SPACE.sub(" ", line).strip(" ,;")
        if _has_words(line):
            out.append(line)
    return out


def _split_sentences(line: str) -> list[str]:
    out = []
    start = 0
    for end in _SENTENCE_END.finditer(line):
        if _ABBREVIATION.search(line, start, end.start()):
            continue
        out.append(line[start : end.start()].strip())
        start = end.end()
    out.append(line[start:].strip())
    return [s for s in out if _has_words(s)]


def _balanced(text: str) -> str:
    """Every start marker closed, no stray end marker (after cuts, and for hostile text
    that carried marker characters of its own)."""
    out = []
    opened = False
    for ch in text:
        if ch == MARK_START:
            if opened:
                continue
            opened = True
        elif ch == MARK_END:
            if not opened:
                continue
            opened = False
        out.append(ch)
    if opened:
        out.append(MARK_END)
    return "".join(out).replace(MARK_START + MARK_END, "")


def _matches(sentence: str) -> int:
    return len({_plain(m).casefold() for m in _MARKED.findall(sentence)})


def _cut(sentence: str, words: int, *, at_match: bool) -> tuple[str, bool, bool]:
    """At most `words` words of `sentence`, from its start or, when its first match lies
    beyond them, from a few words before that match; with whether words were left out
    before and after."""
    tokens = sentence.split(" ")
    if len(tokens) <= words:
        return sentence, False, False
    start = 0
    if at_match:
        first = next((n for n, t in enumerate(tokens) if MARK_START in t), 0)
        if first >= words - 5:
            start = min(first - 6, len(tokens) - words)
    kept = " ".join(tokens[start : start + words]).rstrip(",;:—–- ")
    return kept, start > 0, start + words < len(tokens)


def snippet(
    body_marked: str,
    *,
    title: str = "",
    author: str | None = None,
    words: int = SNIPPET_WORDS,
) -> str:
    """The best-matching sentence(s) of a body whose matches are marked, as marked text.

    The sentence with the most distinct matched words leads (the first of equals), and
    the sentences after it follow while they fit in `words`; with no match in the body
    (the headline matched), the body's opening sentences. Empty for a body without text.
    """
    lines = _text_lines(body_marked)
    if not lines:
        return ""
    text = "\n".join(lines)
    text = _without_title(text, title)
    text = _without_byline(text, author)
    sentences = [s for line in text.split("\n") for s in _split_sentences(line)]
    if not sentences:
        return ""
    scores = [_matches(s) for s in sentences]
    best = max(range(len(sentences)), key=lambda n: (scores[n], -n))
    chosen, before, after = _cut(sentences[best], words, at_match=scores[best] > 0)
    if not after:
        for following in sentences[best + 1 :]:
            if len(chosen.split(" ")) + len(following.split(" ")) > words:
                break
            chosen = f"{chosen} {following}"
    text = _balanced(_SPACE.sub(" ", chosen).strip())
    return ("…" if before else "") + text + ("…" if after else "")
