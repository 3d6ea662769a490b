"""Summaries: extractive and offline by default, an OpenAI-compatible endpoint when configured.

The extractive summarizer splits the text into sentences (pysbd), drops boilerplate
(newsletter pitches, "sign up", "Recommended", photo credits, "click here", ...), ranks
the rest by centrality (similarity to the whole text) and position (news puts the facts
first), and writes at most two short paragraphs, one sentence each, within ``max_chars``.

The ``openai`` backend asks a chat-completions endpoint for the same two paragraphs, but
every answer must pass a grounding check: each number and each capitalized name in it
must occur in the source. Otherwise (and on timeouts, HTTP errors, an exhausted daily
budget) the extractive summary is used and the reason is logged. Answers are cached by
content hash; the cache and the per-day request counter live in a small SQLite file,
``<data_dir>/summaries.sqlite3`` (tables ``cache`` and ``budget``), so a restart keeps
both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsline.errors import NewslineError

if TYPE_CHECKING:
    from newsline.config import Settings, SummarizeSettings

log = logging.getLogger(__name__)

PROMPT_VERSION = "1"
#: Only the opening of very long texts is ranked: news states its facts early.
MAX_SOURCE_CHARS = 5000
MIN_WORDS = 6
MAX_SENTENCES = 40

_BOILERPLATE = re.compile(
    r"""(?ix)
    newsletter | sign[\s-]?up\b | \bsubscribe\ (to|now|today|for|here) | subscribers?\ only
    | \bunsubscribe\b | subscription\ (offer|required|needed)
    | \brecommended\b | \bread\ (more|next|also)\b | \brelated\ (articles?|stories|coverage)\b
    | click\ here | tap\ here | \bclick\ (the|on|to)\b | download\ (our|the)\ app
    | follow\ us | share\ this | share\ on | (share|follow|like)\ .{0,30}(facebook|twitter|instagram)
    | \b(photo(graph)?s?|foto|bild|imagen)\ ?(by|credit|:) | \(foto\b | \bimage\ (caption|copyright|source)\b
    | \b(getty|shutterstock|alamy)\b | \b(reuters|ap|afp|epa|pa)\ (images?|photo)\b | \bcredit:
    | all\ rights\ reserved | © | \(c\)\ \d{4} | copyright\ \d{4}
    | \badvertisement\b | sponsored\ (content|post|by) | \bcookies?\ (policy|settings)
    | (we|this\ site)\ uses?\ cookies | privacy\ policy | terms\ of\ (use|service)
    | log\ ?in\ to | create\ an\ account | our\ (daily|weekly)\ (email|briefing)
    | in\ your\ inbox | to\ your\ inbox | best\ of\ .{0,30}\ delivered
    | \bcomments?\ (are|have\ been)\ (closed|disabled) | \bleave\ a\ comment\b
    | https?:// | www\. | \bemail\ us\b | \bcontact\ us\b | \bsupport\ our\ journalism\b
    | ^(watch|listen|video|read|more|related)\s*: | \bvideo\ (caption|player)\b
    | \bupdated\ \d{1,2}:\d{2} | \bfirst\ published\b | \blast\ modified\b
    | \bmore\ on\ this\ story\b | \bthis\ (article|story)\ (was|has\ been)\ (updated|amended)
    """
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "has",
        "had",
        "have",
        "he",
        "her",
        "his",
        "i",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "there",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "said",
        "says",
        "not",
        "no",
        "after",
        "over",
        "also",
        "more",
        "about",
        "up",
        "out",
        "new",
    ]
)


# --- extractive -------------------------------------------------------------------------


_SEGMENTERS = threading.local()


def _segmenter() -> Any:
    """This thread's sentence segmenter: a pysbd Segmenter keeps the text it is splitting on
    itself, so threads sharing one (a worker's tagging units, a digest beside them) got
    each other's sentences."""
    segmenter = getattr(_SEGMENTERS, "segmenter", None)
    if segmenter is None:
        import pysbd

        segmenter = _SEGMENTERS.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def is_boilerplate(sentence: str) -> bool:
    """True for newsletter pitches, share prompts, photo credits and other page furniture."""
    s = sentence.strip()
    if not s:
        return True
    if _BOILERPLATE.search(s):
        return True
    letters = [c for c in s if c.isalpha()]
    # Shouting headers ("MORE FROM OUR PARTNERS") and caption-like fragments.
    return bool(letters) and sum(c.isupper() for c in letters) > 0.6 * len(letters)


_INNER_STOP = re.compile(r"[.!?…][\"'”’)\]]*\s+\S")


def sentences(text: str) -> list[str]:
    """Sentences of a text, paragraph by paragraph (whitespace collapsed)."""
    out: list[str] = []
    budget = MAX_SOURCE_CHARS
    for para in re.split(r"\n\s*\n|\r?\n", text):
        para = " ".join(para.split())
        if not para:
            continue
        para = para[:budget]
        budget -= len(para)
        if _INNER_STOP.search(para):
            out.extend(s for s in (" ".join(x.split()) for x in _segmenter().segment(para)) if s)
        else:
            out.append(para)  # one sentence already: pysbd is the slow part, skip it
        if budget <= 0 or len(out) >= MAX_SENTENCES:
            break
    return out[:MAX_SENTENCES]


def _bag(s: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(s) if w.lower() not in _STOP)


def _cos(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _lead_end(text: str) -> int:
    """How many sentences of ``sentences(text)`` form the lead: the first paragraph with
    a usable sentence (what the item page shows first, as its teaser or body); in a
    one-paragraph text, its first sentence."""
    paras = [p for p in re.split(r"\n\s*\n|\r?\n", text) if p.strip()]
    count = 0
    for n, para in enumerate(paras):
        part = sentences(para)
        if any(not is_boilerplate(s) and len(_WORD.findall(s)) >= MIN_WORDS for s in part):
            return count + (len(part) if n + 1 < len(paras) else 1)
        count += len(part)
    return count


def _candidates(title: str, text: str, *, skip_lead: bool = False) -> list[tuple[int, str, float]]:
    """Usable sentences with their score: (position, sentence, score).

    The score is TF-IDF centrality (mean similarity to the article's other sentences,
    LexRank-style), a little similarity to the title, and position as a tie-breaker.
    With ``skip_lead`` the lead paragraph is left out whenever a usable sentence
    remains after it.
    """
    sents = sentences(text)
    usable = [
        (i, s)
        for i, s in enumerate(sents)
        if not is_boilerplate(s)
        and len(_WORD.findall(s)) >= MIN_WORDS
        and s.rstrip()[-1:] in ".!?\"'”’)"
        and s.strip() != title.strip()
    ]
    if not usable:
        usable = [(i, s) for i, s in enumerate(sents) if not is_boilerplate(s)]
    if skip_lead and usable:
        lead = _lead_end(text)
        shown = {" ".join(x.split()).casefold() for x in sents[:lead]}
        # Past the lead, and not a later repeat of one of its sentences either.
        usable = [(i, s) for i, s in usable if i >= lead and s.casefold() not in shown]
    if not usable:
        return []
    bags = [_bag(s) for _, s in usable]
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    n = len(bags)
    idf = {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}
    vecs = [{w: (1.0 + math.log(c)) * idf[w] for w, c in bag.items()} for bag in bags]
    norms = [math.sqrt(sum(v * v for v in vec.values())) or 1.0 for vec in vecs]
    title_bag = _bag(title)
    scored: list[tuple[int, str, float]] = []
    for k, ((i, s), vec) in enumerate(zip(usable, vecs, strict=True)):
        if n > 1:
            total = 0.0
            for m, other in enumerate(vecs):
                if m != k:
                    dot = sum(w * other.get(t, 0.0) for t, w in vec.items())
                    total += dot / (norms[k] * norms[m])
            centrality = total / (n - 1)
        else:
            centrality = 1.0
        title_sim = _cos(bags[k], title_bag)
        position = 0.05 / (1.0 + 0.5 * k)  # earlier wins a near tie (news states facts early)
        scored.append((i, s, centrality + 0.25 * title_sim + position))
    return scored


def _shorten(sentence: str, limit: int) -> str:
    """Cut a sentence at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: max(limit - 1, 0)]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def summarize(title: str, text: str, max_chars: int = 280) -> str:
    """An extractive summary: at most two short paragraphs, ``max_chars`` in total.

    Central sentences from across the article, never its lead paragraph (the page
    shows that right below the summary): when nothing usable follows the lead, the
    summary is ``""``. Paragraphs are separated by a blank line (counted in
    ``max_chars``). A text without any usable sentence gives the title (or ``""``).
    """
    if not _candidates(title, text):
        return _shorten(" ".join(title.split()), max_chars) if title.strip() else ""
    scored = _candidates(title, text, skip_lead=True)
    if not scored:
        return ""
    ranked = sorted(scored, key=lambda c: -c[2])
    chosen: list[tuple[int, str]] = []
    used = 0
    for i, s, _ in ranked:
        if len(chosen) == 2:
            break
        extra = len(s) + (2 if chosen else 0)
        if used + extra > max_chars:
            continue
        if any(_cos(_bag(s), _bag(c)) > 0.6 for _, c in chosen):
            continue  # a near-repeat adds nothing
        chosen.append((i, s))
        used += extra
    if not chosen:
        return _shorten(ranked[0][1], max_chars)
    chosen.sort()
    return "\n\n".join(s for _, s in chosen)


def summarize_many(
    texts: Sequence[str], max_chars: int = 1000, titles: Sequence[str] | None = None
) -> str:
    """An overview paragraph of several texts (e.g. a digest), at most ``max_chars``.

    Takes the best sentence of each text, then keeps the most central ones across the
    set, in the given order, while they fit.
    """
    titles = list(titles) if titles is not None else [""] * len(texts)
    leads: list[tuple[int, str]] = []
    for n, (title, text) in enumerate(zip(titles, texts, strict=True)):
        scored = _candidates(title, text)
        if scored:
            best = max(scored, key=lambda c: c[2])
            leads.append((n, best[1]))
        elif title.strip():
            leads.append((n, " ".join(title.split()).rstrip(".") + "."))
    if not leads:
        return ""
    whole: Counter[str] = Counter()
    bags = [_bag(s) for _, s in leads]
    for b in bags:
        whole.update(b)
    # Earlier texts come first in a digest; centrality breaks ties within that order.
    order = sorted(
        range(len(leads)),
        key=lambda k: -(0.5 * _cos(bags[k], whole) + 0.5 / (1.0 + 0.2 * k)),
    )
    chosen: list[int] = []
    used = 0
    for k in order:
        s = leads[k][1]
        extra = len(s) + (1 if chosen else 0)
        if used + extra > max_chars:
            continue
        chosen.append(k)
        used += extra
    if not chosen:
        return _shorten(leads[order[0]][1], max_chars)
    return " ".join(leads[k][1] for k in sorted(chosen))


# --- grounding ---------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z'’\-]*[A-Za-z]\b|\b[A-Z]\b")
_FUNCTION_WORDS = frozenset(
    [
        "A",
        "An",
        "The",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "Its",
        "He",
        "She",
        "They",
        "We",
        "I",
        "You",
        "His",
        "Her",
        "Their",
        "Our",
        "Your",
        "In",
        "On",
        "At",
        "By",
        "For",
        "From",
        "To",
        "Of",
        "And",
        "But",
        "Or",
        "As",
        "After",
        "Before",
        "While",
        "When",
        "Where",
        "Why",
        "How",
        "What",
        "Who",
        "Which",
        "If",
        "Also",
        "Meanwhile",
        "However",
        "Yet",
        "Still",
        "Some",
        "Many",
        "Most",
        "Several",
        "Both",
        "Each",
        "Other",
        "Such",
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Seven",
        "Eight",
        "Nine",
        "Ten",
        "There",
        "Here",
        "Officials",
        "Police",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Summary",
        "Today",
        "Yesterday",
        "Tomorrow",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "According",
        "Despite",
        "Under",
        "Over",
        "With",
        "Without",
        "Since",
        "Until",
        "During",
        "Following",
        "Amid",
    ]
)


def _norm_number(n: str) -> str:
    n = n.replace(",", "")
    if "." in n:
        n = n.rstrip("0").rstrip(".") or "0"
    return n


def grounding_problems(summary: str, source: str) -> list[str]:
    """What in ``summary`` the source does not support: numbers and capitalized names."""
    problems: list[str] = []
    source_numbers = {_norm_number(m) for m in _NUMBER.findall(source)}
    for m in _NUMBER.findall(summary):
        if _norm_number(m) not in source_numbers:
            problems.append(f"number {m!r} not in source")
    source_words = set(re.findall(r"\w+", source.lower()))
    for m in _CAPITALIZED.findall(summary):
        word = m.replace("’", "'")
        base = word.split("'")[0] if "'" in word else word  # It's, Ortiz's, Don't
        if word in _FUNCTION_WORDS or base in _FUNCTION_WORDS:
            continue
        # Every word part must occur: "SARS-CoV" in "SARS-CoV-2", "OMS" in "l'OMS".
        if not all(part in source_words for part in re.findall(r"\w+", base.lower())):
            problems.append(f"name {m!r} not in source")
    return problems


# --- the configurable summarizer ----------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A summary and how it was made: ``extractive``, ``openai`` or ``cache``."""

    text: str
    method: str
    note: str = ""


class SummaryBackendError(NewslineError):
    """The OpenAI-compatible endpoint failed or answered something unusable."""


class SummaryStore:
    """The answer cache and the per-day request counter (a SQLite file in ``data_dir``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, summary TEXT NOT NULL,"
                " model TEXT NOT NULL, created_at TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS budget (day TEXT PRIMARY KEY, requests INTEGER NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def get(self, key: str) -> str | None:
        """The cached summary for a content key, or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT summary FROM cache WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, summary: str, model: str) -> None:
        """Remember an accepted summary."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)",
                (key, summary, model, datetime.now(UTC).isoformat()),
            )

    def take_request(self, limit: int, day: str | None = None) -> bool:
        """Count one request against today's budget; False when it is spent."""
        day = day or datetime.now(UTC).date().isoformat()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT requests FROM budget WHERE day = ?", (day,)).fetchone()
            used = int(row[0]) if row else 0
            if used >= limit:
                return False
            conn.execute(
                "INSERT INTO budget VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET requests = requests + 1",
                (day,),
            )
        return True

    def requests_on(self, day: str) -> int:
        """Requests made on a UTC day (``YYYY-MM-DD``)."""
        with self._connect() as conn:
            row = conn.execute("SELECT requests FROM budget WHERE day = ?", (day,)).fetchone()
        return int(row[0]) if row else 0


SYSTEM_PROMPT = (
    "You write news summaries in plain wire-news register. Use only facts stated in the "
    "article. Do not add names, numbers or places that are not in the article. No opinions, "
    "no headline, no preamble."
)


class Summarizer:
    """Summaries per the settings: extractive, or an OpenAI-compatible endpoint with fallback."""

    def __init__(self, config: SummarizeSettings, data_dir: Path) -> None:
        self.config = config
        self.store = (
            SummaryStore(data_dir / "summaries.sqlite3") if config.backend == "openai" else None
        )

    def summarize(self, title: str, text: str, max_chars: int = 280) -> Summary:
        """A summary of one item within ``max_chars``."""
        fallback = summarize(title, text, max_chars)
        if self.store is None:
            return Summary(fallback, "extractive")
        prompt = (
            f"Summarize this news article in two short paragraphs, at most {max_chars} "
            "characters in total, separated by a blank line.\n\n"
            f"Title: {title}\n\nArticle:\n{text[:MAX_SOURCE_CHARS]}"
        )
        return self._ask(prompt, f"{title}\n{text}", max_chars, fallback)

    def overview(
        self, texts: Sequence[str], max_chars: int = 1000, titles: Sequence[str] | None = None
    ) -> Summary:
        """One overview paragraph of several texts (the digest's summary)."""
        fallback = summarize_many(texts, max_chars, titles)
        if self.store is None:
            return Summary(fallback, "extractive")
        titles = list(titles) if titles is not None else [""] * len(texts)
        per = max(400, MAX_SOURCE_CHARS // max(len(texts), 1))
        body = "\n\n".join(f"- {t}: {x[:per]}" for t, x in zip(titles, texts, strict=True))
        prompt = (
            f"Write one overview paragraph, at most {max_chars} characters, of these news "
            f"items.\n\n{body}"
        )
        source = "\n".join(f"{t}\n{x}" for t, x in zip(titles, texts, strict=True))
        return self._ask(prompt, source, max_chars, fallback)

    def _ask(self, prompt: str, source: str, max_chars: int, fallback: str) -> Summary:
        assert self.store is not None
        key = hashlib.sha256(
            f"{PROMPT_VERSION}\0{self.config.model}\0{max_chars}\0{prompt}".encode()
        ).hexdigest()
        cached = self.store.get(key)
        if cached is not None:
            return Summary(cached, "cache")
        if not self.store.take_request(self.config.daily_budget):
            log.warning(
                "summary: daily budget of %d requests spent; extractive", self.config.daily_budget
            )
            return Summary(fallback, "extractive", "daily budget spent")
        try:
            answer = self._complete(prompt, max_chars)
        except SummaryBackendError as exc:
            log.warning("summary: backend failed (%s); extractive", exc)
            return Summary(fallback, "extractive", f"backend failed: {exc}")
        answer = _tidy(answer, max_chars)
        reasons: list[str] = []
        if not answer:
            reasons.append("empty or over-long answer")
        if any(is_boilerplate(s) for s in answer.split("\n\n") if s):
            reasons.append("boilerplate in answer")
        reasons += grounding_problems(answer, source)
        if reasons:
            log.warning("summary: answer rejected (%s); extractive", "; ".join(reasons[:5]))
            return Summary(fallback, "extractive", "ungrounded: " + "; ".join(reasons[:5]))
        self.store.put(key, answer, self.config.model)
        return Summary(answer, "openai")

    def _complete(self, prompt: str, max_chars: int) -> str:
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        payload = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0.2,
            "max_tokens": max(64, max_chars // 2),
            "stream": False,
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.config.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise SummaryBackendError(f"HTTP {exc.code} from {url}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SummaryBackendError(f"{url}: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SummaryBackendError(f"{url}: response is not JSON") from exc
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise SummaryBackendError(f"{url}: no choices[0].message.content in response") from exc
        if not isinstance(content, str):
            raise SummaryBackendError(f"{url}: message content is not text")
        return content


def _tidy(answer: str, max_chars: int) -> str:
    """Normalize an answer to at most two paragraphs; "" when it cannot fit ``max_chars``."""
    answer = re.sub(r"(?m)^\s*(summary|paragraph \d)\s*:\s*", "", answer.strip(), flags=re.I)
    answer = answer.replace("**", "").strip()
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n|\n", answer) if p.strip()]
    paras = paras[:2]
    text = "\n\n".join(paras)
    while len(text) > max_chars and paras:
        # Drop trailing sentences until it fits; never cut mid-sentence.
        last = sentences(paras[-1])
        if len(last) > 1:
            paras[-1] = " ".join(last[:-1])
        else:
            paras.pop()
        text = "\n\n".join(paras)
    return text


def summarizer_for(settings: Settings) -> Summarizer:
    """The summarizer the settings ask for."""
    return Summarizer(settings.summarize, Path(settings.data_dir))
