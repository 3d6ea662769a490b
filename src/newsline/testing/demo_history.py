"""The demo's past days: more fictional publishers and the events they covered, all invented.

``newsline demo`` starts a site as if it had been running for four days: nine more
publishers (thirteen with the four of :mod:`newsline.testing.demo_content`), fourteen
events each covered by two to five of them in their own words, and every publisher's
local briefs. Each coverage of an event shares the event's names (people, places) so the
story clustering joins them, and its own sentences (each publisher tells the event with
different facts and its own framing) so the near-duplicate check keeps them apart.

Everything is fixed text and numbers: with the same ``now`` the corpus is byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from newsline.testing.demo_content import DemoArticle, DemoPublication

HISTORY_DAYS = 4


@dataclass(frozen=True)
class Event:
    """Something that happened, told by several publishers (``covered_by`` in order)."""

    key: str
    topic: str
    hours_ago: int
    covered_by: tuple[str, ...]
    place: str
    headlines: tuple[str, ...]  # one per publisher covering it, in order
    facts: tuple[str, ...]  # six sentences; each publisher tells a different pair first


@dataclass(frozen=True)
class Masthead:
    """A history-only publisher (the four hand-written ones get history articles too)."""

    tag: str
    name: str
    host: str
    color: str
    tagline: str
    feed_format: str
    authors: tuple[str, str]


MASTHEADS: tuple[Masthead, ...] = (
    Masthead(
        "lakeshore",
        "Lakeshore Tribune",
        "lakeshoretribune.example",
        "#0f5c4c",
        "The lake towns' newspaper since 1889.",
        "rss",
        ("Greta Holm", "Victor Osei"),
    ),
    Masthead(
        "sentinel",
        "Valley Sentinel",
        "valleysentinel.example",
        "#7a3b12",
        "Watching the valley for you.",
        "atom",
        ("Hanna Berg", "Luis Ferreira"),
    ),
    Masthead(
        "dispatch",
        "Capital Dispatch",
        "capitaldispatch.example",
        "#2d3a8c",
        "Politics and power, plainly told.",
        "rss",
        ("Olga Marin", "Teodor Nyberg"),
    ),
    Masthead(
        "meridian",
        "Meridian Business Review",
        "meridianreview.example",
        "#5b5b1a",
        "Markets, companies, money.",
        "rss",
        ("Priya Anand", "Kasper Lind"),
    ),
    Masthead(
        "coastline",
        "The Coastline Post",
        "coastlinepost.example",
        "#0b6e99",
        "From the harbours to the headlands.",
        "atom",
        ("Maeve Dunne", "Ruben Castell"),
    ),
    Masthead(
        "ironwood",
        "Ironwood Daily",
        "ironwooddaily.example",
        "#8c2d2d",
        "Ironwood's daily paper.",
        "rss",
        ("Dora Kalman", "Sami Virtanen"),
    ),
    Masthead(
        "summit",
        "Summit Science Weekly",
        "summitscience.example",
        "#3c6e2f",
        "Science, health and technology, explained.",
        "rss",
        ("Ines Moreau", "Arjun Mehta"),
    ),
    Masthead(
        "fairhaven",
        "Fairhaven Sports Desk",
        "fairhavensports.example",
        "#a35a00",
        "Every match, every result.",
        "atom",
        ("Noor Haddad", "Emil Sandberg"),
    ),
    Masthead(
        "westbrook",
        "Westbrook Chronicle",
        "westbrookchronicle.example",
        "#4a2d6b",
        "The Chronicle of Westbrook and the western towns.",
        "rss",
        ("Lena Vogt", "Tomasz Wren"),
    ),
)

#: The reporters of the four hand-written publishers, for the history articles they write.
HANDWRITTEN_AUTHORS = {
    "harbor": ("Petra Lund", "Jonas Ek"),
    "gazette": ("Rosa Delgado", "Frank Adeyemi"),
    "ledger": ("Martin Cole", "Aiko Tanaka"),
    "courier": ("Beth Ainslie", "Yusuf Demir"),
}

EVENTS: tuple[Event, ...] = (
    Event(
        "tessaly-dam",
        "weather",
        86,
        ("lakeshore", "sentinel", "ironwood", "harbor"),
        "Tessaly",
        (
            "Inspectors find cracks in Tessaly dam; river towns put on alert",
            "Tessaly dam: engineers order water level lowered after inspection",
            "River towns told to prepare as Tessaly dam repairs begin",
            "Dam at Tessaly cracked, state engineers say; no evacuation yet",
        ),
        (
            "State engineers found three cracks in the spillway of the Tessaly dam during a "
            "routine inspection on Wednesday.",
            "Chief engineer Adela Brandt said the dam was not at risk of failing but that the "
            "reservoir would be lowered by two metres as a precaution.",
            "Towns along the Tessaly river, including Brookvale and Marsh End, were told to "
            "review their flood plans and keep sandbags ready.",
            "The dam, finished in 1961, holds back the reservoir that supplies drinking water "
            "to about 90,000 people.",
            "Repairs are expected to take six weeks and cost around 4 million crowns, according "
            "to the regional water authority.",
            "Residents of Marsh End said the warning sirens had been tested twice in a week, "
            "which many had never heard before.",
        ),
    ),
    Event(
        "lindholm-second-round",
        "war",
        62,
        ("harbor", "dispatch", "coastline", "westbrook", "gazette"),
        "Lindholm",
        (
            "Second round of Lindholm talks stalls over prisoner lists",
            "Veskaria and Dornland trade blame as Lindholm negotiations pause",
            "Lindholm mediators ask for patience after prisoner exchange dispute",
            "No deal yet in Lindholm: delegations disagree on names of detainees",
            "Ceasefire talks in Lindholm adjourned until next week",
        ),
        (
            "The second round of ceasefire talks between Veskaria and Dornland in Lindholm "
            "was suspended on Saturday after the two delegations disagreed over prisoner lists.",
            "Lindholm's foreign minister, Maren Ostby, said the pause was a matter of days "
            "and that both sides remained committed to the process.",
            "Dornland's chief negotiator, Ilse Varga, said Veskaria had left more than 300 "
            "detainees off the list it submitted.",
            "Veskarian deputy prime minister Tomas Keller called the accusation untrue and said "
            "his delegation had given every name it held.",
            "Shelling near the border town of Brenn was lighter than in previous weeks, "
            "according to aid workers in the area.",
            "Diplomats in Lindholm said a smaller working group would meet on Monday to "
            "compare the lists name by name.",
        ),
    ),
    Event(
        "northline-strike",
        "economy",
        74,
        ("dispatch", "meridian", "westbrook"),
        "Northline",
        (
            "Northline rail workers walk out over pay, stranding commuters",
            "Northline strike costs businesses millions, chamber of commerce says",
            "Harwick commuters face a week without Northline trains",
        ),
        (
            "Drivers and conductors on the Northline railway began a five-day strike on "
            "Monday after pay talks with the operator broke down.",
            "The rail union, led by Karin Solberg, is asking for a raise of 9 percent; the "
            "operator has offered 4.5 percent over two years.",
            "About 60,000 people use Northline trains on a normal weekday, most of them "
            "commuting between Harwick and the capital.",
            "The regional chamber of commerce estimated that the strike would cost businesses "
            "along the line about 12 million crowns.",
            "Replacement buses ran every twenty minutes but queues at Harwick station "
            "stretched around the block during the morning rush.",
            "The transport minister, Anders Holt, urged both sides to return to the table and "
            "offered the ministry's mediation service.",
        ),
    ),
    Event(
        "corvel-earnings",
        "technology",
        52,
        ("meridian", "ledger", "summit"),
        "Corvel",
        (
            "Corvel Systems profit falls by a third after data breach costs",
            "Corvel shares slide as breach bill tops 80 million",
            "What Corvel's breach cost, and what it changed in its security",
        ),
        (
            "Corvel Systems reported a quarterly profit of 142 million crowns, down a third "
            "from a year earlier, as the costs of last month's data breach came through.",
            "Chief executive Hanne Rask said the company had spent 81 million crowns on "
            "investigations, customer notices and credit monitoring.",
            "Corvel shares fell 7 percent in morning trading after the results were published.",
            "The company said it had since required hardware security keys for every employee "
            "with access to customer data.",
            "Analysts at Fennick Securities said the underlying business had held up better "
            "than expected, with subscriptions still growing.",
            "Regulators have not yet decided whether to fine Corvel over the breach, which "
            "exposed the records of about 1.2 million customers.",
        ),
    ),
    Event(
        "ashford-measles",
        "health",
        42,
        ("summit", "sentinel", "courier"),
        "Ashford",
        (
            "Measles cases rise to 14 in Ashford; free vaccination clinics open",
            "Ashford measles outbreak: what parents need to know",
            "Pinecrest schools check records as Ashford measles spreads",
        ),
        (
            "Health officials confirmed 14 cases of measles in Ashford on Thursday, up from "
            "five at the start of the week.",
            "Most of the cases are in children under ten who had not received both doses of "
            "the vaccine, said county health officer Dr. Samir Qureshi.",
            "Free vaccination clinics will open at the Ashford community centre and two "
            "schools from Friday, without appointments.",
            "Measles spreads through the air and can stay in a room for up to two hours after "
            "an infected person has left.",
            "Schools in neighbouring Pinecrest asked parents to check their children's "
            "vaccination records before Monday.",
            "Dr. Qureshi said no patient was seriously ill, though two had been kept in "
            "hospital overnight for observation.",
        ),
    ),
    Event(
        "otters-league-final",
        "sports",
        31,
        ("fairhaven", "courier", "gazette", "ironwood", "lakeshore"),
        "Marlow",
        (
            "Marlow Otters win league final in extra time",
            "Otters 3, Ironwood Miners 2: Dahl's header settles it",
            "Riverside fans celebrate as Marlow Otters lift the league trophy",
            "Miners fall short in final against Marlow after late equaliser",
            "Marlow Otters champions for the first time in 22 years",
        ),
        (
            "The Marlow Otters beat the Ironwood Miners 3-2 after extra time in the league "
            "final on Sunday, their first title in 22 years.",
            "Captain Sofia Dahl scored the winning goal with a header in the 112th minute.",
            "The Miners had equalised in stoppage time through a free kick from Pavel Roth.",
            "More than 18,000 spectators filled Riverside Stadium for the final.",
            "Otters coach Ben Okafor said the title belonged to the club's youth academy, "
            "which produced seven of the starting eleven.",
            "Thousands of supporters gathered in Marlow's market square late into the night.",
        ),
    ),
    Event(
        "kestrel-budget",
        "politics",
        21,
        ("dispatch", "lakeshore", "westbrook"),
        "Kestrel",
        (
            "Kestrel county budget passes by one vote after all-night session",
            "Kestrel budget: road repairs up, library hours cut",
            "Councillors split on Kestrel county spending plan",
        ),
        (
            "Kestrel county's council approved next year's budget by 11 votes to 10 shortly "
            "before dawn on Tuesday.",
            "The 420-million-crown plan raises spending on road repairs by a fifth and trims "
            "the opening hours of four branch libraries.",
            "Council leader Miriam Solt said the county could not keep patching roads that "
            "needed rebuilding.",
            "Opposition councillor Eero Lahti said cutting library hours hurt families who had "
            "nowhere else to study.",
            "The property tax rate will rise by 1.8 percent, the smallest increase in five years.",
            "Two councillors from the western towns voted against their group, which cost the plan its "
            "expected wider majority.",
        ),
    ),
    Event(
        "brightwater-solar",
        "economy",
        93,
        ("meridian", "summit"),
        "Brightwater",
        (
            "Brightwater solar farm wins approval after two-year review",
            "Inside the Brightwater solar farm: panels, sheep and a battery bank",
        ),
        (
            "Regional planners approved the Brightwater solar farm, a 180-megawatt project on "
            "former farmland east of Tallmoor.",
            "Developer Sunfield Energy said construction would start in spring and employ "
            "about 300 people at its peak.",
            "Sheep will graze between the rows of panels to keep the grass down, a condition "
            "added during the planning review.",
            "A battery bank on the site will store power for the evening peak, when demand is "
            "highest.",
            "Neighbours had objected to the height of a planned substation, which has been "
            "moved 400 metres further from the nearest homes.",
            "The farm is expected to supply the equivalent of 50,000 homes' yearly use.",
        ),
    ),
    Event(
        "ostrava-map-theft",
        "crime",
        27,
        ("coastline", "westbrook", "sentinel", "gazette"),
        "Ostrava",
        (
            "Rare sea charts stolen from Ostrava Museum of Maps",
            "Police search for thieves who took 17th-century charts in Ostrava",
            "Ostrava museum theft: guard says alarm was silent",
            "Stolen Ostrava charts could be impossible to sell, experts say",
        ),
        (
            "Thieves took four hand-drawn sea charts from the 17th century from the Ostrava "
            "Museum of Maps overnight on Friday.",
            "Police inspector Rafael Munk said the thieves entered through a skylight and "
            "knew exactly which display case to open.",
            "The museum's director, Clara Weiss, said the charts were insured but irreplaceable.",
            "A night guard told investigators that the alarm system had not gone off.",
            "Dealers in antique maps said charts so well documented would be almost impossible "
            "to sell openly.",
            "The museum will stay closed until Wednesday while forensic teams work in the gallery.",
        ),
    ),
    Event(
        "halden-ferry-collision",
        "accident",
        9,
        ("coastline", "harbor", "ironwood", "lakeshore"),
        "Port Halden",
        (
            "Ferry and cargo ship collide off Port Halden; 12 hurt",
            "Port Halden collision: investigators board both ships",
            "Local family among passengers on damaged Halden ferry",
            "Halden ferry service suspended after collision in fog",
        ),
        (
            "A passenger ferry and a cargo ship collided in thick fog outside Port Halden on "
            "Thursday morning, injuring 12 people.",
            "The ferry, the Marta Selin, was carrying 214 passengers and 40 cars on its way "
            "to the island of Skarvö.",
            "Harbour master Olav Strand said both ships had reduced speed but visibility was "
            "below a hundred metres.",
            "Two of the injured were taken to hospital with broken bones; the others were "
            "treated on the quay.",
            "The maritime accident board sent investigators to board both ships and download "
            "their voyage recorders.",
            "Ferry services to Skarvö were suspended for the day, and the operator arranged "
            "hotel rooms for stranded travellers.",
        ),
    ),
    Event(
        "novaterm-greyford-plant",
        "technology",
        15,
        ("meridian", "summit", "ledger", "dispatch"),
        "Greyford",
        (
            "Novaterm picks Greyford for chip plant with 2,000 jobs",
            "How Novaterm's Greyford plant will make sensor chips",
            "Greyford plant: Novaterm bets 3 billion on sensor chips",
            "Government grant helped bring Novaterm plant to Greyford, minister says",
        ),
        (
            "Chipmaker Novaterm chose Greyford for a 3-billion-crown factory that will employ "
            "about 2,000 people when complete.",
            "The plant will make sensor chips for cars and medical devices rather than the "
            "most advanced processors.",
            "Novaterm's chief operating officer, Jun Park, said Greyford won because of its "
            "water supply and the nearby technical university.",
            "The government contributed a grant of 400 million crowns, industry minister "
            "Selma Dahlberg confirmed.",
            "Construction is due to start next year, with the first chips expected in 2029.",
            "Local officials said they would need about 800 new homes to house the workers.",
        ),
    ),
    Event(
        "storm-ilsa",
        "weather",
        4,
        ("coastline", "sentinel", "courier", "ironwood"),
        "Ilsa",
        (
            "Storm Ilsa cuts power to 30,000 homes along the coast",
            "Valley roads closed as Storm Ilsa brings floods and fallen trees",
            "Schools shut for the day as Storm Ilsa passes",
            "Storm Ilsa: road crews work through the night",
        ),
        (
            "Storm Ilsa brought gusts of up to 120 kilometres an hour to the coast overnight, "
            "cutting power to about 30,000 homes.",
            "The weather service kept its orange warning in place until noon and warned of "
            "more heavy rain in the valleys.",
            "Grid operator Nordvolt said most customers should be reconnected by evening, "
            "though remote areas could wait longer.",
            "Fallen trees closed several roads, including the valley highway between Norrby "
            "and Kettle Cross.",
            "Schools in Elmsford and two neighbouring towns stayed closed for the day.",
            "No serious injuries were reported, emergency services said.",
        ),
    ),
    Event(
        "westbrook-school-meals",
        "education",
        55,
        ("westbrook", "dispatch"),
        "Westbrook",
        (
            "Free school meals for every Westbrook pupil from January",
            "Westbrook school meals plan: who pays, and how much",
        ),
        (
            "Every pupil in Westbrook's primary schools will get a free hot lunch from "
            "January, the town council decided on Wednesday.",
            "The programme will cost about 6 million crowns a year, paid partly by a grant "
            "from the education ministry.",
            "Deputy mayor Ruth Abiola said the meals would help families and improve "
            "attention in afternoon lessons.",
            "School kitchens in three buildings need new equipment before the start date.",
            "Local farms will supply vegetables under a contract to be tendered this autumn.",
            "Some councillors asked why secondary schools were not included; the council said "
            "it would review that next year.",
        ),
    ),
    Event(
        "greyford-marathon",
        "sports",
        45,
        ("fairhaven", "lakeshore"),
        "Lindhaven",
        (
            "Course record falls at the Lindhaven marathon",
            "Lindhaven marathon: Amani Otieno runs fastest time on the course",
        ),
        (
            "Amani Otieno won the Lindhaven marathon in 2 hours 7 minutes and 41 seconds, a "
            "course record by almost a minute.",
            "The women's race went to local runner Freya Lund, who finished in 2:26:05.",
            "About 9,000 runners started the race in cool, still weather.",
            "Otieno said he had planned to run with the leaders until 30 kilometres and then "
            "decide.",
            "Organisers said the course, flattened two years ago, was now among the fastest in "
            "the region.",
            "Lund, a nurse at the Lindhaven infirmary, trains before her morning shifts.",
        ),
    ),
)

#: Each new publisher's own local briefs: (headline, dek, paragraphs), covered by no one else.
BRIEFS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "lakeshore": (
        (
            "Main library adds Sunday opening",
            "The main branch will open on Sundays from noon to five.",
            (
                "The town's main library will open on Sundays from next month after a "
                "petition signed by 1,400 residents.",
                "Librarian Agnes Kirk said the extra hours would be staffed by moving two "
                "weekday evening shifts.",
            ),
        ),
        (
            "Pier repairs at Sandvik beach finished early",
            "The north pier reopens two weeks ahead of plan.",
            (
                "The north pier at Sandvik beach reopened on Thursday, two weeks ahead of "
                "schedule.",
                "Contractors replaced 60 rotten planks and two of the supporting piles.",
            ),
        ),
    ),
    "sentinel": (
        (
            "Valley orchard harvest is the best in a decade",
            "Apple growers report a record crop after a mild spring.",
            (
                "Apple growers in the valley expect their largest harvest in ten years after "
                "a spring without late frosts.",
                "Cooperative manager Tobias Rieck said prices would fall slightly because of "
                "the glut.",
            ),
        ),
        (
            "New footbridge links the two halves of Elmsford",
            "The bridge replaces a ferry that ran for eighty years.",
            (
                "A footbridge across the river at Elmsford opened on Saturday, replacing a "
                "small ferry that had run since 1944.",
                "The last ferryman, Jakob Weller, cut the ribbon.",
            ),
        ),
    ),
    "dispatch": (
        (
            "Auditor general to face questions on late computer projects",
            "The audit office's annual report is due before the committee.",
            (
                "The public accounts committee will question the auditor general, Eva Lindqvist, "
                "about her annual report on Monday.",
                "The report criticised delays in three large government computer projects.",
            ),
        ),
    ),
    "meridian": (
        (
            "Harbour freight volumes up 6 percent in the quarter",
            "Container traffic rose at every major port.",
            (
                "Container traffic through the country's ports rose 6 percent in the third "
                "quarter, the ports association said.",
                "Norrvik handled the largest share, followed by the river ports.",
            ),
        ),
    ),
    "coastline": (
        (
            "Seal pups counted on the Grimsand banks",
            "Volunteers counted 212 pups, the most since records began.",
            (
                "Volunteers counted 212 grey seal pups on the Grimsand banks this "
                "season, the highest number since counts began in 1990.",
                "Biologist Mira Jansen said a mild autumn with few storms may have helped.",
            ),
        ),
    ),
    "ironwood": (
        (
            "Brannock foundry celebrates 150 years",
            "The town's oldest employer opened its doors to visitors.",
            (
                "More than 3,000 people visited the Brannock foundry on its 150th birthday on "
                "Saturday.",
                "The foundry still employs 240 people and casts parts for ships and turbines.",
            ),
        ),
    ),
    "summit": (
        (
            "Study: cycling to school linked to better sleep",
            "Researchers followed 1,100 children for a year.",
            (
                "Children who cycled or walked to school slept on average 20 minutes longer, "
                "a study of 1,100 pupils found.",
                "Lead author Dr. Hana Sato said the study showed a link, not proof of a cause.",
            ),
        ),
    ),
    "fairhaven": (
        (
            "Fairhaven Rowing Club wins the coastal regatta",
            "The eight beat the favourites by half a length.",
            (
                "Fairhaven Rowing Club's eight won the coastal regatta on Sunday, beating "
                "last year's champions by half a length.",
                "Stroke Ida Renner said the crew had trained at dawn all summer.",
            ),
        ),
    ),
    "westbrook": (
        (
            "Old market hall reopens after restoration",
            "Twenty-six stalls are back under the iron roof.",
            (
                "The covered market hall on Anker Square reopened on Saturday after a two-year "
                "restoration of its iron roof.",
                "Twenty-six traders have taken stalls, among them four new food vendors.",
            ),
        ),
    ),
}

_BRIEF_HOURS = (11, 34, 58, 81)
#: The two facts each publisher tells, by its place in the coverage: no two share both, and
#: the first three share none (so no coverage reads as another's copy).
_FACT_PAIRS = ((0, 1), (2, 3), (4, 5), (5, 2), (3, 0))


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


def _voice(tag: str) -> tuple[str, str]:
    """The two reporters who write the publisher's history articles."""
    for m in MASTHEADS:
        if m.tag == tag:
            return m.authors
    return HANDWRITTEN_AUTHORS[tag]


def _event_article(event: Event, tag: str, n: int) -> DemoArticle:
    """Publisher number `n` of the event's coverage: its headline, its pair of facts first."""
    authors = _voice(tag)
    first, second = (event.facts[i] for i in _FACT_PAIRS[n])
    slug = f"{event.key}-{tag}"
    return DemoArticle(
        slug=slug,
        path=f"/{event.topic}/{_slug(event.headlines[n])}",
        title=event.headlines[n],
        author=authors[n % 2],
        topic=event.topic,
        age_minutes=event.hours_ago * 60 + 23 * n + 7,
        dek=second,
        paragraphs=(first, second),
        caption=f"{event.place}. Photo: {authors[(n + 1) % 2]}" if n % 3 != 2 else "",
        image="jpg" if (n + len(event.key)) % 4 else "",
        story=event.key,
    )


def _brief(tag: str, n: int, brief: tuple[str, str, tuple[str, ...]]) -> DemoArticle:
    title, dek, paragraphs = brief
    authors = _voice(tag)
    return DemoArticle(
        slug=f"brief-{_slug(title)}",
        path=f"/local/{_slug(title)}",
        title=title,
        author=authors[n % 2],
        topic="local",
        age_minutes=_BRIEF_HOURS[(n + len(tag)) % len(_BRIEF_HOURS)] * 60 + 5 * n,
        dek=dek,
        paragraphs=paragraphs,
        image="jpg" if n % 2 == 0 else "",
    )


def history_articles(tag: str) -> tuple[DemoArticle, ...]:
    """Every history article of publisher `tag` (events it covered, then its briefs)."""
    out = [
        _event_article(event, tag, event.covered_by.index(tag))
        for event in EVENTS
        if tag in event.covered_by
    ]
    out += [_brief(tag, n, brief) for n, brief in enumerate(BRIEFS.get(tag, ()))]
    return tuple(out)


def with_history(publications: tuple[DemoPublication, ...]) -> tuple[DemoPublication, ...]:
    """The hand-written publishers with their history articles added, then the new ones."""
    out = [replace(p, articles=p.articles + history_articles(p.tag)) for p in publications]
    for m in MASTHEADS:
        out.append(
            DemoPublication(
                host=m.host,
                name=m.name,
                tag=m.tag,
                feed_path="/feed.xml" if m.feed_format == "rss" else "/atom.xml",
                feed_format=m.feed_format,
                color=m.color,
                tagline=m.tagline,
                articles=history_articles(m.tag),
            )
        )
    return tuple(out)
