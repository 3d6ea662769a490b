"""The demo corpus's publishers and articles: fictional, written for newsline.

Every place, person, company and country here is invented (hosts use the reserved
``.example`` TLD). Stories overlap on purpose so that deduplication and story clustering
have work to do: ``story`` names the event, ``syndicated_from`` marks a near-copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoArticle:
    """One article page (or, with ``served=False``, a feed entry whose page is missing)."""

    slug: str
    path: str
    title: str
    author: str
    topic: str  # the hashtag we expect (without '#')
    age_minutes: int  # published this long before "now"
    dek: str
    paragraphs: tuple[str, ...]
    caption: str = ""
    image: str = "jpg"  # "jpg", "png", "svg", or "" for none
    story: str | None = None
    syndicated_from: str | None = None  # slug of the original (near-copy)
    lazy_image: bool = False  # lead image only in data-src, relative URL
    served: bool = True


@dataclass(frozen=True)
class DemoPublication:
    """A fictional publisher with its own feed."""

    host: str
    name: str
    tag: str
    feed_path: str
    feed_format: str  # "rss" | "atom"
    color: str
    tagline: str
    full_content: bool = False  # feed carries content:encoded
    robots: str | None = None
    articles: tuple[DemoArticle, ...] = field(default_factory=tuple)


def _a(
    slug: str,
    path: str,
    title: str,
    author: str,
    topic: str,
    age: int,
    dek: str,
    *paragraphs: str,
    **kwargs: Any,
) -> DemoArticle:
    return DemoArticle(slug, path, title, author, topic, age, dek, paragraphs, **kwargs)


# -- Harbor Wire: a news agency ---------------------------------------------------------------

_CEASEFIRE = (
    "Veskaria and Dornland agreed on Tuesday to hold ceasefire talks in the neutral port "
    "city of Lindholm next week, the first direct negotiations since fighting broke out "
    "along their shared border fourteen months ago.",
    "The announcement came after three days of shuttle diplomacy by Lindholm's foreign "
    "minister, Maren Ostby, who said both delegations had accepted an agenda covering a "
    "halt to shelling, the exchange of prisoners and the return of displaced families.",
    "\u201cNobody should expect a peace treaty in a week,\u201d Ostby told reporters. "
    "\u201cBut for the first time both sides have agreed to sit in the same room, and "
    "that is where every agreement begins.\u201d",
    "Veskarian officials said their delegation would be led by deputy prime minister Tomas "
    "Keller. Dornland's government named its chief of staff, Ilse Varga, and said it would "
    "insist on international monitors along the river crossing at Brenn.",
    "Aid groups estimate that more than 200,000 people have fled villages on both sides of "
    "the border since the conflict began. Shelling continued overnight near Brenn, local "
    "officials said, although at a lower intensity than in previous weeks.",
)

HARBOR_WIRE = DemoPublication(
    host="harborwire.example",
    name="Harbor Wire",
    tag="harbor",
    feed_path="/rss/top.xml",
    feed_format="rss",
    color="#1f4e79",
    tagline="News from everywhere, first.",
    articles=(
        _a(
            "ceasefire-talks",
            "/world/veskaria-dornland-ceasefire-talks",
            "Veskaria and Dornland agree to ceasefire talks in Lindholm",
            "Petra Lund",
            "war",
            95,
            "First direct negotiations since the border war began fourteen months ago.",
            *_CEASEFIRE,
            caption="Delegations' flags outside the conference hall in Lindholm. "
            "Harbor Wire/Petra Lund",
            story="ceasefire-talks",
        ),
        _a(
            "aid-convoys",
            "/world/aid-convoys-reach-brenn",
            "Aid convoys reach border towns as shelling eases near Brenn",
            "Jonas Ek",
            "foreignaffairs",
            340,
            "Trucks carrying food and medicine crossed into Brenn for the first time in weeks.",
            "A convoy of 40 trucks carrying flour, medicine and generators reached the border "
            "town of Brenn on Monday, the first aid to arrive there in five weeks, the "
            "International Relief Council said.",
            "Council coordinator Amira Haddad said the convoy had been allowed through after "
            "both armies agreed to a six-hour pause in shelling along the main road.",
            "\u201cPeople queued from before dawn,\u201d Haddad said by telephone. "
            "\u201cThe hospital was down to its last two days of anaesthetic.\u201d",
            "The council said it hoped the pause could be repeated every week and become "
            "part of the ceasefire talks expected to open in Lindholm.",
            story="aid-convoys",
        ),
        _a(
            "rates-hold",
            "/business/central-bank-holds-rates",
            "Central bank leaves key rate at 4.25%, citing sticky services inflation",
            "Nora Bright",
            "economy",
            180,
            "Policymakers voted 7-2 to hold; two members wanted a quarter-point cut.",
            "The central bank kept its benchmark interest rate at 4.25% on Wednesday, saying "
            "inflation in services such as rents and insurance was falling more slowly than "
            "it had expected in the spring.",
            "Seven of the nine members of the rate-setting committee voted to hold. Two "
            "voted for a cut of a quarter of a percentage point, citing a cooling labour "
            "market and weaker factory orders.",
            "Governor Elena Marsh said the bank was \u201cpatient, not passive\u201d and "
            "would look at two more months of price data before deciding whether to lower "
            "borrowing costs.",
            "Consumer prices rose 2.9% in the year to last month, down from a peak of 7.8%. "
            "The bank targets inflation of 2%.",
            story="rates-hold",
        ),
        _a(
            "flu-season",
            "/health/early-flu-season",
            "Health agency reports early start to the flu season",
            "Samuel Okoro",
            "health",
            620,
            "Positive tests doubled in two weeks; officials urge vaccination now.",
            "The national health agency said on Thursday that the influenza season had "
            "started about three weeks earlier than usual, with the share of positive tests "
            "doubling in a fortnight.",
            "Hospital admissions for flu remain low, the agency said, but it urged people "
            "over 65, pregnant women and those with chronic illnesses to get vaccinated "
            "before the usual winter peak.",
            "Dr. Lena Fischer, the agency's head of infectious diseases, said this year's "
            "vaccine appeared to be a good match for the strain now circulating.",
            story="flu-season",
        ),
        _a(
            "privacy-bill",
            "/politics/parliament-passes-privacy-bill",
            "Parliament passes data privacy bill after two years of debate",
            "Petra Lund",
            "politics",
            900,
            "Companies will have to delete customer data on request within 30 days.",
            "Parliament passed a sweeping data privacy law late on Wednesday by 212 votes "
            "to 171, ending two years of wrangling over how much control people should have "
            "over information companies hold about them.",
            "Under the law, companies must delete a customer's data within 30 days of a "
            "request and report breaches to a new privacy regulator within 72 hours.",
            "Opposition members said the fines, capped at 2% of annual turnover, were too "
            "low to deter large technology firms. Business groups said the deadlines were "
            "unworkable for small firms.",
            "The law takes effect in 18 months.",
        ),
        _a(
            "orbitra-launch",
            "/science/orbitra-weather-satellites",
            "Satellite startup Orbitra launches 12 weather satellites",
            "Jonas Ek",
            "science",
            1500,
            "The shoebox-sized satellites will measure humidity for storm forecasts.",
            "Orbitra, a four-year-old satellite company, launched 12 small weather "
            "satellites on Sunday from the Nordhavn spaceport, the first of 48 it plans to "
            "put into orbit by the end of next year.",
            "The satellites, each about the size of a shoebox, measure how radio signals "
            "bend as they pass through the atmosphere, which lets forecasters estimate "
            "humidity and temperature at different heights.",
            "Chief executive Rafael Moreno said the data would be sold to weather services "
            "and free to researchers.",
        ),
        _a(
            "ransomware-gang",
            "/crime/ransomware-gang-hospitals",
            "Investigators trace ransomware gang behind hospital outages",
            "Samuel Okoro",
            "crime",
            2100,
            "Police in three countries seized servers used to extort six hospitals.",
            "Police in three countries said on Friday that they had seized servers used by "
            "a ransomware gang that crippled computer systems at six hospitals this year, "
            "forcing some to turn away ambulances.",
            "Investigators said the group, which called itself Nightjar, demanded payments "
            "in cryptocurrency and threatened to publish patient records.",
            "Two suspects were arrested and a third is being sought, police said. No "
            "hospital is known to have paid.",
        ),
    ),
)

# -- The Riverside Gazette: a city daily --------------------------------------------------------

RIVERSIDE_GAZETTE = DemoPublication(
    host="riverside-gazette.example",
    name="The Riverside Gazette",
    tag="gazette",
    feed_path="/feed.xml",
    feed_format="rss",
    color="#7a1f1f",
    tagline="Riverside's newspaper since 1898.",
    articles=(
        _a(
            "riverfront-budget",
            "/news/council-approves-riverfront-budget",
            "Riverside council approves $48 million riverfront budget after late-night vote",
            "Dana Whitfield",
            "politics",
            25,
            "The plan pays for a flood wall, a park and a bike path along the east bank.",
            "The Riverside city council approved a $48 million plan to rebuild the east "
            "bank of the river shortly before midnight on Tuesday, after more than four "
            "hours of public comment.",
            "The plan, passed 6-3, pays for a flood wall, a three-acre park and a bike path "
            "linking the Old Mill district with downtown. About $30 million will come from a "
            "state resilience grant; the rest from city bonds.",
            "Mayor Lucia Benning called it \u201cthe most important thing this council "
            "will do for the next generation.\u201d Council member Hal Dreyer, who voted "
            "against, said the bonds would burden taxpayers for 25 years.",
            "Several residents of the Old Mill district asked the council to guarantee that "
            "rents would not rise as the area is redeveloped. The council agreed to study "
            "the question but made no commitment.",
            "Construction is expected to begin next spring.",
            caption="The east bank of the river near the Old Mill district, where the flood "
            "wall will be built. Riverside Gazette/Dana Whitfield",
            story="riverfront-budget",
        ),
        _a(
            "converter-thefts",
            "/news/arrests-catalytic-converter-thefts",
            "Police arrest two in string of catalytic converter thefts on the east side",
            "Marcus Hale",
            "crime",
            140,
            "Officers found 31 converters and a cordless saw in a rented garage.",
            "Riverside police arrested two men on Monday in connection with more than 40 "
            "catalytic converter thefts on the city's east side since June.",
            "Officers found 31 converters, a cordless saw and several license plates in a "
            "rented garage on Fenwick Street, Lt. Carla Ruiz said.",
            "The men, aged 24 and 31, face charges of theft and possession of stolen "
            "property. Police said more arrests were possible.",
            "Ruiz urged residents to park in lit areas and report anyone crawling under "
            "parked cars at night.",
        ),
        _a(
            "flu-clinic",
            "/news/county-clinic-extends-flu-shot-hours",
            "County clinic extends flu shot hours as cases rise early",
            "Priya Natarajan",
            "health",
            480,
            "Evening and Saturday walk-in shots start this week at the Elm Street clinic.",
            "The county health clinic on Elm Street will offer flu shots in the evenings and "
            "on Saturdays starting this week, after national health officials said the "
            "season had started early.",
            "Clinic director Dr. Owen Price said the clinic had given 1,200 shots in the "
            "past two weeks, nearly twice as many as at the same point last year.",
            "Shots are free for residents with or without insurance. No appointment is needed.",
            story="flu-season",
        ),
        _a(
            "otters-title",
            "/sports/otters-clinch-league-title",
            "Otters clinch league title with extra-innings win over Bay City",
            "Tom Becker",
            "sports",
            60,
            "Luis Diaz's single in the 11th sends a sold-out Mill Park into celebration.",
            "Luis Diaz singled home the winning run in the 11th inning on Sunday as the "
            "Riverside Otters beat the Bay City Gulls 4-3 to win their first league title "
            "in 19 years.",
            "The Otters trailed 3-1 in the eighth before back-to-back doubles by Kenji Mori "
            "and Sam Whitaker tied the game. Closer Andre Phillips pitched three scoreless "
            "innings.",
            "\u201cI just wanted to put it in play,\u201d Diaz said. \u201cThis town "
            "waited a long time for this.\u201d",
            "A crowd of 8,400, the largest in Mill Park's history, stayed on the field for "
            "an hour after the final out.",
            caption="Otters players pile on Luis Diaz after his game-winning hit. "
            "Riverside Gazette/Tom Becker",
            story="otters-title",
        ),
        _a(
            "ceasefire-talks-gazette",
            "/world/veskaria-dornland-agree-ceasefire-talks",
            "Veskaria and Dornland agree to ceasefire talks in Lindholm",
            "Harbor Wire",
            "war",
            80,
            "First direct negotiations since the border war began fourteen months ago.",
            # A syndicated copy: the wire text with light edits, as newspapers run it.
            _CEASEFIRE[0].replace("on Tuesday", "Tuesday"),
            *_CEASEFIRE[1:4],
            _CEASEFIRE[4].replace("local officials said, although", "officials said, though"),
            "Harbor Wire contributed to this report.",
            story="ceasefire-talks",
            syndicated_from="ceasefire-talks",
        ),
        _a(
            "grocer-closing",
            "/business/kessler-market-to-close",
            "Downtown grocer Kessler's Market to close after 61 years",
            "Priya Natarajan",
            "economy",
            1300,
            "The owners cite a rent increase and trouble hiring staff.",
            "Kessler's Market, the downtown grocery that has operated on Front Street since "
            "1963, will close at the end of next month, its owners said on Friday.",
            "Ruth Kessler, whose grandfather opened the store, said the building's new owner "
            "had asked for a 40% rent increase and that the store had been short of staff "
            "for two years.",
            "The store employs 22 people. Kessler said she would help them find new jobs and "
            "that the store's bakery recipes would be donated to the Riverside Historical "
            "Society.",
        ),
        _a(
            "school-start-times",
            "/news/school-board-delays-start-time-vote",
            "School board delays vote on later start times for high schools",
            "Dana Whitfield",
            "education",
            1700,
            "Bus contracts and after-school sports remain the sticking points.",
            "The Riverside school board postponed a vote on Monday on whether to start high "
            "school classes at 8:30 a.m. instead of 7:35 a.m., saying it needed more "
            "information about bus costs.",
            "Superintendent Grace Oyelaran said the change would require six more buses, at "
            "about $480,000 a year. Coaches worried that later dismissal would leave too "
            "little daylight for practice in the fall.",
            "The board will take up the question again next month.",
        ),
        _a(
            "library-reading",
            "/community/summer-reading-drive",
            "Library's summer reading drive tops 10,000 books",
            "Marcus Hale",
            "culture",
            2600,
            "Children at 14 schools logged their reading for prizes and a pizza party.",
            "Children taking part in the Riverside Public Library's summer reading drive "
            "read more than 10,000 books between June and August, the library said, the "
            "most since the program began in 2009.",
            "Head librarian Ines Calder said graphic novels and a series about a detective "
            "cat were the most borrowed titles.",
            "Winners from each of the 14 participating schools will be honored at a party "
            "at the main library next Saturday.",
            image="png",
        ),
    ),
)

# -- Northern Ledger: a business paper (Atom feed, robots.txt) ----------------------------------

NORTHERN_LEDGER = DemoPublication(
    host="northern-ledger.example",
    name="Northern Ledger",
    tag="ledger",
    feed_path="/atom.xml",
    feed_format="atom",
    color="#2d5f2e",
    tagline="Business, markets and money.",
    robots="User-agent: *\nDisallow: /members/\n",
    articles=(
        _a(
            "ledger-rates",
            "/markets/central-bank-holds-signals-patience",
            "Central bank holds rates steady, signals patience on cuts",
            "Victor Amsel",
            "economy",
            150,
            "Markets had priced in a cut by spring; bond yields rose after the decision.",
            "The central bank held its key interest rate at 4.25% on Wednesday and signaled "
            "it was in no hurry to cut, sending two-year bond yields up by 0.12 percentage "
            "point.",
            "Governor Elena Marsh said services inflation remained too high. Two members of "
            "the committee voted for an immediate cut, the first split vote since last year.",
            "Economists at Fenwick Partners said they now expected the first cut in the "
            "summer rather than the spring. Shares of home builders fell about 2%.",
            story="rates-hold",
        ),
        _a(
            "ledger-grain",
            "/markets/grain-fuel-ease-on-talks",
            "Grain and fuel prices ease as Veskaria\u2013Dornland talks are announced",
            "Hanna Roos",
            "economy",
            70,
            "Wheat futures fell 3% on hopes that river shipping through Brenn could resume.",
            "Wheat futures fell 3% and diesel prices slipped on Tuesday after Veskaria and "
            "Dornland said they would hold ceasefire talks in Lindholm next week.",
            "Traders said a ceasefire could reopen river shipping through Brenn, which "
            "carried about a tenth of the region's grain exports before the fighting began.",
            "\u201cThe market is pricing hope, not a deal,\u201d said Oskar Lind, a "
            "commodities analyst at Westgate Capital.",
            story="ceasefire-talks",
        ),
        _a(
            "corvel-breach",
            "/tech/corvel-confirms-breach",
            "Corvel Systems confirms breach exposed data of 2.3 million customers",
            "Hanna Roos",
            "technology",
            40,
            "Names, addresses and partial card numbers were taken; passwords were not, the "
            "company says.",
            "Corvel Systems, the home-internet provider, said on Thursday that hackers had "
            "stolen names, addresses and the last four digits of card numbers belonging to "
            "2.3 million customers.",
            "The company said the intruders got in through a contractor's account and were "
            "inside its billing system for nine days before being detected. Passwords were "
            "not affected, it said.",
            "Corvel shares fell 6%. The company said it would offer customers two years of "
            "free credit monitoring.",
            story="corvel-breach",
        ),
        _a(
            "riverfront-contracts",
            "/business/developers-eye-riverside-riverfront",
            "Developers line up for Riverside riverfront contracts after budget passes",
            "Victor Amsel",
            "economy",
            20,
            "At least five firms are expected to bid on the flood wall and park.",
            "At least five construction firms are preparing bids for Riverside's $48 million "
            "riverfront project, approved by the city council late on Tuesday, people "
            "familiar with the process said.",
            "The largest contract, for a 1.2-mile flood wall, is expected to be worth about "
            "$26 million. Bids are due in January.",
            "Property prices in the Old Mill district have risen 14% in a year, according "
            "to county records, as investors bet on the redevelopment.",
            story="riverfront-budget",
        ),
        _a(
            "voltaic-plant",
            "/business/voltaic-cells-battery-plant",
            "Battery maker Voltaic Cells to build plant promising 900 jobs",
            "Hanna Roos",
            "technology",
            1100,
            "The $1.1 billion factory would make batteries for buses and trucks.",
            "Voltaic Cells said on Monday it would build a $1.1 billion battery factory on "
            "the site of a former paper mill north of Pinecrest, creating about 900 jobs.",
            "The plant will make batteries for electric buses and delivery trucks and "
            "should open in three years, chief executive Mei Tanaka said.",
            "The state will contribute $85 million in tax credits, tied to the number of "
            "jobs created.",
            image="png",
        ),
        _a(
            "members-rate-analysis",
            "/members/analysis-long-pause-mortgages",
            "Analysis: What a long pause on rates means for mortgage holders",
            "Victor Amsel",
            "economy",
            130,
            "Members-only analysis: who wins and who loses if rates stay high into summer.",
            "Homeowners with variable-rate mortgages face at least six more months of high "
            "payments after the central bank signaled a long pause.",
            "Savers, by contrast, will continue to earn the best returns on deposits in "
            "more than a decade.",
            story="rates-hold",
        ),
        _a(
            "retail-sales",
            "/economy/retail-sales-rise",
            "Retail sales rise 0.4% as shoppers return to stores",
            "Victor Amsel",
            "economy",
            2900,
            "Clothing and furniture led the gains; online sales were flat.",
            "Retail sales rose 0.4% last month, the statistics office said on Friday, "
            "beating economists' expectations of 0.2%.",
            "Sales of clothing rose 1.8% and furniture 1.1%, while online sales were "
            "unchanged. Fuel sales fell as prices dropped.",
        ),
    ),
)

# -- The Pinecrest Courier: a regional paper (full-content RSS, a missing page) ---------------

PINECREST_COURIER = DemoPublication(
    host="pinecrest-courier.example",
    name="The Pinecrest Courier",
    tag="courier",
    feed_path="/feeds/all.rss",
    feed_format="rss",
    color="#5b3f8c",
    tagline="Pinecrest and the valley.",
    full_content=True,
    articles=(
        _a(
            "otters-diaz",
            "/sports/pinecrest-native-diaz-wins-it-for-otters",
            "Pinecrest native Luis Diaz wins it for the Otters in the 11th",
            "Nell Harper",
            "sports",
            45,
            "The former Lumberjacks shortstop drives in the run that ends a 19-year wait.",
            "Luis Diaz, who led Pinecrest High to a state title eight years ago, singled "
            "home the winning run in the 11th inning on Sunday as the Riverside Otters beat "
            "Bay City 4-3 to clinch the league championship.",
            "About 60 people watched the game on a big screen at Harper's Diner on Main "
            "Street, where Diaz worked summers as a teenager.",
            "\u201cWe knew he'd come through,\u201d said his former coach, Walt Brennan. "
            "\u201cHe always wanted the bat in his hands when it mattered.\u201d",
            image="png",
            story="otters-title",
        ),
        _a(
            "corvel-what-to-do",
            "/tech/corvel-breach-what-to-do",
            "Corvel data breach: what customers should do now",
            "Owen Castillo",
            "technology",
            30,
            "Watch card statements, freeze your credit and beware of phishing e-mails.",
            "Corvel Systems customers whose data was stolen in a breach disclosed on "
            "Thursday should watch their card statements closely and consider freezing "
            "their credit, security experts said.",
            "Because the stolen records include names and addresses, customers should also "
            "expect convincing phishing e-mails and letters that appear to come from "
            "Corvel, said Bea Lindqvist, who teaches computer security at Valley College.",
            "Corvel says it will never ask for a password by e-mail or telephone.",
            story="corvel-breach",
        ),
        _a(
            "robot-mowers",
            "/tech/robot-lawn-mowers",
            "Robot lawn mowers are quietly taking over Pinecrest's suburbs",
            "Owen Castillo",
            "technology",
            760,
            "Hardware stores say sales tripled this year; neighbors are split on the hum.",
            "On a Saturday morning in the Oak Hollow neighborhood, at least a dozen lawns "
            "are being mowed and not one person is pushing a mower.",
            "Robot mowers, which follow a buried wire or satellite positioning, have become "
            "the fastest-selling item at Pinecrest Hardware, where sales have tripled this "
            "year, manager Rosa Delgado said.",
            "Not everyone is a fan. Some neighbors complain about a constant low hum, and "
            "the city has received two reports of robots wandering into the street.",
            caption="A robot mower at work in Oak Hollow. Pinecrest Courier/Owen Castillo",
            image="png",
            lazy_image=True,
        ),
        _a(
            "okafor-coach",
            "/sports/lumberjacks-hire-okafor",
            "Lumberjacks name former star Ada Okafor as head coach",
            "Nell Harper",
            "sports",
            1400,
            "Okafor, the program's all-time leading scorer, returns after eight years away.",
            "Pinecrest University named Ada Okafor head coach of its women's basketball "
            "team on Wednesday, bringing back the program's all-time leading scorer.",
            "Okafor, 34, spent the past four seasons as an assistant at Lakeshore State. "
            "She replaces Jim Corrigan, who retired in March after 22 seasons.",
            "\u201cThis is home,\u201d Okafor said at her introduction. \u201cI want "
            "this gym full again.\u201d",
        ),
        _a(
            "pediatric-wing",
            "/health/hospital-opens-pediatric-wing",
            "Pinecrest hospital opens pediatric wing after three-year build",
            "Owen Castillo",
            "health",
            3000,
            "The 24-bed wing means fewer families will travel to the city for care.",
            "Pinecrest General Hospital opened a 24-bed pediatric wing on Monday, ending a "
            "three-year construction project funded largely by local donations.",
            "Until now, children needing more than an overnight stay were usually sent to "
            "hospitals in Riverside, 70 miles away. The wing has its own emergency room "
            "and a playroom designed by students at Valley College.",
        ),
        _a(
            "trail-reopens",
            "/outdoors/falls-trail-reopens",
            "Cedar Falls trail reopens after spring flood repairs",
            "Nell Harper",
            "outdoors",
            3400,
            "A new footbridge replaces the one swept away in April.",
            "The Cedar Falls trail in Pine Ridge State Park reopened on Friday after "
            "workers replaced a footbridge swept away by floods in April.",
            "The new steel bridge sits four feet higher than the old one. Park officials "
            "said the 3.5-mile loop would stay open until the first heavy snow.",
        ),
        _a(
            "otters-parade",
            "/sports/otters-parade-route",
            "Otters championship parade set for Saturday in Riverside",
            "Nell Harper",
            "sports",
            15,
            "The parade will run from Mill Park to City Hall starting at 11 a.m.",
            "The Riverside Otters will celebrate their league title with a parade on "
            "Saturday, starting at Mill Park at 11 a.m. and ending at City Hall.",
            "A shuttle bus from Pinecrest will leave the Main Street depot at 8:30 a.m.",
            image="",
            story="otters-title",
            served=False,  # the feed lists it, the site answers 404
        ),
    ),
)

PUBLICATIONS: tuple[DemoPublication, ...] = (
    RIVERSIDE_GAZETTE,
    NORTHERN_LEDGER,
    HARBOR_WIRE,
    PINECREST_COURIER,
)
