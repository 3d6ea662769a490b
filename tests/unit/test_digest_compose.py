"""Composition from plain values: collapse, memory, grouping, caps, overview, safe HTML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selectolax.lexbor import LexborHTMLParser

from newsline.publish.digest_compose import (
    Memory,
    SponsorBlock,
    WindowItem,
    collapse,
    compose,
    entry_from_json,
    extractive_overview,
    overview_html,
    render_html,
    render_text,
)

T0 = datetime(2025, 7, 25, 15, 0, tzinfo=UTC)
ORDER = ["politics", "war", "economy", "other"]


def cand(i: int, pub: int, **kw: object) -> WindowItem:
    base: dict[str, object] = {
        "id": i,
        "publication_id": pub,
        "publication": f"Pub {pub}",
        "title": f"Title {i}",
        "url": f"https://p{pub}.example/{i}",
        "sort_at": T0 + timedelta(minutes=i),
        "image_url": f"https://p{pub}.example/{i}.jpg",
        "summary": f"Summary of item {i}. It has a second sentence.",
        "text_length": 1000,
        "hashtag": "politics",
    }
    base.update(kw)
    return WindowItem(**base)  # type: ignore[arg-type]


def test_near_duplicates_and_stories_collapse_into_the_most_complete_item() -> None:
    items = [
        cand(1, 1, story_id=7, text_length=500),
        cand(2, 2, story_id=7, text_length=3000),  # most complete: leads
        cand(3, 3, near_duplicate_of_id=2, text_length=3000, summary=None),  # copy of 2
        cand(4, 4),
    ]
    entries = {e.key: e for e in collapse(items)}
    assert set(entries) == {"story:7", "item:4"}
    story = entries["story:7"]
    assert story.item_id == 2 and story.publication == "Pub 2"
    assert [a.publication for a in story.also] == ["Pub 3", "Pub 1"]  # newest first
    assert story.sources == 3 and story.item_ids == [1, 2, 3]


def test_groups_follow_channel_order_rank_by_coverage_then_recency_and_cap() -> None:
    items = [cand(i, i, hashtag="economy") for i in range(1, 8)]  # 7 single-source entries
    items += [cand(20, 20, hashtag="economy", story_id=1, story_sources=5)]  # oldest, widest
    items += [cand(30, 30, hashtag="war"), cand(31, 31, hashtag="unknown-tag")]
    comp = compose(items, ORDER, Memory(), per_group=3, total=5)
    assert [tag for tag, _ in comp.groups] == ["war", "economy", "other"]  # politics empty
    economy = dict(comp.groups)["economy"]
    assert [e.item_id for e in economy] == [20, 7, 6]  # coverage first, then newest
    assert sum(len(g) for _, g in comp.groups) == 5


def test_total_cap_keeps_the_best_entries_across_groups() -> None:
    items = [cand(i, i, hashtag="politics") for i in range(1, 6)]
    items.append(cand(50, 50, hashtag="economy", story_id=9, story_sources=4))
    comp = compose(items, ORDER, Memory(), per_group=10, total=2)
    kept = [e.item_id for e in comp.entries]
    assert kept == [5, 50]  # the widest story survives although #economy comes later


def test_memory_drops_shown_stories_unless_they_gained_sources() -> None:
    memory = Memory()
    first = compose(
        [cand(1, 1, story_id=7, story_sources=2), cand(2, 2)], ORDER, memory, per_group=5, total=5
    )
    for e in first.entries:
        memory.remember(e.to_json())
    # Same story, same coverage: dropped. Same story, a new source: back, as an update.
    same = compose([cand(3, 1, story_id=7, story_sources=2)], ORDER, memory, per_group=5, total=5)
    assert same.entries == [] and same.remembered == 1
    grown = compose([cand(4, 3, story_id=7, story_sources=3)], ORDER, memory, per_group=5, total=5)
    (entry,) = grown.entries
    assert entry.update and entry.sources == 3
    assert "Update:" in render_html("", grown.groups)


def test_entry_json_round_trip() -> None:
    (e,) = collapse([cand(1, 1, story_id=3)])
    assert entry_from_json(e.to_json()) == e


def test_overview_is_extractive_and_at_most_1000_chars() -> None:
    items = [cand(i, i, summary=(f"Sentence {i} is here in full. ") * 3) for i in range(200)]
    comp = compose(items, ORDER, Memory(), per_group=100, total=100)
    text = extractive_overview(comp.entries, 1000)
    assert 0 < len(text) <= 1000
    lines = text.split("\n")
    assert "Title 199 — Sentence 199 is here in full." in lines  # the best-ranked entry
    by_title = {e.title: e for e in comp.entries}
    for line in lines:  # every line is one entry: its headline, then its own sentence
        title, _, sentence = line.partition(" — ")
        entry = by_title[title.rstrip(".")]
        assert sentence in entry.summary


def test_overview_is_one_line_per_top_story_in_section_order() -> None:
    # The summaries as the old summarizer left them: the lead, cut off mid-sentence.
    fragment = "First direct negotiations since the border war…"
    items = [
        cand(1, 1, title="Talks resume", hashtag="war", summary=fragment),
        cand(2, 2, title="Budget passes", hashtag="economy", summary="The budget passed 60-40."),
        cand(
            3,
            3,
            title="Senate votes on the budget today",
            hashtag="politics",
            summary="The Senate votes today. Leaders expect a narrow result on the bill.",
        ),
    ]
    comp = compose(items, ORDER, Memory(), per_group=5, total=5)
    text = extractive_overview(comp.entries, 1000)
    assert text.split("\n") == [
        "Senate votes on the budget today — The Senate votes today.",
        "Talks resume.",  # a cut-off summary never opens or ends a line
        "Budget passes — The budget passed 60-40.",
    ]
    assert "…" not in text
    # Short on room: the best-covered stories keep their line, still in section order.
    assert extractive_overview(comp.entries, 30).split("\n") == ["Talks resume.", "Budget passes."]


def test_the_overview_links_each_line_to_its_story() -> None:
    items = [
        cand(1, 1, title="Talks resume", hashtag="war", summary="Envoys met at noon today."),
        cand(
            2,
            2,
            title="Budget <b>passes</b>",
            hashtag="economy",
            summary="The bill passed by sixty votes to forty.",
        ),
        cand(3, 3, title="Dam opens", hashtag="politics", url="javascript:alert(1)"),
    ]
    comp = compose(items, ORDER, Memory(), per_group=5, total=5)
    text = extractive_overview(comp.entries, 1000)
    tree = LexborHTMLParser(overview_html(text, comp.entries))
    lines = tree.css("ul > li")
    assert [li.text() for li in lines] == text.split("\n")  # one list item per line, in order
    links = {li.text(): li.css_first("a") for li in lines}
    talks = links["Talks resume — Envoys met at noon today."]
    assert talks is not None and talks.text() == "Talks resume"  # the headline is the link
    assert talks.attributes["href"] == "https://p1.example/1"
    budget = links["Budget <b>passes</b> — The bill passed by sixty votes to forty."]
    assert budget is not None and budget.attributes["href"] == "https://p2.example/2"
    assert tree.css("b") == []
    dam = next(li for li in lines if li.text().startswith("Dam opens"))
    assert dam.css_first("a") is None  # a link that is not a web address is not made
    # An overview that is not the automatic brief (an editor's words) stays paragraphs.
    prose = overview_html("Talks resume — editors add\nmore.\n\nA second <i>thought</i>.", [])
    assert [p.text() for p in LexborHTMLParser(prose).css("p")] == [
        "Talks resume — editors add more.",
        "A second <i>thought</i>.",
    ]
    assert "<ul>" not in prose and overview_html("", comp.entries) == ""


def test_html_is_escaped_and_sanitized() -> None:
    evil = cand(
        1,
        1,
        publication="Pub <script>alert(1)</script>",
        title="<img src=x onerror=alert(1)>Title",
        url="javascript:alert(1)",
        image_url="javascript:alert(2)",
        summary='"><svg onload=alert(3)>',
    )
    comp = compose([evil, cand(2, 2, story_id=None)], ORDER, Memory(), per_group=5, total=5)
    out = render_html("overview <b>", comp.groups, SponsorBlock("S", "https://s.example", "Buy"))
    tree = LexborHTMLParser(out)
    assert tree.css("script, svg, iframe") == []
    for node in tree.css("*"):
        for name, value in node.attributes.items():
            assert not name.startswith("on"), (node.tag, name)
            assert "javascript" not in (value or "").lower(), (node.tag, name, value)
    assert "Pub <script>alert(1)</script>: <img src=x onerror=alert(1)>Title" in tree.text()
    assert 'href="https://p2.example/2"' in out and 'id="sponsor"' in out
    text = render_text("T", "overview", comp.groups)
    assert "* Pub 2: Title 2" in text and "https://p2.example/2" in text
